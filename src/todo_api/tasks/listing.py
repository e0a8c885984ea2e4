"""Lists of one user's tasks: the query parameters, declared once, composed into one statement
(filters, sort keys, a keyset cursor), and the cursor itself.

Pages are keyset pages: a page continues after the last task of the one before, by the sort
keys and then `id`, never by an offset. A walk through all pages returns every task that
existed unchanged throughout exactly once, whatever else is created, changed or deleted
meanwhile, and page 5,000 costs what page 1 costs (an index range scan where an index gives
the order: `models.Task`'s indexes).

Tasks with no value for a sort key come after all that have one, in either direction, and ties
end in `id` ascending: the order is total, so "after this task" is exact.
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.config import JsonDict
from sqlalchemy import (
    ColumnElement,
    Select,
    SmallInteger,
    Text,
    and_,
    bindparam,
    false,
    inspect,
    literal,
    or_,
    select,
    true,
    tuple_,
    type_coerce,
)
from sqlalchemy.sql.elements import BindParameter
from sqlmodel import col

from todo_api.core.bodies import storable
from todo_api.core.cursors import ALTERED, LIST_PAGE, seal, unseal
from todo_api.core.errors import InvalidCursor
from todo_api.core.models import (
    SEARCH_KEYS,
    SEARCH_WINDOW,
    Priority,
    Task,
    TaskTag,
    UTCDateTime,
    search_keys,
)
from todo_api.tasks.derived import case_key
from todo_api.tasks.schemas import Tag
from todo_api.tasks.task_json import task_object

MAX_PAGE = 500
# What each sort key compares: a title by its case-folded key, a priority by its rank.
_COLUMNS = inspect(Task).columns
# Each sort key and the column it compares: a title by its case-folded key.
_SORT_COLUMNS = {
    "id": "id",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "due_at": "due_at",
    "priority": "priority",
    "title": "title_key",
    "completed_at": "completed_at",
}
# What each compares; a priority by its rank, not its name.
SORT_KEYS: dict[str, ColumnElement[Any]] = {
    key: type_coerce(_COLUMNS[name], SmallInteger()) if name == "priority" else _COLUMNS[name]
    for key, name in _SORT_COLUMNS.items()
}
_DATETIME_KEYS = frozenset(
    key for key, name in _SORT_COLUMNS.items() if isinstance(_COLUMNS[name].type, UTCDateTime)
)
_NULLABLE = frozenset(key for key, name in _SORT_COLUMNS.items() if _COLUMNS[name].nullable)
_PRIORITIES = list(Priority)


@dataclass(frozen=True, slots=True)
class _NameList:
    """Comma-separated names, each optionally `-`-prefixed if `signed`: the published schema
    says it as a pattern, and the validator refuses an unknown name in words (a regular
    expression is no answer to a misspelt key)."""

    names: tuple[str, ...]
    kind: str
    plural: str
    signed: bool = False

    @property
    def schema(self) -> JsonDict:
        one = ("-?" if self.signed else "") + "(" + "|".join(self.names) + ")"
        return {"pattern": f"^{one}(,{one})*$"}

    def __call__(self, value: str) -> str:
        for given in value.split(","):
            name = given.removeprefix("-") if self.signed else given
            if name not in self.names:
                listed = ", ".join(self.names)
                signs = ", each optionally prefixed with - for descending" if self.signed else ""
                raise ValueError(
                    f"unknown {self.kind} {name!r}; the {self.plural} are {listed}{signs}"
                )
        return value


# An instant as RFC 3339 writes it, offset included (not a number of seconds, which pydantic
# would also read as a time).
_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _instant(value: object) -> object:
    if isinstance(value, str) and _INSTANT.fullmatch(value):
        return value
    if isinstance(value, str):
        # A `+` sent unencoded in a query string arrives as a space: the user did send an
        # offset, so the answer says how to send it rather than that it is missing.
        before, space, after = value.rpartition(" ")
        if space and _INSTANT.fullmatch(f"{before}+{after}"):
            raise ValueError(
                "has a space where its offset's + belongs: a + in a URL's query string means a "
                f"space, so send it as %2B ({before}%2B{after})"
            )
    raise ValueError("must be a date and time with its offset, such as 2026-05-04T09:00:00+02:00")


Instant = Annotated[AwareDatetime, BeforeValidator(_instant)]

_PRIORITY_LIST = _NameList(tuple(p.value for p in Priority), "priority", "levels")
_SORT_LIST = _NameList(tuple(SORT_KEYS), "sort key", "keys", signed=True)
_Priorities = Annotated[
    str, AfterValidator(_PRIORITY_LIST), Field(json_schema_extra=_PRIORITY_LIST.schema)
]
_SortKeys = Annotated[str, AfterValidator(_SORT_LIST), Field(json_schema_extra=_SORT_LIST.schema)]


def _search(text: str | None) -> str | None:
    # An emptied search box sends `q=`: no search, as without `q`, rather than a 422.
    return storable(text) if text else None


class ListParams(BaseModel):
    """The query parameters of `GET /api/{user_id}/tasks`, all optional, combined with AND. An
    unknown parameter is a 422, so a misspelt filter never silently answers everything."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["all", "pending", "completed"] = Field(
        default="all", description="`pending`: not completed; `completed`: completed"
    )
    priority: _Priorities | None = Field(
        default=None,
        description="One or more of `none`, `low`, `medium`, `high`, comma-separated "
        "(`high,medium`)",
    )
    tag: list[Tag] = Field(
        default_factory=list,
        description="Repeatable: tasks that carry every tag given, case-insensitively",
    )
    q: Annotated[str | None, StringConstraints(max_length=200), AfterValidator(_search)] = Field(
        default=None,
        description="Tasks whose title or description contains this text, case-insensitively "
        "in any script; `%`, `_` and `\\` are ordinary characters. Empty: no search",
    )
    due_after: Instant | None = Field(
        default=None, description="Tasks due at or after this instant (ISO 8601 with offset)"
    )
    due_before: Instant | None = Field(
        default=None, description="Tasks due before this instant (ISO 8601 with offset)"
    )
    has_due: bool | None = Field(
        default=None, description="Only tasks with (or without) a due date"
    )
    sort: _SortKeys = Field(
        default="id",
        description=f"Keys among {', '.join(SORT_KEYS)}, comma-separated, each `-` for "
        "descending. Tasks with no value come last; ties end in id ascending "
        "(`-priority,due_at`); a key given again is ignored",
    )
    limit: Annotated[int, Field(ge=1, le=MAX_PAGE)] | None = Field(
        default=None,
        description="Answer one page of at most this many tasks; a `Link` header with "
        '`rel="next"` leads to the next one',
    )
    cursor: Annotated[str, StringConstraints(min_length=1)] | None = Field(
        default=None, description="Continue after the previous page: only from its `Link`"
    )

    @property
    def sort_keys(self) -> tuple[tuple[str, bool], ...]:
        """(key, descending) for each key asked for, then `id` ascending unless it was asked."""
        keys: dict[str, bool] = {}
        for key in self.sort.split(","):
            keys.setdefault(key.removeprefix("-"), key.startswith("-"))
        return (*keys.items(), *(() if "id" in keys else (("id", False),)))

    @property
    def priorities(self) -> list[int]:
        """The ranks of the priority levels asked for."""
        levels = {Priority(level) for level in (self.priority or "").split(",") if level}
        return sorted(_PRIORITIES.index(level) for level in levels)

    @property
    def tag_keys(self) -> list[str]:
        """Each tag asked for once, as tags compare: case-folded."""
        return sorted({case_key(tag) for tag in self.tag})

    def fingerprint(self) -> str:
        """What a cursor must have been made for: the same filters and sort (a page's size may
        change between pages)."""
        asked = self.model_dump(mode="json", exclude={"limit", "cursor"})
        asked |= {
            "priority": self.priorities,
            "sort": self.sort_keys,
            "tag": self.tag_keys,
        }
        canonical = orjson.dumps(asked, option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(canonical, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Page:
    """A list's body (a JSON array), and where the next page starts, if one does."""

    body: str
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class _Shape:
    """What decides a list statement's SQL: it is built once per shape and reused."""

    dialect: str
    status: str
    priorities: bool
    tags: int
    q: bool
    # Whether the search index finds the candidates (PostgreSQL, and `q` long enough for it).
    q_indexed: bool
    due_after: bool
    due_before: bool
    has_due: bool | None
    sort_keys: tuple[tuple[str, bool], ...]
    # For each sort key, whether the cursor's value is null (the comparison differs).
    after_nulls: tuple[bool, ...] | None
    limit: bool


def _order(sort_keys: tuple[tuple[str, bool], ...]) -> list[ColumnElement[Any]]:
    return [
        (SORT_KEYS[name].desc() if descending else SORT_KEYS[name].asc()).nulls_last()
        for name, descending in sort_keys
    ]


def _after(sort_keys: tuple[tuple[str, bool], ...], nulls: tuple[bool, ...]) -> ColumnElement[bool]:
    """Rows that come after the cursor's row in this order: after on the first key, or equal on
    it and after on the rest. Nulls come last in either direction.

    Keys that cannot be null, all ascending (`id`; `title` then `id`): one row comparison,
    `(title_key, id) > (:v, :id)`, which PostgreSQL reads as the start of an index range, so a
    page 5,000 deep reads one page of rows. Otherwise the expanded form, correct in every order
    but read by PostgreSQL as a filter."""
    if all(name not in _NULLABLE and not descending for name, descending in sort_keys):
        keys = [SORT_KEYS[name] for name, _ in sort_keys]
        values = [_cursor_value(index, name) for index, (name, _) in enumerate(sort_keys)]
        return tuple_(*keys) > tuple_(*values)
    condition: ColumnElement[bool] = false()
    for index in reversed(range(len(sort_keys))):
        name, descending = sort_keys[index]
        key, value = SORT_KEYS[name], _cursor_value(index, name)
        if nulls[index]:
            # Only other nulls tie with a null, and nothing sorts after the nulls.
            condition = and_(key.is_(None), condition)
            continue
        beyond = key < value if descending else key > value
        if name in _NULLABLE:
            beyond = or_(beyond, key.is_(None))
        condition = or_(beyond, and_(key == value, condition))
    return condition


def _cursor_value(index: int, name: str) -> BindParameter[Any]:
    return bindparam(f"after_{index}", type_=SORT_KEYS[name].type)


@cache
def _statement(shape: _Shape) -> Select[Any]:
    conditions: list[ColumnElement[bool]] = [col(Task.user_id) == bindparam("owner_id")]
    if shape.status != "all":
        conditions.append(col(Task.completed).is_(shape.status == "completed"))
    if shape.priorities:
        conditions.append(SORT_KEYS["priority"].in_(bindparam("priorities", expanding=True)))
    for index in range(shape.tags):
        carrying = select(col(TaskTag.task_id)).where(
            col(TaskTag.user_id) == bindparam("owner_id"),
            col(TaskTag.key) == bindparam(f"tag_{index}"),
        )
        conditions.append(_COLUMNS["id"].in_(carrying))
    if shape.q:
        pattern = bindparam("q_pattern", type_=_COLUMNS["title_key"].type)
        conditions.append(
            or_(
                col(Task.title_key).like(pattern, escape="\\"),
                col(Task.description_key).like(pattern, escape="\\"),
            )
        )
    if shape.q_indexed:
        # The task's keys must hold every key of q's windows (q is the "title", no description).
        wanted = search_keys(bindparam("owner_id"), bindparam("q_key", type_=Text()), literal(""))
        conditions.append(SEARCH_KEYS.contains(wanted))
    if shape.due_after:
        conditions.append(
            col(Task.due_at) >= bindparam("due_after", type_=SORT_KEYS["due_at"].type)
        )
    if shape.due_before:
        conditions.append(
            col(Task.due_at) < bindparam("due_before", type_=SORT_KEYS["due_at"].type)
        )
    if shape.has_due is not None:
        due_date = col(Task.due_date)
        conditions.append(due_date.is_not(None) if shape.has_due else due_date.is_(None))
    if shape.after_nulls is not None:
        conditions.append(_after(shape.sort_keys, shape.after_nulls))
    keys = [SORT_KEYS[name] for name, _ in shape.sort_keys]
    statement = (
        select(task_object(shape.dialect), *keys)
        .where(and_(true(), *conditions))
        .order_by(*_order(shape.sort_keys))
    )
    return statement.limit(bindparam("limit")) if shape.limit else statement


def page_statement(
    dialect: str, user_id: str, params: ListParams
) -> tuple[Select[Any], dict[str, Any]]:
    """The statement for one page (or the whole list, without `limit`), and its parameters.
    Each row is one task's JSON followed by its sort keys' values, which a cursor records."""
    sort_keys = params.sort_keys
    after = decode_cursor(params.cursor, params, user_id) if params.cursor else None
    q_key = None if params.q is None else case_key(params.q)
    shape = _Shape(
        dialect=dialect,
        status=params.status,
        priorities=params.priority is not None,
        tags=len(params.tag_keys),
        q=q_key is not None,
        q_indexed=dialect == "postgresql" and q_key is not None and len(q_key) >= SEARCH_WINDOW,
        due_after=params.due_after is not None,
        due_before=params.due_before is not None,
        has_due=params.has_due,
        sort_keys=sort_keys,
        after_nulls=None if after is None else tuple(value is None for value in after),
        limit=params.limit is not None,
    )
    values: dict[str, Any] = {"owner_id": user_id}
    if params.priority is not None:
        values["priorities"] = params.priorities
    values |= {f"tag_{index}": key for index, key in enumerate(params.tag_keys)}
    if q_key is not None:
        values |= {"q_key": q_key, "q_pattern": "%" + _escape_like(q_key) + "%"}
    if params.due_after is not None:
        values["due_after"] = params.due_after
    if params.due_before is not None:
        values["due_before"] = params.due_before
    if after is not None:
        values |= {f"after_{index}": value for index, value in enumerate(after)}
    if params.limit is not None:
        values["limit"] = params.limit + 1  # one more: whether another page follows
    return _statement(shape), values


def page(rows: Sequence[Any], params: ListParams, user_id: str) -> Page:
    """The body of the rows that belong to this page, and the cursor after its last row."""
    more = params.limit is not None and len(rows) > params.limit
    shown = rows[: params.limit] if more else rows
    body = "[" + ",".join(row[0] for row in shown) + "]"
    return Page(body, encode_cursor(tuple(shown[-1][1:]), params, user_id) if more else None)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def encode_cursor(values: tuple[Any, ...], params: ListParams, user_id: str) -> str:
    """Where the next page starts: the last task's sort key values, and the filters and sort
    they are for."""
    keys = [value.isoformat() if isinstance(value, datetime) else value for value in values]
    return seal({"f": params.fingerprint(), "k": keys}, LIST_PAGE, user_id)


def decode_cursor(cursor: str, params: ListParams, user_id: str) -> tuple[Any, ...]:
    payload = unseal(cursor, LIST_PAGE, "cursor", user_id)
    fingerprint, keys = payload.get("f"), payload.get("k")
    if fingerprint != params.fingerprint():
        raise InvalidCursor("This cursor belongs to other filters or another sort")
    if not isinstance(keys, list) or len(keys) != len(params.sort_keys):
        raise InvalidCursor(ALTERED)
    try:
        return tuple(
            _key_value(name, value) for (name, _), value in zip(params.sort_keys, keys, strict=True)
        )
    except (TypeError, ValueError):
        raise InvalidCursor(ALTERED) from None


def _key_value(name: str, value: object) -> Any:
    """A sort key's value from a cursor, of the type its column takes (a forged checksum must
    not get a wrong type or range to the database)."""
    if value is None:
        return None
    if name in _DATETIME_KEYS and isinstance(value, str):
        return datetime.fromisoformat(value)
    if name == "title" and isinstance(value, str) and "\x00" not in value:
        return value
    if name in ("id", "priority") and type(value) is int and -(2**63) <= value < 2**63:
        return value
    raise ValueError(name)
