"""`POST /api/{user_id}/tasks/quick` over HTTP, on both databases: the task a line of text makes,
the header naming what was read, the API's rules and limits, isolation and Idempotency-Key. The
reading itself, word by word, is tests/test_quickadd_reading.py's."""

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Api, auth

QUICK = "/api/alice/tasks/quick"


def quick(api: Api, text: str, **body: Any) -> Any:
    return api.client.post(QUICK, json={"text": text, **body}, headers=auth())


def parsed(response: Any) -> list[str]:
    header: str = response.headers["x-quick-add-parsed"]
    return [unquote(item) for item in header.split(", ")] if header else []


def test_a_line_becomes_a_task_and_the_header_says_what_was_read(api: Api) -> None:
    answer = quick(api, "Call mom tomorrow at 5pm @phone p1", timezone="Europe/Berlin")
    assert answer.status_code == 201, answer.text
    task = answer.json()
    tomorrow = datetime.now(ZoneInfo("Europe/Berlin")).date() + timedelta(days=1)
    assert task["title"] == "Call mom"
    assert task["tags"] == ["phone"] and task["priority"] == "high"
    assert (task["due_date"], task["due_time"]) == (tomorrow.isoformat(), "17:00")
    assert task["timezone"] == "Europe/Berlin"
    assert parsed(answer) == ["tag:phone", "priority:high", f"due:{tomorrow.isoformat()}T17:00"]
    assert answer.headers["etag"] == '"1"'
    # Stored as any task: the list answers it as created.
    assert api.client.get("/api/alice/tasks", headers=auth()).json() == [task]


def test_a_recurrence_in_words_is_a_rule_with_its_first_date(api: Api) -> None:
    task = quick(api, "Pay rent every month on the 15th").json()
    assert task["recurrence"] is not None and "FREQ=MONTHLY" in task["recurrence"]
    assert date.fromisoformat(task["due_date"]).day == 15
    assert date.fromisoformat(task["due_date"]) >= datetime.now(UTC).date()
    assert task["title"] == "Pay rent" and task["timezone"] == "UTC"
    # Completing it makes the next occurrence, as for any recurring task.
    done = api.client.patch(f"/api/alice/tasks/{task['id']}/complete", headers=auth()).json()
    assert done["next_task_id"] is not None


def test_what_is_not_a_date_or_a_list_stays_in_the_title(api: Api) -> None:
    for text in ("The 5th Wave", "Mayday drill", '"Buy milk tomorrow"', "Fix bug #123"):
        answer = quick(api, text)
        assert answer.status_code == 201
        assert answer.json()["title"] == text and answer.json()["due_date"] is None
        assert parsed(answer) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 501}, "text"),
        ({"text": "a\x00b"}, "text"),
        ({"text": "x", "timezone": "Mars/Olympus"}, "timezone"),
        ({"text": "x", "timezone": "europe/berlin"}, "timezone"),
        ({"text": "x", "due": "tomorrow"}, "due"),
        ({}, "text"),
    ],
)
def test_invalid_bodies_are_a_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    answer = api.client.post(QUICK, json=body, headers=auth())
    assert answer.status_code == 422, answer.text
    assert list(answer.json()["field_errors"]) == [field]
    assert api.rows() == []


def test_a_title_over_the_limit_names_text_and_the_rule(api: Api) -> None:
    answer = quick(api, "word " * 60 + "tomorrow")
    assert answer.status_code == 422
    assert answer.json()["field_errors"]["text"][0].startswith("title: ")
    assert api.rows() == []


def test_only_the_tokens_user_may_quick_add(api: Api) -> None:
    assert api.client.post(QUICK, json={"text": "x"}).status_code == 401
    other = api.client.post("/api/bob/tasks/quick", json={"text": "x"}, headers=auth())
    assert other.status_code == 403
    text = api.client.post(QUICK, content=b"x", headers=auth() | {"Content-Type": "text/plain"})
    assert text.status_code == 415
    assert api.rows() == []


def test_a_retry_with_the_same_key_gives_the_first_task(api: Api) -> None:
    headers = auth() | {"Idempotency-Key": "quick-1"}
    first = api.client.post(QUICK, json={"text": "Stretch in 2 hours"}, headers=headers)
    again = api.client.post(QUICK, json={"text": "Stretch in 2 hours"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert "x-quick-add-parsed" not in again.headers
    other = api.client.post(QUICK, json={"text": "Something else"}, headers=headers)
    assert other.status_code == 422 and other.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(api.rows()) == 1


def test_browsers_may_read_the_header(api: Api) -> None:
    answer = api.client.post(
        QUICK, json={"text": "x"}, headers=auth() | {"Origin": "http://localhost:3000"}
    )
    exposed = answer.headers["access-control-expose-headers"].lower()
    assert "x-quick-add-parsed" in exposed
