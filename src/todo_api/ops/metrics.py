"""GET /metrics for Prometheus: mounted only when METRICS_ENABLED, guarded by METRICS_TOKEN."""

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from todo_api.core import metrics
from todo_api.core.errors import InvalidToken, MissingToken
from todo_api.core.settings import Settings

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def scrape(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    header = request.headers.get("authorization")
    if not metrics.authorized(header, token):
        raise InvalidToken if header else MissingToken
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
