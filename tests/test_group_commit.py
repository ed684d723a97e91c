"""Turns of many conversations at once, on PostgreSQL: written in batches, one round trip
and one commit for each (storage.group_commit), each step still with its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.config import FlowSettings
from flows.messages import Reply
from flows.notify import Notifier
from storage.conversations import ConcurrencyConflict
from storage.group_commit import GroupCommit, queues, written
from storage.tables import Person
from storage.turns import Turn
from storage.unit_of_work import Database

on_postgresql = pytest.mark.parametrize("backend", ["postgres"])
PEOPLE = 12  # fewer than the connections a process keeps (20): none waits for one


def _chat(n: int) -> str:
    return f"whatsapp:+3933300{n:05d}"


async def _people(database: Database) -> None:
    async with database.unit_of_work() as uow:
        for n in range(PEOPLE):
            person = await uow.people.add(Person(name=f"Persona {n}", locale="it"))
            assert person.id is not None
            await uow.people.add_account(person.id, "whatsapp", _chat(n))


READ: list[str] = []  # the messages whose step has read who writes, waiting for `go`


async def _step(database: Database, n: int, inbound_id: str, go: asyncio.Event) -> None:
    """A step as the engine takes it: who writes is read, then the turn saved alone,
    when `go` is set (so that every step reaches its turn at the same moment)."""
    async with database.unit_of_work() as uow:
        arrival = await uow.people.arriving("whatsapp", _chat(n), inbound_id)
        writer = arrival.writer
        assert arrival.fresh and writer is not None
        writer.conversation.step = f"step.{inbound_id}"
        reply = Notifier(FlowSettings()).message(writer.account, writer.person, Reply("help"))
        READ.append(inbound_id)
        await go.wait()
        await uow.turns.save(Turn(writer.conversation, "whatsapp", inbound_id, [reply]))


async def _until(condition: Callable[[], object], within: float = 20.0) -> None:
    """Wait until `condition` holds (however slow the machine)."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "waited in vain"
        await asyncio.sleep(0.01)


def _turn_line(database: Database) -> GroupCommit | None:
    """The queue of this process's latest kind of turn (a first turn and a later one
    are two statements), once it has one."""
    turns = [q for q in queues(database.engine.sync_engine) if not q.ticketed]
    return turns[-1] if turns else None


def _steps(
    database: Database, go: asyncio.Event, people: range, then: str = ""
) -> list[asyncio.Task[None]]:
    """Person n's step on message "SM<n><then>"."""
    return [asyncio.create_task(_step(database, n, f"SM{n}{then}", go)) for n in people]


async def _saved(database: Database) -> dict[int, str]:
    """Each person's saved step, by person number."""
    async with database.unit_of_work() as uow:
        steps = {}
        for n in range(PEOPLE):
            writer = await uow.people.writing("whatsapp", _chat(n))
            assert writer is not None
            if writer.conversation.step is not None:
                steps[n] = writer.conversation.step
        return steps


async def _queued(database: Database) -> int:
    async with database.unit_of_work() as uow:
        return sum((await uow.outbox.depth()).values())


@asynccontextmanager
async def _elsewhere(database: Database) -> AsyncIterator[AsyncConnection]:
    """A connection of another process, in a transaction committed at the end."""
    other = Database(database.url)
    try:
        async with other.engine.begin() as connection:
            yield connection
    finally:
        await other.dispose()


@asynccontextmanager
async def _locked(database: Database, n: int) -> AsyncIterator[None]:
    """Person n's conversation row locked by another process: their turn waits."""
    async with _elsewhere(database) as other:
        await other.execute(
            text(
                "SELECT 1 FROM conversation_state s JOIN channel_account a"
                " ON a.person_id = s.person_id WHERE a.external_id = :chat FOR UPDATE"
            ),
            {"chat": _chat(n)},
        )
        yield


async def _first_turns(database: Database) -> None:
    """Everyone's conversation saved once, so that a row exists to lock."""
    go = asyncio.Event()
    go.set()
    for task in _steps(database, go, range(PEOPLE)):
        await task


@on_postgresql
async def test_turns_arriving_together_are_written_together(database: Database):
    await _people(database)
    go = asyncio.Event()
    READ.clear()
    steps = _steps(database, go, range(PEOPLE))
    await _until(lambda: len(READ) == PEOPLE)  # every step has read who writes
    go.set()
    await asyncio.gather(*steps)
    assert await _saved(database) == {n: f"step.SM{n}" for n in range(PEOPLE)}
    assert await _queued(database) == PEOPLE
    assert written(database.engine.sync_engine)[1] == 2 * PEOPLE  # a read and a turn each
    turns = _turn_line(database)
    assert turns is not None and turns.statements == PEOPLE
    assert turns.batches == 2  # the first alone, then all the others, queued behind it


@on_postgresql
async def test_a_message_handled_meanwhile_fails_its_own_turn_only(database: Database):
    """Its id recorded by another process after the step read it: the batch fails as a
    whole, and each turn is written again on its own."""
    await _people(database)
    go = asyncio.Event()
    READ.clear()
    steps = _steps(database, go, range(PEOPLE))
    await _until(lambda: len(READ) == PEOPLE)  # every step has read who writes
    async with _elsewhere(database) as other:
        await other.execute(text("INSERT INTO processed_inbound VALUES ('whatsapp', 'SM7', now())"))
    go.set()
    outcomes = await asyncio.gather(*steps, return_exceptions=True)
    failed = [n for n, outcome in enumerate(outcomes) if outcome is not None]
    assert failed == [7]
    assert isinstance(outcomes[7], ConcurrencyConflict)
    assert await _saved(database) == {n: f"step.SM{n}" for n in range(PEOPLE) if n != 7}
    assert await _queued(database) == PEOPLE - 1


@on_postgresql
async def test_two_turns_of_one_conversation_in_a_batch_keep_one(database: Database):
    """Two messages of one person read at once: whichever is written first is kept, the
    other finds the conversation moved (and its step runs again, in the engine)."""
    await _people(database)
    go = asyncio.Event()
    READ.clear()
    steps = _steps(database, go, range(PEOPLE))
    twice = asyncio.create_task(_step(database, 3, "SM3-again", go))
    await _until(lambda: len(READ) == PEOPLE + 1)
    go.set()
    outcomes = await asyncio.gather(*steps, twice, return_exceptions=True)
    conflicts = [o for o in outcomes if isinstance(o, ConcurrencyConflict)]
    assert len(conflicts) == 1 and outcomes.count(None) == PEOPLE
    assert (await _saved(database))[3] in ("step.SM3", "step.SM3-again")
    assert await _queued(database) == PEOPLE


async def _until_waiting(database: Database, backends: int) -> None:
    """Until so many of the server's backends wait for a lock."""
    waiting = text("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted")
    async with _elsewhere(database) as watcher:
        for _ in range(2000):
            if (await watcher.execute(waiting)).scalar() == backends:
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"never {backends} backends waiting for a lock")


async def _behind_a_lock(database: Database) -> tuple[asyncio.Task[None], list[asyncio.Task[None]]]:
    """Person 0's turn on "SM0b" leads and waits on the lock; everyone else's turn on
    their "b" message is in line behind it."""
    now = asyncio.Event()
    now.set()
    first = _steps(database, now, range(1), then="b")[0]
    await _until(lambda: _in_line(database) == 0)
    rest = _steps(database, now, range(1, PEOPLE), then="b")
    await _until(lambda: _in_line(database) == PEOPLE - 1)
    assert not first.done() and not any(task.done() for task in rest)
    return first, rest


@on_postgresql
async def test_a_step_cancelled_while_its_batch_is_written_leaves_the_others_theirs(
    database: Database,
):
    """The leading step is cancelled (a shutdown): its turn is not kept; the turns in
    line behind it are written all the same, on a connection of their own."""
    await _people(database)
    await _first_turns(database)
    async with _locked(database, 0):
        first, rest = await _behind_a_lock(database)
        await _until_waiting(database, 1)  # its statement is on the server, held
        first.cancel()
        await asyncio.gather(*rest)
        # its statement cancelled on the server too (asyncpg asks on a connection of its
        # own): a cancel that came after the lock was gone would find it committed
        await _until_waiting(database, 0)
    with pytest.raises(asyncio.CancelledError):
        await first
    saved = await _saved(database)
    assert saved == {0: "step.SM0", **{n: f"step.SM{n}b" for n in range(1, PEOPLE)}}
    assert await _queued(database) == 2 * PEOPLE - 1


@on_postgresql
async def test_a_step_cancelled_while_waiting_leaves_the_line(database: Database):
    await _people(database)
    await _first_turns(database)
    async with _locked(database, 0):
        first, rest = await _behind_a_lock(database)
        rest[4].cancel()  # person 5's
    outcomes = await asyncio.gather(first, *rest, return_exceptions=True)
    assert isinstance(outcomes[5], asyncio.CancelledError)
    assert [n for n, o in enumerate(outcomes) if o is not None] == [5]
    assert (await _saved(database))[5] == "step.SM5"
    assert await _queued(database) == 2 * PEOPLE - 1


def _turns_written(database: Database) -> int:
    """Batches of turns this database's process has written so far."""
    turns = [q for q in queues(database.engine.sync_engine) if not q.ticketed]
    return sum(q.batches for q in turns)


def _in_line(database: Database) -> int:
    """How many turns wait behind the batch being written (-1: none is)."""
    line = _turn_line(database)
    return len(line.waiting) if line is not None and line.writing else -1


@on_postgresql
async def test_two_processes_batching_the_same_conversations_keep_each_turn_once(
    database: Database,
):
    """Two processes batch turns of persons 1, 6 and 2: one in that order, the other
    as 2, 6, 1. Person 6's conversation is locked elsewhere, so each batch takes its
    first row and waits; once 6 is free each needs the row the other holds. PostgreSQL
    ends that deadlock by failing one batch, whose turns then go one by one: each
    conversation keeps exactly one of its two turns, and the other step is told it
    moved (the engine runs it again)."""
    await _people(database)
    await _first_turns(database)
    other = Database(database.url)
    orders = {"a": (database, [0, 1, 6, 2]), "b": (other, [11, 2, 6, 1])}  # leader first
    before = _turns_written(database)
    steps: dict[tuple[str, int], asyncio.Task[None]] = {}
    try:
        async with _locked(database, 6):
            async with _locked(database, 0), _locked(database, 11):
                for process, (db, people) in orders.items():
                    for place, n in enumerate(people):  # each in line after the one before
                        go = asyncio.Event()
                        go.set()
                        steps[process, n] = asyncio.create_task(_step(db, n, f"SM{n}{process}", go))
                        await _until(lambda db=db, place=place: _in_line(db) == place)
            await _until_waiting(database, 2)  # each batch holds its first row, waits for 6
        outcomes = dict(
            zip(steps, await asyncio.gather(*steps.values(), return_exceptions=True), strict=True)
        )
        one_by_one = [_turns_written(database) - before, _turns_written(other)]
    finally:
        await other.dispose()
    # the deadlock did happen: one process wrote its leader and its batch (2), the
    # other its leader and then its batch's three turns one by one (4)
    assert sorted(one_by_one) == [2, 4], one_by_one
    assert outcomes["a", 0] is None and outcomes["b", 11] is None
    saved = await _saved(database)
    for n in (1, 6, 2):
        mine, theirs = outcomes["a", n], outcomes["b", n]
        assert (mine is None) != (theirs is None), f"person {n}: kept twice or not at all"
        assert isinstance(mine or theirs, ConcurrencyConflict)
        assert saved[n] == f"step.SM{n}{'a' if mine is None else 'b'}"
    assert await _queued(database) == PEOPLE + 5  # the first turns', and one each of five


# The line itself, with fake connections: who writes which batch, when a leader goes


class FakeConnection:
    """A caller's connection: it answers each statement with its first argument, fails
    those whose argument is "bad" (and any batch holding one), and holds a batch or a
    statement until `gate` opens."""

    def __init__(self, name: str, written: list[tuple[str, list[str]]]) -> None:
        self.name, self.written = name, written
        self.gate = asyncio.Event()
        self.gate.set()

    async def fetch(self, sql: str, arguments: tuple[Any, ...], begin: bool = True) -> list[Any]:
        return await self.fetchmany(sql, [arguments])

    async def fetchmany(self, sql: str, arguments: list[tuple[Any, ...]]) -> list[Any]:
        await self.gate.wait()
        self.written.append((self.name, [a[0] for a in arguments]))
        if any(a[0] == "bad" for a in arguments):
            raise ValueError("bad")
        return [(a[0],) for a in arguments]


async def test_a_leader_cancelled_mid_batch_hands_its_batch_to_the_next():
    line = GroupCommit("UPDATE …")
    written: list[tuple[str, list[str]]] = []
    a, b, c, d = (FakeConnection(name, written) for name in "abcd")
    a.gate.clear()
    first = asyncio.create_task(line.rows(a, ("a",)))  # leads alone, held
    await asyncio.sleep(0)
    b.gate.clear()
    behind = [asyncio.create_task(line.rows(conn, (conn.name,))) for conn in (b, c, d)]
    await asyncio.sleep(0)
    a.gate.set()
    assert await first == [("a",)]
    await asyncio.sleep(0.01)  # b leads b, c and d, held on its connection
    behind[0].cancel()
    assert await asyncio.gather(*behind[1:]) == [[("c",)], [("d",)]]
    assert behind[0].cancelled()
    assert written == [("a", ["a"]), ("c", ["c", "d"])]  # b's batch never went
    assert not line.writing and line.waiting == []


async def test_a_failed_batch_goes_again_one_by_one_each_with_its_outcome():
    line = GroupCommit("UPDATE …")
    written: list[tuple[str, list[str]]] = []
    a = FakeConnection("a", written)
    a.gate.clear()
    first = asyncio.create_task(line.rows(a, ("first",)))
    await asyncio.sleep(0)
    others = [
        asyncio.create_task(line.rows(FakeConnection(name, written), (arg,)))
        for name, arg in (("b", "ok"), ("c", "bad"), ("d", "fine"))
    ]
    await asyncio.sleep(0)
    a.gate.set()
    outcomes = await asyncio.gather(first, *others, return_exceptions=True)
    assert outcomes[:2] == [[("first",)], [("ok",)]] and outcomes[3] == [("fine",)]
    assert isinstance(outcomes[2], ValueError)
    assert written == [
        ("a", ["first"]),
        ("b", ["ok", "bad", "fine"]),  # the batch, rolled back
        ("b", ["ok"]),
        ("b", ["bad"]),
        ("b", ["fine"]),
    ]
    assert (line.batches, line.statements) == (3, 3)


class FakeReads:
    """A read giving each run as many rows as its third argument says, each row
    starting with the run's ticket (its first argument), as the batch set it."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[Any, ...]]] = []

    async def fetch(self, sql: str, arguments: tuple[Any, ...], begin: bool = True) -> list[Any]:
        return await self.fetchmany(sql, [arguments])

    async def fetchmany(self, sql: str, arguments: list[tuple[Any, ...]]) -> list[Any]:
        self.batches.append(arguments)
        await asyncio.sleep(0.01)
        return [(ticket, name, n) for ticket, name, count in arguments for n in range(count)]


async def test_a_batch_of_reads_gives_each_caller_its_own_rows():
    line = GroupCommit("SELECT …", ticketed=True)
    reads = FakeReads()
    asked = {"anna": 2, "bruno": 0, "carla": 3, "dario": 1}
    answers = await asyncio.gather(
        *(line.rows(reads, (0, name, count)) for name, count in asked.items())
    )
    assert reads.batches == [
        [(0, "anna", 2)],  # the first, alone
        [(0, "bruno", 0), (1, "carla", 3), (2, "dario", 1)],  # each its place as ticket
    ]
    assert [[row[1:] for row in rows] for rows in answers] == [
        [("anna", 0), ("anna", 1)],
        [],
        [("carla", 0), ("carla", 1), ("carla", 2)],
        [("dario", 0)],
    ]


@on_postgresql
async def test_a_read_in_a_transaction_goes_alone_and_sees_its_own_writes(
    database: Database,
):
    async with database.unit_of_work() as uow:
        person = await uow.people.add(Person(name="Lucia", locale="it"))  # begun
        assert person.id is not None
        await uow.people.add_account(person.id, "whatsapp", _chat(0))
        arrival = await uow.people.arriving("whatsapp", _chat(0), "SM1")
        assert arrival.writer is not None and arrival.writer.person.id == person.id
    assert written(database.engine.sync_engine) == (0, 0)  # nothing went in a batch
