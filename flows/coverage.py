"""Coordinators see the shifts' coverage in the chat, who is on each, and cancel one."""

from __future__ import annotations

from flows.messages import Choice, Reply, msg
from flows.shift_admin import cancel_shift
from flows.shifts import ATTENDANCE, shift_params
from flows.step import BACK, BACK_CHOICE, Answer, Context, Next, Question, Step

LISTED = 15
REASON_MAX = 300


class Coverage(Step):
    name = "coverage.list"
    help = msg("help.coverage")

    async def ask(self, ctx: Context) -> Question:
        choices: list[Choice] = []
        for shift in await ctx.uow.shifts.listing(open_only=True):
            if shift.ends_at < ctx.now or shift.id is None or len(choices) >= LISTED:
                continue
            taken = await ctx.uow.shifts.taken(shift.id)
            params = shift_params(shift) | {"taken": taken, "needed": shift.needed}
            choices.append(Choice(str(shift.id), msg("coverage.item"), params))
        key = msg("coverage.list") if choices else msg("coverage.none")
        return Question(Reply(key, choices=(*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back" or not ctx.has_role("coordinator"):
            return Next(goto=BACK)
        ctx.data["shift_id"] = int(answer.choice_id or 0)
        ctx.data.pop("cancelling", None)
        return Next(goto="coverage.detail")


class Team(Step):
    """Who is on the shift; and, asked twice, cancelling it with a reason."""

    name = "coverage.detail"
    help = msg("help.coverage")

    async def ask(self, ctx: Context) -> Question:
        shift = await ctx.uow.shifts.get(ctx.number("shift_id"))
        if shift is None or shift.id is None:
            return Question(Reply(msg("shifts.gone"), choices=(BACK_CHOICE,)))
        if ctx.data.get("cancelling"):
            reply = Reply(msg("coverage.ask_reason"), {"max": REASON_MAX}, (BACK_CHOICE,))
            return Question(reply, free_text=True)
        team = []
        for assignment in await ctx.uow.shifts.assignments(shift.id):
            person = await ctx.uow.people.get(assignment.person_id)
            status = ctx.t(ATTENDANCE[assignment.status])
            team.append(f"• {person.name if person else '?'}: {status}")
        params = shift_params(shift) | {
            "taken": await ctx.uow.shifts.taken(shift.id),
            "needed": shift.needed,
            "team": "\n".join(team) or ctx.t(msg("coverage.nobody")),
        }
        choices = (Choice("cancel", msg("coverage.cancel")), BACK_CHOICE)
        return Question(Reply(msg("coverage.detail"), params, choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        shift = await ctx.uow.shifts.lock(ctx.number("shift_id"))
        cancelling = ctx.data.pop("cancelling", False)
        if answer.choice_id == "back" or shift is None or not ctx.has_role("coordinator"):
            return Next(goto=BACK)
        if not cancelling:
            ctx.data["cancelling"] = True
            return Next()
        reason = " ".join((answer.text or "").split())[:REASON_MAX]
        for note in await cancel_shift(ctx.uow, shift, f"person:{ctx.person_id}", reason):
            ctx.notify(note.person_id, note.reply)
        return Next.to(BACK, Reply(msg("coverage.cancelled"), shift_params(shift)))


STEPS = (Coverage(), Team())
