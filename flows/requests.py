"""A family asks for support: a guided form, a summary to confirm or correct, a reference."""

from __future__ import annotations

from typing import ClassVar

from flows.messages import Choice, Key, Param, Reply, msg
from flows.reminders import plan_request_reminder
from flows.step import HOME, Answer, Context, Next, Question, Step
from storage.tables import SupportRequest

CATEGORIES = {
    "elderly_care": (msg("category.elderly_care"), msg("words.elderly_care")),
    "disability": (msg("category.disability"), msg("words.disability")),
    "home_education": (msg("category.home_education"), msg("words.home_education")),
    "school_support": (msg("category.school_support"), msg("words.school_support")),
    "transport": (msg("category.transport"), msg("words.transport")),
    "home_delivery": (msg("category.home_delivery"), msg("words.home_delivery")),
    "respite": (msg("category.respite"), msg("words.respite")),
    "supervised_visits": (msg("category.supervised_visits"), msg("words.supervised_visits")),
    "other": (msg("category.other"), None),
}
BENEFICIARIES = {
    "self": msg("beneficiary.self"),
    "parent": msg("beneficiary.parent"),
    "child": msg("beneficiary.child"),
    "other": msg("beneficiary.other"),
}
AGE_BANDS = ("0-5", "6-13", "14-17", "18-64", "65-79", "80+")
DAYS = {
    "weekdays": msg("days.weekdays"),
    "weekend": msg("days.weekend"),
    "any_day": msg("days.any_day"),
}
TIMES = {
    "morning": msg("times.morning"),
    "afternoon": msg("times.afternoon"),
    "evening": msg("times.evening"),
    "any_time": msg("times.any_time"),
}
URGENCIES = {
    "ordinary": msg("urgency.ordinary"),
    "week": msg("urgency.week"),
    "urgent": msg("urgency.urgent"),
}
STATUSES = {
    "new": msg("status.new"),
    "triaged": msg("status.triaged"),
    "scheduled": msg("status.scheduled"),
    "closed": msg("status.closed"),
    "cancelled": msg("status.cancelled"),
}
FORM = (
    "request.category",
    "request.for_whom",
    "request.age",
    "request.zone",
    "request.days",
    "request.times",
    "request.urgency",
    "request.notes",
)
FREE_TEXT_MAX = 120
NOTES_MAX = 500


def form(ctx: Context) -> dict[str, str]:
    data = ctx.data.setdefault("request", {})
    assert isinstance(data, dict)
    return data


def onward(ctx: Context, step: str) -> Next:
    """The next question, or back to the summary after a correction."""
    if ctx.data.pop("correcting", False) or step == FORM[-1]:
        return Next(goto="request.summary")
    return Next(goto=FORM[FORM.index(step) + 1])


def shown(value: str, labels: dict[str, str]) -> Param:
    """A stored answer as the reader should see it: a label, or the words they typed."""
    return Key(labels[value]) if value in labels else value


class ChoiceStep(Step):
    """A question answered by one of a few options, or (when `typed`) in one's own words."""

    field: ClassVar[str]
    question: ClassVar[str]
    options: ClassVar[dict[str, str]] = {}
    typed: ClassVar[bool] = False

    def choices(self, ctx: Context) -> tuple[Choice, ...]:
        return tuple(Choice(key, label) for key, label in self.options.items())

    async def ask(self, ctx: Context) -> Question:
        return Question(Reply(self.question, choices=self.choices(ctx)), free_text=self.typed)

    def keep(self, ctx: Context, value: str) -> Next:
        """Store the answer and move on (a form of its own overrides both)."""
        form(ctx)[self.field] = value
        return onward(ctx, self.name)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice is not None:
            return self.keep(ctx, answer.choice.id)
        text = " ".join((answer.text or "").split())
        if not 2 <= len(text) <= FREE_TEXT_MAX:
            return Next.to(None, Reply(msg("requests.text_length"), {"max": FREE_TEXT_MAX}))
        return self.keep(ctx, text)


class Category(ChoiceStep):
    name, field, question = "request.category", "category", msg("requests.ask_category")
    help = msg("help.request")

    def choices(self, ctx: Context) -> tuple[Choice, ...]:
        return tuple(Choice(k, label, words=words) for k, (label, words) in CATEGORIES.items())


class ForWhom(ChoiceStep):
    name, field, question = "request.for_whom", "beneficiary", msg("requests.ask_for_whom")
    help = msg("help.request")
    options = BENEFICIARIES


class AgeBand(ChoiceStep):
    name, field, question = "request.age", "age_band", msg("requests.ask_age")
    help = msg("help.request_age")

    def choices(self, ctx: Context) -> tuple[Choice, ...]:
        return tuple(Choice(band, msg("requests.age_band"), {"band": band}) for band in AGE_BANDS)


class Zone(ChoiceStep):
    """The municipality or zone: the cooperative's list when configured, else typed."""

    name, field, question = "request.zone", "zone", msg("requests.ask_zone")
    help = msg("help.request")

    def choices(self, ctx: Context) -> tuple[Choice, ...]:
        zones = enumerate(ctx.settings.zones)
        return tuple(Choice(f"z{n}", msg("requests.zone_item"), {"zone": z}) for n, z in zones)

    async def ask(self, ctx: Context) -> Question:
        choices = self.choices(ctx)
        if not choices or ctx.data.get("zone_typed"):
            return Question(Reply(self.question), free_text=True)
        other = Choice("other", msg("requests.other_zone"))
        return Question(Reply(msg("requests.ask_zone_listed"), choices=(*choices, other)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "other":  # outside the list: let them write it
            ctx.data["zone_typed"] = True
            return Next()
        ctx.data.pop("zone_typed", None)
        if answer.choice is None:
            return await super().answer(ctx, answer)
        return self.keep(ctx, str(answer.choice.params["zone"]))


class Days(ChoiceStep):
    name, field, question = "request.days", "days", msg("requests.ask_days")
    help = msg("help.request_when")
    options, typed = DAYS, True


class Times(ChoiceStep):
    name, field, question = "request.times", "times", msg("requests.ask_times")
    help = msg("help.request_when")
    options, typed = TIMES, True


class Urgency(ChoiceStep):
    name, field, question = "request.urgency", "urgency", msg("requests.ask_urgency")
    help = msg("help.request")
    options = URGENCIES


class Notes(Step):
    name = "request.notes"
    help = msg("help.request_notes")

    async def ask(self, ctx: Context) -> Question:
        none = Choice("none", msg("requests.no_notes"), words=msg("words.no"))
        return Question(
            Reply(msg("requests.ask_notes"), {"max": NOTES_MAX}, (none,)), free_text=True
        )

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        text = " ".join((answer.text or "").split()) if answer.choice is None else ""
        if len(text) > NOTES_MAX:
            return Next.to(None, Reply(msg("requests.text_length"), {"max": NOTES_MAX}))
        form(ctx)["notes"] = text
        return onward(ctx, self.name)


def summary_params(values: dict[str, str]) -> dict[str, Param]:
    return {
        "category": shown(values["category"], {k: v for k, (v, _) in CATEGORIES.items()}),
        "for_whom": shown(values["beneficiary"], BENEFICIARIES),
        "age": values["age_band"],
        "zone": values["zone"],
        "days": shown(values["days"], DAYS),
        "times": shown(values["times"], TIMES),
        "urgency": shown(values["urgency"], URGENCIES),
        "notes": values.get("notes") or Key(msg("requests.no_notes")),
    }


class Summary(Step):
    name = "request.summary"
    help = msg("help.request_summary")

    async def ask(self, ctx: Context) -> Question:
        choices = (
            Choice("confirm", msg("requests.confirm"), words=msg("words.yes")),
            # "no" to "is everything right?" means something needs correcting
            Choice("correct", msg("requests.correct"), words=msg("words.no")),
            Choice("cancel", msg("requests.drop")),
        )
        return Question(Reply(msg("requests.summary"), summary_params(form(ctx)), choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "correct":
            return Next(goto="request.correct")
        if answer.choice_id == "cancel":
            return Next.to(HOME, Reply(msg("common.cancelled")))
        return await self._file(ctx)

    @staticmethod
    async def _file(ctx: Context) -> Next:
        values = form(ctx)
        uow, actor = ctx.uow, f"person:{ctx.person_id}"
        request = await uow.requests.add(
            SupportRequest(
                reference=await uow.requests.next_reference(ctx.now.year),
                family_person_id=ctx.person_id,
                category=values["category"],
                beneficiary=values["beneficiary"],
                age_band=values["age_band"],
                zone=values["zone"],
                days=values["days"],
                times=values["times"],
                urgency=values["urgency"],
                notes=values.get("notes") or None,
                created_at=ctx.now,
                updated_at=ctx.now,
            ),
            actor,
        )
        await uow.audit.record(actor, "request.created", request.reference)
        await plan_request_reminder(uow, request, ctx.settings)
        notice = coordinator_notice(request, msg("requests.new_for_coordinators"))
        for coordinator in await uow.people.with_role("coordinator"):
            assert coordinator.id is not None
            ctx.notify(coordinator.id, notice)
        return Next.to(HOME, Reply(msg("requests.filed"), {"reference": request.reference}))


def coordinator_notice(request: SupportRequest, key: str) -> Reply:
    """A request told to coordinators, with a one-tap "take charge"."""
    return Reply(
        key,
        {
            "reference": request.reference,
            "category": Key(CATEGORIES[request.category][0]),
            "zone": request.zone,
            "urgency": Key(URGENCIES[request.urgency]),
        },
        (Choice(f"a:take:{request.id}", msg("requests.take_charge")),),
    )


class Correct(Step):
    name = "request.correct"
    help = msg("help.request_summary")
    FIELDS: ClassVar[dict[str, str]] = {
        "request.category": msg("requests.field_category"),
        "request.for_whom": msg("requests.field_for_whom"),
        "request.age": msg("requests.field_age"),
        "request.zone": msg("requests.field_zone"),
        "request.days": msg("requests.field_days"),
        "request.times": msg("requests.field_times"),
        "request.urgency": msg("requests.field_urgency"),
        "request.notes": msg("requests.field_notes"),
    }

    async def ask(self, ctx: Context) -> Question:
        choices = tuple(Choice(step, label) for step, label in self.FIELDS.items())
        return Question(Reply(msg("requests.ask_correct"), choices=choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        ctx.data["correcting"] = True
        return Next(goto=answer.choice_id)


STEPS = (
    Category(),
    ForWhom(),
    AgeBand(),
    Zone(),
    Days(),
    Times(),
    Urgency(),
    Notes(),
    Summary(),
    Correct(),
)
