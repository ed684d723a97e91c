"""Database URLs and engines: a SQLite file by default, PostgreSQL for several workers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import PendingRollbackError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.direct import Driver, driver
from storage.sqlite_inline import BEGIN, InlineConnection, inline_connector

DEFAULT_URL = "sqlite:///cisono.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
DEFAULT_POOL_SIZE = 20  # PostgreSQL connections per process (CISONO_DATABASE_POOL)
_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def async_url(url: str) -> URL:
    """Map a plain URL (`postgresql://`, `sqlite:///`) to its async driver."""
    parsed = make_url(url)
    if parsed.drivername in _ASYNC_DRIVERS:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[parsed.drivername])
    elif parsed.drivername not in _ASYNC_DRIVERS.values():
        raise ValueError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")
    return parsed


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def is_sqlite_file(url: str) -> bool:
    return is_sqlite(url) and not _sqlite_is_memory(url)


def _sqlite_is_memory(url: str) -> bool:
    database = make_url(url).database
    return database in (None, "", ":memory:")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and foreign keys."""
    driver_url = async_url(url)
    if not is_sqlite(url):
        kwargs.setdefault("pool_size", DEFAULT_POOL_SIZE)
        # No connections beyond the pool: under load, an overflow connection was opened
        # for one transaction and closed after it, a new PostgreSQL backend each time,
        # which cost more than the transaction (bench/README.md). A unit of work waits
        # for a pooled connection instead.
        kwargs.setdefault("max_overflow", 0)
        # No ping before each transaction (a round trip each, 15 % of a conversation
        # step): after a restart of the server, the first use of a pooled connection
        # fails, SQLAlchemy discards the whole pool, and that one unit of work is retried
        # (webhooks answer 503, delivery waits for the database; tests/test_outage.py).
        kwargs.setdefault("pool_pre_ping", False)
        return create_async_engine(driver_url, **kwargs)

    if _sqlite_is_memory(url):
        # One connection that sessions take in turn: a second connection would see
        # another, empty database.
        kwargs.setdefault("poolclass", AsyncAdaptedQueuePool)
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
        database = ":memory:"
    else:
        database = str(Path(make_url(url).database or "").expanduser())
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect = inline_connector(database, SQLITE_BUSY_TIMEOUT_MS)
    engine = create_async_engine(driver_url, async_creator=connect, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun by hand below; pysqlite's own would start deferred.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not _sqlite_is_memory(url):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # A deferred transaction that later writes fails at once with SQLITE_BUSY
        # when another writer got in first; IMMEDIATE waits for the busy timeout.
        inline = connection.connection.driver_connection
        if isinstance(inline, InlineConnection) and inline.sqlite.in_transaction:
            return  # begun by the unit of work already, on its held connection (Session)
        if not (isinstance(inline, InlineConnection) and inline.begin_now(BEGIN)):
            connection.exec_driver_sql(BEGIN)  # waits on a thread when it must

    return engine


class Session(AsyncSession):
    """An async session that hands out its transaction's connection without a trip
    through a greenlet each time (the repositories' Core statements ask for it on every
    message, several times).

    Given the connection of its unit of work (`held`: on a SQLite file the one the
    process's units of work take turns on, on PostgreSQL one taken from the pool for
    the unit of work), it begins and ends the transaction on it through the driver
    (storage.direct). The ORM's own transaction (a Connection's RootTransaction and the
    session's) starts only when the ORM needs the connection, to flush or to query, and
    then takes over the transaction already begun. A message's step and the delivery's
    claims and records, whose statements are all direct, never need it.
    """

    _lent: tuple[object, AsyncConnection] | None = None
    held: AsyncConnection | None = None  # the unit of work's connection
    _driver: Driver
    _wrote_alone = False

    def hold(self, connection: AsyncConnection) -> None:
        """Work on `connection` (the unit of work's), its transaction begun and ended here."""
        self.held, self._driver = connection, driver(connection)

    async def connection(self, *args: Any, **kwargs: Any) -> AsyncConnection:
        if self.held is not None and not args and not kwargs:
            await self._driver.begin()
            return self.held
        transaction = self.sync_session.get_transaction()
        if not args and not kwargs and self._lent is not None and transaction is not None:
            lent_by, connection = self._lent
            if lent_by is transaction and transaction.is_active:
                return connection
        connection = await super().connection(*args, **kwargs)
        # the root transaction the connection belongs to: after a commit or a rollback
        # the next one may be on another pooled connection
        self._lent = (self.sync_session.get_transaction(), connection)
        return connection

    def _orm_engaged(self) -> bool:
        """Whether the ORM has work for the database: objects to flush, or its own
        transaction on the held connection."""
        sync, held = self.sync_session, self.held
        assert held is not None and held.sync_connection is not None
        return bool(sync.new or sync.dirty or sync.deleted or held.sync_connection.in_transaction())

    def alone(self) -> bool:
        """Whether the next write may run on its own, committed as it ends (PostgreSQL's
        direct statements, `alone=True`): nothing of this unit of work is in a
        transaction or waiting to be flushed. Asking promises that nothing is written
        after it, which `commit` checks."""
        held = self.held
        if held is None or held.dialect.name != "postgresql":
            return False  # SQLite's began with the unit of work (BEGIN IMMEDIATE)
        if self._orm_engaged() or self._driver.open:
            return False
        self._wrote_alone = True
        return True

    async def commit(self) -> None:
        if self.held is None:
            await super().commit()
            return
        if self.held.invalidated:  # the server went away in this transaction
            raise PendingRollbackError("the connection was lost: roll back")
        if self._wrote_alone and (self._orm_engaged() or self._driver.open):
            raise RuntimeError("written after a write that went alone: it would not be atomic")
        if self._orm_engaged():
            await super().commit()  # flushes; its commit is the connection's
        await self._driver.commit()

    async def rollback(self) -> None:
        await super().rollback()
        if self.held is not None and not self.held.invalidated:
            await self._driver.rollback()

    async def close(self) -> None:
        if self.held is not None:
            if self.sync_session.in_transaction() and self._orm_engaged():
                await super().close()  # the ORM's transaction: rolled back through the driver
            else:
                self.sync_session.close()  # nothing of the ORM's on the connection
            if not self.held.invalidated:
                await self._driver.rollback()  # a transaction left open: undone
        elif self.sync_session.in_transaction():
            await super().close()  # the connection is given back: that may need the driver
        else:
            # committed or rolled back already: closing only lets go of the objects,
            # which needs no trip through a greenlet (every unit of work ends so)
            self.sync_session.close()


def alone(session: AsyncSession) -> bool:
    """`Session.alone` of any session (one of another kind: False)."""
    return isinstance(session, Session) and session.alone()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=Session, expire_on_commit=False)
