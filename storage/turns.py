"""A step's turn: what one message leaves behind (its conversation saved, its id recorded
as handled, its replies and notifications queued), written together.

On PostgreSQL that is one statement:

    WITH saved AS (UPDATE conversation_state … WHERE version = … RETURNING person_id),
         recorded AS (INSERT INTO processed_inbound … SELECT … FROM saved),
         queued AS (INSERT INTO outbox … SELECT … FROM saved)
    SELECT count(*) FROM saved

so nothing is recorded or queued unless the conversation was saved; and when the step
wrote nothing else, it runs outside a transaction (a single statement is atomic). A
message's step is then two round trips: what it reads (`PeopleRepository.arriving`)
and this. On SQLite, where a statement costs no round trip, three statements.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.conversations import ConcurrencyConflict, Conversation, ConversationRepository
from storage.database import alone
from storage.direct import Direct
from storage.inbound import InboundRepository
from storage.outbox import OutboxRepository, OutboxRow
from storage.tables import ConversationState, OutboxMessage, ProcessedInbound, utcnow

_tables = SQLModel.metadata.tables
_states = _tables[ConversationState.__tablename__]
_inbound = _tables[ProcessedInbound.__tablename__]
_outbox = _tables[OutboxMessage.__tablename__]
_SAVED = ("step", "data", "history", "updated_at")
# a step's reply and its few notifications; more (a coordinator's notice to everyone on
# a shift) go as one INSERT of their own, in the transaction: one statement per count
# of rows is compiled and kept, and PostgreSQL takes at most 32,767 parameters
TOGETHER_ROWS = 8


@dataclass(frozen=True)
class Turn:
    conversation: Conversation | None  # None: the person erased themselves, none to keep
    channel: str
    inbound_id: str | None  # None: a message without an id (the terminal's)
    rows: Sequence[OutboxRow]  # in the order they go


class TurnRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def save(self, turn: Turn) -> None:
        """The step's last write. Raise ConcurrencyConflict if the conversation moved, or
        the message was handled, since they were read (handle the message again)."""
        connection = await self.session.connection()
        conversation = turn.conversation
        shapes = {tuple(row) for row in turn.rows}
        together = connection.dialect.name == "postgresql" and len(shapes) <= 1
        together = together and len(turn.rows) <= TOGETHER_ROWS
        if together and conversation is not None:
            await self._together(connection, conversation, turn, shapes.pop() if shapes else ())
            return
        if turn.inbound_id is not None:
            inbound = InboundRepository(self.session)
            if not await inbound.first_time(turn.channel, turn.inbound_id):
                raise ConcurrencyConflict(turn.inbound_id)
        if conversation is not None:
            await ConversationRepository(self.session).save(conversation)
        await OutboxRepository(self.session).add_rows(turn.rows)

    async def _together(
        self,
        connection: AsyncConnection,
        conversation: Conversation,
        turn: Turn,
        columns: tuple[str, ...],
    ) -> None:
        now = utcnow()
        values: dict[str, Any] = {
            "turn_person_id": conversation.person_id,
            "turn_version": conversation.version,
            "turn_step": conversation.step,
            "turn_data": conversation.data,
            "turn_history": conversation.history,
            "turn_updated_at": now,
            "turn_channel": turn.channel,
            "turn_inbound_id": turn.inbound_id,
            "turn_received_at": now,
        }
        for n, row in enumerate(turn.rows):  # each row has `columns`, in that order
            values.update(zip(_queued(n, columns), row.values(), strict=True))
        new = conversation.version is None
        statement = _statement(new, turn.inbound_id is not None, columns, len(turn.rows))
        try:
            if alone(self.session):  # committed as it ends: with other steps' turns
                saved = await statement.row_together(connection, values)
            else:
                saved = (await statement.rows(connection, values))[0]
        except IntegrityError as error:  # the message's id: handled meanwhile
            raise ConcurrencyConflict(conversation.person_id) from error
        if saved[0] != 1:
            raise ConcurrencyConflict(conversation.person_id)
        conversation.version = 1 if new else (conversation.version or 0) + 1


@functools.cache
def _queued(n: int, columns: tuple[str, ...]) -> tuple[str, ...]:
    """The parameters of the n-th queued row."""
    return tuple(f"queued_{n}_{name}" for name in columns)


@functools.lru_cache(maxsize=64)
def _statement(new: bool, recorded: bool, columns: tuple[str, ...], rows: int) -> Direct:
    """The turn's statement, built once for each shape (a new conversation or a saved
    one, with an id to record or not, how many rows to queue)."""
    s = _states.c
    given = {name: bindparam(f"turn_{name}", type_=s[name].type) for name in _SAVED}
    person = bindparam("turn_person_id", type_=s.person_id.type)
    if new:
        saving: Any = pg_insert(_states).values(person_id=person, version=1, **given)
        saving = saving.on_conflict_do_nothing()
    else:
        version = bindparam("turn_version", type_=s.version.type)
        saving = update(_states).where(s.person_id == person, s.version == version)
        saving = saving.values(version=s.version + 1, **given)
    saved = saving.returning(s.person_id).cte("saved")
    written = []
    if recorded:
        i = _inbound.c
        record = select(
            bindparam("turn_channel", type_=i.channel.type),
            bindparam("turn_inbound_id", type_=i.inbound_id.type),
            bindparam("turn_received_at", type_=i.received_at.type),
        ).select_from(saved)
        names = ["channel", "inbound_id", "received_at"]
        recording = insert(_inbound).from_select(names, record, include_defaults=False)
        written.append(recording.cte("recorded"))
    if rows:
        each = [
            select(
                *(
                    bindparam(name, type_=_outbox.c[c].type)
                    for name, c in zip(_queued(n, columns), columns, strict=True)
                )
            ).select_from(saved)
            for n in range(rows)
        ]
        queue = each[0] if rows == 1 else union_all(*each)
        queued = insert(_outbox).from_select(list(columns), queue, include_defaults=False)
        written.append(queued.cte("queued"))
    return Direct(select(func.count()).select_from(saved).add_cte(*written))
