"""Where a WhatsApp message goes: free text inside the 24-hour window, else an approved
template, else the person's other channel, else nowhere (a failure, with the reason)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from bot.metrics import Metrics
from bot.rendering import Rendered
from bot.whatsapp_window import OUTSIDE_NO_TEMPLATE, Templates, window_open
from flows.messages import Reply
from storage.outbox import ClaimedMessage
from storage.tables import ChannelAccount
from storage.unit_of_work import Database, UnitOfWork

FALLBACK_CHANNELS = ("telegram", "sms")  # where a WhatsApp message goes when it cannot


class WhatsAppRoute:
    def __init__(
        self,
        database: Database,
        templates: Templates,
        channels: Collection[str],
        metrics: Metrics,
        poke: Callable[[], None],
    ) -> None:
        self.database = database
        self.templates = templates
        self.channels = channels  # the channels configured, for the fallback
        self.metrics = metrics
        self.poke = poke  # a message moved to another channel: deliver it soon

    async def decide(
        self,
        message: ClaimedMessage,
        reply: Reply,
        rendered: Rendered,
        last_inbound_at: datetime | None,
        now: datetime,
    ) -> Rendered | str:
        """What to send (the text, or a template), or "rerouted" / "failed" when the
        message cannot go on WhatsApp. `last_inbound_at`: the person's, read at claim."""
        if window_open(last_inbound_at, now):
            return self.templates.quick_reply(rendered) or rendered
        template = self.templates.find(reply.key, message.locale)
        if template is not None:
            values = template.values(reply, rendered.numbered(), message.locale, message.timezone)
            return Rendered(
                rendered.text,
                locale=rendered.locale,
                template_sid=template.content_sid,
                template_variables=values,
            )
        async with self.database.unit_of_work() as uow:
            return await self._elsewhere(uow, message, now)

    async def _elsewhere(self, uow: UnitOfWork, message: ClaimedMessage, now: datetime) -> str:
        row = await uow.outbox.get(message.id)
        assert row is not None
        other = await self._other_account(uow, message.person_id)
        if other is not None:
            row.channel, row.address, row.account_id = other.channel, other.external_id, other.id
            await uow.outbox.retry_at(row, now, f"rerouted: {OUTSIDE_NO_TEMPLATE}")
            row.attempts = 0
            self.poke()
            return "rerouted"
        await uow.outbox.mark_failed(row, OUTSIDE_NO_TEMPLATE)
        self.metrics.failed.labels(message.channel).inc()
        return "failed"

    async def _other_account(self, uow: UnitOfWork, person_id: int | None) -> ChannelAccount | None:
        if person_id is None:
            return None
        accounts = {a.channel: a for a in await uow.people.accounts(person_id)}
        for channel in FALLBACK_CHANNELS:
            account = accounts.get(channel)
            usable = account and account.unreachable_at is None and account.opted_out_at is None
            if usable and channel in self.channels:
                return account
        return None
