"""`cisono run` in-process against the fake Bot API and the fake Twilio, for end-to-end tests."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from bot.runner import Runner
from bot.settings import Settings
from storage.tables import ChannelAccount, OutboxMessage, Person
from storage.unit_of_work import Database
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio

WEBHOOK_SECRET = "s3cret-webhook-token"
WHATSAPP_FROM = "+14155238886"
SMS_FROM = "+15005550006"


def free_port() -> int:
    """A port free now on 127.0.0.1 for a server started next, below the kernel's range
    for outgoing connections' own ports: a port from that range (what binding port 0
    gives) could be taken by a connection to the database or to a fake in the moment
    before the server binds it. Never the same port twice in one process."""
    low = _first_outgoing_port()
    for _ in range(200):
        port = random.randrange(max(1024, low - 12_000), low)
        if port not in _HANDED_OUT and _bindable(port):
            _HANDED_OUT.add(port)
            return port
    with socket.socket() as sock:  # an unusual range: as the kernel picks
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_HANDED_OUT: set[int] = set()


def _first_outgoing_port() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def settings_for(
    database_url: str,
    *,
    telegram: FakeTelegram | None = None,
    driver: str = "aiogram",
    webhook: bool = False,
    twilio: FakeTwilio | None = None,
    **extra: Any,
) -> Settings:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    values: dict[str, Any] = {
        "CISONO_DATABASE_URL": database_url,
        "CISONO_HTTP_PORT": port,
        "CISONO_PUBLIC_URL": public,
        "TELEGRAM_CHAT_RATE_LIMIT": 100,  # conversations here, not pacing (test_delivery.py)
    }
    if telegram is not None:
        values |= {
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.url,
            "TELEGRAM_DRIVER": driver,
        }
        if webhook:
            values |= {
                "TELEGRAM_WEBHOOK_URL": f"{public}/telegram/webhook",
                "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            }
    if twilio is not None:
        values |= {
            "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
            "TWILIO_SMS_FROM": SMS_FROM,
            "TWILIO_API_URL": twilio.url,
        }
    return Settings(**(values | extra))


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runner]:
    runner = Runner(settings)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


async def settled(database: Database, within: float = 10.0) -> list[OutboxMessage]:
    """The outbox once nothing is waiting or being sent."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        rows = await outbox(database)
        if all(r.status not in ("queued", "sending") for r in rows):
            return rows
        assert asyncio.get_running_loop().time() < deadline, [(r.id, r.status) for r in rows]
        await asyncio.sleep(0.02)


async def outbox(database: Database) -> list[OutboxMessage]:
    async with database.unit_of_work() as uow:
        rows = await uow.session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return list(rows.all())


async def account(database: Database, channel: str, external_id: str) -> ChannelAccount | None:
    async with database.unit_of_work() as uow:
        return await uow.people.account(channel, external_id)


async def people(database: Database) -> list[Person]:
    async with database.unit_of_work() as uow:
        return list(await uow.people.all())
