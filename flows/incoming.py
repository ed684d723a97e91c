"""What a person sent, whatever the channel it came from."""

from __future__ import annotations

from dataclasses import dataclass


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
