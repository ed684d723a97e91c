"""Volunteers take shifts: offers, a race-safe "accept", the waitlist, .ics files (their own
shifts afterwards: flows/my_shifts.py)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from flows.messages import Attachment, Choice, Param, Reply, msg
from flows.step import Action, Context, Next, Notification
from storage.shifts import HOLDING
from storage.tables import Shift, VolunteerProfile
from storage.unit_of_work import UnitOfWork

ATTENDANCE = {
    "confirmed": msg("attendance.confirmed"),
    "waitlisted": msg("attendance.waitlisted"),
    "checked_in": msg("attendance.checked_in"),
    "completed": msg("attendance.completed"),
    "missed": msg("attendance.missed"),
    "excused": msg("attendance.excused"),
    "withdrawn": msg("attendance.withdrawn"),
    "declined": msg("attendance.declined"),
    "released": msg("attendance.released"),  # the shift moved onto another of theirs
}


def shift_params(shift: Shift, left: int | None = None) -> dict[str, Param]:
    params: dict[str, Param] = {
        "title": shift.title,
        "starts": shift.starts_at,
        "ends": shift.ends_at,
        "zone": shift.zone,
        "place": shift.place or shift.zone,
        "notes": shift.notes or "-",
    }
    if left is not None:
        params["left"] = left
    return params


def offer(shift: Shift, left: int) -> Reply:
    return Reply(
        msg("shifts.offer"),
        shift_params(shift, left),
        (
            Choice(f"a:accept:{shift.id}", msg("shifts.accept"), words=msg("words.yes")),
            Choice(f"a:decline:{shift.id}", msg("shifts.decline"), words=msg("words.no")),
        ),
    )


def calendar(shift: Shift) -> Attachment:
    """The shift as an iCalendar file, for the phone's calendar."""
    event = Event()
    event.add("uid", f"shift-{shift.id}@cisono")
    event.add("summary", shift.title)
    event.add("dtstart", shift.starts_at)
    event.add("dtend", shift.ends_at)
    event.add("dtstamp", shift.created_at)
    event.add("location", ", ".join(p for p in (shift.place, shift.zone) if p))
    if shift.notes:
        event.add("description", shift.notes)
    ics = Calendar()
    ics.add("prodid", "-//Ci sono//turni//IT")
    ics.add("version", "2.0")
    ics.add_component(event)
    return Attachment(f"turno-{shift.id}.ics", "text/calendar", ics.to_ical().decode())


def confirmed(shift: Shift, key: str = msg("shifts.confirmed")) -> Reply:
    return Reply(key, shift_params(shift), attachment=calendar(shift))


async def promote_waitlist(uow: UnitOfWork, shift: Shift) -> list[Notification]:
    """Fill free places from the waitlist, in order; those promoted are told."""
    assert shift.id is not None
    notes = []
    free = shift.needed - await uow.shifts.taken(shift.id)
    for assignment in await uow.shifts.assignments(shift.id):
        if free <= 0:
            break
        if assignment.status != "waitlisted":
            continue
        if await uow.shifts.overlapping(
            assignment.person_id, shift.starts_at, shift.ends_at, shift.id
        ):
            continue  # they took another shift at that time meanwhile
        await uow.shifts.set_status(assignment, "confirmed")
        await uow.audit.record("system", "shift.promoted", f"person:{assignment.person_id}")
        notes.append(Notification(assignment.person_id, confirmed(shift, msg("shifts.promoted"))))
        free -= 1
    if (family := await tell_family_when_covered(uow, shift)) is not None:
        notes.append(family)
    return notes


def fits(profile: VolunteerProfile | None, shift: Shift, timezone: str) -> bool:
    """Whether the shift suits the volunteer: skills, zone, and the day of the week."""
    if profile is None:  # no profile yet: only shifts that need nothing in particular
        return not shift.skills
    if not set(shift.skills) <= set(profile.skills):
        return False
    if profile.zones and shift.zone not in profile.zones:
        return False
    weekend = shift.starts_at.astimezone(ZoneInfo(timezone)).weekday() >= 5
    return profile.days == "any_day" or profile.days == ("weekend" if weekend else "weekdays")


async def fitting_volunteers(uow: UnitOfWork, shift: Shift, timezone: str) -> list[int]:
    """The approved volunteers a shift suits and who still take messages."""
    chosen = []
    for volunteer in await uow.people.with_role("volunteer"):
        if volunteer.id is None or volunteer.opted_out_at is not None:
            continue
        if fits(await uow.shifts.profile(volunteer.id), shift, timezone):
            chosen.append(volunteer.id)
    return chosen


async def tell_family_when_covered(uow: UnitOfWork, shift: Shift) -> Notification | None:
    """A shift made for a request, now fully covered: the request is scheduled, and the
    family is told the date."""
    if shift.request_id is None or shift.id is None:
        return None
    if await uow.shifts.taken(shift.id) < shift.needed:
        return None
    request = await uow.requests.get(shift.request_id)
    if request is None or request.status in ("scheduled", "closed", "cancelled"):
        return None
    await uow.requests.change_status(request, "scheduled", "system")
    await uow.audit.record("system", "request.scheduled", request.reference, shift=shift.id)
    if request.family_person_id is None:
        return None
    params: dict[str, Param] = {"reference": request.reference, "starts": shift.starts_at}
    return Notification(request.family_person_id, Reply(msg("requests.scheduled"), params))


async def family_of(uow: UnitOfWork, shift: Shift) -> dict[str, Param] | None:
    """What a volunteer holding a family's shift needs of the request: the family's first
    name and zone. Never the request's notes, urgency or anything else."""
    request = await uow.requests.get(shift.request_id) if shift.request_id else None
    if request is None:
        return None
    family = await uow.people.get(request.family_person_id) if request.family_person_id else None
    first_name = (family.name or "").split(" ")[0] if family is not None else ""
    return {"family": first_name or "-", "family_zone": request.zone}


def volunteers_only(ctx: Context) -> Next | None:
    return (
        None if ctx.has_role("volunteer") else Next.to(None, Reply(msg("shifts.volunteers_only")))
    )


async def shift_to_take(ctx: Context, argument: str) -> Shift | Next:
    """The open shift an offer's button names, locked; or why it cannot be taken."""
    if (refused := volunteers_only(ctx)) is not None:
        return refused
    shift = await ctx.uow.shifts.lock(int(argument)) if argument.isdigit() else None
    if shift is None or shift.id is None or shift.status != "open":
        return Next.to(None, Reply(msg("shifts.gone")))
    mine = await ctx.uow.shifts.assignment(shift.id, ctx.person_id)
    if mine is not None and mine.status in HOLDING:
        return Next.to(None, Reply(msg("shifts.already_yours"), shift_params(shift)))
    return shift


class Accept(Action):
    """Take a place: the shift row is locked, so two volunteers never take the last one."""

    name = "accept"

    async def run(self, ctx: Context, argument: str) -> Next:
        shift = await shift_to_take(ctx, argument)
        if isinstance(shift, Next):
            return shift
        assert shift.id is not None
        if shift.starts_at <= ctx.now:
            return Next.to(None, Reply(msg("shifts.started"), shift_params(shift)))
        clash = await ctx.uow.shifts.overlapping(
            ctx.person_id, shift.starts_at, shift.ends_at, shift.id
        )
        if clash is not None:
            return Next.to(None, Reply(msg("shifts.overlap"), shift_params(clash)))
        if await ctx.uow.shifts.taken(shift.id) >= shift.needed:
            join = Choice(f"a:waitlist:{shift.id}", msg("shifts.join_waitlist"))
            return Next.to(None, Reply(msg("shifts.covered"), shift_params(shift), (join,)))
        await ctx.uow.shifts.assign(shift.id, ctx.person_id, "confirmed")
        await ctx.uow.audit.record(f"person:{ctx.person_id}", "shift.accepted", f"shift:{shift.id}")
        if (family := await tell_family_when_covered(ctx.uow, shift)) is not None:
            ctx.notify(family.person_id, family.reply)
        return Next.to(None, confirmed(shift))


class JoinWaitlist(Action):
    name = "waitlist"

    async def run(self, ctx: Context, argument: str) -> Next:
        shift = await shift_to_take(ctx, argument)
        if isinstance(shift, Next):
            return shift
        assert shift.id is not None
        await ctx.uow.shifts.assign(shift.id, ctx.person_id, "waitlisted")
        notes = await promote_waitlist(ctx.uow, shift)  # a place may have freed meanwhile
        for note in notes:
            ctx.notify(note.person_id, note.reply)
        if any(note.person_id == ctx.person_id for note in notes):
            return Next()
        return Next.to(None, Reply(msg("shifts.waitlisted"), shift_params(shift)))


class Decline(Action):
    name = "decline"

    async def run(self, ctx: Context, argument: str) -> Next:
        shift = await ctx.uow.shifts.get(int(argument)) if argument.isdigit() else None
        if shift is None or shift.id is None:
            return Next.to(None, Reply(msg("shifts.gone")))
        mine = await ctx.uow.shifts.assignment(shift.id, ctx.person_id)
        if mine is None:
            await ctx.uow.shifts.assign(shift.id, ctx.person_id, "declined")
        return Next.to(None, Reply(msg("shifts.declined")))


STEPS = (Accept(), JoinWaitlist(), Decline())
