"""Volunteers take shifts: first come, first served, a waitlist, withdrawal, calendar files."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app import App
from flows.incoming import Incoming
from flows.shifts import offer
from storage.tables import OutboxMessage, Shift
from storage.tables import Person as PersonRow
from tests.fakes import FakeClock, RecordingChannel
from tests.test_requests import TYPED, a_family, file_request
from tests.transcript import Person, a_coordinator, sign_up


async def a_volunteer(app: App, channel: RecordingChannel, name: str) -> Person:
    """Signed up as a volunteer (no skill in particular, any day) and approved (as a
    coordinator would in the chat)."""
    volunteer = Person(app, channel, on="telegram")
    await sign_up(volunteer, name=name, role="volontario")
    await volunteer.says("fatto")
    await volunteer.says("qualsiasi giorno")
    async with app.database.unit_of_work() as uow:
        account = await uow.people.account("telegram", volunteer.address)
        assert account is not None
        await uow.people.grant(account.person_id, "volunteer", by="person:1")
    return volunteer


async def open_shift(
    app: App, needed: int, start_in: timedelta = timedelta(days=3), request_id: int | None = None
) -> Shift:
    """A coordinator opens a shift; every approved volunteer gets the offer."""
    starts = app.engine.clock.now() + start_in
    async with app.database.unit_of_work() as uow:
        shift = await uow.shifts.add(
            Shift(
                title="Spesa per la signora Neri",
                zone="Bologna",
                place="Via Irnerio 5",
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                needed=needed,
                notes="Citofono Neri",
                request_id=request_id,
            )
        )
        for volunteer in await uow.people.with_role("volunteer"):
            assert volunteer.id is not None
            await app.engine.queue_notification(uow, volunteer.id, offer(shift, needed))
    await app.delivery.drain()
    return shift


async def test_offer_accept_and_the_calendar_file(app: App, channel: RecordingChannel):
    marco = await a_volunteer(app, channel, "Marco Blu")
    await open_shift(app, needed=2)
    (offer_message,) = marco.unread()
    assert offer_message.text.startswith("Nuovo turno: Spesa per la signora Neri\n")
    assert "Quando: dal 26 novembre 2026, 10:00 al 26 novembre 2026, 12:00" in offer_message.text
    assert "Posti liberi: 2" in offer_message.text

    reply = await marco.taps("Accetto")
    assert "il turno «Spesa per la signora Neri» è tuo" in reply
    calendar = reply.messages[0].attachment
    assert calendar is not None and calendar.media_type == "text/calendar"
    assert (
        "BEGIN:VEVENT" in calendar.content
        and "SUMMARY:Spesa per la signora Neri" in calendar.content
    )
    assert "DTSTART;TZID=UTC" in calendar.content or "DTSTART:20261126T090000Z" in calendar.content

    reply = await marco.taps_payload(offer_message.choices[0].id)
    assert "è già tuo" in reply


async def test_decline(app: App, channel: RecordingChannel):
    marco = await a_volunteer(app, channel, "Marco Blu")
    await open_shift(app, needed=1)
    marco.unread()
    reply = await marco.taps("No, grazie")
    assert "grazie lo stesso" in reply


async def test_covered_waitlist_and_promotion_after_a_withdrawal(
    app: App, channel: RecordingChannel
):
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    await open_shift(app, needed=1)
    marco.unread(), sara.unread()
    await marco.taps("Accetto")

    reply = await sara.taps("Accetto")
    assert "è già coperto" in reply
    (join,) = reply.messages[0].choices  # the button on the "covered" message
    assert join.label == "Mettimi in lista d'attesa"
    reply = await sara.taps_payload(join.id)
    assert "Sei in lista d'attesa" in reply

    await marco.says("menu")
    await marco.says("i miei turni")
    reply = await marco.says("1")
    assert "Turno: Spesa per la signora Neri" in reply
    reply = await marco.says("mi ritiro")
    assert "Ti sei ritirato" in reply

    (news,) = sara.unread()
    assert "Si è liberato un posto" in news.text and news.attachment is not None


async def test_overlapping_shifts_are_refused(app: App, channel: RecordingChannel):
    marco = await a_volunteer(app, channel, "Marco Blu")
    await open_shift(app, needed=1)
    await marco.taps("Accetto")
    await open_shift(app, needed=1, start_in=timedelta(days=3, hours=1))
    marco.unread()
    reply = await marco.taps("Accetto")
    assert "a quell'ora hai già «Spesa per la signora Neri»" in reply


async def test_a_late_withdrawal_goes_to_the_coordinator(app: App, channel: RecordingChannel):
    giulia = await a_coordinator(app, channel)
    marco = await a_volunteer(app, channel, "Marco Blu")
    await open_shift(app, needed=1, start_in=timedelta(hours=5))
    await marco.taps("Accetto")
    await marco.says("menu")
    await marco.says("i miei turni")
    await marco.says("1")
    giulia.unread()  # Marco's application, seen already
    reply = await marco.says("mi ritiro")
    assert "Mancano meno di 24 ore" in reply
    assert "Spesa per la signora Neri" in reply.buttons[0]  # still on the shift
    (alert,) = giulia.unread()
    assert "Marco Blu chiede di ritirarsi" in alert.text


async def test_shifts_are_for_approved_volunteers(app: App, channel: RecordingChannel):
    family = Person(app, channel)
    await sign_up(family)
    shift = await open_shift(app, needed=1)
    reply = await family.taps_payload(f"a:accept:{shift.id}")
    assert "volontari approvati" in reply


@pytest.mark.parametrize("backend", ["postgres"])
async def test_fifty_volunteers_take_three_places_at_the_same_instant(
    app: App, channel: RecordingChannel
):
    async with app.database.unit_of_work() as uow:
        ids = []
        for n in range(50):
            person = await uow.people.add(PersonRow(name=f"Volontario {n}", locale="it"))
            assert person.id is not None
            await uow.people.grant(person.id, "volunteer")
            await uow.people.add_account(person.id, "telegram", f"v{n}")
            ids.append(person.id)
    shift = await open_shift(app, needed=3)

    await asyncio.gather(
        *(
            app.engine.handle(Incoming("telegram", f"v{n}", choice=f"a:accept:{shift.id}"))
            for n in range(50)
        )
    )
    async with app.database.unit_of_work() as uow:
        assert shift.id is not None
        taken = [a for a in await uow.shifts.assignments(shift.id) if a.status == "confirmed"]
        replies = (await uow.session.exec(select(OutboxMessage))).all()
    keys = [r.body["key"] for r in replies if r.body["key"] != "shifts.offer"]
    assert len(taken) == 3
    assert keys.count("shifts.confirmed") == 3
    assert keys.count("shifts.covered") == 47


async def test_a_volunteer_sets_skills_and_availability(app: App, channel: RecordingChannel):
    marco = await a_volunteer(app, channel, "Marco Blu")
    await marco.says("menu")
    reply = await marco.says("competenze e disponibilità")
    assert "Cosa sai fare?" in reply
    assert reply.buttons[0] == "Patente di guida"
    reply = await marco.says("patente di guida")
    assert reply.buttons[0] == "✓ Patente di guida"
    await marco.says("lingue straniere")
    reply = await marco.says("lingue straniere")  # ticked twice: unticked
    assert "✓" not in reply.buttons[4]
    reply = await marco.says("fatto")
    assert "In quali giorni sei disponibile" in reply
    reply = await marco.says("dal lunedì al venerdì")
    assert "ho salvato le tue competenze" in reply
    async with app.database.unit_of_work() as uow:
        account = await uow.people.account("telegram", marco.address)
        assert account is not None
        profile = await uow.shifts.profile(account.person_id)
    assert profile is not None
    assert (profile.skills, profile.zones, profile.days) == (["Patente di guida"], [], "weekdays")


def test_offers_fit_skills_zones_and_days():
    from datetime import UTC, datetime

    from flows.shifts import fits
    from storage.tables import VolunteerProfile

    monday = datetime(2026, 11, 23, 9, tzinfo=UTC)
    saturday = datetime(2026, 11, 28, 9, tzinfo=UTC)

    def shift(skills: list[str], zone: str = "Bologna", starts: datetime = monday) -> Shift:
        return Shift(title="t", zone=zone, starts_at=starts, ends_at=starts, skills=skills)

    driver = VolunteerProfile(
        person_id=1, skills=["Patente di guida"], zones=["Bologna"], days="weekdays"
    )
    assert fits(driver, shift(["Patente di guida"]), "Europe/Rome")
    assert not fits(driver, shift(["Patente di guida", "Infanzia"]), "Europe/Rome")
    assert not fits(driver, shift([], zone="Imola"), "Europe/Rome")
    assert not fits(driver, shift([], starts=saturday), "Europe/Rome")
    anywhere = VolunteerProfile(person_id=2, skills=[], zones=[], days="any_day")
    assert fits(anywhere, shift([], zone="Imola", starts=saturday), "Europe/Rome")
    assert fits(None, shift([]), "Europe/Rome") and not fits(
        None, shift(["Infanzia"]), "Europe/Rome"
    )


async def test_check_in_report_done_and_the_hours(
    app: App, channel: RecordingChannel, clock: FakeClock
):
    marco = await a_volunteer(app, channel, "Marco Blu")
    await open_shift(app, needed=1, start_in=timedelta(hours=30))
    await marco.taps("Accetto")
    await marco.says("menu")
    reply = await marco.says("i miei turni")
    assert "Ore di volontariato: 0 questo mese, 0 quest'anno." in reply
    reply = await marco.says("1")
    assert "Sono arrivato" not in reply.buttons  # not yet the day

    clock.advance(hours=29, minutes=30)  # half an hour before the start
    reply = await marco.says("indietro")
    reply = await marco.says("1")
    reply = await marco.says("sono arrivato")
    assert "Presenza registrata" in reply
    clock.advance(hours=3)
    reply = await marco.says("turno svolto")
    assert "registrato il turno «Spesa per la signora Neri» come svolto" in reply
    await marco.says("menu")
    reply = await marco.says("i miei turni")
    assert "Ore di volontariato: 2 questo mese, 2 quest'anno." in reply


async def test_a_coordinator_sees_the_coverage_and_cancels_a_shift(
    app: App, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    await open_shift(app, needed=1)
    await marco.taps("Accetto")
    sara.unread()
    reply = await sara.taps("Accetto")
    await sara.taps_payload(reply.messages[0].choices[0].id)  # the waitlist

    await giulia.says("menu")
    reply = await giulia.says("copertura dei turni")
    assert reply.buttons[0] == "Spesa per la signora Neri — 26 novembre 2026, 10:00 (1/1)"
    reply = await giulia.says("1")
    assert "Volontari:\n• Marco Blu: confermato\n• Sara Rosa: in lista d'attesa" in reply
    await giulia.says("annulla il turno")
    reply = await giulia.says("La signora Neri è ricoverata")
    assert "Turno «Spesa per la signora Neri» annullato" in reply
    for volunteer in (marco, sara):
        (news,) = volunteer.unread()
        assert news.text.endswith(
            "annullato dalla cooperativa. Motivo: La signora Neri è ricoverata"
        )
    reply = await marco.says("i miei turni")
    assert "Non hai turni in programma" in reply


async def test_a_shift_for_a_request_tells_the_family_the_date_once_covered(
    app: App, channel: RecordingChannel
):
    maria = Person(app, channel)
    await sign_up(maria)
    for answer in [
        "chiedi supporto",
        "anziani",
        "per un genitore",
        "80+",
        "Bologna",
        "qualsiasi giorno",
        "mattina",
        "non urgente",
        "no",
        "conferma",
    ]:
        await maria.says(answer)
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    await open_shift(app, needed=2, request_id=1)
    maria.unread()
    await marco.taps("Accetto")
    assert maria.unread() == []  # one place of two: not yet
    await sara.taps("Accetto")
    (news,) = maria.unread()
    assert news.text == (
        "Buone notizie: la tua richiesta R-2026-0001 è programmata. "
        "Il primo intervento è il 26 novembre 2026, 10:00."
    )
    async with app.database.unit_of_work() as uow:
        request = await uow.requests.get(1)
        assert request is not None and request.status == "scheduled"


async def test_a_volunteer_on_a_familys_shift_sees_first_name_and_zone_not_the_notes(
    app: App, channel: RecordingChannel
):
    maria = await a_family(app, channel)
    note = "La mamma non sente bene, suonare a lungo"
    await file_request(maria, [*TYPED[:4], "qualsiasi giorno", "mattina", "non urgente", note])
    async with app.database.unit_of_work() as uow:
        request = await uow.requests.get(1)
        assert request is not None and request.notes and "suonare" in request.notes
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    await open_shift(app, needed=1, request_id=1)
    (offered,) = sara.unread()
    assert "Maria" not in offered.text  # an offer says nothing of the family
    await marco.taps("Accetto")
    await marco.says("menu")
    await marco.says("i miei turni")
    reply = await marco.says("1")
    assert "Presso la famiglia di: Maria (Casalecchio di Reno)" in reply
    assert "Note: Citofono Neri" in reply  # the coordinator's notes for volunteers
    assert "suonare" not in reply.last.text and "Rossi" not in reply.last.text
