"""`cisono run` killed with SIGKILL in the middle of a broadcast and of a reminder sweep,
then started again: nothing is lost, and only what was in flight at the kill can arrive
twice. Real processes, the fake Bot API and the fake Twilio over HTTP, PostgreSQL."""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from bot.delivery import Delivery
from flows.broadcasting import fan_out
from flows.config import FlowSettings, SystemClock
from scheduler.sweep import ReminderSweep
from storage.tables import (
    Broadcast,
    ChannelAccount,
    OutboxMessage,
    Person,
    Reminder,
    Shift,
    ShiftAssignment,
)
from storage.unit_of_work import Database
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.processes import CisonoRun, add_volunteers, bulk_insert, cisono_env

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["postgres"])]
CLAIM_BATCH = inspect.signature(Delivery.drain).parameters["batch"].default
SWEEP_BATCH = inspect.signature(ReminderSweep).parameters["batch"].default
LEASE = 2  # seconds, CISONO_OUTBOX_LEASE: a dead worker's claims are free again at restart
FAST = {"TELEGRAM_RATE_LIMIT": 2000, "TELEGRAM_CHAT_RATE_LIMIT": 100}
FAST |= {"TWILIO_WHATSAPP_RATE": 2000, "CISONO_OUTBOX_LEASE": LEASE}
TEXT = "Domenica la sede resta chiusa per la disinfestazione."
Chat = tuple[str, str]  # (channel, address)


async def scalar(database: Database, query: str) -> int:
    async with database.engine.connect() as connection:
        return int((await connection.execute(text(query))).scalar_one())


async def when_count_reaches(database: Database, query: str, at_least: int, process: CisonoRun):
    """Poll until `query` counts `at_least`; the count then."""
    deadline = asyncio.get_running_loop().time() + 90
    while (count := await scalar(database, query)) < at_least:
        assert process.running, process.output()
        assert asyncio.get_running_loop().time() < deadline, (count, process.output())
        await asyncio.sleep(0.01)
    return count


async def in_flight(database: Database) -> set[Chat]:
    """The messages claimed and not yet recorded (the process is dead: exactly these)."""
    async with database.unit_of_work() as uow:
        rows = await uow.session.exec(
            select(OutboxMessage).where(OutboxMessage.status == "sending")
        )
        return {(row.channel, row.address) for row in rows.all()}


async def settled(database: Database, process: CisonoRun, within: float = 120) -> None:
    """Until nothing waits in the outbox."""
    waiting = "SELECT count(*) FROM outbox WHERE status IN ('queued', 'sending')"
    deadline = asyncio.get_running_loop().time() + within
    while await scalar(database, waiting):
        assert process.running, process.output()
        assert asyncio.get_running_loop().time() < deadline, process.output()
        await asyncio.sleep(0.1)


def per_lane(claimed: set[Chat]) -> int:
    """The most messages in flight in one lane (a channel's bulk: all of them are bulk)."""
    return max(Counter(channel for channel, _ in claimed).values(), default=0)


def received(telegram: FakeTelegram, twilio: FakeTwilio, chats: list[Chat]) -> Counter[Chat]:
    """How many messages each chat got, as the fake platforms recorded them."""
    whatsapp = Counter(message["to"] for message in twilio.messages)
    counts: Counter[Chat] = Counter()
    for channel, address in chats:
        got = (
            whatsapp[f"whatsapp:{address}"]
            if channel == "whatsapp"
            else telegram.count_to(int(address))
        )
        counts[(channel, address)] = got
    return counts


PER_PLATFORM = 2500


async def volunteers(database: Database) -> list[Chat]:
    """Half on Telegram, half on WhatsApp (who wrote an hour ago: the window is open)."""
    chats = [("telegram", str(40_000 + i)) for i in range(1, PER_PLATFORM + 1)] + [
        ("whatsapp", f"+39333{600_000 + i:07d}")
        for i in range(PER_PLATFORM + 1, 2 * PER_PLATFORM + 1)
    ]
    await add_volunteers(database, chats)
    return chats


async def test_a_broadcast_killed_midway_reaches_everyone_once_but_the_messages_in_flight(
    database: Database, telegram: FakeTelegram, twilio: FakeTwilio, tmp_path: Path
):
    chats = await volunteers(database)
    for channel, address in chats:
        if channel == "whatsapp":
            twilio.open_window(address)
    async with database.unit_of_work() as uow:
        notice = await uow.broadcasts.add(
            Broadcast(author="cli", audience="volunteers", texts={"it": TEXT})
        )
        assert await fan_out(uow, notice, FlowSettings(), SystemClock().now()) == len(chats)

    first = CisonoRun(
        cisono_env(database.url, telegram=telegram, twilio=twilio, **FAST), tmp_path / "1.log"
    )
    await first.start()
    sent = "SELECT count(*) FROM outbox WHERE status = 'sent'"
    await when_count_reaches(database, sent, len(chats) // 10, first)
    await first.kill()
    await asyncio.sleep(0.5)  # requests that left before the kill are answered by the fakes
    claimed = await in_flight(database)
    sent_at_kill = await scalar(database, sent)
    before = received(telegram, twilio, chats)
    accepted_unrecorded = {chat for chat in claimed if before[chat]}
    assert sent_at_kill < len(chats), "the kill came after the end: nothing was tried"

    second = CisonoRun(
        cisono_env(database.url, telegram=telegram, twilio=twilio, **FAST), tmp_path / "2.log"
    )
    await second.start()
    await settled(database, second)
    assert await second.stop() == 0, second.output()

    after = received(telegram, twilio, chats)
    assert set(after.values()) <= {1, 2}, Counter(after.values())  # nobody 0 or 3 times
    twice = {chat for chat, count in after.items() if count == 2}
    # resent: exactly those the platforms had accepted and the bot had not recorded yet
    assert twice == accepted_unrecorded
    assert per_lane(claimed) <= CLAIM_BATCH  # at most one claim batch per delivery lane
    async with database.unit_of_work() as uow:
        figures = await uow.broadcasts.figures(notice.id or 0)
    assert (figures.total, figures.sent, figures.waiting) == (len(chats), len(chats), 0)
    assert telegram.texts_to(40_001) == [f"📢 {TEXT}"]
    print(
        f"\nbroadcast crash: {len(chats)} recipients, killed at {sent_at_kill} sent, "
        f"{len(claimed)} in flight, {len(twice)} resent, "
        f"{sum(1 for c in after.values() if c == 0)} lost"
    )


REMINDERS = 1000


async def volunteers_on_shifts(database: Database) -> None:
    """Volunteer n (a Telegram chat) confirmed on shift n, in three hours; its "2h"
    reminder is due already (the bot was down a minute)."""
    now = SystemClock().now()
    ids = range(1, REMINDERS + 1)
    starts = now + timedelta(hours=3)
    await bulk_insert(
        database,
        Person,
        [Person(id=i, name=f"Volontario {i}", locale="it", consent_at=now) for i in ids],
    )
    await bulk_insert(
        database,
        ChannelAccount,
        [
            ChannelAccount(id=i, person_id=i, channel="telegram", external_id=str(50_000 + i))
            for i in ids
        ],
    )
    shifts = [
        Shift(
            id=i,
            title=f"Turno {i}",
            zone="Bologna",
            starts_at=starts,
            ends_at=starts + timedelta(hours=1),
        )
        for i in ids
    ]
    await bulk_insert(database, Shift, shifts)
    await bulk_insert(
        database, ShiftAssignment, [ShiftAssignment(id=i, shift_id=i, person_id=i) for i in ids]
    )
    due = now - timedelta(minutes=1)
    reminders = [
        Reminder(id=i, kind="shift", subject=f"shift:{i}", label="2h", due_at=due) for i in ids
    ]
    await bulk_insert(database, Reminder, reminders)


async def test_a_reminder_sweep_killed_midway_fires_each_reminder_once(
    database: Database, telegram: FakeTelegram, twilio: FakeTwilio, tmp_path: Path
):
    await volunteers_on_shifts(database)
    env = {**FAST, "CISONO_SWEEP_SECONDS": 0.2}
    first = CisonoRun(cisono_env(database.url, telegram=telegram, **env), tmp_path / "1.log")
    await first.start()
    fired = "SELECT count(*) FROM reminder WHERE status = 'sent'"
    await when_count_reaches(database, fired, 2 * SWEEP_BATCH, first)
    await first.kill()
    await asyncio.sleep(0.5)
    fired_at_kill = await scalar(database, fired)
    queued_at_kill = await scalar(
        database, "SELECT count(*) FROM outbox WHERE origin LIKE 'reminder:%'"
    )
    claimed = await in_flight(database)
    chats = [("telegram", str(50_000 + i)) for i in range(1, REMINDERS + 1)]
    before = received(telegram, twilio, chats)
    assert fired_at_kill < REMINDERS, "the kill came after the sweep: nothing was tried"
    assert fired_at_kill % SWEEP_BATCH == 0  # batches commit whole...
    assert queued_at_kill == fired_at_kill  # ...and the killed one left no message behind

    second = CisonoRun(cisono_env(database.url, telegram=telegram, **env), tmp_path / "2.log")
    await second.start()
    await when_count_reaches(database, fired, REMINDERS, second)
    await settled(database, second)
    assert await second.stop() == 0, second.output()

    async with database.unit_of_work() as uow:
        reminders = (await uow.session.exec(select(Reminder))).all()
        origins = (
            await uow.session.exec(
                select(OutboxMessage.origin).where(col(OutboxMessage.origin).like("reminder:%"))
            )
        ).all()
    assert Counter(r.status for r in reminders) == {"sent": REMINDERS}
    assert all(r.recipients == 1 for r in reminders)
    assert sorted(origins) == sorted(f"reminder:{r.id}" for r in reminders)  # once each
    after = received(telegram, twilio, chats)
    assert set(after.values()) <= {1, 2}, Counter(after.values())
    twice = {chat for chat, count in after.items() if count == 2}
    assert twice == {chat for chat in claimed if before[chat]}
    assert per_lane(claimed) <= CLAIM_BATCH  # at most one claim batch per delivery lane
    assert telegram.texts_to(50_001)[0].startswith("⏰ Promemoria: il turno «Turno 1»")
    print(
        f"\nsweep crash: {REMINDERS} reminders, killed after {fired_at_kill} fired, "
        f"{len(claimed)} messages in flight, {len(twice)} resent, 0 reminders twice or lost"
    )
