"""Outbox delivery: claim due messages, render them, send them, record the outcome."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.delivery_outcomes import Answered, Outcomes
from bot.delivery_reports import DeliveryReports
from bot.metrics import Metrics
from bot.ratelimit import RateLimits
from bot.rendering import Rendered, render_reply
from bot.sending import Channel as Channel
from bot.sending import Editing, EditRefused
from bot.sending import SendError as SendError
from bot.whatsapp_route import WhatsAppRoute
from bot.whatsapp_window import Templates
from flows.config import Clock, SystemClock
from flows.messages import Reply
from flows.timing import QuietHours
from storage.outbox import DEFAULT_LEASE, REMINDER, ClaimedMessage
from storage.unit_of_work import Database

log = logging.getLogger(__name__)
WHATSAPP = "whatsapp"
IDLE_WAIT = 0.5  # seconds between looks at the outbox when nothing was poked
OVERWHELMED_PAUSE = 1.0  # seconds without sends when a platform is overwhelmed and says no more
NO_EDITS = "live message: the channel cannot edit messages"
SUPERSEDED = "live message: a newer one replaces it"


@dataclass(frozen=True)
class Lane:
    channel: str
    bulk: bool  # reminders and broadcasts; else replies and notifications


@dataclass
class Outcome:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    rerouted: int = 0
    deferred: int = 0  # quiet hours: it goes in the morning
    skipped: int = 0  # a live message that the channel cannot show, or a stale one

    def add(self, result: str) -> None:
        if result in ("sent", "retried", "failed", "rerouted", "deferred", "skipped"):
            setattr(self, result, getattr(self, result) + 1)


class Delivery:
    def __init__(
        self,
        database: Database,
        channels: Mapping[str, Channel],
        clock: Clock | None = None,
        *,
        limits: RateLimits | None = None,
        templates: Templates | None = None,
        metrics: Metrics | None = None,
        quiet: QuietHours | None = None,
        concurrency: int = 16,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self.database = database
        self.channels = dict(channels)
        self.clock = clock or SystemClock()
        self.limits = limits or RateLimits({})
        self.metrics = metrics or Metrics()
        self.whatsapp = WhatsAppRoute(
            database, templates or Templates(), self.channels, self.metrics, self.poke
        )
        self.reports = DeliveryReports(database, self.clock, self.poke)
        self.outcomes = Outcomes(database, self.clock, self.metrics)
        self.quiet = quiet
        self.lease = lease  # a claim left by a dead sender is taken again after this
        self._concurrency = concurrency
        self._slots: dict[Lane, asyncio.Semaphore] = {}
        self._poked: dict[Lane, asyncio.Event] = {}

    def lanes(self, channels: Sequence[str] | None = None) -> list[Lane]:
        """Each channel's replies and its bulk (reminders, broadcasts) go side by side:
        one platform's rate limit never holds up another, nor a broadcast a reply."""
        return [Lane(name, bulk) for name in channels or self.channels for bulk in (False, True)]

    def poke(self, bulk: bool | None = None) -> None:
        """Something was queued: look at the outbox now rather than at the next tick (only
        the reply lanes, or only the bulk ones, when that is all it can be)."""
        for lane, event in self._poked.items():
            if bulk is None or lane.bulk == bulk:
                event.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, every lane on its own."""
        await asyncio.gather(*(self._run_lane(lane, stop) for lane in self.lanes()))

    async def _run_lane(self, lane: Lane, stop: asyncio.Event) -> None:
        """A failing round is logged and tried again."""
        poked = self._poked.setdefault(lane, asyncio.Event())
        while not stop.is_set():
            poked.clear()
            try:
                await self._drain_lane(lane, None, 100, Outcome())
            except Exception:
                log.exception("delivery round failed (%s)", lane)
            waiters = [asyncio.create_task(poked.wait()), asyncio.create_task(stop.wait())]
            await asyncio.wait(waiters, timeout=IDLE_WAIT, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()

    async def drain(
        self, channels: Sequence[str] | None = None, address: str | None = None, batch: int = 100
    ) -> Outcome:
        """Send everything due now on `channels` (to `address` only, if given)."""
        outcome = Outcome()
        lanes = self.lanes(channels)
        await asyncio.gather(*(self._drain_lane(lane, address, batch, outcome) for lane in lanes))
        return outcome

    async def _drain_lane(
        self, lane: Lane, address: str | None, batch: int, outcome: Outcome
    ) -> None:
        slots = self._slots.setdefault(lane, asyncio.Semaphore(self._concurrency))
        while True:
            async with self.database.unit_of_work() as uow:
                claimed = await uow.outbox.claim(
                    self.clock.now(),
                    channels=[lane.channel],
                    address=address,
                    limit=batch,
                    lease=self.lease,
                    bulk=lane.bulk,
                    alone=True,  # then only a read
                )
                # the WhatsApp window of each chat, read with the claim, not per message
                chats = {m.address for m in claimed} if lane.channel == WHATSAPP else ()
                windows = await uow.people.last_inbound(lane.channel, chats) if chats else {}
            if not claimed:
                return
            # one chat's messages in order, different chats side by side
            by_chat: dict[str, list[ClaimedMessage]] = defaultdict(list)
            for message in claimed:
                by_chat[message.address].append(message)
            sends = (self._chat(queue, slots, windows.get(a)) for a, queue in by_chat.items())
            # every chat finishes, even when one fails (the database went away): no send
            # goes on unseen while the next round claims again
            for results in await asyncio.gather(*sends, return_exceptions=True):
                if isinstance(results, BaseException):
                    raise results
                for result in results:
                    outcome.add(result)
            if len(claimed) < batch:
                return

    async def _chat(
        self, queue: list[ClaimedMessage], slots: asyncio.Semaphore, last_inbound: datetime | None
    ) -> list[str]:
        """One chat's messages in order; what the platform said of them is recorded
        together, in one transaction, once the chat's last one is sent."""
        results: list[str] = []
        answers: list[Answered] = []
        for message in queue:
            async with slots:
                outcome = await self._deliver(message, last_inbound)
            if isinstance(outcome, Answered):
                answers.append(outcome)
            else:
                results.append(outcome)
        if answers:
            results += await self.outcomes.record(answers)
        return results

    async def _deliver(
        self, message: ClaimedMessage, last_inbound: datetime | None
    ) -> str | Answered:
        if (morning := self._quiet_until(message)) is not None:
            async with self.database.unit_of_work() as uow:
                await uow.outbox.defer(message.id, morning, "quiet hours")
            return "deferred"
        channel = self.channels.get(message.channel)
        target: str | None = None  # the message a live one replaces
        if message.replaces is not None:
            skip, target = await self._live(message, channel)
            if skip:
                return "skipped"
        reply = Reply.from_json(message.body)
        rendered = render_reply(reply, message.locale, message.timezone)
        if message.channel == WHATSAPP:
            now = self.clock.now()
            decision = await self.whatsapp.decide(message, reply, rendered, last_inbound, now)
            if isinstance(decision, str):
                return decision
            rendered = decision
        error: SendError | None = None
        provider_id = None
        if channel is None:
            error = SendError(f"channel {message.channel} is not configured", permanent=True)
        else:
            await self.limits.acquire(message.channel, message.address, message.priority < REMINDER)
            started = time.monotonic()
            try:
                provider_id = await self._send(channel, message, rendered, target)
            except SendError as exc:
                error = exc
                if exc.overwhelmed:  # the chats after this one would only be refused too
                    self.limits.hold(message.channel, exc.retry_after or OVERWHELMED_PAUSE)
            except Exception as exc:  # a bug or an unexpected answer: retry, and say why
                log.exception("sending message %s failed", message.id)
                error = SendError(f"{type(exc).__name__}: {exc}", permanent=False)
            self.metrics.send_seconds.labels(message.channel).observe(time.monotonic() - started)
        return Answered(message.id, message.channel, provider_id, error)

    async def _live(
        self, message: ClaimedMessage, channel: Channel | None
    ) -> tuple[bool, str | None]:
        """Whether a live message is skipped (the channel cannot edit, or a newer one
        waits), and the id of the message it replaces, if one was sent."""
        async with self.database.unit_of_work() as uow:
            row = await uow.outbox.get(message.id or 0)
            assert row is not None
            earlier, stale = await uow.outbox.live(row)
            reason = SUPERSEDED if stale else None
            if not isinstance(channel, Editing):
                reason = NO_EDITS
            if reason is not None:
                await uow.outbox.mark_skipped(row, reason)
        return reason is not None, earlier.provider_id if earlier else None

    async def _send(
        self, channel: Channel, message: ClaimedMessage, rendered: Rendered, target: str | None
    ) -> str | None:
        """Send, or edit the message a live one replaces (anew if it cannot be edited)."""
        if target is not None and isinstance(channel, Editing):
            try:
                return await channel.edit(message.address, target, rendered)
            except EditRefused as refused:
                log.info("message %s not edited (%s): sent anew", message.id, refused.reason)
                await self.limits.acquire(message.channel, message.address)
        return await channel.send(message.address, rendered)

    def _quiet_until(self, message: ClaimedMessage) -> datetime | None:
        """When a reminder or broadcast may go, if the reader's night is not over;
        replies and urgent messages go at once."""
        if self.quiet is None or message.priority < REMINDER or message.urgent:
            return None
        now = self.clock.now()
        release = self.quiet.release(now, message.timezone)
        return release if release > now else None
