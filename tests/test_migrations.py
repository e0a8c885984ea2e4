"""Migrations bring an existing database forward with every row kept, on both databases."""

from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import Connection, text

from tests.conftest import BACKENDS, direct_engine, new_postgres_database
from todo_api.core.migrate import upgrade
from todo_api.core.settings import DatabaseURL
from todo_api.tasks.listing import ListParams, page_statement


@pytest.fixture(params=BACKENDS)
def empty_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseURL]:
    if request.param == "sqlite":
        yield DatabaseURL.parse(f"sqlite:///{tmp_path_factory.mktemp('migrate') / 'todo.db'}")
        return
    for url in new_postgres_database():
        yield DatabaseURL.parse(url)


def owner_counts(connection: Connection) -> dict[str, int]:
    rows = connection.execute(text("SELECT user_id, tasks FROM owners"))
    return {str(user_id): int(tasks) for user_id, tasks in rows}


def test_owners_counts_start_from_the_tasks_already_stored(empty_database: DatabaseURL) -> None:
    upgrade(empty_database, "0002")
    engine = direct_engine(empty_database)
    now = datetime.now(UTC)
    rows = [{"u": user, "t": f"task {n}", "now": now} for user, n in [("a", 1), ("a", 2), ("b", 3)]]
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tasks (user_id, title, completed, created_at, updated_at)"
                " VALUES (:u, :t, false, :now, :now)"
            ),
            rows,
        )
    upgrade(empty_database)
    with engine.begin() as connection:
        counts = owner_counts(connection)
        assert counts == {"a": 2, "b": 1}
        # From here on the triggers keep the counts, whatever statement inserts or deletes.
        connection.execute(text("DELETE FROM tasks WHERE user_id = 'a' AND title = 'task 1'"))
        connection.execute(
            text(
                "INSERT INTO tasks (user_id, title, completed, created_at, updated_at)"
                " VALUES ('c', 'x', false, :now, :now)"
            ),
            {"now": now},
        )
        counts = owner_counts(connection)
    engine.dispose()
    assert counts == {"a": 1, "b": 1, "c": 1}


def test_v1_tasks_come_forward_with_a_version_and_completed_at(empty_database: DatabaseURL) -> None:
    upgrade(empty_database, "0003")
    engine = direct_engine(empty_database)
    created, changed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 2, 3, tzinfo=UTC)
    with engine.begin() as connection:
        for title, completed in (("Open", False), ("DONE", True)):
            connection.execute(
                text(
                    "INSERT INTO tasks (user_id, title, description, completed, created_at,"
                    " updated_at) VALUES ('a', :title, 'd', :completed, :created, :changed)"
                ),
                {"title": title, "completed": completed, "created": created, "changed": changed},
            )
        before = connection.execute(text("SELECT * FROM tasks ORDER BY id")).mappings().all()
    upgrade(empty_database)
    with engine.connect() as connection:
        after = connection.execute(text("SELECT * FROM tasks ORDER BY id")).mappings().all()
    engine.dispose()
    for old, new in zip(before, after, strict=True):
        assert {name: new[name] for name in old} == dict(old)  # every v1 value as it was
        assert new["version"] == 1
        assert new["priority"] == 0  # `none`
        assert new["tags"] in ([], "[]")  # JSON: decoded by PostgreSQL's driver, text on SQLite
        assert [new[f] for f in ("due_date", "due_time", "timezone", "due_at")] == [None] * 4
        assert (new["title_key"], new["description_key"]) == (old["title"].casefold(), "d")
    assert after[0]["completed_at"] is None
    # When it became completed is not known: its last change stands in.
    assert after[1]["completed_at"] == after[1]["updated_at"]


def test_v2_tasks_come_forward_without_a_series_or_reminders(empty_database: DatabaseURL) -> None:
    upgrade(empty_database, "0007")
    engine = direct_engine(empty_database)
    now = datetime(2026, 5, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tasks (user_id, title, completed, created_at, updated_at, priority,"
                " tags, tag_keys, due_date, due_at, title_key, description_key, version)"
                " VALUES ('a', 'Due', false, :now, :now, 3, '[\"Work\"]', '[\"work\"]',"
                " '2026-05-04', :due_at, 'due', '', 4)"
            ),
            {"now": now, "due_at": datetime(2026, 5, 5, tzinfo=UTC)},
        )
        before = connection.execute(text("SELECT * FROM tasks")).mappings().one()
        tagged = connection.execute(text("SELECT key, task_id FROM task_tags")).all()
    upgrade(empty_database)
    with engine.connect() as connection:
        after = connection.execute(text("SELECT * FROM tasks")).mappings().one()
        assert connection.execute(text("SELECT key, task_id FROM task_tags")).all() == tagged
        assert connection.execute(text("SELECT count(*) FROM task_reminders")).scalar() == 0
    engine.dispose()
    assert {name: after[name] for name in before} == dict(before)
    assert after["reminders"] in ([], "[]")
    assert [after[f] for f in ("recurrence", "series_start", "previous_task_id")] == [None] * 3
    assert after["next_task_id"] is None


def test_tasks_stored_before_the_search_index_are_found_through_it(
    empty_database: DatabaseURL,
) -> None:
    upgrade(empty_database, "0010")
    engine = direct_engine(empty_database)
    now = datetime(2026, 5, 1, tzinfo=UTC)
    texts = [("x", ""), ("Buy oat milk", ""), ("🎂", "Grandma's buttermilk cake")]
    with engine.begin() as connection:
        for title, description in texts:
            connection.execute(
                text(
                    "INSERT INTO tasks (user_id, title, completed, created_at, updated_at,"
                    " title_key, description_key) VALUES ('a', :t, false, :now, :now, :k, :d)"
                ),
                {"t": title, "k": title.casefold(), "d": description.casefold(), "now": now},
            )
    upgrade(empty_database)
    statement, values = page_statement(engine.dialect.name, "a", ListParams(q="MILK"))
    with engine.connect() as connection:
        # On PostgreSQL the statement asks for the keys of the index the migration built over
        # these rows (texts shorter than a window and empty ones among them).
        found = [orjson.loads(row[0])["title"] for row in connection.execute(statement, values)]
    engine.dispose()
    assert found == ["Buy oat milk", "🎂"]
