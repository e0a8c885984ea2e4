"""Listing with filters, sort keys and keyset pages (SPEC.md, "Listing, filtering, sorting,
pages"), on both databases, checked against an order computed here from the rules."""

import random
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.conftest import Api, auth

SORT_KEYS = ("id", "created_at", "updated_at", "due_at", "priority", "title", "completed_at")
RANKS = {"none": 0, "low": 1, "medium": 2, "high": 3}


def listed(api: Api, query: str, user: str = "alice") -> Any:
    answer = api.client.get(f"/api/{user}/tasks?{query}", headers=auth(user))
    assert answer.status_code == 200, answer.text
    return answer


def ids(answer: Any) -> list[int]:
    return [task["id"] for task in answer.json()]


@pytest.fixture
def tasks(api: Api) -> list[dict[str, Any]]:
    """Twelve tasks of alice's with every field varied (and ties), and one of bob's."""
    rng = random.Random(7)
    made = []
    titles = ["Été", "apple", "Zebra", "été", "banana", "Apple", "ÉTÉ 2", "cherry"]
    for n in range(12):
        fields: dict[str, Any] = {
            "title": titles[n % len(titles)],
            "description": ["50% off", "under_score", "back\\slash", None][n % 4],
            "priority": rng.choice(list(RANKS)),
        }
        if n % 3:
            fields["due_date"] = f"2026-0{1 + n % 3}-1{n % 2}"
            if n % 2:
                fields["due_time"] = "09:30"
                fields["timezone"] = "Europe/Berlin"
        task = api.create(**fields)
        if n % 4 == 1:
            task = api.client.patch(
                f"/api/alice/tasks/{task['id']}/complete", headers=auth()
            ).json()
        made.append(task)
    api.create("bob", "bob's apple", priority="high", due_date="2026-01-10")
    return made


def expected_order(tasks: list[dict[str, Any]], keys: list[str]) -> list[int]:
    """The order SPEC.md defines: each key ascending or descending, a missing value last in
    either direction, then id ascending."""

    def value(task: dict[str, Any], name: str) -> Any:
        if name == "title":
            return task["title"].casefold()
        if name == "priority":
            return RANKS[task["priority"]]
        if name in ("created_at", "updated_at", "due_at", "completed_at") and task[name]:
            return datetime.fromisoformat(task[name])
        return task[name]

    ordered = sorted(tasks, key=lambda task: task["id"])
    for key in reversed(keys):
        name, descending = key.removeprefix("-"), key.startswith("-")
        present = [t for t in ordered if value(t, name) is not None]
        missing = [t for t in ordered if value(t, name) is None]
        present.sort(key=lambda t: value(t, name), reverse=descending)
        if descending:  # sorted(reverse=True) keeps ties in order; id still ascends among them
            present = sorted(present, key=lambda t: value(t, name), reverse=True)
        ordered = present + missing
    return [task["id"] for task in ordered]


@pytest.mark.parametrize("key", SORT_KEYS)
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
def test_every_sort_key_in_both_directions(
    api: Api, tasks: list[dict[str, Any]], key: str, descending: bool
) -> None:
    sort = ("-" if descending else "") + key
    current = listed(api, "").json()
    assert ids(listed(api, f"sort={sort}")) == expected_order(current, [sort])


@pytest.mark.parametrize(
    "sort", ["-priority,due_at", "title,-id", "completed_at,-title", "due_at,-priority,title"]
)
def test_several_sort_keys(api: Api, tasks: list[dict[str, Any]], sort: str) -> None:
    current = listed(api, "").json()
    assert ids(listed(api, f"sort={sort}")) == expected_order(current, sort.split(","))
    # A key given again adds nothing: the first time it is named decides.
    assert ids(listed(api, f"sort={sort},-{sort.split(',')[0].lstrip('-')}")) == ids(
        listed(api, f"sort={sort}")
    )


@pytest.mark.parametrize("sort", ["id", "-due_at", "title", "-priority,due_at", "completed_at"])
@pytest.mark.parametrize("limit", [1, 5])
def test_pages_walk_the_same_order(
    api: Api, tasks: list[dict[str, Any]], sort: str, limit: int
) -> None:
    whole = ids(listed(api, f"sort={sort}"))
    walked: list[int] = []
    answer = listed(api, f"sort={sort}&limit={limit}")
    while True:
        page = ids(answer)
        assert len(page) <= limit
        walked += page
        if "link" not in answer.headers:
            break
        link = answer.headers["link"]
        assert link.startswith("</api/alice/tasks?") and link.endswith('>; rel="next"')
        url = link[1 : link.index(">")]
        asked = dict(parse_qsl(urlsplit(url).query))
        assert (asked["sort"], asked["limit"]) == (sort, str(limit))
        answer = listed(api, urlsplit(url).query)
    assert walked == whole


def test_a_walk_sees_each_untouched_task_once_while_others_come_and_go(api: Api) -> None:
    untouched = [api.create(title=f"stays {n}")["id"] for n in range(20)]
    doomed = [api.create(title=f"goes {n}")["id"] for n in range(10)]
    seen: list[int] = []
    answer = listed(api, "sort=-id&limit=3")
    while True:
        seen += ids(answer)
        # Between pages, another device deletes one task and creates two.
        if doomed:
            api.client.delete(f"/api/alice/tasks/{doomed.pop()}", headers=auth())
        api.create(title="new")
        api.create(title="new")
        if "link" not in answer.headers:
            break
        link = answer.headers["link"]
        answer = listed(api, urlsplit(link[1 : link.index(">")]).query)
    assert sorted(task for task in seen if task in untouched) == untouched
    assert len(seen) == len(set(seen))


def test_filters(api: Api, tasks: list[dict[str, Any]]) -> None:
    current = listed(api, "").json()

    def where(test: Any) -> list[int]:
        return [t["id"] for t in current if test(t)]

    assert ids(listed(api, "status=pending")) == where(lambda t: not t["completed"])
    assert ids(listed(api, "status=completed")) == where(lambda t: t["completed"])
    assert ids(listed(api, "status=all")) == where(lambda t: True)
    assert ids(listed(api, "priority=high,medium")) == where(
        lambda t: t["priority"] in ("high", "medium")
    )
    assert ids(listed(api, "has_due=true")) == where(lambda t: t["due_date"] is not None)
    assert ids(listed(api, "has_due=false")) == where(lambda t: t["due_date"] is None)
    after, before = "2026-02-01T00:00:00+00:00", "2026-03-11T00:00:00%2B00:00"
    assert ids(listed(api, f"due_after={after.replace('+', '%2B')}")) == where(
        lambda t: t["due_at"] is not None and t["due_at"] >= after
    )
    assert ids(listed(api, f"due_before={before}")) == where(
        lambda t: t["due_at"] is not None and t["due_at"] < "2026-03-11T00:00:00+00:00"
    )
    combined = listed(api, f"status=pending&has_due=true&due_before={before}&sort=due_at")
    assert sorted(ids(combined)) == where(
        lambda t: (
            not t["completed"]
            and t["due_at"] is not None
            and t["due_at"] < "2026-03-11T00:00:00+00:00"
        )
    )


@pytest.mark.parametrize(
    ("q", "titles"),
    [
        ("ÉTÉ", {"Été", "été", "ÉTÉ 2"}),
        ("été", {"Été", "été", "ÉTÉ 2"}),
        ("APPLE", {"apple", "Apple"}),
        ("50%", {"__description__50% off"}),
        ("%", {"__description__50% off"}),
        ("_", {"__description__under_score"}),
        ("\\", {"__description__back\\slash"}),
    ],
)
def test_q_finds_text_in_title_or_description_case_insensitively(
    api: Api, tasks: list[dict[str, Any]], q: str, titles: set[str]
) -> None:
    current = listed(api, "").json()
    expected = [
        t["id"]
        for t in current
        if t["title"] in titles or f"__description__{t['description']}" in titles
    ]
    answer = api.client.get("/api/alice/tasks", params={"q": q}, headers=auth())
    assert ids(answer) == expected


def test_filters_never_reach_another_users_tasks(api: Api, tasks: list[dict[str, Any]]) -> None:
    for query in ("q=apple", "priority=high", "has_due=true", "sort=-priority&limit=500"):
        assert all(task["user_id"] == "alice" for task in listed(api, query).json())
    assert [t["title"] for t in listed(api, "q=bob", user="bob").json()] == ["bob's apple"]
    assert listed(api, "q=bob").json() == []


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("stauts=pending", "stauts"),
        ("status=open", "status"),
        ("status=pending&status=completed", "status"),
        ("priority=urgent", "priority"),
        ("priority=high,", "priority"),
        ("q=" + "x" * 201, "q"),
        ("due_after=2026-01-01T00:00:00", "due_after"),
        ("due_before=tomorrow", "due_before"),
        ("has_due=maybe", "has_due"),
        ("sort=nope", "sort"),
        ("sort=-", "sort"),
        ("sort=title,%20id", "sort"),
        ("cursor=", "cursor"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("limit=5&limit=6", "limit"),
    ],
)
def test_bad_parameters_are_a_422_naming_the_parameter(
    api: Api, query: str, parameter: str
) -> None:
    answer = api.client.get(f"/api/alice/tasks?{query}", headers=auth())
    assert answer.status_code == 422, answer.text
    assert answer.json()["error_code"] == "VALIDATION_ERROR"
    assert list(answer.json()["field_errors"]) == [parameter]


@pytest.mark.parametrize("parameter", ["due_after", "due_before"])
def test_a_plus_sent_as_it_is_is_told_to_be_sent_as_2b(api: Api, parameter: str) -> None:
    # An unencoded `+` in a query string is a space by the time it is read.
    answer = api.client.get(
        f"/api/alice/tasks?{parameter}=2026-12-01T00:00:00+01:00", headers=auth()
    )
    assert answer.status_code == 422, answer.text
    [message] = answer.json()["field_errors"][parameter]
    assert "%2B" in message and "2026-12-01T00:00:00%2B01:00" in message, message
    encoded = listed(api, f"{parameter}=2026-12-01T00:00:00%2B01:00")
    assert encoded.json() == []


@pytest.mark.parametrize(
    ("query", "parameter", "message"),
    [
        (
            "sort=dueAt",
            "sort",
            "unknown sort key 'dueAt'; the keys are " + ", ".join(SORT_KEYS) + ", each "
            "optionally prefixed with - for descending",
        ),
        (
            "sort=title,-Priority",
            "sort",
            "unknown sort key 'Priority'; the keys are " + ", ".join(SORT_KEYS) + ", each "
            "optionally prefixed with - for descending",
        ),
        (
            "priority=high,urgent",
            "priority",
            "unknown priority 'urgent'; the levels are " + ", ".join(RANKS),
        ),
    ],
)
def test_an_unknown_sort_key_or_priority_is_told_in_words(
    api: Api, query: str, parameter: str, message: str
) -> None:
    answer = api.client.get(f"/api/alice/tasks?{query}", headers=auth())
    assert answer.status_code == 422, answer.text
    assert answer.json()["field_errors"] == {parameter: [message]}


def test_an_empty_q_is_no_search(api: Api, tasks: list[dict[str, Any]]) -> None:
    # What an emptied search box sends: the whole list, as without q, pages included.
    assert ids(listed(api, "q=")) == ids(listed(api, ""))
    first = listed(api, "q=&limit=5")
    assert ids(first) == ids(listed(api, "limit=5"))
    link = first.headers["link"]
    assert ids(listed(api, urlsplit(link[1 : link.index(">")]).query)) == ids(listed(api, ""))[5:10]
    # Only exactly empty: whitespace is text to search for, like any other.
    spaced = [
        t["id"]
        for t in listed(api, "").json()
        if " " in t["title"] or " " in (t["description"] or "")
    ]
    assert ids(listed(api, "q=%20")) == spaced


def test_a_cursor_works_only_where_it_was_made(api: Api, tasks: list[dict[str, Any]]) -> None:
    first = listed(api, "sort=title&status=pending&limit=2")
    link = first.headers["link"]
    cursor = dict(parse_qsl(urlsplit(link[1 : link.index(">")]).query))["cursor"]
    # The page size may change between pages.
    assert listed(api, f"sort=title&status=pending&limit=4&cursor={cursor}").status_code == 200
    altered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for query in (
        f"sort=-title&status=pending&limit=2&cursor={cursor}",
        f"sort=title&status=completed&limit=2&cursor={cursor}",
        f"sort=title&limit=2&cursor={cursor}",
        f"sort=title&status=pending&limit=2&cursor={altered}",
        "sort=title&status=pending&limit=2&cursor=not-a-cursor",
    ):
        answer = api.client.get(f"/api/alice/tasks?{query}", headers=auth())
        assert answer.status_code == 422, query
        assert answer.json()["error_code"] == "INVALID_CURSOR"
        assert list(answer.json()["field_errors"]) == ["cursor"]


def test_a_cursor_says_why_it_is_refused(api: Api, tasks: list[dict[str, Any]]) -> None:
    link = listed(api, "sort=title&limit=2").headers["link"]
    cursor = dict(parse_qsl(urlsplit(link[1 : link.index(">")]).query))["cursor"]
    sync_cursor = api.client.get("/api/alice/changes", headers=auth()).json()["cursor"]
    cases = [
        ("alice", f"sort=-title&limit=2&cursor={cursor}", "other filters or another sort"),
        ("alice", f"sort=title&limit=2&cursor={sync_cursor}", "This is a sync cursor"),
        # Another user's cursor is refused, never read as a position among bob's own tasks.
        ("bob", f"sort=title&limit=2&cursor={cursor}", "made for another user"),
    ]
    for user, query, reason in cases:
        answer = api.client.get(f"/api/{user}/tasks?{query}", headers=auth(user))
        assert answer.status_code == 422, (user, query)
        assert answer.json()["error_code"] == "INVALID_CURSOR"
        assert reason in answer.json()["detail"]
        assert reason in answer.json()["field_errors"]["cursor"][0]


def test_without_limit_every_matching_task_and_no_link(
    api: Api, tasks: list[dict[str, Any]]
) -> None:
    answer = listed(api, "sort=-id")
    assert len(answer.json()) == 12 and "link" not in answer.headers
    last_page = listed(api, "limit=12")
    assert len(last_page.json()) == 12 and "link" not in last_page.headers
