"""A volunteer's own shifts: the list with this month's and year's hours, and a shift's
detail (its calendar file, check-in, "done", withdrawal)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from flows.messages import Choice, Key, Reply, msg
from flows.shifts import ATTENDANCE, confirmed, family_of, promote_waitlist, shift_params
from flows.step import BACK, BACK_CHOICE, Answer, Context, Next, Question, Step
from storage.shifts import HOLDING


class MyShifts(Step):
    name = "shifts.mine"
    help = msg("help.my_shifts")

    async def ask(self, ctx: Context) -> Question:
        today = ctx.now.replace(hour=0, minute=0, second=0, microsecond=0)
        rows = await ctx.uow.shifts.of_person(ctx.person_id, today)
        choices = tuple(
            Choice(
                str(shift.id),
                msg("shifts.item"),
                shift_params(shift) | {"status": Key(ATTENDANCE[a.status])},
            )
            for shift, a in rows
            if a.status in ("confirmed", "waitlisted", "checked_in") and shift.status == "open"
        )
        month, year = await self._hours(ctx)
        key = msg("shifts.list") if choices else msg("shifts.none")
        return Question(Reply(key, {"month": month, "year": year}, (*choices, BACK_CHOICE)))

    @staticmethod
    async def _hours(ctx: Context) -> tuple[str, str]:
        """This month's and this year's hours, months and years as the cooperative counts."""
        local = ctx.now.astimezone(ZoneInfo(ctx.timezone))
        month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        year_start = month_start.replace(month=1)
        end = year_start.replace(year=year_start.year + 1)
        month = (await ctx.uow.shifts.hours(month_start, end)).get(ctx.person_id, 0.0)
        year = (await ctx.uow.shifts.hours(year_start, end)).get(ctx.person_id, 0.0)
        return f"{month:g}", f"{year:g}"

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        ctx.data["shift_id"] = int(answer.choice_id or 0)
        return Next(goto="shifts.detail")


CHECK_IN_EARLY = timedelta(hours=1)  # how long before the start one can check in


class ShiftDetail(Step):
    name = "shifts.detail"
    help = msg("help.my_shifts")

    async def ask(self, ctx: Context) -> Question:
        shift = await ctx.uow.shifts.get(ctx.number("shift_id"))
        mine = shift and shift.id and await ctx.uow.shifts.assignment(shift.id, ctx.person_id)
        if shift is None or not mine:
            return Question(Reply(msg("shifts.gone"), choices=(BACK_CHOICE,)))
        choices = [Choice("calendar", msg("shifts.calendar"))]
        if mine.status == "confirmed" and ctx.now >= shift.starts_at - CHECK_IN_EARLY:
            choices.append(Choice("check_in", msg("shifts.check_in")))
        if mine.status in ("confirmed", "checked_in") and ctx.now >= shift.starts_at:
            choices.append(Choice("done", msg("shifts.report_done")))
        if mine.status in ("confirmed", "waitlisted") and ctx.now < shift.starts_at:
            choices.append(Choice("withdraw", msg("shifts.withdraw")))
        params = shift_params(shift) | {"status": Key(ATTENDANCE[mine.status])}
        key = msg("shifts.detail")
        if mine.status in HOLDING and (family := await family_of(ctx.uow, shift)) is not None:
            key, params = msg("shifts.detail_family"), params | family
        return Question(Reply(key, params, (*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        shift = await ctx.uow.shifts.lock(ctx.number("shift_id"))
        if answer.choice_id == "back" or shift is None or shift.id is None:
            return Next(goto=BACK)
        if answer.choice_id == "calendar":
            return Next.to(None, confirmed(shift, msg("shifts.calendar_file")))
        mine = await ctx.uow.shifts.assignment(shift.id, ctx.person_id)
        actor = f"person:{ctx.person_id}"
        if mine is not None and answer.choice_id in ("check_in", "done"):
            status = "checked_in" if answer.choice_id == "check_in" else "completed"
            await ctx.uow.shifts.set_status(mine, status)
            await ctx.uow.audit.record(actor, f"shift.{status}", f"shift:{shift.id}")
            key = msg("shifts.checked_in") if status == "checked_in" else msg("shifts.thanks")
            return Next.to(None, Reply(key, shift_params(shift)))
        if mine is None or mine.status not in ("confirmed", "waitlisted"):
            return Next(goto=BACK)
        deadline = shift.starts_at - timedelta(hours=ctx.settings.withdraw_hours)
        if mine.status == "confirmed" and ctx.now >= deadline:
            for coordinator in await ctx.uow.people.with_role("coordinator"):
                assert coordinator.id is not None
                params = shift_params(shift) | {"name": ctx.person.name}
                ctx.notify(coordinator.id, Reply(msg("shifts.late_withdrawal"), params))
            await ctx.uow.audit.record(actor, "shift.withdrawal_asked", f"shift:{shift.id}")
            late = {"hours": ctx.settings.withdraw_hours}
            return Next.to(BACK, Reply(msg("shifts.withdraw_late"), late))
        await ctx.uow.shifts.set_status(mine, "withdrawn")
        await ctx.uow.audit.record(actor, "shift.withdrawn", f"shift:{shift.id}")
        for note in await promote_waitlist(ctx.uow, shift):
            ctx.notify(note.person_id, note.reply)
        return Next.to(BACK, Reply(msg("shifts.withdrawn"), shift_params(shift)))


STEPS = (MyShifts(), ShiftDetail())
