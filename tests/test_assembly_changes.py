"""A convened assembly is cancelled or changed: everyone invited is told, the reminders
follow (or stop), the votes are counted again for a new date, late answers are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.app import App
from bot.whatsapp_window import Template, Templates
from flows.assembly_changes import AssemblyChanges, cancel_assembly, change_assembly
from flows.reminders import assembly_subject
from storage.tables import Assembly
from tests.fakes import FakeClock, RecordingChannel
from tests.test_assembly import FIRST_CALL, convene, first_contact, import_registry, member
from tests.test_assembly_reminders import until
from tests.transcript import Person, a_coordinator

TEMPLATES = Templates(
    {
        "default": {
            "it": Template("HX" + "1" * 32, {"1": "text"}),
            "en": Template("HX" + "2" * 32, {"1": "text"}),
        }
    }
)


ENGLISH = (2, 5)  # Bruno and Elena read English


async def members(app: App, channel: RecordingChannel, *numbers: int) -> list[Person]:
    """Imported members (by their line in the registry) who write once."""
    people = [member(app, channel, f"+39333100000{n}") for n in numbers]
    for n, person in zip(numbers, people, strict=True):
        await first_contact(person, language="2" if n in ENGLISH else "1")
    return people


async def cancel(app: App, assembly: Assembly, reason: str) -> None:
    """Another coordinator cancels it meanwhile (here straight through the flow)."""
    async with app.database.unit_of_work() as uow:
        assert assembly.id is not None
        stored = await uow.assemblies.get(assembly.id)
        assert stored is not None
        for note in await cancel_assembly(uow, stored, "cli", reason):
            await app.engine.queue_notification(uow, note.person_id, note.reply)
    await app.delivery.drain()


async def move(app: App, assembly: Assembly, first: datetime) -> None:
    """The first call (and the second, a day after) moved, through the flow."""
    async with app.database.unit_of_work() as uow:
        assert assembly.id is not None
        stored = await uow.assemblies.get(assembly.id)
        assert stored is not None
        changes = AssemblyChanges(first_call_at=first, second_call_at=first + timedelta(days=1))
        now = app.engine.clock.now()
        for note in await change_assembly(uow, stored, changes, "cli", app.engine.settings, now):
            await app.engine.queue_notification(uow, note.person_id, note.reply)
    await app.delivery.drain()


async def test_a_cancelled_assembly_is_told_to_everyone_and_takes_no_more_answers(
    app: App, channel: RecordingChannel
):
    await import_registry(app)
    giulia = await a_coordinator(app, channel)
    anna, bruno = await members(app, channel, 1, 2)
    assembly = await convene(app)
    anna.unread(), bruno.unread()
    await bruno.taps("Proxy to another member")
    await bruno.says("anna")
    (request,) = anna.unread()

    await giulia.says("menu")
    await giulia.says("assemblee")
    reply = await giulia.says("1")
    assert {"Modifica l'assemblea", "Annulla l'assemblea"} <= set(reply.buttons)
    reply = await giulia.taps("Annulla l'assemblea")
    assert "Scrivi perché l'assemblea è annullata" in reply
    reply = await giulia.says("indietro")
    assert "Invitati: 5" in reply  # nothing happened
    await giulia.taps("Annulla l'assemblea")
    reply = await giulia.says("Il bilancio non è ancora pronto")
    assert (
        "Annullo l'assemblea «Bilancio 2026» del 15 dicembre 2026, 18:00 e avviso i 5 invitati?"
        "\nMotivo: Il bilancio non è ancora pronto"
    ) in reply
    assert reply.buttons == ["Sì, annullala", "Indietro"]
    assert anna.unread() == []
    reply = await giulia.taps("Sì, annullala")
    assert "Assemblea «Bilancio 2026» annullata: avvisati 5 soci." in reply
    assert "Non ci sono assemblee in programma." in reply

    (news,) = anna.unread()
    assert news.text == (
        "L'assemblea dei soci «Bilancio 2026» del 15 dicembre 2026, 18:00 (Sala civica, Via Roma"
        " 1) è stata annullata dalla cooperativa. Motivo: Il bilancio non è ancora pronto"
    )
    (news,) = bruno.unread()
    assert news.text == (
        "The members' assembly «Bilancio 2026» of 15 December 2026, 18:00 (Sala civica, Via Roma"
        " 1) has been cancelled by the cooperative. Reason: Il bilancio non è ancora pronto"
    )

    # the buttons of the earlier messages are refused politely
    closed = "L'assemblea «Bilancio 2026» è stata annullata: risposte e presenze sono chiuse."
    assert closed in await anna.taps_payload(request.choices[0].id)  # accepting the proxy
    assert closed in await anna.taps_payload(f"a:rsvp:{assembly.id}:present")
    reply = await bruno.taps_payload(f"a:rsvp:{assembly.id}:absent")
    assert "The assembly «Bilancio 2026» has been cancelled: answers and check-in are closed." in (
        reply
    )
    await anna.says("menu")
    reply = await anna.says("assemblea dei soci")
    assert "Non ci sono assemblee in programma a cui sei invitato." in reply

    async with app.database.unit_of_work() as uow:
        cancelled = await uow.audit.entries(action="assembly.cancelled")
        reminders = await uow.reminders.about(assembly_subject(assembly.id))
    assert [e.details for e in cancelled] == [{"reason": "Il bilancio non è ancora pronto"}]
    assert cancelled[0].actor.startswith("person:")
    assert reminders and {(r.status, r.reason) for r in reminders} == {
        ("cancelled", "assembly cancelled")
    }


async def test_no_check_in_at_a_cancelled_assembly(
    app: App, channel: RecordingChannel, clock: FakeClock
):
    await import_registry(app)
    giulia = await a_coordinator(app, channel)
    (anna,) = await members(app, channel, 1)
    assembly = await convene(app)
    clock.current = FIRST_CALL - timedelta(minutes=30)  # on the day
    await anna.says("menu")
    await anna.says("assemblea dei soci")
    assert "Scrivi il codice di presenza" in await anna.says("sono arrivato")
    await giulia.says("menu")
    await giulia.says("assemblee")
    await giulia.says("1")
    assert "Scrivi il nome o il cognome" in await giulia.says("segna un presente")

    await cancel(app, assembly, "Sala inagibile")
    (news,) = anna.unread()
    assert "Motivo: Sala inagibile" in news.text
    reply = await anna.says(assembly.checkin_code)
    assert "L'assemblea «Bilancio 2026» è stata annullata" in reply
    assert "Questa assemblea è stata annullata." in await giulia.says("bianchi")
    async with app.database.unit_of_work() as uow:
        assert assembly.id is not None
        rows = await uow.assemblies.invitations(assembly.id)
    assert [invite.checked_in_at for invite, _ in rows] == [None] * 5


async def test_a_cancelled_assembly_sends_no_reminder(
    app: App, channel: RecordingChannel, clock: FakeClock
):
    app.delivery.whatsapp.templates = TEMPLATES
    await import_registry(app)
    anna, bruno = await members(app, channel, 1, 2)
    assembly = await convene(app)
    bruno.unread()
    await anna.taps("Ci sarò")
    await cancel(app, assembly, "")
    (news,) = bruno.unread()
    assert news.text.endswith("has been cancelled by the cooperative. Reason: -")
    anna.unread()
    for moment in (
        datetime(2026, 12, 8, 17, 0, tzinfo=UTC),  # a week before
        datetime(2026, 12, 12, 17, 0, tzinfo=UTC),  # the eve of the answers' deadline
        datetime(2026, 12, 14, 17, 0, tzinfo=UTC),  # the day before
        datetime(2026, 12, 15, 15, 0, tzinfo=UTC),  # two hours before
    ):
        await until(app, clock, moment)
        assert anna.unread() == [] and bruno.unread() == []
    async with app.database.unit_of_work() as uow:
        rows = await uow.reminders.about(assembly_subject(assembly.id))
    assert sorted((r.kind, r.label, r.status) for r in rows) == [
        ("assembly", "24h", "cancelled"),
        ("assembly", "2h", "cancelled"),
        ("assembly", "7d", "cancelled"),
        ("assembly_deadline", "1d", "cancelled"),
    ]


async def test_moving_the_assembly_tells_everyone_and_reminds_at_the_new_time_only(
    app: App, channel: RecordingChannel, clock: FakeClock
):
    app.delivery.whatsapp.templates = TEMPLATES
    await import_registry(app)
    giulia = await a_coordinator(app, channel)
    await giulia.says("language")
    await giulia.says("2")
    anna, elena = await members(app, channel, 1, 5)
    assembly = await convene(app)
    anna.unread(), elena.unread()
    await anna.taps("Ci sarò")

    await giulia.says("menu")
    await giulia.says("assemblies")
    await giulia.says("1")
    reply = await giulia.taps("Change the assembly")
    assert (
        "Change the assembly:\nBilancio 2026\nFirst call: 15 December 2026, 18:00, Sala civica"
    ) in reply
    assert "Save and tell the members" not in reply.buttons
    assert "Date and time of the first call?" in await giulia.taps("First call")
    reply = await giulia.says("1/2/2027 18:00")
    assert "First call: 1 February 2027, 18:00, Sala civica, Via Roma 1" in reply
    await giulia.taps("Second call")
    await giulia.says("2/2/2027 18:00")
    await giulia.taps("Place")
    await giulia.says("Teatro comunale")
    await giulia.taps("Answer deadline")
    reply = await giulia.says("29/01/2027 20:00")
    assert "Second call: 2 February 2027, 18:00" in reply
    assert "Answers by 29 January 2027, 20:00" in reply
    reply = await giulia.taps("Save and tell the members")
    assert "Assembly «Bilancio 2026» changed: 5 members told." in reply
    assert "First call: 1 February 2027, 18:00, Teatro comunale" in reply  # the overview

    (news,) = anna.unread()
    assert news.text.startswith(
        "L'assemblea dei soci «Bilancio 2026» è cambiata.\n"
        "Ora: prima convocazione 1 febbraio 2027, 18:00, Teatro comunale; "
        "seconda convocazione 2 febbraio 2027, 18:00\n"
        "Prima era: prima convocazione 15 dicembre 2026, 18:00, Sala civica, Via Roma 1\n"
    )
    assert "Risposte entro il 29 gennaio 2027, 20:00" in news.text
    # Elena joined on 1 November: by 1 February she has been a member for 90 days
    (news, vote) = elena.unread()
    assert "Before: first call 15 December 2026, 18:00, Sala civica, Via Roma 1" in news.text
    assert vote.text.startswith(
        "With the new date of the assembly «Bilancio 2026» (1 February 2027, 18:00) you will "
        "have been a member for 90 days: you have a vote"
    )
    assert "Proxy to another member" in [c.label for c in vote.choices]
    await anna.says("menu")
    reply = await anna.says("assemblea dei soci")
    assert "Prima convocazione: 1 febbraio 2027, 18:00, Teatro comunale" in reply
    assert "La tua risposta: Ci sarò" in reply  # answers stay

    # the old times pass in silence
    for moment in (
        datetime(2026, 12, 8, 17, 0, tzinfo=UTC),
        datetime(2026, 12, 12, 17, 0, tzinfo=UTC),
        datetime(2026, 12, 15, 15, 0, tzinfo=UTC),
    ):
        await until(app, clock, moment)
        assert anna.unread() == [] and elena.unread() == []
    await until(app, clock, datetime(2027, 1, 25, 17, 0, tzinfo=UTC))  # a week before, 18:00
    (reminder,) = anna.unread()
    text = (reminder.template_variables or {})["1"]
    assert text.startswith("⏰ Promemoria: l'assemblea dei soci «Bilancio 2026»")
    assert "Prima convocazione: 1 febbraio 2027, 18:00" in text
    (nudge,) = elena.unread()
    text = (nudge.template_variables or {})["1"]
    assert "You have not told us yet whether you will come" in text
    await until(app, clock, datetime(2027, 1, 28, 19, 0, tzinfo=UTC))  # the deadline's eve
    assert anna.unread() == [] and len(elena.unread()) == 1

    async with app.database.unit_of_work() as uow:
        rows = await uow.reminders.about(assembly_subject(assembly.id))
        changed = await uow.audit.entries(action="assembly.changed")
    assert sorted((r.kind, r.label, r.status, r.due_at) for r in rows if r.status != "pending") == [
        ("assembly", "24h", "cancelled", datetime(2026, 12, 14, 17, 0, tzinfo=UTC)),
        ("assembly", "2h", "cancelled", datetime(2026, 12, 15, 15, 0, tzinfo=UTC)),
        ("assembly", "7d", "cancelled", datetime(2026, 12, 8, 17, 0, tzinfo=UTC)),
        ("assembly", "7d", "sent", datetime(2027, 1, 25, 17, 0, tzinfo=UTC)),
        ("assembly_deadline", "1d", "cancelled", datetime(2026, 12, 12, 17, 0, tzinfo=UTC)),
        ("assembly_deadline", "1d", "sent", datetime(2027, 1, 28, 19, 0, tzinfo=UTC)),
    ]
    assert set(changed[0].details) == {
        "first_call_at",
        "second_call_at",
        "place",
        "answer_deadline",
    }


async def test_a_change_that_breaks_the_rules_is_refused_with_the_reason(
    app: App, channel: RecordingChannel, clock: FakeClock
):
    await import_registry(app)
    giulia = await a_coordinator(app, channel)
    (anna,) = await members(app, channel, 1)
    await convene(app)
    anna.unread()
    await giulia.says("menu")
    await giulia.says("assemblee")
    await giulia.says("1")
    await giulia.taps("Modifica l'assemblea")
    await giulia.taps("Prima convocazione")
    assert "Non ho capito" in await giulia.says("domani")
    await giulia.says("16/12/2026 10:00")  # the second call's day
    reply = await giulia.taps("Salva e avvisa i soci")
    assert "La seconda convocazione non può essere lo stesso giorno della prima." in reply
    await giulia.taps("Prima convocazione")
    await giulia.says("15/12/2026 18:00")  # as it was
    await giulia.taps("Termine risposte")
    await giulia.says("16/12/2026 20:00")  # after the first call
    reply = await giulia.taps("Salva e avvisa i soci")
    assert "Il termine per rispondere deve essere tra adesso e la prima convocazione." in reply
    reply = await giulia.says("indietro")  # the changes are dropped
    assert "Prima convocazione: 15 dicembre 2026, 18:00, Sala civica" in reply
    assert anna.unread() == []
    async with app.database.unit_of_work() as uow:
        assert await uow.audit.entries(action="assembly.changed") == []

    # after the deadline the answers stay closed, but the place can still change
    clock.current = FIRST_CALL - timedelta(days=1)
    await anna.says("menu")  # she writes that morning (WhatsApp's 24 hours)
    anna.unread()
    await giulia.taps("Modifica l'assemblea")
    await giulia.taps("Luogo")
    await giulia.says("Sala del consiglio, Via Roma 3")
    reply = await giulia.taps("Salva e avvisa i soci")
    assert "Assemblea «Bilancio 2026» modificata: avvisati 5 soci." in reply
    (news,) = anna.unread()
    assert "Ora: prima convocazione 15 dicembre 2026, 18:00, Sala del consiglio" in news.text
    async with app.database.unit_of_work() as uow:
        (entry,) = await uow.audit.entries(action="assembly.changed")
    assert entry.details == {"place": "Sala del consiglio, Via Roma 3"}


async def test_a_new_date_gives_and_takes_away_votes_and_proxies_lapse(
    app: App, channel: RecordingChannel
):
    await import_registry(app)
    anna, bruno, elena = await members(app, channel, 1, 2, 5)
    assembly = await convene(app)
    later = datetime(2027, 2, 1, 17, 0, tzinfo=UTC)
    await move(app, assembly, later)  # Elena, a member since 1 November, votes then
    for person in (anna, bruno, elena):
        person.unread()

    # Anna gives Elena her proxy; the assembly comes back to December: it lapses
    await anna.taps_payload(f"a:rsvp:{assembly.id}:proxy")
    await anna.says("conti")
    (request,) = elena.unread()
    await elena.taps_payload(request.choices[0].id)
    anna.unread()
    await move(app, assembly, FIRST_CALL)
    (news, lost) = elena.unread()
    assert "Now: first call 15 December 2026, 18:00" in news.text
    assert lost.text.startswith(
        "With the new date of the assembly «Bilancio 2026» (15 December 2026, 18:00) you will "
        "not yet have been a member for 90 days: you have no vote"
    )
    (news, lapsed) = anna.unread()
    assert "Prima era: prima convocazione 1 febbraio 2027, 18:00" in news.text
    assert lapsed.text.startswith(
        "Elena Conti non ha più diritto di voto all'assemblea «Bilancio 2026» "
        "(15 dicembre 2026, 18:00) e non può tenere la tua delega."
    )
    assert "Delego un altro socio" in [c.label for c in lapsed.choices]

    # Elena, voting again, gives her proxy to Bruno; moved back: her proxy lapses
    await move(app, assembly, later)
    for person in (anna, bruno, elena):
        person.unread()
    await elena.taps_payload(f"a:rsvp:{assembly.id}:proxy")
    await elena.says("neri")
    (request,) = bruno.unread()
    await bruno.taps_payload(request.choices[0].id)
    (accepted,) = elena.unread()
    assert "Bruno Neri accepted your proxy" in accepted.text
    await move(app, assembly, FIRST_CALL)
    (news, lost, void) = elena.unread()
    assert "you have no vote" in lost.text and "has changed" in news.text
    assert void.text == "So your proxy no longer stands. Please answer again:"
    assert [c.label for c in void.choices] == [
        "I'll be there",
        "I'll join remotely",
        "I can't come",
    ]
    (news, dropped) = bruno.unread()
    assert news.text.startswith("The members' assembly «Bilancio 2026» has changed.")
    assert dropped.text == (
        "Elena Conti no longer has a vote at the assembly «Bilancio 2026» "
        "(15 December 2026, 18:00): their proxy to you no longer stands."
    )
    async with app.database.unit_of_work() as uow:
        assert assembly.id is not None
        invites = {p.name: i for i, p in await uow.assemblies.invitations(assembly.id)}
        changes = await uow.audit.entries(action="assembly.vote_changed")
    assert invites["Elena Conti"].voting is False
    assert (invites["Elena Conti"].answer, invites["Elena Conti"].delegate_id) == (None, None)
    assert invites["Anna Bianchi"].answer is None
    assert [e.details["voting"] for e in changes] == [True, False, True, False]
