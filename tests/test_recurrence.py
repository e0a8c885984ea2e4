"""Recurring tasks on both databases: the rule's validation, completion by toggle, PUT and PATCH
creating the next occurrence in the same write, the calendar cases of SPEC.md (weekdays, the
31st, 29 February, DST in Europe/Berlin and America/New_York), COUNT and UNTIL, late completion,
and one successor per occurrence whatever is retried, reopened or run concurrently."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from tests.conftest import Api, auth
from todo_api.app import create_app
from todo_api.core.settings import Settings

TASKS = "/api/alice/tasks"
# Far enough ahead that no occurrence below is overdue when the tests run.
FUTURE = 2031


def create(api: Api, **fields: Any) -> Any:
    return api.client.post(TASKS, json={"title": "t", **fields}, headers=auth())


def recurring(api: Api, rule: str, due_date: str, **fields: Any) -> dict[str, Any]:
    response = create(api, title="Series", recurrence=rule, due_date=due_date, **fields)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def toggle(api: Api, task: dict[str, Any]) -> dict[str, Any]:
    response = api.client.patch(f"{TASKS}/{task['id']}/complete", headers=auth())
    assert response.status_code == 200, response.text
    done: dict[str, Any] = response.json()
    return done


def get(api: Api, task_id: int) -> dict[str, Any]:
    response = api.client.get(f"{TASKS}/{task_id}", headers=auth())
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def chain(api: Api, task: dict[str, Any], completions: int) -> list[dict[str, Any]]:
    """The task and each occurrence that completing the one before creates."""
    series = [task]
    for _ in range(completions):
        done = toggle(api, series[-1])
        assert done["next_task_id"] is not None, done
        series.append(get(api, done["next_task_id"]))
    return series


def all_tasks(api: Api) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.client.get(TASKS, headers=auth()).json()
    return found


@pytest.mark.parametrize(
    "rule",
    [
        "RRULE:FREQ=DAILY",
        "DTSTART=20260101;FREQ=DAILY",
        "FREQ=HOURLY",
        "FREQ=MINUTELY",
        "FREQ=SECONDLY",
        "INTERVAL=2",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=WEEKLY;BYDAY=MO,TU;BYSETPOS=3",
        "FREQ=DAILY;COUNT=3;UNTIL=20300101",
        "FREQ=DAILY;COUNT=0",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;COUNT=x",
        "FREQ=DAILY;BYHOUR=9",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=DAILY;FREQ=WEEKLY",
        "FREQ=DAILY;UNTIL=20301332",
        "FREQ=DAILY;UNTIL=2030-01-01",
        "FREQ=DAILY;BYEASTER=0",
        "FREQ=DAILY;",
        "FREQ=DAILY\nRRULE:FREQ=WEEKLY",
        "FREQ=DAILY; COUNT=2",
        "",
        "FREQ=DAILY;COUNT=1" + ";INTERVAL=1" * 50,
    ],
)
def test_a_rule_that_is_not_a_daily_to_yearly_rrule_is_refused(api: Api, rule: str) -> None:
    response = create(api, recurrence=rule, due_date="2030-01-01")
    assert response.status_code == 422, response.text
    assert "recurrence" in response.json()["field_errors"]
    assert api.rows() == []


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY",
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA",
        "FREQ=MONTHLY;BYMONTHDAY=-1",
        "FREQ=MONTHLY;BYDAY=-1FR",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
        "FREQ=DAILY;COUNT=5",
        "FREQ=DAILY;UNTIL=20301231",
        "FREQ=DAILY;UNTIL=20301231T170000Z",
        "freq=weekly;byday=mo",
    ],
)
def test_a_daily_to_yearly_rule_is_stored(api: Api, rule: str) -> None:
    task = recurring(api, rule, "2030-01-01")
    assert task["recurrence"] == rule.upper()
    assert get(api, task["id"])["recurrence"] == rule.upper()


@pytest.mark.parametrize(
    "fields",
    [{"recurrence": "FREQ=DAILY"}, {"reminders": [10]}, {"due_time": "09:00"}],
)
def test_the_time_fields_need_a_due_date(api: Api, fields: dict[str, Any]) -> None:
    response = create(api, **fields)
    assert response.status_code == 422
    assert list(response.json()["field_errors"]) == list(fields)


def test_a_patch_cannot_leave_a_rule_or_reminders_without_a_due_date(api: Api) -> None:
    task = recurring(api, "FREQ=DAILY", "2030-01-01", reminders=[10])
    response = api.client.patch(f"{TASKS}/{task['id']}", json={"due_date": None}, headers=auth())
    assert response.status_code == 422
    assert set(response.json()["field_errors"]) == {"recurrence", "reminders"}
    assert get(api, task["id"]) == task
    plain = create(api).json()
    for fields in ({"recurrence": "FREQ=DAILY"}, {"reminders": [5]}):
        response = api.client.patch(f"{TASKS}/{plain['id']}", json=fields, headers=auth())
        assert response.status_code == 422
        assert list(response.json()["field_errors"]) == list(fields)


def test_null_clears_a_rule_and_reminders_may_not_be_null(api: Api) -> None:
    task = recurring(api, "FREQ=DAILY", "2030-01-01", reminders=[10])
    url = f"{TASKS}/{task['id']}"
    response = api.client.patch(url, json={"reminders": None}, headers=auth())
    assert response.status_code == 422
    cleared = api.client.patch(url, json={"recurrence": None}, headers=auth()).json()
    assert cleared["recurrence"] is None
    assert toggle(api, cleared)["next_task_id"] is None
    assert len(all_tasks(api)) == 1


def test_completing_by_toggle_creates_the_next_occurrence_with_the_same_fields(api: Api) -> None:
    task = recurring(
        api,
        "FREQ=DAILY",
        f"{FUTURE}-06-10",
        description="every day",
        priority="high",
        tags=["Home", "chores"],
        due_time="07:30",
        timezone="Asia/Tokyo",
        reminders=[60, 5],
    )
    done = toggle(api, task)
    assert done["id"] == task["id"] and done["completed"] is True
    following = get(api, done["next_task_id"])
    carried = ("title", "description", "priority", "tags", "due_time", "timezone", "recurrence")
    assert {k: following[k] for k in carried} == {k: task[k] for k in carried}
    assert following["reminders"] == [5, 60]
    assert following["due_date"] == f"{FUTURE}-06-11"
    assert following["due_at"] == f"{FUTURE}-06-10T22:30:00.000000+00:00"
    assert following["completed"] is False and following["completed_at"] is None
    assert following["version"] == 1 and following["next_task_id"] is None


@pytest.mark.parametrize("how", ["put", "patch", "merge-patch"])
def test_completing_by_put_or_patch_creates_the_next_occurrence(api: Api, how: str) -> None:
    task = recurring(api, "FREQ=WEEKLY", f"{FUTURE}-06-10")
    url = f"{TASKS}/{task['id']}"
    if how == "put":
        response = api.client.put(url, json={"title": "Series", "completed": True}, headers=auth())
    else:
        media_type = "application/json" if how == "patch" else "application/merge-patch+json"
        response = api.client.patch(
            url,
            content=b'{"completed": true}',
            headers={**auth(), "Content-Type": media_type},
        )
    assert response.status_code == 200, response.text
    done = response.json()
    assert done["completed"] is True and done["version"] == 2
    assert response.headers["ETag"] == '"2"'
    assert get(api, done["next_task_id"])["due_date"] == f"{FUTURE}-06-17"
    assert get(api, task["id"]) == done


def test_a_patch_that_completes_and_changes_the_rule_follows_the_new_rule(api: Api) -> None:
    task = create(api, due_date=f"{FUTURE}-06-10").json()
    response = api.client.patch(
        f"{TASKS}/{task['id']}",
        json={"completed": True, "recurrence": "FREQ=MONTHLY"},
        headers=auth(),
    )
    assert response.status_code == 200, response.text
    assert get(api, response.json()["next_task_id"])["due_date"] == f"{FUTURE}-07-10"


@pytest.mark.parametrize(
    ("rule", "first", "dates"),
    [
        ("FREQ=DAILY", f"{FUTURE}-12-30", [f"{FUTURE}-12-31", f"{FUTURE + 1}-01-01"]),
        (
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            f"{FUTURE}-06-09",  # a Monday
            [f"{FUTURE}-06-11", f"{FUTURE}-06-13", f"{FUTURE}-06-16"],
        ),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
            f"{FUTURE}-06-10",
            [f"{FUTURE}-06-24", f"{FUTURE}-07-08"],
        ),
        # The 31st: RFC 5545 skips the months that have none.
        (
            "FREQ=MONTHLY;BYMONTHDAY=31",
            f"{FUTURE}-01-31",
            [f"{FUTURE}-03-31", f"{FUTURE}-05-31", f"{FUTURE}-07-31"],
        ),
        # The last day of each month.
        (
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            f"{FUTURE}-01-31",
            [f"{FUTURE}-02-28", f"{FUTURE}-03-31", f"{FUTURE}-04-30"],
        ),
        # Monthly from the 31st without BYMONTHDAY: the 31st, as the anchor says.
        ("FREQ=MONTHLY", "2032-01-31", ["2032-03-31", "2032-05-31"]),
        ("FREQ=MONTHLY;BYDAY=-1FR", f"{FUTURE}-01-31", [f"{FUTURE}-02-28", f"{FUTURE}-03-28"]),
        # 29 February: only leap years have one.
        ("FREQ=YEARLY", "2032-02-29", ["2036-02-29", "2040-02-29"]),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1", "2032-02-29", ["2033-02-28", "2034-02-28"]),
    ],
)
def test_each_occurrence_follows_the_rule(
    api: Api, rule: str, first: str, dates: list[str]
) -> None:
    series = chain(api, recurring(api, rule, first), len(dates))
    assert [task["due_date"] for task in series] == [first, *dates]


@pytest.mark.parametrize(
    ("zone", "first", "local_dates", "utc"),
    [
        # Europe/Berlin: summer time from 28 March 2032, winter time from 31 October 2032.
        (
            "Europe/Berlin",
            "2032-03-22",
            ["2032-03-29", "2032-04-05"],
            ["08:00", "07:00", "07:00"],
        ),
        (
            "Europe/Berlin",
            "2032-10-25",
            ["2032-11-01", "2032-11-08"],
            ["07:00", "08:00", "08:00"],
        ),
        # America/New_York: from 14 March 2032 and to 7 November 2032.
        (
            "America/New_York",
            "2032-03-08",
            ["2032-03-15", "2032-03-22"],
            ["14:00", "13:00", "13:00"],
        ),
        (
            "America/New_York",
            "2032-11-01",
            ["2032-11-08", "2032-11-15"],
            ["13:00", "14:00", "14:00"],
        ),
    ],
)
def test_a_weekly_series_keeps_its_local_time_across_dst(
    api: Api, zone: str, first: str, local_dates: list[str], utc: list[str]
) -> None:
    task = recurring(api, "FREQ=WEEKLY", first, due_time="09:00", timezone=zone)
    series = chain(api, task, len(local_dates))
    assert [t["due_date"] for t in series] == [first, *local_dates]
    assert {t["due_time"] for t in series} == {"09:00"}
    assert [t["due_at"][11:16] for t in series] == utc


def test_count_ends_the_series_counting_from_the_first_occurrence(api: Api) -> None:
    series = chain(api, recurring(api, "FREQ=DAILY;COUNT=3", f"{FUTURE}-06-10"), 2)
    assert [t["due_date"] for t in series] == [f"{FUTURE}-06-{d}" for d in (10, 11, 12)]
    last = toggle(api, series[-1])
    assert last["completed"] is True and last["next_task_id"] is None
    assert len(all_tasks(api)) == 3


def test_count_counts_a_first_due_date_the_rule_does_not_give(api: Api) -> None:
    # RFC 5545: the start is the first occurrence, even on a Tuesday for a Monday rule.
    series = chain(api, recurring(api, "FREQ=WEEKLY;BYDAY=MO;COUNT=2", "2031-06-10"), 1)
    assert [t["due_date"] for t in series] == ["2031-06-10", "2031-06-16"]
    assert toggle(api, series[-1])["next_task_id"] is None


@pytest.mark.parametrize(
    ("until", "due_time", "last"),
    [
        ("20310612", None, "2031-06-12"),
        ("20310612", "23:30", "2031-06-12"),
        # 09:00 in New York is 13:00 UTC in June: an UNTIL of 12:59 UTC on the 12th leaves it out.
        ("20310612T125900Z", "09:00", "2031-06-11"),
        ("20310612T130000Z", "09:00", "2031-06-12"),
    ],
)
def test_until_ends_the_series(api: Api, until: str, due_time: str | None, last: str) -> None:
    fields = {"due_time": due_time, "timezone": "America/New_York"} if due_time else {}
    task = recurring(api, f"FREQ=DAILY;UNTIL={until}", "2031-06-10", **fields)
    series = [task]
    while (done := toggle(api, series[-1]))["next_task_id"] is not None:
        series.append(get(api, done["next_task_id"]))
    assert series[-1]["due_date"] == last


def test_a_late_completion_skips_to_the_first_occurrence_not_yet_overdue(api: Api) -> None:
    before = datetime.now(UTC).date()
    task = recurring(api, "FREQ=DAILY", str(before - timedelta(days=40)))
    following = get(api, toggle(api, task)["next_task_id"])
    after = datetime.now(UTC).date()
    # Due at the start of the next day (UTC): today's occurrence is not overdue yet.
    assert following["due_date"] in {str(before), str(after)}
    assert len(all_tasks(api)) == 2


def test_a_late_weekly_completion_keeps_the_weekday(api: Api) -> None:
    today = datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday() + 21)
    task = recurring(api, "FREQ=WEEKLY", str(monday), due_time="09:00", timezone="Europe/Berlin")
    due = date.fromisoformat(get(api, toggle(api, task)["next_task_id"])["due_date"])
    assert due.weekday() == 0
    assert today - timedelta(days=1) <= due <= today + timedelta(days=7)


def test_reopening_and_completing_again_creates_no_second_successor(api: Api) -> None:
    task = recurring(api, "FREQ=DAILY", f"{FUTURE}-06-10")
    first = toggle(api, task)
    reopened = toggle(api, first)
    assert reopened["completed"] is False and reopened["next_task_id"] == first["next_task_id"]
    again = toggle(api, reopened)
    assert again["next_task_id"] == first["next_task_id"]
    url = f"{TASKS}/{task['id']}"
    for _ in range(2):  # a retried PUT and PATCH
        assert api.client.put(
            url, json={"title": "x", "completed": True}, headers=auth()
        ).is_success
        assert api.client.patch(url, json={"completed": True}, headers=auth()).is_success
    assert len(all_tasks(api)) == 2


def test_deleting_either_task_keeps_the_other_and_no_second_successor_appears(api: Api) -> None:
    task = recurring(api, "FREQ=DAILY", f"{FUTURE}-06-10")
    done = toggle(api, task)
    assert api.client.delete(f"{TASKS}/{done['next_task_id']}", headers=auth()).status_code == 204
    assert get(api, task["id"])["next_task_id"] == done["next_task_id"]
    toggle(api, toggle(api, done))  # reopened and completed again: the series went on once
    assert [t["id"] for t in all_tasks(api)] == [task["id"]]
    other = recurring(api, "FREQ=DAILY", f"{FUTURE}-06-10")
    following = toggle(api, other)["next_task_id"]
    assert api.client.delete(f"{TASKS}/{other['id']}", headers=auth()).status_code == 204
    assert get(api, following)["due_date"] == f"{FUTURE}-06-11"


def test_the_database_refuses_a_second_successor(api: Api) -> None:
    task = recurring(api, "FREQ=DAILY", f"{FUTURE}-06-10")
    toggle(api, task)
    insert = text(
        "INSERT INTO tasks (user_id, title, completed, created_at, updated_at, "
        "previous_task_id) VALUES ('alice', 'again', false, :now, :now, :previous)"
    )
    with pytest.raises(IntegrityError), api.engine.begin() as connection:
        connection.execute(insert, {"now": datetime.now(UTC), "previous": task["id"]})


def test_concurrent_completions_through_two_instances_create_one_successor(
    api: Api, settings: Settings
) -> None:
    task = recurring(api, "FREQ=DAILY", f"{FUTURE}-06-10")
    url = f"{TASKS}/{task['id']}"
    with TestClient(create_app(settings)) as second:
        clients = [api.client, second]

        def complete(n: int) -> int:
            client = clients[n % 2]
            if n % 3 == 0:
                body = {"title": "Series", "completed": True}
                return client.put(url, json=body, headers=auth()).status_code
            return client.patch(url, json={"completed": True}, headers=auth()).status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(complete, range(20)))
    assert statuses == [200] * 20
    tasks = all_tasks(api)
    assert len(tasks) == 2
    assert tasks[0]["next_task_id"] == tasks[1]["id"]
    assert tasks[1]["due_date"] == f"{FUTURE}-06-11"


def test_concurrent_toggles_never_make_two_successors(api: Api) -> None:
    task = recurring(api, "FREQ=DAILY", f"{FUTURE}-06-10")
    url = f"{TASKS}/{task['id']}/complete"
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = pool.map(lambda _: api.client.patch(url, headers=auth()), range(21))
        statuses = [answer.status_code for answer in answers]
    assert statuses == [200] * 21
    tasks = all_tasks(api)
    assert len(tasks) == 2
    assert tasks[0]["completed"] is True  # 21 flips from pending
    assert tasks[0]["version"] == 22


def test_a_put_that_sends_the_same_schedule_keeps_counting(api: Api) -> None:
    """Rewriting an occurrence with the values it has (a client's PUT of the whole task) is not
    a new series: COUNT still counts from the first occurrence."""
    series = chain(api, recurring(api, "FREQ=DAILY;COUNT=2", f"{FUTURE}-06-10"), 1)
    second = series[-1]
    same = {k: second[k] for k in ("title", "due_date", "due_time", "timezone", "recurrence")}
    assert api.client.put(f"{TASKS}/{second['id']}", json=same, headers=auth()).is_success
    assert toggle(api, second)["next_task_id"] is None


def test_moving_an_occurrence_starts_the_series_from_it(api: Api) -> None:
    series = chain(api, recurring(api, "FREQ=DAILY;COUNT=2", f"{FUTURE}-06-10"), 1)
    moved = api.client.patch(
        f"{TASKS}/{series[-1]['id']}", json={"due_date": f"{FUTURE}-07-01"}, headers=auth()
    ).json()
    following = get(api, toggle(api, moved)["next_task_id"])
    assert following["due_date"] == f"{FUTURE}-07-02"


def test_completing_at_the_task_limit_is_refused_and_changes_nothing(
    api: Api, settings: Settings
) -> None:
    limited = settings.model_copy(update={"max_tasks_per_user": 2})
    with TestClient(create_app(limited)) as client:
        client.post(TASKS, json={"title": "other"}, headers=auth())
        task = client.post(
            TASKS,
            json={"title": "Series", "recurrence": "FREQ=DAILY", "due_date": f"{FUTURE}-06-10"},
            headers=auth(),
        ).json()
        response = client.patch(f"{TASKS}/{task['id']}/complete", headers=auth())
        assert response.status_code == 409
        assert response.json()["error_code"] == "TASK_LIMIT_REACHED"
        assert client.get(f"{TASKS}/{task['id']}", headers=auth()).json() == task


def test_another_user_cannot_complete_the_series(api: Api) -> None:
    task = recurring(api, "FREQ=DAILY", f"{FUTURE}-06-10")
    for method, path in (("PATCH", "/complete"), ("PUT", ""), ("PATCH", "")):
        response = api.client.request(
            method,
            f"/api/bob/tasks/{task['id']}{path}",
            json={"title": "x", "completed": True},
            headers=auth("bob"),
        )
        assert response.status_code == 404
    assert all_tasks(api) == [task]
