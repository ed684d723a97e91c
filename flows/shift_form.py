"""Coordinators create a shift in the chat, or change one: a guided form (title, skills,
start, end, zone, place, places, notes), a summary to confirm or correct any field."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from flows import requests
from flows.messages import Choice, Key, Reply, msg
from flows.shift_admin import NEEDED_MAX
from flows.step import BACK, HOME, Answer, Context, Next, Question, Step
from flows.volunteer_profile import PickSeveral
from flows.when import parse_moment
from storage.tables import Shift, SupportRequest

FORM = (
    "shiftform.title",
    "shiftform.skills",
    "shiftform.starts",
    "shiftform.ends",
    "shiftform.zone",
    "shiftform.place",
    "shiftform.needed",
    "shiftform.notes",
)


def form(ctx: Context) -> dict[str, Any]:
    data = ctx.data.setdefault("shift", {})
    assert isinstance(data, dict)
    return data


def editing(ctx: Context) -> bool:
    return bool(ctx.data.get("editing"))


def begin(ctx: Context, values: dict[str, Any], *, edit: bool) -> Next:
    """Start the form from the step the coordinator is at, where it comes back to.
    A new shift starts from the first question; a change, from the list of fields."""
    ctx.data.update(shift=values, editing=edit, form_from=ctx.conversation.step)
    ctx.data.pop("correcting", None)
    return Next(goto="shiftform.correct" if edit else FORM[0])


def for_request(request: SupportRequest) -> dict[str, Any]:
    return {"request_id": request.id, "zone": request.zone, "skills": []}


def values_of(shift: Shift) -> dict[str, Any]:
    return {
        "title": shift.title,
        "skills": list(shift.skills),
        "starts": shift.starts_at.isoformat(),
        "ends": shift.ends_at.isoformat(),
        "zone": shift.zone,
        "place": shift.place or "",
        "needed": shift.needed,
        "notes": shift.notes or "",
        "request_id": shift.request_id,
    }


def moment(values: dict[str, Any], field: str) -> datetime:
    return datetime.fromisoformat(str(values[field]))


def done(ctx: Context, *replies: Reply) -> Next:
    """Back where the form was started (the coverage, a request), or the menu."""
    origin, history = ctx.data.get("form_from"), ctx.conversation.history
    if origin not in history:
        return Next.to(HOME, *replies)
    while history[-1] != origin:
        history.pop()
    for key in ("shift", "editing", "form_from", "correcting"):
        ctx.data.pop(key, None)
    return Next.to(BACK, *replies)


def onward(ctx: Context, step: str) -> Next:
    """The next question still to answer, or the summary (after a correction too)."""
    if ctx.data.pop("correcting", False):
        return Next(goto="shiftform.summary")
    for following in FORM[FORM.index(step) + 1 :]:
        if following == "shiftform.skills" and not ctx.settings.skills:
            continue
        if following == "shiftform.zone" and form(ctx).get("zone"):
            continue  # the request's zone
        return Next(goto=following)
    return Next(goto="shiftform.summary")


class Text(Step):
    """Words typed by the coordinator; optional ones also take "none"."""

    help = msg("help.shift_form")
    field: ClassVar[str]
    question: ClassVar[str]
    longest: ClassVar[int]
    optional: ClassVar[bool] = True

    async def choices(self, ctx: Context) -> tuple[Choice, ...]:
        return (Choice("none", msg("shiftform.none"), words=msg("words.no")),)

    async def ask(self, ctx: Context) -> Question:
        choices = await self.choices(ctx)
        return Question(Reply(self.question, {"max": self.longest}, choices), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "none":
            form(ctx)[self.field] = ""
        elif answer.choice_id == "suggested":
            assert answer.choice is not None
            form(ctx)[self.field] = ctx.t(str(answer.choice.params["label"]))
        else:
            text = " ".join((answer.text or "").split())
            if not 2 <= len(text) <= self.longest:
                params = {"max": self.longest}
                return Next.to(None, Reply(msg("requests.text_length"), params))
            form(ctx)[self.field] = text
        return onward(ctx, self.name)


class Title(Text):
    name, field, question = "shiftform.title", "title", msg("shiftform.ask_title")
    longest, optional = 120, False

    async def choices(self, ctx: Context) -> tuple[Choice, ...]:
        """For a request: its service, as a title to tap."""
        request = await ctx.uow.requests.get(int(form(ctx).get("request_id") or 0))
        if request is None:
            return ()
        label = requests.CATEGORIES[request.category][0]
        return (Choice("suggested", msg("shiftform.suggested"), {"label": Key(label)}),)


class Skills(PickSeveral):
    name, field, question = "shiftform.skills", "skills", msg("shiftform.ask_skills")
    help = msg("help.shift_form")

    def options(self, ctx: Context) -> tuple[str, ...]:
        return ctx.settings.skills

    async def picked(self, ctx: Context) -> list[str]:
        skills = form(ctx).setdefault("skills", [])
        assert isinstance(skills, list)
        return skills

    def after(self, ctx: Context) -> Next:
        return onward(ctx, self.name)


class Starts(Step):
    name = "shiftform.starts"
    help = msg("help.shift_when")

    async def ask(self, ctx: Context) -> Question:
        return Question(Reply(msg("shiftform.ask_starts")), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        values = form(ctx)
        starts = parse_moment(answer.text or "", ctx.now, ctx.settings.timezone)
        if starts is None:
            return Next.to(None, Reply(msg("shiftform.when_unclear")))
        if starts <= ctx.now:
            return Next.to(None, Reply(msg("shiftform.in_the_past"), {"when": starts}))
        if "ends" in values:  # moved: the same length as before
            length = moment(values, "ends") - moment(values, "starts")
            values["ends"] = (starts + max(length, timedelta(minutes=1))).isoformat()
        values["starts"] = starts.isoformat()
        understood = Reply(msg("shiftform.understood"), {"when": starts})
        return Next.to(onward(ctx, self.name).goto, understood)


class Ends(Step):
    name = "shiftform.ends"
    help = msg("help.shift_when")

    async def ask(self, ctx: Context) -> Question:
        return Question(Reply(msg("shiftform.ask_ends")), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        values, zone = form(ctx), ZoneInfo(ctx.settings.timezone)
        starts = moment(values, "starts")
        day = starts.astimezone(zone).date()
        ends = parse_moment(answer.text or "", ctx.now, ctx.settings.timezone, day)
        if ends is None:
            return Next.to(None, Reply(msg("shiftform.end_unclear")))
        if ends <= starts:
            return Next.to(None, Reply(msg("shiftform.end_before_start")))
        values["ends"] = ends.isoformat()
        return onward(ctx, self.name)


class Zone(requests.Zone):
    name = "shiftform.zone"
    help = msg("help.shift_form")

    def keep(self, ctx: Context, value: str) -> Next:
        form(ctx)["zone"] = value
        return onward(ctx, self.name)


class Place(Text):
    name, field, question = "shiftform.place", "place", msg("shiftform.ask_place")
    longest = 160


class Needed(Step):
    name = "shiftform.needed"
    help = msg("help.shift_form")

    async def ask(self, ctx: Context) -> Question:
        return Question(Reply(msg("shiftform.ask_needed"), {"max": NEEDED_MAX}), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        text = (answer.text or "").strip()
        if not text.isdigit() or not 1 <= int(text) <= NEEDED_MAX:
            return Next.to(None, Reply(msg("shiftform.needed_invalid"), {"max": NEEDED_MAX}))
        form(ctx)["needed"] = int(text)
        return onward(ctx, self.name)


class Notes(Text):
    name, field, question = "shiftform.notes", "notes", msg("shiftform.ask_notes")
    longest = 500


STEPS = (Title(), Skills(), Starts(), Ends(), Zone(), Place(), Needed(), Notes())
