"""What the platforms report after a send: Twilio's status callbacks, and the refusals
that say a person blocked us or asked for no more messages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from flows.config import Clock
from storage.tables import OutboxMessage
from storage.unit_of_work import Database, UnitOfWork

PROGRESS = {"sent": 1, "delivered": 2, "read": 3}
EARLY_REPORT_TRIES, EARLY_REPORT_PAUSE = 15, 0.2  # seconds
WINDOW_CLOSED, UNSUBSCRIBED = "63016", "21610"  # Twilio error codes


async def flag_account(uow: UnitOfWork, row: OutboxMessage, now: datetime, opted_out: bool) -> None:
    """The person behind a message's chat opted out, or cannot be reached there."""
    account = await uow.people.account(row.channel, row.address)
    if account is None:
        return
    if opted_out:
        account.opted_out_at = now
    else:
        account.unreachable_at = now


class DeliveryReports:
    def __init__(self, database: Database, clock: Clock, poke: Callable[[], None]) -> None:
        self.database = database
        self.clock = clock
        self.poke = poke  # a message to send again: deliver it soon

    async def record_status(self, provider_id: str, status: str, error_code: str | None) -> bool:
        """A platform's delivery report (Twilio's StatusCallback); False if unknown.

        A report can overtake the sender's own record of the message id (the platform
        answered, and reports, before our commit): it waits for it a little.
        """
        for _ in range(EARLY_REPORT_TRIES):
            async with self.database.unit_of_work() as uow:
                row = await uow.outbox.by_provider_id(provider_id)
                if row is not None:
                    await self._apply_status(uow, row, status, error_code)
                    return True
            await asyncio.sleep(EARLY_REPORT_PAUSE)
        return False

    async def _apply_status(
        self, uow: UnitOfWork, row: OutboxMessage, status: str, error_code: str | None
    ) -> None:
        row.provider_status = status
        if status in ("failed", "undelivered"):
            reason = f"twilio {error_code or status}"
            if error_code == WINDOW_CLOSED:  # the window had closed after all: route again
                account = await uow.people.account(row.channel, row.address)
                if account is not None:
                    account.last_inbound_at = None
                await uow.outbox.retry_at(row, self.clock.now(), reason)
                self.poke()
                return
            if error_code == UNSUBSCRIBED:
                await flag_account(uow, row, self.clock.now(), opted_out=True)
            await uow.outbox.mark_failed(row, reason)
        elif PROGRESS.get(status, 0) > PROGRESS.get(row.status, 0):
            row.status = status  # reports can arrive out of order: only move forward
