"""The outbox: every outgoing message is a row first, then a delivery."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    Integer,
    String,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    or_,
    tuple_,
    update,
)
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import alone as may_go_alone
from storage.direct import Direct
from storage.tables import WAITING, OutboxMessage

REPLY, REMINDER, BROADCAST = 0, 10, 20  # priorities: lower goes first
DEFAULT_LEASE = timedelta(seconds=60)

_table = SQLModel.metadata.tables[OutboxMessage.__tablename__]
OutboxRow = dict[str, Any]  # an outbox row's column values, as flows.notify makes them


@dataclass(frozen=True)
class ClaimedMessage:
    """A message taken for sending, as it was when taken; its row changes by `id`."""

    id: int
    person_id: int | None
    channel: str
    address: str
    locale: str
    timezone: str
    body: dict[str, Any]
    priority: int
    urgent: bool
    replaces: str | None
    status: str
    attempts: int


_CLAIMED = [_table.c[name] for name in ClaimedMessage.__dataclass_fields__]


@functools.cache
def _insert(columns: tuple[str, ...]) -> Direct:
    """An INSERT of these columns (each kind of message gives the same ones)."""
    return Direct(insert(_table), columns)


_MARK_SENT = Direct(
    update(_table)
    .where(_table.c.id == bindparam("sent_id"))
    .values(
        status="sent",
        claimed_until=None,
        provider_id=bindparam("sent_provider_id"),
        failure_reason=None,
    ),
    ("sent_at",),  # a parameter named as its column: a value to set
)


@functools.cache
def _claim_statement(
    channels: int, by_address: bool, bulk: bool | None, side_by_side: bool
) -> Direct:
    """Built once per shape, with its values bound at each claim (building and keying a
    statement costs more than running it). Parameters named like a column would be
    taken as values to set, hence `claim_`. `side_by_side`: claims can run at the same
    moment (PostgreSQL; SQLite's take turns)."""
    c = _table.c
    now: BindParameter[datetime] = bindparam("claim_now")
    due = or_(
        (c.status == "queued") & (c.next_attempt_at <= now),
        (c.status == "sending") & (c.claimed_until < now),
    )
    # A chat's messages go in order, whichever worker sends them: none is taken while
    # one of the same kind (reply, or bulk) is on its way to that chat, claimed by this
    # or another process with its lease running; those taken together go in order. The
    # chats with a message on its way are few and looked up once per claim (a hashed
    # NOT IN): a correlated NOT EXISTS was planned as a loop over every due row, which
    # took up to a second a claim with a broadcast queued.
    kind = c.priority >= REMINDER
    sending = _table.alias("sending")
    on_its_way = select(sending.c.channel, sending.c.address, sending.c.priority >= REMINDER)
    on_its_way = on_its_way.where(sending.c.status == "sending", sending.c.claimed_until >= now)
    waiting = tuple_(c.channel, c.address, kind).in_(on_its_way)
    named: list[BindParameter[str]] = [bindparam(f"claim_channel_{n}") for n in range(channels)]
    chosen = select(c.id).where(c.channel.in_(named), due, ~waiting)
    if by_address:
        chosen = chosen.where(c.address == bindparam("claim_address"))
    if bulk is not None:  # only reminders and broadcasts, or only the rest
        chosen = chosen.where(kind if bulk else c.priority < REMINDER)
    chosen = (
        chosen.order_by(c.priority, c.id)
        .limit(bindparam("claim_limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )
    claiming = update(_table).values(
        status="sending", claimed_until=bindparam("claim_until"), attempts=c.attempts + 1
    )
    if not side_by_side:
        return Direct(claiming.where(c.id.in_(chosen.scalar_subquery())).returning(*_CLAIMED))
    picked = chosen.cte("picked")
    # Nor is one taken while one before it (in the claim's order) of the same chat and
    # kind, due or on its way, is not taken with it: another worker may be claiming that
    # one right now, in a statement not yet committed, so that this one skipped it
    # (locked) and sees it queued. Nothing else can keep such a one out of the rows
    # picked, so a row held back here never stands in the way of the next claim.
    # Looked up for the few rows picked, in the index of waiting messages by chat.
    earlier = _table.alias("earlier")
    before_it = select(earlier.c.id).where(
        earlier.c.channel == c.channel,
        earlier.c.address == c.address,
        tuple_(earlier.c.priority, earlier.c.id) < tuple_(c.priority, c.id),
        (earlier.c.priority >= REMINDER) == kind,
        # the index's own condition, written as it is: the planner need not prove it
        earlier.c.status.in_([literal_column(f"'{status}'") for status in WAITING]),
        or_(
            (earlier.c.status == "queued") & (earlier.c.next_attempt_at <= now),
            earlier.c.status == "sending",
        ),
        earlier.c.id.not_in(select(picked.c.id)),
    )
    taken = claiming.where(c.id.in_(select(picked.c.id)), ~before_it.exists())
    return Direct(taken.returning(*_CLAIMED))


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, message: OutboxMessage) -> None:
        self.session.add(message)

    async def add_rows(self, rows: Sequence[OutboxRow]) -> None:
        """Queue messages in one statement (a reply's few, or a broadcast's thousands)."""
        if rows:
            connection = await self.session.connection()
            # in their order (it is the order of sending), a run of the same shape at once
            for columns, run in itertools.groupby(rows, key=tuple):
                await _insert(columns).many(connection, list(run))

    async def claim(
        self,
        now: datetime,
        *,
        channels: Sequence[str],
        address: str | None = None,
        limit: int = 50,
        lease: timedelta = DEFAULT_LEASE,
        bulk: bool | None = None,
        alone: bool = False,
    ) -> list[ClaimedMessage]:
        """Take due messages for sending, highest priority first.

        A message stays claimed for `lease`; one whose sender died is taken again
        after that, so a crash re-sends at most the messages that were in flight.
        `bulk` takes only reminders and broadcasts (True) or only the rest (False).
        Concurrent claimers skip each other's rows on PostgreSQL (SKIP LOCKED);
        SQLite serialises them with BEGIN IMMEDIATE. One statement: this runs for every
        reply sent. `alone`: the unit of work writes nothing else (storage.direct).
        """
        connection = await self.session.connection()
        side_by_side = connection.dialect.name == "postgresql"
        statement = _claim_statement(len(channels), address is not None, bulk, side_by_side)
        parameters = {
            "claim_now": now,
            "claim_until": now + lease,
            "claim_address": address,
            "claim_limit": limit,
            **{f"claim_channel_{n}": channel for n, channel in enumerate(channels)},
        }
        alone = alone and may_go_alone(self.session)
        rows = await statement.rows(connection, parameters, alone=alone)
        # RETURNING keeps no order
        return sorted((ClaimedMessage(*row) for row in rows), key=lambda m: (m.priority, m.id))

    async def get(self, message_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, message_id)

    async def by_provider_id(self, provider_id: str) -> OutboxMessage | None:
        query = select(OutboxMessage).where(OutboxMessage.provider_id == provider_id)
        return (await self.session.exec(query)).first()

    async def mark_sent(
        self, sent: Sequence[tuple[int, str | None]], now: datetime, *, alone: bool = False
    ) -> None:
        """Messages the platform took, by id with the id it gave them (if any); `alone`:
        the unit of work writes nothing else (storage.direct)."""
        if not sent:
            return
        connection = await self.session.connection()
        values = [{"sent_id": i, "sent_provider_id": p, "sent_at": now} for i, p in sent]
        await _MARK_SENT.many(connection, values, alone=alone and may_go_alone(self.session))

    async def mark_failed(self, message: OutboxMessage, reason: str) -> None:
        message.status, message.claimed_until = "failed", None
        message.failure_reason = reason[:255]
        await self.session.flush()

    async def mark_skipped(self, message: OutboxMessage, reason: str) -> None:
        """Done without sending: a live message the channel cannot show, or an old one."""
        message.status, message.claimed_until = "skipped", None
        message.failure_reason = reason[:255]
        await self.session.flush()

    async def live(self, message: OutboxMessage) -> tuple[OutboxMessage | None, bool]:
        """For a live message: the last one sent with its tag to the same chat (the one it
        replaces), and whether a newer one with the tag waits (so this one is stale)."""
        same = select(OutboxMessage).where(
            OutboxMessage.channel == message.channel,
            OutboxMessage.address == message.address,
            OutboxMessage.replaces == message.replaces,
            col(OutboxMessage.id) != message.id,
        )
        newer = same.where(
            col(OutboxMessage.id) > (message.id or 0),
            col(OutboxMessage.status).in_(WAITING),
        )
        earlier = same.where(
            col(OutboxMessage.id) < (message.id or 0),
            col(OutboxMessage.status).in_(["sent", "delivered", "read"]),
            col(OutboxMessage.provider_id).is_not(None),
        ).order_by(col(OutboxMessage.id).desc())
        stale = (await self.session.exec(newer.limit(1))).first() is not None
        return (await self.session.exec(earlier.limit(1))).first(), stale

    async def skip_live(self, tag: str, reason: str) -> int:
        """Live messages with this tag still waiting are not sent after all."""
        query = select(OutboxMessage).where(
            OutboxMessage.replaces == tag, OutboxMessage.status == "queued"
        )
        waiting = (await self.session.exec(query)).all()
        for message in waiting:
            await self.mark_skipped(message, reason)
        return len(waiting)

    async def retry_at(self, message: OutboxMessage, when: datetime, reason: str) -> None:
        message.status, message.claimed_until = "queued", None
        message.next_attempt_at, message.failure_reason = when, reason[:255]
        await self.session.flush()

    async def defer(self, message_id: int, until: datetime, reason: str) -> None:
        """Put a claimed message back until `until`, without counting it as an attempt."""
        message = await self.get(message_id)
        if message is not None:
            await self.retry_at(message, until, reason)
            message.attempts = max(0, message.attempts - 1)

    async def depth(self) -> dict[tuple[str, int], int]:
        """Messages waiting, by channel and priority."""
        rows = await self.session.exec(
            select(OutboxMessage.channel, OutboxMessage.priority, func.count())
            .where(col(OutboxMessage.status).in_(WAITING))
            .group_by(col(OutboxMessage.channel), col(OutboxMessage.priority))
        )
        return {(channel, priority): count for channel, priority, count in rows.all()}

    async def latest_to(
        self, channel: str, address: str, limit: int = 10
    ) -> Sequence[OutboxMessage]:
        """The last messages queued for one chat, newest first."""
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.channel == channel, OutboxMessage.address == address)
            .order_by(col(OutboxMessage.id).desc())
            .limit(limit)
        )
        return (await self.session.exec(query)).all()

    async def offered(self, person_id: int, choice_id: str) -> bool:
        """Whether a message to this person ever carried the button `choice_id`."""
        quoted = f'"{choice_id}"'.replace("%", "").replace("_", "\\_")
        query = (
            select(OutboxMessage.id)
            .where(OutboxMessage.person_id == person_id)
            .where(cast(OutboxMessage.body, String).like(f"%{quoted}%", escape="\\"))
            .limit(1)
        )
        return (await self.session.exec(query)).first() is not None

    async def for_person(self, person_id: int) -> Sequence[OutboxMessage]:
        query = select(OutboxMessage).where(OutboxMessage.person_id == person_id)
        return (await self.session.exec(query.order_by(col(OutboxMessage.id)))).all()
