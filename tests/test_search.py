"""`q`, substring search (SPEC.md, "Listing"): what it finds, checked against Python's own
`in` on every kind of text, on both databases; and on PostgreSQL, that the search index
finds the candidates and never mixes users who share its keys."""

import unicodedata
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.conftest import Api, auth, postgresql_only
from todo_api.tasks.listing import ListParams, page_statement

# Titles and descriptions of every kind the search must read: words inside words, case and
# Unicode spellings (a ligature, combining marks, ß), scripts without case, emoji, a newline,
# texts shorter than the index's windows, and LIKE's special characters.
TEXTS: list[tuple[str, str | None]] = [
    ("Buy oat milk", "And MILK for the coffee"),
    ("buttermilk pancakes", None),
    ("Fix the ﬁling cabinet", "second drawer"),
    ("Été à Paris", "cafe\u0301 au lait"),
    ("Straße permit", "STRASSE 5"),
    ("Ελληνικά μαθήματα", "ΣΟΦΊΑ"),
    ("日本語のテキスト", "東京 🗼 タワー"),
    ("Grandma's 🎂 party", "bring 🎁🎁"),
    ("x", "ab"),
    ("50% off_sale", "back\\slash"),
    ("two\nlines", "tab\there"),
    ("İstanbul trip", "ǅemal"),
]


def case_key(value: str) -> str:
    return unicodedata.normalize("NFKC", value.casefold())


def found(api: Api, q: str, user: str = "alice", **more: str) -> list[int]:
    answer = api.client.get(f"/api/{user}/tasks", params={"q": q, **more}, headers=auth(user))
    assert answer.status_code == 200, answer.text
    return [task["id"] for task in answer.json()]


def holding(tasks: list[dict[str, Any]], q: str) -> list[int]:
    key = case_key(q)
    return [
        task["id"]
        for task in tasks
        if key in case_key(task["title"]) or key in case_key(task["description"] or "")
    ]


def substrings(texts: list[str]) -> st.SearchStrategy[str]:
    """Any piece of the texts: inside a word, across words, a whole text, 1 to 12 characters."""
    return st.sampled_from([t for t in texts if t]).flatmap(
        lambda t: st.integers(0, len(t) - 1).flatmap(
            lambda start: st.integers(start + 1, min(len(t), start + 12)).map(
                lambda end: t[start:end]
            )
        )
    )


@pytest.fixture
def stored(api: Api) -> list[dict[str, Any]]:
    made = [api.create(title=title, description=description) for title, description in TEXTS]
    # Another user's copies of the same texts: never found by alice.
    for title, description in TEXTS[:3]:
        api.create("bob", title, description=description)
    return made


def test_q_finds_exactly_the_tasks_whose_text_contains_it(
    api: Api, stored: list[dict[str, Any]]
) -> None:
    texts = [t for pair in TEXTS for t in pair if t]

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        q=st.one_of(
            substrings(texts),
            substrings(texts).map(str.upper),
            substrings(texts).map(lambda s: unicodedata.normalize("NFD", s)),
            st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=6),
        )
    )
    def check(q: str) -> None:
        assert found(api, q) == holding(stored, q), q

    check()


@pytest.mark.parametrize(
    ("q", "titles"),
    [
        ("milk", {"Buy oat milk", "buttermilk pancakes"}),  # also the middle of a word
        ("ilk", {"Buy oat milk", "buttermilk pancakes"}),
        ("oat mi", {"Buy oat milk"}),  # across two words
        ("filing", {"Fix the ﬁling cabinet"}),  # the ligature, read as its letters
        ("strasse", {"Straße permit"}),  # ß and SS in title and description
        ("café", {"Été à Paris"}),  # é as e and a combining accent
        ("ΣΟΦΊΑ", {"Ελληνικά μαθήματα"}),
        ("🎁🎁", {"Grandma's 🎂 party"}),
        ("o\nl", {"two\nlines"}),
        ("ab", {"x", "Fix the ﬁling cabinet", "two\nlines"}),  # shorter than a window
        ("f_s", {"50% off_sale"}),
        ("milk for the coffeeX", set()),
    ],
)
def test_q_examples(api: Api, stored: list[dict[str, Any]], q: str, titles: set[str]) -> None:
    assert found(api, q) == [task["id"] for task in stored if task["title"] in titles]


def test_q_pages_and_sorts_like_any_list(api: Api, stored: list[dict[str, Any]]) -> None:
    for n in range(7):
        api.create(title=f"milk run {n}", priority=["low", "high"][n % 2])
    everything = found(api, "milk", sort="-priority")
    assert len(everything) == 9
    walked, query = [], "/api/alice/tasks?q=milk&sort=-priority&limit=2"
    while query:
        answer = api.client.get(query, headers=auth())
        walked += [task["id"] for task in answer.json()]
        link = answer.headers.get("link")
        query = link[1 : link.index(">")] if link else ""
    assert walked == everything


def _bucket_neighbour(api: Api, user: str) -> str:
    """A user id whose keys fall in the same bucket as `user`'s (migration 0011)."""
    with api.engine.connect() as connection:
        return str(
            connection.execute(
                text(
                    "SELECT 'neighbour-' || n FROM generate_series(1, 10000) AS n"
                    " WHERE hashtext('neighbour-' || n) & 255 = hashtext(:user) & 255 LIMIT 1"
                ),
                {"user": user},
            ).scalar_one()
        )


@postgresql_only
def test_users_sharing_a_bucket_find_only_their_own_tasks(api: Api) -> None:
    neighbour = _bucket_neighbour(api, "alice")
    with api.engine.connect() as connection:
        same_keys = connection.execute(
            text(
                "SELECT task_search_keys(:a, 'oat milk', '') = task_search_keys(:b, 'oat milk', '')"
            ),
            {"a": "alice", "b": neighbour},
        ).scalar_one()
    assert same_keys  # the case this test is for: the index alone cannot tell them apart
    mine = api.create(title="oat milk")
    theirs = api.create(neighbour, "oat milk")
    assert found(api, "milk") == [mine["id"]]
    assert found(api, "milk", user=neighbour) == [theirs["id"]]


def _plan(api: Api, q: str) -> str:
    statement, values = page_statement("postgresql", "alice", ListParams(q=q, limit=50))
    compiled = statement.compile(api.engine)
    with api.engine.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN {compiled}", compiled.construct_params(values))
        return "\n".join(row[0] for row in rows)


@postgresql_only
def test_the_planner_looks_q_up_in_the_search_index(api: Api) -> None:
    """With 300 of alice's tasks among 6,000 (and fresh statistics), PostgreSQL reads a `q` of
    three characters or more from the search index: the statement's keys are the index's."""
    with api.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tasks (user_id, title, title_key, completed, created_at, updated_at)"
                " SELECT CASE WHEN n % 20 = 0 THEN 'alice' ELSE 'user-' || n % 97 END,"
                " 'task ' || n, 'task ' || n, false, now(), now()"
                " FROM generate_series(1, 6000) AS n"
            )
        )
        connection.execute(text("ANALYZE tasks"))
    assert "ix_tasks_user_id_search_keys" in _plan(api, "task 12")
    assert "ix_tasks_user_id_search_keys" in _plan(api, "京 🗼")  # characters, not bytes
    for short in ("ta", "東京"):
        assert "ix_tasks_user_id_search_keys" not in _plan(api, short)
