"""Several `cisono run` on one database share the platforms' limits: each notes that it
runs every few seconds, counts the others, and keeps to its part of each limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from datetime import timedelta

from bot.ratelimit import RateLimits
from flows.config import Clock
from storage.unit_of_work import Database

log = logging.getLogger(__name__)
HEARTBEAT = 10.0  # seconds between two notes
LIVE = timedelta(seconds=35)  # a worker silent for longer has stopped (or died)


def worker_name() -> str:
    return f"{socket.gethostname()[:50]}:{os.getpid()}:{secrets.token_hex(4)}"


class LimitShare:
    def __init__(
        self, database: Database, limits: RateLimits, clock: Clock, name: str | None = None
    ) -> None:
        self.database = database
        self.limits = limits
        self.clock = clock
        self.name = name or worker_name()

    async def beat(self) -> int:
        """Note that this worker runs and take its share; how many run."""
        async with self.database.unit_of_work() as uow:
            live = await uow.workers.seen(self.name, self.clock.now(), LIVE)
        if live != self.limits.workers:
            log.info("%d cisono run share the platforms' limits", live)
        self.limits.share(live)
        return live

    async def run(self, stop: asyncio.Event) -> None:
        """Beat until `stop` is set, then leave (the others take the share at once)."""
        while not stop.is_set():
            try:
                await self.beat()
            except Exception:  # the database is away: keep the share known last
                log.warning("worker %s: could not note that it runs", self.name, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT)
        await self.leave()

    async def leave(self) -> None:
        try:
            async with self.database.unit_of_work() as uow:
                await uow.workers.gone(self.name)
        except Exception:  # it will be forgotten after LIVE anyway
            log.warning("worker %s: could not note that it stops", self.name, exc_info=True)
