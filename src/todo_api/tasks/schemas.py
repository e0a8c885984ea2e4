"""What clients send and receive: request bodies, the task as shown, and the error shape."""

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic.config import JsonDict

from todo_api.core.bodies import RequestBody, not_null_in_schema, storable
from todo_api.core.models import (
    DESCRIPTION_MAX,
    RECURRENCE_MAX,
    REMINDER_MAX_MINUTES,
    REMINDERS_PER_TASK,
    TAG_MAX,
    TAGS_PER_TASK,
    TIMEZONE_MAX,
    TITLE_MAX,
    Priority,
)
from todo_api.tasks import recurrence
from todo_api.tasks.derived import ZONES, case_key

_CANONICAL_INTEGER = re.compile(r"0|-?[1-9][0-9]*")


def canonical_integer(value: object) -> object:
    """An integer spelt one way only: `10`, never `010`, `+10`, `1_0` or ` 10` (which Python's
    `int()` reads as 10), so that every spelling of an id is either that id or an error."""
    if isinstance(value, str) and not _CANONICAL_INTEGER.fullmatch(value):
        raise ValueError("must be a decimal integer without sign, spaces or leading zeros")
    return value


# The whitespace that title trimming removes (Unicode White_Space), spelled for a JSON Schema
# pattern, so that the published schema says exactly what the validators accept: no NUL, and a
# title that is not only whitespace.
_WHITESPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TITLE_PATTERN = rf"^[^\x00]*[^\x00{_WHITESPACE}][^\x00]*$"
NO_NUL_PATTERN = r"^[^\x00]*$"

Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX),
    AfterValidator(storable),
    Field(
        description="1 to 200 characters after trimming surrounding whitespace",
        json_schema_extra={"pattern": TITLE_PATTERN},
    ),
]
Description = Annotated[
    str | None,
    StringConstraints(max_length=DESCRIPTION_MAX),
    AfterValidator(lambda v: None if v is None else storable(v)),
    Field(
        description="At most 1000 characters; empty string allowed",
        json_schema_extra={"pattern": NO_NUL_PATTERN},
    ),
]


# The due dates a task may have: the instant it is due must exist in every zone.
EARLIEST_DUE_DATE = date(1900, 1, 1)
LATEST_DUE_DATE = date(9998, 12, 31)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _date(value: object) -> object:
    if value is None or isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a real date, YYYY-MM-DD") from None
        if EARLIEST_DUE_DATE <= day <= LATEST_DUE_DATE:
            return day
        raise ValueError(f"must be between {EARLIEST_DUE_DATE} and {LATEST_DUE_DATE}")
    raise ValueError("must be a date, YYYY-MM-DD")


def _time(value: object) -> object:
    if value is None or isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(TIME_PATTERN, value):
        return time.fromisoformat(value)
    raise ValueError("must be a time of day, HH:MM (00:00 to 23:59)")


# Zone names compare case-sensitively, so `europe/berlin` is refused; this names the zone it
# meant instead of leaving the user to guess what is wrong with it.
_ZONES_BY_KEY = {case_key(zone): zone for zone in ZONES}


def _zone(value: str | None) -> str | None:
    if value is None or value in ZONES:
        return value
    meant = _ZONES_BY_KEY.get(case_key(value))
    if meant is not None:
        raise ValueError(f"unknown time zone {value!r}; did you mean {meant!r}?")
    raise ValueError(
        f"unknown time zone {value!r}; it must be an IANA time zone name, such as "
        "Europe/Berlin or UTC"
    )


# The years EARLIEST_DUE_DATE to LATEST_DUE_DATE, for the published schema.
_DUE_YEAR = r"(19[0-9]{2}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
DueDate = Annotated[
    date | None,
    BeforeValidator(_date),
    Field(
        description="The day the task is due, YYYY-MM-DD (1900 to 9998); null for none",
        json_schema_extra={"pattern": rf"^{_DUE_YEAR}-[0-9]{{2}}-[0-9]{{2}}$"},
    ),
]
DueTime = Annotated[
    time | None,
    BeforeValidator(_time),
    WithJsonSchema({"anyOf": [{"type": "string", "pattern": TIME_PATTERN}, {"type": "null"}]}),
    Field(description="The time of day it is due, HH:MM; only with a due_date"),
]
TimeZone = Annotated[
    str | None,
    StringConstraints(max_length=TIMEZONE_MAX),
    AfterValidator(_zone),
    Field(
        description="IANA zone of due_date and due_time (Europe/Berlin); null means UTC",
        json_schema_extra={"enum": [*sorted(ZONES), None]},
    ),
]
# A tag: trimmed, 1 to 40 characters, no control characters (C0, DEL, C1).
TAG_PATTERN = rf"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x1f\x7f-\x9f{_WHITESPACE}][^\x00-\x1f\x7f-\x9f]*$"
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=TAG_MAX),
    Field(json_schema_extra={"pattern": TAG_PATTERN}),
]


def _without_control_characters(tag: str) -> str:
    if any(unicodedata.category(char) == "Cc" for char in tag):
        raise ValueError("must not contain control characters")
    return tag


def _distinct(tags: list[str]) -> list[str]:
    """In the order given, each tag once: `Work` and `work` are the same tag, the first kept."""
    seen: dict[str, str] = {}
    for tag in tags:
        seen.setdefault(case_key(tag), tag)
    return list(seen.values())


Tags = Annotated[
    list[Annotated[Tag, AfterValidator(_without_control_characters)]],
    Field(
        max_length=TAGS_PER_TASK,
        description="Up to 20 tags of 1 to 40 characters, in the order given; a tag given "
        "twice (whatever its case) is kept once, and spelled as the user first spelled it",
    ),
    AfterValidator(_distinct),
]

Recurrence = Annotated[
    str | None,
    StringConstraints(min_length=1, max_length=RECURRENCE_MAX),
    AfterValidator(lambda rule: None if rule is None else recurrence.check(rule)),
    Field(
        description="How the task repeats: an RFC 5545 RRULE value without `RRULE:` "
        "(`FREQ=WEEKLY;BYDAY=MO,WE`), FREQ DAILY to YEARLY, ended by COUNT or UNTIL if at all; "
        "completing the task creates its next occurrence. Needs a due_date; null for none",
        examples=["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "FREQ=MONTHLY;BYMONTHDAY=-1"],
    ),
]


def _distinct_ascending(minutes: list[int]) -> list[int]:
    if len(set(minutes)) != len(minutes):
        raise ValueError("must not name the same number of minutes twice")
    return sorted(minutes)


def _whole_number(value: object) -> object:
    # JSON has one number type: `15.0` is the integer 15 (as JSON Schema's "integer" says).
    return int(value) if isinstance(value, float) and value.is_integer() else value


Reminders = Annotated[
    list[Annotated[int, Field(ge=0, le=REMINDER_MAX_MINUTES), BeforeValidator(_whole_number)]],
    Field(
        max_length=REMINDERS_PER_TASK,
        description="Minutes before due_at to remind (0 to 40320, four weeks), at most 5, "
        "distinct; returned ascending. A non-empty list needs a due_date",
        json_schema_extra={"uniqueItems": True},
    ),
    AfterValidator(_distinct_ascending),
]

PriorityLevel = Annotated[
    Priority, Field(strict=False, description="`none` (the default), `low`, `medium` or `high`")
]


NEEDS_A_DUE_DATE = "needs a due_date: the task has none"
# The fields that only a task with a due date may have (reminders: when not empty).
NEED_A_DUE_DATE = ("due_time", "recurrence", "reminders")


def lacking_a_due_date(values: dict[str, Any]) -> list[str]:
    """Which of NEED_A_DUE_DATE the task would have without a due_date."""
    if values.get("due_date") is not None:
        return []
    return [name for name in NEED_A_DUE_DATE if values.get(name)]


# In the published schema: each of them given (not null, not empty) comes with a due_date that
# is not null; in a patch, one the client sends (or the task already has: that part no schema
# can say).
_GIVEN: dict[str, JsonDict] = {
    "due_time": {"type": "string"},
    "recurrence": {"type": "string"},
    "reminders": {"type": "array", "minItems": 1},
}
_DATE_NOT_NULL: JsonDict = {"properties": {"due_date": {"type": "string"}}}


def _each_needs_a_date(required: bool) -> JsonDict:
    then: JsonDict = {**_DATE_NOT_NULL, "required": ["due_date"]} if required else _DATE_NOT_NULL
    rules: list[JsonValue] = [
        {"if": {"properties": {name: given}, "required": [name]}, "then": then}
        for name, given in _GIVEN.items()
    ]
    return {"allOf": rules}


def _omitted(description: str) -> Any:
    return Field(default=None, description=description, json_schema_extra=not_null_in_schema)


def _task_body_schema(required: bool) -> Callable[[JsonDict], None]:
    """A task body's published schema: its fields, then the fields only read (accepted with any
    value, and ignored), then its rules about due dates."""

    def complete(schema: JsonDict) -> None:
        properties = schema.setdefault("properties", {})
        assert isinstance(properties, dict)
        for name in sorted(READ_ONLY_TASK_FIELDS):
            properties[name] = {"readOnly": True, "description": "Read-only: ignored if sent"}
        schema.update(_each_needs_a_date(required))

    return complete


class TaskCreate(RequestBody):
    """A POST body. Every field is a column of `tasks` of the same name: the store writes them
    all, so a field added here is stored without another list to update."""

    model_config = ConfigDict(json_schema_extra=_task_body_schema(required=True))

    @classmethod
    def ignored_fields(cls) -> frozenset[str]:
        # A client may send back the task as it read it.
        return READ_ONLY_TASK_FIELDS

    title: Title
    description: Description = None
    completed: StrictBool = Field(
        default=False, description="`completed_at` is set to now when it is true"
    )
    priority: PriorityLevel = Priority.NONE
    tags: Tags = Field(default_factory=list)
    due_date: DueDate = None
    due_time: DueTime = None
    timezone: TimeZone = None
    recurrence: Recurrence = None
    reminders: Reminders = Field(default_factory=list)

    @field_validator(*NEED_A_DUE_DATE)
    @classmethod
    def _has_a_date(cls, value: object, info: ValidationInfo) -> object:
        # A due_date that failed validation has its own error; this one is for a missing date.
        if value and "due_date" in info.data and info.data["due_date"] is None:
            raise ValueError(NEEDS_A_DUE_DATE)
        return value


class TaskPatch(RequestBody):
    """A PATCH body, a JSON Merge Patch (RFC 7396): a field present changes, a field absent
    stays; `null` clears `description`, `due_date`, `due_time`, `timezone` and `recurrence`, and
    is a 422 for `title`, `completed`, `priority`, `tags` and `reminders`. These are the fields
    any write may change, each a column of `tasks` of the same name."""

    model_config = ConfigDict(json_schema_extra=_task_body_schema(required=False))

    @classmethod
    def ignored_fields(cls) -> frozenset[str]:
        return READ_ONLY_TASK_FIELDS

    title: Title | None = _omitted("Left unchanged when omitted; never null")
    description: Description = None
    completed: bool | None = _omitted(
        "Left unchanged when omitted; `completed_at` follows it, set when it becomes true"
    )
    priority: Annotated[Priority | None, Field(strict=False)] = _omitted(
        "`none`, `low`, `medium` or `high`; left unchanged when omitted; never null"
    )
    tags: Tags | None = _omitted("The task's tags, all of them; left unchanged when omitted")
    due_date: DueDate = None
    due_time: DueTime = None
    timezone: TimeZone = None
    recurrence: Recurrence = None
    reminders: Reminders | None = _omitted(
        "Minutes before due_at to remind, all of them; left unchanged when omitted"
    )

    @field_validator("title", "completed", "priority", "tags", "reminders")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for a value the client sent: an explicit null is an error, not "unchanged".
        if value is None:
            raise ValueError("must not be null")
        return value


class TaskUpdate(TaskPatch):
    """A PUT body: `title` is required; another field left out keeps its stored value."""

    title: Title


class TaskPublic(BaseModel):
    """What a client sees of a task, in this order: the one definition. The database writes
    this JSON itself (`task_json`, each value formatted by its type here), and the tests check
    every answer against it."""

    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime
    priority: Priority
    tags: list[str]
    due_date: date | None
    due_time: Annotated[
        time | None,
        WithJsonSchema({"anyOf": [{"type": "string", "pattern": TIME_PATTERN}, {"type": "null"}]}),
    ]
    timezone: str | None
    due_at: datetime | None = Field(
        description="When the task becomes overdue: due_date at due_time in timezone (without "
        "a time, the start of the next day there), in UTC; null without a due_date"
    )
    completed_at: datetime | None = Field(
        description="When the task last became completed; null while it is not"
    )
    version: int = Field(
        description="1 on create, one more on every change; the task's ETag is this number"
    )
    recurrence: str | None
    reminders: list[int]
    next_task_id: int | None = Field(
        description="The next occurrence, created when this recurring task was completed"
    )


class TagRename(RequestBody):
    name: Annotated[Tag, AfterValidator(_without_control_characters)]


# What a client reads of a task but cannot write: accepted in a body and ignored.
READ_ONLY_TASK_FIELDS = frozenset(TaskPublic.model_fields) - frozenset(TaskPatch.model_fields)


class TagSummary(BaseModel):
    """One of a user's tags: how many of their tasks carry it, and how many of those are
    pending."""

    name: str = Field(description="As the user first spelled it")
    tasks: int
    pending: int
