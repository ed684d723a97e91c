"""The terminal: a person chatting from a shell, interactively or line by line from stdin."""

from __future__ import annotations

import asyncio
import logging
from typing import TextIO

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.delivery import Delivery
from bot.rendering import Rendered
from flows.engine import ConversationEngine
from flows.i18n import render
from flows.incoming import Incoming
from flows.messages import msg

log = logging.getLogger(__name__)
CHANNEL = "terminal"
DATABASE_TRIES = 3


class TerminalChannel:
    name = CHANNEL

    def __init__(self, out: TextIO) -> None:
        self.out = out

    async def send(self, address: str, message: Rendered) -> str | None:
        lines = [message.numbered()]
        if message.attachment is not None:
            label = render(message.locale, msg("channel.attachment"))
            lines.append(label.format(filename=message.attachment.filename))
            lines.append(message.attachment.content)
        block = "\n".join(lines)
        self.out.write("\n".join("  " + line if line else "" for line in block.splitlines()))
        self.out.write("\n\n")
        self.out.flush()
        return None


class TerminalChat:
    """One person's conversation: each line goes through the engine and the outbox."""

    def __init__(
        self,
        engine: ConversationEngine,
        delivery: Delivery,
        out: TextIO,
        *,
        phone: str | None = None,
        name: str | None = None,
    ) -> None:
        self.engine, self.delivery, self.out = engine, delivery, out
        self.address = phone or "local"
        self.phone, self.name = phone, name

    async def say(self, text: str) -> None:
        incoming = Incoming(
            channel=CHANNEL,
            external_id=self.address,
            text=text,
            phone=self.phone,
            profile_name=self.name,
        )
        for attempt in range(1, DATABASE_TRIES + 1):
            try:
                await self.engine.handle(incoming)
                break
            except (OperationalError, DBAPIError, PoolTimeout, OSError) as error:
                log.warning("database trouble (attempt %s): %s", attempt, error)
                if attempt == DATABASE_TRIES:
                    locale = self.engine.settings.default_locale
                    self.out.write("  " + render(locale, msg("errors.temporary")) + "\n\n")
                    return
                await asyncio.sleep(0.2 * attempt)
        await self.delivery.drain([CHANNEL], self.address)

    async def run(self, stdin: TextIO) -> None:
        interactive = stdin.isatty()
        if interactive:
            locale = self.engine.settings.default_locale
            self.out.write(render(locale, msg("terminal.hello")) + "\n\n")
        await self.delivery.drain([CHANNEL], self.address)  # anything queued while away
        while True:
            line = await asyncio.to_thread(_read_line, stdin, interactive)
            if line is None:
                return
            if not interactive:
                self.out.write(f"> {line}\n")
            if line.strip():
                await self.say(line)


def _read_line(stdin: TextIO, interactive: bool) -> str | None:
    if interactive:
        try:
            return input("> ")
        except EOFError:
            return None
    raw = stdin.readline()
    return raw.rstrip("\n") if raw else None
