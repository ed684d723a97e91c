"""The audit log: who did what, when. Rows outlive the people they mention."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import AuditEntry


class AuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self, actor: str, action: str, subject: str | None = None, **details: Any
    ) -> None:
        self.session.add(AuditEntry(actor=actor, action=action, subject=subject, details=details))

    async def entries(
        self, action: str | None = None, about: str | None = None
    ) -> Sequence[AuditEntry]:
        """Entries of one action, and/or where `about` ("person:12") is actor or subject."""
        query = select(AuditEntry).order_by(col(AuditEntry.id))
        if action is not None:
            query = query.where(AuditEntry.action == action)
        if about is not None:
            query = query.where(
                or_(col(AuditEntry.actor) == about, col(AuditEntry.subject) == about)
            )
        return (await self.session.exec(query)).all()
