"""Whom a notice is for: the audience and, for some, which zone, language, shift or assembly;
the draft being written is kept in the conversation."""

from __future__ import annotations

from typing import ClassVar

from flows.broadcasting import AUDIENCE_NAMES, AUDIENCES, NARROWED
from flows.i18n import LOCALES
from flows.messages import Choice, Reply, msg
from flows.onboarding import LANGUAGE_CHOICES
from flows.step import BACK, BACK_CHOICE, Answer, Context, Next, Question, Step
from storage.tables import Broadcast

LISTED_CHOICES = 10


def draft(ctx: Context) -> Broadcast:
    """The notice being written, kept in the conversation until it is sent."""
    texts = ctx.data.get("texts")
    audience, argument = ctx.data.get("audience"), ctx.data.get("audience_arg")
    return Broadcast(
        author=f"person:{ctx.person_id}",
        audience=audience if isinstance(audience, str) else "everyone",
        audience_arg=argument if isinstance(argument, str) else None,
        texts=dict(texts) if isinstance(texts, dict) else {},
    )


def keep(ctx: Context, broadcast: Broadcast) -> None:
    ctx.data["texts"], ctx.data["audience"] = broadcast.texts, broadcast.audience
    ctx.data["audience_arg"] = broadcast.audience_arg


def missing_translation(ctx: Context) -> str | None:
    skipped = ctx.data.get("skipped", [])
    done = set(draft(ctx).texts) | set(skipped if isinstance(skipped, list) else [])
    return next((locale for locale in LOCALES if locale not in done), None)


def onward(ctx: Context) -> Next:
    """After the audience: a version in each other language, if wanted, then the preview."""
    return Next(goto="broadcast.translation" if missing_translation(ctx) else "broadcast.preview")


class Audience(Step):
    name = "broadcast.audience"
    help = msg("help.broadcast")

    async def ask(self, ctx: Context) -> Question:
        choices = tuple(Choice(a, AUDIENCE_NAMES[a]) for a in AUDIENCES)
        return Question(Reply(msg("broadcast.ask_audience"), choices=(*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        broadcast = draft(ctx)
        broadcast.audience, broadcast.audience_arg = answer.choice_id or "everyone", None
        keep(ctx, broadcast)
        if broadcast.audience in NARROWED:
            return Next(goto=f"broadcast.{broadcast.audience}")
        return onward(ctx)


class Narrowing(Step):
    """Which zone, language, shift or assembly the audience is."""

    question: ClassVar[str]
    typed: ClassVar[str | None] = None  # the question when there is no list to pick from
    empty: ClassVar[str] = msg("broadcast.no_shifts")  # nothing to pick, nothing to type
    help = msg("help.broadcast")

    async def options(self, ctx: Context) -> tuple[Choice, ...]:
        raise NotImplementedError

    async def ask(self, ctx: Context) -> Question:
        options = await self.options(ctx)
        if options:
            return Question(Reply(self.question, choices=(*options, BACK_CHOICE)))
        if self.typed is None:
            return Question(Reply(self.empty, choices=(BACK_CHOICE,)))
        return Question(Reply(self.typed, choices=(BACK_CHOICE,)), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        broadcast = draft(ctx)
        chosen = answer.choice.params.get("value") if answer.choice else answer.text
        broadcast.audience_arg = str(chosen or answer.choice_id or "").strip()[:80]
        keep(ctx, broadcast)
        return onward(ctx)


class Zone(Narrowing):
    name, question = "broadcast.zone", msg("broadcast.ask_zone_listed")
    typed = msg("broadcast.ask_zone")

    async def options(self, ctx: Context) -> tuple[Choice, ...]:
        zones = enumerate(ctx.settings.zones)
        return tuple(
            Choice(f"z{n}", msg("requests.zone_item"), {"zone": z, "value": z}) for n, z in zones
        )


class Language(Narrowing):
    name, question = "broadcast.language", msg("broadcast.ask_language")

    async def options(self, ctx: Context) -> tuple[Choice, ...]:
        return tuple(Choice(c.id, c.label, {"value": c.id}) for c in LANGUAGE_CHOICES)


class ShiftTeam(Narrowing):
    name, question = "broadcast.shift", msg("broadcast.ask_shift")

    async def options(self, ctx: Context) -> tuple[Choice, ...]:
        upcoming = [s for s in await ctx.uow.shifts.listing(open_only=True) if s.ends_at >= ctx.now]
        return tuple(
            Choice(
                str(s.id),
                msg("broadcast.shift_item"),
                {"title": s.title, "starts": s.starts_at, "value": str(s.id)},
            )
            for s in upcoming[:LISTED_CHOICES]
        )


class AssemblyInvitees(Narrowing):
    name, question = "broadcast.assembly", msg("broadcast.ask_assembly")
    empty = msg("broadcast.no_assemblies")

    async def options(self, ctx: Context) -> tuple[Choice, ...]:
        coming = [
            a
            for a in await ctx.uow.assemblies.listing()
            if a.status == "open" and a.second_call_at >= ctx.now
        ]
        return tuple(
            Choice(
                str(a.id),
                msg("broadcast.assembly_item"),
                {"title": a.title, "first": a.first_call_at, "value": str(a.id)},
            )
            for a in coming[:LISTED_CHOICES]
        )


STEPS = (Audience(), Zone(), Language(), ShiftTeam(), AssemblyInvitees())
