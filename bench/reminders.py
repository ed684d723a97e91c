"""N shift reminders due within a minute, fired by one and then by two `cisono run`
sharing one PostgreSQL database.

Each volunteer (a Telegram account) is on a shift of their own three hours ahead, with
one pending shift reminder due at a random moment of the next minute: the real sweep
and the real shift-reminder handler fire them. The processes run in webhook mode (only
one process may long-poll a bot) and sweep every second, quiet hours off. The fake Bot
API runs in this process and notes when each message arrives. Prints, per number of
processes, how late the reminders fired (their row's fired_at minus due_at) and reached
the fake, and how many were sent twice or never.

    .venv/bin/python bench/reminders.py [--reminders 10000] [--processes 1,2]
        [--telegram-rate 300] [--window 60]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
from datetime import timedelta

from _common import (
    TimedTelegram,
    bulk_insert,
    cisono_env,
    free_port,
    fresh_database,
    percentile,
    start_cisono,
    stop,
    table,
    telegram_env,
    wait_healthy,
)
from sqlmodel import select

from flows.config import SystemClock
from storage.tables import ChannelAccount, Person, Reminder, Shift, ShiftAssignment
from storage.unit_of_work import Database

FIRST_CHAT = 30_000
HOUR = timedelta(hours=1)


async def volunteers_on_shifts(database: Database, count: int) -> None:
    """Volunteer n (a Telegram chat) confirmed on shift n, which starts in three hours."""
    now = SystemClock().now()
    ids = range(1, count + 1)
    starts = now + timedelta(hours=3)
    people = [Person(id=i, name=f"Volontario {i}", locale="it", consent_at=now) for i in ids]
    accounts = [
        ChannelAccount(id=i, person_id=i, channel="telegram", external_id=str(FIRST_CHAT + i))
        for i in ids
    ]
    shifts = [
        Shift(id=i, title=f"Turno {i}", zone="Bologna", starts_at=starts, ends_at=starts + HOUR)
        for i in ids
    ]
    team = [ShiftAssignment(id=i, shift_id=i, person_id=i) for i in ids]
    await bulk_insert(database, Person, people)
    await bulk_insert(database, ChannelAccount, accounts)
    await bulk_insert(database, Shift, shifts)
    await bulk_insert(database, ShiftAssignment, team)


async def plan(database: Database, count: int, window: float) -> None:
    """Shift n's "2h" reminder, due at a random moment of the next `window` seconds."""
    now = SystemClock().now() + timedelta(seconds=1)
    due = [now + timedelta(seconds=random.uniform(0, window)) for _ in range(count)]
    reminders = [
        Reminder(id=i, kind="shift", subject=f"shift:{i}", label="2h", due_at=when)
        for i, when in zip(range(1, count + 1), due, strict=True)
    ]
    await bulk_insert(database, Reminder, reminders)


async def run(args: argparse.Namespace, processes: int) -> list[object]:
    telegram = TimedTelegram()
    await telegram.start()
    try:
        async with fresh_database("postgres") as url:
            database = Database(url)
            await volunteers_on_shifts(database, args.reminders)
            ports = [free_port() for _ in range(processes)]
            started = []
            try:
                for n, port in enumerate(ports):
                    env = cisono_env(
                        url,
                        port,
                        CISONO_SWEEP_SECONDS=1,
                        CISONO_QUIET_HOURS="off",
                        TELEGRAM_RATE_LIMIT=args.telegram_rate,
                    )
                    label = f"reminders-{processes}-{n}"
                    started.append(await start_cisono(env | telegram_env(telegram, port), label))
                for process, port in zip(started, ports, strict=True):
                    await wait_healthy(process, port)
                await plan(database, args.reminders, args.window)
                chats = [FIRST_CHAT + i for i in range(1, args.reminders + 1)]
                with contextlib.suppress(AssertionError):  # a loss: counted below
                    everyone = lambda: all(telegram.arrivals[c] for c in chats)  # noqa: E731
                    await telegram.wait_for(everyone, timeout=args.window + args.timeout)
                await asyncio.sleep(2)  # anything fired twice would be sent by now
            finally:
                for process in started:
                    await stop(process)
            async with database.unit_of_work() as uow:
                reminders = (await uow.session.exec(select(Reminder))).all()
            await database.dispose()
    finally:
        await telegram.stop()

    fired = [r for r in reminders if r.status == "sent" and r.fired_at is not None]
    fired_late = [(r.fired_at - r.due_at).total_seconds() for r in fired if r.fired_at]
    arrived_late = [
        telegram.arrivals[FIRST_CHAT + (r.id or 0)][0] - r.due_at.timestamp()
        for r in reminders
        if telegram.arrivals[FIRST_CHAT + (r.id or 0)]
    ]
    twice = sum(len(telegram.arrivals[c]) > 1 for c in chats)
    never = sum(not telegram.arrivals[c] for c in chats)
    not_fired = len(reminders) - len(fired)

    def spread(values: list[float]) -> str:
        return " / ".join(f"{percentile(values, share):.2f}" for share in (0.5, 0.99, 1.0))

    losses = f"{never}" + (f" ({not_fired} not fired)" if not_fired else "")
    return [processes, len(reminders), spread(fired_late), spread(arrived_late), twice, losses]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--processes", default="1,2", help="comma-separated, one run each")
    parser.add_argument("--window", type=float, default=60.0, help="due within these seconds")
    parser.add_argument("--telegram-rate", type=float, default=300.0, help="for all processes")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds after the window")
    args = parser.parse_args()

    rows = []
    for processes in map(int, args.processes.split(",")):
        rows.append(await run(args, processes))
        print(f"{processes} process(es) done", flush=True)
    print(
        f"\n{args.reminders} shift reminders due within {args.window:g} s, PostgreSQL, "
        f"sweep every 1 s, Telegram limit {args.telegram_rate:g}/s shared by the processes\n"
    )
    headers = ["`cisono run` processes", "reminders", "fired late s p50 / p99 / max"]
    headers += ["reached the Bot API late s p50 / p99 / max", "duplicates", "losses"]
    print(table(headers, rows))


if __name__ == "__main__":
    asyncio.run(main())
