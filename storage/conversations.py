"""Conversation state per person, saved with optimistic concurrency."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.direct import Direct
from storage.tables import ConversationState, utcnow


class ConcurrencyConflict(Exception):
    """Someone else saved this conversation since it was loaded: handle the update again."""


@dataclass
class Conversation:
    person_id: int
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    version: int | None = None  # None: not saved yet

    @classmethod
    def stored(
        cls,
        person_id: int,
        step: str | None,
        data: dict[str, Any],
        history: list[str],
        version: int | None,
    ) -> Conversation:
        """From the columns of a saved conversation (none of them, if it was never saved)."""
        if version is None:
            return cls(person_id)
        return cls(person_id, step, dict(data), list(history), version)


_table = SQLModel.metadata.tables[ConversationState.__tablename__]
# built once: the conversation is read and saved on every message
STORED = (_table.c.step, _table.c.data, _table.c.history, _table.c.version)
_LOAD = select(*STORED).where(_table.c.person_id == bindparam("load_person_id"))
_SAVE = Direct(
    update(_table).where(
        _table.c.person_id == bindparam("save_person_id"),
        _table.c.version == bindparam("save_version"),
    ),
    ("step", "data", "history", "updated_at", "version"),
)


class ConversationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(self, person_id: int) -> Conversation:
        connection = await self.session.connection()
        row = (await connection.execute(_LOAD, {"load_person_id": person_id})).first()
        return Conversation.stored(person_id, *row) if row else Conversation(person_id)

    async def save(self, conversation: Conversation) -> None:
        """Insert or update; raise ConcurrencyConflict if the version moved meanwhile."""
        values = {
            "step": conversation.step,
            "data": conversation.data,
            "history": conversation.history,
            "updated_at": utcnow(),
        }
        connection = await self.session.connection()
        if conversation.version is None:
            try:
                async with self.session.begin_nested():
                    await connection.execute(
                        insert(_table).values(person_id=conversation.person_id, version=1, **values)
                    )
            except IntegrityError as error:
                raise ConcurrencyConflict(conversation.person_id) from error
            conversation.version = 1
            return
        saved = await _SAVE.count(
            connection,
            {
                "save_person_id": conversation.person_id,
                "save_version": conversation.version,
                "version": conversation.version + 1,
                **values,
            },
        )
        if saved != 1:
            raise ConcurrencyConflict(conversation.person_id)
        conversation.version += 1
