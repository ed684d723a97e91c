"""Translations and formatting: gettext catalogs compiled with Babel on first use."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from io import BytesIO
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from flows.messages import Count, Key, Param, msg
from locales import LOCALES_DIR

DEFAULT_LOCALE = "it"
LOCALES = ("it", "en")  # the shipped catalogs; Italian first


def normalize(phrase: str) -> str:
    """Lower case, no accents, no punctuation, single spaces: "Sì, grazie!" → "si grazie"."""
    decomposed = unicodedata.normalize("NFKD", phrase)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(_PUNCTUATION.sub(" ", plain).split())


_PUNCTUATION = re.compile(r"[^\w\s]|_")


@cache
def translations(locale: str) -> Translations:
    """The catalog of `locale`, compiled in memory from its .po file."""
    po_path = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def supported(locale: str | None) -> str:
    """The shipped locale closest to `locale` (en_GB → en), else Italian."""
    if locale:
        language = locale.replace("-", "_").split("_")[0].lower()
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


def has_key(locale: str, key: str) -> bool:
    return key in translations(locale)._catalog


def text(locale: str, key: str) -> str:
    """The raw string for `key`, falling back to Italian, then to the key itself."""
    for candidate in (supported(locale), DEFAULT_LOCALE):
        if has_key(candidate, key):
            return str(translations(candidate).gettext(key))
    return key


def render(
    locale: str, key: str, params: Mapping[str, Param] | None = None, timezone: str = "Europe/Rome"
) -> str:
    """The message `key` in `locale`, with its parameters formatted for that locale."""
    template = text(locale, key)
    if not params:
        return template
    values = {name: format_value(value, locale, timezone) for name, value in params.items()}
    return string.Formatter().vformat(template, (), _Defaulting(values))


def format_value(value: Param, locale: str, timezone: str) -> str:
    """One parameter as the reader should see it (dates in their zone and language)."""
    if isinstance(value, Key):
        return text(locale, value.key)
    if isinstance(value, datetime):
        return str(
            format_datetime(value, "d MMMM y, HH:mm", tzinfo=ZoneInfo(timezone), locale=locale)
        )
    if isinstance(value, Count):
        return str(format_decimal(value.n, locale=locale))
    return "" if value is None else str(value)


class _Defaulting(dict[str, str]):
    """A missing placeholder renders as itself rather than raising in front of a person."""

    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


@cache
def words(key: str) -> frozenset[str]:
    """Every normalised word or phrase listed under `key`, in every shipped language.

    Catalogs list synonyms separated by "|" (for example `sì|si|ok|certo`).
    """
    found: set[str] = set()
    for locale in LOCALES:
        if has_key(locale, key):
            found.update(normalize(w) for w in text(locale, key).split("|") if w.strip())
    return frozenset(found)


def language_name(locale: str) -> str:
    """The language's own name, for the language menu ("Italiano", "English")."""
    return text(locale, msg("language.name"))
