"""What every `cisono` command shares: settings, the application, one-line errors."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import TypeVar

from pydantic import ValidationError

from bot.app import App
from bot.channels.terminal import TerminalChannel
from bot.settings import Settings
from flows.when import parse_moment

T = TypeVar("T")


class CliError(Exception):
    """A problem to report on one line, with a non-zero exit."""


def local_moment(text: str, timezone: str, day: date | None = None) -> datetime:
    """A moment as typed in the chat too: "2026-12-01 09:30", "1/12 9:30", "domani 9:30";
    a time alone is on `day`."""
    found = parse_moment(text, datetime.now(UTC), timezone, day)
    if found is None:
        raise CliError(f"{text!r} is not a date and time like 2026-12-01 09:30")
    return found


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
