"""The OpenAPI document, the same whatever the configuration, for export to docs/openapi.json."""

import json

from todo_api.app import create_app
from todo_api.core.settings import Settings


def openapi_json() -> str:
    app = create_app(Settings(database_url="sqlite:///unused.db", better_auth_secret=None))
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
