"""The sweep: claim the reminders that are due, turn them into outbox messages, and mark
them fired, all in one transaction. A crash before the commit leaves them due; after
it, they are done: so each fires exactly once, after restarts and with several workers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from flows.config import Clock, FlowSettings
from flows.notify import Notifier
from scheduler.reminders import HANDLERS, PRELOADS, Firing, Handler, Preload, Skip
from storage.tables import Reminder
from storage.unit_of_work import Database, UnitOfWork

log = logging.getLogger(__name__)
GRACE = timedelta(hours=12)  # a reminder later than this (the bot was down) is skipped


@dataclass
class SweepReport:
    fired: int = 0
    skipped: int = 0
    messages: int = 0


class ReminderSweep:
    def __init__(
        self,
        database: Database,
        settings: FlowSettings,
        clock: Clock,
        handlers: Mapping[str, Handler] = HANDLERS,
        batch: int = 200,
        preloads: Mapping[str, Preload] = PRELOADS,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.notifier = Notifier(settings, clock)
        self.handlers = dict(handlers)
        self.preloads = {kind: preloads[kind] for kind in handlers if kind in preloads}
        self.batch = batch

    async def run(self) -> SweepReport:
        """Fire everything due now."""
        report = SweepReport()
        while True:
            async with self.database.unit_of_work() as uow:
                due = await uow.reminders.claim_due(self.clock.now(), self.batch)
                loaded = []  # held while the batch fires, so that the session keeps them
                for kind, preload in self.preloads.items():
                    if of_kind := [r for r in due if r.kind == kind]:
                        loaded += await preload(uow, of_kind)
                for reminder in due:
                    await self._fire(uow, reminder, report)
            if len(due) < self.batch:
                return report

    async def _fire(self, uow: UnitOfWork, reminder: Reminder, report: SweepReport) -> None:
        now = self.clock.now()
        reason = await self._why_not(uow, reminder, now)
        if reason is None:
            firing = Firing(uow, reminder, now, self.settings, self.notifier)
            reason = await self._run(firing)
            if reason is None:
                uow.reminders.fired(reminder, now, firing.recipients)
                report.fired += 1
                report.messages += firing.recipients
                return
        uow.reminders.skipped(reminder, now, reason)
        report.skipped += 1

    async def _why_not(self, uow: UnitOfWork, reminder: Reminder, now: datetime) -> str | None:
        if reminder.kind not in self.handlers:
            return f"unknown kind {reminder.kind}"
        if now - reminder.due_at > GRACE:
            return f"too late: due {reminder.due_at:%Y-%m-%d %H:%M} UTC"
        return None

    async def _run(self, firing: Firing) -> str | None:
        """Run the reminder's handler; why it was skipped, if it was."""
        try:
            async with firing.uow.session.begin_nested():  # a failure spoils only itself
                await self.handlers[firing.reminder.kind](firing)
        except Skip as skip:
            return str(skip)
        except Exception as error:
            log.exception("reminder %s (%s) failed", firing.reminder.id, firing.reminder.kind)
            return f"error: {type(error).__name__}: {error}"
        return None
