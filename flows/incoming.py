"""What a person sent, whatever the channel it came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace
from typing import Any

from storage.tables import INBOUND_ID_LENGTH


@dataclass(frozen=True)
class Incoming:
    channel: str  # "telegram", "whatsapp", "sms", "terminal"
    external_id: str  # the chat id, or the sender's number
    text: str | None = None
    choice: str | None = None  # payload of a tapped button
    contact_phone: str | None = None  # the sender's own number, shared with a contact button
    phone: str | None = None  # the number the channel itself vouches for (WhatsApp, SMS)
    profile_name: str | None = None  # the name the platform shows, to suggest at sign-up
    inbound_id: str | None = None  # update_id / MessageSid, for idempotency
    can_share_contact: bool = False  # the channel has a "share my number" button

    def cleaned(self) -> Incoming:
        """The same message in text that every database keeps: without NUL characters
        (PostgreSQL refuses them) and with lone surrogates (not UTF-8) replaced; an id
        too long to record (no platform's is) by its SHA-256, so a replay is still one."""
        changes: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, str) and (kept := keepable(value)) != value:
                changes[field.name] = kept
        inbound_id = changes.get("inbound_id", self.inbound_id)
        if inbound_id is not None and len(inbound_id) > INBOUND_ID_LENGTH:
            changes["inbound_id"] = hashlib.sha256(inbound_id.encode()).hexdigest()
        return replace(self, **changes) if changes else self


def keepable(text: str) -> str:
    if text.isascii():
        return text.replace("\x00", "")
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
