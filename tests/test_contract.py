"""The schema in the database is the models' schema, and docs/openapi.json is the app's."""

import json
import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import Index, Table, inspect, text
from sqlmodel import SQLModel

from tests.conftest import Api
from todo_api.openapi import openapi_json
from todo_api.tasks.schemas import TITLE_PATTERN, TaskCreate


# SQLite cannot reflect the search index (an expression, PostgreSQL only): alembic says so
# before `compared` can leave it out.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_migrations_produce_exactly_the_models(api: Api) -> None:
    def compared(item: object, name: str | None, kind: str, reflected: bool, _: object) -> bool:
        # An index only PostgreSQL has (search), a table only SQLite has (its write clock).
        info = item.info if isinstance(item, Index | Table) else {}
        if api.backend == "sqlite":
            return not info.get("postgresql_only", False)
        return not info.get("sqlite_only", False)

    with api.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": compared})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == []


def test_tasks_are_indexed_for_one_users_tasks(api: Api) -> None:
    indexes = {tuple(index["column_names"]) for index in inspect(api.engine).get_indexes("tasks")}
    # "This user's tasks", and "this user's tasks, completed or not", each in id order.
    assert ("user_id", "id") in indexes
    assert ("user_id", "completed", "id") in indexes


@pytest.mark.parametrize("key", ["priority", "created_at", "updated_at", "completed_at"])
def test_descending_sorts_have_an_index_in_their_order(api: Api, key: str) -> None:
    """`sort=-<key>` is `<key> DESC NULLS LAST, id`: an index in exactly that order gives it
    (PostgreSQL matches the nulls' place too; SQLite's nulls are last descending)."""
    name = f"ix_tasks_user_id_{key}_desc_id"
    query = (
        "SELECT sql FROM sqlite_master WHERE name = :name"
        if api.backend == "sqlite"
        else "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    )
    with api.engine.connect() as connection:
        definition = connection.execute(text(query), {"name": name}).scalar_one()
    descending = f"{key} DESC" if api.backend == "sqlite" else f"{key} DESC NULLS LAST"
    assert re.search(rf"\(user_id, {descending}, id\)$", definition), definition


def test_exported_openapi_matches_the_app(project_root: Path) -> None:
    exported = (project_root / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert exported == openapi_json(), "run `make openapi` and commit docs/openapi.json"


def test_every_error_answer_is_documented_with_the_error_shape() -> None:
    document = json.loads(openapi_json())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
            if path.startswith("/api/"):
                assert operation["security"] == [{"BetterAuthBearer": []}]
                assert {"401", "403", "422"} <= set(operation["responses"])
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_title_pattern_in_the_schema_is_what_the_validator_accepts() -> None:
    pattern = re.compile(TITLE_PATTERN)
    for codepoint in [*range(0x3100), 0x180E, 0xFEFF]:
        title = chr(codepoint)
        try:
            TaskCreate(title=title)
            accepted = True
        except ValidationError:
            accepted = False
        assert bool(pattern.match(title)) == accepted, hex(codepoint)


def test_operations_have_names_a_person_would_write() -> None:
    document = json.loads(openapi_json())
    names = {
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
    }
    assert names == {
        "listTasks",
        "createTask",
        "getTask",
        "updateTask",
        "patchTask",
        "deleteTask",
        "toggleTask",
        "quickAddTask",
        "listTags",
        "renameTag",
        "deleteTag",
        "listReminders",
        "getTasksCalendar",
        "createCalendarFeed",
        "deleteCalendarFeed",
        "getCalendarFeed",
        "listChanges",
        "streamEvents",
        "checkHealth",
        "checkReadiness",
    }


def test_the_documented_error_codes_are_the_ones_the_api_uses() -> None:
    document = json.loads(openapi_json())
    error_code = document["components"]["schemas"]["ErrorBody"]["properties"]["error_code"]
    assert error_code["type"] == "string"
    assert set(error_code["enum"]) >= {
        "VALIDATION_ERROR",
        "TASK_NOT_FOUND",
        "UNSUPPORTED_MEDIA_TYPE",
        "CORS_REFUSED",
        "NOT_FOUND",
        "METHOD_NOT_ALLOWED",
        "INTERNAL_ERROR",
    }


def test_response_headers_and_the_idempotency_key_are_documented() -> None:
    document = json.loads(openapi_json())
    for operations in document["paths"].values():
        for operation in operations.values():
            for answer in operation["responses"].values():
                assert "X-Request-ID" in answer["headers"]
    create = document["paths"]["/api/{user_id}/tasks"]["post"]
    assert "Idempotent-Replayed" in create["responses"]["201"]["headers"]
    [key] = [p for p in create["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["required"] is False
    assert key["schema"]["type"] == "string"
    assert "anyOf" not in key["schema"]
