"""Storage on every backend: migrations, optimistic concurrency, outbox claims, URLs."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection, make_url
from sqlmodel import SQLModel

from flows.messages import Reply
from storage.conversations import ConcurrencyConflict
from storage.database import async_url
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from storage.outbox import BROADCAST, REMINDER, REPLY
from storage.tables import OutboxMessage, Person
from storage.unit_of_work import Database
from tests.fakes import FakeClock


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_migrations_reach_head_and_match_the_tables(database: Database):
    assert await current_revision(database.engine) == head_revision()
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


def _outbox_index_rows(connection: Connection) -> dict[str, str | None]:
    """Each outbox index by name, with the rows it holds (None: every row)."""
    found = {}
    for index in inspect(connection).get_indexes("outbox"):
        options = index.get("dialect_options", {})
        where = options.get("postgresql_where", options.get("sqlite_where"))
        found[str(index["name"])] = None if where is None else str(where)
    return found


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_the_outbox_indexes_hold_only_the_rows_they_serve(database: Database):
    async with database.engine.connect() as connection:
        rows = await connection.run_sync(_outbox_index_rows)
    for column in ("provider_id", "origin", "replaces"):
        assert f"{column} IS NOT NULL" in (rows[f"ix_outbox_{column}"] or "")
    # what still waits to go, on PostgreSQL; SQLite's planner needs every row there
    due = rows["ix_outbox_due"]
    assert ("queued" in due and "sending" in due) if due else database.is_sqlite
    assert rows["ix_outbox_chat"] is None and rows["ix_outbox_person_id"] is None
    waiting = rows["ix_outbox_waiting_chat"] or ""  # a chat's messages still to go
    assert "queued" in waiting and "sending" in waiting

    async with database.engine.begin() as connection:  # and back, and forth again
        await connection.run_sync(_downgrade, "0010")
    try:
        async with database.engine.connect() as connection:
            before = await connection.run_sync(_outbox_index_rows)
        assert set(before) == set(rows) - {"ix_outbox_waiting_chat"}
        assert set(before.values()) == {None}
    finally:
        await upgrade(database.engine)
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_outbox_index_rows) == rows


async def test_a_stale_conversation_is_not_saved_over_a_newer_one(database: Database):
    async with database.unit_of_work() as uow:
        person = await uow.people.add(Person())
        assert person.id is not None
        conversation = await uow.conversations.load(person.id)
        conversation.step = "onboarding.language"
        await uow.conversations.save(conversation)

    async with database.unit_of_work() as uow:
        first = await uow.conversations.load(person.id)
    async with database.unit_of_work() as uow:
        second = await uow.conversations.load(person.id)
    async with database.unit_of_work() as uow:
        first.step = "onboarding.consent"
        await uow.conversations.save(first)
    with pytest.raises(ConcurrencyConflict):
        async with database.unit_of_work() as uow:
            second.step = "onboarding.name"
            await uow.conversations.save(second)
    async with database.unit_of_work() as uow:
        assert (await uow.conversations.load(person.id)).step == "onboarding.consent"


def _message(address: str, priority: int = REPLY) -> OutboxMessage:
    """A message queued when the tests' clock starts."""
    return OutboxMessage(
        next_attempt_at=FakeClock().now(),
        channel="telegram",
        address=address,
        locale="it",
        timezone="Europe/Rome",
        body=Reply("common.yes").to_json(),
        priority=priority,
    )


async def test_replies_are_claimed_before_broadcasts(database: Database):
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        for n in range(3):
            uow.outbox.add(_message(f"b{n}", BROADCAST))
        uow.outbox.add(_message("r0"))
    async with database.unit_of_work() as uow:
        claimed = await uow.outbox.claim(clock.now(), channels=["telegram"], limit=2)
        assert [m.address for m in claimed] == ["r0", "b0"]
        assert all(m.status == "sending" and m.attempts == 1 for m in claimed)


async def test_a_claim_whose_sender_died_is_taken_again_after_the_lease(database: Database):
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        uow.outbox.add(_message("a"))
    async with database.unit_of_work() as uow:
        assert len(await uow.outbox.claim(clock.now(), channels=["telegram"])) == 1
    async with database.unit_of_work() as uow:  # the sender crashed: nothing recorded
        assert await uow.outbox.claim(clock.now(), channels=["telegram"]) == []
    clock.advance(minutes=2)
    async with database.unit_of_work() as uow:
        again = await uow.outbox.claim(clock.now(), channels=["telegram"])
        assert [m.attempts for m in again] == [2]


async def test_a_retry_waits_for_its_time(database: Database):
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        uow.outbox.add(_message("a"))
    async with database.unit_of_work() as uow:
        (claimed,) = await uow.outbox.claim(clock.now(), channels=["telegram"])
        message = await uow.outbox.get(claimed.id)
        assert message is not None
        await uow.outbox.retry_at(message, clock.now() + timedelta(seconds=30), "429")
    async with database.unit_of_work() as uow:
        assert await uow.outbox.claim(clock.now(), channels=["telegram"]) == []
        assert (await uow.outbox.depth()) == {("telegram", REPLY): 1}
    clock.advance(seconds=31)
    async with database.unit_of_work() as uow:
        assert len(await uow.outbox.claim(clock.now(), channels=["telegram"])) == 1


async def test_messages_sent_are_recorded_together_with_the_platforms_ids(database: Database):
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        for address in ("a", "b", "c"):
            uow.outbox.add(_message(address))
    async with database.unit_of_work() as uow:
        first, second, third = await uow.outbox.claim(clock.now(), channels=["telegram"])
        assert (first.address, first.attempts) == ("a", 1)
        assert first.body == Reply("common.yes").to_json()
    clock.advance(seconds=2)
    async with database.unit_of_work() as uow:
        await uow.outbox.mark_sent([(first.id, "tg-1"), (second.id, None)], clock.now())
    async with database.unit_of_work() as uow:
        rows = [await uow.outbox.get(m.id) for m in (first, second, third)]
        sent = [(r.status, r.provider_id, r.sent_at, r.claimed_until) for r in rows if r]
    assert sent[:2] == [("sent", "tg-1", clock.now(), None), ("sent", None, clock.now(), None)]
    assert sent[2][0] == "sending"  # not answered for yet: its lease runs


async def test_a_chats_next_message_waits_while_the_one_before_it_is_on_its_way(
    database: Database,
):
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        uow.outbox.add(_message("anna"))
    async with database.unit_of_work() as uow:  # one worker takes Anna's first reply
        (first,) = await uow.outbox.claim(clock.now(), channels=["telegram"])
    async with database.unit_of_work() as uow:  # she writes again; Bruno writes
        uow.outbox.add(_message("anna"))
        uow.outbox.add(_message("bruno"))
    async with database.unit_of_work() as uow:  # another worker: only Bruno's
        claimed = await uow.outbox.claim(clock.now(), channels=["telegram"])
        assert [m.address for m in claimed] == ["bruno"]
    async with database.unit_of_work() as uow:
        await uow.outbox.mark_sent([(first.id, "tg-1")], clock.now())
    async with database.unit_of_work() as uow:  # the first went: now the second
        (second,) = await uow.outbox.claim(clock.now(), channels=["telegram"])
        assert second.address == "anna" and second.id > first.id


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite's claims take turns anyway
async def test_a_chats_next_message_waits_while_another_worker_is_taking_the_one_before(
    database: Database,
):
    """One worker's claim of Anna's first reply is not committed yet when another
    worker claims: that one skips the first (locked) and must not take the second."""
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        for address in ("anna", "anna", "bruno"):
            uow.outbox.add(_message(address))
    first_worker = database.unit_of_work()
    await first_worker.__aenter__()
    try:
        (first,) = await first_worker.outbox.claim(clock.now(), channels=["telegram"], limit=1)
        assert first.address == "anna"
        async with database.unit_of_work() as uow:
            claimed = await uow.outbox.claim(clock.now(), channels=["telegram"])
            assert [m.address for m in claimed] == ["bruno"]
    finally:
        await first_worker.__aexit__(None, None, None)
    async with database.unit_of_work() as uow:  # the first is on its way: still waiting
        assert await uow.outbox.claim(clock.now(), channels=["telegram"]) == []
        await uow.outbox.mark_sent([(first.id, "tg-1")], clock.now())
    async with database.unit_of_work() as uow:
        (second,) = await uow.outbox.claim(clock.now(), channels=["telegram"])
        assert second.address == "anna" and second.id > first.id


async def test_a_reminder_goes_before_a_notice_queued_earlier_for_the_same_chat(
    database: Database,
):
    """Reminders go before notices; the order within a chat is the claim's order."""
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        uow.outbox.add(_message("anna", BROADCAST))
        uow.outbox.add(_message("anna", REMINDER))
    for expected in (REMINDER, BROADCAST):
        async with database.unit_of_work() as uow:
            (taken,) = await uow.outbox.claim(clock.now(), channels=["telegram"], limit=1)
            assert taken.priority == expected
            await uow.outbox.mark_sent([(taken.id, f"tg-{taken.id}")], clock.now())


async def test_a_chats_messages_queued_together_are_taken_together_in_order(
    database: Database,
):
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        for _ in range(3):
            uow.outbox.add(_message("anna"))
    async with database.unit_of_work() as uow:
        claimed = await uow.outbox.claim(clock.now(), channels=["telegram"])
    assert [m.address for m in claimed] == ["anna"] * 3
    assert [m.id for m in claimed] == sorted(m.id for m in claimed)


async def test_a_broadcast_on_its_way_does_not_hold_up_a_reply_to_the_same_chat(
    database: Database,
):
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        uow.outbox.add(_message("anna", BROADCAST))
    async with database.unit_of_work() as uow:
        assert len(await uow.outbox.claim(clock.now(), channels=["telegram"], bulk=True)) == 1
    async with database.unit_of_work() as uow:
        uow.outbox.add(_message("anna"))
    async with database.unit_of_work() as uow:
        (reply,) = await uow.outbox.claim(clock.now(), channels=["telegram"], bulk=False)
        assert reply.priority == REPLY


async def test_after_a_dead_senders_lease_a_chats_messages_go_again_in_order(
    database: Database,
):
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        uow.outbox.add(_message("anna"))
    async with database.unit_of_work() as uow:  # taken by a worker that then died
        (first,) = await uow.outbox.claim(clock.now(), channels=["telegram"])
    async with database.unit_of_work() as uow:
        uow.outbox.add(_message("anna"))
    async with database.unit_of_work() as uow:  # its lease runs: the chat waits
        assert await uow.outbox.claim(clock.now(), channels=["telegram"]) == []
    clock.advance(minutes=2)
    async with database.unit_of_work() as uow:
        claimed = await uow.outbox.claim(clock.now(), channels=["telegram"])
    assert [(m.id == first.id, m.attempts) for m in claimed] == [(True, 2), (False, 1)]


@pytest.mark.parametrize("backend", ["postgres"])
async def test_concurrent_claimers_never_take_the_same_message(database: Database):
    clock = FakeClock()
    async with database.unit_of_work() as uow:
        for n in range(200):
            uow.outbox.add(_message(f"p{n}"))

    async def claimer() -> list[int]:
        taken: list[int] = []
        while True:
            async with database.unit_of_work() as uow:
                batch = await uow.outbox.claim(clock.now(), channels=["telegram"], limit=7)
                if not batch:
                    return taken
                taken += [m.id for m in batch]
                await uow.outbox.mark_sent([(m.id, None) for m in batch], clock.now())

    results = await asyncio.gather(*(claimer() for _ in range(4)))
    everything = [i for taken in results for i in taken]
    assert len(everything) == 200 and len(set(everything)) == 200


async def test_an_inbound_id_is_recorded_once(database: Database):
    async with database.unit_of_work() as uow:
        assert await uow.inbound.first_time("telegram", "42")
    async with database.unit_of_work() as uow:
        assert not await uow.inbound.first_time("telegram", "42")
        assert await uow.inbound.first_time("whatsapp", "42")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+asyncpg"),
        ("postgres://u:p@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
        ("sqlite:///cisono.db", "sqlite+aiosqlite"),
        ("sqlite:///:memory:", "sqlite+aiosqlite"),
    ],
)
def test_plain_database_urls_get_their_async_driver(url: str, expected: str):
    mapped = async_url(url)
    assert mapped.drivername == expected
    assert (mapped.host, mapped.database) == (make_url(url).host, make_url(url).database)


def test_other_databases_are_refused_clearly():
    with pytest.raises(ValueError, match="use sqlite or postgresql"):
        async_url("mysql://root@localhost/db")


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_write_waits_for_another_process_without_stopping_the_loop(database: Database):
    """SQLite statements run in the event loop's thread; only a BEGIN that must wait for
    another process's write lock (a `cisono` command) waits on a thread."""
    path = make_url(database.url).database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    ticks = 0

    async def write() -> None:
        async with database.unit_of_work() as uow:
            await uow.people.add(Person(name="Anna Blu"))

    writing = asyncio.create_task(write())
    while ticks < 20:  # the loop goes on while the write waits
        await asyncio.sleep(0.01)
        ticks += 1
    assert not writing.done()
    other.execute("ROLLBACK")
    other.close()
    await asyncio.wait_for(writing, timeout=5)
    async with database.unit_of_work() as uow:
        assert [p.name for p in await uow.people.all()] == ["Anna Blu"]
