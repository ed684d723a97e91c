"""Several `cisono run` on one database keep, together, to each platform's limit."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.ratelimit import RateLimits
from bot.workers import LIVE, LimitShare
from storage.tables import Worker
from storage.unit_of_work import Database
from tests.fake_telegram import FakeTelegram
from tests.fakes import FakeClock
from tests.platforms import running, settings_for

LIMITS = {"telegram": 30.0, "whatsapp": 80.0}


async def test_two_workers_share_each_limit_and_one_that_stops_gives_its_share_back(
    database: Database,
):
    clock = FakeClock()
    first, second = RateLimits(dict(LIMITS)), RateLimits(dict(LIMITS))
    alpha = LimitShare(database, first, clock, name="alpha")
    beta = LimitShare(database, second, clock, name="beta")

    assert await alpha.beat() == 1
    assert first.rate("telegram") == 30.0

    assert await beta.beat() == 2  # the second one halves its part at once
    assert (second.rate("telegram"), second.rate("whatsapp")) == (15.0, 40.0)
    clock.advance(seconds=10)
    assert await alpha.beat() == 2  # the first one at its next beat
    assert (first.rate("telegram"), first.rate("whatsapp")) == (15.0, 40.0)
    assert first.rate("sms") is None  # not limited at all: nothing to share

    await beta.leave()
    assert await alpha.beat() == 1
    assert first.rate("telegram") == 30.0


async def test_a_worker_that_died_is_counted_out_once_silent(database: Database):
    clock = FakeClock()
    limits = RateLimits(dict(LIMITS))
    alive = LimitShare(database, limits, clock, name="alive")
    dead = LimitShare(database, RateLimits(dict(LIMITS)), clock, name="killed -9")
    await dead.beat()
    assert await alive.beat() == 2

    clock.advance(seconds=LIVE.total_seconds() + 1)  # "killed -9" never beat again
    assert await alive.beat() == 1
    assert limits.rate("whatsapp") == 80.0


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_cisono_run_notes_that_it_runs_and_leaves_when_it_stops(
    database_url: str, telegram: FakeTelegram
):
    settings = settings_for(database_url, telegram=telegram, TELEGRAM_RATE_LIMIT=30)
    async with running(settings) as runner:
        async with runner.app.database.unit_of_work() as uow:
            (worker,) = (await uow.session.exec(select(Worker))).all()
        assert worker.name == runner.share.name
        assert runner.app.delivery.limits.rate("telegram") == 30.0
    database = Database(database_url)
    try:
        async with database.unit_of_work() as uow:
            assert (await uow.session.exec(select(Worker))).all() == []
    finally:
        await database.dispose()
