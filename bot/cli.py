"""The `cisono` command."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError, OperationalError
from typer.exceptions import TyperException

from bot.app import App, DatabaseNotReady, configure_logging
from bot.channels.terminal import TerminalChat
from bot.cli_assembly import assembly_app
from bot.cli_broadcast import broadcast_app
from bot.cli_members import members_app
from bot.cli_requests import requests_app
from bot.cli_shifts import shifts_app
from bot.cli_support import CliError, run_job, settings_from_env
from bot.cli_volunteers import volunteers_app
from bot.runner import Runner
from flows.phones import normalize_phone
from storage.migrate import upgrade
from storage.tables import Person

app = typer.Typer(
    name="cisono",
    help="Ci sono: the chat assistant of a social cooperative.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
people_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(people_app, name="people")
app.add_typer(requests_app, name="requests")
app.add_typer(shifts_app, name="shifts")
app.add_typer(volunteers_app, name="volunteers")
app.add_typer(broadcast_app, name="broadcast")
app.add_typer(members_app, name="members")
app.add_typer(assembly_app, name="assembly")
console = Console()


class Role(StrEnum):
    family = "family"
    volunteer = "volunteer"
    member = "member"
    coordinator = "coordinator"


def _phone(raw: str) -> str:
    phone = normalize_phone(raw)
    if phone is None:
        raise CliError(f"{raw!r} is not a valid phone number")
    return phone


@app.command()
def chat(
    phone: Annotated[str | None, typer.Option(help="Chat as the person with this number.")] = None,
    name: Annotated[str | None, typer.Option(help="The name to suggest at sign-up.")] = None,
) -> None:
    """Talk to Ci sono from the terminal (line by line when stdin is not a terminal)."""
    number = _phone(phone) if phone else None

    async def job(application: App) -> None:
        terminal = TerminalChat(
            application.engine, application.delivery, sys.stdout, phone=number, name=name
        )
        await terminal.run(sys.stdin)

    run_job(job)


@app.command()
def run() -> None:
    """Start the HTTP server, the configured platforms and delivery; stop on SIGTERM."""
    settings = settings_from_env()
    logging.getLogger().setLevel(logging.INFO)

    async def serve() -> None:
        # built inside the loop: Twilio's async client opens its HTTP session at once
        await Runner(settings).run_until_signalled()

    asyncio.run(serve())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the latest version."""

    async def job(application: App) -> None:
        await upgrade(application.database.engine)

    run_job(job, check_schema=False)
    console.print("database is up to date")


@people_app.command("list")
def people_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Everyone the bot knows, with their roles and channels."""

    async def job(application: App) -> list[dict[str, Any]]:
        async with application.database.unit_of_work() as uow:
            people = await uow.people.all()
            ids = [p.id for p in people if p.id is not None]
            roles = await uow.people.roles_of(ids)
            rows = []
            for person in people:
                assert person.id is not None
                accounts = await uow.people.accounts(person.id)
                rows.append(_person_row(person, roles[person.id], [a.channel for a in accounts]))
            return rows

    rows = run_job(job)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("id", "name", "phone", "roles", "language", "consent", "channels")
    for column in table.columns[:3]:
        column.no_wrap = True
    for row in rows:
        roles = ", ".join(
            f"{r['role']}" + (" (pending)" if r["status"] == "pending" else "")
            for r in row["roles"]
        )
        table.add_row(
            str(row["id"]),
            row["name"] or "",
            row["phone"] or "",
            roles,
            row["language"] or "",
            "yes" if row["consent_at"] else "no",
            ", ".join(row["channels"]),
        )
    console.print(table)


def _person_row(person: Person, roles: list[Any], channels: list[str]) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "phone": person.phone,
        "language": person.locale,
        "consent_at": person.consent_at.isoformat() if person.consent_at else None,
        "opted_out": person.opted_out_at is not None,
        "roles": [
            {"role": r.role, "status": r.status} for r in sorted(roles, key=lambda r: r.role)
        ],
        "channels": sorted(set(channels)),
    }


@people_app.command("grant")
def people_grant(role: Role, phone: str) -> None:
    """Give ROLE to the person with PHONE (registered now if the bot does not know them yet)."""
    number = _phone(phone)

    async def job(application: App) -> str:
        async with application.database.unit_of_work() as uow:
            person = await uow.people.by_phone(number)
            if person is None:
                person = await uow.people.add(Person(phone=number))
            assert person.id is not None
            await uow.people.grant(person.id, role.value, by="cli")
            await uow.audit.record("cli", "role.granted", f"person:{person.id}", role=role.value)
            return person.name or number

    who = run_job(job)
    console.print(f"{who} is now {role.value}")


@people_app.command("revoke")
def people_revoke(role: Role, phone: str) -> None:
    """Take ROLE away from the person with PHONE."""
    number = _phone(phone)

    async def job(application: App) -> bool:
        async with application.database.unit_of_work() as uow:
            person = await uow.people.by_phone(number)
            if person is None or person.id is None:
                raise CliError(f"nobody with phone {number}")
            revoked = await uow.people.revoke(person.id, role.value)
            if revoked:
                await uow.audit.record(
                    "cli", "role.revoked", f"person:{person.id}", role=role.value
                )
            return revoked

    if not run_job(job):
        raise CliError(f"{number} did not have the role {role.value}")
    console.print(f"{number} is no longer {role.value}")


def main(argv: list[str] | None = None) -> int:
    """Run the command; problems are one line on stderr and a non-zero exit code."""
    configure_logging()
    try:
        result = app(args=argv, prog_name="cisono", standalone_mode=False)
    except typer.Abort:
        return 130
    except typer.Exit as exit_:
        return int(getattr(exit_, "exit_code", 0))
    except TyperException as error:  # bad arguments: typer's own usage errors
        context = getattr(error, "ctx", None)
        hint = f" (see `{context.command_path} --help`)" if context else ""
        message = " ".join(error.format_message().split())
        if message:  # empty after `cisono` alone, which printed the help already
            print(f"cisono: {message}{hint}", file=sys.stderr)
        return int(getattr(error, "exit_code", 2))
    except (CliError, DatabaseNotReady) as error:
        print(f"cisono: {error}", file=sys.stderr)
        return 1
    except (OperationalError, DBAPIError, OSError) as error:
        print(
            f"cisono: cannot reach the database: {error.__class__.__name__}: "
            f"{str(error).splitlines()[0]}",
            file=sys.stderr,
        )
        return 1
    except Exception as error:  # a bug: say so in one line, keep the details in the log
        logging.getLogger("cisono").debug("unexpected error", exc_info=True)
        print(f"cisono: unexpected error: {error.__class__.__name__}: {error}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


def entry_point() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry_point()
