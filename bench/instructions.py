"""Instructions per update, counted by callgrind: a step against its bare echo, in a
measure that the shared machine's noise does not move.

    .venv/bin/python bench/instructions.py [--updates 400] [--conversations 8]
        [--database sqlite|postgres] [--bots twilio,aiogram,aiogram-webhook]

On this machine the speed of the same code moves by a third between two runs a minute
apart, and updates/s with it (bench/step.py). callgrind counts the instructions a
process executes, the same for the same code and inputs whatever else the machine does:
the bot under test runs under `valgrind --tool=callgrind` with counting off, and it is
switched on (`callgrind_control -i on`) only for the measured updates, after a warm-up.
The load and the fake platforms run in this process, uncounted, as in bench/step.py.

What it leaves out: time in the kernel (sockets, SQLite's writes), waiting, and the
database server's own work, which on PostgreSQL runs in other processes; and under
valgrind the bot runs about fifty times slower, so more replies wait to be claimed
together than at full speed (a step's delivery then costs a little less per update).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from _common import (
    PYTHON,
    ROOT,
    cisono_env,
    free_port,
    fresh_database,
    stop,
    table,
    telegram_env,
    twilio_env,
    wait_healthy,
)
from step import Chats, telegram_chats, wait_listening, whatsapp_chats

from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio

WAIT = 600.0  # seconds: everything is slow under valgrind


async def count(
    label: str,
    command: list[str],
    env: dict[str, str],
    chats: Chats,
    args: argparse.Namespace,
    port: int | None,
    cisono: bool,
) -> tuple[str, float]:
    """Instructions per update of `command` (a bot) under callgrind."""
    out = Path(tempfile.mkdtemp(prefix="cisono-callgrind-")) / "callgrind.out"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    process = await asyncio.create_subprocess_exec(
        *valgrind,
        f"--callgrind-out-file={out}",
        *command,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    people = range(args.conversations)
    text = "aiuto" if cisono else "ciao"

    async def say(n: int, words: str) -> None:
        wanted = chats.count(n) + 1
        await chats.send(n, words)
        await asyncio.wait_for(chats.reach(n, wanted), WAIT)

    try:
        if cisono:  # healthy: the webhook set too, when on webhooks
            await wait_healthy(process, port or 0, within=WAIT)
        elif port is not None:
            await wait_listening(port, within=WAIT)
        await asyncio.gather(*(say(n, "ciao") for n in people))  # a sign-up starts
        for _ in range(3):  # warm-up: every path of a step taken before counting
            await asyncio.gather(*(say(n, text) for n in people))
        _callgrind(process.pid, on=True)
        started = time.perf_counter()

        async def conversation(n: int) -> None:
            for _ in range(args.updates // len(people)):
                await say(n, text)

        await asyncio.gather(*(conversation(n) for n in people))
        _callgrind(process.pid, on=False)
        elapsed = time.perf_counter() - started
    finally:
        await stop(process)
    updates = args.updates // len(people) * len(people)
    total = _total(out)
    print(
        f"{label:36} {total / updates / 1e6:6.2f} M instructions each"
        f"  ({updates} updates in {elapsed:.0f} s under valgrind)",
        flush=True,
    )
    return label, total / updates


def _callgrind(pid: int, on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(pid)],
        check=True,
        capture_output=True,
    )


def _total(out: Path) -> int:
    """The instructions counted, from callgrind's output file(s) of the process."""
    total = 0
    for part in out.parent.glob(out.name + "*"):
        found = re.search(r"^totals: (\d+)", part.read_text(), re.MULTILINE)
        total += int(found.group(1)) if found else 0
    return total


async def run(bot: str, args: argparse.Namespace, rows: list[tuple[str, float]]) -> None:
    if bot == "twilio":
        fake = FakeTwilio()
        await fake.start()
        port = free_port()
        command = [PYTHON, "bench/bare_echo_bot.py", "twilio", str(port)]
        env = os.environ | twilio_env(fake)
        chats = whatsapp_chats(fake, [port])
        rows.append(await count("bare twilio echo", command, env, chats, args, port, False))
        await fake.stop()
        fake = FakeTwilio()
        await fake.start()
        port = free_port()
        async with fresh_database(args.database) as url:
            env = _cisono(url, port, twilio_env(fake))
            chats = whatsapp_chats(fake, [port])
            label = "cisono whatsapp step"
            rows.append(await count(label, _RUN, env, chats, args, port, True))
        await fake.stop()
        return
    webhook = bot.endswith("-webhook")
    fake = FakeTelegram()
    await fake.start()
    port = free_port() if webhook else None
    command = [PYTHON, "bench/bare_echo_bot.py", bot] + ([str(port)] if port else [])
    env = os.environ | {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.url}
    chats = telegram_chats(fake, [port] if port else [])
    rows.append(await count(f"bare {bot} echo", command, env, chats, args, port, False))
    await fake.stop()
    fake = FakeTelegram()
    await fake.start()
    port = free_port()
    async with fresh_database(args.database) as url:
        env = _cisono(url, port, telegram_env(fake, port if webhook else None))
        chats = telegram_chats(fake, [port] if webhook else [])
        label = f"cisono aiogram step, {'webhook' if webhook else 'polling'}"
        rows.append(await count(label, _RUN, env, chats, args, port, True))
    await fake.stop()


_RUN = [PYTHON, "-m", "bot.cli", "run"]


def _cisono(url: str, port: int, platform: dict[str, str]) -> dict[str, str]:
    return cisono_env(
        url,
        port,
        **platform,
        TELEGRAM_DRIVER="aiogram",
        TELEGRAM_RATE_LIMIT=100000,
        TELEGRAM_CHAT_RATE_LIMIT=100000,
        TWILIO_WHATSAPP_RATE=100000,
        CISONO_SWEEP_SECONDS=3600,  # no reminder sweep inside the count
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--conversations", type=int, default=8)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--bots", default="twilio,aiogram,aiogram-webhook")
    args = parser.parse_args()
    rows: list[tuple[str, float]] = []
    for bot in args.bots.split(","):
        await run(bot, args, rows)
    setup = f"{args.database}, {args.conversations} conversations in flight"
    print()
    print(
        table(
            [f"bot ({setup})", "M instructions each"],
            ((label, f"{each / 1e6:.2f}") for label, each in rows),
        )
    )
    print()
    echoes = {label.removeprefix("bare ").removesuffix(" echo"): each for label, each in rows}
    for label, each in rows:
        if label.startswith("cisono"):
            echo = "twilio" if "whatsapp" in label else "aiogram"
            echo += "-webhook" if "webhook" in label else ""
            print(f"{label}: {echoes[echo] / each:.0%} of the bare {echo} echo's instructions")


if __name__ == "__main__":
    asyncio.run(main())
