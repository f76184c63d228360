"""HL7 v2 TS/DTM/DT values as UTC instants and calendar dates.

The v2 form is `YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]` (TS.2, the degree of precision, is
deprecated and ignored). Decisions:

- A value with a time and an offset is that instant; `-0000` is UTC. A value with a time and no offset is in
  the sender's zone, `MappingContext.default_timezone` (UTC unless configured). [IG] leaves the zone to local
  configuration; [MSFC] assumes the converter host's zone, which would make the mapping depend on where it runs.
- A date without a time (`YYYYMMDD`, or coarser: `YYYYMM`, `YYYY`) is midnight UTC of its first day, as the
  contract's DateTimeValue says. Its offset, if a sender adds one, is ignored: a date is a calendar day.
- `date_of()` gives the calendar date as written (birth dates, service dates): never shifted by a zone.
- A value that does not parse (the template placeholder `DOB` in [S], `2023-05-04`, month 13) is absent: the
  caller decides whether absence is an error. No demographic or clinical time is worth rejecting a message.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Final

import hl7

from producers.hl7v2.mapping._fields import value

__all__ = ["date_of", "has_time", "parse_ts", "ts"]

_TS: Final = re.compile(
    r"^(?P<y>\d{4})(?:(?P<mo>\d{2})(?:(?P<d>\d{2})(?:(?P<h>\d{2})(?:(?P<mi>\d{2})(?:(?P<s>\d{2})"
    r"(?:\.(?P<f>\d{1,4}))?)?)?)?)?)?(?P<z>[+-]\d{4})?$",
    re.ASCII,
)


def _offset(text: str | None, default: tzinfo) -> tzinfo | None:
    if text is None:
        return default
    hours, minutes = int(text[1:3]), int(text[3:5])
    if hours > 23 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if text[0] == "-" else delta)


def parse_ts(raw: str | None, tz: tzinfo = UTC) -> datetime | None:
    """A TS/DTM/DT value as a UTC datetime; None when absent or not a valid v2 timestamp."""
    return _parse_ts(raw, tz) if raw else None


@lru_cache(maxsize=512)
def _parse_ts(raw: str, tz: tzinfo) -> datetime | None:
    # Cached: the same few times recur within a message (every OBX-14 of a panel) and across messages.
    match = _TS.match(raw.strip())
    if match is None:
        return None
    parts = match.groupdict()
    try:
        day = date(int(parts["y"]), int(parts["mo"] or 1), int(parts["d"] or 1))
        if parts["h"] is None:
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        zone = _offset(parts["z"], tz)
        if zone is None:
            return None
        fraction = int((parts["f"] or "0").ljust(6, "0"))
        local = datetime(day.year, day.month, day.day, int(parts["h"]), int(parts["mi"] or 0),
                         int(parts["s"] or 0), fraction, tzinfo=zone)
    except ValueError:
        return None
    return local.astimezone(UTC)


def has_time(raw: str | None) -> bool:
    """Whether a valid v2 timestamp states a time of day (more than the 8 digits of a date)."""
    match = _TS.match(raw.strip()) if raw else None
    return match is not None and match.group("h") is not None


def ts(seg: hl7.Segment, number: int, tz: tzinfo, *, component: int = 1, repetition: int = 0,
       subcomponent: int = 1) -> datetime | None:
    """The timestamp in one field (or component) as UTC; None when absent or unreadable."""
    return parse_ts(value(seg, number, component, repetition, subcomponent), tz)


def date_of(seg: hl7.Segment, number: int, component: int = 1, repetition: int = 0) -> date | None:
    """The calendar date a TS/DT field states, as written; None unless it has at least year, month and day."""
    raw = value(seg, number, component, repetition)
    match = _TS.match(raw) if raw else None
    if match is None or match.group("d") is None:
        return None
    try:
        return date(int(match.group("y")), int(match.group("mo")), int(match.group("d")))
    except ValueError:
        return None
