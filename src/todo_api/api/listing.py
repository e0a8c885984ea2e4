"""The list's query parameters as a dependency, and the `Link` to its next page."""

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Depends, Query, Request

from todo_api.errors import ValidationFailed
from todo_api.listing import ListParams

# May be given more than once; any other parameter given twice is a 422, not "the last wins".
_REPEATABLE = frozenset({"tag"})


async def _list_params(request: Request, params: Annotated[ListParams, Query()]) -> ListParams:
    repeated = [
        name
        for name in request.query_params
        if name not in _REPEATABLE and len(request.query_params.getlist(name)) > 1
    ]
    if repeated:
        raise ValidationFailed(field_errors={name: ["may be given only once"] for name in repeated})
    return params


ListParamsDep = Annotated[ListParams, Depends(_list_params)]


def next_link(request: Request, user_id: str, cursor: str) -> str:
    """`Link` to the next page: a relative URL (right behind any proxy, never built from the
    Host header) with the request's own parameters and the next cursor."""
    asked = [
        (name, value) for name, value in request.query_params.multi_items() if name != "cursor"
    ]
    query = urlencode([*asked, ("cursor", cursor)])
    return f'</api/{quote(user_id, safe="")}/tasks?{query}>; rel="next"'
