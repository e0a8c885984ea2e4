"""Query parameters as dependencies (the list's, the reminders' and the changes'), and the
`Link` to a list's next page."""

from typing import Annotated, get_origin
from urllib.parse import quote, urlencode

from fastapi import Depends, Query, Request
from pydantic import ValidationError

from todo_api.core.errors import ValidationFailed
from todo_api.reminders.store import ReminderParams
from todo_api.sync.changes import ChangesParams
from todo_api.tasks.listing import ListParams


def _refuse_repeated(request: Request, repeatable: frozenset[str] = frozenset()) -> None:
    """Only the parameters a model declares as lists may be given more than once; any other
    given twice is a 422, not "the last wins"."""
    repeated = [
        name
        for name in request.query_params
        if name not in repeatable and len(request.query_params.getlist(name)) > 1
    ]
    if repeated:
        raise ValidationFailed(field_errors={name: ["may be given only once"] for name in repeated})


# The list's parameters that may be given more than once: its list fields.
_REPEATABLE = frozenset(
    name for name, field in ListParams.model_fields.items() if get_origin(field.annotation) is list
)


async def _list_params(request: Request, params: Annotated[ListParams, Query()]) -> ListParams:
    _refuse_repeated(request, repeatable=_REPEATABLE)
    return params


def valid_list_params(request: Request) -> ListParams | None:
    """The list's parameters as `ListParamsDep` gives them, read without FastAPI's dependency
    solving (for `answers_directly`): the query as FastAPI hands it to the model (each value as
    given; a list field's values as a list), validated by the model itself. None for a query
    the dependency refuses, which is left to it to answer (422)."""
    query = request.query_params
    given: dict[str, str | list[str]] = {}
    for name in query:
        values = query.getlist(name)
        if name in _REPEATABLE:
            given[name] = values
        elif len(values) > 1:
            return None
        else:
            given[name] = values[0]
    try:
        return ListParams.model_validate(given)
    except ValidationError:
        return None


async def _reminder_params(
    request: Request, params: Annotated[ReminderParams, Query()]
) -> ReminderParams:
    _refuse_repeated(request)
    return params


async def _changes_params(
    request: Request, params: Annotated[ChangesParams, Query()]
) -> ChangesParams:
    _refuse_repeated(request)
    return params


ListParamsDep = Annotated[ListParams, Depends(_list_params)]
ReminderParamsDep = Annotated[ReminderParams, Depends(_reminder_params)]
ChangesParamsDep = Annotated[ChangesParams, Depends(_changes_params)]


def next_link(request: Request, user_id: str, cursor: str) -> str:
    """`Link` to the next page: a relative URL (right behind any proxy, never built from the
    Host header) with the request's own parameters and the next cursor."""
    asked = [
        (name, value) for name, value in request.query_params.multi_items() if name != "cursor"
    ]
    query = urlencode([*asked, ("cursor", cursor)])
    return f'</api/{quote(user_id, safe="")}/tasks?{query}>; rel="next"'
