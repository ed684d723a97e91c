"""Queueing messages for people: on the channel they use, in their language."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from flows.config import Clock, FlowSettings, SystemClock
from flows.i18n import supported
from flows.messages import Reply
from storage.outbox import REPLY, OutboxRow
from storage.tables import ChannelAccount, Person
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, settings: FlowSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()

    def message(
        self,
        account: ChannelAccount,
        person: Person,
        reply: Reply,
        *,
        erased: bool = False,
        priority: int = REPLY,
        origin: str | None = None,
        urgent: bool = False,
    ) -> OutboxRow:
        """The outbox row of `reply` for one chat (`erased`: the person is gone, keep no
        link); `OutboxRepository.add_rows` queues it."""
        now = self.clock.now()  # the flow's time, which tests control, not the wall's
        return {
            "person_id": None if erased else person.id,
            "account_id": None if erased else account.id,
            "channel": account.channel,
            "address": account.external_id,
            "locale": supported(person.locale or self.settings.default_locale),
            "timezone": person.timezone or self.settings.timezone,
            "body": reply.to_json(),
            "priority": priority,
            "status": "queued",
            "attempts": 0,
            "origin": origin,
            "urgent": urgent,
            "replaces": reply.replaces,
            "next_attempt_at": now,
            "created_at": now,
        }

    async def queue(
        self,
        uow: UnitOfWork,
        person_id: int,
        reply: Reply,
        *,
        priority: int = REPLY,
        origin: str | None = None,
        urgent: bool = False,
    ) -> bool:
        """Queue `reply` for someone, on the channel they used last; False when they cannot
        be reached (no account, or they asked for no messages)."""
        found = await self.recipient(uow, person_id)
        if found is None:
            return False
        account, person = found
        row = self.message(account, person, reply, priority=priority, origin=origin, urgent=urgent)
        await uow.outbox.add_rows([row])
        return True

    async def recipient(
        self, uow: UnitOfWork, person_id: int
    ) -> tuple[ChannelAccount, Person] | None:
        """Whom `queue` writes to (the account they used last, and the person), or None
        when they cannot be reached."""
        person = await uow.people.get(person_id)
        if person is None or person.opted_out_at is not None:
            return None
        account = preferred_account(await uow.people.accounts(person_id))
        if account is None:
            log.info("cannot notify person %s: no account", person_id)
            return None
        return account, person


def preferred_account(accounts: Sequence[ChannelAccount]) -> ChannelAccount | None:
    """The account used last among those that still reach the person, else the last one."""
    if not accounts:
        return None
    usable = [a for a in accounts if a.opted_out_at is None and a.unreachable_at is None]
    return max(usable or accounts, key=lambda a: a.last_inbound_at or a.created_at)
