"""The v2 workloads: one user with 10,000 tasks (`pg.V2_USER`), its list asked for in pages
(filters, a sort key, keyset cursors), and its tasks changed with `PATCH` and `If-Match`.

The page workloads' queries are written here once: `lua/page.lua` requests the query its data
file names, and `explain.py` explains the statement the service builds for the same query.
"""

import json
import re
import urllib.request
from pathlib import Path
from urllib.parse import parse_qsl

import psycopg

from bench import tokens
from bench.options import PAGE_WORKLOADS
from bench.pg import ABSENT_WORD, SEARCH_WORD, TAG_NAMES, SeededUser
from bench.servers import Server

PAGE_SIZE = 50
DEEP_OFFSET = 5_000
QUERIES = {
    "page_pending_due": f"status=pending&sort=due_at&limit={PAGE_SIZE}",
    # Then the cursor of the page that starts DEEP_OFFSET tasks in, from the Link headers.
    "page_deep": f"sort=id&limit={PAGE_SIZE}",
    "page_tag": f"tag={TAG_NAMES[0].upper()}&limit={PAGE_SIZE}",
    "search_q": f"q={SEARCH_WORD}&limit={PAGE_SIZE}",
    "search_rare": f"q={ABSENT_WORD}&limit={PAGE_SIZE}",
}
assert set(QUERIES) == set(PAGE_WORKLOADS)
# patch_if_match rotates over this many of the user's tasks (spread over its ids), so that every
# task is changed several times in a run and its version must be tracked from each answer.
PATCHED_TASKS = 2_000
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


def _get(url: str, token: str) -> tuple[str, str | None]:
    request = urllib.request.Request(  # noqa: S310 - always http://127.0.0.1
        url, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
        return reply.read().decode(), reply.headers.get("Link")


def deep_page(server: Server, user: SeededUser, token: str, offset: int = DEEP_OFFSET) -> str:
    """The query of the page that starts ``offset`` tasks into ``sort=id&limit=50``: page 1,
    then each `Link: <...>; rel="next"` in turn, as a client walks them (checking that every
    page before it holds 50 tasks). With fewer tasks, the last page."""
    path = f"/api/{user.uid}/tasks?{QUERIES['page_deep']}"
    seen = 0
    while seen < offset:
        body, link = _get(server.base_url + path, token)
        found = _NEXT.search(link or "")
        if found is None:
            print(f"page_deep: only {seen + len(json.loads(body)):,} tasks", flush=True)
            break
        if len(json.loads(body)) != PAGE_SIZE:
            raise RuntimeError(f"page at offset {seen} of {user.uid} is not {PAGE_SIZE} tasks")
        seen += PAGE_SIZE
        path = found.group(1)
    print(
        f"page_deep: the page at offset {seen:,} ({seen // PAGE_SIZE + 1:,} pages in)", flush=True
    )
    return path.partition("?")[2]


def query_params(query: str, repeatable: frozenset[str]) -> dict[str, str | list[str]]:
    """The query as the service reads it: a list for each parameter that may repeat."""
    params: dict[str, str | list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in repeatable:
            listed = params.setdefault(name, [])
            assert isinstance(listed, list)
            listed.append(value)
        else:
            params[name] = value
    return params


def write_page_data(path: Path, secret: str, user: SeededUser, query: str) -> Path:
    """page.lua's data file: the user, a token, and the query every request sends."""
    return tokens.write_data_file(path, secret, [SeededUser(user.uid, ())], extra=query)


def patched_ids(user: SeededUser) -> tuple[int, ...]:
    step = max(1, len(user.task_ids) // PATCHED_TASKS)
    return user.task_ids[::step][:PATCHED_TASKS]


def write_patch_data(path: Path, dsn: str, token: str, user: SeededUser) -> Path:
    """patch_if_match.lua's data file, written before every run: the tasks it changes and, in
    the same order, the version each holds now in the server's database."""
    ids = patched_ids(user)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT id, version FROM tasks WHERE user_id = %s AND id = ANY(%s)",
            (user.uid, list(ids)),
        ).fetchall()
    versions = {int(task): int(version) for task, version in rows}
    missing = [task for task in ids if task not in versions]
    if missing:
        raise RuntimeError(f"{len(missing)} of {user.uid}'s tasks are gone (id {missing[0]})")
    line = "\t".join(
        (
            user.uid,
            token,
            ",".join(map(str, ids)),
            ",".join(str(versions[task]) for task in ids),
        )
    )
    path.write_text(line + "\n", encoding="utf-8")
    return path


class PatchData:
    """Rewrites patch_if_match's data file before each of its runs (`measure.Driver.before`):
    a run starts from the versions the tasks hold then, and tracks them from each ETag."""

    def __init__(self, path: Path, secret: str, user: SeededUser) -> None:
        self.path, self.user = path, user
        self.token = tokens.mint(secret, user.uid)

    def __call__(self, server: Server, workload: str) -> None:
        if workload == "patch_if_match":
            write_patch_data(self.path, server.database_url, self.token, self.user)
