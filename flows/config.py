"""The settings flows depend on, as plain data (built from the environment in bot/)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Protocol

PRIVACY_NOTICE_VERSION = "2026-11"  # bump when the notice changes: consent is asked again


@dataclass(frozen=True)
class FlowSettings:
    default_locale: str = "it"
    timezone: str = "Europe/Rome"
    default_region: str = "IT"  # for phone numbers typed without a country code
    zones: tuple[str, ...] = ()  # the cooperative's territory; empty: typed freely
    skills: tuple[str, ...] = ()  # what volunteers may offer (driving licence, languages...)
    withdraw_hours: int = 24  # a volunteer may leave a shift until this long before it
    shift_reminders: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=2))
    escalate_hours: int = 48  # a shift still short this long before it starts: alert
    assembly_reminders: tuple[timedelta, ...] = (
        timedelta(days=7),
        timedelta(days=1),
        timedelta(hours=2),
    )
    max_proxies: int = 10  # proxies one member may hold at an assembly (art. 2539 c.c.)
    quorum_first_call: Fraction = Fraction(1, 2)  # first call: more than this of the votes


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class FrozenClock:
    """A clock stopped at a moment already read, for work done as of that moment."""

    moment: datetime

    def now(self) -> datetime:
        return self.moment
