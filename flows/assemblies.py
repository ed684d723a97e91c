"""Members' assemblies: creation and invitations, who votes (art. 2538 c.c.), the figures
and the attendance register. Shared by the chat and the command line."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flows.config import FlowSettings
from flows.i18n import normalize
from flows.messages import Choice, Key, Param, Reply, msg
from flows.quorum import Figures, Seat, figures
from flows.reminders import plan_assembly_reminders
from flows.step import Notification
from storage.members import member_since
from storage.tables import Assembly, AssemblyInvite, Person
from storage.unit_of_work import UnitOfWork

VOTING_AFTER = timedelta(days=90)  # members registered at least this long before vote
ANSWERS = {
    "present": msg("assembly.answer_present"),
    "remote": msg("assembly.answer_remote"),
    "absent": msg("assembly.answer_absent"),
    "proxy": msg("assembly.answer_proxy"),
}


class AssemblyProblem(ValueError):
    """An assembly that cannot be created as given: a message key, said in any language."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def local_day(moment: datetime, timezone: str) -> date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def has_vote(since: date, first_call: date) -> bool:
    """Members registered at least 90 days before the first call vote (art. 2538 c.c.)."""
    return since <= first_call - VOTING_AFTER


def check(assembly: Assembly, now: datetime, timezone: str, *, closed: bool = False) -> None:
    """The rules of a convocation; raises AssemblyProblem (`closed`: answers that have
    already closed may stay closed)."""
    if assembly.first_call_at <= now:
        raise AssemblyProblem(msg("assembly.problem_past"))
    if assembly.second_call_at <= assembly.first_call_at:
        raise AssemblyProblem(msg("assembly.problem_second_before"))
    if local_day(assembly.second_call_at, timezone) == local_day(assembly.first_call_at, timezone):
        raise AssemblyProblem(msg("assembly.problem_same_day"))
    if not (closed or now < assembly.answer_deadline) or (
        assembly.answer_deadline > assembly.first_call_at
    ):
        raise AssemblyProblem(msg("assembly.problem_deadline"))


def params(assembly: Assembly) -> dict[str, Param]:
    agenda = "\n".join(f"{n}. {item}" for n, item in enumerate(assembly.agenda, start=1))
    return {
        "title": assembly.title,
        "first": assembly.first_call_at,
        "second": assembly.second_call_at,
        "place": assembly.place,
        "agenda": agenda or "-",
        "remote": assembly.remote_link or Key(msg("assembly.no_remote")),
        "deadline": assembly.answer_deadline,
        "notice": assembly.notice_ref or Key(msg("assembly.notice_default")),
    }


def answer_choices(assembly: Assembly, voting: bool) -> tuple[Choice, ...]:
    """The answers, as buttons that work at any moment (payload a:rsvp:<id>:<answer>)."""
    wanted = ["present"]
    if assembly.remote_link:
        wanted.append("remote")
    wanted.append("absent")
    if voting:
        wanted.append("proxy")
    return tuple(Choice(f"a:rsvp:{assembly.id}:{a}", ANSWERS[a]) for a in wanted)


def invitation(assembly: Assembly, voting: bool, nudge: bool = False) -> Reply:
    if nudge:
        key = msg("assembly.nudge")
    else:
        key = msg("assembly.invitation") if voting else msg("assembly.invitation_no_vote")
    return Reply(key, params(assembly), answer_choices(assembly, voting))


async def create(
    uow: UnitOfWork, assembly: Assembly, settings: FlowSettings, now: datetime
) -> list[Notification]:
    """Check and store the assembly, invite every active member; the invitations to send."""
    check(assembly, now, settings.timezone)
    assembly.checkin_code = f"{secrets.randbelow(10000):04d}"
    await uow.assemblies.add(assembly)
    assert assembly.id is not None
    await uow.audit.record(assembly.created_by, "assembly.created", f"assembly:{assembly.id}")
    await plan_assembly_reminders(uow, assembly, settings, now)
    first_day = local_day(assembly.first_call_at, settings.timezone)
    notes = []
    for person, role, member in await uow.members.active():
        assert person.id is not None
        voting = has_vote(member_since(role, member), first_day)
        await uow.assemblies.invite(assembly.id, person.id, voting)
        if person.opted_out_at is None:
            notes.append(Notification(person.id, invitation(assembly, voting)))
    return notes


async def seats(uow: UnitOfWork, assembly_id: int) -> list[tuple[AssemblyInvite, Person]]:
    return list(await uow.assemblies.invitations(assembly_id))


def seat(invite: AssemblyInvite) -> Seat:
    return Seat(
        invite.person_id,
        invite.voting,
        invite.answer,
        invite.delegate_id,
        invite.proxy_status == "accepted",
        invite.checked_in_at is not None,
    )


async def figures_of(uow: UnitOfWork, assembly: Assembly, settings: FlowSettings) -> Figures:
    assert assembly.id is not None
    rows = await uow.assemblies.invitations(assembly.id)
    return figures((seat(invite) for invite, _ in rows), settings.quorum_first_call)


@dataclass(frozen=True)
class RegisterRow:
    """A line of the attendance register (foglio presenze)."""

    name: str
    phone: str
    voting: bool
    attendance: str  # present, remote, represented, absent
    represented_by: str
    checked_in_at: datetime | None
    checked_in_by: str


def register(rows: Sequence[tuple[AssemblyInvite, Person]]) -> list[RegisterRow]:
    names = {invite.person_id: person.name or "?" for invite, person in rows}
    there = {invite.person_id for invite, _ in rows if invite.checked_in_at is not None}
    lines = []
    for invite, person in rows:
        delegate = invite.delegate_id
        represented = (
            invite.checked_in_at is None
            and invite.answer == "proxy"
            and invite.proxy_status == "accepted"
            and delegate in there
        )
        if invite.checked_in_at is not None:
            attendance = "remote" if invite.answer == "remote" else "present"
        else:
            attendance = "represented" if represented else "absent"
        lines.append(
            RegisterRow(
                name=person.name or "?",
                phone=person.phone or "",
                voting=invite.voting,
                attendance=attendance,
                represented_by=names.get(delegate, "") if represented and delegate else "",
                checked_in_at=invite.checked_in_at,
                checked_in_by=invite.checked_in_by or "",
            )
        )
    return lines


def by_name(
    rows: Sequence[tuple[AssemblyInvite, Person]], text: str
) -> list[tuple[AssemblyInvite, Person]]:
    """Invitees whose name has every word typed ("rossi", "maria r"); an exact name wins."""
    typed = normalize(text).split()
    if not typed:
        return []
    found = []
    for invite, person in rows:
        words = normalize(person.name or "").split()
        if words == typed:
            return [(invite, person)]
        if all(any(w.startswith(t) for w in words) for t in typed):
            found.append((invite, person))
    return found
