"""Replies into words: the message in the reader's language, choices as labels."""

from __future__ import annotations

from dataclasses import dataclass

from flows.i18n import render
from flows.messages import Attachment, Reply, msg


@dataclass(frozen=True)
class RenderedChoice:
    id: str
    label: str


@dataclass(frozen=True)
class Rendered:
    text: str
    choices: tuple[RenderedChoice, ...] = ()
    attachment: Attachment | None = None
    request_contact: bool = False
    locale: str = "it"

    def numbered(self) -> str:
        """The text with the choices as a numbered list, for channels without buttons."""
        if not self.choices:
            return self.text
        lines = [f"{n}. {choice.label}" for n, choice in enumerate(self.choices, start=1)]
        return "\n".join([self.text, "", *lines])

    def hint(self) -> str:
        return render(self.locale, msg("channel.choose_hint"))


def render_reply(reply: Reply, locale: str, timezone: str) -> Rendered:
    return Rendered(
        text=render(locale, reply.key, reply.params, timezone),
        choices=tuple(
            RenderedChoice(c.id, render(locale, c.label, c.params, timezone)) for c in reply.choices
        ),
        attachment=reply.attachment,
        request_contact=reply.request_contact,
        locale=locale,
    )
