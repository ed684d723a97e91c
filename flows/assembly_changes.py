"""What coordinators do to an assembly once convened — change it, cancel it, mark a member
present — from the chat or the command line: one function each, audited, everyone
concerned told. Every move of a convened assembly goes through here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from flows.assemblies import AssemblyProblem, answer_choices, check, has_vote, local_day, params
from flows.config import FlowSettings
from flows.messages import Choice, Param, Reply, msg
from flows.reminders import assembly_subject, plan_assembly_reminders
from flows.step import Notification
from storage.members import member_since
from storage.tables import Assembly, AssemblyInvite, Person
from storage.unit_of_work import UnitOfWork

MOVES_REMINDERS = ("first_call_at", "answer_deadline")


@dataclass(frozen=True)
class AssemblyChanges:
    """New values for an assembly; None leaves a field as it is ("" clears the remote link)."""

    title: str | None = None
    first_call_at: datetime | None = None
    second_call_at: datetime | None = None
    place: str | None = None
    answer_deadline: datetime | None = None
    remote_link: str | None = None
    agenda: tuple[str, ...] | None = None


def still_open(assembly: Assembly) -> None:
    """A cancelled assembly takes no more changes, answers or check-ins."""
    if assembly.status != "open":
        raise AssemblyProblem(msg("assembly.already_cancelled"))


def changed_fields(assembly: Assembly, changes: AssemblyChanges) -> dict[str, object]:
    """The fields the changes really change, with their new values."""
    changed: dict[str, object] = {}
    for field in fields(changes):
        value: object = getattr(changes, field.name)
        if value is None:
            continue
        if field.name == "remote_link":
            value = value or None
        elif field.name == "agenda":
            value = list(getattr(changes, field.name))
        if getattr(assembly, field.name) != value:
            changed[field.name] = value
    return changed


def preview(assembly: Assembly, changes: AssemblyChanges) -> Assembly:
    """The assembly as the changes would make it (not stored)."""
    return Assembly(**(assembly.model_dump() | changed_fields(assembly, changes)))


async def change_assembly(
    uow: UnitOfWork,
    assembly: Assembly,
    changes: AssemblyChanges,
    actor: str,
    settings: FlowSettings,
    now: datetime,
) -> list[Notification]:
    """Change an open assembly, checked like a new one (raises AssemblyProblem). The
    reminders move with it; every invitee is told what changed, and those whose vote the
    new date gives or takes away. The answers stay (a proxy without a vote lapses)."""
    assert assembly.id is not None
    still_open(assembly)
    changed = changed_fields(assembly, changes)
    if not changed:
        return []
    closed = "answer_deadline" not in changed and assembly.answer_deadline <= now
    check(preview(assembly, changes), now, settings.timezone, closed=closed)
    before = params(assembly)
    first_day = local_day(assembly.first_call_at, settings.timezone)
    for name, value in changed.items():
        setattr(assembly, name, value)
    await uow.audit.record(
        actor,
        "assembly.changed",
        f"assembly:{assembly.id}",
        **{k: str(v) for k, v in changed.items()},
    )
    if any(name in changed for name in MOVES_REMINDERS):
        await plan_assembly_reminders(uow, assembly, settings, now)
    news = params(assembly) | {"was_first": before["first"], "was_place": before["place"]}
    rows = await uow.assemblies.invitations(assembly.id)
    notes = [
        Notification(invite.person_id, Reply(msg("assembly.changed"), news))
        for invite, person in rows
        if person.opted_out_at is None
    ]
    if local_day(assembly.first_call_at, settings.timezone) != first_day:
        notes += await _votes_again(uow, assembly, rows, actor, settings.timezone, now)
    return notes


async def _votes_again(
    uow: UnitOfWork,
    assembly: Assembly,
    rows: Sequence[tuple[AssemblyInvite, Person]],
    actor: str,
    timezone: str,
    now: datetime,
) -> list[Notification]:
    """The 90-day rule (art. 2538 c.c.) against the new first call: who gains the vote,
    who loses it; proxies given or held by someone who lost it lapse, and are told."""
    assert assembly.id is not None
    day = local_day(assembly.first_call_at, timezone)
    since = {person.id: member_since(role, m) for person, role, m in await uow.members.active()}
    names = {invite.person_id: person.name or "?" for invite, person in rows}
    reachable = {invite.person_id for invite, person in rows if person.opted_out_at is None}
    about = params(assembly)
    notes: list[Notification] = []

    def tell(person_id: int, key: str, choices: tuple[Choice, ...] = (), **extra: Param) -> None:
        if person_id in reachable:
            shown = choices if now <= assembly.answer_deadline else ()
            notes.append(Notification(person_id, Reply(key, about | extra, shown)))

    for invite, _person in rows:
        member_day = since.get(invite.person_id)
        if member_day is None or has_vote(member_day, day) == invite.voting:
            continue
        invite.voting = not invite.voting
        await uow.audit.record(
            actor, "assembly.vote_changed", f"person:{invite.person_id}", voting=invite.voting
        )
        if invite.voting:
            tell(invite.person_id, msg("assembly.vote_gained"), answer_choices(assembly, True))
            continue
        tell(invite.person_id, msg("assembly.vote_lost"))
        if invite.answer == "proxy":
            if invite.delegate_id is not None:
                name = names[invite.person_id]
                tell(invite.delegate_id, msg("assembly.proxy_void_delegate"), name=name)
            invite.answer = invite.delegate_id = invite.proxy_status = None
            tell(invite.person_id, msg("assembly.proxy_void"), answer_choices(assembly, False))
        for giver in await uow.assemblies.proxies_held(assembly.id, invite.person_id):
            giver.answer = giver.delegate_id = giver.proxy_status = None
            choices = answer_choices(assembly, giver.voting)
            name = names[invite.person_id]
            tell(giver.person_id, msg("assembly.proxy_holder_no_vote"), choices, name=name)
    return notes


async def cancel_assembly(
    uow: UnitOfWork, assembly: Assembly, actor: str, reason: str
) -> list[Notification]:
    """Cancel an open assembly: no more reminders, every invitee told, with the reason."""
    assert assembly.id is not None
    still_open(assembly)
    assembly.status = "cancelled"
    await uow.reminders.cancel(assembly_subject(assembly.id), "assembly cancelled")
    await uow.audit.record(actor, "assembly.cancelled", f"assembly:{assembly.id}", reason=reason)
    note = Reply(msg("assembly.cancelled"), params(assembly) | {"reason": reason or "-"})
    return [
        Notification(invite.person_id, note)
        for invite, person in await uow.assemblies.invitations(assembly.id)
        if person.opted_out_at is None
    ]


async def mark_present(
    uow: UnitOfWork, assembly: Assembly, invite: AssemblyInvite, actor: str, now: datetime
) -> bool:
    """A coordinator marks an invitee present, audited; False if they already were."""
    still_open(assembly)
    if invite.checked_in_at is not None:
        return False
    invite.checked_in_at, invite.checked_in_by = now, actor
    await uow.audit.record(
        actor, "assembly.marked_present", f"person:{invite.person_id}", assembly=assembly.id
    )
    return True
