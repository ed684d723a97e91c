"""WhatsApp's 24-hour window: free text inside it, an approved Content template outside.

The mapping file (TWILIO_TEMPLATES) says which template serves which message, per
language; "default" serves any message that has none of its own:

    {"default": {"it": {"content_sid": "HX…", "variables": {"1": "text"}}},
     "roles.approved": {"en": {"content_sid": "HX…", "variables": {"1": "role"}}}}

A variable takes a parameter of the message by name, or "text": the whole message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flows.i18n import format_value
from flows.messages import Reply

WINDOW = timedelta(hours=24)
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

    def find(self, key: str, locale: str) -> Template | None:
        for candidate in (key, "default"):
            by_locale = self.mapping.get(candidate, {})
            if locale in by_locale:
                return by_locale[locale]
        return None
