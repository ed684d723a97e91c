"""`cisono assembly cancel`, `edit` and `checkin`: what a coordinator does to a convened
assembly, as in the chat (flows/assembly_changes.py); the members are told by `cisono run`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from bot.app import App
from bot.cli_support import CliError, local_moment, run_job
from flows.assemblies import AssemblyProblem
from flows.assembly_changes import AssemblyChanges, cancel_assembly, change_assembly, mark_present
from flows.i18n import render
from flows.phones import normalize_phone
from flows.step import Notification
from storage.tables import Assembly
from storage.unit_of_work import UnitOfWork

console = Console()


def _refused(problem: AssemblyProblem) -> CliError:
    """The chat's explanation, in English, as the command's one-line error."""
    return CliError(render("en", problem.key))


async def _open(uow: UnitOfWork, assembly_id: int) -> Assembly:
    assembly = await uow.assemblies.get(assembly_id)
    if assembly is None or assembly.status != "open":
        raise CliError(f"no open assembly {assembly_id}")
    return assembly


async def _tell(application: App, uow: UnitOfWork, notes: list[Notification]) -> int:
    for note in notes:
        await application.engine.queue_notification(uow, note.person_id, note.reply)
    return len({note.person_id for note in notes})


def cancel(
    assembly_id: int,
    reason: Annotated[str, typer.Option(help="What the members are told.")] = "",
) -> None:
    """Cancel an assembly; every invitee is told, with the reason (by `cisono run`)."""

    async def job(application: App) -> int:
        async with application.database.unit_of_work() as uow:
            assembly = await _open(uow, assembly_id)
            notes = await cancel_assembly(uow, assembly, "cli", " ".join(reason.split()))
            return await _tell(application, uow, notes)

    console.print(f"assembly {assembly_id} cancelled, {run_job(job)} members told")


def edit(
    assembly_id: int,
    title: Annotated[str | None, typer.Option(help="What the assembly is about.")] = None,
    first: Annotated[str | None, typer.Option(help="New first call, local time.")] = None,
    second: Annotated[str | None, typer.Option(help="New second call, another day.")] = None,
    place: Annotated[str | None, typer.Option(help="Where it is held.")] = None,
    deadline: Annotated[str | None, typer.Option(help="Answers until, local time.")] = None,
    remote: Annotated[str | None, typer.Option(help='Link to join remotely ("" for none).')] = None,
    agenda: Annotated[
        list[str] | None, typer.Option(help="The new agenda, an item each (repeat).")
    ] = None,
) -> None:
    """Change an assembly; every invitee is told what changed (by `cisono run`)."""
    items = [item.strip() for item in agenda or [] if item.strip()]
    given = (title, first, second, place, deadline, remote, items or None)
    if all(value is None for value in given):
        raise CliError("nothing to change: give --title, --first, --second, --place, …")

    async def job(application: App) -> int:
        timezone = application.settings.timezone
        changes = AssemblyChanges(
            title=title.strip() if title is not None else None,
            first_call_at=local_moment(first, timezone) if first else None,
            second_call_at=local_moment(second, timezone) if second else None,
            place=place.strip() if place is not None else None,
            answer_deadline=local_moment(deadline, timezone) if deadline else None,
            remote_link=remote.strip() if remote is not None else None,
            agenda=tuple(items) if items else None,
        )
        if changes.title == "" or changes.place == "":
            raise CliError("--title and --place cannot be empty")
        async with application.database.unit_of_work() as uow:
            assembly = await _open(uow, assembly_id)
            try:
                notes = await change_assembly(
                    uow,
                    assembly,
                    changes,
                    "cli",
                    application.engine.settings,
                    application.engine.clock.now(),
                )
            except AssemblyProblem as problem:
                raise _refused(problem) from problem
            return await _tell(application, uow, notes)

    console.print(f"assembly {assembly_id} changed, {run_job(job)} members told")


def checkin(assembly_id: int, phone: str) -> None:
    """Mark a member present, as the coordinator does in the chat."""

    async def job(application: App) -> tuple[str, bool]:
        number = normalize_phone(phone)
        if number is None:
            raise CliError(f"{phone!r} is not a valid phone number")
        async with application.database.unit_of_work() as uow:
            assembly = await _open(uow, assembly_id)
            person = await uow.people.by_phone(number)
            invite = (
                person
                and person.id
                and await uow.assemblies.lock_invitation(assembly_id, person.id)
            )
            if not invite or person is None:
                raise CliError(f"{number} is not invited to assembly {assembly_id}")
            try:
                marked = await mark_present(
                    uow, assembly, invite, "cli", application.engine.clock.now()
                )
            except AssemblyProblem as problem:
                raise _refused(problem) from problem
            return person.name or number, marked

    name, marked = run_job(job)
    if marked:
        console.print(f"{name} marked present at assembly {assembly_id}")
    else:
        console.print(f"{name} was already marked present at assembly {assembly_id}")
