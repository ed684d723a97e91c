"""`cisono volunteers`: the volunteers' hours, for the cooperative's social report."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from bot.app import App
from bot.cli_support import CliError, run_job

volunteers_app = typer.Typer(help="Volunteers.", no_args_is_help=True)


@volunteers_app.command("hours")
def hours(
    month: Annotated[str, typer.Option(help="The month, like 2026-11.")],
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
) -> None:
    """Hours of completed shifts per volunteer in a month (for the social report)."""

    async def job(application: App) -> list[dict[str, Any]]:
        try:
            first = datetime.strptime(month, "%Y-%m")
        except ValueError as error:
            raise CliError(f"{month!r} is not a month like 2026-11") from error
        zone = ZoneInfo(application.settings.timezone)
        since = first.replace(tzinfo=zone)
        until = since.replace(year=since.year + since.month // 12, month=since.month % 12 + 1)
        async with application.database.unit_of_work() as uow:
            totals = await uow.shifts.hours(since, until)
            rows = []
            for person_id, total in sorted(totals.items()):
                person = await uow.people.get(person_id)
                rows.append(
                    {
                        "name": person.name if person else None,
                        "phone": person.phone if person else None,
                        "hours": round(total, 2),
                    }
                )
            return rows

    if format not in ("csv", "json"):
        raise CliError("--format is csv or json")
    rows = run_job(job)
    if format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=["name", "phone", "hours"])
    writer.writeheader()
    writer.writerows(rows)
