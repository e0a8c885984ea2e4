"""The quick-add reading: one line of text → the fields of a task (`read`).

What is read, and taken out of the title
-----------------------------------------
* `#Name`: the list named `Name`, looked up through the caller's `list_names` (a mapping, matched
  case-insensitively by `derived.case_key`, or a function that does its own matching). A list
  name of several words is written `#"Big Project"`, or plainly `#Big Project`: after `#` the
  longest run of up to five words that names a list wins. A `#Name` that names no list stays in
  the title (`Fix bug #123`). The first one that names a list is read; later ones stay.
* `@tag`: a tag, kept as written (`@"two words"` for one with spaces): 1-40 characters, no
  control characters, as the API's tag rules ask. A tag given twice (in any case) is read once;
  past the API's 20 tags per task, or when it breaks a rule, it stays in the title.
* `p1`, `p2`, `p3`, `p4` (whole words, any case): priority `high`, `medium`, `low`, `none`. The
  first one is read; later ones stay.
* `every …`: the recurrence, read by the `recurrent` library into an RRULE (`every day`, `every
  weekday`, `every 2 weeks on monday`, `every month on the 15th`, `every tuesday and thursday`,
  `every year`, `every monday at 9am`, `every day until 5 January`, `every day starting next
  monday`). Only the word `every` starts one: `Weekly report` is a title. A time in it (`at 9am`)
  becomes the task's due time, since the API's rules have no time of day (no BYHOUR).
* A date and time in words, read by the `dateparser` library (`tomorrow 5pm`, `next monday`, `on 3
  March`, `in 2 days at 9:30`, `at 5pm on friday`, `in 2 hours`, `2026-12-07`): the due date, and
  the due time when one was said, in `zone`. The first one in the text is read; more stay.

The libraries do the reading of words into dates and rules. This module only decides where such
words are, at word boundaries, so that a word that merely contains a date word (`Mayday`, `The
5th Wave`, `Sunday`s inside `Sundays`) is never one: a span of whole words is handed to a library
only when its words have one of the shapes below (each word classed by a small lexicon), and a
library's answer that dropped part of the span is refused:

    date  = today | tomorrow | tonight | [on] [next|this] <weekday> | (on|next|this) <mon/tue…>
          | next <day|week|month|year> | in <n|a> <days|weeks|months|years>
          | [on] <n|nth> [of] <month> [[,] <year>] | [on] the <nth> of <month> [[,] <year>]
          | [on] <month> <n|nth> [[,] <year>] | [on] <YYYY-MM-DD>
    time  = [at] <5pm|5:30pm|17:30|noon|midnight> | [at] <n> <am|pm> | at <0-23>
    shape = date [[,] time] | time [[,] date] | in <n|a> <hours|minutes>

So `Sunday` alone is a date (the coming Sunday), `sat` and `sun` are dates only after `on`,
`next` or `this`, a month needs a day (`May 5`, never `may`), `the 5th` needs a month, and
`at 9` means 9:00 (it reaches dateparser as `at 9:00`, which it reads; bare `at 9` it does not).

Dates are read relative to `now` in `zone`, and prefer the future, as dateparser has it: a
weekday, or a day and month, that names today means the next one (`today` is today); `5pm`
after 5pm is tomorrow. Day arithmetic is wall-clock (`tomorrow` at 00:30 Berlin is the next
Berlin day, whatever the UTC date); `in 2 hours` is an instant, counted in UTC, so it is right
across a DST change. A recurrence with no date of its own starts at its first occurrence on or
after today (or after the date given, or its `starting …`) that is not overdue at `now`: `every
monday` read on a Thursday is due the coming Monday, `every day at 9am` read at 10am tomorrow.

Text in double quotes ("…" or “…”) is kept as written, quotes included, and never read. The
title is what is left, whitespace collapsed (inside quotes it is kept); when nothing is left, the
title is the whole text, whitespace collapsed, and what was read still applies.

The `X-Quick-Add-Parsed` header
-------------------------------
`Reading.parsed` names what was read, in this order, one item each: `list:<name as written>`,
`tag:<tag>` (each), `priority:<high|medium|low|none>`, `due:<YYYY-MM-DD>` or
`due:<YYYY-MM-DDTHH:MM>` (local time in `zone`), `recurrence:<RRULE value>`. `Reading.header` is
the items joined by `, `. Each value is percent-encoded as UTF-8 except ASCII letters, digits and
`-._~:;=/+@`, so the header is printable ASCII, splits on `,`, and `urllib.parse.unquote` gives
each value back: `list:Big%20Project, tag:errand, due:2026-12-07T17:00,
recurrence:FREQ=WEEKLY;BYDAY=MO%2CWE`.

Cost
----
dateparser and recurrent are imported at the first reading (or by `warm_up`, for app start),
never at import of this module.
"""

import re
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from dateutil.rrule import rrulestr

from todo_api.core.models import TAG_MAX, TAGS_PER_TASK, Priority
from todo_api.tasks import recurrence
from todo_api.tasks.derived import case_key, due_at
from todo_api.tasks.schemas import EARLIEST_DUE_DATE, LATEST_DUE_DATE

if TYPE_CHECKING:
    from dateparser.date import DateDataParser

ListNames = Mapping[str, int] | Callable[[str], int | None]


@dataclass(frozen=True, slots=True)
class Reading:
    """What one line of text says: the task's fields, and what was read (`parsed`)."""

    title: str
    list_id: int | None = None
    tags: list[str] = field(default_factory=list)
    priority: str | None = None
    due_date: date | None = None
    due_time: time | None = None
    timezone: str | None = None
    recurrence: str | None = None
    parsed: list[str] = field(default_factory=list)

    @property
    def header(self) -> str:
        """The `X-Quick-Add-Parsed` value: the `parsed` items joined by `, ` (empty: nothing)."""
        return ", ".join(self.parsed)


def read(text: str, *, zone: str, now: datetime, list_names: ListNames) -> Reading:
    """The task that `text` describes, dates read in `zone` relative to `now` (aware). A blank
    text, a naive `now` or an unknown zone is a ValueError: the caller checks those first."""
    if not text.strip():
        raise ValueError("text must not be blank")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tz = zoneinfo.ZoneInfo(zone)
    tokens = _tokens(text)
    taken: set[int] = set()

    list_id, list_name = _read_list(tokens, taken, _lookup(list_names))
    tags = _read_tags(tokens, taken)
    priority = _read_priority(tokens, taken)

    local_now = now.astimezone(tz).replace(tzinfo=None)
    repeat = _read_recurrence(tokens, taken, local_now)
    # A rule's own time (`every day at 9am`) is not overridden by a lone time elsewhere.
    when = _read_date(tokens, taken, now, tz, times=repeat is None or repeat.time is None)

    due_date = when.day if when else None
    due_time = when.time if when else None
    rule = None
    if repeat is not None:
        start = when.day if when and not when.time_only else repeat.start or local_now.date()
        due_time = due_time or repeat.time
        first = _first_due(repeat.rule, start, due_time, zone, now)
        if first is None:  # never due again: the words were not a usable recurrence
            taken -= repeat.indexes
            due_time = when.time if when else None
        else:
            due_date, rule = first, repeat.rule

    parsed = []
    if list_name is not None:
        parsed.append(f"list:{_header_value(list_name)}")
    parsed += [f"tag:{_header_value(tag)}" for tag in tags]
    if priority is not None:
        parsed.append(f"priority:{priority}")
    if due_date is not None:
        at = f"T{due_time:%H:%M}" if due_time is not None else ""
        parsed.append(f"due:{due_date.isoformat()}{at}")
    if rule is not None:
        parsed.append(f"recurrence:{_header_value(rule)}")
    return Reading(
        title=_title(tokens, taken) or _title(tokens, set()) or " ".join(text.split()),
        list_id=list_id,
        tags=tags,
        priority=priority,
        due_date=due_date,
        due_time=due_time,
        timezone=zone if due_date is not None else None,
        recurrence=rule,
        parsed=parsed,
    )


def warm_up() -> None:
    """Import the libraries and read once, so that the first request does not pay for it
    (a few tenths of a second: loading dateparser and its English data): for app start."""
    read(
        "warm up tomorrow 5pm every monday",
        zone="UTC",
        now=datetime.now(UTC),
        list_names={},
    )


# --- Words -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    kind: Literal["word", "punct", "quoted"]
    glued: bool  # no whitespace before it
    key: str  # the lexicon's form: lower case (NFKC), "" for quoted text


_QUOTED = re.compile(r'([#@]?)("[^"]*"|“[^”]*”)')
_TRAILING_PUNCT = re.compile(r"(.*?)([,;.!?]+)", re.DOTALL)


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    for found in _QUOTED.finditer(text):
        tokens += _plain(text, position, found.start())
        glued = found.start() > 0 and not text[found.start() - 1].isspace()
        marker = found[1] and not glued
        tokens.append(_Token(found[0], "word" if marker else "quoted", glued, ""))
        position = found.end()
    tokens += _plain(text, position, len(text))
    return tokens


def _plain(text: str, start: int, end: int) -> Iterator[_Token]:
    for found in re.finditer(r"\S+", text[start:end]):
        at = start + found.start()
        glued = at > 0 and not text[at - 1].isspace()
        word = found[0]
        split = _TRAILING_PUNCT.fullmatch(word)
        if split and split[1]:
            yield _Token(split[1], "word", glued, _key(split[1]))
            yield _Token(split[2], "punct", True, split[2])
        elif split:
            yield _Token(word, "punct", glued, word)
        else:
            yield _Token(word, "word", glued, _key(word))


def _key(word: str) -> str:
    return unicodedata.normalize("NFKC", word).lower()


def _title(tokens: list[_Token], taken: set[int]) -> str:
    kept = [i for i in range(len(tokens)) if i not in taken]
    # A comma or semicolon left at either end belonged to what was read.
    while kept and tokens[kept[0]].kind == "punct":
        kept.pop(0)
    while kept and tokens[kept[-1]].kind == "punct" and tokens[kept[-1]].text[-1] in ",;":
        kept.pop()
    title = ""
    for n, i in enumerate(kept):
        token = tokens[i]
        joined = token.glued and (i - 1 not in taken or token.kind == "punct")
        title += token.text if n == 0 or joined else " " + token.text
    return title


def _header_value(value: str) -> str:
    return quote(value, safe=":;=/+@")


# --- Markers -----------------------------------------------------------------------------------


def _lookup(list_names: ListNames) -> Callable[[str], int | None]:
    if callable(list_names):
        return list_names
    folded = {case_key(name): list_id for name, list_id in list_names.items()}
    return lambda name: folded.get(case_key(name))


def _marked(token: _Token, marker: str) -> str | None:
    """The name after `marker` in a marker word (`#Work`, `#"Big Project"`), or None."""
    if token.kind != "word" or not token.text.startswith(marker) or len(token.text) < 2:
        return None
    name = token.text[1:]
    if name[0] in '"“' and name[-1] in '"”' and len(name) >= 2:
        name = name[1:-1].strip()
    return name or None


_LIST_WORDS = 5


def _read_list(
    tokens: list[_Token], taken: set[int], lookup: Callable[[str], int | None]
) -> tuple[int | None, str | None]:
    for i, token in enumerate(tokens):
        name = _marked(token, "#")
        if name is None or i in taken:
            continue
        following = []
        if not token.text[1:].startswith(('"', "“")):
            for j in range(i + 1, min(i + _LIST_WORDS, len(tokens))):
                if tokens[j].kind != "word" or tokens[j].glued or tokens[j].text[0] in "#@":
                    break
                following.append(j)
        for count in range(len(following), -1, -1):
            words = [name, *(tokens[j].text for j in following[:count])]
            full = " ".join(words)
            list_id = lookup(full)
            if list_id is not None:
                taken.update([i, *following[:count]])
                return list_id, full
    return None, None


def _read_tags(tokens: list[_Token], taken: set[int]) -> list[str]:
    tags: dict[str, str] = {}
    for i, token in enumerate(tokens):
        tag = _marked(token, "@")
        if tag is None or len(tag) > TAG_MAX:
            continue
        if any(unicodedata.category(char) == "Cc" for char in tag):
            continue
        if case_key(tag) not in tags and len(tags) == TAGS_PER_TASK:
            continue
        taken.add(i)
        tags.setdefault(case_key(tag), tag)
    return list(tags.values())


_PRIORITIES = {
    "p1": Priority.HIGH.value,
    "p2": Priority.MEDIUM.value,
    "p3": Priority.LOW.value,
    "p4": Priority.NONE.value,
}


def _read_priority(tokens: list[_Token], taken: set[int]) -> str | None:
    for i, token in enumerate(tokens):
        if token.kind == "word" and token.key in _PRIORITIES:
            taken.add(i)
            return _PRIORITIES[token.key]
    return None


# --- Where dates may be: word classes and shapes -----------------------------------------------

_WEEKDAYS = frozenset(
    {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)
_WEEKDAY_ABBREVIATIONS = frozenset(
    {"mon", "tue", "tues", "wed", "thu", "thur", "thurs", "fri", "sat", "sun"}
)
_MONTHS = frozenset(
    {
        *("january", "february", "march", "april", "may", "june", "july", "august"),
        *("september", "october", "november", "december"),
        *("jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"),
    }
)
_WORD_CLASSES = {
    **dict.fromkeys(("today", "tomorrow", "tonight"), "R"),
    **dict.fromkeys(_WEEKDAYS, "W"),
    **dict.fromkeys(_WEEKDAY_ABBREVIATIONS, "w"),
    **dict.fromkeys(_MONTHS, "M"),
    **dict.fromkeys(("day", "days", "week", "weeks", "month", "months", "year", "years"), "U"),
    **dict.fromkeys(("hour", "hours", "minute", "minutes"), "H"),
    **dict.fromkeys(("noon", "midnight"), "T"),
    **dict.fromkeys(("am", "pm"), "A"),
    **dict.fromkeys(("next", "this"), "n"),
    **dict.fromkeys(("a", "an"), "K"),
    "on": "o",
    "at": "a",
    "in": "i",
    "the": "t",
    "of": "f",
}
_PATTERN_CLASSES = (
    (
        re.compile(r"(?:0?[1-9]|1[0-2])(?::[0-5][0-9])?(?:am|pm)|(?:[01]?[0-9]|2[0-3]):[0-5][0-9]"),
        "T",
    ),
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "I"),
    (re.compile(r"[0-9]{4}"), "Y"),
    (re.compile(r"[0-9]{1,3}"), "N"),
    (re.compile(r"(?:[12]?[0-9]|3[01])(?:st|nd|rd|th)"), "O"),
)
_TIME_STRONG = r"a?(?:T|NA)"
_TIME = rf"(?:{_TIME_STRONG}|aN)"
_DAY = (
    r"(?:R|o?n?W|[on]w|nU|i[NK]U"
    r"|o?[NO]f?M(?:P?Y)?|o?tOfM(?:P?Y)?|o?M[NO](?:P?Y)?|o?I)"
)
_DATE_SHAPE = re.compile(rf"{_DAY}(?:P?{_TIME})?|{_TIME_STRONG}(?:P?{_DAY})?|aN{_DAY}|i[NK]H")
_LONGEST_DATE = 9  # tokens: on the 3rd of March , 2027 at 5pm


def _word_class(token: _Token) -> str:
    if token.kind == "punct":
        return "P" if token.text == "," else "X"
    if token.kind != "word":
        return "X"
    if token.key in _WORD_CLASSES:
        return _WORD_CLASSES[token.key]
    for pattern, word_class in _PATTERN_CLASSES:
        if pattern.fullmatch(token.key):
            return word_class
    return "X"


def _runs(tokens: list[_Token], taken: set[int]) -> Iterator[list[int]]:
    """Maximal runs of plain words and punctuation not yet read: a date never spans a marker or
    quoted text."""
    run: list[int] = []
    for i, token in enumerate(tokens):
        if i in taken or token.kind == "quoted" or token.text[0] in "#@":
            if run:
                yield run
            run = []
        else:
            run.append(i)
    if run:
        yield run


# --- Dates: dateparser -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _When:
    day: date
    time: time | None
    time_only: bool  # `at 5pm`: the day is the library's guess, a recurrence's start wins


def _read_date(
    tokens: list[_Token], taken: set[int], now: datetime, tz: zoneinfo.ZoneInfo, *, times: bool
) -> _When | None:
    for run in _runs(tokens, taken):
        classes = "".join(_word_class(tokens[i]) for i in run)
        for start in range(len(run)):
            for end in range(min(len(run), start + _LONGEST_DATE), start, -1):
                if not _DATE_SHAPE.fullmatch(classes, start, end):
                    continue
                span = run[start:end]
                when = _parse_date([tokens[i] for i in span], classes[start:end], now, tz)
                if when is not None and (times or not when.time_only):
                    taken.update(span)
                    return when
    return None


def _parse_date(
    span: list[_Token], classes: str, now: datetime, tz: zoneinfo.ZoneInfo
) -> _When | None:
    words = []
    for n, token in enumerate(span):
        if (
            classes[n] == "N"
            and n > 0
            and classes[n - 1] == "a"
            and "A" not in classes[n + 1 : n + 2]
        ):
            if int(token.key) > 23:
                return None
            words.append(f"{int(token.key)}:00")  # dateparser reads `at 9` as September
        else:
            words.append(token.text)
    phrase = "".join(w if span[n].kind == "punct" else " " + w for n, w in enumerate(words))
    # An interval of hours is an instant: counted in UTC, then shown in the zone, so that it
    # is right across a DST change. Anything else counts calendar days on the local clock.
    instant = "H" in classes
    base = now.astimezone(UTC if instant else tz).replace(tzinfo=None)
    try:
        found = _date_parser(base).get_date_data(phrase.strip())
    except Exception:  # a library's failure on odd words means only that this is not a date
        return None
    if found.date_obj is None:
        return None
    moment = found.date_obj
    if instant:
        moment = moment.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
    if not EARLIEST_DUE_DATE <= moment.date() <= LATEST_DUE_DATE:
        return None
    has_time = found.period == "time"
    clock = moment.time().replace(second=0, microsecond=0) if has_time else None
    return _When(moment.date(), clock, time_only=set(classes) <= set("aTNAP"))


def _date_parser(base: datetime) -> "DateDataParser":
    from dateparser.date import DateDataParser  # slow to import: at first use only

    return DateDataParser(
        languages=["en"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": base,
            # Naive in, naive out: the zone is applied here, never the machine's.
            "TIMEZONE": "UTC",
            "RETURN_AS_TIMEZONE_AWARE": False,
            # Not timestamps (`1700000000`) nor `1530` as a time: words and dates only.
            "PARSERS": ["relative-time", "absolute-time"],
            "RETURN_TIME_AS_PERIOD": True,
        },
    )


# --- Recurrence: recurrent ---------------------------------------------------------------------

_REPEAT_WORDS = frozenset(
    {
        "other",
        *("first", "second", "third", "fourth", "fifth", "last"),
        *("weekday", "weekdays", "weekend", "weekends", "times"),
        *(f"{day}s" for day in _WEEKDAYS),
    }
)
_REPEAT_CLASSES = frozenset("NOWwMUTAotf")
_LIST_JOINERS = frozenset({"and", ","})
_DATE_TAIL_WORDS = frozenset({"until", "till", "starting", "from"})
_DATE_TAIL_CLASSES = frozenset("RnIYMNOWwotfP")
_FILLERS = frozenset({"on", "the", "of", "and", ",", "at", "in", *_DATE_TAIL_WORDS})
_LONGEST_REPEAT = 16


@dataclass(frozen=True, slots=True)
class _Repeat:
    rule: str
    start: date | None  # from `starting …`
    time: time | None  # from `at …`
    indexes: frozenset[int]


def _read_recurrence(tokens: list[_Token], taken: set[int], local_now: datetime) -> _Repeat | None:
    for run in _runs(tokens, taken):
        for n, i in enumerate(run):
            if tokens[i].key != "every":
                continue
            span = _repeat_span(tokens, run[n:])
            for end in range(len(span), 1, -1):
                words = span[:end]
                if tokens[words[-1]].key in _FILLERS:
                    continue
                repeat = _parse_repeat([tokens[j] for j in words], local_now)
                if repeat is not None:
                    taken.update(words)
                    return _Repeat(repeat.rule, repeat.start, repeat.time, frozenset(words))
    return None


def _repeat_span(tokens: list[_Token], run: list[int]) -> list[int]:
    """`every` and the words after it that may belong to a rule: where recurrent is asked."""
    span = run[:1]
    in_date = False
    for position, i in enumerate(run[1:_LONGEST_REPEAT], start=1):
        token, word_class = tokens[i], _word_class(tokens[i])
        after = tokens[run[position + 1]] if position + 1 < len(run) else None
        if token.key in _DATE_TAIL_WORDS:
            in_date = True
        elif in_date and word_class not in _DATE_TAIL_CLASSES:
            break
        elif token.key in _LIST_JOINERS:
            # `and` and `,` join days (`tuesday and thursday`); recurrent drops anything else.
            if after is None or (_word_class(after) not in "Ww" and after.key not in _REPEAT_WORDS):
                break
        elif token.key == "in":
            if after is None or _word_class(after) != "M":  # `every day in december`
                break
        elif token.key == "at":
            if after is None or _word_class(after) not in "TN":
                break
        elif not in_date and word_class not in _REPEAT_CLASSES and token.key not in _REPEAT_WORDS:
            break
        span.append(i)
    return span


_RULE_LINE = re.compile(r"(?:DTSTART:(?P<start>[0-9]{8})(?:T[0-9]{6})?\n)?RRULE:(?P<rule>\S+)")


def _parse_repeat(span: list[_Token], local_now: datetime) -> _Repeat | None:
    phrase = " ".join(token.text for token in span).replace(" ,", ",")
    try:
        answer = _recurring_event(local_now).parse(phrase)
    except Exception:  # a library's failure on odd words means only that this is no rule
        return None
    found = _RULE_LINE.fullmatch(answer) if isinstance(answer, str) else None
    if found is None:
        return None
    parts = dict(part.partition("=")[::2] for part in found["rule"].split(";"))
    due_time = None
    if "BYHOUR" in parts or "BYMINUTE" in parts:
        hour, minute = parts.pop("BYHOUR", "0"), parts.pop("BYMINUTE", "0")
        if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
            return None  # several times a day (`at 9am and 5pm`), or no time at all (`at 25`)
        due_time = time(int(hour), int(minute))
    if parts.pop("BYSECOND", "0") != "0":
        return None
    # An interval is said right after `every` (`every 2 weeks`, `every other day`); recurrent
    # also takes one from elsewhere (`every year on 3 march` → every 3 years), which is refused.
    interval = parts.pop("INTERVAL", "1")
    said = span[1].key if len(span) > 1 else ""
    said = {"other": "2", "second": "2", "third": "3"}.get(said, said.rstrip("stndrh"))
    if interval != "1" and interval != said:
        return None
    freq = parts.pop("FREQ", "")
    ordered = [f"FREQ={freq}", *([f"INTERVAL={interval}"] if interval != "1" else [])]
    rule = ";".join(ordered + [f"{name}={value}" for name, value in parts.items()])
    try:
        rule = recurrence.check(rule)
    except ValueError:
        return None
    start = datetime.strptime(found["start"], "%Y%m%d").date() if found["start"] else None
    return _Repeat(rule, start, due_time, frozenset())


def _recurring_event(local_now: datetime) -> Any:
    # recurrent ships no type hints; its `parse` answers a str, a datetime or None.
    from recurrent.event_parser import RecurringEvent  # type: ignore[import-untyped]

    # It makes its parsedatetime Calendar the old way, which warns (a PendingDeprecation-
    # Warning: shown only under test runners).
    return RecurringEvent(now_date=local_now)


def _first_due(
    rule: str, start: date, due_time: time | None, zone: str, now: datetime
) -> date | None:
    """The first day on or after `start` that the rule's days allow and that is not overdue at
    `now`: the series is then anchored there. COUNT counts from that day, and INTERVAL counts
    from it too, so neither may skip it (dateutil would start `every 2 weeks on monday`, read on
    a Thursday, at the Monday after next)."""
    unanchored = ("COUNT=", "INTERVAL=")
    unbounded = ";".join(part for part in rule.split(";") if not part.startswith(unanchored))
    first = datetime.combine(start, due_time or time(0))
    try:
        for occurrence in islice(rrulestr(unbounded, dtstart=first), 8):
            due = due_at(occurrence.date(), due_time, zone)
            if due is not None and due > now and occurrence.date() <= LATEST_DUE_DATE:
                return occurrence.date()
    except ValueError:  # dateutil walked past the year 9999
        return None
    return None


__all__ = ["ListNames", "Reading", "read", "warm_up"]
