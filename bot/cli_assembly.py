"""`cisono assembly`: convene a members' assembly, follow it, export the register (changing,
cancelling and check-in are in cli_assembly_changes.py)."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from bot import cli_assembly_changes
from bot.app import App
from bot.cli_support import CliError, local_moment, run_job
from flows.assemblies import AssemblyProblem, create, figures_of, register
from flows.i18n import render
from storage.tables import Assembly

assembly_app = typer.Typer(help="Members' assemblies.", no_args_is_help=True)
assembly_app.command("cancel")(cli_assembly_changes.cancel)
assembly_app.command("edit")(cli_assembly_changes.edit)
assembly_app.command("checkin")(cli_assembly_changes.checkin)
console = Console()


@assembly_app.command("create")
def create_assembly(
    title: Annotated[str, typer.Option(help="What the assembly is about.")],
    first: Annotated[str, typer.Option(help="First call, local time: 2026-12-15 18:00.")],
    second: Annotated[str, typer.Option(help="Second call, another day.")],
    place: Annotated[str, typer.Option(help="Where it is held.")],
    deadline: Annotated[str, typer.Option(help="Answers until, local time.")],
    agenda: Annotated[list[str], typer.Option(help="An agenda item (repeat for several).")],
    remote: Annotated[str | None, typer.Option(help="Link to join remotely.")] = None,
    notice: Annotated[str | None, typer.Option(help="The formal notice's reference.")] = None,
) -> None:
    """Convene an assembly and invite every member (sent by `cisono run`)."""

    async def job(application: App) -> tuple[int, int]:
        timezone = application.settings.timezone
        assembly = Assembly(
            title=title,
            first_call_at=local_moment(first, timezone),
            second_call_at=local_moment(second, timezone),
            place=place,
            agenda=[item.strip() for item in agenda if item.strip()],
            remote_link=remote,
            answer_deadline=local_moment(deadline, timezone),
            notice_ref=notice,
            checkin_code="",
            created_by="cli",
        )
        async with application.database.unit_of_work() as uow:
            try:
                notes = await create(
                    uow,
                    assembly,
                    application.settings.flow_settings(),
                    application.engine.clock.now(),
                )
            except AssemblyProblem as problem:
                raise CliError(render("en", problem.key)) from problem
            for note in notes:
                await application.engine.queue_notification(uow, note.person_id, note.reply)
            assert assembly.id is not None
            return assembly.id, len(notes)

    assembly_id, invited = run_job(job)
    console.print(f"assembly {assembly_id} created, {invited} members invited")


@assembly_app.command("list")
def list_assemblies(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Assemblies by first call."""

    async def job(application: App) -> list[dict[str, Any]]:
        async with application.database.unit_of_work() as uow:
            return [
                {
                    "id": a.id,
                    "title": a.title,
                    "first_call_at": a.first_call_at.isoformat(),
                    "second_call_at": a.second_call_at.isoformat(),
                    "place": a.place,
                    "status": a.status,
                }
                for a in await uow.assemblies.listing()
            ]

    rows = run_job(job)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("id", "title", "first call", "place", "status")
    for row in rows:
        table.add_row(
            str(row["id"]), row["title"], row["first_call_at"][:16], row["place"], row["status"]
        )
    console.print(table)


@assembly_app.command("status")
def status(
    assembly_id: int,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The figures: answers, proxies, the quorum forecast, who is there."""

    async def job(application: App) -> dict[str, Any]:
        async with application.database.unit_of_work() as uow:
            assembly = await uow.assemblies.get(assembly_id)
            if assembly is None:
                raise CliError(f"no assembly {assembly_id}")
            got = await figures_of(uow, assembly, application.settings.flow_settings())
        return {
            "id": assembly_id,
            "title": assembly.title,
            **dataclasses.asdict(got),
            "forecast_reached": got.forecast_reached,
            "reached_now": got.reached_now,
            "checkin_code": assembly.checkin_code,
        }

    row = run_job(job)
    if as_json:
        print(json.dumps(row, ensure_ascii=False, indent=2))
        return
    for field, value in row.items():
        console.print(f"[bold]{field}[/bold]: {value}", highlight=False)


REGISTER_FIELDS = [
    "name",
    "phone",
    "voting",
    "attendance",
    "represented_by",
    "checked_in_at",
    "checked_in_by",
]


@assembly_app.command("register")
def export_register(
    assembly_id: int,
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
) -> None:
    """The attendance register (foglio presenze), for the minutes."""
    if format not in ("csv", "json"):
        raise CliError("--format is csv or json")

    async def job(application: App) -> list[dict[str, Any]]:
        zone = ZoneInfo(application.settings.timezone)
        async with application.database.unit_of_work() as uow:
            if await uow.assemblies.get(assembly_id) is None:
                raise CliError(f"no assembly {assembly_id}")
            lines = register(await uow.assemblies.invitations(assembly_id))
        return [
            dataclasses.asdict(line)
            | {
                "voting": "yes" if line.voting else "no",
                "checked_in_at": (
                    line.checked_in_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
                    if line.checked_in_at
                    else ""
                ),
            }
            for line in lines
        ]

    rows = run_job(job)
    if format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=REGISTER_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
