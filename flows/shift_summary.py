"""The end of the shift form: the summary, confirmed (the shift opens, or changes and
everyone on it is told) or corrected field by field."""

from __future__ import annotations

from typing import Any, ClassVar

from flows.messages import Choice, Key, Param, Reply, msg
from flows.shift_admin import (
    ShiftChanges,
    ShiftRefused,
    change_shift,
    open_shift,
    volunteers_told,
)
from flows.shift_form import done, editing, form, moment
from flows.step import BACK, BACK_CHOICE, Answer, Context, Next, Question, Step
from storage.tables import Shift


def summary_params(values: dict[str, Any], reference: str | None) -> dict[str, Param]:
    none = Key(msg("shiftform.none"))
    return {
        "title": str(values["title"]),
        "skills": ", ".join(values.get("skills") or ()) or Key(msg("shiftform.no_skills")),
        "starts": moment(values, "starts"),
        "ends": moment(values, "ends"),
        "zone": str(values["zone"]),
        "place": str(values.get("place") or "") or none,
        "needed": int(values["needed"]),
        "notes": str(values.get("notes") or "") or none,
        "request": reference or "-",
    }


class Summary(Step):
    name = "shiftform.summary"
    help = msg("help.shift_summary")

    async def ask(self, ctx: Context) -> Question:
        values = form(ctx)
        request = await ctx.uow.requests.get(int(values.get("request_id") or 0))
        params = summary_params(values, request.reference if request else None)
        confirm = msg("shiftform.save") if editing(ctx) else msg("shiftform.create")
        choices = (
            Choice("confirm", confirm, words=msg("words.yes")),
            # "no" to "is everything right?" means something needs correcting
            Choice("correct", msg("shiftform.correct"), words=msg("words.no")),
            Choice("drop", msg("shiftform.drop")),
        )
        return Question(Reply(msg("shiftform.summary"), params, choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if not ctx.has_role("coordinator"):
            return done(ctx, Reply(msg("common.not_allowed")))
        if answer.choice_id == "correct":
            return Next(goto="shiftform.correct")
        if answer.choice_id == "drop":
            return done(ctx, Reply(msg("common.cancelled")))
        try:
            return await (self._save(ctx) if editing(ctx) else self._open(ctx))
        except ShiftRefused as refused:
            return Next.to(None, refused.reply)

    @staticmethod
    async def _open(ctx: Context) -> Next:
        values = form(ctx)
        shift = Shift(
            title=values["title"],
            zone=values["zone"],
            place=values.get("place") or None,
            starts_at=moment(values, "starts"),
            ends_at=moment(values, "ends"),
            needed=int(values["needed"]),
            skills=list(values.get("skills") or []),
            notes=values.get("notes") or None,
            request_id=values.get("request_id"),
        )
        offers = await open_shift(ctx.uow, shift, f"person:{ctx.person_id}", ctx.settings, ctx.now)
        for note in offers:
            ctx.notify(note.person_id, note.reply)
        params: dict[str, Param] = {"title": shift.title, "offered": len(offers)}
        return done(ctx, Reply(msg("shiftform.created"), params))

    @staticmethod
    async def _save(ctx: Context) -> Next:
        shift = await ctx.uow.shifts.lock(ctx.number("shift_id"))
        if shift is None:
            return done(ctx, Reply(msg("shifts.gone")))
        values = form(ctx)
        changes = ShiftChanges(
            title=values["title"],
            zone=values["zone"],
            place=values.get("place") or "",
            starts_at=moment(values, "starts"),
            ends_at=moment(values, "ends"),
            needed=int(values["needed"]),
            notes=values.get("notes") or "",
        )
        notes = await change_shift(
            ctx.uow, shift, changes, f"person:{ctx.person_id}", ctx.settings, ctx.now
        )
        for note in notes:
            ctx.notify(note.person_id, note.reply)
        told = volunteers_told(notes)
        return done(ctx, Reply(msg("shiftform.saved"), {"title": shift.title, "told": told}))


class Correct(Step):
    name = "shiftform.correct"
    help = msg("help.shift_summary")
    FIELDS: ClassVar[dict[str, str]] = {
        "shiftform.title": msg("shiftform.field_title"),
        "shiftform.skills": msg("shiftform.field_skills"),
        "shiftform.starts": msg("shiftform.field_starts"),
        "shiftform.ends": msg("shiftform.field_ends"),
        "shiftform.zone": msg("shiftform.field_zone"),
        "shiftform.place": msg("shiftform.field_place"),
        "shiftform.needed": msg("shiftform.field_needed"),
        "shiftform.notes": msg("shiftform.field_notes"),
    }

    async def ask(self, ctx: Context) -> Question:
        hidden = {"shiftform.skills"} if editing(ctx) or not ctx.settings.skills else set()
        choices = tuple(Choice(s, label) for s, label in self.FIELDS.items() if s not in hidden)
        key = msg("shiftform.ask_change") if editing(ctx) else msg("shiftform.ask_correct")
        return Question(Reply(key, {"title": str(form(ctx).get("title"))}, (*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        ctx.data["correcting"] = True
        return Next(goto=answer.choice_id)


STEPS = (Summary(), Correct())
