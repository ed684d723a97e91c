"""Conversations in tests: a person says or taps something and reads the answers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.app import App
from bot.rendering import Rendered
from flows.incoming import Incoming
from storage.tables import Person as PersonRow
from tests.fakes import RecordingChannel

_ids = itertools.count(1)


@dataclass
class Person:
    """Someone chatting with the bot on one channel account."""

    app: App
    channel: RecordingChannel
    on: str = "terminal"
    address: str = field(default_factory=lambda: f"chat-{next(_ids)}")
    phone: str | None = None
    profile_name: str | None = None
    can_share_contact: bool = False
    seen: int = 0

    async def send(self, incoming: Incoming) -> list[Rendered]:
        await self.app.engine.handle(incoming)
        await self.app.delivery.drain()
        return self.unread()

    def unread(self) -> list[Rendered]:
        """What arrived since the last look (notifications from others included)."""
        inbox = self.channel.sent[self.address]
        new, self.seen = inbox[self.seen :], len(inbox)
        return new

    def _incoming(self, **fields: object) -> Incoming:
        return Incoming(
            channel=self.on,
            external_id=self.address,
            phone=self.phone,
            profile_name=self.profile_name,
            can_share_contact=self.can_share_contact,
            **fields,  # type: ignore[arg-type]
        )

    async def says(self, text: str, inbound_id: str | None = None) -> Reply:
        return Reply(await self.send(self._incoming(text=text, inbound_id=inbound_id)))

    async def taps(self, label: str) -> Reply:
        """Tap the button of the last question labelled `label`, or whose label contains it."""
        question = self.last_question()
        matches = [c for c in question.choices if label.lower() == c.label.lower()]
        matches = matches or [c for c in question.choices if label.lower() in c.label.lower()]
        assert len(matches) == 1, (
            f"no single button {label!r} in {[c.label for c in question.choices]}"
        )
        return Reply(await self.send(self._incoming(choice=matches[0].id)))

    async def taps_payload(self, payload: str) -> Reply:
        return Reply(await self.send(self._incoming(choice=payload)))

    async def shares_contact(self, phone: str) -> Reply:
        return Reply(await self.send(self._incoming(contact_phone=phone)))

    def last_question(self) -> Rendered:
        inbox = self.channel.sent[self.address]
        assert inbox, "nothing was said to this person yet"
        return inbox[-1]


class Reply:
    """The messages one turn produced, read as a whole."""

    def __init__(self, messages: list[Rendered]) -> None:
        self.messages = messages

    @property
    def text(self) -> str:
        return "\n---\n".join(m.text for m in self.messages)

    @property
    def last(self) -> Rendered:
        assert self.messages, "the bot said nothing"
        return self.messages[-1]

    @property
    def buttons(self) -> list[str]:
        return [c.label for c in self.last.choices]

    def __contains__(self, fragment: str) -> bool:
        return fragment in self.text

    def __repr__(self) -> str:
        return f"Reply({self.text!r}, buttons={self.buttons})"


async def sign_up(
    person: Person, name: str = "Maria Rossi", role: str = "famiglia", language: str = "1"
) -> Reply:
    """The shortest typed path through sign-up."""
    await person.says("ciao")
    await person.says(language)
    await person.says("sì")
    if person.can_share_contact and person.phone is None:
        await person.says("salta")
    await person.says(name)
    return await person.says(role)


async def a_coordinator(app: App, channel: RecordingChannel, on: str = "terminal") -> Person:
    """Giulia, registered as coordinator by CLI, who then writes and consents."""
    async with app.database.unit_of_work() as uow:
        row = await uow.people.add(PersonRow(phone="+393337770000", name="Giulia Verdi"))
        assert row.id is not None
        await uow.people.grant(row.id, "coordinator", by="cli")
    giulia = Person(app, channel, on=on, phone="+393337770000")
    for text in ("ciao", "1", "sì"):
        await giulia.says(text)
    return giulia
