"""The platforms misbehave all at once: a flood-control storm (429 with retry_after),
answers slower than the client waits, answers that are not JSON, and a burst of 5xx.
The bot waits, retries, says why on the outbox row meanwhile, and never spins: each fault
costs exactly one more call, and every person gets their reply exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from sqlmodel import select

from bot.runner import Runner
from storage.tables import OutboxMessage
from storage.unit_of_work import Database
from tests.fake_telegram import FakeTelegram
from tests.fake_twilio import FakeTwilio
from tests.platforms import running, settings_for, settled

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])
PEOPLE = 20
STORM, SLOW, GARBLED, BURST = 10, 2, 2, 3  # faults injected, each on one call
FAULTS = STORM + SLOW + GARBLED + BURST
# CISONO_SEND_TIMEOUT: a real send must never take this long, or it would go again
# (0.5 s, and once 1 s, timed real sends out when the machine was slow)
TIMEOUT = 2.0
SLOWER = TIMEOUT + 2  # a slow answer: the client has given up on it long before
WELCOME = "In che lingua"


async def reasons_while(database: Database, done: Callable[[], bool]) -> Counter[str]:
    """The failure reasons on rows waiting for another try, as they appear."""
    seen: Counter[str] = Counter()
    ids: set[tuple[int, int, str]] = set()
    while not done():
        async with database.unit_of_work() as uow:
            query = select(OutboxMessage).where(OutboxMessage.status == "queued")
            for row in (await uow.session.exec(query)).all():
                key = (row.id or 0, row.attempts, row.failure_reason or "")
                if row.failure_reason and key not in ids:
                    ids.add(key)
                    seen[row.failure_reason] += 1
        await asyncio.sleep(0.02)
    return seen


@pytest.fixture(params=["aiogram", "ptb"])
async def telegram_bot(
    request: pytest.FixtureRequest, telegram: FakeTelegram, database_url: str
) -> AsyncIterator[Runner]:
    settings = settings_for(
        database_url, telegram=telegram, driver=request.param, CISONO_SEND_TIMEOUT=TIMEOUT
    )
    async with running(settings) as runner:
        yield runner


async def test_telegram_faults_slow_the_bot_down_but_lose_nothing(
    telegram_bot: Runner, telegram: FakeTelegram
):
    telegram.delay_next("sendMessage", SLOWER, times=SLOW)
    telegram.garble_next("sendMessage", times=GARBLED)
    telegram.fail_next("sendMessage", 429, retry_after=1, times=STORM)
    telegram.fail_next("sendMessage", 502, description="Bad Gateway", times=BURST)
    chats = [70_000 + n for n in range(PEOPLE)]
    for chat in chats:
        await telegram.user_sends_text(chat, "ciao")
    database = telegram_bot.app.database
    watching = asyncio.create_task(
        reasons_while(database, lambda: all(telegram.count_to(c) for c in chats))
    )
    reasons = await asyncio.wait_for(watching, timeout=30)
    rows = await settled(database)
    await telegram.wait_for(lambda: len(telegram.timed_out) == SLOW)  # they answer at last

    for chat in chats:
        (text,) = telegram.texts_to(chat)  # exactly once
        assert WELCOME in text
    calls = telegram.calls_to("sendMessage")
    assert len(calls) == PEOPLE + FAULTS  # one more call per fault: no spinning
    assert len(telegram.timed_out) == SLOW
    assert Counter(r.status for r in rows) == {"sent": PEOPLE}
    assert sum(r.attempts for r in rows) == PEOPLE + FAULTS
    assert max(r.attempts for r in rows) <= 1 + FAULTS  # never near MAX_ATTEMPTS's spin
    flood = [r for r in reasons if "429" in r]
    assert flood and sum(reasons[r] for r in flood) == STORM, reasons
    assert sum(reasons.values()) == FAULTS, reasons  # each failed try has its reason
    retried = telegram_bot.app.metrics.retried.labels("telegram")._value.get()
    assert retried == FAULTS
    for row in rows:  # the storm was waited out: retry_after=1 s at least
        if row.attempts > 1:
            assert row.sent_at is not None
            assert (row.sent_at - row.created_at).total_seconds() >= 0.5


@pytest.fixture
async def twilio_bot(twilio: FakeTwilio, database_url: str) -> AsyncIterator[Runner]:
    settings = settings_for(database_url, twilio=twilio, CISONO_SEND_TIMEOUT=TIMEOUT)
    async with running(settings) as runner:
        yield runner


async def test_twilio_faults_slow_the_bot_down_but_lose_nothing(
    twilio_bot: Runner, twilio: FakeTwilio
):
    twilio.delay_next(SLOWER, times=SLOW)
    twilio.garble_next(times=GARBLED)
    twilio.fail_next(429, times=STORM, retry_after=1)
    twilio.fail_next(503, times=BURST)
    senders = [f"whatsapp:+39333900{n:04d}" for n in range(PEOPLE)]
    url = f"http://127.0.0.1:{twilio_bot.port}/twilio/inbound"
    for sender in senders:
        assert (await twilio.send_inbound(url, sender, "ciao"))[0] == 200
    database = twilio_bot.app.database
    watching = asyncio.create_task(
        reasons_while(database, lambda: all(twilio.messages_to(s) for s in senders))
    )
    reasons = await asyncio.wait_for(watching, timeout=30)
    rows = await settled(database)
    await twilio.wait_for(lambda: len(twilio.timed_out) == SLOW)  # they answer at last

    for sender in senders:
        (body,) = twilio.bodies_to(sender)  # exactly once
        assert WELCOME in body
    calls = len(twilio.messages) + len(twilio.rejected) + len(twilio.timed_out)
    assert calls == PEOPLE + FAULTS  # one more call per fault: no spinning
    assert len(twilio.timed_out) == SLOW
    assert Counter(r.status for r in rows) == {"sent": PEOPLE}
    assert sum(r.attempts for r in rows) == PEOPLE + FAULTS
    assert sum(reasons[r] for r in reasons if "429" in r) == STORM, reasons
    assert sum(reasons.values()) == FAULTS, reasons
    assert twilio_bot.app.metrics.retried.labels("whatsapp")._value.get() == FAULTS
