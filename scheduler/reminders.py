"""What each kind of reminder says, and to whom, when it fires."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from flows.assemblies import answer_choices
from flows.assemblies import params as assembly_params
from flows.assemblies import seats as assembly_seats
from flows.broadcasting import REPORT, REPORT_EVERY, SEND, fan_out, figures_params
from flows.config import FlowSettings
from flows.messages import Reply, msg
from flows.notify import Notifier
from flows.reminders import ASSEMBLY, ASSEMBLY_DEADLINE, REQUEST_UNTRIAGED, SHIFT, SHIFT_SHORT
from flows.requests import coordinator_notice
from flows.shifts import fitting_volunteers, offer, shift_params
from storage.broadcasts import origin
from storage.outbox import REMINDER
from storage.tables import Assembly, Reminder, Shift
from storage.unit_of_work import UnitOfWork

URGENT = timedelta(hours=2)  # a shift this close goes out during quiet hours too
REPORT_GIVE_UP = timedelta(hours=24)  # a broadcast still sending then is reported as it is


class Skip(Exception):
    """The reminder no longer makes sense; the reason is kept on its row."""


def subject_id(reminder: Reminder) -> int:
    """The id in the reminder's subject ("shift:12" → 12)."""
    return int(reminder.subject.partition(":")[2])


@dataclass
class Firing:
    """One reminder being fired, inside the sweep's transaction."""

    uow: UnitOfWork
    reminder: Reminder
    now: datetime
    settings: FlowSettings
    notifier: Notifier
    recipients: int = 0

    @property
    def subject_id(self) -> int:
        return subject_id(self.reminder)

    async def tell(self, person_id: int, reply: Reply, urgent: bool = False) -> None:
        origin = f"reminder:{self.reminder.id}"
        queued = await self.notifier.queue(
            self.uow, person_id, reply, priority=REMINDER, origin=origin, urgent=urgent
        )
        self.recipients += queued

    async def coordinators(self) -> list[int]:
        return [p.id for p in await self.uow.people.with_role("coordinator") if p.id is not None]


async def _upcoming_shift(firing: Firing) -> Shift:
    shift = await firing.uow.shifts.get(firing.subject_id)
    if shift is None or shift.status != "open":
        raise Skip("shift cancelled")
    if shift.starts_at <= firing.now:
        raise Skip("shift already started")
    return shift


async def shift_reminder(firing: Firing) -> None:
    """To the volunteers on the shift."""
    shift = await _upcoming_shift(firing)
    assert shift.id is not None
    urgent = shift.starts_at - firing.now <= URGENT
    reply = Reply(msg("reminders.shift"), shift_params(shift))
    for assignment in await firing.uow.shifts.assignments(shift.id):
        if assignment.status == "confirmed":
            await firing.tell(assignment.person_id, reply, urgent)


async def shift_short(firing: Firing) -> None:
    """Coordinators are alerted; fitting volunteers who have not answered are asked again."""
    shift = await _upcoming_shift(firing)
    assert shift.id is not None
    left = shift.needed - await firing.uow.shifts.taken(shift.id)
    if left <= 0:
        raise Skip("shift covered")
    alert = Reply(msg("reminders.shift_short"), shift_params(shift, left))
    for coordinator in await firing.coordinators():
        await firing.tell(coordinator, alert)
    answered = {a.person_id for a in await firing.uow.shifts.assignments(shift.id)}
    again = Reply(
        msg("reminders.offer_again"), shift_params(shift, left), offer(shift, left).choices
    )
    for volunteer in await fitting_volunteers(firing.uow, shift, firing.settings.timezone):
        if volunteer not in answered:
            await firing.tell(volunteer, again)


async def request_untriaged(firing: Firing) -> None:
    request = await firing.uow.requests.get(firing.subject_id)
    if request is None or request.status != "new":
        raise Skip("request already taken in charge")
    notice = coordinator_notice(request, msg("reminders.request_untriaged"))
    for coordinator in await firing.coordinators():
        await firing.tell(coordinator, notice)


async def scheduled_broadcast(firing: Firing) -> None:
    broadcast = await firing.uow.broadcasts.get(firing.subject_id)
    if broadcast is None or broadcast.status != "scheduled":
        raise Skip("broadcast cancelled")
    firing.recipients = await fan_out(firing.uow, broadcast, firing.settings, firing.now)


async def broadcast_report(firing: Firing) -> None:
    """While messages wait, the author's progress message is updated; once nothing waits
    (or after a day, as they are) the author gets the report."""
    broadcast = await firing.uow.broadcasts.get(firing.subject_id)
    if broadcast is None or broadcast.id is None:
        raise Skip("broadcast gone")
    figures = await firing.uow.broadcasts.figures(broadcast.id)
    started = broadcast.sent_at or firing.now
    kind, _, author = broadcast.author.partition(":")
    author_id = int(author) if kind == "person" and author.isdigit() else None
    tag = f"{origin(broadcast.id)}:progress"
    if figures.waiting and firing.now - started < REPORT_GIVE_UP:
        label = str(int(firing.reminder.label or "1") + 1)
        firing.uow.reminders.add(REPORT, firing.reminder.subject, label, firing.now + REPORT_EVERY)
        if author_id is not None:  # one message, updated where the channel can edit it
            params = figures_params(broadcast, figures)
            await firing.tell(author_id, Reply(msg("broadcast.progress"), params, replaces=tag))
        return
    await firing.uow.outbox.skip_live(tag, "the report follows")  # progress held by the night
    if author_id is not None:
        report = Reply(msg("broadcast.report"), figures_params(broadcast, figures))
        await firing.tell(author_id, report)


async def _open_assembly(firing: Firing) -> Assembly:
    assembly = await firing.uow.assemblies.get(firing.subject_id)
    if assembly is None or assembly.status != "open":
        raise Skip("assembly cancelled")
    if assembly.first_call_at <= firing.now:
        raise Skip("assembly already begun")
    return assembly


async def assembly_reminder(firing: Firing) -> None:
    """To those who will be there, and to those who have not answered (who may still)."""
    assembly = await _open_assembly(firing)
    assert assembly.id is not None
    urgent = assembly.first_call_at - firing.now <= URGENT
    answering = firing.now < assembly.answer_deadline
    for invite, _person in await assembly_seats(firing.uow, assembly.id):
        if invite.answer in ("present", "remote"):
            reply = Reply(msg("reminders.assembly"), assembly_params(assembly))
        elif invite.answer is None:
            choices = answer_choices(assembly, invite.voting) if answering else ()
            reply = Reply(msg("reminders.assembly_unanswered"), assembly_params(assembly), choices)
        else:
            continue
        await firing.tell(invite.person_id, reply, urgent)


async def assembly_deadline(firing: Firing) -> None:
    """A day before the answers close, to the members who have not answered."""
    assembly = await _open_assembly(firing)
    assert assembly.id is not None
    if assembly.answer_deadline <= firing.now:
        raise Skip("answers already closed")
    for invite, _person in await assembly_seats(firing.uow, assembly.id):
        if invite.answer is None:
            choices = answer_choices(assembly, invite.voting)
            reply = Reply(msg("reminders.assembly_deadline"), assembly_params(assembly), choices)
            await firing.tell(invite.person_id, reply)


async def shifts_and_their_teams(uow: UnitOfWork, reminders: Sequence[Reminder]) -> list[object]:
    """The shifts of a batch of shift reminders, and the volunteers confirmed on them,
    in two queries: each reminder's handler then finds them in the session instead of
    asking for the shift and for each volunteer (a query each, a third of a sweep)."""
    ids = [subject_id(r) for r in reminders if r.subject.partition(":")[2].isdigit()]
    return [*await uow.shifts.load(ids), *await uow.people.on_shifts(ids)]


Handler = Callable[[Firing], Awaitable[None]]
# what it loaded: the caller holds on to it (the session's identity map holds weakly)
Preload = Callable[[UnitOfWork, Sequence[Reminder]], Awaitable[list[object]]]
HANDLERS: dict[str, Handler] = {
    SHIFT: shift_reminder,
    SHIFT_SHORT: shift_short,
    REQUEST_UNTRIAGED: request_untriaged,
    ASSEMBLY: assembly_reminder,
    ASSEMBLY_DEADLINE: assembly_deadline,
    SEND: scheduled_broadcast,
    REPORT: broadcast_report,
}
# what a batch of reminders of a kind needs, loaded before they fire
PRELOADS: dict[str, Preload] = {SHIFT: shifts_and_their_teams, SHIFT_SHORT: shifts_and_their_teams}
