"""What the benchmarks share: databases made and dropped, bulk rows, `cisono run` as a
subprocess, fake platforms that note when each message arrived, percentiles, tables."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from aiohttp import ClientSession, ClientTimeout  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from storage.migrate import upgrade  # noqa: E402
from storage.unit_of_work import Database  # noqa: E402
from tests.fake_telegram import FakeTelegram  # noqa: E402
from tests.fake_twilio import FakeTwilio  # noqa: E402
from tests.platforms import WEBHOOK_SECRET, WHATSAPP_FROM  # noqa: E402
from tests.platforms import free_port as free_port  # noqa: E402
from tests.processes import add_volunteers as add_volunteers  # noqa: E402
from tests.processes import bulk_insert as bulk_insert  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
POSTGRES = os.environ.get(
    "CISONO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
LOGS = Path(tempfile.mkdtemp(prefix="cisono-bench-"))  # the processes' output, for post-mortems


def _admin_dsn() -> str:
    return make_url(POSTGRES).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_database(kind: str) -> AsyncIterator[str]:
    """A migrated, empty database (a SQLite file, or a PostgreSQL database of its own,
    dropped at the end); yields its URL."""
    folder = tempfile.mkdtemp(prefix="cisono-bench-db-")
    if kind == "sqlite":
        url = f"sqlite:///{folder}/bench.db"
        name = None
    else:
        name = f"cisono_bench_{uuid.uuid4().hex[:8]}"
        connection = await asyncpg.connect(_admin_dsn())
        await connection.execute(f'CREATE DATABASE "{name}"')
        await connection.close()
        url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    await upgrade(database.engine)
    await database.dispose()
    try:
        yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if name is not None:
            connection = await asyncpg.connect(_admin_dsn())
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.close()


def cisono_env(url: str, port: int, **extra: object) -> dict[str, str]:
    """The environment of a `cisono run`: this database, this port, quiet logs."""
    env = dict(os.environ, CISONO_DATABASE_URL=url, CISONO_HTTP_PORT=str(port))
    env |= {"CISONO_PUBLIC_URL": f"http://127.0.0.1:{port}", "PYTHONUNBUFFERED": "1"}
    return env | {key: str(value) for key, value in extra.items()}


def telegram_env(fake: FakeTelegram, port: int | None = None) -> dict[str, str]:
    """Telegram through the fake; with `port`, in webhook mode (no polling) on that port."""
    env = {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.url}
    if port is not None:
        env["TELEGRAM_WEBHOOK_URL"] = f"http://127.0.0.1:{port}/telegram/webhook"
        env["TELEGRAM_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    return env


def twilio_env(fake: FakeTwilio) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "TWILIO_API_URL": fake.url,
    }


async def start_cisono(env: dict[str, str], label: str) -> asyncio.subprocess.Process:
    """`cisono run` in its own process; its output goes to a log file under LOGS."""
    command = ["-m", "bot.cli", "run"]
    log = (LOGS / f"{label}.log").open("ab")
    return await asyncio.create_subprocess_exec(
        PYTHON, *command, env=env, cwd=ROOT, stdout=log, stderr=log
    )


async def wait_healthy(
    process: asyncio.subprocess.Process,
    port: int,
    within: float = 60.0,
) -> float:
    """Poll GET /healthz every 10 ms until it answers 200; the monotonic time it did."""
    deadline = time.monotonic() + within
    async with ClientSession(timeout=ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"cisono run exited ({process.returncode}); see {LOGS}")
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return time.monotonic()
            except (OSError, TimeoutError):
                pass
            await asyncio.sleep(0.01)
    raise RuntimeError(f"/healthz not 200 within {within}s; see {LOGS}")


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it does not stop within 10 s."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


def memory_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process, in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class TimedTelegram(FakeTelegram):
    """The fake Bot API, noting when each sendMessage reached each chat (epoch seconds)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[int, list[float]] = defaultdict(list)

    async def _answer(self, method: str, params: dict[str, Any]) -> Any:
        result = await super()._answer(method, params)
        if method == "sendMessage":
            self.arrivals[params["chat_id"]].append(time.time())
        return result


class TimedTwilio(FakeTwilio):
    """The fake Twilio, noting when each accepted message reached each number."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[float]] = defaultdict(list)

    async def _create(self, request: Any) -> Any:
        before = len(self.messages)
        response = await super()._create(request)
        if len(self.messages) > before:
            self.arrivals[self.messages[-1]["to"].removeprefix("whatsapp:")].append(time.time())
        return response


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which `share` of the values lie (nearest rank); nan if none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
