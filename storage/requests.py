"""Support requests and their history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import ReferenceCounter, RequestEvent, SupportRequest, utcnow

OPEN = ("new", "triaged", "scheduled")
_counter = SQLModel.metadata.tables[ReferenceCounter.__tablename__]


class RequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def next_reference(self, year: int) -> str:
        """R-<year>-<n>: numbers go up by one a year, also with several workers."""
        connection = await self.session.connection()
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        await connection.execute(
            insert(_counter).values(year=year, last=0).on_conflict_do_nothing()
        )
        result = await connection.execute(
            update(_counter)
            .where(_counter.c.year == year)
            .values(last=_counter.c.last + 1)
            .returning(_counter.c.last)
        )
        return f"R-{year}-{result.scalar_one():04d}"

    async def add(self, request: SupportRequest, actor: str) -> SupportRequest:
        self.session.add(request)
        await self.session.flush()
        assert request.id is not None
        await self.add_event(request, actor, "created", status=request.status)
        return request

    async def add_event(
        self,
        request: SupportRequest,
        actor: str,
        kind: str,
        *,
        status: str | None = None,
        text: str | None = None,
    ) -> None:
        assert request.id is not None
        self.session.add(
            RequestEvent(request_id=request.id, actor=actor, kind=kind, status=status, text=text)
        )
        request.updated_at = utcnow()
        await self.session.flush()

    async def change_status(
        self, request: SupportRequest, status: str, actor: str, reason: str | None = None
    ) -> None:
        request.status = status
        await self.add_event(request, actor, "status", status=status, text=reason)

    async def get(self, request_id: int) -> SupportRequest | None:
        return await self.session.get(SupportRequest, request_id)

    async def by_reference(self, reference: str) -> SupportRequest | None:
        query = select(SupportRequest).where(SupportRequest.reference == reference.upper())
        return (await self.session.exec(query)).first()

    async def of_family(self, person_id: int) -> Sequence[SupportRequest]:
        query = (
            select(SupportRequest)
            .where(SupportRequest.family_person_id == person_id)
            .order_by(col(SupportRequest.id).desc())
        )
        return (await self.session.exec(query)).all()

    async def listing(self, status: str | None = None) -> Sequence[SupportRequest]:
        query = select(SupportRequest).order_by(col(SupportRequest.id))
        if status is not None:
            query = query.where(SupportRequest.status == status)
        return (await self.session.exec(query)).all()

    async def events(self, request_id: int) -> Sequence[RequestEvent]:
        query = (
            select(RequestEvent)
            .where(RequestEvent.request_id == request_id)
            .order_by(col(RequestEvent.id))
        )
        return (await self.session.exec(query)).all()

    async def purge_closed(self, before: datetime) -> int:
        """Closed or cancelled requests untouched since `before` lose their personal details;
        category, zone, dates and statuses stay for the social report's counts."""
        query = select(SupportRequest).where(
            col(SupportRequest.status).in_(["closed", "cancelled"]),
            col(SupportRequest.updated_at) < before,
            col(SupportRequest.family_person_id).is_not(None)
            | col(SupportRequest.notes).is_not(None),
        )
        purged = (await self.session.exec(query)).all()
        for request in purged:
            request.notes, request.family_person_id = None, None
            assert request.id is not None
            await self.session.exec(
                update(RequestEvent)
                .where(col(RequestEvent.request_id) == request.id)
                .values(text=None)
            )
        await self.session.flush()
        return len(purged)

    async def counts(self, year: int) -> list[tuple[str, str, str, int]]:
        """(month, category, zone, requests) of a year, for the social report."""
        start, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
        query = select(SupportRequest).where(
            col(SupportRequest.created_at) >= start, col(SupportRequest.created_at) < end
        )
        tally: dict[tuple[str, str, str], int] = {}
        for request in (await self.session.exec(query)).all():
            key = (request.created_at.strftime("%Y-%m"), request.category, request.zone)
            tally[key] = tally.get(key, 0) + 1
        return [(*key, count) for key, count in sorted(tally.items())]

    async def forget_family(self, person_id: int) -> None:
        """On erasure: the requests stay for the counts, without notes or their author."""
        for request in await self.of_family(person_id):
            request.notes, request.family_person_id = None, None
        await self.session.flush()
