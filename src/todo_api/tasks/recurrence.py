"""Recurring tasks: the rule a task repeats by (an RFC 5545 RRULE value), checked on the way in,
and the day its next occurrence is due.

The calendar arithmetic is dateutil's `rrule` (the skip of the 31st in short months, 29 February,
BYDAY, BYSETPOS, COUNT, UNTIL), run in the task's local wall-clock time: naive datetimes,
anchored at the series' first due date at the task's `due_time`. A weekly 09:00 meeting thus
stays at 09:00 local time across DST changes; the instant each occurrence is due comes from
`derived.due_at`, which knows the zone and its DST rules.
"""

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import takewhile
from typing import Any

from dateutil.rrule import rrule, rrulebase, rruleset, rrulestr

from todo_api.tasks.derived import due_at

FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
# RFC 5545's rule parts, less those that would set a time of day (an occurrence is due at the
# task's `due_time`) and dateutil's own extension (BYEASTER).
_PARTS = frozenset(
    {
        "FREQ",
        "INTERVAL",
        "COUNT",
        "UNTIL",
        "BYDAY",
        "BYMONTHDAY",
        "BYYEARDAY",
        "BYWEEKNO",
        "BYMONTH",
        "BYSETPOS",
        "WKST",
    }
)
_TIME_PARTS = frozenset({"BYHOUR", "BYMINUTE", "BYSECOND"})
_UNTIL = re.compile(r"(?P<day>[0-9]{8})(?P<time>T[0-9]{6}Z)?")
# Whether a rule ever gives an occurrence is asked from here: dateutil walks a rule that never
# does period by period up to the year 9999, which from today keeps a core busy for seconds (a
# daily rule); from here, 50 years at most. 29 February on a Monday recurs within 40.
_LATE_START = datetime(9950, 1, 1)


@dataclass(frozen=True, slots=True)
class _Parsed:
    parts: dict[str, str]
    until: str | None


def _split(text: str) -> _Parsed:
    if text.upper().startswith("RRULE:"):
        raise ValueError("must be the rule's value, without the `RRULE:` prefix")
    if "DTSTART" in text.upper():
        raise ValueError("must not contain DTSTART: a series starts at the task's due date")
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        name = name.upper()
        if not equals or not value:
            raise ValueError(f"has a part that is not NAME=VALUE: {part!r}")
        if name in _TIME_PARTS:
            raise ValueError(f"must not contain {name}: an occurrence is due at the due_time")
        if name not in _PARTS:
            raise ValueError(f"has an unknown part {name}")
        if name in parts:
            raise ValueError(f"names {name} twice")
        parts[name] = value.upper()
    if parts.get("FREQ") not in FREQUENCIES:
        raise ValueError("must have FREQ=DAILY, WEEKLY, MONTHLY or YEARLY")
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValueError("must not have both COUNT and UNTIL")
    until = parts.pop("UNTIL", None)
    if until is not None and not _UNTIL.fullmatch(until):
        raise ValueError("must have UNTIL as a date (20261231) or a UTC time (20261231T170000Z)")
    return _Parsed(parts, until)


def _rule(parsed: _Parsed, start: datetime) -> rrule:
    text = ";".join(f"{name}={value}" for name, value in parsed.parts.items())
    try:
        rule = rrulestr(text, dtstart=start)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"is not a valid RRULE ({exc})") from None
    if not isinstance(rule, rrule):
        raise ValueError("must be one RRULE")
    return rule


def check(text: str) -> str:
    """The rule as stored (upper case), or ValueError saying what is wrong with it."""
    if any(char.isspace() for char in text):
        raise ValueError("must not contain spaces or line breaks")
    parsed = _split(text)
    if "COUNT" in parsed.parts and not parsed.parts["COUNT"].isdigit():
        raise ValueError("must have COUNT as a positive number")
    if parsed.parts.get("COUNT") == "0" or parsed.parts.get("INTERVAL") == "0":
        raise ValueError("must have COUNT and INTERVAL of at least 1")
    if parsed.until is not None:
        _until_local(parsed.until, None)  # a real date
    unbounded = _Parsed({name: v for name, v in parsed.parts.items() if name != "COUNT"}, None)
    if _rule(unbounded, _LATE_START).after(_LATE_START, inc=True) is None:
        raise ValueError("never gives an occurrence")
    return text.upper()


def _until_local(until: str, timezone: str | None) -> datetime:
    """UNTIL as a local time in the task's zone: a date means the whole of that day there."""
    found = _UNTIL.fullmatch(until)
    assert found is not None  # checked on the way in
    try:
        day = datetime.strptime(found["day"], "%Y%m%d")
        if found["time"] is None:
            return datetime.combine(day.date(), time.max)
        instant = datetime.strptime(found["day"] + found["time"], "%Y%m%dT%H%M%SZ")
    except ValueError:
        raise ValueError("must have UNTIL as a real date") from None
    zone = zoneinfo.ZoneInfo(timezone) if timezone else UTC
    return instant.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Series:
    """What a recurring task repeats by: its rule, the series' first due date, and the time and
    zone each occurrence is due at."""

    rule: str
    start: date
    due_time: time | None
    timezone: str | None

    def _occurrences(self) -> rrulebase:
        """Every occurrence, as local times. RFC 5545 counts the start as the first occurrence
        even when the rule would not give it (a weekly Monday rule started on a Tuesday);
        dateutil only gives what the rule does, so the start is added and COUNT shortened."""
        parsed = _split(self.rule)
        start = datetime.combine(self.start, self.due_time or time(0))
        rule = _rule(parsed, start)
        if parsed.until is not None:
            rule = rule.replace(until=_until_local(parsed.until, self.timezone))
        if rule.after(start, inc=True) == start:
            return rule
        series = rruleset()
        series.rdate(start)
        if "COUNT" in parsed.parts:
            remaining = int(parsed.parts["COUNT"]) - 1
            if remaining == 0:
                return series
            rule = rule.replace(count=remaining)
        series.rrule(rule)
        return series

    def calendar_rule(self, due_date: date) -> str | None:
        """The rule of the occurrence due on `due_date` and those after it, for a calendar that
        recurs it from there: COUNT less the occurrences before it (None when none is left), and
        UNTIL in the form of the occurrence's own date, as RFC 5545 asks: a DATE for a series of
        days, a UTC time for a series at a time of day."""
        parsed = _split(self.rule)
        parts = dict(parsed.parts)
        if "COUNT" in parts:
            due = datetime.combine(due_date, self.due_time or time(0))
            earlier = takewhile(lambda occurrence: occurrence < due, self._occurrences())
            before = sum(1 for _ in earlier)
            if int(parts["COUNT"]) <= before:
                return None
            parts["COUNT"] = str(int(parts["COUNT"]) - before)
        if parsed.until is not None:
            until = _until_local(parsed.until, self.timezone)
            if self.due_time is None:
                parts["UNTIL"] = until.strftime("%Y%m%d")
            else:
                zone = zoneinfo.ZoneInfo(self.timezone) if self.timezone else UTC
                instant = until.replace(tzinfo=zone).astimezone(UTC)
                parts["UNTIL"] = instant.strftime("%Y%m%dT%H%M%SZ")
        return ";".join(f"{name}={value}" for name, value in parts.items())

    def next_due_date(self, after: date, now: datetime) -> date | None:
        """The due date of the occurrence after the one due on `after`: the first occurrence of
        the rule later than it that is not overdue at `now`, so a task completed late leaves no
        trail of overdue copies. None when the series has ended."""
        zone = zoneinfo.ZoneInfo(self.timezone) if self.timezone else UTC
        # Occurrences two days before now are overdue in any zone: no need to walk them.
        recent = now.astimezone(zone).replace(tzinfo=None) - timedelta(days=2)
        since = max(datetime.combine(after, self.due_time or time(0)), recent)
        for occurrence in self._occurrences().xafter(since):
            due = due_at(occurrence.date(), self.due_time, self.timezone)
            if due is not None and due > now:
                return occurrence.date()
        return None


# A change to one of these starts the series anew from the task's due date (COUNT counts from it).
_ANCHORING = ("due_date", "due_time", "timezone", "recurrence")


def series_start(task: Mapping[str, Any], stored: Mapping[Any, Any] | None) -> date | None:
    """The day a task's series starts, for a task written with these schedule fields: its own
    due date when the rule is new or the schedule moved; otherwise where the stored series
    started (a PUT that sends the same values again changes nothing)."""
    if task["recurrence"] is None:
        return None
    unmoved = stored is not None and all(task[name] == stored[name] for name in _ANCHORING)
    start: date | None = stored["series_start"] if stored is not None and unmoved else None
    return start or task["due_date"]
