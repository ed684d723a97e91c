"""Dates and times typed the way people write them, in the cooperative's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from flows.when import parse_moment

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Rome


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1/12 9:30", "2026-12-01 09:30"),
        ("01/12/2026 9.30", "2026-12-01 09:30"),
        ("1.12.26 9h30", "2026-12-01 09:30"),
        ("1 dicembre 9:30", "2026-12-01 09:30"),
        ("1 dic 2026 alle 9", "2026-12-01 09:00"),
        ("3 December 14:00", "2026-12-03 14:00"),
        ("2026-12-01 09:30", "2026-12-01 09:30"),
        ("2026-12-01T09:30", "2026-12-01 09:30"),
        ("domani 9:30", "2026-11-24 09:30"),
        ("Domani alle 9", "2026-11-24 09:00"),
        ("dopodomani ore 8", "2026-11-25 08:00"),
        ("tomorrow at 10", "2026-11-24 10:00"),
        ("oggi 18", "2026-11-23 18:00"),
        ("venerdì alle 15.30", "2026-11-27 15:30"),
        ("Friday 15:30", "2026-11-27 15:30"),
        ("lunedì 18", "2026-11-30 18:00"),  # on a Monday: next week's (today is «oggi»)
        ("lunedì 1/12 9:30", "2026-12-01 09:30"),
        ("22/11 9:30", "2027-11-22 09:30"),  # passed this year: next year's
    ],
)
def test_understood(typed: str, expected: str):
    moment = parse_moment(typed, NOW, "Europe/Rome")
    assert moment is not None and moment.strftime("%Y-%m-%d %H:%M") == expected
    assert moment.utcoffset() is not None


@pytest.mark.parametrize(
    "typed", ["domani", "prima possibile", "31/2 9:00", "1/13 9:00", "1/12 25:00", "9:30", ""]
)
def test_unclear(typed: str):
    assert parse_moment(typed, NOW, "Europe/Rome") is None


def test_a_time_alone_is_on_the_given_day():
    moment = parse_moment("11:30", NOW, "Europe/Rome", date(2026, 12, 1))
    assert moment is not None and moment.isoformat() == "2026-12-01T11:30:00+01:00"
