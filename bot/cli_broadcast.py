"""`cisono broadcast`: send a notice to an audience, follow it, list and show them."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bot.app import App
from bot.cli_support import CliError, local_moment, run_job
from flows.broadcasting import AUDIENCES, UnknownAudience, cancel, fan_out, recipients, schedule
from flows.i18n import LOCALES
from storage.broadcasts import Figures
from storage.tables import Broadcast

broadcast_app = typer.Typer(help="Notices to many people at once.", no_args_is_help=True)
console = Console()


class Audience(StrEnum):
    everyone = "everyone"
    families = "families"
    volunteers = "volunteers"
    members = "members"
    coordinators = "coordinators"
    zone = "zone"
    language = "language"
    shift = "shift"
    assembly = "assembly"


assert tuple(Audience) == AUDIENCES  # one list of audiences: flows/broadcasting.py
POLL_SECONDS = 1.0


def _draft(
    application: App, text: str, translation: list[str], audience: str, narrow: str | None
) -> Broadcast:
    texts = {application.settings.locale: text.strip()}
    for item in translation:
        locale, _, version = item.partition("=")
        if locale not in LOCALES or not version.strip():
            raise CliError(f"--translation {item!r}: write LOCALE=TEXT, LOCALE one of {LOCALES}")
        texts[locale] = version.strip()
    if not texts[application.settings.locale]:
        raise CliError("the text is empty")
    return Broadcast(author="cli", audience=audience, audience_arg=narrow, texts=texts)


def _summary(broadcast: Broadcast, figures: Figures) -> dict[str, Any]:
    return {
        "id": broadcast.id,
        "audience": broadcast.audience,
        "audience_arg": broadcast.audience_arg,
        "status": broadcast.status,
        "author": broadcast.author,
        "texts": broadcast.texts,
        "send_at": broadcast.send_at.isoformat() if broadcast.send_at else None,
        "sent_at": broadcast.sent_at.isoformat() if broadcast.sent_at else None,
        "recipients": broadcast.recipients,
        "opted_out": broadcast.opted_out,
        "waiting": figures.waiting,
        "sent": figures.sent,
        "delivered": figures.delivered,
        "read": figures.read,
        "failed": dict(figures.failed),
        "by_channel": dict(figures.by_channel),
    }


async def _summaries(application: App, broadcast_id: int | None) -> list[dict[str, Any]]:
    async with application.database.unit_of_work() as uow:
        if broadcast_id is None:
            found = list(await uow.broadcasts.latest(100))
        else:
            one = await uow.broadcasts.get(broadcast_id)
            if one is None:
                raise CliError(f"no broadcast {broadcast_id}")
            found = [one]
        return [_summary(b, await uow.broadcasts.figures(b.id or 0)) for b in found]


@broadcast_app.command("send")
def send(
    text: Annotated[str, typer.Option(help="The notice, in CISONO_LOCALE's language.")],
    audience: Annotated[Audience, typer.Option(help="Who gets it.")] = Audience.everyone,
    zone: Annotated[str | None, typer.Option(help="With --audience zone.")] = None,
    language: Annotated[str | None, typer.Option(help="With --audience language.")] = None,
    shift: Annotated[int | None, typer.Option(help="With --audience shift: its id.")] = None,
    assembly: Annotated[
        int | None, typer.Option(help="With --audience assembly: its id (its invitees get it).")
    ] = None,
    translation: Annotated[
        list[str] | None, typer.Option(help="Another language's version: en=TEXT (repeatable).")
    ] = None,
    at: Annotated[
        str | None, typer.Option(help="Send later, local time: 2026-12-01 09:30.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the delivery (by `cisono run`) to the end.")
    ] = False,
) -> None:
    """Preview a notice (recipients per channel), confirm, and send it or schedule it."""
    narrow = {
        "zone": zone,
        "language": language,
        "shift": str(shift) if shift else None,
        "assembly": str(assembly) if assembly else None,
    }
    argument = narrow.get(audience.value)

    async def preview(application: App) -> tuple[int, dict[str, int], int]:
        broadcast = _draft(application, text, translation or [], audience.value, argument)
        async with application.database.unit_of_work() as uow:
            try:
                found = await recipients(uow, broadcast, application.engine.settings)
            except UnknownAudience as error:
                raise CliError(f"{error}: give --{audience.value}") from error
        return len(found.reachable), dict(found.by_channel), found.opted_out

    count, channels, opted_out = run_job(preview)
    per_channel = ", ".join(f"{name} {n}" for name, n in sorted(channels.items())) or "nobody"
    console.print(f"{count} recipients ({per_channel}); {opted_out} left out (opted out)")
    if not yes and not typer.confirm("Send it?" if at is None else f"Schedule it for {at}?"):
        raise typer.Exit(1)

    async def go(application: App) -> int:
        broadcast = _draft(application, text, translation or [], audience.value, argument)
        now = application.engine.clock.now()
        async with application.database.unit_of_work() as uow:
            await uow.broadcasts.add(broadcast)
            if at is None:
                await fan_out(uow, broadcast, application.engine.settings, now)
            else:
                when = local_moment(at, application.settings.timezone)
                if when <= now:
                    raise CliError(f"{at} is already past")
                await schedule(uow, broadcast, when, now)
            action = "broadcast.sent" if at is None else "broadcast.scheduled"
            await uow.audit.record("cli", action, f"broadcast:{broadcast.id}")
            assert broadcast.id is not None
            return broadcast.id

    broadcast_id = run_job(go)
    console.print(f"broadcast {broadcast_id} {'queued' if at is None else 'scheduled'}")
    if wait and at is None:
        _follow(broadcast_id)


def _follow(broadcast_id: int) -> None:
    """A progress bar until no message of the broadcast waits any more, then the report."""

    async def job(application: App) -> dict[str, Any]:
        with Progress(console=console) as progress:
            task = progress.add_task(f"broadcast {broadcast_id}", total=None)
            while True:
                (summary,) = await _summaries(application, broadcast_id)
                done = summary["sent"] + sum(summary["failed"].values())
                progress.update(task, total=summary["recipients"], completed=done)
                if not summary["waiting"]:
                    return summary
                await asyncio.sleep(POLL_SECONDS)

    _print(run_job(job))


def _print(summary: dict[str, Any]) -> None:
    for field in ("audience", "audience_arg", "status", "send_at", "sent_at", "recipients"):
        console.print(f"[bold]{field}[/bold]: {summary[field]}")
    for field in ("opted_out", "waiting", "sent", "delivered", "read"):
        console.print(f"[bold]{field}[/bold]: {summary[field]}")
    for reason, count in summary["failed"].items():
        console.print(f"[bold]failed[/bold]: {count} ({reason})")


@broadcast_app.command("list")
def list_broadcasts(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The latest broadcasts with their figures."""
    rows = run_job(lambda application: _summaries(application, None))
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("id", "audience", "status", "recipients", "sent", "delivered", "failed")
    for row in rows:
        audience = row["audience"] + (f" {row['audience_arg']}" if row["audience_arg"] else "")
        failed = str(sum(row["failed"].values()))
        figures = (str(row[k]) for k in ("recipients", "sent", "delivered"))
        table.add_row(str(row["id"]), audience, row["status"], *figures, failed)
    console.print(table)


@broadcast_app.command("show")
def show(
    broadcast_id: int,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One broadcast: its texts, audience and delivery figures."""
    (row,) = run_job(lambda application: _summaries(application, broadcast_id))
    if as_json:
        print(json.dumps(row, ensure_ascii=False, indent=2))
        return
    for locale, version in row["texts"].items():
        console.print(f"[bold]text ({locale})[/bold]: {version}")
    _print(row)


@broadcast_app.command("cancel")
def cancel_broadcast(broadcast_id: int) -> None:
    """A scheduled broadcast does not go out."""

    async def job(application: App) -> None:
        async with application.database.unit_of_work() as uow:
            broadcast = await uow.broadcasts.get(broadcast_id)
            if broadcast is None or not await cancel(uow, broadcast):
                raise CliError(f"no scheduled broadcast {broadcast_id}")
            await uow.audit.record("cli", "broadcast.cancelled", f"broadcast:{broadcast_id}")

    run_job(job)
    console.print(f"broadcast {broadcast_id} cancelled")
