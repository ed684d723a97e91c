"""Coordinators create, change and close shifts in the chat: a form with a summary, the
offers, the news to those on it, attendance."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.app import App
from tests.fakes import FakeClock, RecordingChannel
from tests.test_requests import TYPED, a_family, file_request
from tests.test_shifts import a_volunteer, open_shift
from tests.transcript import Person, a_coordinator


async def a_driver(app: App, channel: RecordingChannel, name: str) -> Person:
    """A volunteer who said they drive (approved by a coordinator)."""
    driver = await a_volunteer(app, channel, name)
    await driver.says("menu")
    await driver.says("competenze e disponibilità")
    await driver.says("patente di guida")
    await driver.says("fatto")
    await driver.says("qualsiasi giorno")
    return driver


async def test_a_shift_typed_in_words_whatsapp_style(app: App, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel)
    marco = await a_driver(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")  # does not drive
    await giulia.says("menu")
    await giulia.says("copertura dei turni")
    reply = await giulia.says("nuovo turno")
    assert "Nuovo turno. Come lo chiamiamo?" in reply
    reply = await giulia.says("Trasporto al poliambulatorio")
    assert "Quali competenze servono?" in reply
    await giulia.says("patente")
    reply = await giulia.says("fatto")
    assert "Quando inizia?" in reply

    reply = await giulia.says("prima possibile")
    assert "Non ho capito il giorno e l'ora" in reply
    reply = await giulia.says("22/11 9:30")  # yesterday's date: next year, not the past
    assert "Inizio: 22 novembre 2027, 09:30." in reply
    reply = await giulia.says("8")
    assert "La fine deve venire dopo l'inizio" in reply
    reply = await giulia.says("11.30")
    assert "In quale comune o zona? Scrivi il nome." in reply
    await giulia.says("Bologna")
    reply = await giulia.says("Via Irnerio 5")
    assert "Quanti volontari servono?" in reply
    reply = await giulia.says("zero")
    assert "Scrivi un numero da 1 a 50" in reply
    await giulia.says("2")
    reply = await giulia.says("no")  # no notes
    summary = reply.last.text
    assert "Competenze richieste: Patente di guida" in summary
    assert "Quando: dal 22 novembre 2027, 09:30 al 22 novembre 2027, 11:30" in summary
    assert "Luogo: Via Irnerio 5\nVolontari: 2\nNote per i volontari: Nessuno" in summary

    await giulia.says("no")  # not right: correct
    await giulia.says("ora di inizio")
    reply = await giulia.says("domani alle 10")
    assert "Quando: dal 24 novembre 2026, 10:00 al 24 novembre 2026, 12:00" in reply.last.text
    reply = await giulia.says("sì")
    assert "Turno «Trasporto al poliambulatorio» creato e proposto a 1 volontari." in reply
    assert "Prossimi turni" in reply.last.text  # back to the coverage

    (offer,) = marco.unread()
    assert "Nuovo turno: Trasporto al poliambulatorio" in offer.text
    assert sara.unread() == []
    async with app.database.unit_of_work() as uow:
        (created,) = await uow.audit.entries(action="shift.created")
    assert created.actor == "person:1"


async def test_a_shift_for_a_request_tapped_in_english_telegram_style(
    app: App, channel: RecordingChannel
):
    maria = await a_family(app, channel)
    await file_request(maria, TYPED)
    giulia = await a_coordinator(app, channel, on="telegram")
    marco = await a_volunteer(app, channel, "Marco Blu")
    await giulia.says("language")
    await giulia.taps("English")
    await giulia.says("menu")
    await giulia.taps("Families' requests")
    await giulia.taps("R-2026-0001")
    reply = await giulia.taps("Make a shift")
    assert reply.buttons == ["Home care for the elderly (SAD/ADI)"]
    reply = await giulia.taps("Home care")
    assert "Which skills are needed?" in reply
    reply = await giulia.taps("Done")
    reply = await giulia.says("tomorrow 9:30")
    reply = await giulia.says("11:30")
    assert "Where do they meet?" in reply  # the zone is the request's
    await giulia.taps("None")
    await giulia.says("1")
    reply = await giulia.taps("None")
    assert "Zone: Casalecchio di Reno\nPlace: None" in reply.last.text
    assert "Family's request: R-2026-0001" in reply.last.text
    reply = await giulia.taps("Create and offer")
    assert "offered to 1 volunteers" in reply
    assert "Request R-2026-0001" in reply.last.text  # back to the request

    maria.unread()
    await marco.taps("Accetto")
    (news,) = maria.unread()
    assert (
        "R-2026-0001 è programmata. Il primo intervento è il 24 novembre 2026, 09:30" in news.text
    )


async def test_changing_a_shift_tells_everyone_on_it(app: App, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel)
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    await open_shift(app, needed=1)
    await marco.taps("Accetto")
    sara.unread()
    covered = await sara.taps("Accetto")
    await sara.taps_payload(covered.messages[0].choices[0].id)  # the waitlist
    marco.unread(), sara.unread()

    await giulia.says("menu")
    await giulia.says("copertura dei turni")
    await giulia.says("1")
    reply = await giulia.says("modifica il turno")
    assert "Cosa vuoi cambiare del turno «Spesa per la signora Neri»?" in reply
    await giulia.says("ora di inizio")
    reply = await giulia.says("1/12 9:30")
    assert "Quando: dal 1 dicembre 2026, 09:30 al 1 dicembre 2026, 11:30" in reply.last.text
    reply = await giulia.says("salva le modifiche")
    assert "Turno «Spesa per la signora Neri» modificato. Ho avvisato 2 volontari." in reply
    assert "Volontari:\n• Marco Blu: confermato" in reply.last.text  # back to the team

    (news,) = marco.unread()
    assert news.text.startswith("Il turno «Spesa per la signora Neri» è cambiato.\n")
    assert "Ora: dal 1 dicembre 2026, 09:30 al 1 dicembre 2026, 11:30, Via Irnerio 5" in news.text
    assert "Prima era: dal 26 novembre 2026, 10:00 al 26 novembre 2026, 12:00" in news.text
    assert news.attachment is not None and "DTSTART" in news.attachment.content
    (waiting,) = sara.unread()
    assert "è cambiato" in waiting.text and waiting.attachment is None

    # fewer places than those confirmed: refused; more: the waitlist moves up
    await giulia.says("modifica il turno")
    await giulia.says("numero di volontari")
    reply = await giulia.says("0")
    assert "Scrivi un numero da 1 a 50" in reply
    await giulia.says("2")
    reply = await giulia.says("salva")
    assert "Ho avvisato 1 volontari" in reply
    (promoted,) = sara.unread()
    assert "Si è liberato un posto" in promoted.text
    assert marco.unread() == []


async def test_needed_below_those_confirmed_is_refused(app: App, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel, on="telegram")
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    await open_shift(app, needed=3)
    await marco.taps("Accetto")
    await sara.taps("Accetto")
    await giulia.says("menu")
    await giulia.says("copertura dei turni")
    await giulia.taps("Spesa")
    await giulia.taps("Modifica")
    await giulia.taps("Numero di volontari")
    await giulia.says("1")
    reply = await giulia.taps("Salva")
    assert "Non posso scendere sotto i 2 volontari che hanno già confermato" in reply
    assert "Volontari: 1" in reply.last.text  # the summary again, to correct


async def test_attendance_is_marked_in_the_chat(
    app: App, channel: RecordingChannel, clock: FakeClock
):
    giulia = await a_coordinator(app, channel)
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    await open_shift(app, needed=2)
    await marco.taps("Accetto")
    await sara.taps("Accetto")
    clock.advance(days=4)

    await giulia.says("menu")
    reply = await giulia.says("copertura dei turni")
    assert "Non ci sono turni in programma" in reply
    reply = await giulia.says("turni passati")
    assert reply.buttons[0] == "Spesa per la signora Neri — 26 novembre 2026, 10:00 (2/2)"
    await giulia.says("1")
    reply = await giulia.says("segna le presenze")
    assert reply.buttons == ["Marco Blu: confermato", "Sara Rosa: confermato", "Indietro"]
    reply = await giulia.says("marco")
    assert "Com'è andata per Marco Blu?" in reply
    reply = await giulia.says("presente")
    assert "Segnato: Marco Blu, Presente." in reply
    assert reply.buttons[0] == "Marco Blu: svolto"
    await giulia.says("2")
    reply = await giulia.says("giustificato")
    assert reply.buttons[1] == "Sara Rosa: assente giustificato"

    await marco.says("menu")
    reply = await marco.says("i miei turni")
    assert "Ore di volontariato: 2 questo mese" in reply
    async with app.database.unit_of_work() as uow:
        marked = await uow.audit.entries(action="shift.marked")
    assert [(e.actor, e.details["status"]) for e in marked] == [
        ("person:1", "attended"),
        ("person:1", "excused"),
    ]


async def test_volunteers_cannot_create_shifts(app: App, channel: RecordingChannel):
    marco = await a_volunteer(app, channel, "Marco Blu")
    await marco.says("menu")
    reply = await marco.says("copertura dei turni")
    assert "Copertura" not in reply.text


async def test_the_zone_from_the_cooperatives_list_help_and_back(
    app: App, channel: RecordingChannel
):
    app.engine.settings = replace(app.engine.settings, zones=("Bologna", "Casalecchio di Reno"))
    giulia = await a_coordinator(app, channel)
    await giulia.says("menu")
    await giulia.says("copertura dei turni")
    await giulia.says("nuovo turno")
    await giulia.says("Compagnia al signor Bianchi")
    reply = await giulia.says("fatto")
    reply = await giulia.says("aiuto")
    assert "«lunedì alle 15»" in reply and "Quando inizia?" in reply.last.text
    await giulia.says("lunedì alle 15")
    reply = await giulia.says("17")
    assert reply.buttons[:2] == ["Bologna", "Casalecchio di Reno"]
    reply = await giulia.says("indietro")
    assert "A che ora finisce?" in reply
    await giulia.says("18")
    reply = await giulia.says("casalecchio")
    assert "Dove ci si trova?" in reply
    for answer in ("nessuno", "1", "Portare il giornale"):
        reply = await giulia.says(answer)
    summary = reply.last.text
    assert "Quando: dal 30 novembre 2026, 15:00 al 30 novembre 2026, 18:00" in summary
    assert "Zona: Casalecchio di Reno\nLuogo: Nessuno" in summary
    reply = await giulia.taps("Lascia perdere")  # typed, it is the global «annulla»
    assert "Non ci sono turni in programma." in reply.last.text  # back to the coverage
    async with app.database.unit_of_work() as uow:
        assert await uow.shifts.listing() == []


async def test_more_places_are_offered_to_those_who_have_not_answered(
    app: App, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    luca = await a_volunteer(app, channel, "Luca Gialli")
    await open_shift(app, needed=1)
    await marco.taps("Accetto")
    await sara.taps("No, grazie")
    marco.unread(), sara.unread(), luca.unread()  # Luca has not answered

    await giulia.says("menu")
    await giulia.says("copertura dei turni")
    await giulia.says("1")
    await giulia.says("modifica il turno")
    await giulia.says("numero di volontari")
    await giulia.says("3")
    reply = await giulia.says("salva")
    assert "Ho avvisato 1 volontari" in reply  # the new offer; Sara said no already
    (again,) = luca.unread()
    assert again.text.startswith("Nuovo turno: Spesa per la signora Neri\n")
    assert "Posti liberi: 2" in again.text
    assert sara.unread() == [] and marco.unread() == []
    reply = await luca.taps("Accetto")
    assert "è tuo" in reply


async def test_a_shift_moved_onto_another_of_a_volunteers_frees_their_place(
    app: App, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    await open_shift(app, needed=1)  # Thursday 26 November, 10:00-12:00
    await marco.taps("Accetto")
    await open_shift(app, needed=1, start_in=timedelta(days=4))  # Friday 27, 10:00-12:00
    await marco.taps("Accetto")
    sara.unread()
    covered = await sara.taps("Accetto")  # Friday's is covered: she waits
    await sara.taps_payload(covered.messages[0].choices[0].id)
    marco.unread(), sara.unread(), giulia.unread()

    await giulia.says("menu")
    await giulia.says("copertura dei turni")
    await giulia.says("2")
    await giulia.says("modifica il turno")
    await giulia.says("ora di inizio")
    await giulia.says("26/11 11:00")  # now it overlaps Marco's Thursday shift
    reply = await giulia.says("salva le modifiche")
    assert "Turno «Spesa per la signora Neri» modificato" in reply
    (alert,) = [m for m in reply.messages if "il suo posto è stato liberato" in m.text]
    assert "Marco Blu a quell'ora ha già il turno «Spesa per la signora Neri»" in alert.text

    (released,) = marco.unread()
    assert "quando hai già il turno «Spesa per la signora Neri»" in released.text
    assert "abbiamo liberato il tuo posto" in released.text
    changed, promoted = sara.unread()
    assert "è cambiato" in changed.text
    assert "Si è liberato un posto" in promoted.text and promoted.attachment is not None
    async with app.database.unit_of_work() as uow:
        team = {a.person_id: a.status for a in await uow.shifts.assignments(2)}
        marco_row = await uow.people.account("telegram", marco.address)
        assert marco_row is not None
        assert team[marco_row.person_id] == "released"
        assert sorted(team.values()) == ["confirmed", "released"]
    await marco.says("menu")
    reply = await marco.says("i miei turni")
    assert reply.buttons == [  # Thursday's only
        "Spesa per la signora Neri — 26 novembre 2026, 10:00 (confermato)",
        "Indietro",
    ]
