"""A volunteer's skills, zones and days: what shift offers are matched against."""

from __future__ import annotations

from typing import ClassVar

from flows.messages import Choice, Reply, msg
from flows.requests import DAYS
from flows.step import HOME, Answer, Context, Next, Question, Step

DONE = Choice("done", msg("volunteer.done"), words=msg("words.done"))


def draft(ctx: Context) -> dict[str, list[str]]:
    """The profile being edited, kept in the conversation until it is saved."""
    value = ctx.data.get("profile")
    assert isinstance(value, dict)
    return value


class PickSeveral(Step):
    """Tap (or type) options to tick or untick them, then "done"."""

    field: ClassVar[str]
    question: ClassVar[str]

    def options(self, ctx: Context) -> tuple[str, ...]:
        raise NotImplementedError

    def after(self, ctx: Context) -> str:
        raise NotImplementedError

    async def load(self, ctx: Context) -> None:
        if "profile" not in ctx.data:
            profile = await ctx.uow.shifts.profile(ctx.person_id)
            ctx.data["profile"] = {
                "skills": list(profile.skills) if profile else [],
                "zones": list(profile.zones) if profile else [],
            }

    async def ask(self, ctx: Context) -> Question:
        await self.load(ctx)
        picked = draft(ctx)[self.field]
        choices = tuple(
            Choice(
                f"o{n}",
                msg("volunteer.ticked") if option in picked else msg("volunteer.unticked"),
                {"option": option},
            )
            for n, option in enumerate(self.options(ctx))
        )
        return Question(Reply(self.question, choices=(*choices, DONE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "done":
            return Next(goto=self.after(ctx))
        assert answer.choice is not None
        option, picked = str(answer.choice.params["option"]), draft(ctx)[self.field]
        if option in picked:
            picked.remove(option)
        else:
            picked.append(option)
        return Next()


class Skills(PickSeveral):
    name, field, question = "volunteer.skills", "skills", msg("volunteer.ask_skills")
    help = msg("help.volunteer_profile")

    def options(self, ctx: Context) -> tuple[str, ...]:
        return ctx.settings.skills

    def after(self, ctx: Context) -> str:
        return "volunteer.zones" if ctx.settings.zones else "volunteer.days"


class Zones(PickSeveral):
    name, field, question = "volunteer.zones", "zones", msg("volunteer.ask_zones")
    help = msg("help.volunteer_profile")

    def options(self, ctx: Context) -> tuple[str, ...]:
        return ctx.settings.zones

    def after(self, ctx: Context) -> str:
        return "volunteer.days"


class Days(Step):
    name = "volunteer.days"
    help = msg("help.volunteer_profile")

    async def ask(self, ctx: Context) -> Question:
        choices = tuple(Choice(key, label) for key, label in DAYS.items())
        return Question(Reply(msg("volunteer.ask_days"), choices=choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        assert answer.choice_id is not None
        profile = draft(ctx)
        await ctx.uow.shifts.save_profile(
            ctx.person_id, profile["skills"], profile["zones"], answer.choice_id
        )
        await ctx.uow.audit.record(f"person:{ctx.person_id}", "volunteer.profile_saved")
        return Next.to(HOME, Reply(msg("volunteer.saved")))


STEPS = (Skills(), Zones(), Days())
