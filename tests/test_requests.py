"""Families ask for support and follow it; coordinators take it in charge."""

from __future__ import annotations

import pytest

from bot.app import App
from tests.fakes import RecordingChannel
from tests.transcript import Person, a_coordinator, sign_up

TYPED = [
    "anziani",
    "per un genitore",
    "80+",
    "Casalecchio di Reno",
    "lunedì e giovedì",
    "mattina",
    "entro la settimana",
    "Terzo piano senza ascensore",
]


async def a_family(app: App, channel: RecordingChannel, **kw: object) -> Person:
    maria = Person(app, channel, **kw)  # type: ignore[arg-type]
    await sign_up(maria)
    return maria


async def file_request(person: Person, answers: list[str]) -> None:
    await person.says("menu")
    await person.says("chiedi supporto")
    for answer in answers:
        await person.says(answer)
    await person.says("conferma")


async def test_a_request_typed_in_words_whatsapp_style(app: App, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel, on="telegram")
    maria = await a_family(app, channel, on="whatsapp", phone="+393331112222")

    reply = await maria.says("ho bisogno di aiuto per mia madre")
    assert "Di che tipo di aiuto hai bisogno?" in reply
    assert reply.buttons[0] == "Assistenza domiciliare per anziani (SAD/ADI)"
    for answer in TYPED[:-1]:
        reply = await maria.says(answer)
    assert "non scrivere diagnosi" in reply.last.text
    reply = await maria.says(TYPED[-1])
    assert reply.last.text == (
        "Ecco la tua richiesta:\n"
        "Servizio: Assistenza domiciliare per anziani (SAD/ADI)\n"
        "Per: Per un genitore, 80+ anni\n"
        "Zona: Casalecchio di Reno\n"
        "Giorni: lunedì e giovedì\n"
        "Orari: Mattina\n"
        "Urgenza: Entro la settimana\n"
        "Note: Terzo piano senza ascensore\n"
        "È tutto giusto?"
    )
    reply = await maria.says("sì")
    assert "registrata con il numero R-2026-0001" in reply
    assert "Cosa vuoi fare?" in reply.last.text

    (notice,) = giulia.unread()
    assert notice.text == (
        "Nuova richiesta R-2026-0001: Assistenza domiciliare per anziani (SAD/ADI), "
        "zona Casalecchio di Reno, Entro la settimana."
    )
    assert [c.label for c in notice.choices] == ["Prendo in carico"]


async def test_a_request_tapped_in_english_telegram_style(app: App, channel: RecordingChannel):
    john = Person(app, channel, on="telegram")
    await sign_up(john, name="John Smith", language="2")
    await john.taps("Ask for support")
    await john.taps("Social transport")
    await john.taps("For me")
    await john.taps("65-79")
    reply = await john.says("Bologna")
    assert "On which days?" in reply
    await john.taps("Monday to Friday")
    await john.taps("Afternoon")
    await john.taps("Urgent")
    reply = await john.taps("No notes")
    assert "Service: Social transport and accompaniment" in reply
    assert "Notes: No notes" in reply
    reply = await john.taps("Confirm")
    assert "your request is registered as R-2026-0001" in reply


async def test_correcting_a_field_at_the_summary(app: App, channel: RecordingChannel):
    maria = await a_family(app, channel)
    await maria.says("chiedi supporto")
    for answer in TYPED:
        await maria.says(answer)
    reply = await maria.says("correggi")
    assert "Cosa vuoi correggere?" in reply
    reply = await maria.says("la zona")
    assert "In quale comune o zona?" in reply
    reply = await maria.says("Bologna")
    assert "Zona: Bologna" in reply.last.text  # straight back to the summary
    assert "Giorni: lunedì e giovedì" in reply.last.text
    reply = await maria.says("conferma")
    assert "R-2026-0001" in reply


async def test_cancel_halfway_then_a_new_request(app: App, channel: RecordingChannel):
    maria = await a_family(app, channel)
    await maria.says("chiedi supporto")
    await maria.says("trasporto")
    reply = await maria.says("annulla")
    assert "Annullato" in reply
    await maria.says("chiedi supporto")
    for answer in TYPED:
        await maria.says(answer)
    reply = await maria.says("sì")
    assert "R-2026-0001" in reply  # the abandoned one left nothing behind


async def test_two_requests_in_a_row_get_their_own_references(app: App, channel: RecordingChannel):
    maria = await a_family(app, channel)
    for expected in ("R-2026-0001", "R-2026-0002"):
        await maria.says("chiedi supporto")
        for answer in TYPED:
            await maria.says(answer)
        reply = await maria.says("conferma")
        assert expected in reply
    reply = await maria.says("le mie richieste")
    assert reply.buttons == [
        "R-2026-0002 — Assistenza domiciliare per anziani (SAD/ADI) (nuova)",
        "R-2026-0001 — Assistenza domiciliare per anziani (SAD/ADI) (nuova)",
        "Indietro",
    ]


async def test_taking_charge_tells_the_family_and_the_history_shows_it(
    app: App, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel, on="telegram")
    maria = await a_family(app, channel)
    await file_request(maria, TYPED)
    (notice,) = giulia.unread()

    reply = await giulia.taps("Prendo in carico")
    assert "Hai preso in carico la richiesta R-2026-0001" in reply
    (news,) = maria.unread()
    assert "R-2026-0001 è stata presa in carico" in news.text

    reply = await giulia.taps_payload(notice.choices[0].id)  # a second tap, later
    assert "La richiesta R-2026-0001 è già presa in carico." in reply

    await maria.says("menu")
    await maria.says("le mie richieste")
    reply = await maria.says("1")
    assert "Richiesta R-2026-0001 — presa in carico" in reply
    assert ": nuova\n" in reply.last.text and reply.last.text.endswith(": presa in carico")


async def test_a_family_cancels_its_request(app: App, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel, on="telegram")
    maria = await a_family(app, channel)
    await file_request(maria, TYPED)
    giulia.unread()
    await maria.says("le mie richieste")
    await maria.says("R-2026-0001")
    reply = await maria.says("annulla questa richiesta")
    assert "Vuoi davvero annullare la richiesta R-2026-0001?" in reply
    reply = await maria.says("sì")
    assert "La richiesta R-2026-0001 è annullata." in reply
    assert "Richiesta R-2026-0001 — annullata" in reply.last.text
    assert "Annulla questa richiesta" not in reply.buttons
    (notice,) = giulia.unread()
    assert "La famiglia ha annullato la richiesta R-2026-0001." in notice.text


async def test_only_coordinators_can_take_charge(app: App, channel: RecordingChannel):
    maria = await a_family(app, channel)
    reply = await maria.taps_payload("a:take:1")
    assert "riservata ai coordinatori" in reply


async def test_a_family_sees_only_its_own_requests(app: App, channel: RecordingChannel):
    maria = await a_family(app, channel)
    await file_request(maria, TYPED)
    other = await a_family(app, channel)
    reply = await other.says("le mie richieste")
    assert "Non hai ancora fatto richieste" in reply


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_restart_between_any_two_steps_loses_nothing(
    app: App, channel: RecordingChannel, database_url: str
):
    maria = await a_family(app, channel)
    await maria.says("chiedi supporto")
    for answer in TYPED:
        # a new process, on the same database, for every message
        restarted = App.build(app.settings, {"terminal": channel}, app.engine.clock)
        maria.app = restarted
        await maria.says(answer)
        await restarted.close()
    maria.app = app
    reply = await maria.says("sì")
    assert "R-2026-0001" in reply


async def test_zones_from_the_cooperatives_list_are_matched_forgivingly(
    app: App, channel: RecordingChannel
):
    from dataclasses import replace

    app.engine.settings = replace(app.engine.settings, zones=("Bologna", "Casalecchio di Reno"))
    maria = await a_family(app, channel)
    await maria.says("chiedi supporto")
    for answer in TYPED[:3]:
        await maria.says(answer)
    reply = await maria.says("casalecchio")
    assert "In quali giorni?" in reply
    for answer in TYPED[4:]:
        reply = await maria.says(answer)
    assert "Zona: Casalecchio di Reno" in reply.last.text

    await maria.says("correggi")
    await maria.says("la zona")
    reply = await maria.says("altro comune")
    assert "Scrivi il nome" in reply
    reply = await maria.says("Sasso Marconi")
    assert "Zona: Sasso Marconi" in reply.last.text


async def test_a_coordinator_triages_in_the_chat(app: App, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel, on="telegram")
    maria = await a_family(app, channel)
    await file_request(maria, TYPED)
    urgent = [*TYPED[:6], "urgente", "no"]
    await file_request(maria, urgent)
    john = Person(app, channel)
    await sign_up(john, name="John Smith", language="2")
    await john.says("ask for support")
    for answer in [
        "transport",
        "for me",
        "65-79",
        "Imola",
        "any day",
        "morning",
        "not urgent",
        "no",
    ]:
        await john.says(answer)
    await john.says("confirm")
    giulia.unread()

    await giulia.says("menu")
    reply = await giulia.says("richieste delle famiglie")
    assert "Richieste trovate: 3" in reply
    assert reply.buttons[0].startswith("R-2026-0002")  # the urgent one first

    await giulia.says("filtra")
    await giulia.says("urgenza")
    reply = await giulia.says("non urgente")
    assert "Richieste trovate: 1" in reply
    assert reply.buttons[0].startswith("R-2026-0003 — Trasporto sociale e accompagnamento, Imola")

    reply = await giulia.says("tutte le richieste aperte")
    assert "Richieste trovate: 3" in reply
    await giulia.says("filtra")
    await giulia.says("zona")
    reply = await giulia.says("imola")
    assert "Richieste trovate: 1" in reply
    assert reply.buttons[0].startswith("R-2026-0003")

    reply = await giulia.says("1")
    assert "Famiglia: John Smith" in reply
    assert "Servizio: Trasporto sociale e accompagnamento" in reply

    await giulia.says("aggiungi una nota")
    reply = await giulia.says("Chiamare prima di mezzogiorno")
    assert "Nota aggiunta." in reply
    assert "nota interna — Chiamare prima di mezzogiorno" in reply.last.text
    assert john.unread() == []  # notes are internal

    await giulia.says("cambia stato")
    await giulia.says("programmata")
    reply = await giulia.says("Martedì 1 dicembre alle 10, con Luca")
    assert "Ho avvisato la famiglia" in reply
    assert "Richiesta R-2026-0003 — programmata" in reply.last.text
    (news,) = john.unread()
    assert news.text == (
        "Your request R-2026-0003 is now: scheduled. Martedì 1 dicembre alle 10, con Luca"
    )
    async with app.database.unit_of_work() as uow:
        actions = [e.action for e in await uow.audit.entries(about="person:1")]
    assert {"request.noted", "request.status"} <= set(actions)


async def test_families_cannot_reach_the_triage(app: App, channel: RecordingChannel):
    maria = await a_family(app, channel)
    reply = await maria.says("richieste delle famiglie")
    assert "non ho capito" in reply


async def test_closed_requests_lose_personal_details_after_the_retention(
    app: App, channel: RecordingChannel
):
    from datetime import timedelta

    maria = await a_family(app, channel)
    await file_request(maria, TYPED)
    await file_request(maria, TYPED)
    now = app.engine.clock.now()
    async with app.database.unit_of_work() as uow:
        old, recent = await uow.requests.listing()
        await uow.requests.change_status(old, "closed", "cli", "Servizio concluso")
        await uow.requests.change_status(recent, "closed", "cli", "Servizio concluso")
        old.updated_at = now - timedelta(days=400)
    async with app.database.unit_of_work() as uow:
        assert await uow.requests.purge_closed(now - timedelta(days=365)) == 1
    async with app.database.unit_of_work() as uow:
        old, recent = await uow.requests.listing()
        assert (old.notes, old.family_person_id) == (None, None)
        assert old.id is not None
        assert all(e.text is None for e in await uow.requests.events(old.id))
        assert recent.notes == "Terzo piano senza ascensore"  # still within the retention
        counts = await uow.requests.counts(now.year)
    month = now.strftime("%Y-%m")
    assert counts == [(month, "elderly_care", "Casalecchio di Reno", 2)]  # both still counted


async def test_two_relatives_file_at_the_same_moment(app: App, channel: RecordingChannel):
    import asyncio

    anna, luca = await a_family(app, channel), await a_family(app, channel)
    for relative in (anna, luca):
        await relative.says("chiedi supporto")
        for answer in TYPED:
            await relative.says(answer)
    replies = await asyncio.gather(anna.says("conferma"), luca.says("conferma"))
    texts = [m.text for reply in replies for m in reply.messages]
    references = sorted(t.split("numero ")[1][:11] for t in texts if "registrata" in t)
    assert references == ["R-2026-0001", "R-2026-0002"]
    async with app.database.unit_of_work() as uow:
        requests = await uow.requests.listing()
        assert len({r.family_person_id for r in requests}) == 2
