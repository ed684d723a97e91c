"""The gettext catalogs (`<locale>/LC_MESSAGES/messages.po`), shipped with the package."""

from __future__ import annotations

from pathlib import Path

LOCALES_DIR = Path(__file__).parent
