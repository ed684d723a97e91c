"""Outbox delivery: claim due messages, render them, send them, record the outcome."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from bot.rendering import Rendered, render_reply
from flows.config import Clock, SystemClock
from flows.messages import Reply
from storage.tables import OutboxMessage
from storage.unit_of_work import Database

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


class SendError(Exception):
    """A send that did not go through: `permanent` ones are not tried again."""

    def __init__(self, reason: str, *, permanent: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.permanent, self.retry_after = reason, permanent, retry_after


class Channel(Protocol):
    name: str

    async def send(self, address: str, message: Rendered) -> str | None:
        """Deliver one message; return the platform's id for it, if it has one."""
        ...


@dataclass(frozen=True)
class Outcome:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** (attempts - 1), 300))


class Delivery:
    def __init__(
        self, database: Database, channels: Mapping[str, Channel], clock: Clock | None = None
    ) -> None:
        self.database = database
        self.channels = dict(channels)
        self.clock = clock or SystemClock()

    async def drain(
        self, channels: Sequence[str] | None = None, address: str | None = None, batch: int = 50
    ) -> Outcome:
        """Send everything due now on `channels` (to `address` only, if given)."""
        names = list(channels or self.channels)
        sent = retried = failed = 0
        while True:
            async with self.database.unit_of_work() as uow:
                claimed = await uow.outbox.claim(
                    self.clock.now(), channels=names, address=address, limit=batch
                )
            if not claimed:
                return Outcome(sent, retried, failed)
            for message in claimed:
                result = await self._deliver(message)
                sent, retried, failed = (
                    sent + (result == "sent"),
                    retried + (result == "retry"),
                    failed + (result == "failed"),
                )
            if len(claimed) < batch:
                return Outcome(sent, retried, failed)

    async def _deliver(self, message: OutboxMessage) -> str:
        assert message.id is not None
        rendered = render_reply(Reply.from_json(message.body), message.locale, message.timezone)
        error: SendError | None = None
        provider_id = None
        try:
            provider_id = await self.channels[message.channel].send(message.address, rendered)
        except SendError as exc:
            error = exc
        async with self.database.unit_of_work() as uow:
            row = await uow.outbox.get(message.id)
            assert row is not None
            now = self.clock.now()
            if error is None:
                await uow.outbox.mark_sent(row, now, provider_id)
                return "sent"
            if error.permanent or row.attempts >= MAX_ATTEMPTS:
                log.warning("message %s failed for good: %s", row.id, error.reason)
                await uow.outbox.mark_failed(row, error.reason)
                return "failed"
            wait = (
                timedelta(seconds=error.retry_after)
                if error.retry_after is not None
                else backoff(row.attempts)
            )
            await uow.outbox.retry_at(row, now + wait, error.reason)
            return "retry"
