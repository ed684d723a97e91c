"""Shifts and who is on them; places are taken race-safely, first come, first served."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import Shift, ShiftAssignment, VolunteerProfile, utcnow

HOLDING = ("confirmed", "checked_in", "completed")  # statuses that take a place


class ShiftRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, shift: Shift) -> Shift:
        self.session.add(shift)
        await self.session.flush()
        return shift

    async def get(self, shift_id: int) -> Shift | None:
        return await self.session.get(Shift, shift_id)

    async def load(self, shift_ids: Collection[int]) -> Sequence[Shift]:
        """These shifts in one query; `get` then finds them in the session."""
        if not shift_ids:
            return []
        query = select(Shift).where(col(Shift.id).in_(shift_ids))
        return (await self.session.exec(query)).all()

    async def lock(self, shift_id: int) -> Shift | None:
        """The shift, locked until commit: concurrent takers of its places queue here
        (SELECT … FOR UPDATE on PostgreSQL; SQLite has a single writer anyway)."""
        query = select(Shift).where(Shift.id == shift_id).with_for_update()
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    async def listing(self, open_only: bool = False) -> Sequence[Shift]:
        query = select(Shift).order_by(col(Shift.starts_at), col(Shift.id))
        if open_only:
            query = query.where(Shift.status == "open")
        return (await self.session.exec(query)).all()

    async def assignments(self, shift_id: int) -> Sequence[ShiftAssignment]:
        query = (
            select(ShiftAssignment)
            .where(ShiftAssignment.shift_id == shift_id)
            .order_by(col(ShiftAssignment.id))
        )
        return (await self.session.exec(query)).all()

    async def assignment(self, shift_id: int, person_id: int) -> ShiftAssignment | None:
        query = select(ShiftAssignment).where(
            ShiftAssignment.shift_id == shift_id, ShiftAssignment.person_id == person_id
        )
        return (await self.session.exec(query)).first()

    async def taken(self, shift_id: int) -> int:
        return sum(1 for a in await self.assignments(shift_id) if a.status in HOLDING)

    async def overlapping(
        self, person_id: int, starts_at: datetime, ends_at: datetime, other_than: int
    ) -> Shift | None:
        """A shift the person already holds that overlaps [starts_at, ends_at)."""
        query = (
            select(Shift)
            .join(ShiftAssignment, col(ShiftAssignment.shift_id) == col(Shift.id))
            .where(
                ShiftAssignment.person_id == person_id,
                col(ShiftAssignment.status).in_(HOLDING),
                Shift.status == "open",
                Shift.id != other_than,
                col(Shift.starts_at) < ends_at,
                col(Shift.ends_at) > starts_at,
            )
        )
        return (await self.session.exec(query)).first()

    async def of_person(
        self, person_id: int, since: datetime
    ) -> Sequence[tuple[Shift, ShiftAssignment]]:
        query = (
            select(Shift, ShiftAssignment)
            .join(ShiftAssignment, col(ShiftAssignment.shift_id) == col(Shift.id))
            .where(ShiftAssignment.person_id == person_id, col(Shift.ends_at) >= since)
            .order_by(col(Shift.starts_at))
        )
        return (await self.session.exec(query)).all()

    async def set_status(self, assignment: ShiftAssignment, status: str) -> None:
        assignment.status, assignment.updated_at = status, utcnow()
        await self.session.flush()

    async def assign(self, shift_id: int, person_id: int, status: str) -> ShiftAssignment:
        existing = await self.assignment(shift_id, person_id)
        if existing is None:
            existing = ShiftAssignment(shift_id=shift_id, person_id=person_id, status=status)
            self.session.add(existing)
            await self.session.flush()
        else:
            await self.set_status(existing, status)
        return existing

    async def profile(self, person_id: int) -> VolunteerProfile | None:
        return await self.session.get(VolunteerProfile, person_id)

    async def save_profile(
        self, person_id: int, skills: list[str], zones: list[str], days: str
    ) -> VolunteerProfile:
        profile = await self.profile(person_id) or VolunteerProfile(person_id=person_id)
        profile.skills, profile.zones, profile.days = skills, zones, days
        profile.updated_at = utcnow()
        self.session.add(profile)
        await self.session.flush()
        return profile

    async def hours(self, since: datetime, until: datetime) -> dict[int, float]:
        """Hours of completed shifts per person, for shifts starting in [since, until)."""
        query = (
            select(Shift, ShiftAssignment)
            .join(ShiftAssignment, col(ShiftAssignment.shift_id) == col(Shift.id))
            .where(
                ShiftAssignment.status == "completed",
                col(Shift.starts_at) >= since,
                col(Shift.starts_at) < until,
            )
        )
        totals: dict[int, float] = {}
        for shift, assignment in (await self.session.exec(query)).all():
            duration = (shift.ends_at - shift.starts_at).total_seconds() / 3600
            totals[assignment.person_id] = totals.get(assignment.person_id, 0.0) + duration
        return totals
