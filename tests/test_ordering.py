"""Messages from one person in order, from different people in parallel."""

from __future__ import annotations

import asyncio

from bot.app import App
from flows.engine import ConversationEngine
from flows.incoming import Incoming
from tests.fakes import RecordingChannel
from tests.transcript import Person


async def test_two_messages_from_the_same_person_at_once_are_handled_in_order(
    app: App, channel: RecordingChannel
):
    person = Person(app, channel)
    await person.says("ciao")

    first = Incoming("terminal", person.address, text="1")  # Italian
    second = Incoming("terminal", person.address, text="sì")  # consent
    await asyncio.gather(app.engine.handle(first), app.engine.handle(second))
    await app.delivery.drain()

    texts = [m.text for m in person.unread()]
    assert "Sei d'accordo?" in texts[0]
    assert texts[1].startswith("Grazie!")
    assert "Come ti chiami?" in texts[1]


async def test_two_workers_on_one_database_never_lose_an_update(
    app: App, channel: RecordingChannel
):
    """Two engines (as two `cisono run` processes would) take the same person's messages."""
    other = ConversationEngine(
        app.database, app.engine.steps, app.engine.settings, app.engine.clock
    )
    person = Person(app, channel)
    await person.says("ciao")
    await person.says("1")
    await person.says("sì")

    await asyncio.gather(
        app.engine.handle(Incoming("terminal", person.address, text="Carla Gialli")),
        other.handle(Incoming("terminal", person.address, text="aiuto")),
    )
    await app.delivery.drain()
    texts = " ".join(m.text for m in person.unread())
    # whichever came first, both were answered and the name was kept
    assert "Chi sei per la cooperativa?" in texts
    assert "Scrivi il nome con cui" in texts or "Scegli «famiglia»" in texts
    async with app.database.unit_of_work() as uow:
        assert [p.name for p in await uow.people.all()] == ["Carla Gialli"]


async def test_many_people_at_once(app: App, channel: RecordingChannel):
    people = [Person(app, channel) for _ in range(20)]
    await asyncio.gather(*(p.send(Incoming("terminal", p.address, text="ciao")) for p in people))
    await asyncio.gather(*(p.send(Incoming("terminal", p.address, text="2")) for p in people))
    for person in people:
        texts = [m.text for m in channel.sent[person.address]]
        assert "Which language" in texts[0] or "In che lingua" in texts[0]
        assert "Do you agree?" in texts[1]


async def test_a_duplicate_delivery_is_handled_once(app: App, channel: RecordingChannel):
    person = Person(app, channel, on="telegram")
    await person.says("ciao", inbound_id="1001")
    reply = await person.says("1", inbound_id="1002")
    assert "Sei d'accordo?" in reply
    reply = await person.says("1", inbound_id="1002")  # the platform retried
    assert reply.messages == []
    reply = await person.says("sì", inbound_id="1003")
    assert "Come ti chiami?" in reply
