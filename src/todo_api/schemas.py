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


class TaskCreate(BaseModel):
    # Unknown fields (a client echoing `id` or `user_id` back) are ignored, never stored.
    model_config = ConfigDict(strict=True)

    title: Title
    description: Description = None


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


class TaskUpdate(BaseModel):
    """A PUT body; a field left out keeps its stored value."""

    model_config = ConfigDict(strict=True)

    title: Title
    description: Description = None
    completed: bool | None = Field(
        default=None,
        description="Left unchanged when omitted",
        json_schema_extra=not_null_in_schema,
    )

    @field_validator("completed")
    @classmethod
    def _not_null(cls, value: bool | None) -> bool:
        # Runs only for a value the client sent: an explicit null is an error, not "unchanged".
        if value is None:
            raise ValueError("must be true or false")
        return value


class TaskPublic(BaseModel):
    id: int
    user_id: str
    title: str
    description: str | None
    completed: bool
    created_at: datetime
    updated_at: datetime


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
