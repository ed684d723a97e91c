"""What the platforms said of the messages sent: recorded for many chats in one
transaction (a group commit), so that a busy worker does not pay a transaction per chat."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import DBAPIError

from bot.delivery_reports import flag_account
from bot.metrics import Metrics
from bot.sending import SendError
from flows.config import Clock
from storage.group_commit import settle
from storage.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
RECORD_PATIENCE = 600.0  # seconds a sent message's outcome waits for the database to return
OUTAGE = (DBAPIError, OSError)


@dataclass(frozen=True)
class Answered:
    """A message the platform has answered for (sent, or refused), to be recorded."""

    message_id: int
    channel: str
    provider_id: str | None
    error: SendError | None


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** (attempts - 1), 300))


class Outcomes:
    """Chats hand in their answered messages and wait; whatever was handed in while the
    previous transaction ran is recorded together in the next one."""

    def __init__(self, database: Database, clock: Clock, metrics: Metrics) -> None:
        self.database = database
        self.clock = clock
        self.metrics = metrics
        self._waiting: list[tuple[list[Answered], asyncio.Future[list[str]]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, answers: list[Answered]) -> list[str]:
        """Record one chat's answers; the result of each ("sent", "retried", "failed",
        "skipped")."""
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self._waiting.append((answers, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        # a chat cancelled meanwhile (shutdown) still has its sends recorded by the writer
        return await future

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                results = await self._patiently([a for answers, _ in batch for a in answers])
            except Exception as error:
                if isinstance(error, OUTAGE) or len(batch) == 1:
                    for _, future in batch:
                        settle(future, error)
                    continue
                # a bug in one chat's record is not the other chats' problem
                log.exception("recording %d chats together failed: one at a time", len(batch))
                for answers, future in batch:
                    try:
                        settle(future, await self._patiently(answers))
                    except Exception as alone:
                        settle(future, alone)
                continue
            start = 0
            for answers, future in batch:
                settle(future, results[start : start + len(answers)])
                start += len(answers)

    async def _patiently(self, answers: list[Answered]) -> list[str]:
        """While the database is away (restarting, failing over) wait for it: a message
        sent and not recorded would go again after its lease."""
        pause, waited = 0.2, 0.0
        while True:
            try:
                async with self.database.unit_of_work() as uow:
                    return await self._record(uow, answers)
            except OUTAGE as problem:
                if waited >= RECORD_PATIENCE:
                    raise
                ids = [a.message_id for a in answers]
                log.warning("messages %s: outcome not recorded yet (%r)", ids, problem)
            await asyncio.sleep(pause)
            waited, pause = waited + pause, min(pause * 2, 5.0)

    async def _record(self, uow: UnitOfWork, answers: list[Answered]) -> list[str]:
        sent = [(a.message_id, a.provider_id) for a in answers if a.error is None]
        # one statement for them all; the only one, when no message was refused
        await uow.outbox.mark_sent(sent, self.clock.now(), alone=len(sent) == len(answers))
        results: list[str] = []
        for answer in answers:
            if answer.error is None:
                self.metrics.sent.labels(answer.channel).inc()
                results.append("sent")
            else:
                results.append(await self._record_refusal(uow, answer.message_id, answer.error))
        return results

    async def _record_refusal(self, uow: UnitOfWork, message_id: int, error: SendError) -> str:
        row = await uow.outbox.get(message_id)
        if row is None:  # its person was erased while it was on its way
            return "skipped"
        now = self.clock.now()
        if error.unreachable or error.opted_out:
            await flag_account(uow, row, now, opted_out=error.opted_out)
        if error.permanent or row.attempts >= MAX_ATTEMPTS:
            log.warning("message %s failed for good: %s", row.id, error.reason)
            await uow.outbox.mark_failed(row, error.reason)
            self.metrics.failed.labels(row.channel).inc()
            return "failed"
        wait = timedelta(seconds=error.retry_after) if error.retry_after else backoff(row.attempts)
        await uow.outbox.retry_at(row, now + wait, error.reason)
        self.metrics.retried.labels(row.channel).inc()
        return "retried"
