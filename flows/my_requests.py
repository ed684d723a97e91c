"""A family follows its requests; a coordinator takes charge of a new one."""

from __future__ import annotations

from flows.i18n import format_value
from flows.messages import Choice, Key, Param, Reply, msg
from flows.requests import CATEGORIES, STATUSES, summary_params
from flows.step import BACK, BACK_CHOICE, Action, Answer, Context, Next, Question, Step, yes_no
from storage.requests import OPEN
from storage.tables import SupportRequest


def as_values(request: SupportRequest) -> dict[str, str]:
    return {
        "category": request.category,
        "beneficiary": request.beneficiary,
        "age_band": request.age_band,
        "zone": request.zone,
        "days": request.days,
        "times": request.times,
        "urgency": request.urgency,
        "notes": request.notes or "",
    }


async def own_request(ctx: Context) -> SupportRequest | None:
    """The request this conversation is about, if it is this person's own."""
    request = await ctx.uow.requests.get(ctx.number("request_id"))
    if request is None or request.family_person_id != ctx.person_id:
        return None
    return request


class MyRequests(Step):
    name = "requests.mine"
    help = msg("help.my_requests")

    async def ask(self, ctx: Context) -> Question:
        requests = await ctx.uow.requests.of_family(ctx.person_id)
        if not requests:
            return Question(Reply(msg("requests.none"), choices=(BACK_CHOICE,)))
        choices = tuple(
            Choice(
                str(r.id),
                msg("requests.item"),
                {
                    "reference": r.reference,
                    "category": Key(CATEGORIES[r.category][0]),
                    "status": Key(STATUSES[r.status]),
                },
            )
            for r in requests[:20]
        )
        return Question(Reply(msg("requests.list"), choices=(*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        ctx.data["request_id"] = int(answer.choice_id or 0)
        return Next(goto="requests.detail")


class RequestDetail(Step):
    name = "requests.detail"
    help = msg("help.my_requests")

    async def ask(self, ctx: Context) -> Question:
        request = await own_request(ctx)
        if request is None:
            return Question(Reply(msg("requests.not_found"), choices=(BACK_CHOICE,)))
        assert request.id is not None
        lines = []
        for event in await ctx.uow.requests.events(request.id):
            when = format_value(event.at, ctx.locale, ctx.timezone)
            what = ctx.t(STATUSES[event.status]) if event.status else (event.text or "")
            reason = f" ({event.text})" if event.status and event.text else ""
            lines.append(f"• {when}: {what}{reason}")
        params = summary_params(as_values(request)) | {
            "reference": request.reference,
            "status": Key(STATUSES[request.status]),
            "history": "\n".join(lines),
        }
        choices = [BACK_CHOICE]
        if request.status in OPEN:
            choices.insert(0, Choice("cancel", msg("requests.cancel_request")))
        return Question(Reply(msg("requests.detail"), params, tuple(choices)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "cancel":
            return Next(goto="requests.cancel")
        return Next(goto=BACK)


class CancelRequest(Step):
    name = "requests.cancel"
    help = msg("help.my_requests")

    async def ask(self, ctx: Context) -> Question:
        request = await own_request(ctx)
        reference = request.reference if request else "?"
        return Question(yes_no(msg("requests.confirm_cancel"), reference=reference))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        request = await own_request(ctx)
        if answer.choice_id != "yes" or request is None or request.status not in OPEN:
            return Next.to(BACK, Reply(msg("requests.kept")))
        actor = f"person:{ctx.person_id}"
        await ctx.uow.requests.change_status(request, "cancelled", actor)
        await ctx.uow.audit.record(actor, "request.cancelled", request.reference)
        for coordinator in await ctx.uow.people.with_role("coordinator"):
            assert coordinator.id is not None
            notice = Reply(msg("requests.cancelled_by_family"), {"reference": request.reference})
            ctx.notify(coordinator.id, notice)
        return Next.to(BACK, Reply(msg("requests.cancelled"), {"reference": request.reference}))


class TakeCharge(Action):
    """A coordinator taps "take charge" on a new request's notification."""

    name = "take"

    async def run(self, ctx: Context, argument: str) -> Next:
        if not ctx.has_role("coordinator"):
            return Next.to(None, Reply(msg("common.not_allowed")))
        request = await ctx.uow.requests.get(int(argument)) if argument.isdigit() else None
        if request is None:
            return Next.to(None, Reply(msg("requests.not_found")))
        if request.status != "new":
            status = Key(STATUSES[request.status])
            params: dict[str, Param] = {"reference": request.reference, "status": status}
            return Next.to(None, Reply(msg("requests.already_taken"), params))
        actor = f"person:{ctx.person_id}"
        await ctx.uow.requests.change_status(request, "triaged", actor)
        await ctx.uow.audit.record(actor, "request.taken", request.reference)
        if request.family_person_id is not None:
            ctx.notify(
                request.family_person_id,
                Reply(msg("requests.now_triaged"), {"reference": request.reference}),
            )
        return Next.to(None, Reply(msg("requests.taken"), {"reference": request.reference}))


STEPS = (MyRequests(), RequestDetail(), CancelRequest(), TakeCharge())
