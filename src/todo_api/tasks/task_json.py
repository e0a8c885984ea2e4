"""How a task becomes the JSON that clients receive: built by the database, in the statement that
reads or writes it, from the one definition of what a client sees (`schemas.TaskPublic`).

Why in the database: a list answer is then one text value that the service passes through,
instead of 350 values converted to Python objects, tagged with time zones and encoded back to
JSON, which was about a sixth of a list request's time in the profile (docs/benchmarks.md).

Both databases give the same JSON (PostgreSQL spaces it as `"id" : 1`, SQLite as `"id":1`): keys
in TaskPublic's order, each value formatted by its declared type: a datetime in UTC as
`YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (always six fractional digits), a date as `YYYY-MM-DD`, a
time as `HH:MM`, an enum stored as its rank as the member's name, a bool as a JSON boolean.
"""

import types
from datetime import UTC, datetime, time
from enum import Enum
from typing import Any, Union, get_args, get_origin

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    case,
    cast,
    func,
    inspect,
    literal_column,
    select,
    type_coerce,
)
from sqlmodel import col

from todo_api.core.models import Task
from todo_api.tasks.schemas import TaskPublic


def instant_text(moment: datetime) -> str:
    """A datetime as the database writes one into a task's JSON, for JSON built in Python."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# The databases the service runs on, by SQLAlchemy dialect name.
DIALECTS = ("postgresql", "sqlite")
_COLUMNS = inspect(Task).columns


def _value_type(annotation: Any) -> Any:
    """`datetime | None` → datetime: the type a value has when it is not null."""
    if get_origin(annotation) in (Union, types.UnionType):
        (kind,) = (arg for arg in get_args(annotation) if arg is not type(None))
        return kind
    return annotation


# Each field a client sees, with the type that decides how the database writes its value.
FIELDS = {name: _value_type(field.annotation) for name, field in TaskPublic.model_fields.items()}


def _key(name: str) -> ColumnElement[Any]:
    # A literal rather than a bound parameter: PostgreSQL cannot infer the type of a parameter
    # passed to json_build_object's variadic "any".
    return literal_column(f"'{name}'")


def _enum_value(column: ColumnElement[Any], kind: type[Enum]) -> ColumnElement[Any]:
    # Stored as its rank (`models.PriorityRank`): the rank's name. Literals, not parameters:
    # the statement is the same text for every request.
    rank = type_coerce(column, Integer())
    names: list[tuple[ColumnElement[bool], ColumnElement[str]]] = [
        (rank == literal_column(str(number)), literal_column(f"'{member.value}'"))
        for number, member in enumerate(kind)
    ]
    return case(*names)


def _postgresql_value(column: ColumnElement[Any], kind: Any) -> ColumnElement[Any]:
    if kind is datetime:
        utc = func.timezone(literal_column("'UTC'"), column)
        return func.to_char(utc, literal_column('\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\''))
    if kind is time:
        return func.to_char(column, literal_column("'HH24:MI'"))
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _enum_value(column, kind)
    return column


def _sqlite_value(column: ColumnElement[Any], kind: Any) -> ColumnElement[Any]:
    if kind is time:
        # Stored by SQLAlchemy as `HH:MM:SS.ffffff`.
        return func.substr(column, 1, 5)
    if get_origin(kind) is list:
        # Stored as JSON text: json() nests it as an array, not a string.
        return func.json(column)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _enum_value(column, kind)
    if kind is datetime:
        # Stored by SQLAlchemy, already in UTC, as `YYYY-MM-DD HH:MM:SS.ffffff`; null stays null.
        return func.replace(column, literal_column("' '"), literal_column("'T'")) + "+00:00"
    if kind is bool:
        # Stored as 0 or 1: json() turns the literal into a JSON boolean inside json_object.
        return func.json(case((column, literal_column("'true'")), else_=literal_column("'false'")))
    return column


def _pairs(dialect: str) -> list[ColumnElement[Any]]:
    value = _postgresql_value if dialect == "postgresql" else _sqlite_value
    return [
        part for name, kind in FIELDS.items() for part in (_key(name), value(_COLUMNS[name], kind))
    ]


def task_object(dialect: str) -> ColumnElement[str]:
    """One task row as a JSON object, as text."""
    if dialect == "postgresql":
        return cast(func.json_build_object(*_pairs(dialect)), Text)
    return func.json_object(*_pairs(dialect), type_=Text)


def task_array(dialect: str, where: ColumnElement[bool]) -> Select[str]:
    """The tasks matching `where`, ordered by id, as one JSON array (`[]` when none)."""
    if dialect == "postgresql":
        # json_agg of the formatted rows themselves, not of a json_build_object per row: a
        # quarter less database time for a list of 50 (docs/benchmarks.md), and compact JSON.
        value = _postgresql_value
        rows = (
            select(*(value(_COLUMNS[name], kind).label(name) for name, kind in FIELDS.items()))
            .where(where)
            .subquery("task")
        )
        array = func.json_agg(rows.table_valued()).aggregate_order_by(rows.c.id)
        return select(cast(func.coalesce(array, literal_column("'[]'::json")), Text))
    # SQLite 3.40 has no ORDER BY inside an aggregate: json_group_array keeps the order of an
    # ordered subquery (which SQLite does not flatten into an aggregate query).
    ordered = select(task_object(dialect).label("task")).where(where).order_by(col(Task.id))
    return select(func.json_group_array(func.json(ordered.subquery().c.task), type_=Text))
