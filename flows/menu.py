"""The main menu: only what the person's roles allow."""

from __future__ import annotations

from dataclasses import dataclass

from flows.messages import Choice, Reply, msg
from flows.step import Answer, Context, Next, Question, Step


@dataclass(frozen=True)
class MenuEntry:
    id: str
    label: str
    step: str | None  # None: the entry answers with the general help
    roles: tuple[str, ...] = ()  # any of these, active; empty: everyone signed up
    words: str | None = None  # message key of words that also pick this entry


MENU: tuple[MenuEntry, ...] = (
    MenuEntry(
        "request", msg("menu.request"), "request.category", ("family",), msg("words.request")
    ),
    MenuEntry("my_requests", msg("menu.my_requests"), "requests.mine", ("family",)),
    MenuEntry("profile", msg("menu.profile"), "profile.show"),
    MenuEntry("my_shifts", msg("menu.my_shifts"), "shifts.mine", roles=("volunteer",)),
    MenuEntry("skills", msg("menu.volunteer_profile"), "volunteer.skills", roles=("volunteer",)),
    MenuEntry("assembly", msg("menu.assembly"), "assembly.mine", roles=("member",)),
    MenuEntry("triage", msg("menu.triage"), "triage.list", roles=("coordinator",)),
    MenuEntry("coverage", msg("menu.coverage"), "coverage.list", roles=("coordinator",)),
    MenuEntry("assemblies", msg("menu.assemblies"), "assembly.list", roles=("coordinator",)),
    MenuEntry("pending", msg("menu.pending_roles"), "roles.pending", roles=("coordinator",)),
    MenuEntry(
        "broadcast",
        msg("menu.broadcast"),
        "broadcast.menu",
        ("coordinator",),
        msg("words.broadcast"),
    ),
    MenuEntry("language", msg("menu.language"), "language.choose"),
    MenuEntry("privacy", msg("menu.privacy"), "privacy.menu"),
    MenuEntry("help", msg("menu.help"), None),
)


def entries_for(ctx: Context) -> tuple[MenuEntry, ...]:
    return tuple(e for e in MENU if not e.roles or ctx.has_role(*e.roles))


class MainMenu(Step):
    name = "menu.main"
    help = msg("help.menu")

    async def ask(self, ctx: Context) -> Question:
        choices = tuple(Choice(e.id, e.label, words=e.words) for e in entries_for(ctx))
        return Question(Reply(msg("menu.title"), {"name": ctx.person.name}, choices))

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        entry = next(e for e in entries_for(ctx) if e.id == answer.choice_id)
        if entry.step is None:
            return Next.to(None, Reply(msg("help.general")))
        return Next(goto=entry.step)


STEPS = (MainMenu(),)
