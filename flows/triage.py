"""Coordinators triage requests in the chat: list, filter, open, note, change status."""

from __future__ import annotations

from typing import ClassVar

from flows.i18n import format_value
from flows.messages import Choice, Key, Param, Reply, msg
from flows.my_requests import TakeCharge, as_values
from flows.requests import CATEGORIES, STATUSES, URGENCIES, summary_params
from flows.shift_form import begin, for_request
from flows.step import BACK, BACK_CHOICE, Answer, Context, Next, Notification, Question, Step
from storage.requests import OPEN
from storage.tables import SupportRequest
from storage.unit_of_work import UnitOfWork

LISTED = 15
REASON_MAX = 300
FILTERS = {
    "status": (msg("triage.by_status"), STATUSES),
    "category": (msg("triage.by_category"), {k: label for k, (label, _) in CATEGORIES.items()}),
    "urgency": (msg("triage.by_urgency"), URGENCIES),
    "zone": (msg("triage.by_zone"), {}),  # the cooperative's zones and those requested
}
URGENT_FIRST = {"urgent": 0, "week": 1, "ordinary": 2}


def coordinators_only(ctx: Context) -> Next | None:
    if ctx.has_role("coordinator"):
        return None
    return Next.to(BACK, Reply(msg("common.not_allowed")))


def matches(request: SupportRequest, filters: dict[str, str]) -> bool:
    if "status" not in filters and request.status not in OPEN:
        return False
    return all(getattr(request, field) == value for field, value in filters.items())


class OpenRequests(Step):
    name = "triage.list"
    help = msg("help.triage")

    async def ask(self, ctx: Context) -> Question:
        filters = dict(ctx.data.get("filters", {}))  # type: ignore[call-overload]
        found = [r for r in await ctx.uow.requests.listing() if matches(r, filters)]
        found.sort(key=lambda r: (URGENT_FIRST.get(r.urgency, 3), r.id))
        choices = [
            Choice(
                str(r.id),
                msg("triage.item"),
                {
                    "reference": r.reference,
                    "category": Key(CATEGORIES[r.category][0]),
                    "zone": r.zone,
                    "urgency": Key(URGENCIES[r.urgency]),
                    "status": Key(STATUSES[r.status]),
                },
            )
            for r in found[:LISTED]
        ]
        choices.append(Choice("filter", msg("triage.filter")))
        if filters:
            choices.append(Choice("all", msg("triage.clear_filter")))
        key = msg("triage.list") if found else msg("triage.none")
        return Question(Reply(key, {"count": len(found)}, (*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if (refused := coordinators_only(ctx)) is not None:
            return refused
        if answer.choice_id == "back":
            return Next(goto=BACK)
        if answer.choice_id == "filter":
            return Next(goto="triage.filter")
        if answer.choice_id == "all":
            ctx.data.pop("filters", None)
            return Next()
        ctx.data["request_id"] = int(answer.choice_id or 0)
        return Next(goto="triage.detail")


class Filter(Step):
    """What to filter by, then the value: one step that asks twice."""

    name = "triage.filter"
    help = msg("help.triage")

    async def ask(self, ctx: Context) -> Question:
        dimension = ctx.data.get("filter_by")
        if dimension == "zone":
            choices = await self._zones(ctx)
            return Question(Reply(msg("triage.ask_value"), choices=(*choices, BACK_CHOICE)))
        if isinstance(dimension, str) and dimension in FILTERS:
            values = FILTERS[dimension][1]
            choices = tuple(Choice(key, label) for key, label in values.items())
            return Question(Reply(msg("triage.ask_value"), choices=(*choices, BACK_CHOICE)))
        choices = tuple(Choice(key, label) for key, (label, _) in FILTERS.items())
        return Question(Reply(msg("triage.ask_filter"), choices=(*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        dimension = ctx.data.pop("filter_by", None)
        if answer.choice_id == "back":
            return Next(goto=BACK)
        if not isinstance(dimension, str):
            ctx.data["filter_by"] = answer.choice_id
            return Next()
        filters = dict(ctx.data.get("filters", {}))  # type: ignore[call-overload]
        if dimension == "zone" and answer.choice is not None:
            filters[dimension] = str(answer.choice.params["zone"])
        else:
            filters[dimension] = answer.choice_id
        ctx.data["filters"] = filters
        return Next(goto=BACK)

    @staticmethod
    async def _zones(ctx: Context) -> tuple[Choice, ...]:
        requested = {r.zone for r in await ctx.uow.requests.listing()}
        zones = enumerate(sorted(set(ctx.settings.zones) | requested))
        return tuple(Choice(f"z{n}", msg("requests.zone_item"), {"zone": z}) for n, z in zones)


class RequestCard(Step):
    name = "triage.detail"
    help = msg("help.triage")

    async def ask(self, ctx: Context) -> Question:
        request = await ctx.uow.requests.get(ctx.number("request_id"))
        if request is None or request.id is None:
            return Question(Reply(msg("requests.not_found"), choices=(BACK_CHOICE,)))
        family = await ctx.uow.people.get(request.family_person_id or 0)
        history = []
        for event in await ctx.uow.requests.events(request.id):
            when = format_value(event.at, ctx.locale, ctx.timezone)
            what = ctx.t(STATUSES[event.status]) if event.status else ctx.t(msg("triage.noted"))
            history.append(
                f"• {when} ({event.actor}): {what}" + (f" — {event.text}" if event.text else "")
            )
        params: dict[str, Param] = {
            **summary_params(as_values(request)),
            "reference": request.reference,
            "status": Key(STATUSES[request.status]),
            "family": f"{family.name} {family.phone or ''}".strip() if family else "-",
            "history": "\n".join(history),
        }
        choices = []
        if request.status == "new":
            choices.append(Choice("take", msg("requests.take_charge")))
        if request.status in OPEN:
            choices.append(Choice("shift", msg("triage.make_shift")))
        choices += [
            Choice("note", msg("triage.add_note")),
            Choice("status", msg("triage.change_status")),
        ]
        return Question(Reply(msg("triage.detail"), params, (*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if (refused := coordinators_only(ctx)) is not None:
            return refused
        if answer.choice_id == "take":
            return await TakeCharge().run(ctx, str(ctx.data.get("request_id", "")))
        if answer.choice_id == "shift":
            request = await ctx.uow.requests.get(ctx.number("request_id"))
            if request is not None:
                return begin(ctx, for_request(request), edit=False)
        if answer.choice_id in ("note", "status"):
            ctx.data.pop("new_status", None)
            return Next(goto=f"triage.{answer.choice_id}")
        return Next(goto=BACK)


class AddNote(Step):
    name = "triage.note"
    help = msg("help.triage")

    async def ask(self, ctx: Context) -> Question:
        return Question(
            Reply(msg("triage.ask_note"), {"max": REASON_MAX}, (BACK_CHOICE,)), free_text=True
        )

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        request = await ctx.uow.requests.get(ctx.number("request_id"))
        text = " ".join((answer.text or "").split())[:REASON_MAX]
        if answer.choice_id == "back" or request is None or not text:
            return Next(goto=BACK)
        actor = f"person:{ctx.person_id}"
        await ctx.uow.requests.add_event(request, actor, "note", text=text)
        await ctx.uow.audit.record(actor, "request.noted", request.reference)
        return Next.to(BACK, Reply(msg("triage.note_added")))


class ChangeStatus(Step):
    """The new status, then the reason the family will read: one step that asks twice."""

    name = "triage.status"
    help = msg("help.triage")
    TARGETS: ClassVar[tuple[str, ...]] = ("triaged", "scheduled", "closed", "cancelled")

    async def ask(self, ctx: Context) -> Question:
        if ctx.data.get("new_status"):
            return Question(Reply(msg("triage.ask_reason"), {"max": REASON_MAX}), free_text=True)
        choices = tuple(Choice(s, STATUSES[s]) for s in self.TARGETS)
        return Question(Reply(msg("triage.ask_status"), choices=(*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if (refused := coordinators_only(ctx)) is not None:
            return refused
        request = await ctx.uow.requests.get(ctx.number("request_id"))
        new_status = ctx.data.pop("new_status", None)
        if answer.choice_id == "back" or request is None:
            return Next(goto=BACK)
        if not isinstance(new_status, str):
            ctx.data["new_status"] = answer.choice_id
            return Next()
        reason = " ".join((answer.text or "").split())[:REASON_MAX]
        actor = f"person:{ctx.person_id}"
        note = await change_status(ctx.uow, request, new_status, actor, reason)
        if note is not None:
            ctx.notify(note.person_id, note.reply)
        return Next.to(BACK, Reply(msg("triage.status_changed"), {"reference": request.reference}))


async def change_status(
    uow: UnitOfWork, request: SupportRequest, status: str, actor: str, reason: str
) -> Notification | None:
    """Record a new status (audited); the family's message about it, if they are still here."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    await uow.requests.change_status(request, status, actor, reason or None)
    await uow.audit.record(actor, "request.status", request.reference, status=status)
    if request.family_person_id is None:
        return None
    params: dict[str, Param] = {
        "reference": request.reference,
        "status": Key(STATUSES[status]),
        "reason": reason,
    }
    return Notification(request.family_person_id, Reply(msg("requests.status_changed"), params))


STEPS = (OpenRequests(), Filter(), RequestCard(), AddNote(), ChangeStatus())
