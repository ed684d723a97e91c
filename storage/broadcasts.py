"""Broadcasts, who they reach, and how their messages fared."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import (
    WAITING,
    Broadcast,
    ChannelAccount,
    OutboxMessage,
    Person,
    SupportRequest,
    VolunteerProfile,
)

CHUNK = 500  # ids per IN (...) query: well under every database's limit


def origin(broadcast_id: int | None) -> str:
    """The outbox origin of a broadcast's messages."""
    return f"broadcast:{broadcast_id}"


@dataclass
class Figures:
    """How a broadcast's messages fared, from its outbox rows."""

    waiting: int = 0  # queued, or being sent
    sent: int = 0  # accepted by the platform (delivered and read included)
    delivered: int = 0  # the platform confirmed delivery (read included)
    read: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # by reason
    by_channel: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return self.waiting + self.sent + sum(self.failed.values())


class BroadcastRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, broadcast: Broadcast) -> Broadcast:
        self.session.add(broadcast)
        await self.session.flush()
        return broadcast

    async def get(self, broadcast_id: int) -> Broadcast | None:
        return await self.session.get(Broadcast, broadcast_id)

    async def latest(self, limit: int = 20) -> Sequence[Broadcast]:
        query = select(Broadcast).order_by(col(Broadcast.id).desc()).limit(limit)
        return (await self.session.exec(query)).all()

    async def figures(self, broadcast_id: int) -> Figures:
        query = select(
            OutboxMessage.channel,
            OutboxMessage.status,
            OutboxMessage.provider_status,
            OutboxMessage.failure_reason,
        ).where(OutboxMessage.origin == origin(broadcast_id))
        figures = Figures()
        for channel, status, provider_status, reason in (await self.session.exec(query)).all():
            figures.by_channel[channel] += 1
            if status in WAITING:
                figures.waiting += 1
            elif status == "failed":
                figures.failed[reason or "unknown"] += 1
            else:
                figures.sent += 1
                reached = provider_status or status
                figures.delivered += reached in ("delivered", "read")
                figures.read += reached == "read"
        return figures

    async def signed_up(self) -> list[int]:
        query = select(Person.id).where(col(Person.consent_at).is_not(None))
        return [i for i in (await self.session.exec(query)).all() if i is not None]

    async def speaking(self, locale: str, default_locale: str) -> list[int]:
        """Signed-up people who read `locale` (chosen, or the default one)."""
        query = select(Person.id, Person.locale).where(col(Person.consent_at).is_not(None))
        return [
            i
            for i, chosen in (await self.session.exec(query)).all()
            if i is not None and (chosen or default_locale) == locale
        ]

    async def in_zone(self, zone: str) -> list[int]:
        """Volunteers who work in `zone`, and families with a request there."""
        volunteers = (await self.session.exec(select(VolunteerProfile))).all()
        families = await self.session.exec(
            select(SupportRequest.family_person_id).where(SupportRequest.zone == zone)
        )
        ids = {p.person_id for p in volunteers if zone in p.zones}
        return sorted(ids | {i for i in families.all() if i is not None})

    async def people_with_accounts(
        self, person_ids: Collection[int]
    ) -> list[tuple[Person, list[ChannelAccount]]]:
        """The people, each with their channel accounts, in few queries."""
        ids = sorted(set(person_ids))
        found: list[tuple[Person, list[ChannelAccount]]] = []
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            people = (
                await self.session.exec(select(Person).where(col(Person.id).in_(chunk)))
            ).all()
            accounts = await self.session.exec(
                select(ChannelAccount).where(col(ChannelAccount.person_id).in_(chunk))
            )
            by_person: dict[int, list[ChannelAccount]] = {}
            for account in accounts.all():
                by_person.setdefault(account.person_id, []).append(account)
            found.extend((p, by_person.get(p.id or 0, [])) for p in people)
        return found
