"""Reminders: rows with a due time, planned with what they remind of, fired once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import Reminder


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def plan(
        self, kind: str, subject: str, due: Mapping[str, datetime], now: datetime
    ) -> list[Reminder]:
        """Make `subject`'s pending reminders of `kind` the ones in `due` (label → time).

        Called again when the subject moves: the old times are cancelled, so a moved
        shift never reminds at its old time. Times already past are not planned.
        """
        await self.cancel(subject, "re-planned", kind=kind)
        planned = [
            Reminder(kind=kind, subject=subject, label=label, due_at=when)
            for label, when in due.items()
            if when > now
        ]
        self.session.add_all(planned)
        await self.session.flush()
        return planned

    def add(self, kind: str, subject: str, label: str, due_at: datetime) -> Reminder:
        """One more reminder, beside those already planned."""
        reminder = Reminder(kind=kind, subject=subject, label=label, due_at=due_at)
        self.session.add(reminder)
        return reminder

    async def cancel(self, subject: str, reason: str, kind: str | None = None) -> int:
        """Pending reminders about `subject` (of `kind` only, if given) will not fire."""
        query = select(Reminder).where(Reminder.subject == subject, Reminder.status == "pending")
        if kind is not None:
            query = query.where(Reminder.kind == kind)
        cancelled = (await self.session.exec(query)).all()
        for reminder in cancelled:
            reminder.status, reminder.reason = "cancelled", reason
        await self.session.flush()
        return len(cancelled)

    async def claim_due(self, now: datetime, limit: int = 100) -> Sequence[Reminder]:
        """Due reminders, locked until this transaction ends.

        Other processes skip the locked rows (SKIP LOCKED on PostgreSQL; SQLite has one
        writer), and the caller marks each one fired or skipped before committing: so
        each reminder fires once, however many schedulers run.
        """
        query = (
            select(Reminder)
            .where(Reminder.status == "pending", col(Reminder.due_at) <= now)
            .order_by(col(Reminder.due_at), col(Reminder.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.exec(query)).all()

    def fired(self, reminder: Reminder, now: datetime, recipients: int) -> None:
        reminder.status, reminder.fired_at, reminder.recipients = "sent", now, recipients

    def skipped(self, reminder: Reminder, now: datetime, reason: str) -> None:
        reminder.status, reminder.fired_at, reminder.reason = "skipped", now, reason[:160]

    async def about(self, subject: str) -> Sequence[Reminder]:
        query = select(Reminder).where(Reminder.subject == subject).order_by(col(Reminder.id))
        return (await self.session.exec(query)).all()

    async def pending(self) -> Sequence[Reminder]:
        query = (
            select(Reminder)
            .where(Reminder.status == "pending")
            .order_by(col(Reminder.due_at), col(Reminder.id))
        )
        return (await self.session.exec(query)).all()
