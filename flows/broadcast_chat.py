"""Coordinators write a notice in the chat, pick its audience, see a preview and send it."""

from __future__ import annotations

from typing import ClassVar

from flows.broadcasting import (
    AUDIENCE_NAMES,
    AUDIENCES,
    audience_detail,
    cancel,
    fan_out,
    figures_params,
)
from flows.broadcasting import recipients as find_recipients
from flows.i18n import LOCALES
from flows.messages import Choice, Key, Param, Reply, msg
from flows.onboarding import LANGUAGE_CHOICES, LANGUAGE_LABELS
from flows.step import BACK, BACK_CHOICE, HOME, Answer, Context, Next, Question, Step
from storage.tables import Broadcast

TEXT_MAX = 1000
LISTED = 5
CHANNEL_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp", "sms": "SMS"}


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


def written_text(answer: Answer) -> str | Reply:
    text = (answer.text or "").strip()
    if len(text) > TEXT_MAX:
        return Reply(msg("requests.text_length"), {"max": TEXT_MAX})
    return text


def missing_translation(ctx: Context) -> str | None:
    skipped = ctx.data.get("skipped", [])
    done = set(draft(ctx).texts) | set(skipped if isinstance(skipped, list) else [])
    return next((locale for locale in LOCALES if locale not in done), None)


def onward(ctx: Context) -> Next:
    """After the audience: a version in each other language, if wanted, then the preview."""
    return Next(goto="broadcast.translation" if missing_translation(ctx) else "broadcast.preview")


class Notices(Step):
    name = "broadcast.menu"
    help = msg("help.broadcast")

    async def ask(self, ctx: Context) -> Question:
        listed = []
        for broadcast in await ctx.uow.broadcasts.latest(LISTED):
            when = broadcast.sent_at or broadcast.send_at or broadcast.created_at
            params: dict[str, Param] = {
                "id": broadcast.id,
                "audience": Key(AUDIENCE_NAMES[broadcast.audience]),
                "detail": audience_detail(broadcast),
                "when": when,
            }
            listed.append(Choice(str(broadcast.id), msg("broadcast.item"), params))
        new = Choice("new", msg("broadcast.new"), words=msg("words.broadcast"))
        return Question(Reply(msg("broadcast.menu"), choices=(new, *listed, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back" or not ctx.has_role("coordinator"):
            return Next(goto=BACK)
        for key in ("texts", "audience", "audience_arg", "skipped"):
            ctx.data.pop(key, None)
        if answer.choice_id == "new":
            return Next(goto="broadcast.text")
        ctx.data["broadcast_id"] = int(answer.choice_id or 0)
        return Next(goto="broadcast.detail")


class Detail(Step):
    name = "broadcast.detail"
    help = msg("help.broadcast")

    async def ask(self, ctx: Context) -> Question:
        broadcast = await ctx.uow.broadcasts.get(ctx.number("broadcast_id"))
        if broadcast is None or broadcast.id is None:
            return Question(Reply(msg("broadcast.gone"), choices=(BACK_CHOICE,)))
        figures = await ctx.uow.broadcasts.figures(broadcast.id)
        main_text = broadcast.texts.get(ctx.settings.default_locale, "")
        params = figures_params(broadcast, figures) | {"text": main_text}
        if broadcast.status == "scheduled":
            params["when"] = broadcast.send_at
            choices = (Choice("cancel", msg("broadcast.cancel")), BACK_CHOICE)
            return Question(Reply(msg("broadcast.scheduled"), params, choices))
        return Question(Reply(msg("broadcast.figures"), params, (BACK_CHOICE,)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        broadcast = await ctx.uow.broadcasts.get(ctx.number("broadcast_id"))
        if answer.choice_id != "cancel" or broadcast is None or not ctx.has_role("coordinator"):
            return Next(goto=BACK)
        if await cancel(ctx.uow, broadcast):
            await ctx.uow.audit.record(
                f"person:{ctx.person_id}", "broadcast.cancelled", f"broadcast:{broadcast.id}"
            )
        return Next.to(BACK, Reply(msg("broadcast.cancelled"), {"id": broadcast.id}))


class Text(Step):
    name = "broadcast.text"
    help = msg("help.broadcast")

    async def ask(self, ctx: Context) -> Question:
        language = Key(LANGUAGE_LABELS[ctx.settings.default_locale])
        reply = Reply(msg("broadcast.ask_text"), {"max": TEXT_MAX, "language": language})
        return Question(Reply(reply.key, reply.params, (BACK_CHOICE,)), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        text = written_text(answer)
        if isinstance(text, Reply):
            return Next.to(None, text)
        broadcast = draft(ctx)
        broadcast.texts[ctx.settings.default_locale] = text
        keep(ctx, broadcast)
        return Next(goto="broadcast.audience")


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
        if broadcast.audience in ("zone", "language", "shift"):
            return Next(goto=f"broadcast.{broadcast.audience}")
        return onward(ctx)


class Narrowing(Step):
    """Which zone, language or shift the audience is."""

    question: ClassVar[str]
    typed: ClassVar[str | None] = None  # the question when there is no list to pick from
    help = msg("help.broadcast")

    async def options(self, ctx: Context) -> tuple[Choice, ...]:
        raise NotImplementedError

    async def ask(self, ctx: Context) -> Question:
        options = await self.options(ctx)
        if options:
            return Question(Reply(self.question, choices=(*options, BACK_CHOICE)))
        if self.typed is None:
            return Question(Reply(msg("broadcast.no_shifts"), choices=(BACK_CHOICE,)))
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
            for s in upcoming[:10]
        )


class Translation(Step):
    name = "broadcast.translation"
    help = msg("help.broadcast")

    async def ask(self, ctx: Context) -> Question:
        locale = missing_translation(ctx) or ctx.settings.default_locale
        skip = Choice("skip", msg("broadcast.skip_translation"), words=msg("words.skip"))
        params: dict[str, Param] = {"language": Key(LANGUAGE_LABELS[locale]), "max": TEXT_MAX}
        return Question(Reply(msg("broadcast.ask_translation"), params, (skip,)), True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        locale = missing_translation(ctx)
        if locale is None:
            return Next(goto="broadcast.preview")
        if answer.choice_id == "skip":
            skipped = ctx.data.setdefault("skipped", [])
            if isinstance(skipped, list):
                skipped.append(locale)
            return onward(ctx)
        text = written_text(answer)
        if isinstance(text, Reply):
            return Next.to(None, text)
        broadcast = draft(ctx)
        broadcast.texts[locale] = text
        keep(ctx, broadcast)
        return onward(ctx)


class Preview(Step):
    name = "broadcast.preview"
    help = msg("help.broadcast")

    async def ask(self, ctx: Context) -> Question:
        broadcast = draft(ctx)
        found = await find_recipients(ctx.uow, broadcast, ctx.settings)
        channels = ", ".join(
            f"{CHANNEL_NAMES.get(name, name)} {count}"
            for name, count in sorted(found.by_channel.items())
        )
        params: dict[str, Param] = {
            "text": broadcast.texts.get(ctx.settings.default_locale, ""),
            "audience": Key(AUDIENCE_NAMES[broadcast.audience]),
            "detail": audience_detail(broadcast),
            "count": len(found.reachable),
            "channels": channels or "-",
            "opted_out": found.opted_out,
            "languages": ", ".join(sorted(broadcast.texts)),
        }
        choices = (
            Choice("send", msg("broadcast.send"), words=msg("words.yes")),
            Choice("discard", msg("broadcast.discard"), words=msg("words.no")),
        )
        return Question(Reply(msg("broadcast.preview"), params, choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id != "send" or not ctx.has_role("coordinator"):
            return Next.to(HOME, Reply(msg("common.cancelled")))
        broadcast = await ctx.uow.broadcasts.add(draft(ctx))
        count = await fan_out(ctx.uow, broadcast, ctx.settings, ctx.now)
        await ctx.uow.audit.record(
            f"person:{ctx.person_id}", "broadcast.sent", f"broadcast:{broadcast.id}", count=count
        )
        return Next.to(HOME, Reply(msg("broadcast.sending"), {"id": broadcast.id, "count": count}))


STEPS = (
    Notices(),
    Detail(),
    Text(),
    Audience(),
    Zone(),
    Language(),
    ShiftTeam(),
    Translation(),
    Preview(),
)
