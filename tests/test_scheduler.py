"""The scheduler as `cisono run` runs it: APScheduler triggers the sweeps, and several
sweepers on one PostgreSQL fire each reminder exactly once."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from flows.config import FlowSettings, SystemClock
from flows.messages import Reply
from scheduler.reminders import Firing
from scheduler.sweep import ReminderSweep
from storage.tables import OutboxMessage, Person, Reminder, Shift, ShiftAssignment
from storage.unit_of_work import Database
from tests.fake_telegram import FakeTelegram
from tests.fakes import FakeClock
from tests.platforms import running, settings_for

REMINDERS = 1000
FROM = re.compile(r'\bFROM\s+"?(\w+)')  # the table a SELECT reads first


async def say_hello(firing: Firing) -> None:
    """A reminder kind for the test: one message to the person it is about."""
    await firing.tell(firing.subject_id, Reply("help.general"))


@pytest.mark.parametrize("backend", ["postgres"])
async def test_two_sweepers_fire_a_thousand_reminders_once_each(database: Database):
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        person = await uow.people.add(Person(name="Marco Blu", locale="it"))
        assert person.id is not None
        await uow.people.add_account(person.id, "telegram", "100")
        uow.session.add_all(
            Reminder(
                kind="hello",
                subject=f"person:{person.id}",
                label=str(n),
                due_at=clock.now() - timedelta(seconds=n % 60),
            )
            for n in range(REMINDERS)
        )
    # two schedulers, each with its own connections, as two `cisono run` processes have
    other = Database(database.url)
    sweeps = [
        ReminderSweep(db, FlowSettings(), clock, handlers={"hello": say_hello}, batch=50)
        for db in (database, other)
    ]
    reports = await asyncio.gather(*(sweep.run() for sweep in sweeps), sweeps[0].run())
    await other.dispose()

    assert sum(r.fired for r in reports) == REMINDERS
    async with database.unit_of_work() as uow:
        rows = (await uow.session.exec(select(Reminder))).all()
        origins = (await uow.session.exec(select(OutboxMessage.origin))).all()
    assert Counter(r.status for r in rows) == {"sent": REMINDERS}
    assert len(origins) == REMINDERS and len(set(origins)) == REMINDERS  # none twice, none lost


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_cisono_run_fires_due_reminders(database: Database, telegram: FakeTelegram):
    now = SystemClock().now()
    async with database.unit_of_work() as uow:
        person = await uow.people.add(Person(name="Marco Blu", locale="it"))
        assert person.id is not None
        await uow.people.add_account(person.id, "telegram", "4242")
        shift = Shift(
            title="Trasporto alla visita",
            zone="Bologna",
            starts_at=now + timedelta(minutes=90),  # close: it goes also during quiet hours
            ends_at=now + timedelta(hours=3),
        )
        await uow.shifts.add(shift)
        assert shift.id is not None
        uow.session.add(ShiftAssignment(shift_id=shift.id, person_id=person.id))
        uow.session.add(Reminder(kind="shift", subject=f"shift:{shift.id}", label="2h", due_at=now))
    settings = settings_for(database.url, telegram=telegram, CISONO_SWEEP_SECONDS=0.2)
    async with running(settings):
        (text,) = await telegram.wait_for_texts(4242, 1)
        assert text.startswith("⏰ Promemoria: il turno «Trasporto alla visita»")
        await asyncio.sleep(0.5)  # a few more sweeps: nothing more
    assert len(telegram.texts_to(4242)) == 1
    async with database.unit_of_work() as uow:
        (reminder,) = (await uow.session.exec(select(Reminder))).all()
    assert reminder.status == "sent" and reminder.recipients == 1
    assert reminder.fired_at is not None and reminder.fired_at >= now


async def test_a_batch_of_shift_reminders_asks_for_its_shifts_and_volunteers_once(
    database: Database,
):
    """Twenty volunteers, each confirmed on a shift of their own (one also on a second
    shift, and waitlisted on a third): one query for the shifts, one for the volunteers,
    whatever the batch's size; each confirmed volunteer reminded once."""
    clock = FakeClock()
    starts = clock.now() + timedelta(hours=3)
    async with database.unit_of_work() as uow:
        shifts = []
        for n in range(20):
            shift = await uow.shifts.add(
                Shift(title=f"Turno {n}", zone="Bologna", starts_at=starts, ends_at=starts)
            )
            assert shift.id is not None
            shifts.append(shift.id)
            uow.reminders.add("shift", f"shift:{shift.id}", "2h", clock.now())
        uow.reminders.add("shift", "shift:none", "2h", clock.now())  # a broken subject
        for n, shift_id in enumerate(shifts):
            person = await uow.people.add(Person(name=f"Volontario {n}", locale="it"))
            assert person.id is not None
            await uow.people.add_account(person.id, "telegram", str(500 + n))
            uow.session.add(ShiftAssignment(shift_id=shift_id, person_id=person.id))
            if n == 0:  # also on the next shift, and waiting for a place on the one after
                uow.session.add(ShiftAssignment(shift_id=shifts[1], person_id=person.id))
                waiting = ShiftAssignment(shift_id=shifts[2], person_id=person.id)
                waiting.status = "waitlisted"
                uow.session.add(waiting)
    reads: Counter[str] = Counter()

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            reads[FROM.findall(statement)[0]] += 1

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        report = await ReminderSweep(database, FlowSettings(), clock).run()
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)

    assert (report.fired, report.skipped, report.messages) == (20, 1, 21)
    assert reads["shift"] == 1
    assert reads["person"] == 1
    async with database.unit_of_work() as uow:
        sent = (await uow.session.exec(select(OutboxMessage.address))).all()
    assert Counter(sent) == {str(500 + n): 1 for n in range(1, 20)} | {"500": 2}
