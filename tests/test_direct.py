"""Statements handed straight to the driver (storage.direct) behave as through
SQLAlchemy, on every backend: the same values in and out, the session's transaction,
SQLAlchemy's own errors, and ORM instances the session tracks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, insert, inspect, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import SQLModel
from sqlmodel import select as select_models

from storage.direct import Direct
from storage.outbox import REPLY
from storage.tables import ChannelAccount, OutboxMessage, Person, ProcessedInbound
from storage.turns import Turn
from storage.unit_of_work import Database

WHEN = datetime(2026, 12, 1, 18, 30, 15, 123456, tzinfo=UTC)
_inbound = SQLModel.metadata.tables[ProcessedInbound.__tablename__]
_RECORD = Direct(insert(_inbound), ("channel", "inbound_id", "received_at"))
_READ = Direct(
    select(_inbound.c.inbound_id, _inbound.c.received_at).where(
        _inbound.c.channel == bindparam("wanted")
    )
)


async def test_values_go_in_and_come_out_as_through_sqlalchemy(database: Database):
    """An aware datetime is kept to the microsecond and read back aware, in UTC; JSON
    comes back as it went in."""
    async with database.unit_of_work() as uow:
        connection = await uow.session.connection()
        values = {"channel": "telegram", "inbound_id": "7", "received_at": WHEN}
        assert await _RECORD.count(connection, values) == 1
        row = {
            "person_id": None,
            "account_id": None,
            "channel": "telegram",
            "address": "42",
            "locale": "it",
            "timezone": "Europe/Rome",
            "body": {"key": "help.general", "params": {"n": 3}, "choices": []},
            "priority": REPLY,
            "status": "queued",
            "attempts": 0,
            "origin": None,
            "urgent": False,
            "replaces": None,
            "next_attempt_at": WHEN,
            "created_at": WHEN,
        }
        await uow.outbox.add_rows([row])
    async with database.unit_of_work() as uow:
        connection = await uow.session.connection()
        assert await _READ.rows(connection, {"wanted": "telegram"}) == [("7", WHEN)]
        stored = (await uow.session.exec(select_models(OutboxMessage))).all()
        assert [(m.body, m.next_attempt_at) for m in stored] == [(row["body"], WHEN)]
        claimed = await uow.outbox.claim(WHEN + timedelta(seconds=1), channels=["telegram"])
        assert [m.body for m in claimed] == [row["body"]]


async def test_a_statement_is_part_of_the_transaction_it_runs_in(database: Database):
    """Even as the transaction's first statement (PostgreSQL's adapter begins it lazily)."""
    with pytest.raises(RuntimeError):
        async with database.unit_of_work() as uow:
            connection = await uow.session.connection()
            values = {"channel": "sms", "inbound_id": "1", "received_at": WHEN}
            await _RECORD.count(connection, values)
            raise RuntimeError("something failed later in the step")
    async with database.unit_of_work() as uow:
        connection = await uow.session.connection()
        assert await _READ.rows(connection, {"wanted": "sms"}) == []


async def test_a_refused_statement_raises_sqlalchemys_error(database: Database):
    async with database.unit_of_work() as uow:
        connection = await uow.session.connection()
        values = {"channel": "whatsapp", "inbound_id": "SM1", "received_at": WHEN}
        await _RECORD.count(connection, values)
    with pytest.raises(IntegrityError):
        async with database.unit_of_work() as uow:
            connection = await uow.session.connection()
            await _RECORD.count(connection, values)
    async with database.unit_of_work() as uow:  # and the connection is usable after it
        connection = await uow.session.connection()
        assert await _READ.rows(connection, {"wanted": "whatsapp"}) == [("SM1", WHEN)]


async def test_the_person_writing_is_the_sessions_own_and_changes_are_saved(
    database: Database,
):
    async with database.unit_of_work() as uow:
        person = await uow.people.add(Person(name="Anna", locale="it", consent_at=WHEN))
        assert person.id is not None
        await uow.people.add_account(person.id, "telegram", "555")
        await uow.people.grant(person.id, "volunteer")
    async with database.unit_of_work() as uow:
        writer = await uow.people.writing("telegram", "555")
        assert writer is not None
        assert (writer.person.name, writer.person.consent_at) == ("Anna", WHEN)
        assert writer.roles == {"volunteer": "active"}
        assert writer.account.external_id == "555"
        assert await uow.people.get(person.id) is writer.person  # no second copy
        accounts = (await uow.session.exec(select_models(ChannelAccount))).all()
        assert list(accounts) == [writer.account]
        assert not uow.session.dirty  # loaded, not changed
        assert writer.person in uow.session and writer.account in uow.session
        writer.person.name = "Anna Maria"
        writer.account.last_inbound_at = WHEN
    assert inspect(writer.person).detached  # let go of with the session, as loaded ones
    async with database.unit_of_work() as uow:
        saved = await uow.people.get(person.id)
        assert saved is not None and saved.name == "Anna Maria"
        account = await uow.people.account("telegram", "555")
        assert account is not None and account.last_inbound_at == WHEN
        assert await uow.people.writing("telegram", "556") is None


def test_a_statement_sqlalchemy_would_rewrite_at_each_run_is_refused(database: Database):
    accounts = SQLModel.metadata.tables[ChannelAccount.__tablename__]
    expanding = select(accounts.c.id).where(
        accounts.c.external_id.in_(bindparam("ids", expanding=True))
    )
    with pytest.raises(ValueError, match="not a statement to run directly"):
        Direct(expanding).plan(database.engine.dialect)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)  # SQLite has no server
async def test_a_connection_the_server_dropped_is_replaced(database: Database):
    """The server ends the session's connection: the statement fails as SQLAlchemy's
    error, says the connection was invalidated, and the next unit of work gets a new one."""
    async with database.unit_of_work() as uow:
        connection = await uow.session.connection()
        (pid,) = (await connection.exec_driver_sql("SELECT pg_backend_pid()")).one()
    other = Database(database.url)  # a connection of its own, not one of the pool's
    try:
        async with other.engine.connect() as connection:
            await connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    finally:
        await other.dispose()
    values = {"channel": "telegram", "inbound_id": "9", "received_at": WHEN}
    with pytest.raises(DBAPIError) as failed:
        async with database.unit_of_work() as uow:
            await _RECORD.count(await uow.session.connection(), values)
    assert failed.value.connection_invalidated
    async with database.unit_of_work() as uow:
        assert await _RECORD.count(await uow.session.connection(), values) == 1


async def test_a_message_arrives_once_with_who_is_writing(database: Database):
    """Whether the message was handled and who writes, read together: a chat new to us,
    a known one, and the same message delivered again once its turn is saved."""
    async with database.unit_of_work() as uow:
        arrival = await uow.people.arriving("whatsapp", "whatsapp:+393331112222", "SM1")
        assert (arrival.fresh, arrival.writer) == (True, None)
        person = await uow.people.add(Person(name="Lucia"))
        assert person.id is not None
        await uow.people.add_account(person.id, "whatsapp", "whatsapp:+393331112222")
        await uow.people.grant(person.id, "family")
        await uow.people.grant(person.id, "member", status="pending")
    async with database.unit_of_work() as uow:
        arrival = await uow.people.arriving("whatsapp", "whatsapp:+393331112222", "SM2")
        assert arrival.fresh and arrival.writer is not None
        assert arrival.writer.person.name == "Lucia"
        assert arrival.writer.roles == {"family": "active", "member": "pending"}
        assert arrival.writer.conversation.version is None  # never saved yet
        turn = Turn(arrival.writer.conversation, "whatsapp", "SM2", [])
        await uow.turns.save(turn)
    async with database.unit_of_work() as uow:
        again = await uow.people.arriving("whatsapp", "whatsapp:+393331112222", "SM2")
        assert (again.fresh, again.writer) == (False, None)


async def test_no_chats_have_no_windows(database: Database):
    async with database.unit_of_work() as uow:
        assert await uow.people.last_inbound("whatsapp", []) == {}
