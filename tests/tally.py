"""Messages counted per chat, with a wait for a count: a load of many chats in flight
waits on its answers without polling (polling took CPU from the bot being measured)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Hashable


class Tally:
    def __init__(self) -> None:
        self._counts: Counter[Hashable] = Counter()
        self._waiting: dict[Hashable, list[tuple[int, asyncio.Future[None]]]] = {}

    def __getitem__(self, key: Hashable) -> int:
        return self._counts[key]

    def add(self, key: Hashable) -> None:
        self._counts[key] += 1
        waiting = self._waiting.get(key)
        if waiting:
            count = self._counts[key]
            for wanted, future in waiting:
                if count >= wanted and not future.done():
                    future.set_result(None)

    async def reach(self, key: Hashable, count: int) -> None:
        """Until `key` has `count` messages (bound it with `asyncio.timeout`)."""
        if self._counts[key] >= count:
            return
        future = asyncio.get_running_loop().create_future()
        entry = (count, future)
        self._waiting.setdefault(key, []).append(entry)
        try:
            await future
        finally:
            waiting = self._waiting[key]
            waiting.remove(entry)
            if not waiting:
                del self._waiting[key]
