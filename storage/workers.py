"""The `cisono run` processes sharing a database, each noting now and then that it runs."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import Worker

FORGOTTEN = timedelta(days=1)  # a worker not seen for this long is dropped (it died)


class WorkerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def seen(self, name: str, now: datetime, within: timedelta) -> int:
        """Note that `name` runs; how many workers ran within `within` (this one too)."""
        worker = await self.session.get(Worker, name)
        if worker is None:
            self.session.add(Worker(name=name, seen_at=now))
        else:
            worker.seen_at = now
        await self.session.flush()
        await self.session.exec(delete(Worker).where(col(Worker.seen_at) < now - FORGOTTEN))
        live = select(func.count()).select_from(Worker).where(col(Worker.seen_at) >= now - within)
        return int((await self.session.exec(live)).one())

    async def gone(self, name: str) -> None:
        """`name` stops: the others take its share at once."""
        await self.session.exec(delete(Worker).where(col(Worker.name) == name))
