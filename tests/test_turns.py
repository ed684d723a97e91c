"""A step's turn (storage.turns): the conversation saved, the message's id recorded and
its replies queued, all of them or none; on PostgreSQL one statement, outside a
transaction when the step wrote nothing else."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest
from sqlalchemy import text

from flows.catalogue import all_steps
from flows.config import FlowSettings
from flows.engine import ConversationEngine
from flows.incoming import Incoming
from flows.messages import Reply
from flows.notify import Notifier
from storage.conversations import ConcurrencyConflict, Conversation
from storage.direct import driver
from storage.outbox import OutboxRow
from storage.tables import ChannelAccount, Person
from storage.turns import TOGETHER_ROWS, Turn
from storage.unit_of_work import Database

CHAT = "whatsapp:+393331112222"


async def _lucia(database: Database) -> tuple[Person, ChannelAccount]:
    async with database.unit_of_work() as uow:
        person = await uow.people.add(Person(name="Lucia", locale="it"))
        assert person.id is not None
        account = await uow.people.add_account(person.id, "whatsapp", CHAT)
    return person, account


def _says(person: Person, account: ChannelAccount, key: str) -> OutboxRow:
    return Notifier(FlowSettings()).message(account, person, Reply(key))


async def _conversation(database: Database, inbound_id: str) -> Conversation:
    async with database.unit_of_work() as uow:
        arrival = await uow.people.arriving("whatsapp", CHAT, inbound_id)
    assert arrival.fresh and arrival.writer is not None
    return arrival.writer.conversation


async def _queued(database: Database, person: Person) -> list[str]:
    async with database.unit_of_work() as uow:
        assert person.id is not None
        return [m.body["key"] for m in await uow.outbox.for_person(person.id)]


async def test_a_turn_keeps_the_conversation_the_message_and_its_replies(database: Database):
    person, account = await _lucia(database)
    conversation = await _conversation(database, "SM1")
    assert conversation.version is None  # never saved
    conversation.step, conversation.data = "request.kind", {"kind": "care"}
    replies = [_says(person, account, "help.general"), _says(person, account, "common.yes")]
    async with database.unit_of_work() as uow:
        await uow.turns.save(Turn(conversation, "whatsapp", "SM1", replies))
    assert conversation.version == 1

    async with database.unit_of_work() as uow:
        again = await uow.people.arriving("whatsapp", CHAT, "SM1")
        assert not again.fresh  # the platform delivering it again: handled already
    conversation = await _conversation(database, "SM2")
    assert (conversation.step, conversation.data, conversation.version) == (
        "request.kind",
        {"kind": "care"},
        1,
    )
    async with database.unit_of_work() as uow:
        await uow.turns.save(Turn(conversation, "whatsapp", "SM2", []))
    assert conversation.version == 2
    assert await _queued(database, person) == ["help.general", "common.yes"]  # in order


async def test_a_turn_on_a_conversation_that_moved_keeps_nothing(database: Database):
    """Another process saved the conversation meanwhile: the message is handled again."""
    person, account = await _lucia(database)
    first = await _conversation(database, "SM1")
    async with database.unit_of_work() as uow:
        await uow.turns.save(Turn(first, "whatsapp", "SM1", []))
    stale = await _conversation(database, "SM2")
    meanwhile = await _conversation(database, "SM3")
    async with database.unit_of_work() as uow:
        await uow.turns.save(Turn(meanwhile, "whatsapp", "SM3", []))

    stale.step = "menu.main"
    with pytest.raises(ConcurrencyConflict):
        async with database.unit_of_work() as uow:
            turn = Turn(stale, "whatsapp", "SM2", [_says(person, account, "help.general")])
            await uow.turns.save(turn)
    assert stale.version == 1  # as it was read
    again = await _conversation(database, "SM2")  # not recorded: it is handled again
    assert (again.step, again.version) == (None, 2)
    assert await _queued(database, person) == []


async def test_a_turn_for_a_message_handled_meanwhile_keeps_nothing(database: Database):
    """The same message, delivered twice at once, handled by another process first."""
    person, account = await _lucia(database)
    conversation = await _conversation(database, "SM1")
    async with database.unit_of_work() as uow:
        assert await uow.inbound.first_time("whatsapp", "SM1")  # the other process
    conversation.step = "menu.main"
    with pytest.raises(ConcurrencyConflict):
        async with database.unit_of_work() as uow:
            turn = Turn(conversation, "whatsapp", "SM1", [_says(person, account, "help.general")])
            await uow.turns.save(turn)
    async with database.unit_of_work() as uow:
        writer = await uow.people.writing("whatsapp", CHAT)
    assert writer is not None and writer.conversation.version is None
    assert await _queued(database, person) == []


async def test_the_turn_of_someone_who_erased_themselves(database: Database):
    """No conversation to keep: the message is recorded and the goodbye queued."""
    person, account = await _lucia(database)
    goodbye = _says(person, account, "privacy.erased") | {"person_id": None, "account_id": None}
    async with database.unit_of_work() as uow:
        await uow.turns.save(Turn(None, "whatsapp", "SM1", [goodbye]))
    async with database.unit_of_work() as uow:
        assert not (await uow.people.arriving("whatsapp", CHAT, "SM1")).fresh
        waiting = await uow.outbox.latest_to("whatsapp", CHAT)
    assert [(m.person_id, m.body["key"]) for m in waiting] == [(None, "privacy.erased")]


on_postgresql = pytest.mark.parametrize("backend", ["postgres"])


@on_postgresql
async def test_on_postgresql_a_step_that_wrote_nothing_else_needs_no_transaction(
    database: Database,
):
    """The read and the turn, each committed as it ends: the turn is there for everyone
    before the unit of work is over, and no transaction was begun for it."""
    await _lucia(database)
    watcher = Database(database.url)
    try:
        async with database.unit_of_work() as uow:
            arrival = await uow.people.arriving("whatsapp", CHAT, "SM1")
            connection = await uow.session.connection()
            assert not driver(connection).open  # a read begins none
            assert arrival.writer is not None
            turn = Turn(arrival.writer.conversation, "whatsapp", "SM1", [])
            await uow.turns.save(turn)
            assert not driver(connection).open
            async with watcher.engine.connect() as other:
                seen = await other.execute(text("SELECT inbound_id FROM processed_inbound"))
                assert seen.scalars().all() == ["SM1"]
    finally:
        await watcher.dispose()


@on_postgresql
async def test_on_postgresql_nothing_may_be_written_after_a_turn_alone(database: Database):
    """It would not be atomic with the turn: refused, and rolled back."""
    person, account = await _lucia(database)
    conversation = await _conversation(database, "SM1")
    with pytest.raises(RuntimeError, match="not be atomic"):
        async with database.unit_of_work() as uow:
            await uow.turns.save(Turn(conversation, "whatsapp", "SM1", []))
            await uow.outbox.add_rows([_says(person, account, "help.general")])
    assert await _queued(database, person) == []


@on_postgresql
async def test_on_postgresql_a_step_that_wrote_more_has_its_turn_in_the_transaction(
    database: Database,
):
    """The step changed the person too: the turn goes in the step's transaction, and a
    failure after it keeps neither."""
    person, account = await _lucia(database)
    conversation = await _conversation(database, "SM1")
    with pytest.raises(LookupError):
        async with database.unit_of_work() as uow:
            writer = await uow.people.writing("whatsapp", CHAT)
            assert writer is not None
            writer.person.name = "Lucia Bianchi"
            reply = _says(person, account, "help.general")
            await uow.turns.save(Turn(conversation, "whatsapp", "SM1", [reply]))
            raise LookupError("the step failed after its turn")
    async with database.unit_of_work() as uow:
        arrival = await uow.people.arriving("whatsapp", CHAT, "SM1")
    assert arrival.fresh and arrival.writer is not None
    assert arrival.writer.person.name == "Lucia"
    assert await _queued(database, person) == []


@on_postgresql
async def test_one_message_delivered_to_two_processes_at_once_is_answered_once(
    database: Database, caplog: pytest.LogCaptureFixture
):
    """Twilio retrying a slow webhook, the retry reaching the other `cisono run`: both
    read the message as new, one turn keeps it, the other finds it handled."""
    caplog.set_level(logging.INFO, logger="flows.engine")
    other = Database(database.url)
    try:
        engines = [ConversationEngine(db, all_steps()) for db in (database, other)]
        ciao = Incoming("whatsapp", CHAT, text="ciao", phone="+393331112222", inbound_id="SM1")
        await engines[0].handle(ciao)  # a sign-up starts
        await engines[1].handle(ciao)  # connected (the same message again: a duplicate)
        aiuto = replace(ciao, text="aiuto", inbound_id="SM2")
        handled = await asyncio.gather(*(engine.handle(aiuto) for engine in engines))
    finally:
        await other.dispose()
    assert sorted(h.duplicate for h in handled) == [False, True]
    assert "conversation moved under us" in caplog.text  # the turn that lost, run again
    async with database.unit_of_work() as uow:
        sent = await uow.outbox.latest_to("whatsapp", CHAT)
        writer = await uow.people.writing("whatsapp", CHAT)
    assert len(sent) == 2  # the sign-up's question, and one answer to "aiuto"
    assert writer is not None and writer.conversation.version == 2


async def test_a_turn_with_many_notifications_keeps_them_all_in_order(database: Database):
    """More rows than go in the turn's one statement: queued by an INSERT of their own."""
    person, account = await _lucia(database)
    conversation = await _conversation(database, "SM1")
    keys = [f"note.{n}" for n in range(TOGETHER_ROWS + 5)]
    async with database.unit_of_work() as uow:
        turn = Turn(conversation, "whatsapp", "SM1", [_says(person, account, k) for k in keys])
        await uow.turns.save(turn)
    assert await _queued(database, person) == keys
    async with database.unit_of_work() as uow:
        assert not (await uow.people.arriving("whatsapp", CHAT, "SM1")).fresh
