"""A person's replies go out from the transaction that answered them, with no claim of
their own, while the delivery worker runs; in the chat's order, also when the person
writes again before the last answer has gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.rendering import Rendered
from flows.incoming import Incoming
from storage.tables import OutboxMessage
from tests.fakes import RecordingChannel

ANNA = "4001"


class SlowChannel(RecordingChannel):
    """Each send takes a while, as a platform under load does."""

    async def send(self, address: str, message: Rendered) -> str | None:
        await asyncio.sleep(0.05)
        return await super().send(address, message)


@pytest.fixture
async def delivering(app: App) -> AsyncIterator[App]:
    """The app with its delivery worker running, as in `cisono run`."""
    stop = asyncio.Event()
    worker = asyncio.create_task(app.delivery.run(stop))
    await until(lambda: app.delivery.running)
    yield app
    stop.set()
    await worker


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 5 s")


async def rows(app: App) -> list[OutboxMessage]:
    async with app.database.unit_of_work() as uow:
        query = select(OutboxMessage).order_by(col(OutboxMessage.id))
        return list((await uow.session.exec(query)).all())


def says(text: str, n: int) -> Incoming:
    return Incoming("telegram", ANNA, text=text, inbound_id=f"u{n}")


async def test_replies_are_written_claimed_and_sent_at_once(
    delivering: App, channel: RecordingChannel
):
    await delivering.handle(says("ciao", 1))
    await until(lambda: len(channel.sent[ANNA]) == 1)
    await until(lambda: delivering.delivery._handed == set())
    (welcome,) = await rows(delivering)
    # claimed by the engine's own transaction: one attempt, no claim by the worker after
    assert (welcome.status, welcome.attempts) == ("sent", 1)
    assert "lingua" in channel.sent[ANNA][0].text


async def test_a_person_who_writes_again_quickly_gets_the_answers_in_order(app: App):
    slow = SlowChannel()
    app.delivery.channels["telegram"] = slow
    stop = asyncio.Event()
    worker = asyncio.create_task(app.delivery.run(stop))
    await until(lambda: app.delivery.running)
    await app.handle(says("ciao", 1))  # the language question
    await app.handle(says("aiuto", 2))  # help, and the question again
    await app.handle(says("aiuto", 3))  # the first answer is still on its way meanwhile
    await until(lambda: len(slow.sent[ANNA]) == 5)
    stop.set()
    await worker
    texts = [m.text for m in slow.sent[ANNA]]
    question = texts[0]
    assert texts[2] == texts[4] == question
    assert texts[1] == texts[3] != question  # the help text, each time before the question
    assert [r.status for r in await rows(app)] == ["sent"] * 5


async def test_without_a_running_worker_replies_wait_in_the_outbox(
    app: App, channel: RecordingChannel
):
    await app.handle(says("ciao", 1))
    (waiting,) = await rows(app)
    assert (waiting.status, waiting.attempts) == ("queued", 0)
    await app.delivery.drain()
    assert len(channel.sent[ANNA]) == 1
