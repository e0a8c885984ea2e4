"""What clients send and receive: request bodies, the task as shown, and the error shape."""

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
)

from todo_api.errors import error_codes
from todo_api.models import DESCRIPTION_MAX, TITLE_MAX

_CANONICAL_INTEGER = re.compile(r"0|-?[1-9][0-9]*")


def canonical_integer(value: object) -> object:
    """An integer spelt one way only: `10`, never `010`, `+10`, `1_0` or ` 10` (which Python's
    `int()` reads as 10), so that every spelling of an id is either that id or an error."""
    if isinstance(value, str) and not _CANONICAL_INTEGER.fullmatch(value):
        raise ValueError("must be a decimal integer without sign, spaces or leading zeros")
    return value


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here so both databases answer alike.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
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
    AfterValidator(_storable),
    Field(
        description="1 to 200 characters after trimming surrounding whitespace",
        json_schema_extra={"pattern": TITLE_PATTERN},
    ),
]
Description = Annotated[
    str | None,
    StringConstraints(max_length=DESCRIPTION_MAX),
    AfterValidator(lambda v: None if v is None else _storable(v)),
    Field(
        description="At most 1000 characters; empty string allowed",
        json_schema_extra={"pattern": NO_NUL_PATTERN},
    ),
]


def not_null_in_schema(schema: dict[str, Any]) -> None:
    """For an optional field whose null is refused: the published schema offers the value's own
    type, not null, and no default ("omitted" is the default, not a null a client may send).

    Typed `X | None` rather than `X | SkipJsonSchema[None]`: a union of two types makes
    pydantic name each member in its errors (`completed.bool`, `completed.none`), where a
    client expects its own field's name."""
    options = [option for option in schema.pop("anyOf", []) if option.get("type") != "null"]
    if options:
        schema.update(options[0])
    schema.pop("default", None)


def _omitted(description: str) -> Any:
    return Field(default=None, description=description, json_schema_extra=not_null_in_schema)


class TaskCreate(BaseModel):
    """A POST body. Every field is a column of `tasks` of the same name: the store writes them
    all, so a field added here is stored without another list to update."""

    # Unknown fields (a client echoing `id` or `user_id` back) are ignored, never stored.
    model_config = ConfigDict(strict=True)

    title: Title
    description: Description = None


class TaskPatch(BaseModel):
    """A PATCH body, a JSON Merge Patch (RFC 7396): a field present changes, a field absent
    stays; `null` clears `description`, and is refused where a field cannot be empty. These are
    the fields any write may change, each a column of `tasks` of the same name."""

    model_config = ConfigDict(strict=True)

    title: Title | None = _omitted("Left unchanged when omitted; never null")
    description: Description = None
    completed: bool | None = _omitted(
        "Left unchanged when omitted; `completed_at` follows it, set when it becomes true"
    )

    @field_validator("title", "completed")
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
    completed_at: datetime | None = Field(
        description="When the task last became completed; null while it is not"
    )
    version: int = Field(
        description="1 on create, one more on every change; the task's ETag is this number"
    )


class ErrorBody(BaseModel):
    """The one error shape of every non-2xx answer."""

    detail: str = Field(examples=["Task not found"])
    error_code: str = Field(
        examples=["TASK_NOT_FOUND"], json_schema_extra={"enum": list[JsonValue](error_codes())}
    )
    field_errors: dict[str, list[str]] | None = Field(
        default=None,
        description="Present on 422 only: messages by field name",
        json_schema_extra=not_null_in_schema,
    )
