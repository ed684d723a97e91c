"""Full conversation steps through Telegram, both drivers, against bare echo bots.

The fake Bot API and the load live in this process (one core); the bot under test
is a separate process (the other core): `cisono run` in polling mode, or the bare
echo bot of the same driver. C conversations stay in flight: each person sends a
message, waits for the answer, and sends the next. A Ci sono step is "aiuto" at
the language question: the state is loaded and saved, two replies go through the
outbox. Prints updates/s, latency from the update being offered to the last reply
reaching the fake, and the bot's peak RSS.

    .venv/bin/python bench/telegram_step.py [--updates 3000] [--conversations 64]
        [--database sqlite|postgres] [--drivers aiogram,ptb]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import fresh_database  # noqa: E402

from tests.fake_telegram import FakeTelegram  # noqa: E402

POSTGRES = os.environ.get(
    "CISONO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(
    label: str,
    command: list[str],
    env: dict[str, str],
    args: argparse.Namespace,
    fake: FakeTelegram,
    replies_per_step: int,
    first_text: str,
    text: str,
) -> dict[str, float]:
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    chats = [10_000 + n for n in range(args.conversations)]
    latencies: list[float] = []
    per_chat = args.updates // len(chats)

    async def conversation(chat: int, count: int, message: str, expect: int) -> None:
        for _ in range(count):
            before = fake.count_to(chat)
            started = time.perf_counter()
            await fake.user_sends_text(chat, message)
            wanted = before + expect
            # a counter, not a scan of everything sent: the load must not be the bottleneck
            await fake.wait_for(lambda w=wanted: fake.count_to(chat) >= w, timeout=60)
            latencies.append(time.perf_counter() - started)

    try:
        # warm-up: every person says hello once (sign-up starts), not measured
        first_replies = replies_per_step if label.startswith("bare") else 1
        await asyncio.gather(*(conversation(c, 1, first_text, first_replies) for c in chats))
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(conversation(c, per_chat, text, replies_per_step) for c in chats))
        elapsed = time.perf_counter() - started
        rss = peak_rss_mib(process.pid)
    finally:
        process.terminate()
        await process.wait()
    latencies.sort()
    return {
        "updates_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "rss_mib": rss,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--conversations", type=int, default=64)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--drivers", default="aiogram,ptb")
    args = parser.parse_args()

    python = str(ROOT / ".venv" / "bin" / "python")
    rows = []
    for driver in args.drivers.split(","):
        for label in (f"bare {driver} echo", f"cisono {driver} step"):
            fake = FakeTelegram()
            await fake.start()
            env = dict(os.environ, TELEGRAM_BOT_TOKEN=fake.token, TELEGRAM_API_URL=fake.url)
            if label.startswith("bare"):
                command = [python, "bench/bare_echo_bot.py", driver]
                result = await measure(label, command, env, args, fake, 1, "ciao", "ciao")
            else:
                async with fresh_database(args.database) as url:  # dropped afterwards
                    env |= {
                        "CISONO_DATABASE_URL": url,
                        "CISONO_HTTP_PORT": "0",
                        "TELEGRAM_DRIVER": driver,
                        # the fake has no limits: measure the bot
                        "TELEGRAM_RATE_LIMIT": "100000",
                        "TELEGRAM_CHAT_RATE_LIMIT": "100000",
                    }
                    command = [python, "-m", "bot.cli", "run"]
                    result = await measure(label, command, env, args, fake, 2, "ciao", "aiuto")
            await fake.stop()
            rows.append((label, result))
            print(
                f"{label:22} {result['updates_per_s']:8.0f} updates/s"
                f"  p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:7.1f} ms"
                f"  peak RSS {result['rss_mib']:5.0f} MiB",
                flush=True,
            )
    setup = f"{args.database}, {args.conversations} conversations in flight"
    print(f"\n| bot ({setup}) | updates/s | p50 ms | p99 ms | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for label, r in rows:
        figures = f"{r['updates_per_s']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f}"
        print(f"| {label} | {figures} | {r['rss_mib']:.0f} |")
    by_label = dict(rows)
    for driver in args.drivers.split(","):
        step, bare = by_label[f"cisono {driver} step"], by_label[f"bare {driver} echo"]
        share = step["updates_per_s"] / bare["updates_per_s"]
        print(f"{driver}: a full step reaches {share:.0%} of the bare echo")


if __name__ == "__main__":
    asyncio.run(main())
