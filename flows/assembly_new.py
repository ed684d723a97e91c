"""A coordinator convenes an assembly in the chat, one question at a time, then confirms:
every member is invited at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flows.assemblies import AssemblyProblem, create, params
from flows.i18n import normalize, words
from flows.messages import Choice, Reply, msg
from flows.step import BACK, BACK_CHOICE, HOME, Answer, Context, Next, Question, Step
from storage.tables import Assembly

WHEN_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H.%M", "%Y-%m-%d %H:%M", "%d-%m-%Y %H:%M")
TEXT_MAX = 160


def parse_when(text: str, timezone: str) -> datetime | None:
    """ "15/12/2026 18:00" or "2026-12-15 18:00", local time, as an aware datetime."""
    cleaned = " ".join(text.split())
    for pattern in WHEN_FORMATS:
        try:
            return datetime.strptime(cleaned, pattern).replace(tzinfo=ZoneInfo(timezone))
        except ValueError:
            continue
    return None


def _text(text: str, ctx: Context) -> str | None:
    cleaned = " ".join(text.split())
    return cleaned[:TEXT_MAX] if len(cleaned) >= 2 else None


def _when(text: str, ctx: Context) -> str | None:
    moment = parse_when(text, ctx.timezone)
    return moment.isoformat() if moment else None


def _agenda(text: str, ctx: Context) -> list[str] | None:
    items = [" ".join(i.split()) for i in text.replace(";", "\n").splitlines()]
    items = [i[:TEXT_MAX] for i in items if i]
    return items or None


def _optional(text: str, ctx: Context) -> str | None:
    return "" if normalize(text) in words(msg("words.no")) else _text(text, ctx)


@dataclass(frozen=True)
class Field:
    name: str
    question: str
    parse: Callable[[str, Context], object]
    optional: bool = False


FIELDS = (
    Field("title", msg("assembly.ask_title"), _text),
    Field("first", msg("assembly.ask_first"), _when),
    Field("place", msg("assembly.ask_place"), _text),
    Field("second", msg("assembly.ask_second"), _when),
    Field("agenda", msg("assembly.ask_agenda"), _agenda),
    Field("remote", msg("assembly.ask_remote"), _optional, optional=True),
    Field("deadline", msg("assembly.ask_deadline"), _when),
    Field("notice", msg("assembly.ask_notice"), _optional, optional=True),
)


def _draft(ctx: Context) -> dict[str, object]:
    draft = ctx.data.setdefault("new_assembly", {})
    assert isinstance(draft, dict)
    return draft


def _assembly(draft: dict[str, object], actor: str) -> Assembly:
    agenda = draft["agenda"]
    return Assembly(
        title=str(draft["title"]),
        first_call_at=datetime.fromisoformat(str(draft["first"])),
        second_call_at=datetime.fromisoformat(str(draft["second"])),
        place=str(draft["place"]),
        agenda=[str(item) for item in agenda] if isinstance(agenda, list) else [],
        remote_link=str(draft["remote"]) or None,
        answer_deadline=datetime.fromisoformat(str(draft["deadline"])),
        notice_ref=str(draft["notice"]) or None,
        checkin_code="",
        created_by=actor,
    )


class NewAssembly(Step):
    name = "assembly.new"
    help = msg("help.assembly_new")

    async def ask(self, ctx: Context) -> Question:
        draft = _draft(ctx)
        missing = next((f for f in FIELDS if f.name not in draft), None)
        if missing is not None:
            skip = Choice("skip", msg("common.no"), words=msg("words.no"))
            buttons = (skip, BACK_CHOICE) if missing.optional else (BACK_CHOICE,)
            reply = Reply(missing.question, choices=buttons)
            return Question(reply, free_text=True)
        summary = params(_assembly(draft, "-"))
        choices: tuple[Choice, ...] = (
            Choice("yes", msg("assembly.convene"), words=msg("words.yes")),
            Choice("restart", msg("assembly.start_again")),
            BACK_CHOICE,
        )
        return Question(Reply(msg("assembly.summary"), summary, choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if not ctx.has_role("coordinator"):
            return Next(goto=HOME)
        draft = _draft(ctx)
        done = [f for f in FIELDS if f.name in draft]
        if answer.choice_id == "back":
            if not done:
                return Next(goto=BACK)
            draft.pop(done[-1].name)
            return Next()
        missing = next((f for f in FIELDS if f.name not in draft), None)
        if missing is not None:
            text = "" if answer.choice_id == "skip" else answer.text or ""
            value = (
                "" if missing.optional and answer.choice_id == "skip" else missing.parse(text, ctx)
            )
            if value is None:
                return Next.to(None, Reply(msg("assembly.not_valid")))
            draft[missing.name] = value
            return Next()
        if answer.choice_id == "restart":
            draft.clear()
            return Next()
        assembly = _assembly(draft, f"person:{ctx.person_id}")
        try:
            notes = await create(ctx.uow, assembly, ctx.settings, ctx.now)
        except AssemblyProblem as problem:
            return Next.to(None, Reply(problem.key))
        for note in notes:
            ctx.notify(note.person_id, note.reply)
        ctx.data.pop("new_assembly", None)
        ctx.data["assembly_id"] = assembly.id
        created = Reply(msg("assembly.created"), {"title": assembly.title, "count": len(notes)})
        return Next.to("assembly.overview", created)


STEPS = (NewAssembly(),)
