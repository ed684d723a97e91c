"""The assembly in a member's menu: the next one, their answer, the agenda, check-in."""

from __future__ import annotations

from flows.assemblies import ANSWERS, answer_choices, local_day, params
from flows.assembly_answers import Rsvp
from flows.messages import Choice, Key, Param, Reply, msg
from flows.step import BACK, BACK_CHOICE, Answer, Context, Next, Question, Step
from storage.tables import Assembly, AssemblyInvite


async def next_assembly(ctx: Context) -> tuple[Assembly, AssemblyInvite] | None:
    """The person's next open assembly (until the end of its second call's day)."""
    for assembly, invite in await ctx.uow.assemblies.of_person(ctx.person_id):
        if local_day(assembly.second_call_at, ctx.timezone) >= local_day(ctx.now, ctx.timezone):
            return assembly, invite
    return None


def on_the_day(assembly: Assembly, ctx: Context) -> bool:
    today = local_day(ctx.now, ctx.timezone)
    calls = (assembly.first_call_at, assembly.second_call_at)
    return any(local_day(call, ctx.timezone) == today for call in calls)


async def current_answer(ctx: Context, invite: AssemblyInvite) -> Param:
    if invite.answer is None:
        return Key(msg("assembly.answer_none"))
    if invite.answer != "proxy" or invite.delegate_id is None:
        return ctx.t(ANSWERS[invite.answer])
    delegate = await ctx.uow.people.get(invite.delegate_id)
    key = msg("assembly.answer_proxy_accepted")
    if invite.proxy_status != "accepted":
        key = msg("assembly.answer_proxy_pending")
    return ctx.t(key, name=delegate.name if delegate else "?")


class MyAssembly(Step):
    name = "assembly.mine"
    help = msg("help.assembly_mine")

    async def ask(self, ctx: Context) -> Question:
        found = await next_assembly(ctx)
        if found is None:
            return Question(Reply(msg("assembly.none_for_you"), choices=(BACK_CHOICE,)))
        assembly, invite = found
        held = await ctx.uow.assemblies.proxies_held(invite.assembly_id, ctx.person_id)
        details: dict[str, Param] = params(assembly) | {
            "answer": await current_answer(ctx, invite),
            "vote": Key(msg("assembly.vote_yes") if invite.voting else msg("assembly.vote_no")),
            "held": sum(1 for p in held if p.proxy_status == "accepted"),
        }
        choices: list[Choice] = []
        if invite.checked_in_at is None and on_the_day(assembly, ctx):
            choices.append(Choice("checkin", msg("assembly.check_in")))
        if ctx.now <= assembly.answer_deadline:
            choices.extend(answer_choices(assembly, invite.voting))
        choices.append(Choice("agenda", msg("assembly.show_agenda")))
        return Question(Reply(msg("assembly.mine"), details, (*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        choice = answer.choice_id or ""
        found = await next_assembly(ctx)
        if choice == "back" or found is None:
            return Next(goto=BACK)
        assembly, _invite = found
        if choice == "agenda":
            return Next.to(None, Reply(msg("assembly.agenda"), params(assembly)))
        if choice == "checkin":
            ctx.data["assembly_id"] = assembly.id
            return Next(goto="assembly.checkin")
        return await Rsvp().run(ctx, choice.removeprefix("a:rsvp:"))


class CheckIn(Step):
    """On the day, the member types the code the coordinator shows in the room."""

    name = "assembly.checkin"
    help = msg("help.assembly_checkin")

    async def ask(self, ctx: Context) -> Question:
        return Question(Reply(msg("assembly.ask_code"), choices=(BACK_CHOICE,)), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        assembly = await ctx.uow.assemblies.get(ctx.number("assembly_id"))
        invite = await ctx.uow.assemblies.lock_invitation(ctx.number("assembly_id"), ctx.person_id)
        if assembly is None or invite is None or not on_the_day(assembly, ctx):
            return Next.to(BACK, Reply(msg("assembly.not_today")))
        if assembly.status != "open":
            return Next.to(BACK, Reply(msg("assembly.was_cancelled"), params(assembly)))
        if (answer.text or "").strip() != assembly.checkin_code:
            return Next.to(None, Reply(msg("assembly.code_wrong")))
        if invite.checked_in_at is None:
            invite.checked_in_at, invite.checked_in_by = ctx.now, f"person:{ctx.person_id}"
            await ctx.uow.audit.record(
                f"person:{ctx.person_id}", "assembly.checked_in", f"assembly:{assembly.id}"
            )
        return Next.to(BACK, Reply(msg("assembly.checked_in"), params(assembly)))


STEPS = (MyAssembly(), CheckIn())
