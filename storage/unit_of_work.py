"""The database handle and the unit of work: one transaction, all repositories."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.assemblies import AssemblyRepository
from storage.audit import AuditLog
from storage.broadcasts import BroadcastRepository
from storage.conversations import ConversationRepository
from storage.database import create_engine, is_sqlite, session_factory
from storage.inbound import InboundRepository
from storage.members import MemberRepository
from storage.outbox import OutboxRepository
from storage.people import PeopleRepository
from storage.reminders import ReminderRepository
from storage.requests import RequestRepository
from storage.shifts import ShiftRepository
from storage.workers import WorkerRepository


class UnitOfWork:
    """Everything done inside `async with` is committed together, or not at all."""

    session: AsyncSession
    people: PeopleRepository
    conversations: ConversationRepository
    outbox: OutboxRepository
    inbound: InboundRepository
    audit: AuditLog
    requests: RequestRepository
    shifts: ShiftRepository
    reminders: ReminderRepository
    broadcasts: BroadcastRepository
    members: MemberRepository
    assemblies: AssemblyRepository
    workers: WorkerRepository

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], writer: asyncio.Lock | None = None
    ) -> None:
        self._sessions = sessions
        self._writer = writer

    async def __aenter__(self) -> Self:
        if self._writer is not None:
            await self._writer.acquire()
        self.session = self._sessions()
        self.people = PeopleRepository(self.session)
        self.conversations = ConversationRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.inbound = InboundRepository(self.session)
        self.audit = AuditLog(self.session)
        self.requests = RequestRepository(self.session)
        self.shifts = ShiftRepository(self.session)
        self.reminders = ReminderRepository(self.session)
        self.broadcasts = BroadcastRepository(self.session)
        self.members = MemberRepository(self.session)
        self.assemblies = AssemblyRepository(self.session)
        self.workers = WorkerRepository(self.session)
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
            await self.session.close()
            if self._writer is not None:
                self._writer.release()


class Database:
    """One engine per process; hands out units of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine = create_engine(url)
        self._sessions = session_factory(self.engine)
        # SQLite has one writer: taking turns here is much faster than SQLite's own
        # busy-wait, which sleeps up to 100 ms at a time when transactions collide
        self._writer = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self._sessions, self._writer)

    async def dispose(self) -> None:
        await self.engine.dispose()
