"""Coordinators see the shifts' coverage in the chat and who is on each; from there they
create a shift, change or cancel one, and mark how it went for each volunteer."""

from __future__ import annotations

from datetime import timedelta

from flows.messages import Choice, Key, Reply, msg
from flows.my_shifts import CHECK_IN_EARLY
from flows.shift_admin import MARKABLE, MARKS, ShiftRefused, cancel_shift, mark_attendance
from flows.shift_form import begin, values_of
from flows.shifts import ATTENDANCE, shift_params
from flows.step import BACK, BACK_CHOICE, Answer, Context, Next, Question, Step

LISTED = 15
REASON_MAX = 300
PAST_DAYS = 30  # how far back "past shifts" go, to mark attendance
MARK_LABELS = {
    "attended": msg("coverage.attended"),
    "missed": msg("coverage.missed"),
    "excused": msg("coverage.excused"),
}


class Coverage(Step):
    """The coming shifts (or, switched, the past month's), and a new one."""

    name = "coverage.list"
    help = msg("help.coverage")

    async def ask(self, ctx: Context) -> Question:
        past = bool(ctx.data.get("past"))
        shifts = await ctx.uow.shifts.listing(open_only=True)
        if past:
            since = ctx.now - timedelta(days=PAST_DAYS)
            shifts = [s for s in reversed(shifts) if since <= s.ends_at < ctx.now]
        else:
            shifts = [s for s in shifts if s.ends_at >= ctx.now]
        choices: list[Choice] = []
        for shift in shifts[:LISTED]:
            assert shift.id is not None
            taken = await ctx.uow.shifts.taken(shift.id)
            params = shift_params(shift) | {"taken": taken, "needed": shift.needed}
            choices.append(Choice(str(shift.id), msg("coverage.item"), params))
        if past:
            key = msg("coverage.past") if choices else msg("coverage.none_past")
            switch = Choice("coming", msg("coverage.show_coming"))
        else:
            key = msg("coverage.list") if choices else msg("coverage.none")
            switch = Choice("past", msg("coverage.show_past"))
        new = Choice("new", msg("coverage.new"))
        return Question(Reply(key, choices=(*choices, new, switch, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back" or not ctx.has_role("coordinator"):
            return Next(goto=BACK)
        if answer.choice_id in ("past", "coming"):
            ctx.data["past"] = answer.choice_id == "past"
            return Next()
        if answer.choice_id == "new":
            return begin(ctx, {"skills": []}, edit=False)
        ctx.data["shift_id"] = int(answer.choice_id or 0)
        ctx.data.pop("cancelling", None)
        return Next(goto="coverage.detail")


class Team(Step):
    """Who is on the shift; change it, mark attendance, or (asked twice) cancel it."""

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
        choices = []
        if shift.status == "open" and ctx.now < shift.ends_at:
            choices.append(Choice("edit", msg("coverage.edit")))
        if ctx.now >= shift.starts_at - CHECK_IN_EARLY:
            choices.append(Choice("attendance", msg("coverage.mark")))
        if shift.status == "open":
            choices.append(Choice("cancel", msg("coverage.cancel")))
        return Question(Reply(msg("coverage.detail"), params, (*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        shift = await ctx.uow.shifts.lock(ctx.number("shift_id"))
        cancelling = ctx.data.pop("cancelling", False)
        if answer.choice_id == "back" or shift is None or not ctx.has_role("coordinator"):
            return Next(goto=BACK)
        if answer.choice_id == "edit" and not cancelling:
            return begin(ctx, values_of(shift), edit=True)
        if answer.choice_id == "attendance" and not cancelling:
            ctx.data.pop("marking", None)
            return Next(goto="coverage.attendance")
        if shift.status != "open":
            return Next()
        if not cancelling:
            ctx.data["cancelling"] = True
            return Next()
        reason = " ".join((answer.text or "").split())[:REASON_MAX]
        for note in await cancel_shift(ctx.uow, shift, f"person:{ctx.person_id}", reason):
            ctx.notify(note.person_id, note.reply)
        return Next.to(BACK, Reply(msg("coverage.cancelled"), shift_params(shift)))


class Attendance(Step):
    """Attended, missed or excused, for each volunteer who was on the shift: one step
    that asks who, then how it went."""

    name = "coverage.attendance"
    help = msg("help.attendance")

    async def ask(self, ctx: Context) -> Question:
        shift = await ctx.uow.shifts.get(ctx.number("shift_id"))
        if shift is None or shift.id is None:
            return Question(Reply(msg("shifts.gone"), choices=(BACK_CHOICE,)))
        if marking := ctx.data.get("marking"):
            person = await ctx.uow.people.get(int(str(marking)))
            marks = tuple(Choice(key, label) for key, label in MARK_LABELS.items())
            name = person.name if person else "?"
            return Question(Reply(msg("coverage.ask_mark"), {"name": name}, (*marks, BACK_CHOICE)))
        choices = []
        for assignment in await ctx.uow.shifts.assignments(shift.id):
            if assignment.status in MARKABLE:
                person = await ctx.uow.people.get(assignment.person_id)
                params = {"name": person.name if person else "?"}
                status = Key(ATTENDANCE[assignment.status])
                label = msg("coverage.member")
                choices.append(
                    Choice(str(assignment.person_id), label, params | {"status": status})
                )
        key = msg("coverage.who") if choices else msg("coverage.nobody_to_mark")
        return Question(Reply(key, shift_params(shift), (*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        marking = ctx.data.pop("marking", None)
        if answer.choice_id == "back" or not ctx.has_role("coordinator"):
            return Next() if marking else Next(goto=BACK)
        if marking is None:
            ctx.data["marking"] = int(answer.choice_id or 0)
            return Next()
        shift_id, person_id = ctx.number("shift_id"), int(str(marking))
        assignment = await ctx.uow.shifts.assignment(shift_id, person_id)
        if assignment is None or answer.choice_id not in MARKS:
            return Next()
        try:
            await mark_attendance(ctx.uow, assignment, answer.choice_id, f"person:{ctx.person_id}")
        except ShiftRefused as refused:
            return Next.to(None, refused.reply)
        person = await ctx.uow.people.get(person_id)
        params = {
            "name": person.name if person else "?",
            "mark": Key(MARK_LABELS[answer.choice_id]),
        }
        return Next.to(None, Reply(msg("coverage.marked"), params))


STEPS = (Coverage(), Team(), Attendance())
