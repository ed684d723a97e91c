"""Coordinators write a notice in the chat, pick its audience, see a preview and send it."""

from __future__ import annotations

from flows.broadcast_audience import STEPS as AUDIENCE_STEPS
from flows.broadcast_audience import draft, keep, missing_translation, onward
from flows.broadcasting import (
    AUDIENCE_NAMES,
    audience_detail,
    cancel,
    fan_out,
    figures_params,
)
from flows.broadcasting import recipients as find_recipients
from flows.messages import Choice, Key, Param, Reply, msg
from flows.onboarding import LANGUAGE_LABELS
from flows.step import BACK, BACK_CHOICE, HOME, Answer, Context, Next, Question, Step

TEXT_MAX = 1000
LISTED = 5
CHANNEL_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp", "sms": "SMS"}


def written_text(answer: Answer) -> str | Reply:
    text = (answer.text or "").strip()
    if len(text) > TEXT_MAX:
        return Reply(msg("requests.text_length"), {"max": TEXT_MAX})
    return text


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


STEPS = (Notices(), Detail(), Text(), *AUDIENCE_STEPS, Translation(), Preview())
