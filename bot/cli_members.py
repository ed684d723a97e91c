"""`cisono members`: the member registry (libro soci), imported from CSV and listed."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from bot.app import App
from bot.cli_support import CliError, run_job
from flows.member_registry import ImportReport, RegistryError, import_rows, parse
from storage.members import member_since

members_app = typer.Typer(help="The member registry (libro soci).", no_args_is_help=True)
console = Console()


@members_app.command("import")
def import_csv(
    path: Annotated[Path, typer.Argument(help="CSV: name, surname, phone, member since, …")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report only.")] = False,
) -> None:
    """Add or update members from a CSV file; rows are matched by member number or phone."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"cannot read {path}: {error}") from error

    async def job(application: App) -> ImportReport:
        region = application.settings.flow_settings().default_region
        today = datetime.now(ZoneInfo(application.settings.timezone)).date()
        try:
            rows, rejected = parse(text, region, today)
        except RegistryError as error:
            raise CliError(f"{path}: {error}") from error
        async with application.database.unit_of_work() as uow:
            report = await import_rows(uow, rows, "cli")
            if dry_run:
                await uow.session.rollback()
            else:
                await uow.audit.record(
                    "cli",
                    "members.imported",
                    str(path.name),
                    added=len(report.added),
                    updated=len(report.updated),
                    rejected=len(rejected) + len(report.rejected),
                )
        report.rejected = sorted([*rejected, *report.rejected], key=lambda r: r.line)
        return report

    report = run_job(job)
    verb = "would be" if dry_run else "were"
    console.print(
        f"{len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged, {len(report.rejected)} rejected"
        + (" (dry run: nothing saved)" if dry_run else "")
    )
    for rejected in report.rejected:
        console.print(f"  line {rejected.line}: {rejected.reason}", highlight=False)
    if report.rejected:
        console.print(f"rejected rows {verb} not imported; fix them and import again")


@members_app.command("list")
def list_members(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Active members, with their registry entry."""

    async def job(application: App) -> list[dict[str, Any]]:
        async with application.database.unit_of_work() as uow:
            return [
                {
                    "id": person.id,
                    "name": person.name,
                    "phone": person.phone,
                    "number": entry.number if entry else None,
                    "since": member_since(role, entry).isoformat(),
                    "category": entry.category if entry else None,
                    "email": entry.email if entry else None,
                }
                for person, role, entry in await uow.members.active()
            ]

    rows = run_job(job)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("number", "name", "phone", "since", "category")
    for row in rows:
        table.add_row(
            row["number"] or "",
            row["name"] or "",
            row["phone"] or "",
            row["since"],
            row["category"] or "",
        )
    console.print(table)
