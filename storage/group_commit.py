"""Statements that each commit on their own, sent together when several are waiting to
go at once: one round trip and one commit for all of them (a group commit).

A step's turn is one statement committed as it ends (storage.turns), and what it reads
first (storage.writers) one statement outside a transaction. With dozens of
conversations in flight each paid a round trip, and each turn a commit, of its own on
PostgreSQL, which cost the server more than the statements themselves. Here those that
arrive while a batch of the same statement is being sent wait and go as the next
batch, with asyncpg's `fetchmany` (every statement bound and run in one implicit
transaction, one sync). A read's rows come back one run after the other: each carries
its run's place in the batch (`ticketed`).

A batch runs on the connection of one of its own callers, the first in line: each
caller holds its connection while it waits, so a batch never waits for the pool. When
a batch fails (a turn's message id recorded meanwhile makes the whole batch fail, as
would any error), its statements run again one at a time, each caller getting its own
outcome: the batch was rolled back, so none of them was written twice.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Engine

BATCH = 64  # statements at most in one batch
T = TypeVar("T")


class Runs(Protocol):
    """The driver's connection of one caller (storage.direct's asyncpg driver)."""

    async def fetch(
        self, sql: str, arguments: tuple[Any, ...], begin: bool = True
    ) -> list[Any]: ...

    async def fetchmany(self, sql: str, arguments: list[tuple[Any, ...]]) -> list[Any]: ...


class _Lead:
    """What a waiting caller is told when the batch before it is over: write the next."""


LEAD = _Lead()


@dataclass(eq=False)
class _Waiting:
    arguments: tuple[Any, ...]
    done: asyncio.Future[list[Any] | _Lead] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit:
    """One statement's callers on one database, written in batches, one batch at a time.

    `ticketed`: the statement's first parameter is given back as its rows' first column,
    so that a batch's rows, which come back one run after the other, can be told apart
    (a statement giving each caller any number of rows, a read); the batch sets it to
    each caller's place in the batch."""

    def __init__(self, sql: str, ticketed: bool = False) -> None:
        self.sql, self.ticketed = sql, ticketed
        self.loop = asyncio.get_running_loop()
        self.waiting: list[_Waiting] = []
        self.writing = False  # a batch is being written, or a caller was told to lead
        self.batches = 0  # written (a statement gone again on its own is one more)
        self.statements = 0

    async def rows(self, driver: Runs, arguments: tuple[Any, ...]) -> list[Any]:
        """The statement's rows for these arguments, committed (alone, or together with
        others' statements in one transaction)."""
        me = _Waiting(arguments)
        self.waiting.append(me)
        if not self.writing:
            return await self._lead(driver, me)
        try:
            outcome = await me.done
        except asyncio.CancelledError:
            self._leave(me)
            raise
        if isinstance(outcome, _Lead):
            me.done = asyncio.get_running_loop().create_future()  # for its own outcome
            return await self._lead(driver, me)
        return outcome

    def _leave(self, me: _Waiting) -> None:
        """A caller cancelled while waiting: out of line, and if it was to lead, the
        next one leads instead."""
        if me in self.waiting:
            self.waiting.remove(me)
        told = me.done.done() and not me.done.cancelled() and me.done.exception() is None
        if told and me.done.result() is LEAD:
            self._hand_over()

    async def _lead(self, driver: Runs, me: _Waiting) -> list[Any]:
        self.writing = True
        batch, self.waiting = self.waiting[:BATCH], self.waiting[BATCH:]
        assert batch[0] is me  # the one in line first leads
        try:
            await self._write(driver, batch)
        except BaseException:
            # cancelled while writing (shutdown): the others go again, in a batch of
            # their own on a connection of their own
            self.waiting = [w for w in batch if w is not me and not w.done.done()] + self.waiting
            raise
        finally:
            self._hand_over()
        rows = me.done.result()
        assert not isinstance(rows, _Lead)
        return rows

    def _hand_over(self) -> None:
        while self.waiting:
            first = self.waiting[0]
            if not first.done.done():
                first.done.set_result(LEAD)
                return
            self.waiting.pop(0)  # cancelled, and not yet resumed to leave the line itself
        self.writing = False

    async def _write(self, driver: Runs, batch: Sequence[_Waiting]) -> None:
        if len(batch) > 1:
            try:
                rows = await driver.fetchmany(self.sql, self._arguments(batch))
            except Exception as error:
                if getattr(error, "connection_invalidated", False):  # the server went away
                    for waiting in batch:
                        settle(waiting.done, error)
                    return
                # rolled back: each goes again on its own, for its own outcome
            else:
                self.batches, self.statements = self.batches + 1, self.statements + len(batch)
                for waiting, its_rows in zip(batch, self._split(rows, len(batch)), strict=True):
                    settle(waiting.done, its_rows)
                return
        for waiting in batch:
            try:
                rows = await driver.fetch(self.sql, waiting.arguments, False)
            except Exception as error:
                settle(waiting.done, error)
            else:
                self.batches, self.statements = self.batches + 1, self.statements + 1
                settle(waiting.done, rows)

    def _arguments(self, batch: Sequence[_Waiting]) -> list[tuple[Any, ...]]:
        if not self.ticketed:
            return [w.arguments for w in batch]
        return [(n, *w.arguments[1:]) for n, w in enumerate(batch)]

    def _split(self, rows: list[Any], count: int) -> list[list[Any]]:
        """Each run's rows: one each, or by their ticket."""
        if not self.ticketed:
            if len(rows) != count:
                raise RuntimeError(f"{count} statements gave {len(rows)} rows")
            return [[row] for row in rows]
        each: list[list[Any]] = [[] for _ in range(count)]
        for row in rows:
            each[row[0]].append(row)
        return each


def settle(future: asyncio.Future[T], outcome: T | BaseException) -> None:
    """Give a waiting caller its outcome, unless it was cancelled meanwhile."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


_ENGINES: weakref.WeakKeyDictionary[Engine, dict[str, GroupCommit]] = weakref.WeakKeyDictionary()


def group_commit(engine: Engine, sql: str, ticketed: bool = False) -> GroupCommit:
    """The queue of `sql` on this database (its engine), made when first used."""
    queues = _ENGINES.setdefault(engine, {})
    queue = queues.get(sql)
    if queue is None or queue.loop is not asyncio.get_running_loop():  # (tests: a loop each)
        queue = queues[sql] = GroupCommit(sql, ticketed)
    return queue


def queues(engine: Engine) -> list[GroupCommit]:
    """The queues of this database so far (what they wrote: `batches`, `statements`)."""
    return list(_ENGINES.get(engine, {}).values())


def written(engine: Engine) -> tuple[int, int]:
    """Batches and statements written on this database so far, over all its queues."""
    made = queues(engine)
    return sum(q.batches for q in made), sum(q.statements for q in made)
