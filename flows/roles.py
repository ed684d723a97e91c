"""Roles: what a person says they are, and the coordinator's approval of it."""

from __future__ import annotations

from flows.messages import Choice, Key, Param, Reply, msg
from flows.requests import DAYS
from flows.step import BACK, BACK_CHOICE, Answer, Context, Next, Question, Step

ROLE_LABELS = {
    "family": msg("role.family"),
    "volunteer": msg("role.volunteer"),
    "member": msg("role.member"),
    "coordinator": msg("role.coordinator"),
}
ROLE_WORDS = {
    "family": msg("words.family"),
    "volunteer": msg("words.volunteer"),
    "member": msg("words.member"),
}
CLAIM_LABELS = {
    "family": msg("roles.claim_family"),
    "volunteer": msg("roles.claim_volunteer"),
    "member": msg("roles.claim_member"),
}  # coordinators are granted by CLI only
CLAIMED = {
    "family": msg("roles.family_welcome"),
    "volunteer": msg("roles.volunteer_pending"),
    "member": msg("roles.member_pending"),
}
REASON_MAX = 300


def role_choices(exclude: set[str] | frozenset[str] = frozenset()) -> tuple[Choice, ...]:
    return tuple(
        Choice(role, label, words=ROLE_WORDS[role])
        for role, label in CLAIM_LABELS.items()
        if role not in exclude
    )


def role_names(ctx: Context, roles: dict[str, str]) -> str:
    """ "volontario (in attesa di approvazione), famiglia" in the person's language."""
    names = []
    for role, status in sorted(roles.items()):
        name = ctx.t(ROLE_LABELS[role])
        names.append(ctx.t(msg("roles.pending_suffix"), role=name) if status == "pending" else name)
    return ", ".join(names) or ctx.t(msg("roles.none"))


async def claim_role(ctx: Context, role: str) -> Reply:
    """A family is welcome at once; volunteers and members wait for a coordinator."""
    status = "active" if role == "family" else "pending"
    await ctx.uow.people.grant(ctx.person_id, role, status=status, by=f"person:{ctx.person_id}")
    await ctx.uow.audit.record(f"person:{ctx.person_id}", "role.claimed", role, status=status)
    await ctx.reload_roles()
    if status == "pending":
        for coordinator in await ctx.uow.people.with_role("coordinator"):
            assert coordinator.id is not None
            ctx.notify(
                coordinator.id,
                Reply(
                    msg("roles.new_request"),
                    {"name": ctx.person.name, "role": Key(ROLE_LABELS[role])},
                ),
            )
    return Reply(CLAIMED[role])


async def volunteer_profile_params(ctx: Context, person_id: int) -> dict[str, Param]:
    profile = await ctx.uow.shifts.profile(person_id)
    if profile is None:
        unsaid = Key(msg("roles.not_said"))
        return {"skills": unsaid, "zones": unsaid, "days": unsaid}
    return {
        "skills": ", ".join(profile.skills) or Key(msg("roles.no_skills")),
        "zones": ", ".join(profile.zones) or Key(msg("roles.anywhere")),
        "days": Key(DAYS[profile.days]),
    }


class PendingRoles(Step):
    """Coordinators: the people waiting for a role to be approved."""

    name = "roles.pending"
    help = msg("help.pending_roles")

    async def ask(self, ctx: Context) -> Question:
        pending = await ctx.uow.people.pending_roles()
        if not pending:
            return Question(Reply(msg("roles.none_pending"), choices=(BACK_CHOICE,)))
        choices = tuple(
            Choice(
                str(role.id),
                msg("roles.pending_item"),
                {"name": person.name or "?", "role": Key(ROLE_LABELS[role.role])},
            )
            for role, person in pending
        )
        return Question(Reply(msg("roles.pending_list"), choices=(*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        ctx.data["role_id"] = int(answer.choice_id or 0)
        ctx.data.pop("refusing", None)
        return Next(goto="roles.decide")


class DecideRole(Step):
    name = "roles.decide"
    help = msg("help.pending_roles")

    async def ask(self, ctx: Context) -> Question:
        role = await ctx.uow.people.role(ctx.number("role_id"))
        person = await ctx.uow.people.get(role.person_id) if role else None
        if role is None or person is None or role.status != "pending":
            # whatever the answer, it goes back to the list (see answer)
            return Question(Reply(msg("roles.already_decided")), free_text=True)
        if ctx.data.get("refusing"):
            return Question(Reply(msg("roles.ask_reason"), {"max": REASON_MAX}), free_text=True)
        params: dict[str, Param] = {
            "name": person.name or "?",
            "phone": person.phone or "-",
            "role": Key(ROLE_LABELS[role.role]),
        }
        key = msg("roles.decide")
        if role.role == "volunteer":  # what they said they can do, where and when
            key = msg("roles.decide_volunteer")
            params |= await volunteer_profile_params(ctx, role.person_id)
        choices = (
            Choice("approve", msg("roles.approve")),
            Choice("refuse", msg("roles.refuse")),
            Choice("back", msg("common.back"), words=msg("words.back")),
        )
        return Question(Reply(key, params, choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        role = await ctx.uow.people.role(ctx.number("role_id"))
        if role is None or role.status != "pending":
            return Next.to(BACK, Reply(msg("roles.already_decided")))
        if answer.choice_id == "back":
            return Next(goto=BACK)
        actor = f"person:{ctx.person_id}"
        if answer.choice_id == "approve":
            await ctx.uow.people.grant(role.person_id, role.role, by=actor)
            await ctx.uow.audit.record(
                actor, "role.approved", f"person:{role.person_id}", role=role.role
            )
            ctx.notify(
                role.person_id, Reply(msg("roles.approved"), {"role": Key(ROLE_LABELS[role.role])})
            )
            return Next.to(BACK, Reply(msg("roles.done_approved")))
        if answer.choice_id == "refuse":
            ctx.data["refusing"] = True
            return Next()
        reason = (answer.text or "").strip()[:REASON_MAX]
        await ctx.uow.people.revoke(role.person_id, role.role)
        await ctx.uow.audit.record(
            actor, "role.refused", f"person:{role.person_id}", role=role.role, reason=reason
        )
        ctx.notify(
            role.person_id,
            Reply(msg("roles.refused"), {"role": Key(ROLE_LABELS[role.role]), "reason": reason}),
        )
        ctx.data.pop("refusing", None)
        return Next.to(BACK, Reply(msg("roles.done_refused")))


STEPS = (PendingRoles(), DecideRole())
