"""What coordinators do to a shift — open it, change it, cancel it, mark how it went —
from the chat or the command line: one function each, audited, everyone concerned told.
Every move of a shift goes through here."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from flows.config import FlowSettings
from flows.messages import Param, Reply, msg
from flows.reminders import plan_shift_reminders, shift_subject
from flows.shifts import calendar, fitting_volunteers, offer, promote_waitlist, shift_params
from flows.step import Notification
from storage.shifts import HOLDING
from storage.tables import Shift, ShiftAssignment
from storage.unit_of_work import UnitOfWork

MARKS = {"attended": "completed", "missed": "missed", "excused": "excused"}
MARKABLE = (*HOLDING, "missed", "excused")  # those who were on the shift
TOLD_OF_CHANGES = ("confirmed", "checked_in", "waitlisted")
NEEDED_MAX = 50


class ShiftRefused(Exception):
    """A change that cannot be made; `reply` says why, to be shown or rendered."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.key)
        self.reply = reply


async def open_shift(
    uow: UnitOfWork, shift: Shift, actor: str, settings: FlowSettings, now: datetime
) -> list[Notification]:
    """Store a new shift (audited, its reminders planned) and offer it to the approved
    volunteers it suits who have not said stop; the offers are returned, to be queued."""
    if shift.ends_at <= shift.starts_at:
        raise ShiftRefused(Reply(msg("shiftform.end_before_start")))
    await uow.shifts.add(shift)
    assert shift.id is not None
    await uow.audit.record(actor, "shift.created", f"shift:{shift.id}")
    await plan_shift_reminders(uow, shift, settings, now)
    return [
        Notification(volunteer, offer(shift, shift.needed))
        for volunteer in await fitting_volunteers(uow, shift, settings.timezone)
    ]


@dataclass(frozen=True)
class ShiftChanges:
    """New values for a shift; None leaves a field as it is ("" clears place and notes)."""

    title: str | None = None
    zone: str | None = None
    place: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    needed: int | None = None
    notes: str | None = None


SEEN_BY_VOLUNTEERS = ("title", "zone", "place", "starts_at", "ends_at", "notes")


async def change_shift(
    uow: UnitOfWork,
    shift: Shift,
    changes: ShiftChanges,
    actor: str,
    settings: FlowSettings,
    now: datetime,
) -> list[Notification]:
    """Change a (locked) open shift. Everyone on it or waiting is told what changed, with
    a new calendar file; a new time re-plans the reminders; more places promote the
    waitlist; fewer places than the volunteers already confirmed are refused."""
    assert shift.id is not None
    if shift.status != "open":
        raise ShiftRefused(Reply(msg("shifts.gone")))
    changed: dict[str, object] = {}
    for field in fields(changes):
        value = getattr(changes, field.name)
        if value == "" and field.name in ("place", "notes"):
            value = None  # cleared
        elif value is None:
            continue
        if getattr(shift, field.name) != value:
            changed[field.name] = value
    if not changed:
        return []
    starts, ends = changed.get("starts_at", shift.starts_at), changed.get("ends_at", shift.ends_at)
    assert isinstance(starts, datetime) and isinstance(ends, datetime)
    if ends <= starts:
        raise ShiftRefused(Reply(msg("shiftform.end_before_start")))
    taken = await uow.shifts.taken(shift.id)
    needed = changes.needed
    if "needed" in changed and needed is not None and not max(taken, 1) <= needed <= NEEDED_MAX:
        params: dict[str, Param] = {"taken": taken, "max": NEEDED_MAX}
        raise ShiftRefused(Reply(msg("shiftform.needed_below_taken"), params))
    before = shift_params(shift)
    for name, value in changed.items():
        setattr(shift, name, value)
    await uow.audit.record(
        actor, "shift.changed", f"shift:{shift.id}", **{k: str(v) for k, v in changed.items()}
    )
    if "starts_at" in changed:
        await plan_shift_reminders(uow, shift, settings, now)
    notes: list[Notification] = []
    if "starts_at" in changed or "ends_at" in changed:
        notes += await _release_clashes(uow, shift)
    if any(name in changed for name in SEEN_BY_VOLUNTEERS):
        params = shift_params(shift) | {
            "was_starts": before["starts"],
            "was_ends": before["ends"],
            "was_place": before["place"],
        }
        for assignment in await uow.shifts.assignments(shift.id):
            if assignment.status in TOLD_OF_CHANGES:
                ics = calendar(shift) if assignment.status != "waitlisted" else None
                reply = Reply(msg("shifts.changed"), params, attachment=ics)
                notes.append(Notification(assignment.person_id, reply))
    notes += await promote_waitlist(uow, shift)
    if REFITTING.intersection(changed):
        notes += await _offer_free_places(uow, shift, settings)
    return notes


REFITTING = {"needed", "zone", "starts_at", "ends_at"}  # who can take it, or how many


def volunteers_told(notes: list[Notification]) -> int:
    """How many volunteers a change told (the coordinators' alerts aside)."""
    alert = msg("shifts.released_alert")
    return len({note.person_id for note in notes if note.reply.key != alert})


async def _release_clashes(uow: UnitOfWork, shift: Shift) -> list[Notification]:
    """A moved shift must not overlap another one a volunteer holds (nobody holds two at
    once): such a volunteer's place is freed, and they and the coordinators are told."""
    assert shift.id is not None
    notes: list[Notification] = []
    coordinators = [p.id for p in await uow.people.with_role("coordinator") if p.id is not None]
    for assignment in await uow.shifts.assignments(shift.id):
        if assignment.status not in ("confirmed", "checked_in"):
            continue
        clash = await uow.shifts.overlapping(
            assignment.person_id, shift.starts_at, shift.ends_at, shift.id
        )
        if clash is None:
            continue
        await uow.shifts.set_status(assignment, "released")
        await uow.audit.record(
            "system", "shift.released", f"person:{assignment.person_id}", shift=shift.id
        )
        params = shift_params(shift) | {"other": clash.title, "other_starts": clash.starts_at}
        notes.append(Notification(assignment.person_id, Reply(msg("shifts.released"), params)))
        volunteer = await uow.people.get(assignment.person_id)
        told = params | {"name": volunteer.name if volunteer and volunteer.name else "?"}
        notes += [Notification(c, Reply(msg("shifts.released_alert"), told)) for c in coordinators]
    return notes


async def _offer_free_places(
    uow: UnitOfWork, shift: Shift, settings: FlowSettings
) -> list[Notification]:
    """Places still free after a change: offered to the volunteers it suits now who have
    not answered it yet (those who declined or left it are not asked again)."""
    assert shift.id is not None
    left = shift.needed - await uow.shifts.taken(shift.id)
    if left <= 0:
        return []
    answered = {a.person_id for a in await uow.shifts.assignments(shift.id)}
    return [
        Notification(volunteer, offer(shift, left))
        for volunteer in await fitting_volunteers(uow, shift, settings.timezone)
        if volunteer not in answered
    ]


async def cancel_shift(
    uow: UnitOfWork, shift: Shift, actor: str, reason: str
) -> list[Notification]:
    """Cancel the shift; everyone on it or waiting for it is told, with the reason."""
    assert shift.id is not None
    shift.status = "cancelled"
    await uow.reminders.cancel(shift_subject(shift.id), "shift cancelled")
    await uow.audit.record(actor, "shift.cancelled", f"shift:{shift.id}", reason=reason)
    params: dict[str, Param] = {**shift_params(shift), "reason": reason or "-"}
    return [
        Notification(a.person_id, Reply(msg("shifts.cancelled"), params))
        for a in await uow.shifts.assignments(shift.id)
        if a.status in (*HOLDING, "waitlisted")
    ]


async def mark_attendance(
    uow: UnitOfWork, assignment: ShiftAssignment, attendance: str, actor: str
) -> None:
    """How it went for one volunteer: attended (the hours count), missed or excused."""
    if attendance not in MARKS:
        raise ValueError(f"unknown attendance {attendance!r}")
    if assignment.status not in MARKABLE:
        raise ShiftRefused(Reply(msg("coverage.not_on_shift")))
    await uow.shifts.set_status(assignment, MARKS[attendance])
    await uow.audit.record(
        actor,
        "shift.marked",
        f"person:{assignment.person_id}",
        status=attendance,
        shift=assignment.shift_id,
    )
