"""What the server derives from a task's fields on every write, so that reads only compare
stored values: the instant a task is due (`due_at`), and the case-folded keys that sorting by
title, substring search (`q`) and tags compare.

Time zones come from the `tzdata` package only (pinned in requirements.lock), never from the
machine's own zone files: every instance, container or laptop computes the same `due_at`.
"""

import unicodedata
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

zoneinfo.reset_tzpath(to=())  # no system zone files: only the pinned tzdata package
ZONES = frozenset(zoneinfo.available_timezones())

# The fields `due_at` is computed from: a write that changes one needs all three.
DUE_FIELDS = frozenset({"due_date", "due_time", "timezone"})
# The columns derived here, never sent by a client.
DERIVED = ("title_key", "description_key", "tag_keys", "due_at")


def case_key(text: str) -> str:
    """The form two texts share when they differ only by case or Unicode spelling: `ÉTÉ`, `été`
    and `e` + combining acute + `t` + ... all give `été` (NFKC after full case folding)."""
    return unicodedata.normalize("NFKC", text.casefold())


def due_at(due_date: date | None, due_time: time | None, timezone: str | None) -> datetime | None:
    """The instant the task becomes overdue, in UTC: `due_date` at `due_time` in `timezone`
    (UTC when null); without a time, the start of the next day there.

    A local time that a DST change skips is read with the offset before the change, and one
    that occurs twice means the first: RFC 5545's reading, and what `fold=0` means to zoneinfo.
    """
    if due_date is None:
        return None
    zone = zoneinfo.ZoneInfo(timezone) if timezone else UTC
    if due_time is None:
        local = datetime.combine(due_date + timedelta(days=1), time(0), zone)
    else:
        local = datetime.combine(due_date, due_time, zone)
    return local.astimezone(UTC)


def derived_columns(values: dict[str, Any]) -> dict[str, Any]:
    """The derived columns for the fields in `values`: a key for each text given, and `due_at`
    when the due fields are given (all three: the caller merges a partial change first)."""
    derived: dict[str, Any] = {}
    if "title" in values:
        derived["title_key"] = case_key(values["title"])
    if "description" in values:
        derived["description_key"] = case_key(values["description"] or "")
    if "tags" in values:
        derived["tag_keys"] = [case_key(tag) for tag in values["tags"]]
    if values.keys() >= DUE_FIELDS:
        derived["due_at"] = due_at(values["due_date"], values["due_time"], values["timezone"])
    return derived
