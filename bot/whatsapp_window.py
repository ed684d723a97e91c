"""WhatsApp's 24-hour window: free text inside it, an approved Content template outside.

The mapping file (TWILIO_TEMPLATES) says which template serves which message, per
language; "default" serves any message that has none of its own:

    {"default": {"it": {"content_sid": "HX…", "variables": {"1": "text"}}},
     "roles.approved": {"en": {"content_sid": "HX…", "variables": {"1": "role"}}}}

A variable takes a parameter of the message by name, or "text": the whole message.

Inside the window, a question with up to three short choices can go as WhatsApp
quick-reply buttons, with a twilio/quick-reply Content template per number of
buttons: "quick_reply_2", "quick_reply_3" (and "quick_reply_1"). Its variables are
fixed: "1" the text, then for button n the title "2n" and the id "2n+1"; a tapped
button comes back as ButtonPayload, the choice's id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.rendering import Rendered
from flows.i18n import format_value
from flows.messages import Reply

WINDOW = timedelta(hours=24)
QUICK_REPLY_BUTTONS = 3  # WhatsApp's limit for quick-reply buttons
QUICK_REPLY_TITLE = 20  # characters in a button title
OUTSIDE_NO_TEMPLATE = "outside WhatsApp window, no template"


def window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    return last_inbound_at is not None and now - last_inbound_at < WINDOW


@dataclass(frozen=True)
class Template:
    content_sid: str
    variables: dict[str, str]  # template variable → parameter name, or "text"

    def values(self, reply: Reply, text: str, locale: str, timezone: str) -> dict[str, str]:
        return {
            variable: text
            if source == "text"
            else format_value(reply.params.get(source), locale, timezone)
            for variable, source in self.variables.items()
        }


class Templates:
    def __init__(self, mapping: dict[str, dict[str, Template]] | None = None) -> None:
        self.mapping = mapping or {}

    @classmethod
    def load(cls, path: Path | None) -> Templates:
        if path is None:
            return cls()
        raw: dict[str, dict[str, dict[str, Any]]] = json.loads(path.read_text("utf-8"))
        return cls(
            {
                key: {
                    locale: Template(str(entry["content_sid"]), dict(entry.get("variables", {})))
                    for locale, entry in by_locale.items()
                }
                for key, by_locale in raw.items()
            }
        )

    def quick_reply(self, message: Rendered) -> Rendered | None:
        """The message as quick-reply buttons, when a template fits it."""
        choices = message.choices
        if not 0 < len(choices) <= QUICK_REPLY_BUTTONS:
            return None
        if any(len(c.label) > QUICK_REPLY_TITLE for c in choices):
            return None
        template = self.mapping.get(f"quick_reply_{len(choices)}", {}).get(message.locale)
        if template is None:
            return None
        variables = {"1": message.text}
        for n, choice in enumerate(choices, start=1):
            variables[str(2 * n)], variables[str(2 * n + 1)] = choice.label, choice.id
        return replace(message, template_sid=template.content_sid, template_variables=variables)

    def find(self, key: str, locale: str) -> Template | None:
        for candidate in (key, "default"):
            by_locale = self.mapping.get(candidate, {})
            if locale in by_locale:
                return by_locale[locale]
        return None
