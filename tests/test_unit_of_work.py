"""A unit of work holds its connection (on a SQLite file one the process's units of
work share; on PostgreSQL one from the pool) and begins and ends its transaction
through the driver (storage.database.Session); the ORM takes the transaction over when
it needs the connection. Whatever mix of direct statements and ORM work a unit does,
it is committed together or not at all."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import DBAPIError, OperationalError, PendingRollbackError
from sqlmodel import SQLModel
from sqlmodel import select as select_models

import storage.database
from storage.direct import Direct
from storage.tables import Person, ProcessedInbound
from storage.unit_of_work import Database, UnitOfWork

WHEN = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
_inbound = SQLModel.metadata.tables[ProcessedInbound.__tablename__]
_RECORD = Direct(insert(_inbound), ("channel", "inbound_id", "received_at"))
_IDS = Direct(select(_inbound.c.inbound_id).where(_inbound.c.channel == bindparam("wanted")))


@pytest.fixture
def file_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "cisono.db"
    path.write_bytes(sqlite_template.read_bytes())
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """A SQLite file or PostgreSQL (the conftest's `database` on either)."""
    return str(request.param)


@pytest.fixture
async def sqlite_file(file_url: str):
    database = Database(file_url)
    yield database
    await database.dispose()


async def record_in(uow: UnitOfWork, inbound_id: str) -> None:
    """A direct statement, as a message's step runs them."""
    values = {"channel": "sms", "inbound_id": inbound_id, "received_at": WHEN}
    await _RECORD.count(await uow.session.connection(), values)


async def record(database: Database, inbound_id: str) -> None:
    async with database.unit_of_work() as uow:
        await record_in(uow, inbound_id)


async def recorded(database: Database) -> list[str]:
    async with database.unit_of_work() as uow:
        rows = await _IDS.rows(await uow.session.connection(), {"wanted": "sms"})
    return sorted(row[0] for row in rows)


async def people(database: Database) -> int:
    async with database.unit_of_work() as uow:
        return len((await uow.session.exec(select_models(Person))).all())


async def test_units_of_work_on_a_file_take_turns_on_one_connection(sqlite_file: Database):
    database = sqlite_file
    seen = []
    for n in range(3):
        async with database.unit_of_work() as uow:
            seen.append(await uow.session.connection())
            values = {"channel": "sms", "inbound_id": str(n), "received_at": WHEN}
            await _RECORD.count(seen[-1], values)
    assert seen[0] is seen[1] is seen[2]
    assert await recorded(database) == ["0", "1", "2"]


async def test_direct_statements_alone_are_committed_without_the_orms_transaction(
    database: Database,
):
    async with database.unit_of_work() as uow:
        connection = await uow.session.connection()
        await _RECORD.count(
            connection, {"channel": "sms", "inbound_id": "SM1", "received_at": WHEN}
        )
        assert connection.sync_connection is not None
        assert not connection.sync_connection.in_transaction()  # the ORM never began
    other = Database(database.url)  # another process, say, sees it committed
    try:
        assert await recorded(other) == ["SM1"]
    finally:
        await other.dispose()


async def test_direct_statements_and_orm_work_are_committed_together(database: Database):
    async with database.unit_of_work() as uow:  # direct first, then the ORM
        await record_in(uow, "A")
        uow.session.add(Person(name="Anna"))
    async with database.unit_of_work() as uow:  # the ORM first, then direct
        uow.session.add(Person(name="Bruno"))
        await uow.session.flush()
        await record_in(uow, "B")
    assert await recorded(database) == ["A", "B"]
    assert await people(database) == 2


async def test_a_failing_unit_of_work_leaves_nothing_behind(database: Database):
    for orm_too in (False, True):
        with pytest.raises(RuntimeError):
            async with database.unit_of_work() as uow:
                await record_in(uow, str(orm_too))
                if orm_too:
                    uow.session.add(Person(name="Carla"))
                    await uow.session.flush()
                raise RuntimeError("the step failed")
    assert await recorded(database) == []
    assert await people(database) == 0
    await record(database, "after")  # and the connection goes on
    assert await recorded(database) == ["after"]


async def test_a_rollback_undoes_direct_statements_too(database: Database):
    """As `cisono members import --dry-run` does: the unit of work rolls back and ends."""
    async with database.unit_of_work() as uow:
        await record_in(uow, "dry")
        await uow.session.rollback()
    assert await recorded(database) == []


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_a_lost_connection_is_not_committed_and_the_next_unit_gets_another(
    database: Database,
):
    """The server ends the unit of work's connection: its commit is refused, and the next
    unit of work works on a new connection."""
    async with database.unit_of_work() as uow:
        connection = await uow.session.connection()
        (pid,) = (await connection.exec_driver_sql("SELECT pg_backend_pid()")).one()
    other = Database(database.url)
    try:
        async with other.engine.connect() as killer:
            await killer.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    finally:
        await other.dispose()
    with pytest.raises(PendingRollbackError):
        async with database.unit_of_work() as uow:
            try:
                await record_in(uow, "lost")
            except DBAPIError as lost:
                assert lost.connection_invalidated  # swallowed: the commit must not pass
    await record(database, "next")
    assert await recorded(database) == ["next"]


async def test_a_savepoint_inside_works_as_before(database: Database):
    """The reminder sweep fires each reminder in a savepoint of its own."""
    async with database.unit_of_work() as uow:
        await record_in(uow, "kept")
        with pytest.raises(RuntimeError):
            async with uow.session.begin_nested():
                uow.session.add(Person(name="Dario"))
                await uow.session.flush()
                raise RuntimeError("this reminder is broken")
        uow.session.add(Person(name="Elena"))
    assert await recorded(database) == ["kept"]
    assert await people(database) == 1


async def test_another_process_writing_is_waited_for_without_stalling_the_loop(
    sqlite_file: Database,
):
    database = sqlite_file
    path = database.url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # a `cisono` command writing, say
    ticks = 0

    async def loop_goes_on() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    ticker = asyncio.create_task(loop_goes_on())
    releaser = asyncio.create_task(release_later())
    await record(database, "waited")
    ticker.cancel()
    await releaser
    other.close()
    assert ticks >= 10  # the loop ran while the unit of work waited for the lock
    assert await recorded(database) == ["waited"]


async def test_a_lock_never_released_is_sqlalchemys_operational_error(
    file_url: str, monkeypatch: pytest.MonkeyPatch
):
    """Callers tell an outage by SQLAlchemy's errors (a webhook answers 503)."""
    monkeypatch.setattr(storage.database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    database = Database(file_url)
    other = sqlite3.connect(file_url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError, match="locked"):
            await record(database, "never")
        other.execute("COMMIT")
        await record(database, "later")  # the connection is still good
        assert await recorded(database) == ["later"]
    finally:
        other.close()
        await database.dispose()
