"""What every JSON body shares, in every area: the base of request bodies (no unknown field is
dropped in silence), the error shape as published, and the text rules every store needs."""

import difflib
from collections.abc import Iterable
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from todo_api.core.errors import error_codes


def storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here so both databases answer alike.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


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


class RequestBody(BaseModel):
    """A JSON request body. A field the endpoint does not take is a 422 naming it: dropped in
    silence, a misspelt one (`dueDate`) would leave the client believing it saved what it did
    not. Fields in `ignored_fields` are accepted and dropped."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @classmethod
    def ignored_fields(cls) -> frozenset[str]:
        return frozenset()

    @model_validator(mode="wrap")
    @classmethod
    def _known_fields_only(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if isinstance(data, dict) and not cls.ignored_fields().isdisjoint(data):
            data = {name: value for name, value in data.items() if name not in cls.ignored_fields()}
        try:
            return handler(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            if all(error["type"] != "extra_forbidden" for error in errors):
                raise
            # Each error as it was (its type and words), but an unknown field's, which says
            # which fields there are.
            raise ValidationError.from_exception_data(
                exc.title,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            error["type"],
                            _unknown(str(error["loc"][-1]), cls.model_fields)
                            if error["type"] == "extra_forbidden"
                            else error["msg"],
                        ),
                        loc=error["loc"],
                        input=error["input"],
                    )
                    for error in errors
                ],
            ) from None


def _unknown(name: str, fields: Iterable[str]) -> str:
    """The error of an unknown field: the field it may have meant, or every field there is."""
    close = difflib.get_close_matches(name.lower(), list(fields), n=1, cutoff=0.75)
    if close:
        return f"Unknown field; did you mean {close[0]}?"
    return f"Unknown field; the fields are {', '.join(fields)}"


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
