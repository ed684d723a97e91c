"""Replies into words: the message in the reader's language, choices as labels."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    template_sid: str | None = None  # a WhatsApp Content template, outside the 24-hour window
    template_variables: dict[str, str] = field(default_factory=dict)

    def numbered(self) -> str:
        """The text with the choices as a numbered list, for channels without buttons."""
        if not self.choices:
            return self.text
        lines = [f"{n}. {choice.label}" for n, choice in enumerate(self.choices, start=1)]
        return "\n".join([self.text, "", *lines])

    def hint(self) -> str:
        return render(self.locale, msg("channel.choose_hint"))


def split_text(text: str, limit: int) -> list[str]:
    """Cut a long text under `limit` characters, at paragraph or line ends when possible."""
    parts: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind("\n\n", 0, limit), text.rfind("\n", 0, limit))
        if cut <= 0:
            cut = text.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    parts.append(text.rstrip())
    return [p for p in parts if p] or [" "]


def render_reply(reply: Reply, locale: str, timezone: str) -> Rendered:
    return Rendered(
        text="\n\n".join(
            render(locale, said.key, said.params, timezone) for said in (*reply.lead, reply)
        ),
        choices=tuple(
            RenderedChoice(c.id, render(locale, c.label, c.params, timezone)) for c in reply.choices
        ),
        attachment=reply.attachment,
        request_contact=reply.request_contact,
        locale=locale,
    )
