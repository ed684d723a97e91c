"""`cisono shifts`: coordinators create shifts (offered to the approved volunteers) and look."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from bot.app import App
from bot.cli_support import CliError, local_moment, run_job
from flows.i18n import render
from flows.phones import normalize_phone
from flows.shift_admin import (
    ShiftChanges,
    ShiftRefused,
    cancel_shift,
    change_shift,
    mark_attendance,
    open_shift,
    volunteers_told,
)
from flows.step import Notification
from storage.shifts import HOLDING
from storage.tables import Shift
from storage.unit_of_work import UnitOfWork

shifts_app = typer.Typer(help="Volunteers' shifts.", no_args_is_help=True)
console = Console()


def _refused(refused: ShiftRefused) -> CliError:
    """The chat's explanation, in English, as the command's one-line error."""
    return CliError(render("en", refused.reply.key, refused.reply.params))


async def _tell(application: App, uow: UnitOfWork, notes: list[Notification]) -> int:
    for note in notes:
        await application.engine.queue_notification(uow, note.person_id, note.reply)
    return volunteers_told(notes)


async def _row(application: App, shift: Shift) -> dict[str, Any]:
    assert shift.id is not None
    async with application.database.unit_of_work() as uow:
        team = []
        for assignment in await uow.shifts.assignments(shift.id):
            person = await uow.people.get(assignment.person_id)
            team.append({"name": person.name if person else None, "status": assignment.status})
    return {
        "id": shift.id,
        "title": shift.title,
        "zone": shift.zone,
        "place": shift.place,
        "starts_at": shift.starts_at.isoformat(),
        "ends_at": shift.ends_at.isoformat(),
        "needed": shift.needed,
        "taken": sum(1 for member in team if member["status"] in HOLDING),
        "status": shift.status,
        "team": team,
    }


@shifts_app.command("create")
def create(
    title: Annotated[str, typer.Option(help="What the volunteers will do.")],
    zone: Annotated[str, typer.Option(help="Town or area.")],
    start: Annotated[str, typer.Option(help="Start, local time: 2026-12-01 09:30.")],
    end: Annotated[str, typer.Option(help="End, local time.")],
    needed: Annotated[int, typer.Option(min=1, help="How many volunteers.")] = 1,
    place: Annotated[str | None, typer.Option(help="Address or meeting point.")] = None,
    notes: Annotated[str | None, typer.Option(help="Notes for the volunteers.")] = None,
    skill: Annotated[
        list[str] | None, typer.Option(help="A skill needed (repeat for several).")
    ] = None,
    request: Annotated[
        str | None, typer.Option(help="The family's request (R-2026-0042) this shift serves.")
    ] = None,
) -> None:
    """Create a shift and offer it to the approved volunteers it suits."""

    async def job(application: App) -> tuple[int, int]:
        timezone = application.settings.timezone
        starts = local_moment(start, timezone)
        ends = local_moment(end, timezone, starts.date())
        known = application.settings.flow_settings().skills
        if unknown := [s for s in skill or [] if s not in known]:
            raise CliError(f"unknown skill {unknown[0]!r}: CISONO_SKILLS has {', '.join(known)}")
        async with application.database.unit_of_work() as uow:
            served = await uow.requests.by_reference(request) if request else None
            if request and served is None:
                raise CliError(f"no request {request}")
            shift = Shift(
                title=title,
                zone=zone,
                place=place,
                starts_at=starts,
                ends_at=ends,
                needed=needed,
                notes=notes,
                skills=list(skill or []),
                request_id=served.id if served else None,
            )
            try:
                offers = await open_shift(
                    uow, shift, "cli", application.engine.settings, application.engine.clock.now()
                )
            except ShiftRefused as refused:
                raise _refused(refused) from refused
            assert shift.id is not None
            return shift.id, await _tell(application, uow, offers)

    shift_id, offered = run_job(job)
    console.print(f"shift {shift_id} created, offered to {offered} volunteers")


@shifts_app.command("list")
def list_shifts(
    open_only: Annotated[bool, typer.Option("--open", help="Only open shifts.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Shifts by start, with how many places are taken."""

    async def job(application: App) -> list[dict[str, Any]]:
        async with application.database.unit_of_work() as uow:
            shifts = await uow.shifts.listing(open_only)
        return [await _row(application, shift) for shift in shifts]

    rows = run_job(job)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("id", "title", "zone", "starts", "places", "status")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["title"],
            row["zone"],
            row["starts_at"][:16],
            f"{row['taken']}/{row['needed']}",
            row["status"],
        )
    console.print(table)


@shifts_app.command("show")
def show(
    shift_id: int,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One shift and who is on it."""

    async def job(application: App) -> dict[str, Any]:
        async with application.database.unit_of_work() as uow:
            shift = await uow.shifts.get(shift_id)
        if shift is None:
            raise CliError(f"no shift {shift_id}")
        return await _row(application, shift)

    row = run_job(job)
    if as_json:
        print(json.dumps(row, ensure_ascii=False, indent=2))
        return
    for field in ("title", "zone", "place", "starts_at", "ends_at", "needed", "taken", "status"):
        console.print(f"[bold]{field}[/bold]: {row[field]}")
    for member in row["team"]:
        console.print(f"  {member['name']}: {member['status']}")


@shifts_app.command("edit")
def edit(
    shift_id: int,
    title: Annotated[str | None, typer.Option(help="What the volunteers will do.")] = None,
    zone: Annotated[str | None, typer.Option(help="Town or area.")] = None,
    start: Annotated[str | None, typer.Option(help="New start, local time.")] = None,
    end: Annotated[
        str | None, typer.Option(help="New end: a time alone is the start's day.")
    ] = None,
    needed: Annotated[int | None, typer.Option(help="How many volunteers.")] = None,
    place: Annotated[str | None, typer.Option(help="Address or meeting point.")] = None,
    notes: Annotated[str | None, typer.Option(help="Notes for the volunteers.")] = None,
) -> None:
    """Change a shift; everyone on it or waiting is told what changed (by `cisono run`)."""

    async def job(application: App) -> int:
        timezone = application.settings.timezone
        async with application.database.unit_of_work() as uow:
            shift = await uow.shifts.lock(shift_id)
            if shift is None or shift.status != "open":
                raise CliError(f"no open shift {shift_id}")
            starts = local_moment(start, timezone) if start else None
            day = (starts or shift.starts_at).astimezone(ZoneInfo(timezone)).date()
            changes = ShiftChanges(
                title=title,
                zone=zone,
                place=place,
                starts_at=starts,
                ends_at=local_moment(end, timezone, day) if end else None,
                needed=needed,
                notes=notes,
            )
            try:
                news = await change_shift(
                    uow,
                    shift,
                    changes,
                    "cli",
                    application.engine.settings,
                    application.engine.clock.now(),
                )
            except ShiftRefused as refused:
                raise _refused(refused) from refused
            return await _tell(application, uow, news)

    console.print(f"shift {shift_id} changed, {run_job(job)} volunteers told")


@shifts_app.command("cancel")
def cancel(
    shift_id: int,
    reason: Annotated[str, typer.Option(help="What the volunteers are told.")] = "",
) -> None:
    """Cancel a shift; everyone on it or waiting for it is told (by `cisono run`)."""

    async def job(application: App) -> int:
        async with application.database.unit_of_work() as uow:
            shift = await uow.shifts.lock(shift_id)
            if shift is None or shift.status == "cancelled":
                raise CliError(f"no open shift {shift_id}")
            return await _tell(
                application, uow, await cancel_shift(uow, shift, "cli", reason.strip())
            )

    console.print(f"shift {shift_id} cancelled, {run_job(job)} volunteers told")


class Attendance(StrEnum):
    attended = "attended"
    missed = "missed"
    excused = "excused"


@shifts_app.command("mark")
def mark(shift_id: int, phone: str, attendance: Attendance) -> None:
    """Record how it went for one volunteer: attended (the hours count), missed or excused."""

    async def job(application: App) -> None:
        number = normalize_phone(phone)
        if number is None:
            raise CliError(f"{phone!r} is not a valid phone number")
        async with application.database.unit_of_work() as uow:
            person = await uow.people.by_phone(number)
            assignment = person and person.id and await uow.shifts.assignment(shift_id, person.id)
            if not assignment:
                raise CliError(f"{number} is not on shift {shift_id}")
            try:
                await mark_attendance(uow, assignment, attendance.value, "cli")
            except ShiftRefused as refused:
                raise _refused(refused) from refused

    run_job(job)
    console.print(f"{phone} marked {attendance.value} on shift {shift_id}")
