"""Query parameters as dependencies (the list's, the reminders' and the changes'), and the
`Link` to a list's next page."""

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Depends, Query, Request

from todo_api.errors import ValidationFailed
from todo_api.listing import ListParams
from todo_api.reminders import ReminderParams
from todo_api.sync import ChangesParams


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


async def _list_params(request: Request, params: Annotated[ListParams, Query()]) -> ListParams:
    _refuse_repeated(request, repeatable=frozenset({"tag"}))
    return params


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
