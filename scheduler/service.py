"""APScheduler is the clock: it only triggers sweeps, the truth is in the database.

Its jobs live in memory (never a shared job store, which duplicates or loses jobs
between processes); every `cisono run` has its own, and the sweeps' row locks make
sure each reminder fires once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from flows.config import Clock
from scheduler.sweep import ReminderSweep
from storage.unit_of_work import Database

log = logging.getLogger(__name__)
PURGE_AT = {"hour": 3, "minute": 30}  # the nightly retention purge, local time


async def purge_expired_requests(database: Database, clock: Clock, retention_days: int) -> int:
    """Closed requests older than the retention lose their personal details."""
    before = clock.now() - timedelta(days=retention_days)
    async with database.unit_of_work() as uow:
        purged = await uow.requests.purge_closed(before)
        if purged:
            await uow.audit.record(
                "system", "requests.purged", None, count=purged, days=retention_days
            )
        return purged


class Scheduler:
    def __init__(
        self,
        sweep: ReminderSweep,
        *,
        timezone: str,
        every_seconds: float,
        retention_days: int,
        on_queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.sweep = sweep
        self.retention_days = retention_days
        self.on_queued = on_queued
        self._clock = AsyncIOScheduler(timezone=timezone)
        self._clock.add_job(
            self.sweep_now,
            "interval",
            seconds=every_seconds,
            id="sweep",
            max_instances=1,  # a slow sweep is not overlapped by the next one
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=datetime.now(UTC),  # a first sweep at start: what is overdue
        )
        self._clock.add_job(
            self.purge_now,
            "cron",
            id="purge",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
            **PURGE_AT,
        )

    def start(self) -> None:
        self._clock.start()

    def stop(self) -> None:
        if self._clock.running:
            self._clock.shutdown(wait=False)

    async def sweep_now(self) -> None:
        try:
            report = await self.sweep.run()
        except Exception:
            log.exception("reminder sweep failed; the next one will try again")
            return
        if report.messages:
            self.on_queued()

    async def purge_now(self) -> None:
        try:
            purged = await purge_expired_requests(
                self.sweep.database, self.sweep.clock, self.retention_days
            )
        except Exception:
            log.exception("retention purge failed; it runs again tomorrow night")
            return
        log.info("retention purge: %s requests purged of personal details", purged)
