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

    field: ClassVar[str]  # the list it fills
    question: ClassVar[str]

    def options(self, ctx: Context) -> tuple[str, ...]:
        raise NotImplementedError

    def after(self, ctx: Context) -> Next:
        raise NotImplementedError

    async def picked(self, ctx: Context) -> list[str]:
        """The options ticked so far, a list kept in the conversation."""
        raise NotImplementedError

    async def ask(self, ctx: Context) -> Question:
        picked = await self.picked(ctx)
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
            return self.after(ctx)
        assert answer.choice is not None
        option, picked = str(answer.choice.params["option"]), await self.picked(ctx)
        if option in picked:
            picked.remove(option)
        else:
            picked.append(option)
        return Next()


class ProfilePick(PickSeveral):
    """A part of the volunteer's own profile, loaded from what they said last time."""

    help = msg("help.volunteer_profile")

    async def picked(self, ctx: Context) -> list[str]:
        if "profile" not in ctx.data:
            profile = await ctx.uow.shifts.profile(ctx.person_id)
            ctx.data["profile"] = {
                "skills": list(profile.skills) if profile else [],
                "zones": list(profile.zones) if profile else [],
            }
        return draft(ctx)[self.field]


class Skills(ProfilePick):
    name, field, question = "volunteer.skills", "skills", msg("volunteer.ask_skills")

    def options(self, ctx: Context) -> tuple[str, ...]:
        return ctx.settings.skills

    def after(self, ctx: Context) -> Next:
        return Next(goto="volunteer.zones" if ctx.settings.zones else "volunteer.days")


class Zones(ProfilePick):
    name, field, question = "volunteer.zones", "zones", msg("volunteer.ask_zones")

    def options(self, ctx: Context) -> tuple[str, ...]:
        return ctx.settings.zones

    def after(self, ctx: Context) -> Next:
        return Next(goto="volunteer.days")


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
        if ctx.data.get("signing_up"):  # the last question of sign-up: welcome
            welcome = Reply(msg("onboarding.done"), {"name": ctx.person.name})
            return Next.to(HOME, Reply(msg("volunteer.saved_pending")), welcome)
        return Next.to(HOME, Reply(msg("volunteer.saved")))


STEPS = (Skills(), Zones(), Days())
