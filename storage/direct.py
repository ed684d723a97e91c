"""The few statements that run for every message, handed straight to the driver.

SQLAlchemy's path for one statement (an execution context, events, parameter and result
processing, a greenlet hop each way) costs about 0.2 ms on the benchmark machine: on
SQLite ten times the statement itself, on PostgreSQL more than the driver's own work.
These statements are compiled by SQLAlchemy once per dialect (the same SQL and the same
type conversions as through the ORM) and run by sqlite3 or asyncpg on the session's
connection, inside the session's transaction. Errors come out as SQLAlchemy's own
(`IntegrityError`, `OperationalError`, ...), so callers cannot tell the difference.

On PostgreSQL a transaction costs two round trips of its own (BEGIN, COMMIT), as many
as the statements of a step. So while none is open, a statement that only reads runs
outside one (under READ COMMITTED each statement reads its own snapshot anyway), and
so does one the caller says is the unit of work's only write (`alone`), committed as
it ends: a single statement is atomic. The first other write begins the transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NoReturn

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import ClauseElement, Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.visitors import iterate

from storage.group_commit import group_commit
from storage.sqlite_inline import BEGIN, InlineConnection

Processor = Callable[[Any], Any] | None
Row = tuple[Any, ...]


@dataclass(frozen=True)
class Plan:
    """A statement as one dialect runs it: its SQL, its parameters in order, and how
    each parameter and each result column is converted."""

    sql: str
    names: tuple[str, ...]
    binds: tuple[Processor, ...]
    results: tuple[Processor, ...]
    fixed: Mapping[str, Any]  # the values the statement carries (`.values(status="sent")`)
    reads: bool  # it only reads: a SELECT, locking nothing, with no INSERT or UPDATE inside
    _take: Callable[[Mapping[str, Any]], list[Any]] = field(init=False, repr=False)
    _bound: tuple[tuple[int, Callable[[Any], Any]], ...] = field(init=False, repr=False)
    _returned: tuple[tuple[int, Callable[[Any], Any]], ...] = field(init=False, repr=False)

    @classmethod
    def compile(cls, statement: ClauseElement, dialect: Dialect, columns: Sequence[str]) -> Plan:
        compiled = statement.compile(dialect=dialect, column_keys=list(columns) or None)
        assert isinstance(compiled, SQLCompiler)
        if "POSTCOMPILE" in compiled.string or getattr(compiled, "insert_prefetch", None):
            # an expanding IN, or a column default computed in Python: SQLAlchemy's
            # execution would add to the SQL or to the values
            raise ValueError(f"not a statement to run directly: {compiled.string}")
        names = tuple(compiled.positiontup or ())
        params = [compiled.binds[name] for name in names]
        binds = tuple(param.type._cached_bind_processor(dialect) for param in params)
        results = tuple(
            column.type._cached_result_processor(dialect, None)
            for column in compiled._result_columns or ()
        )
        fixed = {n: p.effective_value for n, p in zip(names, params, strict=True) if not p.required}
        return cls(compiled.string, names, binds, results, fixed, _reads(statement))

    def __post_init__(self) -> None:
        # most values need no conversion (the driver takes and gives them as they are):
        # only those that do are touched, by position (a step's read gives 43 columns)
        object.__setattr__(self, "_take", _getter(self.names))
        object.__setattr__(self, "_bound", _converted(self.binds))
        object.__setattr__(self, "_returned", _converted(self.results))

    def arguments(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        given = {**self.fixed, **values} if self.fixed else values
        arguments = self._take(given)
        for position, process in self._bound:
            arguments[position] = process(arguments[position])
        return tuple(arguments)

    def row(self, raw: Sequence[Any]) -> Row:
        if not self._returned:
            return tuple(raw)
        values = list(raw)
        for position, process in self._returned:
            values[position] = process(values[position])
        return tuple(values)


def _getter(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], list[Any]]:
    """The values of `names` from a mapping, in order, as a list."""
    if len(names) > 1:
        take = itemgetter(*names)
        return lambda given: list(take(given))
    return lambda given: [given[name] for name in names]


def _converted(processors: tuple[Processor, ...]) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    return tuple((n, process) for n, process in enumerate(processors) if process is not None)


def _reads(statement: ClauseElement) -> bool:
    if not isinstance(statement, Select):
        return False
    for element in iterate(statement):
        if isinstance(element, UpdateBase):  # a WITH … (INSERT … RETURNING)
            return False
        if isinstance(element, Select) and element._for_update_arg is not None:
            return False
    return True


class Direct:
    """A Core statement run on the driver's connection; `columns` names the values an
    INSERT or UPDATE is given (as `column_keys` does for SQLAlchemy's compiler)."""

    def __init__(self, statement: ClauseElement, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = tuple(columns or ())
        self._plans: dict[str, Plan] = {}

    def plan(self, dialect: Dialect) -> Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = Plan.compile(self.statement, dialect, self.columns)
        return plan

    # `alone`: the unit of work writes nothing else (Session.alone tells whether it may)

    async def rows(
        self, connection: AsyncConnection, values: Mapping[str, Any], *, alone: bool = False
    ) -> list[Row]:
        """The rows a SELECT or a RETURNING gives."""
        plan = self.plan(connection.dialect)
        begin = not (plan.reads or alone)
        raw = await driver(connection).fetch(plan.sql, plan.arguments(values), begin)
        return [plan.row(r) for r in raw]

    async def row_together(self, connection: AsyncConnection, values: Mapping[str, Any]) -> Row:
        """The one row of a statement that is the unit of work's only write (`alone`),
        committed together with the same statement of other units of work waiting at
        the same moment (storage.group_commit); on SQLite, on its own in the unit of
        work's transaction."""
        runs = driver(connection)
        if not isinstance(runs, _Asyncpg):
            return (await self.rows(connection, values, alone=True))[0]
        plan = self.plan(connection.dialect)
        queue = group_commit(connection.sync_engine, plan.sql)
        return plan.row((await queue.rows(runs, plan.arguments(values)))[0])

    async def read_together(
        self, connection: AsyncConnection, values: Mapping[str, Any]
    ) -> list[Row]:
        """The rows of a read, sent with the same read of other units of work waiting at
        the same moment when no transaction is open (storage.group_commit). Its first
        parameter and its rows' first column are the batch's ticket (the caller gives
        0; the batch sets each run's place), left out of the rows returned."""
        runs = driver(connection)
        plan = self.plan(connection.dialect)
        if not isinstance(runs, _Asyncpg) or runs.open:
            return [row[1:] for row in await self.rows(connection, values)]
        assert plan.reads, "only a read goes with others outside a transaction"
        queue = group_commit(connection.sync_engine, plan.sql, ticketed=True)
        return [plan.row(row)[1:] for row in await queue.rows(runs, plan.arguments(values))]

    async def count(self, connection: AsyncConnection, values: Mapping[str, Any]) -> int:
        """How many rows an INSERT, UPDATE or DELETE touched."""
        plan = self.plan(connection.dialect)
        return await driver(connection).count(plan.sql, plan.arguments(values))

    async def many(
        self,
        connection: AsyncConnection,
        values: Sequence[Mapping[str, Any]],
        *,
        alone: bool = False,
    ) -> None:
        """The statement once for each set of values (all of them, or none: asyncpg
        sends them together, one implicit transaction)."""
        if values:
            plan = self.plan(connection.dialect)
            arguments = [plan.arguments(v) for v in values]
            await driver(connection).many(plan.sql, arguments, not alone)


class _Sqlite:
    def __init__(self, connection: AsyncConnection, inline: InlineConnection) -> None:
        self.connection, self.inline, self.db = connection, inline, inline.sqlite

    @property
    def open(self) -> bool:
        """Whether a transaction is open."""
        return self.db.in_transaction

    async def begin(self) -> None:
        """Begin (IMMEDIATE), unless the connection is in a transaction already."""
        try:
            await self.inline.begin_once(BEGIN)
        except sqlite3.Error as error:
            _raise(self.connection, BEGIN, (), error, sqlite3.Error)

    async def commit(self) -> None:
        """Commit the transaction, if one is open."""
        try:
            self.inline.commit_open()
        except sqlite3.Error as error:
            _raise(self.connection, "COMMIT", (), error, sqlite3.Error)

    async def rollback(self) -> None:
        """Roll the transaction back, if one is open."""
        try:
            self.inline.rollback_open()
        except sqlite3.Error as error:
            _raise(self.connection, "ROLLBACK", (), error, sqlite3.Error)

    # `begin` is for PostgreSQL: the unit of work began its transaction already (Session)

    async def fetch(self, sql: str, arguments: tuple[Any, ...], begin: bool = True) -> list[Any]:
        try:
            return self.db.execute(sql, arguments).fetchall()
        except sqlite3.Error as error:
            _raise(self.connection, sql, arguments, error, sqlite3.Error)

    async def count(self, sql: str, arguments: tuple[Any, ...], begin: bool = True) -> int:
        try:
            return self.db.execute(sql, arguments).rowcount
        except sqlite3.Error as error:
            _raise(self.connection, sql, arguments, error, sqlite3.Error)

    async def many(self, sql: str, arguments: list[tuple[Any, ...]], begin: bool = True) -> None:
        try:
            self.db.executemany(sql, arguments)
        except sqlite3.Error as error:
            _raise(self.connection, sql, arguments, error, sqlite3.Error)


class _Asyncpg:
    """asyncpg on the connection SQLAlchemy's adapter holds, in the adapter's transaction.

    The adapter begins its transaction with its first statement; when one of these
    comes first, it is begun here, the way the adapter does. This relies on a few of
    SQLAlchemy's private names: the adapter's `_connection`, `_transaction`,
    `_start_transaction` and `_handle_exception`, and the pool's `_invalidate`; every
    PostgreSQL test goes through them (tests/test_direct.py, tests/test_outage.py).
    """

    def __init__(self, connection: AsyncConnection, record: PoolProxiedConnection) -> None:
        adapter: Any = record.dbapi_connection  # SQLAlchemy's AsyncAdapt_asyncpg_connection
        self.connection, self.record, self.adapter = connection, record, adapter
        self.pg = adapter._connection

    async def _begun(self, begin: bool) -> None:
        if begin and not self.open:
            await self.adapter._start_transaction()

    @property
    def open(self) -> bool:
        """Whether a transaction is open."""
        return self.adapter._transaction is not None

    async def begin(self) -> None:
        """Nothing yet: the transaction begins with its first statement, as the adapter's."""

    async def commit(self) -> None:
        """Commit the adapter's transaction, if one is open."""
        await self._end("COMMIT")

    async def rollback(self) -> None:
        """Roll the adapter's transaction back, if one is open."""
        await self._end("ROLLBACK")

    async def _end(self, sql: str) -> None:
        transaction = self.adapter._transaction
        if transaction is None:
            return
        end = transaction.commit if sql == "COMMIT" else transaction.rollback
        try:
            await self.adapter._call_and_discard(end)  # the adapter's own, as it ends one
        except Exception as error:
            await self._raise(sql, (), error)

    # `begin`: begin the transaction first, if none is open (else: in it, if one is)

    async def fetch(self, sql: str, arguments: tuple[Any, ...], begin: bool = True) -> list[Any]:
        try:
            await self._begun(begin)
            return list(await self.pg.fetch(sql, *arguments))
        except Exception as error:
            await self._raise(sql, arguments, error)

    async def fetchmany(self, sql: str, arguments: list[tuple[Any, ...]]) -> list[Any]:
        """Each set of arguments' rows, outside a transaction: one of its own, implicit."""
        try:
            return list(await self.pg.fetchmany(sql, arguments))
        except Exception as error:
            await self._raise(sql, arguments, error)

    async def count(self, sql: str, arguments: tuple[Any, ...], begin: bool = True) -> int:
        try:
            await self._begun(begin)
            status: str = await self.pg.execute(sql, *arguments)
        except Exception as error:
            await self._raise(sql, arguments, error)
        return int(status.rsplit(" ", 1)[-1])  # "UPDATE 1", "INSERT 0 1"

    async def many(self, sql: str, arguments: list[tuple[Any, ...]], begin: bool = True) -> None:
        try:
            await self._begun(begin)
            await self.pg.executemany(sql, arguments)
        except Exception as error:
            await self._raise(sql, arguments, error)

    async def _raise(self, sql: str, arguments: Sequence[Any], error: Exception) -> NoReturn:
        try:
            self.adapter._handle_exception(error)  # asyncpg's error as the DB-API's
        except Exception as translated:
            error = translated
        dialect = self.connection.dialect
        if dialect.is_disconnect(error, self.adapter, None):  # type: ignore[arg-type]
            # as SQLAlchemy does: the server went away, so every connection made before
            # now is replaced when next taken from the pool, and this one at once
            self.connection.sync_engine.pool._invalidate(self.record, error)
            await self.connection.invalidate(error)
        _raise(self.connection, sql, arguments, error, dialect.loaded_dbapi.Error)


def _raise(
    connection: AsyncConnection,
    sql: str,
    arguments: Sequence[Any],
    error: Exception,
    base: type[Exception],
) -> NoReturn:
    if not isinstance(error, base):
        raise error  # not the database's (an OSError): as it is, as SQLAlchemy does
    raise DBAPIError.instance(
        sql,
        arguments,
        error,
        base,
        connection_invalidated=connection.invalidated,
        dialect=connection.dialect,
    ) from error


Driver = _Sqlite | _Asyncpg


def driver(connection: AsyncConnection) -> Driver:
    """The driver's connection under `connection`, for statements and its transaction."""
    record = connection.sync_connection.connection if connection.sync_connection else None
    if record is None:
        raise RuntimeError("no connection to run a statement on")
    driver = record.driver_connection
    if isinstance(driver, InlineConnection):
        return _Sqlite(connection, driver)
    return _Asyncpg(connection, record)
