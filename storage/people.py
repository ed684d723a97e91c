"""People, their channel accounts and their roles."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, update
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import writers
from storage.direct import Direct
from storage.tables import (
    ChannelAccount,
    ConversationState,
    OutboxMessage,
    Person,
    PersonRole,
    ShiftAssignment,
)
from storage.writers import Arrival, Writer

ROLES = ("family", "volunteer", "member", "coordinator")
_roles = SQLModel.metadata.tables[PersonRole.__tablename__]
# built once: it runs after a step granted a role (a message's first read is `writing`)
_ROLE_STATUSES = sa_select(_roles.c.role, _roles.c.status).where(
    _roles.c.person_id == bindparam("roles_person_id")
)


@functools.lru_cache(maxsize=128)  # a delivery round claims up to 100 messages
def _last_inbound(chats: int) -> Direct:
    """When each of `chats` chats of a channel last wrote (this runs for every claim)."""
    accounts = SQLModel.metadata.tables[ChannelAccount.__tablename__].c
    return Direct(
        sa_select(accounts.external_id, accounts.last_inbound_at).where(
            accounts.channel == bindparam("channel"),
            accounts.external_id.in_([bindparam(f"chat_{n}") for n in range(chats)]),
        )
    )


class PeopleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, person_id: int) -> Person | None:
        return await self.session.get(Person, person_id)

    async def on_shifts(self, shift_ids: Collection[int]) -> Sequence[Person]:
        """The people confirmed on these shifts, in one query; `get` then finds them in
        the session."""
        if not shift_ids:
            return []
        confirmed = sa_select(col(ShiftAssignment.person_id)).where(
            col(ShiftAssignment.shift_id).in_(shift_ids), col(ShiftAssignment.status) == "confirmed"
        )
        query = select(Person).where(col(Person.id).in_(confirmed))
        return (await self.session.exec(query)).all()

    async def by_phone(self, phone: str) -> Person | None:
        result = await self.session.exec(select(Person).where(Person.phone == phone))
        return result.first()

    async def all(self) -> Sequence[Person]:
        result = await self.session.exec(select(Person).order_by(col(Person.id)))
        return result.all()

    async def add(self, person: Person) -> Person:
        self.session.add(person)
        await self.session.flush()
        return person

    async def account(self, channel: str, external_id: str) -> ChannelAccount | None:
        result = await self.session.exec(
            select(ChannelAccount).where(
                ChannelAccount.channel == channel, ChannelAccount.external_id == external_id
            )
        )
        return result.first()

    async def writing(self, channel: str, external_id: str) -> Writer | None:
        """The person writing from this chat, with the account, the person's roles (as
        `role_statuses` gives them) and the conversation, in one query."""
        return await writers.writing(self.session, channel, external_id)

    async def arriving(self, channel: str, external_id: str, inbound_id: str) -> Arrival:
        """Whether a message was handled already, and `writing`, in one query: this runs
        for every message. Its id is recorded with the step's turn (`TurnRepository`)."""
        return await writers.arriving(self.session, channel, external_id, inbound_id)

    async def last_inbound(
        self, channel: str, external_ids: Collection[str]
    ) -> dict[str, datetime | None]:
        """When each of these chats last wrote to us (the WhatsApp window)."""
        if not external_ids:
            return {}
        values = {f"chat_{n}": chat for n, chat in enumerate(external_ids)}
        connection = await self.session.connection()
        rows = await _last_inbound(len(values)).rows(connection, {"channel": channel, **values})
        return dict(rows)

    async def accounts(self, person_id: int) -> Sequence[ChannelAccount]:
        result = await self.session.exec(
            select(ChannelAccount)
            .where(ChannelAccount.person_id == person_id)
            .order_by(col(ChannelAccount.id))
        )
        return result.all()

    async def add_account(self, person_id: int, channel: str, external_id: str) -> ChannelAccount:
        account = ChannelAccount(person_id=person_id, channel=channel, external_id=external_id)
        self.session.add(account)
        await self.session.flush()
        return account

    async def roles(self, person_id: int) -> Sequence[PersonRole]:
        result = await self.session.exec(
            select(PersonRole).where(PersonRole.person_id == person_id).order_by(PersonRole.role)
        )
        return result.all()

    async def role_statuses(self, person_id: int) -> dict[str, str]:
        """Each role the person has, with its status ("active", "pending"), read again
        after a step granted one (a message's first read comes with `writing`)."""
        await self.session.flush()  # what an ORM query would autoflush
        connection = await self.session.connection()
        rows = await connection.execute(_ROLE_STATUSES, {"roles_person_id": person_id})
        return {role: status for role, status in rows}

    async def roles_of(self, person_ids: Sequence[int]) -> dict[int, list[PersonRole]]:
        result = await self.session.exec(
            select(PersonRole).where(col(PersonRole.person_id).in_(person_ids))
        )
        by_person: dict[int, list[PersonRole]] = {pid: [] for pid in person_ids}
        for role in result.all():
            by_person[role.person_id].append(role)
        return by_person

    async def grant(
        self, person_id: int, role: str, *, status: str = "active", by: str | None = None
    ) -> PersonRole:
        """Give a role (or make a pending one active); granting twice changes nothing."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        result = await self.session.exec(
            select(PersonRole).where(PersonRole.person_id == person_id, PersonRole.role == role)
        )
        existing = result.first()
        if existing is None:
            existing = PersonRole(person_id=person_id, role=role, status=status, granted_by=by)
            self.session.add(existing)
        elif existing.status == "pending" and status == "active":
            existing.status, existing.granted_by = "active", by
        await self.session.flush()
        return existing

    async def revoke(self, person_id: int, role: str) -> bool:
        result = await self.session.exec(
            delete(PersonRole).where(
                col(PersonRole.person_id) == person_id, col(PersonRole.role) == role
            )
        )
        return bool(result.rowcount)

    async def merge(self, source: Person, target: Person) -> None:
        """Fold `source` into `target`: accounts, roles and outbox rows move over.

        Both conversation states are dropped: the caller saves the one that goes on.
        """
        assert source.id is not None and target.id is not None
        await self.session.exec(
            update(ChannelAccount)
            .where(col(ChannelAccount.person_id) == source.id)
            .values(person_id=target.id)
        )
        await self.session.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.person_id) == source.id)
            .values(person_id=target.id)
        )
        for role in await self.roles(source.id):
            await self.grant(target.id, role.role, status=role.status, by=role.granted_by)
        await self.session.exec(
            delete(ConversationState).where(
                col(ConversationState.person_id).in_([source.id, target.id])
            )
        )
        target.name = target.name or source.name
        target.locale = source.locale or target.locale
        target.timezone = target.timezone or source.timezone
        if source.consent_at is not None:
            target.consent_at, target.consent_version = source.consent_at, source.consent_version
        await self.session.delete(source)
        await self.session.flush()

    async def erase(self, person: Person) -> None:
        """Delete the person; accounts, roles and state go with them (ON DELETE CASCADE)."""
        await self.session.exec(
            delete(OutboxMessage).where(
                col(OutboxMessage.person_id) == person.id, col(OutboxMessage.status) != "queued"
            )
        )
        await self.session.delete(person)
        await self.session.flush()

    async def with_role(self, role: str, status: str = "active") -> Sequence[Person]:
        result = await self.session.exec(
            select(Person)
            .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
            .where(PersonRole.role == role, PersonRole.status == status)
            .order_by(col(Person.id))
        )
        return result.all()

    async def pending_roles(self, limit: int = 20) -> Sequence[tuple[PersonRole, Person]]:
        result = await self.session.exec(
            select(PersonRole, Person)
            .join(Person, col(PersonRole.person_id) == col(Person.id))
            .where(PersonRole.status == "pending")
            .order_by(col(PersonRole.granted_at), col(PersonRole.id))
            .limit(limit)
        )
        return result.all()

    async def role(self, role_id: int) -> PersonRole | None:
        return await self.session.get(PersonRole, role_id)
