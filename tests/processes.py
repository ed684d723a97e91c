"""`cisono run` as a real process (to kill it with SIGKILL), bulk rows for thousands of
recipients, and a private PostgreSQL server that a test may stop and start again."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert, text
from sqlmodel import SQLModel

from flows.config import SystemClock
from storage.tables import ChannelAccount, Person, PersonRole
from storage.unit_of_work import Database
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.platforms import SMS_FROM, WEBHOOK_SECRET, WHATSAPP_FROM, free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def cisono_env(
    database_url: str,
    *,
    telegram: FakeTelegram | None = None,
    twilio: FakeTwilio | None = None,
    **extra: object,
) -> dict[str, str]:
    """The environment of a `cisono run` on a free port: Telegram in webhook mode (a
    killed poller would leave its long poll hanging), quiet hours off."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CISONO_DATABASE_URL=database_url, CISONO_HTTP_PORT=str(port))
    env |= {"CISONO_PUBLIC_URL": public, "CISONO_QUIET_HOURS": "off", "PYTHONUNBUFFERED": "1"}
    if telegram is not None:
        env |= {
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.url,
            "TELEGRAM_WEBHOOK_URL": f"{public}/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        }
    if twilio is not None:
        env |= {
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
            "TWILIO_SMS_FROM": SMS_FROM,
            "TWILIO_API_URL": twilio.url,
        }
    return env | {key: str(value) for key, value in extra.items()}


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


class CisonoRun:
    """One `cisono run` process; its output goes to a file (a pipe nobody reads would
    fill up and stall it)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.base = env["CISONO_PUBLIC_URL"]
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, timeout: float = 60) -> None:  # noqa: ASYNC109 (a polling deadline)
        """Start it and wait until /healthz answers 200."""
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", env=self.env, stdout=out, stderr=out
            )
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            assert self.process.returncode is None, f"cisono run exited:\n{self.output()}"
            try:
                if (await self.health())[0] == 200:
                    return
            except aiohttp.ClientError:
                pass
            assert asyncio.get_running_loop().time() < deadline, self.output()
            await asyncio.sleep(0.05)

    async def health(self) -> tuple[int, str]:
        return await get(f"{self.base}/healthz")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a power cut or the OOM killer."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL

    async def stop(self) -> int:
        """SIGTERM, as operators stop it; its exit code."""
        if self.process is None or self.process.returncode is not None:
            return self.process.returncode if self.process is not None else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout=20)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    def output(self) -> str:
        """What it logged, the last 8,000 characters."""
        return self.log.read_text(errors="replace")[-8000:]


async def upgrade(env: dict[str, str]) -> None:
    """`cisono db upgrade` on the env's database."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "db",
        "upgrade",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()


async def bulk_insert(database: Database, model: type[SQLModel], rows: Sequence[Any]) -> None:
    """Insert model instances (ids set) with one executemany per 10,000 rows, then move
    PostgreSQL's id sequence past them: thousands of people in a second, not a minute of
    ORM flushes."""
    table = SQLModel.metadata.tables[str(model.__tablename__)]
    async with database.engine.begin() as connection:
        for start in range(0, len(rows), 10_000):
            chunk = [row.model_dump() for row in rows[start : start + 10_000]]
            await connection.execute(insert(table), chunk)
        if connection.dialect.name == "postgresql":
            sequence = f"pg_get_serial_sequence('{table.name}', 'id')"
            await connection.execute(
                text(f"SELECT setval({sequence}, (SELECT max(id) FROM {table.name}))")
            )


async def add_volunteers(database: Database, addresses: Sequence[tuple[str, str]]) -> None:
    """Approved volunteers with one account each, (channel, address), ids from 1, who
    wrote an hour ago (a WhatsApp window is open), in bulk."""
    now = SystemClock().now()
    ids = range(1, len(addresses) + 1)
    people = [Person(id=i, name=f"Volontario {i}", locale="it", consent_at=now) for i in ids]
    accounts = [
        ChannelAccount(
            id=i,
            person_id=i,
            channel=channel,
            external_id=address,
            last_inbound_at=now - timedelta(hours=1),
        )
        for i, (channel, address) in zip(ids, addresses, strict=True)
    ]
    roles = [PersonRole(id=i, person_id=i, role="volunteer") for i in ids]
    for model, rows in ((Person, people), (ChannelAccount, accounts), (PersonRole, roles)):
        await bulk_insert(database, model, rows)


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb in a temporary directory, a free
    port, its unix socket there too), which the test may stop and start at will: the
    shared server on 5432 is left alone. initdb refuses to run as root, so as root the
    server runs as the `postgres` user, which owns the directory."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cisono-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{args[0]}: {result.stdout}{result.stderr}"

    def init(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.root / "server.log")
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start"
        )

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: every connection is cut, nothing waits."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
