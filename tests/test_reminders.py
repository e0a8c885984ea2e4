"""Reminders on both databases: validation, `GET /reminders` window edges and order, reminders
that follow a rescheduled task and carry over to the next occurrence, and isolation."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api, auth

TASKS = "/api/alice/tasks"
REMINDERS = "/api/alice/reminders"


def create(api: Api, **fields: Any) -> dict[str, Any]:
    response = api.client.post(TASKS, json={"title": "t", **fields}, headers=auth())
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def window(api: Api, start: str, end: str, user: str = "alice") -> list[dict[str, Any]]:
    response = api.client.get(
        f"/api/{user}/reminders", params={"from": start, "to": end}, headers=auth(user)
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


@pytest.mark.parametrize(
    "reminders",
    [[-1], [40321], [0, 1, 2, 3, 4, 5], [5, 5], [5, 5.0], ["5"], [True], [1.5], "10", None, [None]],
)
def test_bad_reminders_are_refused(api: Api, reminders: Any) -> None:
    response = api.client.post(
        TASKS, json={"title": "t", "due_date": "2031-01-01", "reminders": reminders}, headers=auth()
    )
    assert response.status_code == 422, response.text
    assert any(key.startswith("reminders") for key in response.json()["field_errors"])
    assert api.rows() == []


def test_reminders_are_returned_ascending_and_default_to_none(api: Api) -> None:
    assert create(api)["reminders"] == []
    task = create(api, due_date="2031-01-01", reminders=[40320, 0, 15.0])
    assert task["reminders"] == [0, 15, 40320]


def test_a_window_holds_reminders_from_its_start_up_to_before_its_end(api: Api) -> None:
    # Due 09:00 UTC: reminders at 08:45 and 09:00.
    task = create(api, due_date="2031-06-10", due_time="09:00", reminders=[0, 15])
    first = {
        "task_id": task["id"],
        "title": "t",
        "due_at": "2031-06-10T09:00:00.000000+00:00",
        "remind_at": "2031-06-10T08:45:00.000000+00:00",
    }
    second = first | {"remind_at": "2031-06-10T09:00:00.000000+00:00"}
    assert window(api, "2031-06-10T08:45:00Z", "2031-06-10T09:00:00Z") == [first]
    assert window(api, "2031-06-10T08:45:00.000001Z", "2031-06-10T09:00:00.000001Z") == [second]
    assert window(api, "2031-06-10T10:45:00+02:00", "2031-06-10T11:00:01+02:00") == [
        first,
        second,
    ]
    assert window(api, "2031-06-10T07:00:00Z", "2031-06-10T08:45:00Z") == []


def test_reminders_come_by_time_then_by_task(api: Api) -> None:
    a = create(api, due_date="2031-06-10", due_time="10:00", reminders=[60])
    b = create(api, due_date="2031-06-10", due_time="09:30", reminders=[30, 0])
    found = window(api, "2031-06-10T00:00:00Z", "2031-06-11T00:00:00Z")
    assert [(r["task_id"], r["remind_at"][11:16]) for r in found] == [
        (a["id"], "09:00"),
        (b["id"], "09:00"),
        (b["id"], "09:30"),
    ]


def test_reminders_follow_the_due_time_in_its_zone(api: Api) -> None:
    # A day without a time is due at the start of the next day in its zone.
    create(api, due_date="2031-06-10", timezone="Europe/Berlin", reminders=[60])
    found = window(api, "2031-06-10T00:00:00Z", "2031-06-11T00:00:00Z")
    assert [r["remind_at"] for r in found] == ["2031-06-10T21:00:00.000000+00:00"]


def test_a_rescheduled_task_moves_its_reminders(api: Api) -> None:
    task = create(api, due_date="2031-06-10", due_time="09:00", reminders=[10])
    url = f"{TASKS}/{task['id']}"
    api.client.patch(url, json={"due_time": "18:00"}, headers=auth())
    day = ("2031-06-10T00:00:00Z", "2031-06-11T00:00:00Z")
    assert [r["remind_at"][11:16] for r in window(api, *day)] == ["17:50"]
    api.client.patch(url, json={"reminders": [30, 120]}, headers=auth())
    assert [r["remind_at"][11:16] for r in window(api, *day)] == ["16:00", "17:30"]
    api.client.patch(url, json={"reminders": []}, headers=auth())
    assert window(api, *day) == []


def test_completed_and_deleted_tasks_have_no_reminders(api: Api) -> None:
    done = create(api, due_date="2031-06-10", due_time="09:00", reminders=[10])
    gone = create(api, due_date="2031-06-10", due_time="09:00", reminders=[20])
    api.client.patch(f"{TASKS}/{done['id']}/complete", headers=auth())
    api.client.delete(f"{TASKS}/{gone['id']}", headers=auth())
    assert window(api, "2031-06-10T00:00:00Z", "2031-06-11T00:00:00Z") == []
    api.client.patch(f"{TASKS}/{done['id']}/complete", headers=auth())  # reopened
    assert len(window(api, "2031-06-10T00:00:00Z", "2031-06-11T00:00:00Z")) == 1


def test_reminders_carry_over_to_the_next_occurrence(api: Api) -> None:
    task = create(
        api, due_date="2031-06-10", due_time="09:00", recurrence="FREQ=DAILY", reminders=[5]
    )
    done = api.client.patch(f"{TASKS}/{task['id']}/complete", headers=auth()).json()
    found = window(api, "2031-06-10T00:00:00Z", "2031-06-12T00:00:00Z")
    assert [(r["task_id"], r["remind_at"]) for r in found] == [
        (done["next_task_id"], "2031-06-11T08:55:00.000000+00:00")
    ]


def test_the_default_window_is_the_next_24_hours(api: Api) -> None:
    now = datetime.now(UTC)
    soon, later = now + timedelta(hours=2), now + timedelta(hours=30)
    for moment in (soon, later):
        create(
            api,
            due_date=moment.date().isoformat(),
            due_time=moment.strftime("%H:%M"),
            reminders=[0],
        )
    response = api.client.get(REMINDERS, headers=auth())
    assert response.status_code == 200
    assert [r["remind_at"][:16] for r in response.json()] == [soon.isoformat()[:16]]
    until = (now + timedelta(hours=31)).isoformat()
    assert len(api.client.get(REMINDERS, params={"to": until}, headers=auth()).json()) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2031-06-10T00:00:00Z", "to": "2031-06-10T00:00:00Z"}, "to"),
        ({"from": "2031-06-10T00:00:00Z", "to": "2031-06-09T00:00:00Z"}, "to"),
        ({"from": "2031-06-01T00:00:00Z", "to": "2031-07-02T00:00:01Z"}, "to"),
        ({"to": "2020-01-01T00:00:00Z"}, "to"),
        ({"from": "2031-06-10T00:00:00"}, "from"),
        ({"from": "2031-06-10"}, "from"),
        ({"from": "1781049600"}, "from"),
        ({"from": "soon"}, "from"),
        ({"since": "2031-06-10T00:00:00Z"}, "since"),
    ],
)
def test_a_bad_window_is_refused_naming_the_parameter(
    api: Api, params: dict[str, str], field: str
) -> None:
    response = api.client.get(REMINDERS, params=params, headers=auth())
    assert response.status_code == 422, response.text
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert any(field in key for key in response.json()["field_errors"]), response.json()


@pytest.mark.parametrize("parameter", ["from", "to"])
def test_a_plus_sent_as_it_is_is_told_to_be_sent_as_2b(api: Api, parameter: str) -> None:
    # An unencoded `+` in a query string is a space by the time it is read.
    response = api.client.get(f"{REMINDERS}?{parameter}=2031-06-10T09:00:00+02:00", headers=auth())
    assert response.status_code == 422, response.text
    [message] = response.json()["field_errors"][parameter]
    assert "%2B" in message and "2031-06-10T09:00:00%2B02:00" in message, message


def test_a_window_of_31_days_is_allowed(api: Api) -> None:
    create(api, due_date="2031-07-01", due_time="23:59", reminders=[0])
    assert len(window(api, "2031-06-01T00:00:00Z", "2031-07-02T00:00:00Z")) == 1


def test_a_parameter_given_twice_is_refused(api: Api) -> None:
    response = api.client.get(
        f"{REMINDERS}?from=2031-06-01T00:00:00Z&from=2031-06-02T00:00:00Z", headers=auth()
    )
    assert response.status_code == 422
    assert "from" in response.json()["field_errors"]


def test_each_user_sees_only_their_own_reminders(api: Api) -> None:
    create(api, due_date="2031-06-10", due_time="09:00", reminders=[10])
    assert window(api, "2031-06-10T00:00:00Z", "2031-06-11T00:00:00Z", user="bob") == []
    response = api.client.get(REMINDERS, headers=auth("bob"))
    assert response.status_code == 403
    assert api.client.get(REMINDERS).status_code == 401
