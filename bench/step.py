"""Full conversation steps against bare echo bots: Telegram (both drivers) and WhatsApp.

The fake platforms and the load live in this process; the bots under test run in their
own processes. C conversations stay in flight: each person sends a message, waits for
the whole answer, and sends the next. A Ci sono step is "aiuto" at the language
question: the person and the state are loaded, the state saved, the replies written to
the outbox and sent by the delivery worker. Prints updates/s, the CPU time the bot's
processes spent per update and how long they waited for a core (and PostgreSQL's
processes' CPU, and this process's: the cores they all share), the latency from the
message being offered to the last reply reaching the fake, and the bots' peak RSS.

    .venv/bin/python bench/step.py [--updates 3000] [--conversations 64]
        [--database sqlite|postgres] [--platforms telegram,whatsapp]
        [--drivers aiogram,ptb] [--processes 1,2] [--rounds 3] [--interleave 5]

Telegram: the bare echo and `cisono run` poll getUpdates; with --processes, `cisono run`
is also measured on webhooks, one chat's updates always to the same process (a load
balancer in front of N processes). WhatsApp: signed Twilio webhooks to N processes,
the bare echo being a Starlette form endpoint that sends with Twilio's client; it is
measured twice, echoing the person's "ciao", and after the steps answering every message
with the step's own reply ("twilio-reply"), which is what a bot that sends what the step
sends, and does nothing else, can reach. With
--rounds N everything is measured N times over, each echo again right before its steps,
and the table gives the medians, the shares one per round. With --interleave K a
round's bots are all started first and then measured in turns, a K-th of the updates
each, the echo, the step and the echo again, K times: the machine's speed, which moves
within a minute, then changes under every bot alike, not under one of them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from _common import (
    PYTHON,
    ROOT,
    cisono_env,
    free_port,
    fresh_database,
    memory_mib,
    percentile,
    stop,
    table,
    telegram_env,
    twilio_env,
    wait_healthy,
)

from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio

WAIT = 60.0  # seconds a reply may take before the run is called off


class Fake(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


F = TypeVar("F", bound=Fake)


@dataclass
class Chats:
    """How the load talks to one platform: send as person n, count what n received."""

    send: Callable[[int, str], Awaitable[Any]]
    count: Callable[[int], int]
    reach: Callable[[int, int], Awaitable[None]]  # until chat n has that many messages


@dataclass
class Bot:
    label: str
    cisono: bool
    commands: list[list[str]]
    envs: list[dict[str, str]]
    ports: list[int] = field(default_factory=list)  # to wait for, and webhooks to share


def telegram_chats(fake: FakeTelegram, ports: list[int]) -> Chats:
    chat = 10_000
    if ports:  # webhooks: a load balancer keeps each chat on one process
        urls = [f"http://127.0.0.1:{port}/telegram/webhook" for port in ports]
        fake.webhook_for = lambda update: urls[_chat_of(update) % len(urls)]
    return Chats(
        send=lambda n, text: fake.user_sends_text(chat + n, text),
        count=lambda n: fake.count_to(chat + n),
        reach=lambda n, count: fake.until_count(chat + n, count),
    )


def _chat_of(update: dict[str, Any]) -> int:
    return int(update["message"]["chat"]["id"])


WHATSAPP_NUMBER = "whatsapp:+39333{:07d}"  # person n's


def whatsapp_chats(fake: FakeTwilio, ports: list[int]) -> Chats:
    number = WHATSAPP_NUMBER.format

    async def send(n: int, text: str) -> None:
        url = f"http://127.0.0.1:{ports[n % len(ports)]}/twilio/inbound"
        status, _ = await fake.send_inbound(url, number(n), text)
        if status != 200:
            raise RuntimeError(f"webhook answered {status}")

    return Chats(
        send=send,
        count=lambda n: fake.count_to(number(n)),
        reach=lambda n, count: fake.until_count(number(n), count),
    )


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def queued_seconds(pid: int) -> float:
    """Time a process has spent runnable but waiting for a core (the kernel's schedstat)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def database_cpu_seconds() -> float:
    """CPU time PostgreSQL's processes (its server and the backends serving the bots)
    have used so far; they share the machine's cores with the bots and the load."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if (stat.parent / "comm").read_text().strip() == "postgres":
                total += cpu_seconds(int(stat.parent.name))
        except (OSError, ValueError):
            pass  # gone meanwhile
    return total


def load_cpu_seconds() -> float:
    """CPU time of this process: the load, and the fake platforms answering the bots."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def wait_listening(port: int, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def until(chats: Chats, n: int, count: int) -> None:
    """Until chat n has `count` messages: woken by the fake, not polling it (polling
    every few milliseconds took CPU from the bot being measured)."""
    try:
        async with asyncio.timeout(WAIT):
            await chats.reach(n, count)
    except TimeoutError:
        raise RuntimeError("no reply in time") from None


@dataclass
class Running:
    """A bot started, warmed up, and measured in one segment or in several."""

    bot: Bot
    chats: Chats
    processes: list[asyncio.subprocess.Process]
    per_step: int = 0  # messages one update is answered with
    elapsed: float = 0.0
    cpu: float = 0.0
    queued: float = 0.0
    database_cpu: float = 0.0
    load_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)


async def launch(bot: Bot, chats: Chats, args: argparse.Namespace) -> Running:
    processes = [
        await asyncio.create_subprocess_exec(
            *command,
            env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for command, env in zip(bot.commands, bot.envs, strict=True)
    ]
    running = Running(bot, chats, processes)
    try:
        for process, port in zip(processes, bot.ports, strict=False):
            await (wait_healthy(process, port) if bot.cisono else wait_listening(port))
        # warm-up, not measured: everyone says hello (a Ci sono sign-up starts)
        people = range(args.conversations)
        await asyncio.gather(*(chats.send(n, "ciao") for n in people))
        await asyncio.gather(*(until(chats, n, 1) for n in people))
        before = chats.count(0)  # how many messages one step answers with
        await chats.send(0, _text(bot))
        await until(chats, 0, before + 1)
        await asyncio.sleep(0.5)
        running.per_step = chats.count(0) - before
    except BaseException:
        await halt(running)
        raise
    return running


def _text(bot: Bot) -> str:
    return "aiuto" if bot.cisono else "ciao"


async def segment(running: Running, each: int, conversations: int) -> None:
    """`each` updates from each conversation, added to the bot's figures."""
    chats, processes, text = running.chats, running.processes, _text(running.bot)

    async def conversation(n: int) -> None:
        for _ in range(each):
            wanted = chats.count(n) + running.per_step
            started = time.perf_counter()
            await chats.send(n, text)
            await until(chats, n, wanted)
            running.latencies.append(time.perf_counter() - started)

    cpu_before = sum(cpu_seconds(process.pid) for process in processes)
    queued_before = sum(queued_seconds(process.pid) for process in processes)
    database_before, load_before = database_cpu_seconds(), load_cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(conversation(n) for n in range(conversations)))
    running.elapsed += time.perf_counter() - started
    running.cpu += sum(cpu_seconds(process.pid) for process in processes) - cpu_before
    running.queued += sum(queued_seconds(process.pid) for process in processes) - queued_before
    running.database_cpu += database_cpu_seconds() - database_before
    running.load_cpu += load_cpu_seconds() - load_before


def figures(running: Running) -> dict[str, float]:
    updates = len(running.latencies)
    busy = running.cpu + running.database_cpu + running.load_cpu
    return {
        "updates_per_s": updates / running.elapsed,
        "messages_per_step": running.per_step,
        "cpu_ms": running.cpu * 1000 / updates,
        "queued_ms": running.queued * 1000 / updates,
        "database_cpu_ms": running.database_cpu * 1000 / updates,
        "load_cpu_ms": running.load_cpu * 1000 / updates,
        "cores_busy": busy / running.elapsed,
        "p50_ms": statistics.median(running.latencies) * 1000,
        "p99_ms": percentile(running.latencies, 0.99) * 1000,
        "rss_mib": max(memory_mib(process.pid)[1] for process in running.processes),
    }


async def halt(running: Running) -> None:
    for process in running.processes:
        await stop(process)


class Round:
    """One round's bots. Measured one after the other (each started, measured and
    stopped in turn), or, with --interleave K, all started first and then measured in
    turns of 1/K of the updates each, so that a change in the machine's speed falls on
    every bot alike. The round's fakes and databases live until it ends."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = AsyncExitStack()
        self.rows: list[Any] = []
        self.started: list[Running] = []

    async def __aenter__(self) -> Round:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is None and self.started:
                await self._take_turns()
        finally:
            for running in self.started:
                await halt(running)
            await self.stack.aclose()

    async def fake(self, kind: type[F]) -> F:
        """A fake platform of its own for a bot, stopped when the round ends."""
        fake = kind()
        await fake.start()
        self.stack.push_async_callback(fake.stop)
        return fake

    async def database(self) -> str:
        return await self.stack.enter_async_context(fresh_database(self.args.database))

    async def measure(self, bot: Bot, chats: Chats) -> None:
        """Measure a bot now, or start it for the turns (interleaved)."""
        running = await launch(bot, chats, self.args)
        if self.args.interleave > 1:
            self.started.append(running)
            return
        try:
            await segment(
                running, self.args.updates // self.args.conversations, self.args.conversations
            )
            self._record(running)  # its peak memory read while it runs
        finally:
            await halt(running)

    async def _take_turns(self) -> None:
        turns, conversations = self.args.interleave, self.args.conversations
        each = max(1, self.args.updates // conversations // turns)
        for _ in range(turns):
            for running in self.started:
                await segment(running, each, conversations)
        for running in self.started:
            self._record(running)

    def _record(self, running: Running) -> None:
        result = figures(running)
        label = running.bot.label
        self.rows.append((label, result))
        print(
            f"{label:34} {result['updates_per_s']:7.0f} updates/s"
            f"  ({result['messages_per_step']:.0f} messages each, {result['cpu_ms']:.2f} CPU ms,"
            f" {result['queued_ms']:.2f} waiting for a core,"
            f" database {result['database_cpu_ms']:.2f}, load {result['load_cpu_ms']:.2f},"
            f" {result['cores_busy']:.2f} cores busy)"
            f"  p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:7.1f} ms"
            f"  peak RSS {result['rss_mib']:4.0f} MiB",
            flush=True,
        )


def cisono(label: str, url: str, envs: list[dict[str, str]], ports: list[int]) -> Bot:
    command = [PYTHON, "-m", "bot.cli", "run"]
    full = [
        cisono_env(url, port, **env, TELEGRAM_RATE_LIMIT=100000, TELEGRAM_CHAT_RATE_LIMIT=100000)
        | {"TWILIO_WHATSAPP_RATE": "100000"}  # the fakes have no limits: measure the bot
        for env, port in zip(envs, ports, strict=True)
    ]
    return Bot(label, True, [command] * len(ports), full, ports)


async def run_telegram(driver: str, round_: Round) -> None:
    args = round_.args
    # python-telegram-bot's echo also over the transport Ci sono's driver uses
    for echo in [driver] + (["ptb-aiohttp"] if driver == "ptb" else []):
        bare = await round_.fake(FakeTelegram)
        env = {"TELEGRAM_BOT_TOKEN": bare.token, "TELEGRAM_API_URL": bare.url}
        command = [[PYTHON, "bench/bare_echo_bot.py", echo]]
        await round_.measure(
            Bot(f"bare {echo} echo", False, command, [env]), telegram_chats(bare, [])
        )
    if driver == "aiogram" and args.process_counts:
        # the same driver's echo on its own webhook server, for the webhook rows
        bare = await round_.fake(FakeTelegram)
        port = free_port()
        env = {"TELEGRAM_BOT_TOKEN": bare.token, "TELEGRAM_API_URL": bare.url}
        command = [[PYTHON, "bench/bare_echo_bot.py", "aiogram-webhook", str(port)]]
        echo_bot = Bot("bare aiogram-webhook echo", False, command, [env], [port])
        await round_.measure(echo_bot, telegram_chats(bare, [port]))
    shapes = [("polling", 1)] + [("webhook", n) for n in args.process_counts]
    for mode, count in shapes:
        fake = await round_.fake(FakeTelegram)
        ports = [free_port() for _ in range(count)]
        envs = [
            telegram_env(fake, port if mode == "webhook" else None) | {"TELEGRAM_DRIVER": driver}
            for port in ports
        ]
        label = f"cisono {driver} step, {mode}" + (f" ×{count}" if mode == "webhook" else "")
        bot = cisono(label, await round_.database(), envs, ports)
        await round_.measure(bot, telegram_chats(fake, ports if mode == "webhook" else []))


async def run_whatsapp(round_: Round) -> None:
    await whatsapp_echo("bare twilio echo", {}, round_)
    reply = ""
    for count in round_.args.process_counts or [1]:
        fake = await round_.fake(FakeTwilio)
        ports = [free_port() for _ in range(count)]
        url = await round_.database()
        bot = cisono(f"cisono whatsapp step ×{count}", url, [twilio_env(fake)] * count, ports)
        await round_.measure(bot, whatsapp_chats(fake, ports))
        reply = fake.bodies_to(WHATSAPP_NUMBER.format(0))[-1]  # its answer to "aiuto"
    # the same echo sending what the step sends: "ciao" back is 4 characters, the step's
    # answer (the help, and the question again) about 600 with emoji and guillemets
    await whatsapp_echo("bare twilio-reply echo", {"ECHO_TEXT": reply}, round_)


async def whatsapp_echo(label: str, extra: dict[str, str], round_: Round) -> None:
    fake = await round_.fake(FakeTwilio)
    port = free_port()
    command = [PYTHON, "bench/bare_echo_bot.py", "twilio", str(port)]
    bot = Bot(label, False, [command], [twilio_env(fake) | extra], [port])
    await round_.measure(bot, whatsapp_chats(fake, [port]))


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--conversations", type=int, default=64)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--platforms", default="telegram,whatsapp")
    parser.add_argument("--drivers", default="aiogram,ptb")
    parser.add_argument("--processes", default="", help="e.g. 1,2: cisono on webhooks")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure everything N times; medians shown"
    )
    parser.add_argument(
        "--interleave",
        type=int,
        default=1,
        help="K: start a round's bots together, measure them in K turns each",
    )
    args = parser.parse_args()
    args.process_counts = [int(n) for n in args.processes.split(",") if n]
    if any(n > 1 for n in args.process_counts) and args.database != "postgres":
        parser.error("several processes share a PostgreSQL database: --database postgres")

    rounds: list[list[Any]] = []
    platforms = args.platforms.split(",")
    for _ in range(args.rounds):  # each echo right before its steps, again each round
        async with Round(args) as round_:
            if "telegram" in platforms:
                for driver in args.drivers.split(","):
                    await run_telegram(driver, round_)
            if "whatsapp" in platforms:
                await run_whatsapp(round_)
        rounds.append(round_.rows)
    labels = [label for label, _ in rounds[0]]
    rows = [
        (label, _medians([r for rnd in rounds for lb, r in rnd if lb == label])) for label in labels
    ]

    setup = f"{args.database}, {args.conversations} conversations in flight"
    print()
    headers = [f"bot ({setup})", "updates/s", "messages each", "bot CPU ms each"]
    headers += ["bot waiting for a core, ms each"]
    headers += ["database CPU ms each", "load CPU ms each", "cores busy"]
    headers += ["p50 ms", "p99 ms", "peak RSS MiB"]
    print(
        table(
            headers,
            (
                (
                    label,
                    f"{r['updates_per_s']:.0f}",
                    f"{r['messages_per_step']:.0f}",
                    f"{r['cpu_ms']:.2f}",
                    f"{r['queued_ms']:.2f}",
                    f"{r['database_cpu_ms']:.2f}",
                    f"{r['load_cpu_ms']:.2f}",
                    f"{r['cores_busy']:.2f}",
                    f"{r['p50_ms']:.1f}",
                    f"{r['p99_ms']:.1f}",
                    f"{r['rss_mib']:.0f}",
                )
                for label, r in rows
            ),
        )
    )
    if args.rounds > 1:
        print(f"(medians of {args.rounds} rounds)")
    print()
    for label, echo, shares in _shares(rounds):
        each = f" (rounds: {', '.join(f'{s:.0%}' for s in shares)})" if len(shares) > 1 else ""
        median = statistics.median(shares)
        print(f"{label}: {median:.0%} of the bare {echo} echo's updates/s{each}")


def _medians(results: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def _shares(rounds: list[list[Any]]) -> list[tuple[str, str, list[float]]]:
    """Each step's updates/s over the same platform's echoes, one share per round (each
    echo measured minutes before or after the step, in the same round)."""
    found: dict[tuple[str, str], list[float]] = {}
    for rows in rounds:
        bare = {label.split()[1]: r for label, r in rows if label.startswith("bare")}
        for label, r in rows:
            if not label.startswith("cisono"):
                continue
            kind = "twilio" if "whatsapp" in label else label.split()[1]
            echoes = (kind, f"{kind}-aiohttp", f"{kind}-reply")
            for echo in echoes + ((f"{kind}-webhook",) if "webhook" in label else ()):
                if echo in bare:
                    share = r["updates_per_s"] / bare[echo]["updates_per_s"]
                    found.setdefault((label, echo), []).append(share)
    return [(label, echo, shares) for (label, echo), shares in found.items()]


if __name__ == "__main__":
    asyncio.run(main())
