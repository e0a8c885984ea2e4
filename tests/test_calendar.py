"""The calendar feed on both databases: `tasks.ics` parsed back with `icalendar` and checked field
by field, imported by a second, independent parser (`ical`), and the secret address: made,
rotated, revoked, never logged, and isolated per user."""

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar
from sqlalchemy import text

from tests.conftest import Api, auth

TASKS = "/api/alice/tasks"
FEED = "/api/alice/tasks.ics"


def create(api: Api, user: str = "alice", **fields: Any) -> dict[str, Any]:
    response = api.client.post(
        f"/api/{user}/tasks", json={"title": "t", **fields}, headers=auth(user)
    )
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def feed(api: Api, user: str = "alice") -> str:
    response = api.client.get(f"/api/{user}/tasks.ics", headers=auth(user))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return response.text


def todos(text: str) -> dict[str, Any]:
    calendar = Calendar.from_ical(text)
    return {str(todo["UID"]): todo for todo in calendar.walk("VTODO")}


def stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_each_task_is_a_vtodo_with_every_field(api: Api) -> None:
    task = create(
        api,
        title="Team sync; weekly",
        description="Agenda:\nslides",
        priority="high",
        tags=["Work", "Meetings"],
        due_date="2031-06-09",
        due_time="09:00",
        timezone="Europe/Berlin",
        recurrence="FREQ=WEEKLY;BYDAY=MO",
        reminders=[15, 60],
    )
    text = feed(api)
    calendar = Calendar.from_ical(text)
    assert str(calendar["VERSION"]) == "2.0" and calendar["PRODID"]
    todo = todos(text)[f"task-{task['id']}@todo-api"]
    assert str(todo["SUMMARY"]) == "Team sync; weekly"
    assert str(todo["DESCRIPTION"]) == "Agenda:\nslides"
    assert str(todo["STATUS"]) == "NEEDS-ACTION"
    assert "COMPLETED" not in todo
    assert todo["DUE"].dt == datetime(2031, 6, 9, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert todo["DUE"].params["TZID"] == "Europe/Berlin"
    assert int(todo["PRIORITY"]) == 1
    assert [str(c) for c in todo["CATEGORIES"].cats] == ["Work", "Meetings"]
    assert todo["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=MO"
    assert todo["CREATED"].dt == stamp(task["created_at"]).replace(microsecond=0)
    assert todo["LAST-MODIFIED"].dt == stamp(task["updated_at"]).replace(microsecond=0)
    assert abs(todo["DTSTAMP"].dt - datetime.now(UTC)) < timedelta(minutes=5)
    alarms = todo.walk("VALARM")
    assert sorted(alarm["TRIGGER"].dt for alarm in alarms) == [
        timedelta(minutes=-60),
        timedelta(minutes=-15),
    ]
    for alarm in alarms:
        assert alarm["TRIGGER"].params["RELATED"] == "END"
        assert str(alarm["ACTION"]) == "DISPLAY"
    zones = [str(zone["TZID"]) for zone in calendar.walk("VTIMEZONE")]
    assert zones == ["Europe/Berlin"]


def test_a_day_without_a_time_is_a_date_and_utc_a_utc_time(api: Api) -> None:
    day = create(api, due_date="2031-06-09", priority="low")
    at = create(api, due_date="2031-06-09", due_time="23:15", priority="medium")
    plain = create(api)
    found = todos(feed(api))
    assert found[f"task-{day['id']}@todo-api"]["DUE"].dt == date(2031, 6, 9)
    assert found[f"task-{at['id']}@todo-api"]["DUE"].dt == datetime(2031, 6, 9, 23, 15, tzinfo=UTC)
    assert int(found[f"task-{day['id']}@todo-api"]["PRIORITY"]) == 9
    assert int(found[f"task-{at['id']}@todo-api"]["PRIORITY"]) == 5
    bare = found[f"task-{plain['id']}@todo-api"]
    assert not {"DUE", "PRIORITY", "CATEGORIES", "RRULE", "DESCRIPTION"} & set(bare)
    assert "VTIMEZONE" not in feed(api).replace("BEGIN:VTODO", "")


def test_a_completed_occurrence_has_completed_and_only_the_open_one_recurs(api: Api) -> None:
    task = create(api, due_date="2031-06-09", recurrence="FREQ=DAILY;COUNT=3")
    done = api.client.patch(f"{TASKS}/{task['id']}/complete", headers=auth()).json()
    found = todos(feed(api))
    first = found[f"task-{task['id']}@todo-api"]
    assert str(first["STATUS"]) == "COMPLETED"
    assert first["COMPLETED"].dt == stamp(done["completed_at"]).replace(microsecond=0)
    assert "RRULE" not in first
    # The second of three: two left, from its own due date.
    following = found[f"task-{done['next_task_id']}@todo-api"]
    assert following["DUE"].dt == date(2031, 6, 10)
    assert following["RRULE"].to_ical() == b"FREQ=DAILY;COUNT=2"


@pytest.mark.parametrize(
    ("fields", "until"),
    [
        ({}, b"UNTIL=20311231"),
        ({"due_time": "09:00", "timezone": "America/New_York"}, b"UNTIL=20320101T045959Z"),
    ],
)
def test_until_takes_the_form_of_the_due_date(
    api: Api, fields: dict[str, str], until: bytes
) -> None:
    create(api, due_date="2031-06-09", recurrence="FREQ=DAILY;UNTIL=20311231", **fields)
    (todo,) = todos(feed(api)).values()
    assert until in todo["RRULE"].to_ical()


def test_text_is_escaped_as_rfc_5545_says(api: Api) -> None:
    create(api, title="a, b; c\\d", tags=["x,y"])
    text = feed(api)
    assert "SUMMARY:a\\, b\\; c\\\\d\r\n" in text
    assert "CATEGORIES:x\\,y\r\n" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))


def test_uids_are_stable_and_the_feed_reads_in_a_second_parser(api: Api) -> None:
    create(
        api,
        title="Pay rent",
        description="by transfer",
        due_date="2031-06-01",
        recurrence="FREQ=MONTHLY;BYMONTHDAY=1",
        reminders=[1440],
        tags=["home"],
        priority="medium",
    )
    create(api, title="Call", due_date="2031-06-02", due_time="18:30", timezone="Asia/Tokyo")
    first, second = feed(api), feed(api)
    assert todos(first).keys() == todos(second).keys()
    calendar = IcsCalendarStream.calendar_from_ics(first)
    by_title = {todo.summary: todo for todo in calendar.todos}
    rent, call = by_title["Pay rent"], by_title["Call"]
    assert rent.description == "by transfer"
    assert rent.due == date(2031, 6, 1)
    assert rent.categories == ["home"]
    assert rent.priority == 5
    assert rent.rrule is not None and rent.rrule.as_rrule_str() == "FREQ=MONTHLY;BYMONTHDAY=1"
    assert [alarm.trigger for alarm in rent.alarms] == [timedelta(days=-1)]
    assert call.due == datetime(2031, 6, 2, 18, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert [zone.tz_id for zone in calendar.timezones] == ["Asia/Tokyo"]


def test_the_secret_address_serves_the_feed_without_a_token(api: Api) -> None:
    create(api, title="Mine", due_date="2031-06-09")
    response = api.client.post("/api/alice/calendar-feed", headers=auth())
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"  # as every answer of the API
    url = response.json()["url"]
    assert url.startswith("/calendar/") and url.endswith(".ics")
    secret = url.removeprefix("/calendar/").removesuffix(".ics")
    assert len(secret) >= 22  # at least 128 bits in base64url
    answer = api.client.get(url)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert todos(answer.text).keys() == todos(feed(api)).keys()
    with api.engine.connect() as connection:
        stored = connection.execute(text("SELECT secret_hash FROM calendar_feeds")).scalar_one()
    assert secret not in stored and len(stored) == 64


def test_posting_again_replaces_the_secret_and_delete_revokes_it(api: Api) -> None:
    old = api.client.post("/api/alice/calendar-feed", headers=auth()).json()["url"]
    new = api.client.post("/api/alice/calendar-feed", headers=auth()).json()["url"]
    assert old != new
    gone = api.client.get(old)
    assert gone.status_code == 404 and gone.json()["error_code"] == "NOT_FOUND"
    assert api.client.get(new).status_code == 200
    assert api.client.delete("/api/alice/calendar-feed", headers=auth()).status_code == 204
    assert api.client.get(new).status_code == 404
    assert api.client.delete("/api/alice/calendar-feed", headers=auth()).status_code == 204


@pytest.mark.parametrize(
    "path",
    [
        "/calendar/" + "A" * 43 + ".ics",
        "/calendar/short.ics",
        "/calendar/" + "A" * 64 + ".ics",
        "/calendar/%00.ics",
        "/calendar/.ics",
        "/calendar/" + "A" * 43,
    ],
)
def test_an_unknown_address_is_a_404(api: Api, path: str) -> None:
    api.client.post("/api/alice/calendar-feed", headers=auth())
    response = api.client.get(path)
    assert response.status_code in (404, 422)
    if response.status_code == 404:
        assert response.json()["error_code"] == "NOT_FOUND"


def test_the_secret_never_reaches_the_log(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = api.client.post("/api/alice/calendar-feed", headers=auth()).json()["url"]
    secret = url.removeprefix("/calendar/").removesuffix(".ics")
    api.client.get(url)
    api.client.delete("/api/alice/calendar-feed", headers=auth())
    api.client.get(url)
    # The service's own records (the test client logs the URLs it requests, as clients do).
    served = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))
    )
    assert "route=/calendar/{secret}.ics status=200" in served
    assert "route=/calendar/{secret}.ics status=404" in served
    assert secret not in served


def test_each_user_has_their_own_feed(api: Api) -> None:
    create(api, title="alice's")
    create(api, user="bob", title="bob's")
    assert [str(t["SUMMARY"]) for t in todos(feed(api, "bob")).values()] == ["bob's"]
    bob_url = api.client.post("/api/bob/calendar-feed", headers=auth("bob")).json()["url"]
    assert [str(t["SUMMARY"]) for t in todos(api.client.get(bob_url).text).values()] == ["bob's"]
    for method, path in (
        ("GET", FEED),
        ("POST", "/api/alice/calendar-feed"),
        ("DELETE", "/api/alice/calendar-feed"),
    ):
        assert api.client.request(method, path, headers=auth("bob")).status_code == 403
        assert api.client.request(method, path).status_code == 401
    assert api.client.get(bob_url).status_code == 200  # alice's calls changed nothing of bob's
