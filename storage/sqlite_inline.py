"""SQLite for the async engine without a thread hop per statement.

aiosqlite runs every statement on a worker thread and wakes the event loop for each
result. Under load that hand-over costs more than the statement itself (a step is
about ten statements; see bench/README.md). SQLite statements on a local WAL file
take microseconds, and this process lets one transaction write at a time anyway
(storage.unit_of_work), so they run here, in the loop's thread. The one statement
that can wait long — BEGIN IMMEDIATE, while another process (a `cisono` command)
holds the write lock — still waits on a thread, so the loop never stalls on a lock.

The classes mimic the part of aiosqlite's interface that SQLAlchemy's aiosqlite
dialect uses, and are handed to it through `create_async_engine(async_creator=…)`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Self

BEGIN = "BEGIN IMMEDIATE"  # every transaction: it waits for the write lock at once, if at all


class _RunNow:
    """Stands in for aiosqlite's queue of work, used by the dialect's isolation_level
    setter: the function runs at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor, busy_timeout_ms: int) -> None:
        self._cursor = cursor
        self._busy_timeout_ms = busy_timeout_ms

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Self:
        if sql.lstrip()[:5].upper() == "BEGIN":
            await self._begin(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def _begin(self, sql: str) -> None:
        """Begin at once if no other process is writing; else wait for it on a thread
        (up to the busy timeout), so that the event loop goes on meanwhile."""
        if not _begin_now(self._cursor, sql, self._busy_timeout_ms):
            await asyncio.to_thread(self._cursor.execute, sql)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Self:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *sizes: object) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


def _begin_now(cursor: sqlite3.Cursor, sql: str, busy_timeout_ms: int) -> bool:
    """Run `sql` (a BEGIN) unless another process holds the write lock: False then."""
    cursor.execute("PRAGMA busy_timeout=0")
    try:
        cursor.execute(sql)
        return True
    except sqlite3.OperationalError as error:
        if "locked" not in str(error):
            raise
        return False
    finally:
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")


class InlineConnection:
    def __init__(self, connection: sqlite3.Connection, busy_timeout_ms: int) -> None:
        self._conn: sqlite3.Connection | None = connection
        self._busy_timeout_ms = busy_timeout_ms
        self._tx = _RunNow()

    @property
    def _connection(self) -> sqlite3.Connection | None:
        """The dialect checks this before committing or rolling back."""
        return self._conn

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The connection itself, for statements run without SQLAlchemy (storage.direct)."""
        return self._open()

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._open().cursor(), self._busy_timeout_ms)

    def begin_now(self, sql: str) -> bool:
        """`sql` (a BEGIN) run at once, without SQLAlchemy's statement machinery (it
        runs for every transaction); False when another process holds the write lock,
        and the caller waits through a cursor's `execute`."""
        cursor = self._open().cursor()
        try:
            return _begin_now(cursor, sql, self._busy_timeout_ms)
        finally:
            cursor.close()

    async def begin_once(self, sql: str) -> None:
        """`sql` (a BEGIN) unless a transaction is open already: at once, or on a thread
        while another process holds the write lock (up to the busy timeout), so that
        the event loop goes on meanwhile."""
        connection = self._open()
        if not connection.in_transaction and not self.begin_now(sql):
            await asyncio.to_thread(connection.execute, sql)

    def commit_open(self) -> None:
        """Commit the transaction, if one is open."""
        if self._open().in_transaction:
            self._open().commit()

    def rollback_open(self) -> None:
        """Roll the transaction back, if one is open."""
        if self._conn is not None and self._conn.in_transaction:
            self._conn.rollback()

    async def commit(self) -> None:
        self._open().commit()

    async def rollback(self) -> None:
        self._open().rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        """Terminate: close at once (nothing runs on another thread to wait for)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def inline_connector(
    database: str, busy_timeout_ms: int
) -> Callable[[], Awaitable[InlineConnection]]:
    """An `async_creator` for `create_async_engine`: connections to `database`."""

    async def connect() -> InlineConnection:
        # a BEGIN that must wait runs on a helper thread, one statement at a time
        connection = sqlite3.connect(
            database,
            timeout=busy_timeout_ms / 1000,
            check_same_thread=False,
            isolation_level=None,
        )
        return InlineConnection(connection, busy_timeout_ms)

    return connect
