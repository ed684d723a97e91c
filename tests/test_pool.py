"""A busy worker keeps its PostgreSQL connections: transactions beyond the pool wait for
one of its connections instead of opening a backend of their own for a moment (which
cost PostgreSQL more than the transaction itself)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.app import App
from bot.ratelimit import RateLimits
from bot.settings import Settings
from storage.connections import KeptConnections
from storage.unit_of_work import Database


async def _backend(database: Database) -> int:
    async with database.unit_of_work() as uow:
        connection = await uow.session.connection()
        (pid,) = (await connection.exec_driver_sql("SELECT pg_backend_pid()")).one()
        await asyncio.sleep(0.02)  # still holding it while the others ask
        return int(pid)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_thirty_transactions_at_once_share_the_pools_three_connections(
    database_url: str,
):
    database = Database(database_url, pool_size=3)
    try:
        first = await asyncio.gather(*(_backend(database) for _ in range(30)))
        again = await asyncio.gather(*(_backend(database) for _ in range(30)))
    finally:
        await database.dispose()
    assert len(set(first)) == 3  # none opened beyond the pool
    assert set(again) == set(first)  # and the same ones kept, not closed and opened anew


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_the_pool_is_set_by_cisono_database_pool(database_url: str):
    settings = Settings.model_validate(
        {"CISONO_DATABASE_URL": database_url, "CISONO_DATABASE_POOL": "4"}
    )
    app = App.build(settings, {}, limits=RateLimits({}))
    try:
        backends = await asyncio.gather(*(_backend(app.database) for _ in range(12)))
    finally:
        await app.database.dispose()
    assert len(set(backends)) == 4
    assert Settings.model_validate({}).database_pool == 20


def test_sqlite_keeps_its_own_pool(tmp_path):
    """One file, one writer at a time: the setting does not apply."""
    url = f"sqlite:///{tmp_path / 'cisono.db'}"
    assert Database(url, pool_size=4).engine.pool.size() == Database(url).engine.pool.size()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_unit_of_work_beyond_the_pool_waits_for_a_connection_given_back(
    database_url: str,
):
    """The connections kept out of the pool between units of work: one is given to the
    unit of work waiting for it, and one waiting longer than the pool's timeout gets
    the pool's error."""
    database = Database(database_url, pool_size=1)
    kept = KeptConnections(database.engine, 1, timeout=0.2)
    try:
        first = await kept.take()
        with pytest.raises(PoolTimeout):
            await kept.take()
        waiting = asyncio.create_task(kept.take())
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await kept.give_back(first)
        assert await waiting is first  # the same connection, not a new one
        await kept.give_back(first)
        assert not first.closed  # kept for the next unit of work
        again = await kept.take()
        await kept.close()  # stopping: the one in use goes back to the pool when done
        await kept.give_back(again)
        assert again.closed
    finally:
        await kept.close()
        await database.dispose()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_the_health_check_is_not_starved_by_the_connections_kept(database_url: str):
    """After a burst every connection of the pool is kept out of it, idle: the health
    check takes one of those, as a unit of work does (it waited for the pool before, and
    /healthz said 503 after a database outage under load, the database being fine)."""
    database = Database(database_url, pool_size=3)
    try:
        await asyncio.gather(*(_backend(database) for _ in range(6)))
        checked_out: object = database.engine.pool.checkedout()  # type: ignore[attr-defined]
        assert checked_out == 3  # all kept, none left in the pool
        await asyncio.wait_for(database.ping(), timeout=5)
    finally:
        await database.dispose()
