"""In-memory stand-ins: a clock that moves when told, a channel that records."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from bot.rendering import Rendered


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class RecordingChannel:
    """Every channel at once: it keeps what would have been sent, per address."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: dict[str, list[Rendered]] = defaultdict(list)

    async def send(self, address: str, message: Rendered) -> str | None:
        self.sent[address].append(message)
        return f"fake-{address}-{len(self.sent[address])}"


class EditingChannel(RecordingChannel):
    """A recording channel that can also edit what it sent, as Telegram can."""

    def __init__(self) -> None:
        super().__init__()
        self.edits: list[tuple[str, str]] = []  # (address, provider id)

    async def edit(self, address: str, provider_id: str, message: Rendered) -> str | None:
        number = int(provider_id.rsplit("-", 1)[1])
        self.sent[address][number - 1] = message
        self.edits.append((address, provider_id))
        return provider_id
