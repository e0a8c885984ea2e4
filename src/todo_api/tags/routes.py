"""The tag endpoints: a user's tags with counts, renaming (merging) one, and removing one from
every task. Authentication and ownership are checked by OwnerRoute, as for tasks."""

from typing import Annotated

import orjson
from fastapi import Path, status
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.responses import Response

from todo_api.core.database import DatabaseDep
from todo_api.core.errors import (
    PayloadTooLarge,
    TagNotFound,
    UnsupportedMediaType,
)
from todo_api.core.http import JSONText, error_responses, owner_router
from todo_api.tags import store
from todo_api.tasks.routes import UserId
from todo_api.tasks.schemas import TagRename, TagSummary

router = owner_router("tags")


class _AnyText(PathConvertor):
    """The rest of the path, whatever it holds: Starlette's `path` stops at a newline (its
    regular expression's `.`), which made such a path a 404 before authentication."""

    regex = "(?s:.+)"


register_url_convertor("any_text", _AnyText())

TagName = Annotated[
    str, Path(min_length=1, max_length=200, description="The tag, in any case: `work` is `Work`")
]


@router.get("", response_model=list[TagSummary], summary="List the caller's tags")
async def list_tags(user_id: UserId, db: DatabaseDep) -> Response:
    return JSONText(await db.run(store.list_tags, user_id))


@router.patch(
    "/{name:any_text}",
    response_model=TagSummary,
    responses=error_responses(TagNotFound, PayloadTooLarge, UnsupportedMediaType),
    summary="Rename a tag on every task that carries it",
    description="Into a tag the caller already has, it merges (keeping that tag's spelling). "
    "Every task changed counts as changed: `version` and `updated_at` move.",
)
async def rename_tag(user_id: UserId, name: TagName, body: TagRename, db: DatabaseDep) -> Response:
    renamed = await db.run(store.rename_tag, user_id, name, body.name)
    return JSONText(orjson.dumps(renamed))


@router.delete(
    "/{name:any_text}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(TagNotFound),
    summary="Take a tag off every task that carries it",
)
async def delete_tag(user_id: UserId, name: TagName, db: DatabaseDep) -> Response:
    await db.run(store.delete_tag, user_id, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
