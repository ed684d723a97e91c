"""Dates and times as people type them: "1/12 9:30", "domani 9:30", "lunedì alle 9",
"1 dicembre 2026 9.30", "2026-12-01 09:30" — in the cooperative's time zone."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from babel.dates import get_day_names, get_month_names

from flows.i18n import LOCALES, words
from flows.messages import msg

_TIME = re.compile(r"(?:^|\s)(?:ore|alle|at|h)?\s*(\d{1,2})(?:[:.h](\d{2}))?$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2}|\d{4}))?\.?$")
_NAMED = re.compile(r"^(\d{1,2})\s+([a-z]+)\.?(?:\s+(\d{4}))?$")
RELATIVE = {
    msg("words.today"): 0,
    msg("words.tomorrow"): 1,
    msg("words.day_after_tomorrow"): 2,
}


def _plain(text: str) -> str:
    """Lower case, no accents, single spaces; digits and separators kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(plain.replace(",", " ").split())


@cache
def _months() -> dict[str, int]:
    """Month names and abbreviations in every shipped language: "dicembre", "dic", "dec"."""
    found: dict[str, int] = {}
    for locale in LOCALES:
        for width in ("wide", "abbreviated"):
            for number, name in get_month_names(width, locale=locale).items():
                found[_plain(str(name)).rstrip(".")] = int(number)
    return found


@cache
def _weekdays() -> dict[str, int]:
    """Weekday names and abbreviations, Monday 0: "lunedì", "lun", "monday", "mon"."""
    found: dict[str, int] = {}
    for locale in LOCALES:
        for width in ("wide", "abbreviated"):
            for number, name in get_day_names(width, locale=locale).items():
                found[_plain(str(name)).rstrip(".")] = int(number)
    return found


def _year(year: str | None, month: int, day: int, today: date) -> date:
    """The date; without a year, the next time it comes (today included)."""
    if year is not None:
        return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
    found = date(today.year, month, day)
    return found if found >= today else date(today.year + 1, month, day)


def _day(text: str, today: date) -> date | None:
    if not text:
        return None
    for key, offset in RELATIVE.items():
        if text in words(key):
            return today + timedelta(days=offset)
    if (weekday := _weekdays().get(text.rstrip("."))) is not None:  # the coming one
        return today + timedelta(days=(weekday - today.weekday()) % 7 or 7)
    first, _, rest = text.partition(" ")
    if rest and first.rstrip(".") in _weekdays():  # "lunedì 1/12": the date says it all
        return _day(rest, today)
    try:
        if found := _ISO.match(text):
            return date(int(found[1]), int(found[2]), int(found[3]))
        if found := _NUMERIC.match(text):
            return _year(found[3], int(found[2]), int(found[1]), today)
        if (found := _NAMED.match(text)) and (month := _months().get(found[2])):
            return _year(found[3], month, int(found[1]), today)
    except ValueError:  # 31/2
        return None
    return None


def parse_moment(
    text: str, now: datetime, timezone: str, day: date | None = None
) -> datetime | None:
    """The moment `text` names, in `timezone`; None when unclear. A time alone ("11:30")
    is on `day` when given (the end of a shift: the day it starts)."""
    plain = _plain(text).replace("t", " ", 1) if _ISO.match(text[:10]) else _plain(text)
    found = _TIME.search(plain)
    if found is None:
        return None
    hour, minute = int(found[1]), int(found[2] or 0)
    if hour > 23 or minute > 59:
        return None
    zone = ZoneInfo(timezone)
    rest = plain[: found.start()].strip()
    rest = re.sub(r"\s(?:ore|alle|at)$", "", rest).strip()
    when = _day(rest, now.astimezone(zone).date()) if rest else day
    if when is None:
        return None
    return datetime(when.year, when.month, when.day, hour, minute, tzinfo=zone)
