"""Broadcasts: who a notice reaches, a preview, and the fan-out through the outbox."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from flows.config import FlowSettings, FrozenClock
from flows.i18n import supported
from flows.messages import Count, Key, Param, Reply, msg
from flows.notify import Notifier, preferred_account
from storage.broadcasts import Figures, origin
from storage.outbox import BROADCAST
from storage.shifts import HOLDING
from storage.tables import Broadcast, ChannelAccount, Person
from storage.unit_of_work import UnitOfWork

ROLE_AUDIENCES = {
    "families": "family",
    "volunteers": "volunteer",
    "members": "member",
    "coordinators": "coordinator",
}
AUDIENCES = ("everyone", *ROLE_AUDIENCES, "zone", "language", "shift", "assembly")
NARROWED = ("zone", "language", "shift", "assembly")  # these need an argument
AUDIENCE_NAMES = {
    "everyone": msg("broadcast.audience_everyone"),
    "families": msg("broadcast.audience_families"),
    "volunteers": msg("broadcast.audience_volunteers"),
    "members": msg("broadcast.audience_members"),
    "coordinators": msg("broadcast.audience_coordinators"),
    "zone": msg("broadcast.audience_zone"),
    "language": msg("broadcast.audience_language"),
    "shift": msg("broadcast.audience_shift"),
    "assembly": msg("broadcast.audience_assembly"),
}
REPORT_EVERY = timedelta(minutes=1)  # the author's report waits until nothing is pending
REPORT = "broadcast_report"
SEND = "broadcast"


class UnknownAudience(ValueError):
    pass


async def audience_ids(
    uow: UnitOfWork, audience: str, argument: str | None, settings: FlowSettings
) -> list[int]:
    """The people an audience names (before opt-outs are taken out)."""
    if audience == "everyone":
        return await uow.broadcasts.signed_up()
    if audience in ROLE_AUDIENCES:
        people = await uow.people.with_role(ROLE_AUDIENCES[audience])
        return [p.id for p in people if p.id is not None]
    if audience == "zone" and argument:
        return await uow.broadcasts.in_zone(argument)
    if audience == "language" and argument:
        return await uow.broadcasts.speaking(argument, settings.default_locale)
    if audience == "shift" and argument and argument.isdigit():
        team = await uow.shifts.assignments(int(argument))
        return [a.person_id for a in team if a.status in HOLDING]
    if audience == "assembly" and argument and argument.isdigit():
        invited = await uow.assemblies.invitations(int(argument))
        if invited or await uow.assemblies.get(int(argument)):  # an unknown one is refused
            return [invite.person_id for invite, _ in invited]
    raise UnknownAudience(f"unknown audience {audience} {argument or ''}".strip())


@dataclass
class Recipients:
    reachable: list[tuple[Person, ChannelAccount]]
    opted_out: int

    @property
    def by_channel(self) -> Counter[str]:
        return Counter(account.channel for _, account in self.reachable)


async def recipients(uow: UnitOfWork, broadcast: Broadcast, settings: FlowSettings) -> Recipients:
    ids = await audience_ids(uow, broadcast.audience, broadcast.audience_arg, settings)
    reachable, opted_out = [], 0
    for person, accounts in await uow.broadcasts.people_with_accounts(ids):
        account = preferred_account(accounts)
        if person.opted_out_at is not None:
            opted_out += 1
        elif account is not None:
            reachable.append((person, account))
    return Recipients(reachable, opted_out)


def text_for(broadcast: Broadcast, person: Person, settings: FlowSettings) -> str:
    """The person's language version, else the main one."""
    locale = supported(person.locale or settings.default_locale)
    return broadcast.texts.get(locale) or broadcast.texts[settings.default_locale]


async def fan_out(
    uow: UnitOfWork, broadcast: Broadcast, settings: FlowSettings, now: datetime
) -> int:
    """One outbox message per recipient, at broadcast priority, in this transaction: the
    broadcast is sent to everyone or (if the transaction fails) to nobody."""
    found = await recipients(uow, broadcast, settings)
    notifier = Notifier(settings, FrozenClock(now))
    rows = []
    for person, account in found.reachable:
        notice = Reply(msg("broadcast.notice"), {"text": text_for(broadcast, person, settings)})
        tag = origin(broadcast.id)
        rows.append(notifier.message(account, person, notice, priority=BROADCAST, origin=tag))
    await uow.outbox.add_rows(rows)  # one statement
    broadcast.status, broadcast.sent_at = "sent", now
    broadcast.recipients, broadcast.opted_out = len(found.reachable), found.opted_out
    await uow.reminders.plan(REPORT, origin(broadcast.id), {"1": now + REPORT_EVERY}, now)
    return len(found.reachable)


async def schedule(uow: UnitOfWork, broadcast: Broadcast, when: datetime, now: datetime) -> None:
    """Send it at `when`, through the reminders (so, once, with several workers)."""
    broadcast.status, broadcast.send_at = "scheduled", when
    await uow.reminders.plan(SEND, origin(broadcast.id), {"at": when}, now)


async def cancel(uow: UnitOfWork, broadcast: Broadcast) -> bool:
    """A scheduled broadcast is not sent after all; False when it went already."""
    if broadcast.status != "scheduled":
        return False
    broadcast.status = "cancelled"
    await uow.reminders.cancel(origin(broadcast.id), "broadcast cancelled")
    return True


def audience_detail(broadcast: Broadcast) -> str:
    """ " (Bologna)" after the audience's name, when it is narrowed down."""
    return f" ({broadcast.audience_arg})" if broadcast.audience_arg else ""


def figures_params(broadcast: Broadcast, figures: Figures) -> dict[str, Param]:
    failed = ", ".join(f"{reason} ({n})" for reason, n in figures.failed.most_common()) or "-"
    return {
        "id": broadcast.id,
        "audience": Key(AUDIENCE_NAMES.get(broadcast.audience, AUDIENCE_NAMES["everyone"])),
        "detail": audience_detail(broadcast),
        "recipients": Count(broadcast.recipients),
        "opted_out": Count(broadcast.opted_out),
        "waiting": Count(figures.waiting),
        "sent": Count(figures.sent),
        "delivered": Count(figures.delivered),
        "read": Count(figures.read),
        "failed": Count(sum(figures.failed.values())),
        "reasons": failed,
    }
