"""`cisono requests`: support requests from the command line, for the cooperative's records."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.app import App
from bot.cli_support import CliError, run_job
from flows.triage import change_status
from storage.tables import Person, RequestEvent, SupportRequest
from storage.unit_of_work import UnitOfWork

requests_app = typer.Typer(help="Families' support requests.", no_args_is_help=True)
console = Console()
FIELDS = (
    "reference",
    "status",
    "category",
    "beneficiary",
    "age_band",
    "zone",
    "days",
    "times",
    "urgency",
    "notes",
    "family_name",
    "family_phone",
    "created_at",
    "updated_at",
)


class Status(StrEnum):
    new = "new"
    triaged = "triaged"
    scheduled = "scheduled"
    closed = "closed"
    cancelled = "cancelled"


class Format(StrEnum):
    csv = "csv"
    json = "json"


def _row(request: SupportRequest, family: Person | None) -> dict[str, Any]:
    return {
        "reference": request.reference,
        "status": request.status,
        "category": request.category,
        "beneficiary": request.beneficiary,
        "age_band": request.age_band,
        "zone": request.zone,
        "days": request.days,
        "times": request.times,
        "urgency": request.urgency,
        "notes": request.notes,
        "family_name": family.name if family else None,
        "family_phone": family.phone if family else None,
        "created_at": request.created_at.isoformat(),
        "updated_at": request.updated_at.isoformat(),
    }


def _event(event: RequestEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "actor": event.actor,
        "kind": event.kind,
        "status": event.status,
        "text": event.text,
    }


async def _rows(uow: UnitOfWork, status: str | None) -> list[dict[str, Any]]:
    rows = []
    for request in await uow.requests.listing(status):
        family_id = request.family_person_id
        rows.append(_row(request, await uow.people.get(family_id) if family_id else None))
    return rows


@requests_app.command("list")
def list_requests(
    status: Annotated[Status | None, typer.Option(help="Only requests in this status.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The requests, oldest first."""

    async def job(application: App) -> list[dict[str, Any]]:
        async with application.database.unit_of_work() as uow:
            return await _rows(uow, status.value if status else None)

    rows = run_job(job)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("reference", "status", "category", "zone", "urgency", "family", "created")
    for column in table.columns[:1]:
        column.no_wrap = True
    for row in rows:
        table.add_row(
            row["reference"],
            row["status"],
            row["category"],
            row["zone"],
            row["urgency"],
            row["family_name"] or "-",
            row["created_at"][:16].replace("T", " "),
        )
    console.print(table)


@requests_app.command("show")
def show_request(
    reference: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One request with its whole history."""

    async def job(application: App) -> dict[str, Any]:
        async with application.database.unit_of_work() as uow:
            request = await uow.requests.by_reference(reference)
            if request is None or request.id is None:
                raise CliError(f"no request {reference}")
            family_id = request.family_person_id
            row = _row(request, await uow.people.get(family_id) if family_id else None)
            row["history"] = [_event(e) for e in await uow.requests.events(request.id)]
            return row

    row = run_job(job)
    if as_json:
        print(json.dumps(row, ensure_ascii=False, indent=2))
        return
    for field in FIELDS:
        console.print(f"[bold]{field}[/bold]: {row[field] if row[field] is not None else '-'}")
    console.print("[bold]history[/bold]:")
    for event in row["history"]:
        extra = f" ({event['text']})" if event["text"] else ""
        console.print(
            f"  {event['at'][:16].replace('T', ' ')} {event['actor']}: "
            f"{event['kind']} {event['status'] or ''}{extra}"
        )


@requests_app.command("status")
def set_status(
    reference: str,
    status: Status,
    reason: Annotated[str, typer.Option(help="What the family is told (date, reason...).")] = "",
) -> None:
    """Change a request's status; the family is told, with the reason, by `cisono run`."""

    async def job(application: App) -> str:
        async with application.database.unit_of_work() as uow:
            request = await uow.requests.by_reference(reference)
            if request is None:
                raise CliError(f"no request {reference}")
            note = await change_status(uow, request, status.value, "cli", reason.strip())
            if note is not None:
                await application.engine.queue_notification(uow, note.person_id, note.reply)
            return request.reference

    console.print(f"{run_job(job)} is now {status.value}")


@requests_app.command("purge")
def purge_requests() -> None:
    """Remove personal details from requests closed more than CISONO_RETENTION_DAYS ago."""

    async def job(application: App) -> int:
        days = application.settings.retention_days
        before = datetime.now(UTC) - timedelta(days=days)
        async with application.database.unit_of_work() as uow:
            purged = await uow.requests.purge_closed(before)
            await uow.audit.record("cli", "requests.purged", None, count=purged, days=days)
            return purged

    console.print(f"{run_job(job)} closed requests purged of personal details")


@requests_app.command("report")
def report_requests(
    year: Annotated[int, typer.Option(help="The year (default: this one).")] = 0,
) -> None:
    """Anonymous counts per month, service and zone, for the social report (CSV)."""

    async def job(application: App) -> list[tuple[str, str, str, int]]:
        async with application.database.unit_of_work() as uow:
            return await uow.requests.counts(year or datetime.now(UTC).year)

    writer = csv.writer(sys.stdout)
    writer.writerow(["month", "category", "zone", "requests"])
    writer.writerows(run_job(job))


@requests_app.command("export")
def export_requests(
    format: Annotated[Format, typer.Option("--format", help="csv or json.")] = Format.csv,
    status: Annotated[Status | None, typer.Option(help="Only requests in this status.")] = None,
) -> None:
    """Every request, for the cooperative's records (CSV on standard output)."""

    async def job(application: App) -> list[dict[str, Any]]:
        async with application.database.unit_of_work() as uow:
            return await _rows(uow, status.value if status else None)

    rows = run_job(job)
    if format is Format.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
