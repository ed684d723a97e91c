"""The building blocks of a conversation: steps, what they ask and where they lead."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from flows.config import PRIVACY_NOTICE_VERSION, FlowSettings
from flows.i18n import render, supported
from flows.incoming import Incoming
from flows.messages import Choice, Param, Reply, msg
from storage.conversations import Conversation
from storage.tables import ChannelAccount, Person
from storage.unit_of_work import UnitOfWork

BACK = "<back>"  # return to the step before
HOME = "<home>"  # the main menu (or sign-up, for someone not signed up yet)
END = "<end>"  # the conversation rests until the person writes again


@dataclass(frozen=True)
class Question:
    reply: Reply
    free_text: bool = False  # text that matches no choice is an answer too


@dataclass(frozen=True)
class Answer:
    choice: Choice | None = None
    text: str | None = None
    contact_phone: str | None = None

    @property
    def choice_id(self) -> str | None:
        return self.choice.id if self.choice else None


@dataclass(frozen=True)
class Next:
    replies: tuple[Reply, ...] = ()
    goto: str | None = None  # a step name, BACK, HOME, END; None asks the same step again
    ask: bool = True  # ask the question of the step we land on

    @classmethod
    def to(cls, goto: str | None, *replies: Reply) -> Next:
        return cls(tuple(replies), goto)


@dataclass
class Notification:
    person_id: int
    reply: Reply


@dataclass
class Context:
    """Everything a step may read or change while handling one message."""

    uow: UnitOfWork
    person: Person
    account: ChannelAccount
    conversation: Conversation
    incoming: Incoming
    settings: FlowSettings
    now: datetime
    roles: dict[str, str]  # role → status ("active" or "pending")
    notifications: list[Notification] = field(default_factory=list)
    erased: bool = False

    @property
    def person_id(self) -> int:
        assert self.person.id is not None
        return self.person.id

    @property
    def locale(self) -> str:
        return supported(self.person.locale or self.settings.default_locale)

    @property
    def timezone(self) -> str:
        return self.person.timezone or self.settings.timezone

    @property
    def data(self) -> dict[str, object]:
        return self.conversation.data

    def number(self, key: str) -> int:
        """An id the conversation keeps (the request or shift being looked at); 0 if none."""
        value = self.data.get(key, 0)
        return value if isinstance(value, int) else 0

    def t(self, key: str, **params: Param) -> str:
        """A fragment rendered now, for parameters that are themselves words."""
        return render(self.locale, key, params, self.timezone)

    def has_role(self, *roles: str) -> bool:
        return any(self.roles.get(role) == "active" for role in roles)

    @property
    def consented(self) -> bool:
        return (
            self.person.consent_at is not None
            and self.person.consent_version == PRIVACY_NOTICE_VERSION
        )

    @property
    def signed_up(self) -> bool:
        return self.consented and bool(self.person.name) and bool(self.roles)

    def notify(self, person_id: int, reply: Reply) -> None:
        """Tell someone else, on the channel they used last, in their language."""
        self.notifications.append(Notification(person_id, reply))

    async def reload_roles(self) -> None:
        self.roles = await self.uow.people.role_statuses(self.person_id)


class Step:
    """One question of a conversation and what its answers lead to."""

    name: ClassVar[str]
    help: ClassVar[str] = msg("help.general")

    async def ask(self, ctx: Context) -> Question:
        raise NotImplementedError

    async def answer(self, ctx: Context, answer: Answer) -> Next:
        raise NotImplementedError


class Action:
    """A button that works whatever the person is doing (payload "a:<name>:<argument>"),
    such as "take charge" on a coordinator's notification."""

    name: ClassVar[str]

    async def run(self, ctx: Context, argument: str) -> Next:
        raise NotImplementedError


ACTION_PREFIX = "a:"


class Steps:
    """The registry of every step, by name, and of the actions."""

    def __init__(self, *steps: Step | Action) -> None:
        self._steps: dict[str, Step] = {}
        self._actions: dict[str, Action] = {}
        for step in steps:
            if isinstance(step, Action):
                self._actions[step.name] = step
            else:
                self.add(step)

    def action(self, payload: str | None) -> tuple[Action, str] | None:
        """The action a tapped payload names, with its argument."""
        if not payload or not payload.startswith(ACTION_PREFIX):
            return None
        name, _, argument = payload.removeprefix(ACTION_PREFIX).partition(":")
        action = self._actions.get(name)
        return (action, argument) if action else None

    def add(self, step: Step) -> None:
        if step.name in self._steps:
            raise ValueError(f"two steps named {step.name!r}")
        self._steps[step.name] = step

    def get(self, name: str | None) -> Step | None:
        return self._steps.get(name) if name else None

    def __contains__(self, name: str) -> bool:
        return name in self._steps

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._steps)

    @property
    def action_names(self) -> tuple[str, ...]:
        return tuple(self._actions)


BACK_CHOICE = Choice("back", msg("common.back"), words=msg("words.back"))


def yes_no(key: str, **params: Param) -> Reply:
    """A yes/no question; "sì", "ok", "no grazie" and the like are understood."""
    return Reply(
        key,
        params,
        choices=(
            Choice("yes", msg("common.yes"), words=msg("words.yes")),
            Choice("no", msg("common.no"), words=msg("words.no")),
        ),
    )
