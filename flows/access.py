"""Who may be where, and who may press which button: the engine asks here before it runs
a step or an action, and every refusal is audited here, in one place.

Steps are checked by name: the coordinators' areas are closed to anyone else (so a new
step there is protected from the start), except the members' own assembly steps. Action
payloads ("a:<name>:<id>") can be typed by anyone into a Telegram callback or a Twilio
form, so each action's target is checked against the person who presses it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from flows.messages import Reply, msg
from flows.shifts import fits
from flows.step import ACTION_PREFIX, Context

COORDINATOR_AREAS = ("triage.", "coverage.", "shiftform.", "broadcast.", "roles.", "assembly.")
OPEN_TO_ALL = frozenset({"assembly.mine", "assembly.checkin", "assembly.proxy"})
MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
SUBJECT_MAX = 60  # audit_log.subject


def coordinator_only(step: str) -> bool:
    return step.startswith(COORDINATOR_AREAS) and step not in OPEN_TO_ALL


def _id(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) <= MAX_ID else None


@dataclass(frozen=True)
class Refusal:
    reply: Reply
    target: str  # what was aimed at: "shift:12", "step:triage.detail"


Rule = Callable[[Context, str], Awaitable[Refusal | None]]


async def _take(ctx: Context, argument: str) -> Refusal | None:
    if not ctx.has_role("coordinator"):
        return Refusal(Reply(msg("common.not_allowed")), f"request:{argument}")
    if _id(argument) is None:
        return Refusal(Reply(msg("requests.not_found")), f"request:{argument}")
    return None


async def _shift(ctx: Context, argument: str, payload: str) -> Refusal | None:
    """A shift offer's buttons: for volunteers, and only for a shift that was offered to
    them (it fits them, they are on it or waiting already, or the button came to them)."""
    target = f"shift:{argument}"
    if not ctx.has_role("volunteer"):
        return Refusal(Reply(msg("shifts.volunteers_only")), target)
    number = _id(argument)
    shift = await ctx.uow.shifts.get(number) if number is not None else None
    if shift is None or shift.id is None:
        return Refusal(Reply(msg("shifts.gone")), target)
    if fits(await ctx.uow.shifts.profile(ctx.person_id), shift, ctx.settings.timezone):
        return None
    if await ctx.uow.shifts.assignment(shift.id, ctx.person_id) is not None:
        return None
    if await ctx.uow.outbox.offered(ctx.person_id, payload):
        return None
    return Refusal(Reply(msg("shifts.not_offered")), target)


async def _accept(ctx: Context, argument: str) -> Refusal | None:
    return await _shift(ctx, argument, f"{ACTION_PREFIX}accept:{argument}")


async def _waitlist(ctx: Context, argument: str) -> Refusal | None:
    return await _shift(ctx, argument, f"{ACTION_PREFIX}waitlist:{argument}")


async def _decline(ctx: Context, argument: str) -> Refusal | None:
    return await _shift(ctx, argument, f"{ACTION_PREFIX}decline:{argument}")


async def _rsvp(ctx: Context, argument: str) -> Refusal | None:
    """An answer to an assembly's invitation: only from someone invited to it."""
    number = _id(argument.partition(":")[0])
    target = f"assembly:{argument.partition(':')[0]}"
    invited = number is not None and await ctx.uow.assemblies.invitation(number, ctx.person_id)
    return None if invited else Refusal(Reply(msg("assembly.not_invited")), target)


def _proxy(name: str) -> Rule:
    """Accepting or refusing a proxy: only the member it was addressed to. One withdrawn
    since is no forgery (the button came to them); the action says it is gone."""

    async def rule(ctx: Context, argument: str) -> Refusal | None:
        number = _id(argument)
        invite = await ctx.uow.assemblies.invite_by_id(number) if number is not None else None
        if invite is not None and invite.delegate_id == ctx.person_id:
            return None
        if number is not None and await ctx.uow.outbox.offered(
            ctx.person_id, f"{ACTION_PREFIX}{name}:{argument}"
        ):
            return None
        return Refusal(Reply(msg("assembly.proxy_gone")), f"invite:{argument}")

    return rule


ACTION_RULES: dict[str, Rule] = {
    "take": _take,
    "accept": _accept,
    "waitlist": _waitlist,
    "decline": _decline,
    "rsvp": _rsvp,
    "proxy_yes": _proxy("proxy_yes"),
    "proxy_no": _proxy("proxy_no"),
}


async def _audit(ctx: Context, what: str, refusal: Refusal) -> Reply:
    await ctx.uow.audit.record(
        f"person:{ctx.person_id}",
        "access.refused",
        refusal.target[:SUBJECT_MAX],
        attempted=what[:SUBJECT_MAX],
        channel=ctx.incoming.channel,
    )
    return refusal.reply


async def refuse_action(ctx: Context, name: str, argument: str) -> Reply | None:
    """Why this person may not press this action's button, if they may not (audited)."""
    rule = ACTION_RULES.get(name)
    refusal = await rule(ctx, argument) if rule is not None else None
    return await _audit(ctx, f"{ACTION_PREFIX}{name}", refusal) if refusal else None


async def refuse_step(ctx: Context, step: str) -> Reply | None:
    """Why this person may not be at this step, if they may not (audited): a coordinator
    whose role was taken away meanwhile, or a conversation state that is not theirs."""
    if not coordinator_only(step) or ctx.has_role("coordinator"):
        return None
    return await _audit(ctx, step, Refusal(Reply(msg("common.not_allowed")), f"step:{step}"))
