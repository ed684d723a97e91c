"""What a channel promises the delivery: it sends (some also edit), and how it fails."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.rendering import Rendered


class SendError(Exception):
    """A send that did not go through: `permanent` ones are not tried again."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        unreachable: bool = False,
        opted_out: bool = False,
        overwhelmed: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason, self.permanent, self.retry_after = reason, permanent, retry_after
        self.unreachable, self.opted_out = unreachable, opted_out
        self.overwhelmed = overwhelmed  # the whole sender must wait, not just this message


class EditRefused(SendError):
    """The platform will not edit that message (too old, gone...): a new one is sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, permanent=True)


class Channel(Protocol):
    name: str

    async def send(self, address: str, message: Rendered) -> str | None:
        """Deliver one message; return the platform's id for it, if it has one."""
        ...


@runtime_checkable
class Editing(Channel, Protocol):
    """A channel that can change a message it sent (live messages are edited in place)."""

    async def edit(self, address: str, provider_id: str, message: Rendered) -> str | None:
        """Show `message` instead of message `provider_id` (unchanged counts as done);
        return the id; raise EditRefused when that message cannot be edited."""
        ...
