"""The database handle and the unit of work: one transaction, all repositories."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.assemblies import AssemblyRepository
from storage.audit import AuditLog
from storage.broadcasts import BroadcastRepository
from storage.connections import KeptConnections
from storage.conversations import ConversationRepository
from storage.database import Session, create_engine, is_sqlite, is_sqlite_file, session_factory
from storage.direct import driver
from storage.inbound import InboundRepository
from storage.members import MemberRepository
from storage.outbox import OutboxRepository
from storage.people import PeopleRepository
from storage.reminders import ReminderRepository
from storage.requests import RequestRepository
from storage.shifts import ShiftRepository
from storage.turns import TurnRepository
from storage.workers import WorkerRepository

R = TypeVar("R")


class _Repository(Generic[R]):
    """A repository of the unit of work, made when first used (a message's step needs
    two or three of the thirteen), then kept in the instance."""

    def __init__(self, make: Callable[[AsyncSession], R]) -> None:
        self.make = make

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, uow: UnitOfWork, owner: type) -> R:
        repository = self.make(uow.session)
        uow.__dict__[self.name] = repository  # found before this descriptor from now on
        return repository


class UnitOfWork:
    """Everything done inside `async with` is committed together, or not at all."""

    session: AsyncSession
    people = _Repository(PeopleRepository)
    conversations = _Repository(ConversationRepository)
    outbox = _Repository(OutboxRepository)
    inbound = _Repository(InboundRepository)
    audit = _Repository(AuditLog)
    requests = _Repository(RequestRepository)
    shifts = _Repository(ShiftRepository)
    reminders = _Repository(ReminderRepository)
    broadcasts = _Repository(BroadcastRepository)
    members = _Repository(MemberRepository)
    assemblies = _Repository(AssemblyRepository)
    workers = _Repository(WorkerRepository)
    turns = _Repository(TurnRepository)

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        writer: asyncio.Lock | None = None,
        connect: Callable[[], Awaitable[AsyncConnection]] | None = None,
        give_back: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> None:
        """`connect`: the connection to work on (else the session takes one from the pool
        when it needs one); `give_back`: what is done with it at the end."""
        self._sessions = sessions
        self._writer = writer
        self._connect = connect
        self._give_back = give_back
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        if self._writer is not None:
            await self._writer.acquire()
        try:
            if self._connect is None:
                self.session = self._sessions()
            else:
                self._connection = await self._connect()
                self.session = self._sessions(bind=self._connection)
                assert isinstance(self.session, Session)
                self.session.hold(self._connection)
        except BaseException:
            await self._let_go()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            try:
                await self.session.close()
            finally:
                await self._let_go()

    async def _let_go(self) -> None:
        """The connection given back (if it was taken for this unit of work), and the
        writer's turn to the next one."""
        try:
            if self._give_back is not None and self._connection is not None:
                await self._give_back(self._connection)
        finally:
            if self._writer is not None:
                self._writer.release()


class Database:
    """One engine per process; hands out units of work."""

    def __init__(self, url: str, pool_size: int | None = None) -> None:
        """`pool_size`: PostgreSQL connections this process keeps (SQLite: ignored)."""
        self.url = url
        pool = {"pool_size": pool_size} if pool_size and not is_sqlite(url) else {}
        self.engine: AsyncEngine = create_engine(url, **pool)
        self._sessions = session_factory(self.engine)
        # SQLite has one writer: taking turns here is much faster than SQLite's own
        # busy-wait, which sleeps up to 100 ms at a time when transactions collide
        self._writer = asyncio.Lock() if self.is_sqlite else None
        # ...and, taking turns, the units of work on a file share one connection, held
        # for the process's life: no pool checkout and return around each (Session).
        # PostgreSQL's take one of the connections kept out of the pool each.
        self._held: AsyncConnection | None = None
        self._holds = is_sqlite_file(url)
        self._kept: KeptConnections | None = None
        if self._writer is None:
            queue: Any = self.engine.pool  # a QueuePool: its size and timeout
            self._kept = KeptConnections(self.engine, queue.size(), queue.timeout())

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def unit_of_work(self) -> UnitOfWork:
        if self._kept is not None:  # PostgreSQL
            kept = self._kept
            return UnitOfWork(self._sessions, connect=kept.take, give_back=kept.give_back)
        return UnitOfWork(self._sessions, self._writer, self._shared if self._holds else None)

    async def ping(self) -> None:
        """A trivial statement, on a connection taken as a unit of work takes one (raises
        what the database says). On PostgreSQL the pool's own connections may all be
        kept out of it between units of work, so not from the pool."""
        if self._kept is None:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return
        connection = await self._kept.take()
        try:
            await driver(connection).fetch("SELECT 1", (), False)
        finally:
            await self._kept.give_back(connection)

    async def _shared(self) -> AsyncConnection:
        """The connection the units of work on a SQLite file take turns on."""
        held = self._held
        if held is None or held.closed or held.invalidated:
            held = self._held = await self.engine.connect()
        return held

    async def dispose(self) -> None:
        if self._kept is not None:
            await self._kept.close()
        if self._held is not None:
            held, self._held = self._held, None
            await held.close()
        await self.engine.dispose()
