"""A notice to N people on Telegram and WhatsApp, under the platforms' rate limits, while
a few other people chat with the bot.

The fake Bot API and the fake Twilio (both over HTTP on 127.0.0.1) and the chatting
people run in this process; `cisono run` is a subprocess, polling Telegram. The
recipients (volunteers; WhatsApp ones wrote an hour ago, so the window is open) are
inserted in bulk; the notice is queued as `cisono broadcast send` queues it (fan_out, one
transaction) while `cisono run` is already running. Prints, per platform, the rate
reached as a share of the allowed one, the time from the fan-out's commit to the last
message, duplicates and losses; and the latency of the chatting people's replies.

    .venv/bin/python bench/broadcast.py [--recipients 10000] [--database sqlite|postgres]
        [--telegram-rate 300] [--whatsapp-rate 80] [--chatters 8]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field

from _common import (
    TimedTelegram,
    TimedTwilio,
    add_volunteers,
    cisono_env,
    free_port,
    fresh_database,
    memory_mib,
    percentile,
    start_cisono,
    stop,
    table,
    telegram_env,
    twilio_env,
    wait_healthy,
)

from bot.settings import Settings
from flows.broadcasting import fan_out
from flows.config import SystemClock
from storage.tables import Broadcast
from storage.unit_of_work import Database

TEXT = "Sabato la sede resta aperta fino alle 19."
FIRST_CHAT, FIRST_CHATTER = 20_000, 900_000


@dataclass
class Chat:
    """The chatting people's replies: (when the message was sent, seconds to the answer)."""

    samples: list[tuple[float, float]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def recipients(database: Database, chats: list[int], numbers: list[str]) -> None:
    """Volunteers, one account each; the WhatsApp ones wrote an hour ago."""
    addresses = [("telegram", str(c)) for c in chats] + [("whatsapp", n) for n in numbers]
    await add_volunteers(database, addresses)


async def chatter(fake: TimedTelegram, chat_id: int, chat: Chat, think: float) -> None:
    """Sign up, then ask for help at the language question (one reply) again and again."""
    await fake.user_sends_text(chat_id, "ciao")
    await fake.wait_for(lambda: len(fake.arrivals[chat_id]) >= 1, timeout=60)
    while not chat.stop.is_set():
        wanted = len(fake.arrivals[chat_id]) + 1
        sent = time.time()
        await fake.user_sends_text(chat_id, "aiuto")
        await fake.wait_for(lambda w=wanted: len(fake.arrivals[chat_id]) >= w, timeout=60)
        chat.samples.append((sent, fake.arrivals[chat_id][wanted - 1] - sent))
        await asyncio.sleep(think)


def platform_row(
    name: str, arrivals: dict[str, list[float]], allowed: float, committed: float
) -> list[object]:
    firsts = [times[0] for times in arrivals.values() if times]
    lasts = [times[-1] for times in arrivals.values() if times]
    reached = len(firsts)
    twice = sum(len(times) > 1 for times in arrivals.values())
    if reached < 2:
        return [name, len(arrivals), allowed, "-", "-", "-", twice, len(arrivals) - reached]
    rate = reached / (max(lasts) - min(firsts))
    return [
        name,
        len(arrivals),
        f"{allowed:g}",
        f"{rate:.0f}",
        f"{rate / allowed:.0%}",
        f"{max(lasts) - committed:.1f}",
        twice,
        len(arrivals) - reached,
    ]


def latency_row(label: str, latencies: list[float]) -> list[object]:
    ms = [1000 * latency for latency in latencies]
    figures = [f"{percentile(ms, share):.0f}" for share in (0.5, 0.99, 1.0)]
    return [label, len(ms), *figures]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--whatsapp-share", type=float, default=0.5)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--telegram-rate", type=float, default=300.0)
    parser.add_argument("--whatsapp-rate", type=float, default=80.0)
    parser.add_argument("--chatters", type=int, default=8)
    parser.add_argument(
        "--think", type=float, default=2.5, help="seconds between a user's messages"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this")
    args = parser.parse_args()

    on_whatsapp = round(args.recipients * args.whatsapp_share)
    chats = [FIRST_CHAT + n for n in range(args.recipients - on_whatsapp)]
    numbers = [f"+39333{n:07d}" for n in range(on_whatsapp)]
    telegram, twilio = TimedTelegram(), TimedTwilio()
    await telegram.start()
    await twilio.start()
    try:
        for number in numbers:
            twilio.open_window(number)
        async with fresh_database(args.database) as url:
            database = Database(url)
            await recipients(database, chats, numbers)
            port = free_port()
            env = cisono_env(
                url,
                port,
                TELEGRAM_RATE_LIMIT=args.telegram_rate,
                TWILIO_WHATSAPP_RATE=args.whatsapp_rate,
                CISONO_QUIET_HOURS="off",  # the figures must not depend on the hour
            )
            process = await start_cisono(
                env | telegram_env(telegram) | twilio_env(twilio), "broadcast"
            )
            chat = Chat()
            try:
                await wait_healthy(process, port)
                people = [FIRST_CHATTER + n for n in range(args.chatters)]
                talking = [
                    asyncio.create_task(chatter(telegram, p, chat, args.think)) for p in people
                ]
                await asyncio.sleep(2)  # they are signed up and chatting

                started = time.time()
                settings = Settings(CISONO_DATABASE_URL=url).flow_settings()
                async with database.unit_of_work() as uow:
                    notice = await uow.broadcasts.add(
                        Broadcast(author="cli", audience="volunteers", texts={"it": TEXT})
                    )
                    queued = await fan_out(uow, notice, settings, SystemClock().now())
                committed = time.time()
                assert queued == args.recipients, queued

                deadline = time.monotonic() + args.timeout
                tg = {str(c): telegram.arrivals[c] for c in chats}
                wa = {n: twilio.arrivals[n] for n in numbers}
                while time.monotonic() < deadline:
                    if all(tg.values()) and all(wa.values()):
                        break
                    await asyncio.sleep(0.2)
                finished = time.time()
                await asyncio.sleep(2)  # anything sent twice would be sent by now
                _, peak = memory_mib(process.pid)
                chat.stop.set()
                await asyncio.gather(*talking)
            finally:
                await stop(process)
                await database.dispose()
    finally:
        await telegram.stop()
        await twilio.stop()

    during_fan_out = [lat for sent, lat in chat.samples if started <= sent < committed]
    during_delivery = [lat for sent, lat in chat.samples if committed <= sent < finished]
    print(
        f"\n{args.recipients} recipients, {args.database}; fan-out (one transaction) "
        f"{committed - started:.1f} s; `cisono run` peak RSS {peak:.0f} MiB\n"
    )
    headers = ["platform", "recipients", "allowed /s", "reached /s", "share of allowed"]
    headers += ["last message after s", "duplicates", "losses"]
    print(
        table(
            headers,
            [
                platform_row("Telegram", tg, args.telegram_rate, committed),
                platform_row("WhatsApp", wa, args.whatsapp_rate, committed),
            ],
        )
    )
    print()
    print(
        table(
            [f"replies to {args.chatters} Telegram users", "replies", "p50 ms", "p99", "max"],
            [
                latency_row("while the fan-out transaction runs", during_fan_out),
                latency_row("while the broadcast is delivered", during_delivery),
            ],
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
