"""Reminders arrive once, at the right wall-clock time, not at night, and not for
shifts that moved or were cancelled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.app import App
from flows.reminders import shift_subject
from flows.shift_admin import ShiftChanges, cancel_shift, change_shift, open_shift
from flows.timing import QuietHours, before, next_working_day
from scheduler.service import purge_expired_requests
from storage.tables import Shift
from tests.fakes import FakeClock, RecordingChannel
from tests.test_requests import TYPED, a_family, file_request
from tests.test_shifts import a_volunteer
from tests.transcript import Person, a_coordinator

ROME = "Europe/Rome"


async def a_shift(
    app: App,
    needed: int = 1,
    start_in: timedelta = timedelta(days=3),
    skills: list[str] | None = None,
) -> Shift:
    """A shift opened as a coordinator does (chat or CLI): reminders planned, offers sent."""
    now = app.engine.clock.now()
    shift = Shift(
        title="Compagnia al signor Bassi",
        zone="Bologna",
        place="Via Saragozza 12",
        starts_at=now + start_in,
        ends_at=now + start_in + timedelta(hours=2),
        needed=needed,
        skills=skills or [],
    )
    async with app.database.unit_of_work() as uow:
        for note in await open_shift(uow, shift, "cli", app.engine.settings, now):
            await app.engine.queue_notification(uow, note.person_id, note.reply)
    await app.delivery.drain()
    return shift


async def time_passes(app: App, clock: FakeClock, **delta: float) -> None:
    """The clock moves on; the scheduler sweeps and the outbox is delivered."""
    clock.advance(**delta)
    await app.scheduler.sweep.run()
    await app.delivery.drain()


async def test_the_volunteer_is_reminded_a_day_and_two_hours_before(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    marco = await a_volunteer(app, channel, "Marco Blu")
    await a_shift(app, start_in=timedelta(days=3))  # Thursday 26 at 10:00 in Rome
    await marco.taps("Accetto")

    await time_passes(app, clock, days=1)
    assert marco.unread() == []
    await time_passes(app, clock, days=1)  # Wednesday 10:00: 24 hours before
    (reminder,) = marco.unread()
    assert reminder.text.startswith("⏰ Promemoria: il turno «Compagnia al signor Bassi»")
    assert "Quando: dal 26 novembre 2026, 10:00 al 26 novembre 2026, 12:00" in reminder.text

    await time_passes(app, clock, hours=20)
    assert marco.unread() == []
    await time_passes(app, clock, hours=2)
    (reminder,) = marco.unread()
    assert "Promemoria" in reminder.text

    await time_passes(app, clock, hours=1)
    assert marco.unread() == []  # each reminder once


@pytest.mark.parametrize("backend", ["memory"])
async def test_only_confirmed_volunteers_are_reminded_in_their_language(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    await sara.says("language")
    await sara.says("English")
    await a_shift(app, needed=1)
    await sara.taps("Accept")
    marco.unread()
    await marco.taps("No, grazie")
    await time_passes(app, clock, days=2)
    assert marco.unread() == []
    (reminder,) = sara.unread()
    assert reminder.text.startswith('⏰ Reminder: the shift "Compagnia al signor Bassi"')


async def test_a_moved_shift_reminds_at_its_new_time_only(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    marco = await a_volunteer(app, channel, "Marco Blu")
    shift = await a_shift(app, start_in=timedelta(days=3))
    await marco.taps("Accetto")
    async with app.database.unit_of_work() as uow:
        moved = await uow.shifts.lock(shift.id or 0)
        assert moved is not None
        later = ShiftChanges(
            starts_at=moved.starts_at + timedelta(days=2),
            ends_at=moved.ends_at + timedelta(days=2),
        )
        for note in await change_shift(uow, moved, later, "cli", app.engine.settings, clock.now()):
            await app.engine.queue_notification(uow, note.person_id, note.reply)
    await app.delivery.drain()
    (news,) = marco.unread()
    assert "28 novembre 2026, 10:00" in news.text

    await time_passes(app, clock, days=2)  # the old day-before
    assert marco.unread() == []
    await time_passes(app, clock, days=2)  # the new one
    (reminder,) = marco.unread()
    assert "28 novembre 2026, 10:00" in reminder.text


async def test_a_cancelled_shift_reminds_nobody(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    marco = await a_volunteer(app, channel, "Marco Blu")
    shift = await a_shift(app, start_in=timedelta(days=3))
    await marco.taps("Accetto")
    async with app.database.unit_of_work() as uow:
        locked = await uow.shifts.lock(shift.id or 0)
        assert locked is not None
        for note in await cancel_shift(uow, locked, "cli", "maltempo"):
            await app.engine.queue_notification(uow, note.person_id, note.reply)
        reminders = await uow.reminders.about(shift_subject(shift.id))
    assert {r.status for r in reminders} == {"cancelled"}
    await app.delivery.drain()
    (cancelled,) = marco.unread()
    assert "è stato annullato" in cancelled.text
    await time_passes(app, clock, days=3)
    assert marco.unread() == []


@pytest.mark.parametrize("backend", ["memory"])
async def test_reminders_wait_for_the_morning_unless_the_shift_is_close(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    marco = await a_volunteer(app, channel, "Marco Blu")
    # Tuesday 24 at 23:00 in Rome: the day-before reminder falls at night
    await a_shift(app, start_in=timedelta(days=1, hours=13))
    await marco.taps("Accetto")
    await time_passes(app, clock, hours=13)  # Monday 23:00 in Rome
    assert marco.unread() == []  # quiet hours: it waits
    await time_passes(app, clock, hours=8)  # 07:00
    assert marco.unread() == []
    await time_passes(app, clock, hours=1)  # 08:00: the night is over
    (reminder,) = marco.unread()
    assert "Promemoria" in reminder.text
    await time_passes(app, clock, hours=13)  # 21:00, two hours before: urgent, it goes
    (reminder,) = marco.unread()
    assert "Promemoria" in reminder.text


def test_whole_days_are_counted_on_the_wall_clock_across_daylight_saving():
    # clocks go forward on Sunday 29 March 2026 and back on Sunday 25 October 2026
    spring_shift = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)  # 10:00 in Rome (summer time)
    reminder = before(spring_shift, timedelta(hours=24), ROME)
    assert reminder == datetime(2026, 3, 28, 9, 0, tzinfo=UTC)  # 10:00 the day before
    assert spring_shift - reminder == timedelta(hours=23)

    autumn_shift = datetime(2026, 10, 25, 9, 0, tzinfo=UTC)  # 10:00 in Rome (winter time)
    assert before(autumn_shift, timedelta(days=1), ROME) == datetime(2026, 10, 24, 8, tzinfo=UTC)
    # hours are hours: two hours before 03:30 on the spring night is 00:30 winter time
    night = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert before(night, timedelta(hours=2), ROME) == datetime(2026, 3, 28, 23, 30, tzinfo=UTC)


def test_quiet_hours_in_the_persons_time_zone():
    quiet = QuietHours.parse("21:00-08:00")
    assert quiet is not None
    evening = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)  # 22:30 in Rome
    assert quiet.release(evening, ROME) == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    early = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 06:00 in Rome
    assert quiet.release(early, ROME) == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
    noon = datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
    assert quiet.release(noon, ROME) == noon
    assert quiet.release(evening, "America/New_York") == evening  # 16:30 there
    assert QuietHours.parse("off") is None
    with pytest.raises(ValueError, match="like 21:00-08:00"):
        QuietHours.parse("dalle nove")


def test_the_next_working_day_skips_the_weekend():
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert next_working_day(friday, ROME) == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    monday = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert next_working_day(monday, ROME) == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def test_coordinators_are_alerted_when_a_shift_is_still_short(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)
    marco = await a_volunteer(app, channel, "Marco Blu")
    sara = await a_volunteer(app, channel, "Sara Rosa")
    luca = await a_volunteer(app, channel, "Luca Neri")
    await a_shift(app, needed=3, start_in=timedelta(days=5))
    await marco.taps("Accetto")
    await sara.taps("No, grazie")
    for person in (giulia, marco, sara, luca):
        person.unread()

    await time_passes(app, clock, days=3)  # 48 hours before
    (alert,) = giulia.unread()
    assert "ha ancora 2 posti scoperti" in alert.text
    (again,) = luca.unread()  # he never answered: asked once more
    assert again.text.startswith("Il turno «Compagnia al signor Bassi» cerca ancora volontari.")
    assert "Posti liberi: 2" in again.text
    assert sara.unread() == []  # she said no
    reminder_or_nothing = marco.unread()
    assert all("cerca ancora" not in m.text for m in reminder_or_nothing)

    reply = await luca.says("accetto")
    assert "è tuo" in reply


async def test_a_covered_shift_raises_no_alert(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)
    marco = await a_volunteer(app, channel, "Marco Blu")
    shift = await a_shift(app, needed=1, start_in=timedelta(days=5))
    await marco.taps("Accetto")
    giulia.unread()
    await time_passes(app, clock, days=3)
    assert giulia.unread() == []
    async with app.database.unit_of_work() as uow:
        reasons = {r.kind: r.reason for r in await uow.reminders.about(shift_subject(shift.id))}
    assert reasons["shift_short"] == "shift covered"


async def file_a_request(app: App, channel: RecordingChannel) -> Person:
    anna = await a_family(app, channel, on="whatsapp", phone="+393331112222")
    await file_request(anna, TYPED)
    return anna


async def test_a_request_nobody_took_is_recalled_the_next_working_day(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)
    clock.advance(days=4)  # Friday 27 at 10:00 in Rome
    await file_a_request(app, channel)
    (notice,) = giulia.unread()
    assert notice.text.startswith("Nuova richiesta R-2026-0001")

    await time_passes(app, clock, days=1)  # Saturday
    assert giulia.unread() == []
    await time_passes(app, clock, days=2)  # Monday 10:00
    (recall,) = giulia.unread()
    assert recall.text.startswith("Promemoria: la richiesta R-2026-0001")
    assert [c.label for c in recall.choices] == ["Prendo in carico"]
    reply = await giulia.taps("Prendo in carico")
    assert "R-2026-0001" in reply


@pytest.mark.parametrize("backend", ["memory"])
async def test_a_request_taken_in_charge_is_not_recalled(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)
    await file_a_request(app, channel)
    await giulia.taps("Prendo in carico")
    giulia.unread()
    await time_passes(app, clock, days=1)
    assert giulia.unread() == []


async def test_late_reminders_after_a_restart_are_sent_or_skipped_with_a_reason(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    marco = await a_volunteer(app, channel, "Marco Blu")
    soon = await a_shift(app, start_in=timedelta(days=3))
    await marco.taps("Accetto")
    # the bot is down from Tuesday 09:00 until Wednesday 12:00 (the day-before reminder
    # was due at 10:00 that day): late by two hours, it is still sent
    clock.advance(days=2, hours=3)
    await time_passes(app, clock)
    (reminder,) = marco.unread()
    assert "Promemoria" in reminder.text

    later = await a_shift(app, start_in=timedelta(days=3))
    await marco.taps("Accetto")
    clock.advance(days=2, hours=14)  # down through the whole day: now 14 hours late
    await time_passes(app, clock)
    assert all("Promemoria" not in m.text for m in marco.unread())
    async with app.database.unit_of_work() as uow:
        rows = {r.label: r for r in await uow.reminders.about(shift_subject(later.id))}
        assert rows["24h"].status == "skipped"
        assert (rows["24h"].reason or "").startswith("too late: due 2026-11-")
        assert rows["2h"].status == "pending"  # still ahead
        assert {r.status for r in await uow.reminders.about(shift_subject(soon.id))} >= {"sent"}


async def test_closed_requests_are_purged_after_the_retention(
    app: App, clock: FakeClock, channel: RecordingChannel
):
    giulia = await a_coordinator(app, channel)
    await file_a_request(app, channel)
    async with app.database.unit_of_work() as uow:
        request = await uow.requests.by_reference("R-2026-0001")
        assert request is not None
        request.notes = "Citofono Bianchi"
        await uow.requests.change_status(request, "closed", "person:1", "fatto")
        request.updated_at = clock.now()
    giulia.unread()
    clock.advance(days=364)
    assert await purge_expired_requests(app.database, clock, 365) == 0
    clock.advance(days=2)
    assert await purge_expired_requests(app.database, clock, 365) == 1
    async with app.database.unit_of_work() as uow:
        request = await uow.requests.by_reference("R-2026-0001")
        assert request is not None and request.notes is None
        assert request.family_person_id is None and request.category == "elderly_care"
        audit = await uow.audit.entries()
    assert any(e.action == "requests.purged" and e.actor == "system" for e in audit)
