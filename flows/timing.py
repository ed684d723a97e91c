"""When things happen: reminder offsets, wall-clock days across daylight-saving changes,
working days and quiet hours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)
_OFFSET = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_offsets(text: str) -> tuple[timedelta, ...]:
    """ "24h,2h" or "7d,1d,2h" → the offsets, longest first; ValueError if unclear."""
    offsets = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _OFFSET.match(part.lower())
        if match is None or int(match[1]) == 0:
            raise ValueError(f"{part!r} is not a time before, like 24h, 2h, 7d or 30m")
        offsets.append(timedelta(**{_UNITS[match[2]]: int(match[1])}))
    return tuple(sorted(set(offsets), reverse=True))


def offset_label(offset: timedelta) -> str:
    """24h → "24h", 7 days → "7d", 90 minutes → "90m"."""
    seconds = int(offset.total_seconds())
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def local(naive: datetime, timezone: str) -> datetime:
    """A wall-clock time in `timezone`, as UTC; a time skipped by the clocks moving
    forward counts as the hour after."""
    zone = ZoneInfo(timezone)
    aware = naive.replace(tzinfo=zone)
    roundtrip = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if roundtrip != naive:  # inside the gap of a spring-forward night
        aware = (naive + timedelta(hours=1)).replace(tzinfo=zone)
    return aware.astimezone(UTC)


def before(moment: datetime, offset: timedelta, timezone: str) -> datetime:
    """`offset` before `moment`. Whole days are counted on the wall clock, so "24h before"
    a 10:00 shift is 10:00 the day before, also on the night the clocks change."""
    if offset % DAY:
        return moment - offset
    wall = moment.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    return local(wall - offset, timezone)


def next_working_day(moment: datetime, timezone: str) -> datetime:
    """The same wall-clock time on the next day from Monday to Friday."""
    wall = moment.astimezone(ZoneInfo(timezone)).replace(tzinfo=None) + DAY
    while wall.weekday() >= 5:
        wall += DAY
    return local(wall, timezone)


@dataclass(frozen=True)
class QuietHours:
    """The night, in each person's time zone, when non-urgent messages wait."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """ "21:00-08:00" → quiet hours; "" or "off" → none."""
        if text.strip().lower() in ("", "off", "none"):
            return None
        try:
            start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError as error:
            raise ValueError(f"{text!r} is not a range of hours like 21:00-08:00") from error
        if start == end:
            raise ValueError(f"{text!r}: the quiet hours start and end at the same time")
        return cls(start, end)

    def release(self, now: datetime, timezone: str) -> datetime:
        """`now` outside the quiet hours, else when they end (the morning)."""
        wall = now.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
        clock = wall.time()
        if self.start < self.end:
            quiet = self.start <= clock < self.end
            morning = wall.date()
        else:  # across midnight
            quiet = clock >= self.start or clock < self.end
            morning = wall.date() + DAY if clock >= self.start else wall.date()
        if not quiet:
            return now
        return local(datetime.combine(morning, self.end), timezone)
