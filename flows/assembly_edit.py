"""Coordinators change a convened assembly in the chat, field by field, then save (every
invitee is told); or cancel it, with a reason the invitees receive."""

from __future__ import annotations

from datetime import datetime

from flows.assemblies import AssemblyProblem, params
from flows.assembly_changes import AssemblyChanges, cancel_assembly, change_assembly, preview
from flows.assembly_new import FIELDS, Field
from flows.messages import Choice, Reply, msg
from flows.step import BACK, BACK_CHOICE, Answer, Context, Next, Question, Step
from storage.tables import Assembly

CHANGEABLE = tuple(f for f in FIELDS if f.name != "notice")
LABELS = {
    "title": msg("assembly.field_title"),
    "first": msg("assembly.field_first"),
    "place": msg("assembly.field_place"),
    "second": msg("assembly.field_second"),
    "agenda": msg("assembly.field_agenda"),
    "remote": msg("assembly.field_remote"),
    "deadline": msg("assembly.field_deadline"),
}
REASON_MAX = 300
DRAFT = "assembly_changes"


def _draft(ctx: Context) -> dict[str, object]:
    draft = ctx.data.setdefault(DRAFT, {})
    assert isinstance(draft, dict)
    return draft


def changes_of(draft: dict[str, object]) -> AssemblyChanges:
    """The typed values (as the convening form keeps them) as changes."""

    def when(name: str) -> datetime | None:
        return datetime.fromisoformat(str(draft[name])) if name in draft else None

    def text(name: str) -> str | None:
        return str(draft[name]) if name in draft else None

    agenda = draft.get("agenda")
    return AssemblyChanges(
        title=text("title"),
        first_call_at=when("first"),
        second_call_at=when("second"),
        place=text("place"),
        answer_deadline=when("deadline"),
        remote_link=text("remote"),
        agenda=tuple(str(item) for item in agenda) if isinstance(agenda, list) else None,
    )


async def _open_assembly(ctx: Context) -> Assembly | None:
    assembly = await ctx.uow.assemblies.get(ctx.number("assembly_id"))
    if assembly is None or assembly.id is None or assembly.status != "open":
        return None
    return assembly


class ChangeAssembly(Step):
    """The assembly as it will be; a field to change, or save and tell everyone."""

    name = "assembly.change"
    help = msg("help.assembly_change")

    async def ask(self, ctx: Context) -> Question:
        assembly = await _open_assembly(ctx)
        if assembly is None:
            return Question(Reply(msg("assembly.already_cancelled"), choices=(BACK_CHOICE,)))
        draft = _draft(ctx)
        shown = params(preview(assembly, changes_of(draft)))
        choices = [Choice(f.name, LABELS[f.name]) for f in CHANGEABLE]
        if draft:
            choices.append(Choice("save", msg("assembly.save_changes"), words=msg("words.yes")))
        return Question(Reply(msg("assembly.change_ask"), shown, (*choices, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        assembly = await _open_assembly(ctx)
        if answer.choice_id == "back" or assembly is None or not ctx.has_role("coordinator"):
            ctx.data.pop(DRAFT, None)
            return Next(goto=BACK)
        if answer.choice_id in LABELS:
            ctx.data["assembly_field"] = answer.choice_id
            return Next(goto="assembly.change_field")
        if answer.choice_id != "save":
            return Next()
        try:
            notes = await change_assembly(
                ctx.uow,
                assembly,
                changes_of(_draft(ctx)),
                f"person:{ctx.person_id}",
                ctx.settings,
                ctx.now,
            )
        except AssemblyProblem as problem:
            return Next.to(None, Reply(problem.key))
        for note in notes:
            ctx.notify(note.person_id, note.reply)
        ctx.data.pop(DRAFT, None)
        told = len({note.person_id for note in notes})
        return Next.to(BACK, Reply(msg("assembly.saved"), {"title": assembly.title, "told": told}))


class ChangeField(Step):
    """One field's new value, typed as when convening."""

    name = "assembly.change_field"
    help = msg("help.assembly_change")

    def field(self, ctx: Context) -> Field:
        wanted = ctx.data.get("assembly_field")
        return next((f for f in CHANGEABLE if f.name == wanted), CHANGEABLE[0])

    async def ask(self, ctx: Context) -> Question:
        field = self.field(ctx)
        skip = Choice("skip", msg("common.no"), words=msg("words.no"))
        buttons = (skip, BACK_CHOICE) if field.optional else (BACK_CHOICE,)
        return Question(Reply(field.question, choices=buttons), free_text=True)

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        if answer.choice_id == "back":
            return Next(goto=BACK)
        field = self.field(ctx)
        if field.optional and answer.choice_id == "skip":
            value: object = ""
        else:
            value = field.parse(answer.text or "", ctx)
        if value is None:
            return Next.to(None, Reply(msg("assembly.not_valid")))
        _draft(ctx)[field.name] = value
        return Next(goto=BACK)


class CancelAssembly(Step):
    """The reason first, then a confirmation; every invitee receives the reason."""

    name = "assembly.cancel"
    help = msg("help.assembly_cancel")

    async def ask(self, ctx: Context) -> Question:
        assembly = await _open_assembly(ctx)
        if assembly is None:
            return Question(Reply(msg("assembly.already_cancelled"), choices=(BACK_CHOICE,)))
        reason = ctx.data.get("cancel_reason")
        if not isinstance(reason, str):
            ask = Reply(msg("assembly.cancel_ask_reason"), {"max": REASON_MAX}, (BACK_CHOICE,))
            return Question(ask, free_text=True)
        assert assembly.id is not None
        invited = len(await ctx.uow.assemblies.invitations(assembly.id))
        details = params(assembly) | {"reason": reason, "count": invited}
        sure = Choice("yes", msg("assembly.cancel_yes"), words=msg("words.yes"))
        return Question(Reply(msg("assembly.cancel_confirm"), details, (sure, BACK_CHOICE)))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        assembly = await _open_assembly(ctx)
        reason = ctx.data.pop("cancel_reason", None)
        if answer.choice_id == "back" or assembly is None or not ctx.has_role("coordinator"):
            return Next(goto=BACK)
        if not isinstance(reason, str):
            typed = " ".join((answer.text or "").split())
            if len(typed) < 2:
                return Next.to(None, Reply(msg("assembly.not_valid")))
            ctx.data["cancel_reason"] = typed[:REASON_MAX]
            return Next()
        if answer.choice_id != "yes":
            ctx.data["cancel_reason"] = reason
            return Next()
        notes = await cancel_assembly(ctx.uow, assembly, f"person:{ctx.person_id}", reason)
        for note in notes:
            ctx.notify(note.person_id, note.reply)
        history = ctx.conversation.history
        if history and history[-1] == "assembly.overview":
            history.pop()  # back to the list: the overview of a cancelled assembly is no use
        done = Reply(msg("assembly.cancel_done"), {"title": assembly.title, "told": len(notes)})
        return Next.to(BACK, done)


STEPS = (ChangeAssembly(), ChangeField(), CancelAssembly())
