"""The outbox: every outgoing message is a row first, then a delivery."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import String, cast, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import OutboxMessage

REPLY, REMINDER, BROADCAST = 0, 10, 20  # priorities: lower goes first
DEFAULT_LEASE = timedelta(seconds=60)


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, message: OutboxMessage) -> None:
        self.session.add(message)

    async def claim(
        self,
        now: datetime,
        *,
        channels: Sequence[str],
        address: str | None = None,
        limit: int = 50,
        lease: timedelta = DEFAULT_LEASE,
        bulk: bool | None = None,
    ) -> list[OutboxMessage]:
        """Take due messages for sending, highest priority first.

        A message stays claimed for `lease`; one whose sender died is taken again
        after that, so a crash re-sends at most the messages that were in flight.
        `bulk` takes only reminders and broadcasts (True) or only the rest (False).
        Concurrent claimers skip each other's rows on PostgreSQL (SKIP LOCKED);
        SQLite serialises them with BEGIN IMMEDIATE.
        """
        due = or_(
            (col(OutboxMessage.status) == "queued") & (col(OutboxMessage.next_attempt_at) <= now),
            (col(OutboxMessage.status) == "sending") & (col(OutboxMessage.claimed_until) < now),
        )
        query = select(OutboxMessage).where(col(OutboxMessage.channel).in_(channels), due)
        if address is not None:
            query = query.where(OutboxMessage.address == address)
        if bulk is not None:  # only reminders and broadcasts, or only the rest
            priority = col(OutboxMessage.priority)
            query = query.where(priority >= REMINDER if bulk else priority < REMINDER)
        query = (
            query.order_by(col(OutboxMessage.priority), col(OutboxMessage.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        messages = list((await self.session.exec(query)).all())
        for message in messages:
            message.status = "sending"
            message.claimed_until = now + lease
            message.attempts += 1
        await self.session.flush()
        return messages

    async def get(self, message_id: int) -> OutboxMessage | None:
        return await self.session.get(OutboxMessage, message_id)

    async def by_provider_id(self, provider_id: str) -> OutboxMessage | None:
        query = select(OutboxMessage).where(OutboxMessage.provider_id == provider_id)
        return (await self.session.exec(query)).first()

    async def mark_sent(
        self, message: OutboxMessage, now: datetime, provider_id: str | None = None
    ) -> None:
        message.status, message.sent_at, message.claimed_until = "sent", now, None
        message.provider_id = provider_id
        message.failure_reason = None
        await self.session.flush()

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
            col(OutboxMessage.status).in_(["queued", "sending"]),
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
            .where(col(OutboxMessage.status).in_(["queued", "sending"]))
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
