"""What flows say: replies made of message keys, parameters and choices, never text.

Rendering into words happens later, per locale and per channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


def msg(key: str) -> str:
    """Mark a message key, so that the catalog check finds every key the code uses."""
    return key


@dataclass(frozen=True)
class Key:
    """A parameter that is itself a message, rendered in the reader's language."""

    key: str


@dataclass(frozen=True)
class Count:
    """A quantity, written the reader's way ("1.200" in Italian, "1,200" in English);
    plain ints are ids and stay as they are."""

    n: int


Param = str | int | float | datetime | Key | Count | None


@dataclass(frozen=True)
class Choice:
    """An option the person can tap or type: `id` is the payload, `label` a message key."""

    id: str
    label: str
    params: Mapping[str, Param] = field(default_factory=dict)
    words: str | None = None  # message key of extra words that mean this choice


@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str
    content: str


@dataclass(frozen=True)
class Reply:
    key: str
    params: Mapping[str, Param] = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()
    attachment: Attachment | None = None
    request_contact: bool = False  # offer a "share my phone number" button
    # a live message: it replaces the earlier one with this tag in the chat where the
    # channel can edit messages, and is not sent at all where it cannot
    replaces: str | None = None
    # what is said just before, in the same message: one notification and one send
    # (and one Twilio fee) instead of several; see `joined`
    lead: tuple[Reply, ...] = ()

    @property
    def plain(self) -> bool:
        """Only words: nothing that must end a message of its own."""
        return not (self.choices or self.attachment or self.request_contact or self.replaces)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"key": self.key, "params": _encode(self.params)}
        if self.choices:
            body["choices"] = [
                {"id": c.id, "label": c.label, "params": _encode(c.params)} for c in self.choices
            ]
        if self.attachment is not None:
            body["attachment"] = {
                "filename": self.attachment.filename,
                "media_type": self.attachment.media_type,
                "content": self.attachment.content,
            }
        if self.request_contact:
            body["request_contact"] = True
        if self.replaces is not None:
            body["replaces"] = self.replaces
        if self.lead:
            body["lead"] = [r.to_json() for r in self.lead]
        return body

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Reply:
        attachment = body.get("attachment")
        return cls(
            key=body["key"],
            params=_decode(body.get("params", {})),
            choices=tuple(
                Choice(c["id"], c["label"], _decode(c.get("params", {})))
                for c in body.get("choices", [])
            ),
            attachment=Attachment(**attachment) if attachment else None,
            request_contact=bool(body.get("request_contact", False)),
            replaces=body.get("replaces"),
            lead=tuple(cls.from_json(r) for r in body.get("lead", [])),
        )


def joined(replies: Sequence[Reply]) -> list[Reply]:
    """One turn's replies in as few messages as show them the same: words go in front of
    the message that follows them; a file or a live message stays a message of its own."""
    messages: list[Reply] = []
    words: list[Reply] = []
    for reply in replies:
        if reply.attachment is None and reply.replaces is None:
            if words or reply.lead:
                reply = replace(reply, lead=(*words, *reply.lead))
            if reply.plain:
                words = [*reply.lead, replace(reply, lead=())]
                continue
            messages.append(reply)
        else:
            if words:
                messages.append(replace(words[-1], lead=tuple(words[:-1])))
            messages.append(reply)
        words = []
    if words:
        messages.append(replace(words[-1], lead=tuple(words[:-1])))
    return messages


_DATETIME, _KEY, _COUNT = "$datetime", "$key", "$count"


def _encode_one(value: Param) -> Any:
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, Key):
        return {_KEY: value.key}
    if isinstance(value, Count):
        return {_COUNT: value.n}
    return value


def _decode_one(value: Any) -> Param:
    if isinstance(value, dict):
        if _DATETIME in value:
            return datetime.fromisoformat(value[_DATETIME])
        return Count(value[_COUNT]) if _COUNT in value else Key(value[_KEY])
    return value  # type: ignore[no-any-return]


def _encode(params: Mapping[str, Param]) -> dict[str, Any]:
    return {name: _encode_one(value) for name, value in params.items()}


def _decode(params: dict[str, Any]) -> dict[str, Param]:
    return {name: _decode_one(value) for name, value in params.items()}
