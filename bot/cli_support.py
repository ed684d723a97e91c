"""What every `cisono` command shares: settings, the application, one-line errors."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.app import App
from bot.channels.terminal import TerminalChannel
from bot.settings import Settings

T = TypeVar("T")
WHEN = "%Y-%m-%d %H:%M"


class CliError(Exception):
    """A problem to report on one line, with a non-zero exit."""


def local_moment(text: str, timezone: str) -> datetime:
    """ "2026-12-01 09:30", read as the cooperative's local time."""
    try:
        return datetime.strptime(text, WHEN).replace(tzinfo=ZoneInfo(timezone))
    except ValueError as error:
        raise CliError(f"{text!r} is not a date and time like 2026-12-01 09:30") from error


def settings_from_env() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        problem = error.errors()[0]
        raise CliError(f"configuration: {problem['msg']}") from error


def run_job(job: Callable[[App], Awaitable[T]], *, check_schema: bool = True) -> T:
    """Run `job` with the configured application; the schema must be up to date."""

    async def main() -> T:
        application = App.build(settings_from_env(), {"terminal": TerminalChannel(sys.stdout)})
        try:
            if check_schema:
                await application.check_schema()
            return await job(application)
        finally:
            await application.close()

    return asyncio.run(main())
