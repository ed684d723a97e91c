"""Start-up time and memory of `cisono run`, with an empty database and with 100,000
people (each with a Telegram account and a role), on SQLite and on PostgreSQL.

`cisono run` polls the fake Bot API (in this process). Start-up runs from the process
being started until GET /healthz answers 200; RSS is taken then and again after some
idle seconds (sweeps every second meanwhile). Each configuration is started a few times;
the table shows the median start-up, and the memory of the last start.

    .venv/bin/python bench/footprint.py [--people 100000] [--starts 3] [--idle 10]
        [--databases sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from _common import (
    TimedTelegram,
    bulk_insert,
    cisono_env,
    free_port,
    fresh_database,
    memory_mib,
    start_cisono,
    stop,
    table,
    telegram_env,
    wait_healthy,
)

from flows.config import SystemClock
from storage.tables import ChannelAccount, Person, PersonRole
from storage.unit_of_work import Database

ROLES = ("volunteer", "family", "member")


async def people(url: str, count: int) -> float:
    """`count` people, each with a Telegram account and a role; seconds it took."""
    started = time.monotonic()
    now = SystemClock().now()
    ids = range(1, count + 1)
    database = Database(url)
    await bulk_insert(
        database,
        Person,
        [
            Person(id=i, name=f"Persona {i}", phone=f"+39333{i:07d}", locale="it", consent_at=now)
            for i in ids
        ],
    )
    accounts = [
        ChannelAccount(id=i, person_id=i, channel="telegram", external_id=str(10_000_000 + i))
        for i in ids
    ]
    await bulk_insert(database, ChannelAccount, accounts)
    roles = [PersonRole(id=i, person_id=i, role=ROLES[i % len(ROLES)]) for i in ids]
    await bulk_insert(database, PersonRole, roles)
    await database.dispose()
    return time.monotonic() - started


async def measure(url: str, args: argparse.Namespace, fake: TimedTelegram) -> list[float]:
    """Median start-up seconds; RSS when healthy, RSS and peak after the idle time (MiB)."""
    startups, memory = [], (0.0, 0.0, 0.0)
    for n in range(args.starts):
        port = free_port()
        env = cisono_env(url, port, CISONO_SWEEP_SECONDS=1) | telegram_env(fake)
        started = time.monotonic()
        process = await start_cisono(env, f"footprint-{n}")
        try:
            startups.append(await wait_healthy(process, port) - started)
            healthy, _ = memory_mib(process.pid)
            if n == args.starts - 1:
                await asyncio.sleep(args.idle)
                memory = (healthy, *memory_mib(process.pid))
        finally:
            await stop(process)
    return [statistics.median(startups), *memory]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--starts", type=int, default=3, help="starts per configuration")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds before the 2nd RSS")
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parser.parse_args()

    fake = TimedTelegram()
    await fake.start()
    rows = []
    try:
        for kind in args.databases.split(","):
            for count in (0, args.people):
                async with fresh_database(kind) as url:
                    inserted = await people(url, count) if count else 0.0
                    startup, healthy, idle, peak = await measure(url, args, fake)
                rows.append(
                    [
                        kind,
                        f"{count:,}",
                        f"{inserted:.1f}",
                        f"{startup:.2f}",
                        f"{healthy:.0f}",
                        f"{idle:.0f}",
                        f"{peak:.0f}",
                    ]
                )
                print(f"{kind} {count} done", flush=True)
    finally:
        await fake.stop()
    print(f"\n`cisono run`, Telegram polling, median of {args.starts} starts\n")
    headers = ["database", "people", "bulk insert s", "start-up s (to /healthz 200)"]
    headers += ["RSS MiB at 200", f"RSS MiB after {args.idle:g} s idle", "peak RSS MiB"]
    print(table(headers, rows))


if __name__ == "__main__":
    asyncio.run(main())
