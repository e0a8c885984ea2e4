"""Priority, due dates and times in a time zone, and `due_at`, on both databases: validation
edges and the DST rules of SPEC.md (a skipped local time takes the offset before the change, a
repeated one means the first)."""

from typing import Any

import pytest

from tests.conftest import Api, auth


def create(api: Api, **fields: Any) -> Any:
    return api.client.post("/api/alice/tasks", json={"title": "t", **fields}, headers=auth())


def patch(api: Api, task: dict[str, Any], **fields: Any) -> Any:
    return api.client.patch(f"/api/alice/tasks/{task['id']}", json=fields, headers=auth())


def test_a_new_task_has_no_priority_and_no_due_date(api: Api) -> None:
    task = api.create()
    assert task["priority"] == "none"
    assert [task[f] for f in ("due_date", "due_time", "timezone", "due_at")] == [None] * 4


@pytest.mark.parametrize(
    ("fields", "due_at"),
    [
        # Without a time: the start of the next day, in the zone (UTC when none is given).
        ({"due_date": "2026-05-04"}, "2026-05-05T00:00:00.000000+00:00"),
        (
            {"due_date": "2026-05-04", "timezone": "Asia/Kolkata"},
            "2026-05-04T18:30:00.000000+00:00",
        ),
        ({"due_date": "2026-12-31", "due_time": "23:59"}, "2026-12-31T23:59:00.000000+00:00"),
        # Europe/Berlin: 02:00 to 03:00 is skipped on 29 March 2026, repeated on 25 October.
        (
            {"due_date": "2026-03-29", "due_time": "02:30", "timezone": "Europe/Berlin"},
            "2026-03-29T01:30:00.000000+00:00",
        ),
        (
            {"due_date": "2026-10-25", "due_time": "02:30", "timezone": "Europe/Berlin"},
            "2026-10-25T00:30:00.000000+00:00",
        ),
        (
            {"due_date": "2026-07-01", "due_time": "09:00", "timezone": "Europe/Berlin"},
            "2026-07-01T07:00:00.000000+00:00",
        ),
        (
            {"due_date": "2026-01-07", "due_time": "09:00", "timezone": "Europe/Berlin"},
            "2026-01-07T08:00:00.000000+00:00",
        ),
        # America/New_York: 02:00 to 03:00 is skipped on 8 March 2026; 01:00 to 02:00 is
        # repeated on 1 November.
        (
            {"due_date": "2026-03-08", "due_time": "02:30", "timezone": "America/New_York"},
            "2026-03-08T07:30:00.000000+00:00",
        ),
        (
            {"due_date": "2026-11-01", "due_time": "01:30", "timezone": "America/New_York"},
            "2026-11-01T05:30:00.000000+00:00",
        ),
    ],
)
def test_due_at_is_the_instant_the_task_is_due(
    api: Api, fields: dict[str, str], due_at: str
) -> None:
    answer = create(api, **fields)
    assert answer.status_code == 201, answer.text
    task = answer.json()
    assert task["due_at"] == due_at
    assert {name: task[name] for name in fields} == fields
    assert api.client.get(f"/api/alice/tasks/{task['id']}", headers=auth()).json() == task


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"priority": "urgent"}, "priority"),
        ({"priority": "HIGH"}, "priority"),
        ({"priority": 3}, "priority"),
        ({"priority": None}, "priority"),
        ({"due_date": "2026-02-30"}, "due_date"),
        ({"due_date": "2026-2-3"}, "due_date"),
        ({"due_date": "2026-02-03T10:00:00"}, "due_date"),
        ({"due_date": 20260203}, "due_date"),
        ({"due_date": "1899-12-31"}, "due_date"),
        ({"due_date": "9999-12-31"}, "due_date"),
        ({"due_date": "2026-02-03", "due_time": "24:00"}, "due_time"),
        ({"due_date": "2026-02-03", "due_time": "9:00"}, "due_time"),
        ({"due_date": "2026-02-03", "due_time": "09:00:00"}, "due_time"),
        ({"due_date": "2026-02-03", "due_time": 900}, "due_time"),
        ({"due_time": "09:00"}, "due_time"),
        ({"due_date": "2026-02-03", "timezone": "Mars/Olympus"}, "timezone"),
        ({"due_date": "2026-02-03", "timezone": "europe/berlin"}, "timezone"),
        ({"due_date": "2026-02-03", "timezone": "../../etc/passwd"}, "timezone"),
        ({"due_date": "2026-02-03", "timezone": 1}, "timezone"),
    ],
)
def test_invalid_fields_are_a_422_naming_the_field(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    answer = create(api, **fields)
    assert answer.status_code == 422, answer.text
    assert list(answer.json()["field_errors"]) == [field]
    assert api.rows() == []


@pytest.mark.parametrize(
    ("timezone", "message"),
    [
        ("europe/berlin", "unknown time zone 'europe/berlin'; did you mean 'Europe/Berlin'?"),
        (
            "AMERICA/NEW_YORK",
            "unknown time zone 'AMERICA/NEW_YORK'; did you mean 'America/New_York'?",
        ),
        ("utc", "unknown time zone 'utc'; did you mean 'UTC'?"),
        (
            "Mars/Olympus",
            "unknown time zone 'Mars/Olympus'; it must be an IANA time zone name, such as "
            "Europe/Berlin or UTC",
        ),
    ],
)
def test_a_zone_in_the_wrong_case_is_refused_naming_the_right_one(
    api: Api, timezone: str, message: str
) -> None:
    task = create(api, due_date="2026-02-03").json()
    for answer in (
        create(api, due_date="2026-02-03", timezone=timezone),
        patch(api, task, timezone=timezone),
    ):
        assert answer.status_code == 422, answer.text
        assert answer.json()["field_errors"] == {"timezone": [message]}
    [row] = api.rows()
    assert row["timezone"] is None


def test_every_priority_round_trips(api: Api) -> None:
    assert [create(api, priority=p).json()["priority"] for p in ("low", "medium", "high")] == [
        "low",
        "medium",
        "high",
    ]


def test_a_patch_of_one_due_field_recomputes_due_at_from_all_three(api: Api) -> None:
    task = create(api, due_date="2026-07-01", due_time="09:00", timezone="Europe/Berlin").json()
    moved = patch(api, task, timezone="America/New_York").json()
    assert (moved["due_date"], moved["due_time"]) == ("2026-07-01", "09:00")
    assert moved["due_at"] == "2026-07-01T13:00:00.000000+00:00"
    untimed = patch(api, task, due_time=None).json()
    assert untimed["due_at"] == "2026-07-02T04:00:00.000000+00:00"
    retitled = patch(api, task, title="other").json()
    assert retitled["due_at"] == untimed["due_at"]
    cleared = patch(api, task, due_date=None, timezone=None).json()
    assert [cleared[f] for f in ("due_date", "due_time", "timezone", "due_at")] == [None] * 4


def test_a_change_that_leaves_a_time_without_a_date_is_a_422(api: Api) -> None:
    task = create(api, due_date="2026-07-01", due_time="09:00").json()
    answer = patch(api, task, due_date=None)
    assert answer.status_code == 422
    assert list(answer.json()["field_errors"]) == ["due_time"]
    undated = api.create()
    assert patch(api, undated, due_time="10:00").status_code == 422
    put = api.client.put(
        f"/api/alice/tasks/{undated['id']}",
        json={"title": "x", "due_time": "10:00"},
        headers=auth(),
    )
    assert put.status_code == 422
    rows = {row["id"]: row for row in api.rows()}
    assert rows[task["id"]]["due_date"] is not None and rows[undated["id"]]["due_time"] is None


def test_put_and_patch_set_priority_and_leave_what_they_do_not_send(api: Api) -> None:
    task = create(api, priority="high", due_date="2026-07-01").json()
    put = api.client.put(
        f"/api/alice/tasks/{task['id']}", json={"title": "renamed"}, headers=auth()
    ).json()
    assert (put["priority"], put["due_date"]) == ("high", "2026-07-01")
    assert patch(api, task, priority="low").json()["priority"] == "low"
    assert patch(api, task, priority=None).status_code == 422


def test_if_match_holds_for_due_changes_too(api: Api) -> None:
    task = create(api, due_date="2026-07-01").json()
    url = f"/api/alice/tasks/{task['id']}"
    stale = {"If-Match": '"7"'}
    answer = api.client.patch(url, json={"due_time": "08:00"}, headers=auth() | stale)
    assert answer.status_code == 412
    fresh = {"If-Match": f'"{task["version"]}"'}
    assert (
        api.client.patch(url, json={"due_time": "08:00"}, headers=auth() | fresh).status_code == 200
    )
