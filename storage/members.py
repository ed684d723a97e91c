"""The member registry (libro soci): who is a member, since when, in which category."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import Member, Person, PersonRole, utcnow


class MemberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, person_id: int) -> Member | None:
        return await self.session.get(Member, person_id)

    async def by_number(self, number: str) -> Member | None:
        return (await self.session.exec(select(Member).where(Member.number == number))).first()

    async def save(self, member: Member) -> Member:
        member.updated_at = utcnow()
        self.session.add(member)
        await self.session.flush()
        return member

    async def active(self) -> Sequence[tuple[Person, PersonRole, Member | None]]:
        """Everyone with the member role active, with their registry entry if any."""
        query = (
            select(Person, PersonRole, Member)
            .join(PersonRole, col(PersonRole.person_id) == col(Person.id))
            .join(Member, col(Member.person_id) == col(Person.id), isouter=True)
            .where(PersonRole.role == "member", PersonRole.status == "active")
            .order_by(col(Person.name), col(Person.id))
        )
        return (await self.session.exec(query)).all()


def member_since(role: PersonRole, member: Member | None) -> date:
    """The registry's date; for members approved in the chat, the day of the approval."""
    return member.since if member is not None else role.granted_at.date()
