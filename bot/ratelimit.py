"""Token buckets: the platforms' sending limits, kept on our side."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable


class TokenBucket:
    """`rate` sends a second on average, up to `burst` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()
        self._first_waiting = 0  # replies waiting: bulk sends let them go first
        self._held_until = 0.0  # the platform asked us to stop sending until then

    def _refill(self) -> None:
        now = time.monotonic()  # `updated` is in the future while a hold lasts
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = max(self.updated, now)

    async def acquire(self, first: bool = False) -> None:
        """Wait for a send; `first` (a reply) goes ahead of the others (a broadcast)."""
        self._first_waiting += first
        try:
            while True:
                async with self._lock:
                    if first or not self._first_waiting:
                        if (held := self._held_until - time.monotonic()) > 0:
                            await asyncio.sleep(held)
                            continue  # held longer meanwhile, maybe: look again
                        self._refill()
                        while self.tokens < 1:
                            await asyncio.sleep((1 - self.tokens) / self.rate)
                            self._refill()
                        self.tokens -= 1
                        return
                await asyncio.sleep(1 / self.rate)  # a reply is waiting: after it
        finally:
            self._first_waiting -= first

    def hold(self, seconds: float) -> None:
        """No send for `seconds` from now (the platform said it is overwhelmed)."""
        self._refill()
        self._held_until = max(self._held_until, time.monotonic() + seconds)
        self.tokens = min(self.tokens, 1.0)  # and no burst the moment it ends:
        self.updated = self._held_until  # the tokens start again from there

    @property
    def idle(self) -> bool:
        self._refill()
        return self.tokens >= self.burst


class RateLimits:
    """A bucket per channel (the bot or sender overall) and, where set, per chat."""

    MAX_CHATS = 10_000  # idle per-chat buckets are forgotten past this many

    def __init__(
        self,
        per_channel: dict[str, float],
        per_chat: dict[str, tuple[float, float]] | None = None,
    ) -> None:
        self._rates = dict(per_channel)
        self._channels = {
            name: TokenBucket(rate, max(rate, 1.0)) for name, rate in per_channel.items()
        }
        self._chat_limits = per_chat or {}
        self._chats: dict[Hashable, TokenBucket] = {}
        self.workers = 1

    def share(self, workers: int) -> None:
        """`workers` processes send for the same bot and senders: each keeps to its part
        of every channel's limit (a chat's own limit stays whole: one chat's messages
        rarely go out from two processes at once)."""
        self.workers = max(1, workers)
        for name, bucket in self._channels.items():
            bucket.rate = self._rates[name] / self.workers
            bucket.burst = max(bucket.rate, 1.0)
            bucket.tokens = min(bucket.tokens, bucket.burst)

    def rate(self, channel: str) -> float | None:
        """This process's sends a second on `channel` now, if it is limited."""
        bucket = self._channels.get(channel)
        return bucket.rate if bucket else None

    def hold(self, channel: str, seconds: float) -> None:
        """Nothing more on `channel` (any chat) for `seconds`, in this process."""
        if (bucket := self._channels.get(channel)) is not None:
            bucket.hold(seconds)

    async def acquire(self, channel: str, address: str, first: bool = False) -> None:
        if channel in self._chat_limits:
            key = (channel, address)
            bucket = self._chats.get(key)
            if bucket is None:
                if len(self._chats) >= self.MAX_CHATS:
                    self._chats = {k: b for k, b in self._chats.items() if not b.idle}
                bucket = self._chats[key] = TokenBucket(*self._chat_limits[channel])
            await bucket.acquire()
        if channel in self._channels:
            await self._channels[channel].acquire(first)
