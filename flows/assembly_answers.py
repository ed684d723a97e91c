"""Members answer the assembly invitation: present, remote, absent, or a proxy to another
voting member, who accepts or refuses it. Until the deadline; check-in on the day."""

from __future__ import annotations

from flows.assemblies import ANSWERS, answer_choices, by_name, params
from flows.messages import Choice, Key, Param, Reply, msg
from flows.step import BACK, BACK_CHOICE, Action, Answer, Context, Next, Question, Step
from storage.tables import Assembly, AssemblyInvite

LISTED = 8  # members offered when a name fits several


async def _open(ctx: Context, assembly_id: int) -> tuple[Assembly, AssemblyInvite] | Next:
    """The open assembly and the person's invitation, locked; or why not."""
    assembly = await ctx.uow.assemblies.get(assembly_id)
    invite = await ctx.uow.assemblies.lock_invitation(assembly_id, ctx.person_id)
    if assembly is None or invite is None:
        return Next.to(None, Reply(msg("assembly.not_invited")))
    if assembly.status != "open":
        return Next.to(None, Reply(msg("assembly.was_cancelled"), params(assembly)))
    if ctx.now > assembly.answer_deadline:
        return Next.to(None, Reply(msg("assembly.deadline_passed"), params(assembly)))
    return assembly, invite


async def _drop_proxy(ctx: Context, assembly: Assembly, invite: AssemblyInvite) -> None:
    """A member who gave a proxy changed their mind: the delegate is told."""
    if invite.answer == "proxy" and invite.delegate_id is not None:
        note = params(assembly) | {"name": ctx.person.name}
        ctx.notify(invite.delegate_id, Reply(msg("assembly.proxy_withdrawn"), note))
    invite.delegate_id = invite.proxy_status = None


class Rsvp(Action):
    """An answer to the invitation, from its buttons or from the assembly menu."""

    name = "rsvp"

    async def run(self, ctx: Context, argument: str) -> Next:
        number, _, answer = argument.partition(":")
        found = await _open(ctx, int(number) if number.isdigit() else 0)
        if isinstance(found, Next):
            return found
        assembly, invite = found
        if answer not in ANSWERS or (answer == "remote" and not assembly.remote_link):
            return Next.to(None, Reply(msg("common.stale_choice")))
        held = len(await ctx.uow.assemblies.proxies_held(invite.assembly_id, ctx.person_id))
        if answer == "proxy":
            if not invite.voting:
                return Next.to(None, Reply(msg("assembly.proxy_no_vote_yourself")))
            if held:
                return Next.to(None, Reply(msg("assembly.proxy_chain_holder"), {"count": held}))
            ctx.data["assembly_id"] = invite.assembly_id
            ctx.data.pop("candidates", None)
            return Next(goto="assembly.proxy")
        await _drop_proxy(ctx, assembly, invite)
        invite.answer, invite.answered_at = answer, ctx.now
        await ctx.uow.audit.record(
            f"person:{ctx.person_id}", "assembly.answered", f"assembly:{assembly.id}", answer=answer
        )
        replies = [
            Reply(msg("assembly.answer_saved"), params(assembly) | {"answer": Key(ANSWERS[answer])})
        ]
        if held and answer == "absent":
            replies.append(Reply(msg("assembly.proxies_lost"), {"count": held}))
        return Next(tuple(replies))


class ChooseDelegate(Step):
    """The member types the name of the voting member who will represent them."""

    name = "assembly.proxy"
    help = msg("help.assembly_proxy")

    async def ask(self, ctx: Context) -> Question:
        candidates = ctx.data.get("candidates")
        if isinstance(candidates, list) and candidates:
            choices = [
                Choice(f"p{pid}", msg("assembly.candidate"), {"name": str(name)})
                for pid, name in candidates
            ]
            reply = Reply(msg("assembly.proxy_which"), choices=(*choices, BACK_CHOICE))
            return Question(reply, free_text=True)
        return Question(Reply(msg("assembly.proxy_ask"), choices=(BACK_CHOICE,)), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        found = await _open(ctx, ctx.number("assembly_id"))
        if isinstance(found, Next):
            return Next(found.replies, BACK)
        assembly, invite = found
        rows = await ctx.uow.assemblies.invitations(invite.assembly_id)
        if answer.choice_id and answer.choice_id.startswith("p"):
            chosen = [r for r in rows if f"p{r[0].person_id}" == answer.choice_id]
        else:
            chosen = by_name(rows, answer.text or "")
        ctx.data.pop("candidates", None)
        if not chosen:
            return Next.to(None, Reply(msg("assembly.proxy_not_found")))
        if len(chosen) > 1:
            ctx.data["candidates"] = [[i.person_id, p.name or "?"] for i, p in chosen[:LISTED]]
            return Next()
        delegate_invite, delegate = chosen[0]
        refused = await self._refusal(ctx, delegate_invite, delegate.name or "?")
        if refused is not None:
            return Next.to(None, refused)
        await _drop_proxy(ctx, assembly, invite)
        invite.answer, invite.answered_at = "proxy", ctx.now
        invite.delegate_id, invite.proxy_status = delegate_invite.person_id, "pending"
        await ctx.uow.audit.record(
            f"person:{ctx.person_id}",
            "assembly.proxy_given",
            f"assembly:{assembly.id}",
            delegate=delegate_invite.person_id,
        )
        request: dict[str, Param] = params(assembly) | {"name": ctx.person.name}
        buttons = (
            Choice(f"a:proxy_yes:{invite.id}", msg("assembly.proxy_accept")),
            Choice(f"a:proxy_no:{invite.id}", msg("assembly.proxy_refuse")),
        )
        ctx.notify(
            delegate_invite.person_id, Reply(msg("assembly.proxy_request"), request, buttons)
        )
        return Next.to(BACK, Reply(msg("assembly.proxy_asked"), {"name": delegate.name}))

    @staticmethod
    async def _refusal(ctx: Context, delegate: AssemblyInvite, name: str) -> Reply | None:
        """Why this member cannot hold the proxy, if they cannot."""
        if delegate.person_id == ctx.person_id:
            return Reply(msg("assembly.proxy_self"))
        if not delegate.voting:
            return Reply(msg("assembly.proxy_no_vote"), {"name": name})
        locked = await ctx.uow.assemblies.lock_invitation(delegate.assembly_id, delegate.person_id)
        if locked is not None and locked.answer == "proxy":
            return Reply(msg("assembly.proxy_chain_delegate"), {"name": name})
        held = await ctx.uow.assemblies.proxies_held(delegate.assembly_id, delegate.person_id)
        if len(held) >= ctx.settings.max_proxies:
            return Reply(
                msg("assembly.proxy_limit"), {"name": name, "max": ctx.settings.max_proxies}
            )
        return None


async def _proxy_for_me(ctx: Context, argument: str) -> tuple[Assembly, AssemblyInvite] | Next:
    """The proxy a delegate is asked to hold, still standing and in time."""
    giver = await ctx.uow.assemblies.invite_by_id(int(argument)) if argument.isdigit() else None
    if giver is None or giver.answer != "proxy" or giver.delegate_id != ctx.person_id:
        return Next.to(None, Reply(msg("assembly.proxy_gone")))
    assembly = await ctx.uow.assemblies.get(giver.assembly_id)
    if assembly is None:
        return Next.to(None, Reply(msg("assembly.proxy_gone")))
    if assembly.status != "open":
        return Next.to(None, Reply(msg("assembly.was_cancelled"), params(assembly)))
    if ctx.now > assembly.answer_deadline:
        return Next.to(None, Reply(msg("assembly.deadline_passed"), params(assembly)))
    return assembly, giver


class AcceptProxy(Action):
    name = "proxy_yes"

    async def run(self, ctx: Context, argument: str) -> Next:
        found = await _proxy_for_me(ctx, argument)
        if isinstance(found, Next):
            return found
        assembly, giver = found
        giver_name = (await ctx.uow.people.get(giver.person_id) or ctx.person).name
        mine = await ctx.uow.assemblies.lock_invitation(giver.assembly_id, ctx.person_id)
        if mine is not None and mine.answer == "proxy":
            return Next.to(None, Reply(msg("assembly.proxy_chain_holder_accept")))
        held = await ctx.uow.assemblies.proxies_held(giver.assembly_id, ctx.person_id)
        accepted = sum(1 for p in held if p.proxy_status == "accepted" and p.id != giver.id)
        if accepted >= ctx.settings.max_proxies:
            return Next.to(
                None, Reply(msg("assembly.proxy_limit_yours"), {"max": ctx.settings.max_proxies})
            )
        giver.proxy_status = "accepted"
        await ctx.uow.audit.record(
            f"person:{ctx.person_id}", "assembly.proxy_accepted", f"person:{giver.person_id}"
        )
        ctx.notify(
            giver.person_id,
            Reply(msg("assembly.proxy_accepted"), params(assembly) | {"name": ctx.person.name}),
        )
        return Next.to(
            None,
            Reply(
                msg("assembly.proxy_holding"),
                params(assembly) | {"name": giver_name, "count": accepted + 1},
            ),
        )


class RefuseProxy(Action):
    name = "proxy_no"

    async def run(self, ctx: Context, argument: str) -> Next:
        found = await _proxy_for_me(ctx, argument)
        if isinstance(found, Next):
            return found
        assembly, giver = found
        giver.answer = giver.delegate_id = giver.proxy_status = None
        await ctx.uow.audit.record(
            f"person:{ctx.person_id}", "assembly.proxy_refused", f"person:{giver.person_id}"
        )
        note = Reply(
            msg("assembly.proxy_refused"),
            params(assembly) | {"name": ctx.person.name},
            answer_choices(assembly, giver.voting),
        )
        ctx.notify(giver.person_id, note)
        return Next.to(None, Reply(msg("assembly.proxy_declined")))


STEPS = (Rsvp(), ChooseDelegate(), AcceptProxy(), RefuseProxy())
