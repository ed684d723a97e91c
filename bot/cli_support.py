"""What every `cisono` command shares: settings, the application, one-line errors."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import ValidationError

from bot.app import App
from bot.channels.terminal import TerminalChannel
from bot.settings import Settings

T = TypeVar("T")


class CliError(Exception):
    """A problem to report on one line, with a non-zero exit."""


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
