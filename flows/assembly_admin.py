"""Coordinators follow an assembly in the chat: the figures and the quorum forecast,
who has not answered (nudged with one tap), the check-in code, marking people present."""

from __future__ import annotations

from flows.assemblies import AssemblyProblem, by_name, figures_of, invitation, params
from flows.assembly_changes import mark_present
from flows.messages import Choice, Key, Param, Reply, msg
from flows.step import BACK, BACK_CHOICE, Answer, Context, Next, Question, Step
from storage.tables import Assembly

LISTED = 10


PROXY_STATUS = {"pending": msg("assembly.proxy_pending"), "accepted": msg("assembly.proxy_ok")}


def not_coordinator(ctx: Context) -> bool:
    return not ctx.has_role("coordinator")


class Assemblies(Step):
    name = "assembly.list"
    help = msg("help.assembly_admin")

    async def ask(self, ctx: Context) -> Question:
        choices = [
            Choice(str(a.id), msg("assembly.item"), {"title": a.title, "first": a.first_call_at})
            for a in await ctx.uow.assemblies.listing()
            if a.status == "open" and a.second_call_at >= ctx.now
        ][:LISTED]
        choices.append(Choice("new", msg("assembly.new")))
        key = msg("assembly.list") if len(choices) > 1 else msg("assembly.none")
        return Question(Reply(key, choices=(*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back" or not_coordinator(ctx):
            return Next(goto=BACK)
        if answer.choice_id == "new":
            ctx.data.pop("new_assembly", None)
            return Next(goto="assembly.new")
        ctx.data["assembly_id"] = int(answer.choice_id or 0)
        return Next(goto="assembly.overview")


async def _assembly(ctx: Context) -> Assembly | None:
    assembly = await ctx.uow.assemblies.get(ctx.number("assembly_id"))
    return assembly if assembly is not None and assembly.id is not None else None


class Overview(Step):
    """The live picture: answers, proxies, the forecast; on the day, who is there."""

    name = "assembly.overview"
    help = msg("help.assembly_admin")

    async def ask(self, ctx: Context) -> Question:
        assembly = await _assembly(ctx)
        if assembly is None or assembly.id is None:
            return Question(Reply(msg("assembly.gone"), choices=(BACK_CHOICE,)))
        if assembly.status != "open":
            return Question(Reply(msg("assembly.already_cancelled"), choices=(BACK_CHOICE,)))
        got = await figures_of(ctx.uow, assembly, ctx.settings)
        rows = await ctx.uow.assemblies.invitations(assembly.id)
        names = {invite.person_id: person.name or "?" for invite, person in rows}
        proxies = [
            ctx.t(
                msg("assembly.proxy_line"),
                giver=names[i.person_id],
                delegate=names.get(i.delegate_id or 0, "?"),
                status=Key(PROXY_STATUS[i.proxy_status or "pending"]),
            )
            for i, _ in rows
            if i.answer == "proxy"
        ]
        forecast = msg("assembly.quorum_yes") if got.forecast_reached else msg("assembly.quorum_no")
        figures: dict[str, Param] = params(assembly) | {
            "invited": got.invited,
            "voters": got.voters,
            "answered": got.answered,
            "present": got.present,
            "remote_count": got.remote,
            "absent": got.absent,
            "proxies": got.proxies,
            "pending": got.proxies_pending,
            "no_answer": got.no_answer,
            "expected": got.expected,
            "needed": got.needed,
            "forecast": Key(forecast),
            "checked_in": got.checked_in,
            "votes_now": got.votes_now,
            "code": assembly.checkin_code,
            "proxy_list": "\n".join(proxies) or ctx.t(msg("assembly.no_proxies")),
        }
        choices = (
            Choice("silent", msg("assembly.silent"), {"count": got.no_answer}),
            Choice("mark", msg("assembly.mark")),
            Choice("change", msg("assembly.change")),
            Choice("cancel", msg("assembly.cancel")),
            BACK_CHOICE,
        )
        return Question(Reply(msg("assembly.overview"), figures, choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back" or not_coordinator(ctx):
            return Next(goto=BACK)
        for kept in ("candidates", "assembly_changes", "cancel_reason"):
            ctx.data.pop(kept, None)
        return Next(goto=f"assembly.{answer.choice_id}")


class Silent(Step):
    """Who has not answered yet; one tap sends them the invitation again."""

    name = "assembly.silent"
    help = msg("help.assembly_admin")

    async def ask(self, ctx: Context) -> Question:
        assembly = await _assembly(ctx)
        if assembly is None or assembly.id is None:
            return Question(Reply(msg("assembly.gone"), choices=(BACK_CHOICE,)))
        rows = await ctx.uow.assemblies.invitations(assembly.id)
        silent = [f"• {p.name or '?'}" for i, p in rows if i.answer is None]
        if not silent:
            return Question(Reply(msg("assembly.all_answered"), choices=(BACK_CHOICE,)))
        nudge = Choice("nudge", msg("assembly.nudge_all"), {"count": len(silent)})
        details = {"names": "\n".join(silent), "title": assembly.title}
        return Question(Reply(msg("assembly.silent_list"), details, (nudge, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        assembly = await _assembly(ctx)
        if answer.choice_id != "nudge" or assembly is None or not_coordinator(ctx):
            return Next(goto=BACK)
        if assembly.status != "open":
            return Next.to(BACK, Reply(msg("assembly.already_cancelled")))
        assert assembly.id is not None
        nudged = 0
        for invite, person in await ctx.uow.assemblies.invitations(assembly.id):
            if invite.answer is not None or person.opted_out_at is not None:
                continue
            invite.nudged_at = ctx.now
            ctx.notify(invite.person_id, invitation(assembly, invite.voting, nudge=True))
            nudged += 1
        await ctx.uow.audit.record(
            f"person:{ctx.person_id}", "assembly.nudged", f"assembly:{assembly.id}", count=nudged
        )
        return Next.to(BACK, Reply(msg("assembly.nudged"), {"count": nudged}))


class MarkPresent(Step):
    """The coordinator types a name and marks that member present."""

    name = "assembly.mark"
    help = msg("help.assembly_admin")

    async def ask(self, ctx: Context) -> Question:
        candidates = ctx.data.get("candidates")
        if isinstance(candidates, list) and candidates:
            choices = [
                Choice(f"p{pid}", msg("assembly.candidate"), {"name": str(name)})
                for pid, name in candidates
            ]
            reply = Reply(msg("assembly.mark_which"), choices=(*choices, BACK_CHOICE))
            return Question(reply, free_text=True)
        return Question(Reply(msg("assembly.mark_ask"), choices=(BACK_CHOICE,)), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        assembly = await _assembly(ctx)
        if answer.choice_id == "back" or assembly is None or not_coordinator(ctx):
            return Next(goto=BACK)
        assert assembly.id is not None
        rows = await ctx.uow.assemblies.invitations(assembly.id)
        if answer.choice_id and answer.choice_id.startswith("p"):
            chosen = [r for r in rows if f"p{r[0].person_id}" == answer.choice_id]
        else:
            chosen = by_name(rows, answer.text or "")
        ctx.data.pop("candidates", None)
        if not chosen:
            return Next.to(None, Reply(msg("assembly.mark_not_found")))
        if len(chosen) > 1:
            ctx.data["candidates"] = [[i.person_id, p.name or "?"] for i, p in chosen[:LISTED]]
            return Next()
        invite, person = chosen[0]
        try:
            await mark_present(ctx.uow, assembly, invite, f"person:{ctx.person_id}", ctx.now)
        except AssemblyProblem as problem:
            return Next.to(BACK, Reply(problem.key))
        return Next.to(BACK, Reply(msg("assembly.marked"), {"name": person.name}))


STEPS = (Assemblies(), Overview(), Silent(), MarkPresent())
