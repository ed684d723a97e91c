"""`cisono run` as operators run it: health, metrics, several workers, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from bot.ratelimit import RateLimits, TokenBucket
from storage.unit_of_work import Database
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.platforms import WHATSAPP_FROM, free_port, running, settings_for, settled


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_health_and_metrics(database_url: str, twilio: FakeTwilio):
    async with running(settings_for(database_url, twilio=twilio)) as runner:
        base = f"http://127.0.0.1:{runner.port}"
        assert await get(f"{base}/healthz") == (200, '{"status":"ok"}')
        await twilio.send_inbound(f"{base}/twilio/inbound", "whatsapp:+393331112222", "ciao")
        await twilio.wait_for(lambda: len(twilio.messages) == 1)
        await settled(runner.app.database)
        status, metrics = await get(f"{base}/metrics")
    assert status == 200
    assert 'cisono_inbound_total{channel="whatsapp"} 1.0' in metrics
    assert 'cisono_sent_total{channel="whatsapp"} 1.0' in metrics
    assert "cisono_send_seconds_count" in metrics


@pytest.mark.parametrize("backend", ["postgres"])
async def test_two_workers_share_one_postgresql_outbox(database: Database, twilio: FakeTwilio):
    """Two `cisono run` processes behind one address: each message handled and sent once."""
    database_url = database.url  # the fixture emptied the tables
    first = settings_for(database_url, twilio=twilio)
    second = settings_for(database_url, twilio=twilio, CISONO_PUBLIC_URL=first.public_url)
    async with running(first) as one, running(second) as two:
        senders = [f"whatsapp:+39333000{n:04d}" for n in range(40)]
        for n, sender in enumerate(senders):  # the load balancer alternates
            worker = (one, two)[n % 2]
            url = f"http://127.0.0.1:{worker.port}/twilio/inbound"
            status, _ = await twilio.send_inbound(
                url, sender, "ciao", signed_url=f"{first.public_url}/twilio/inbound"
            )
            assert status == 200
        await twilio.wait_for(lambda: len(twilio.messages) == 40, timeout=20)
        rows = await settled(one.app.database)
    assert sorted(m["to"] for m in twilio.messages) == sorted(senders)
    assert len({r.provider_id for r in rows}) == 40 and all(r.status == "sent" for r in rows)
    assert one.app.metrics.sent.labels("whatsapp")._value.get() > 0
    assert two.app.metrics.sent.labels("whatsapp")._value.get() > 0


async def test_a_token_bucket_keeps_the_rate():
    bucket = TokenBucket(rate=20, burst=2)
    started = time.monotonic()
    for _ in range(12):
        await bucket.acquire()
    elapsed = time.monotonic() - started
    assert elapsed >= (12 - 2) / 20 * 0.9  # the burst is free, the rest at 20/s


async def test_a_hold_stops_every_send_until_it_ends_then_the_rate_resumes():
    bucket = TokenBucket(rate=100, burst=100)
    bucket.hold(0.3)
    started = time.monotonic()
    await asyncio.gather(*(bucket.acquire(first=n % 2 == 0) for n in range(4)))
    assert time.monotonic() - started >= 0.3  # replies and bulk alike
    started = time.monotonic()
    for _ in range(11):
        await bucket.acquire()
    assert time.monotonic() - started >= 0.09  # no burst of a hundred at its end


async def test_per_chat_limits_do_not_slow_other_chats():
    limits = RateLimits({"telegram": 1000}, per_chat={"telegram": (2, 1)})
    started = time.monotonic()
    await asyncio.gather(*(limits.acquire("telegram", str(chat)) for chat in range(50)))
    assert time.monotonic() - started < 0.5
    started = time.monotonic()
    for _ in range(3):
        await limits.acquire("telegram", "same")
    assert time.monotonic() - started >= 0.9  # 2/s in one chat after the first


@pytest.mark.slow
async def test_cisono_run_serves_and_stops_cleanly_on_sigterm(tmp_path: Path):
    """The real command, with both platforms configured, as an operator starts it."""
    telegram, twilio = FakeTelegram(), FakeTwilio()
    await telegram.start()
    await twilio.start()
    port = free_port()
    env = dict(
        os.environ,
        CISONO_DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}",
        CISONO_HTTP_PORT=str(port),
        CISONO_PUBLIC_URL=f"http://127.0.0.1:{port}",
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_URL=telegram.url,
        TWILIO_ACCOUNT_SID=twilio.account_sid,
        TWILIO_AUTH_TOKEN=twilio.auth_token,
        TWILIO_WHATSAPP_FROM=WHATSAPP_FROM,
        TWILIO_API_URL=twilio.url,
    )
    upgrade = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "db", "upgrade", env=env
    )
    assert await upgrade.wait() == 0
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(300):
            try:
                if (await get(f"http://127.0.0.1:{port}/healthz"))[0] == 200:
                    break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        else:
            pytest.fail("cisono run never became healthy")
        await telegram.user_sends_text(77, "ciao")
        (welcome,) = await telegram.wait_for_texts(77, 1)
        assert "In che lingua" in welcome
        maria = "whatsapp:+393331112222"
        inbound = f"http://127.0.0.1:{port}/twilio/inbound"
        assert (await twilio.send_inbound(inbound, maria, "ciao"))[0] == 200
        await twilio.wait_for(lambda: len(twilio.bodies_to(maria)) >= 1)
        assert "In che lingua" in twilio.bodies_to(maria)[0]

        process.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        code = await asyncio.wait_for(process.wait(), timeout=15)
        assert time.monotonic() - asked < 5, "slow to stop"
        _, stderr = await process.communicate()
        assert code == 0, stderr.decode()
        assert b"Traceback" not in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await telegram.stop()
        await twilio.stop()
