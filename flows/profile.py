"""The person's own profile: name, roles, language."""

from __future__ import annotations

from flows.i18n import language_name
from flows.messages import Choice, Reply, msg
from flows.onboarding import LANGUAGE_CHOICES, NAME_MAX, clean_name
from flows.roles import claim_role, role_choices, role_names
from flows.step import BACK, BACK_CHOICE, Answer, Context, Next, Question, Step


class ShowProfile(Step):
    name = "profile.show"

    async def ask(self, ctx: Context) -> Question:
        params = {
            "name": ctx.person.name,
            "phone": ctx.person.phone or ctx.t(msg("profile.no_phone")),
            "roles": role_names(ctx, ctx.roles),
            "language": language_name(ctx.locale),
        }
        choices = [Choice("rename", msg("profile.rename"))]
        if role_choices(exclude=set(ctx.roles)):
            choices.append(Choice("add_role", msg("profile.add_role")))
        return Question(Reply(msg("profile.summary"), params, (*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        goto = {"rename": "profile.rename", "add_role": "profile.add_role"}
        return Next(goto=goto.get(answer.choice_id or "", BACK))


class Rename(Step):
    name = "profile.rename"
    help = msg("help.name")

    async def ask(self, ctx: Context) -> Question:
        return Question(Reply(msg("profile.ask_name"), choices=(BACK_CHOICE,)), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        name = clean_name(answer.text or "")
        if name is None:
            return Next.to(None, Reply(msg("onboarding.name_invalid"), {"max": NAME_MAX}))
        ctx.person.name = name
        await ctx.uow.audit.record(f"person:{ctx.person_id}", "person.renamed")
        return Next.to(BACK, Reply(msg("profile.renamed"), {"name": name}))


class AddRole(Step):
    name = "profile.add_role"
    help = msg("help.role")

    async def ask(self, ctx: Context) -> Question:
        choices = (*role_choices(exclude=set(ctx.roles)), BACK_CHOICE)
        return Question(Reply(msg("profile.ask_role"), choices=choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        assert answer.choice_id is not None
        return Next.to(BACK, await claim_role(ctx, answer.choice_id))


class ChooseLanguage(Step):
    """The language, changed at any moment; the conversation then goes on where it was."""

    name = "language.choose"

    async def ask(self, ctx: Context) -> Question:
        return Question(Reply(msg("language.choose"), choices=LANGUAGE_CHOICES))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        assert answer.choice_id is not None
        ctx.person.locale = answer.choice_id
        return Next.to(BACK, Reply(msg("language.changed")))


STEPS = (ShowProfile(), Rename(), AddRole(), ChooseLanguage())
