"""Members' assemblies and their invitations: answers, proxies, check-ins."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.tables import Assembly, AssemblyInvite, Person


class AssemblyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, assembly: Assembly) -> Assembly:
        self.session.add(assembly)
        await self.session.flush()
        return assembly

    async def get(self, assembly_id: int) -> Assembly | None:
        return await self.session.get(Assembly, assembly_id)

    async def listing(self) -> Sequence[Assembly]:
        query = select(Assembly).order_by(col(Assembly.first_call_at), col(Assembly.id))
        return (await self.session.exec(query)).all()

    async def invite(self, assembly_id: int, person_id: int, voting: bool) -> AssemblyInvite:
        invite = AssemblyInvite(assembly_id=assembly_id, person_id=person_id, voting=voting)
        self.session.add(invite)
        await self.session.flush()
        return invite

    async def invitation(self, assembly_id: int, person_id: int) -> AssemblyInvite | None:
        query = select(AssemblyInvite).where(
            AssemblyInvite.assembly_id == assembly_id, AssemblyInvite.person_id == person_id
        )
        return (await self.session.exec(query)).first()

    async def lock_invitation(self, assembly_id: int, person_id: int) -> AssemblyInvite | None:
        """The invitation, locked until commit (two delegations to one person queue here)."""
        query = (
            select(AssemblyInvite)
            .where(AssemblyInvite.assembly_id == assembly_id, AssemblyInvite.person_id == person_id)
            .with_for_update()
        )
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    async def invite_by_id(self, invite_id: int) -> AssemblyInvite | None:
        return await self.session.get(AssemblyInvite, invite_id)

    async def invitations(self, assembly_id: int) -> Sequence[tuple[AssemblyInvite, Person]]:
        query = (
            select(AssemblyInvite, Person)
            .join(Person, col(Person.id) == col(AssemblyInvite.person_id))
            .where(AssemblyInvite.assembly_id == assembly_id)
            .order_by(col(Person.name), col(Person.id))
        )
        return (await self.session.exec(query)).all()

    async def proxies_held(self, assembly_id: int, delegate_id: int) -> Sequence[AssemblyInvite]:
        """Proxies given to `delegate_id`, accepted or still waiting for an answer."""
        query = select(AssemblyInvite).where(
            AssemblyInvite.assembly_id == assembly_id,
            AssemblyInvite.delegate_id == delegate_id,
            AssemblyInvite.answer == "proxy",
        )
        return (await self.session.exec(query)).all()

    async def of_person(self, person_id: int) -> Sequence[tuple[Assembly, AssemblyInvite]]:
        """The person's invitations to open assemblies, soonest first."""
        query = (
            select(Assembly, AssemblyInvite)
            .join(AssemblyInvite, col(AssemblyInvite.assembly_id) == col(Assembly.id))
            .where(AssemblyInvite.person_id == person_id, Assembly.status == "open")
            .order_by(col(Assembly.first_call_at))
        )
        return (await self.session.exec(query)).all()
