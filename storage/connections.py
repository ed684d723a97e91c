"""The PostgreSQL connections a process's units of work hold, one unit at a time."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.direct import driver


class KeptConnections:
    """Connections kept out of the engine's pool between units of work, so that a unit
    of work takes one without the pool's checkout and return (each a trip through a
    greenlet, with the pool's events and reset).

    At most the pool's size are held at once, so the pool itself never runs out; a
    unit of work beyond them waits, as long as the pool would have (its timeout).
    When one comes back unusable (the server went away), the idle ones go back to the
    pool too, which replaces every connection made before the failure."""

    def __init__(self, engine: AsyncEngine, size: int, timeout: float) -> None:
        self.engine = engine
        self.timeout = timeout
        self._turns = asyncio.Semaphore(size)
        self._idle: list[AsyncConnection] = []
        self._closed = False

    async def take(self) -> AsyncConnection:
        if not self._turns.locked():
            await self._turns.acquire()  # at once, with no timer to arm
        else:
            try:
                # a timer, not wait_for's task: under load most units of work wait here
                async with asyncio.timeout(self.timeout):
                    await self._turns.acquire()
            except TimeoutError as error:
                message = f"no database connection free within {self.timeout} s"
                raise PoolTimeout(message) from error
        try:
            while self._idle:
                connection = self._idle.pop()
                if not (connection.closed or connection.invalidated):
                    return connection
                await connection.close()
            return await self.engine.connect()
        except BaseException:
            self._turns.release()
            raise

    async def give_back(self, connection: AsyncConnection) -> None:
        try:
            if connection.invalidated:
                await self._return_idle()
                await connection.close()
            elif connection.closed:
                return
            elif self._closed or driver(connection).open:  # (open: a failed rollback)
                await connection.close()  # back to the pool, which resets it
            else:
                self._idle.append(connection)
        finally:
            self._turns.release()

    async def close(self) -> None:
        """Every connection back to the pool: the idle ones now, the others when given
        back (the process is stopping)."""
        self._closed = True
        await self._return_idle()

    async def _return_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()
