"""docs/benchmarks.md: the machine, the servers, the targets and one table per workload."""

import shlex
from dataclasses import dataclass
from pathlib import Path

from bench.explain import VERDICT_RULE, Plan
from bench.options import V2_WORKLOADS
from bench.pg import V2_USER, QueryTiming
from bench.previous import NAME as PREVIOUS
from bench.profile import Profile
from bench.servers import ServerSpec
from bench.stats import Key, Row
from bench.targets import Check
from bench.v2 import DEEP_OFFSET, PATCHED_TASKS

WORKLOAD_TEXT = {
    "list": "`GET /api/{uid}/tasks`: one user's 50 tasks, rotating over every seeded user",
    "get": "`GET /api/{uid}/tasks/{id}`: one of the user's own tasks, at random",
    "create": "`POST /api/{uid}/tasks` with a title and a description (201)",
    "toggle": "`PATCH /api/{uid}/tasks/{id}/complete` on one of the user's own tasks",
    "mix": "70 % list, 10 % create, 10 % toggle, 5 % update (`PUT`), 5 % delete, across every "
    "seeded user; deletes remove tasks the run created",
    "list_big": "`GET /api/{uid}/tasks` of the one user with the big task list",
    "page_pending_due": "`GET /api/{uid}/tasks?status=pending&sort=due_at&limit=50`: page 1 "
    "of the v2 user's pending tasks by due date",
    "page_deep": f"`GET /api/{{uid}}/tasks?sort=id&limit=50&cursor=…`: the v2 user's page "
    f"{DEEP_OFFSET:,} tasks deep, its cursor found by walking the `Link` headers once",
    "page_tag": "`GET /api/{uid}/tasks?tag=WORK&limit=50`: page 1 of the v2 user's tasks "
    "tagged `Work` (5 % of them), the tag asked for in another case",
    "search_q": "`GET /api/{uid}/tasks?q=milk&limit=50`: the v2 user's tasks whose title or "
    "description contains `milk` (about 4 % of them)",
    "search_rare": "`GET /api/{uid}/tasks?q=piano&limit=50`: a word none of the v2 user's "
    "tasks holds (an empty page)",
    "patch_if_match": '`PATCH /api/{uid}/tasks/{id}` `{"priority": …}` with '
    f'`If-Match: "<version>"`, over {PATCHED_TASKS:,} of the v2 user\'s tasks in turn, each '
    "with the version its last ETag gave (a 412 is an error)",
}


@dataclass(frozen=True)
class Report:
    command: list[str]
    started: str
    settings: dict[str, str]
    machine: dict[str, str]
    servers: list[ServerSpec]
    rows: dict[Key, Row]
    size_rows: dict[Key, Row]
    query_timings: list[QueryTiming]
    checks: list[Check]
    profiles: list[Profile]
    chart_name: str
    plans: list[Plan]


def _ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def _ratio(value: float, base: Row | None) -> str:
    return f"{value / base.rps:.2f}x" if base and base.rps else "-"


def _errors(row: Row) -> str:
    if not row.errors:
        return "0"
    parts = [f"{code}: {n}" for code, n in row.statuses.items() if not 200 <= code < 300]
    if row.socket_errors:
        parts.append(f"socket: {row.socket_errors}")
    if row.timeouts:
        parts.append(f"timeout: {row.timeouts}")
    return f"**{row.errors}** ({', '.join(parts)})"


def _workload_table(report: Report, workload: str, order: list[str]) -> list[str]:
    rows = report.rows
    lines = [
        f"### {workload}",
        "",
        WORKLOAD_TEXT.get(workload, workload) + ".",
        "",
        "| server | c | req/s | p50 ms | p95 ms | p99 ms | errors | RSS MB (tree / largest) "
        "| x framework ceiling | x driver ceiling | x straightforward ORM | x previous |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    concurrencies = sorted({k.concurrency for k in rows if k.workload == workload})
    for c in concurrencies:
        constant = rows.get(Key("constant", "list", c))
        driver = rows.get(Key("driver", "list", c))
        orm = rows.get(Key("orm", workload, c))
        before = rows.get(Key(PREVIOUS, workload, c))
        for server in order:
            row = rows.get(Key(server, workload, c))
            if row is None:
                continue
            lines.append(
                f"| {server} | {c:,} | {row.rps:,.0f} | {_ms(row.p50_ms)} | {_ms(row.p95_ms)} "
                f"| {_ms(row.p99_ms)} | {_errors(row)} "
                f"| {row.rss_tree_mb:.0f} / {row.rss_process_mb:.0f} "
                f"| {_ratio(row.rps, constant)} | {_ratio(row.rps, driver)} "
                f"| {_ratio(row.rps, orm)} | {_ratio(row.rps, before)} |"
            )
    return [*lines, ""]


def _size_table(report: Report) -> list[str]:
    size_rows = {k: r for k, r in report.size_rows.items() if k.workload == "list"}
    if not size_rows:
        return []
    lines = [
        "## Table size: listing 50 tasks with a small and a large `tasks` table",
        "",
        "Two databases with the same users and tasks, one grown with filler users' rows (COPY, "
        "then `VACUUM (ANALYZE)`); each has its own servers (1 worker), running side by side, "
        "and the runs interleave across both sizes.",
        "",
        "| server | c | rows in tasks | req/s | p50 ms | p95 ms | p99 ms | errors | p50 vs small |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    keys = sorted(size_rows, key=lambda k: (k.server != "ours", k.server, k.concurrency, k.rows))
    for key in keys:
        row = size_rows[key]
        smallest = min(k.rows for k in size_rows if k.server == key.server)
        small = size_rows.get(Key(key.server, key.workload, key.concurrency, smallest))
        change = f"{row.p50_ms / small.p50_ms - 1:+.0%}" if small and small.p50_ms else "-"
        lines.append(
            f"| {key.server} | {key.concurrency:,} | {key.rows:,} | {row.rps:,.0f} "
            f"| {_ms(row.p50_ms)} | {_ms(row.p95_ms)} | {_ms(row.p99_ms)} | {_errors(row)} "
            f"| {change} |"
        )
    if report.query_timings:
        lines += [
            "",
            "The database alone: the contract's list query (`WHERE user_id = $1 ORDER BY id`, "
            "prepared) timed from psycopg on one connection, 3,000 times, users in rotation.",
            "",
            "| rows in tasks | p50 ms | p95 ms | plan |",
            "|---:|---:|---:|---|",
            *[
                f"| {t.rows:,} | {t.p50_ms:.2f} | {t.p95_ms:.2f} | {t.plan} |"
                for t in report.query_timings
            ],
        ]
    return [*lines, ""]


def _v2_rows(report: Report) -> tuple[dict[Key, Row], int]:
    """The service's rows of the v2 workloads and of list beside them (the table-size phase's
    large database when they ran there), and that table's size (0: the main seed)."""
    there = [k.rows for k in report.size_rows if k.workload in V2_WORKLOADS]
    table = max(there, default=0)
    source = report.size_rows if there else report.rows
    wanted = ("list", *V2_WORKLOADS)
    found = {
        k: r
        for k, r in source.items()
        if k.server == "ours" and k.rows == table and k.workload in wanted
    }
    return found, table


def _plan(plan: Plan) -> list[str]:
    lines = [
        f"### EXPLAIN: {plan.workload}",
        "",
        f"`{plan.request}`, {plan.rows:,} rows in tasks.",
        "",
    ]
    if plan.error:
        return [*lines, f"EXPLAIN failed: {plan.error}", ""]
    sorts = ", ".join(f"{rows:,} rows sorted ({method})" for method, rows in plan.sorts)
    page = f"{plan.page_rows - 1} (+1: whether another page follows)"
    if plan.page_rows and plan.read_rows > 2 * plan.page_rows:
        page += f": {plan.read_rows / plan.page_rows:,.0f}x the rows it needs"
    if plan.search:
        page += f"; the user holds {plan.user_rows:,} tasks"
    lines += [
        f"- seq scan of tasks: {'**yes**' if plan.seq_scan else 'no'}",
        f"- sort node: {sorts or 'none (an index gives the order)'}",
        f"- rows read from tasks: {plan.read_rows:,} ({plan.removed_rows:,} of them removed by "
        f"a filter) for a page of {page}",
        f"- buffers: {plan.shared_hit:,} shared hit, {plan.shared_read:,} read",
        f"- verdict: {'ok' if plan.ok else '**not ok**'} ({VERDICT_RULE})",
        "",
        "```",
        plan.text,
        "```",
        "",
    ]
    return lines


def _v2_section(report: Report) -> list[str]:
    rows, table = _v2_rows(report)
    if not any(k.workload in V2_WORKLOADS for k in rows) and not report.plans:
        return []
    where = (
        f"the table-size phase's database of {table:,} rows (the v2 user's tasks spread among "
        "the filler users'), in the same interleaved runs as its list"
        if table
        else "the main seed, with the v2 user added"
    )
    lines = [
        f"## v2 workloads: one user ({V2_USER}) with many tasks",
        "",
        f"The service (`ours`, 1 worker) against {where}. `x list` compares req/s with that "
        "list of 50 tasks (the v1 list: no parameters), same server, database, concurrency and "
        "runs.",
        "",
        "| workload | what | c | req/s | p50 ms | p95 ms | p99 ms | errors | x list |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workload in ("list", *V2_WORKLOADS):
        for key in sorted((k for k in rows if k.workload == workload), key=lambda k: k.concurrency):
            row = rows[key]
            listing = rows.get(Key("ours", "list", key.concurrency, key.rows))
            text = WORKLOAD_TEXT[workload].replace("|", "\\|")
            lines.append(
                f"| {workload} | {text} | {key.concurrency:,} | {row.rps:,.0f} "
                f"| {_ms(row.p50_ms)} | {_ms(row.p95_ms)} | {_ms(row.p99_ms)} | {_errors(row)} "
                f"| {_ratio(row.rps, listing)} |"
            )
    lines += [
        "",
        "Each page workload's query as the service builds it "
        "(`todo_api.tasks.listing.page_statement` for the same parameters), run with "
        "`EXPLAIN (ANALYZE, BUFFERS)` against the same "
        "database after the runs.",
        "",
    ]
    for plan in report.plans:
        lines += _plan(plan)
    return lines


def _checks(report: Report) -> list[str]:
    if all(c.met is None for c in report.checks):
        return []
    mark = {True: "met", False: "**not met**", None: "not measured"}
    lines = ["## Targets", "", "| target | measured | result |", "|---|---|---|"]
    lines += [f"| {c.target} | {c.measured} | {mark[c.met]} |" for c in report.checks]
    return [*lines, ""]


def _profiles(report: Report) -> list[str]:
    lines: list[str] = []
    for profile in report.profiles:
        lines += [
            f"## Profile: {profile.label}",
            "",
            f"py-spy at 200 Hz: {profile.samples:,} samples of busy threads, and "
            f"{profile.idle:,} of idle thread-pool workers left out (raw collapsed stacks: "
            f"`{profile.raw_path.name}` in the run's temporary directory, for speedscope or "
            "flamegraph.pl). Self time is the "
            'innermost frame of a sample; "on the stack" counts the samples in which one of '
            "the service's own functions is anywhere on the stack.",
            "",
            "| package (self time) | share |",
            "|---|---:|",
            *[f"| {name} | {share:.1f} % |" for name, share in profile.by_package],
            "",
            "| function (self time) | share |",
            "|---|---:|",
            *[f"| `{name}` | {share:.1f} % |" for name, share in profile.by_function],
            "",
            "| the service's function (on the stack) | share |",
            "|---|---:|",
            *[f"| `{name}` | {share:.1f} % |" for name, share in profile.service_inclusive],
            "",
        ]
    return lines


def render(report: Report) -> str:
    order = [s.name for s in report.servers]
    workloads = [
        w
        for w in WORKLOAD_TEXT
        if w not in V2_WORKLOADS and any(k.workload == w for k in report.rows)
    ]
    lines = [
        "# Benchmarks",
        "",
        f"Made by `{shlex.join(report.command)}` on {report.started}. "
        "Every figure is the median of interleaved runs; errors are totals over all runs of error "
        "events (non-2xx answers, socket errors, and replies slower than the timeout; one failed "
        "request can be more than one event). See `bench/README.md` for how it works.",
        "",
        "## Machine",
        "",
        *[
            f"- **{name}**: " + (f"\n\n```\n{value}\n```\n" if "\n" in value else value)
            for name, value in report.machine.items()
        ],
        "",
        "## Settings",
        "",
        *[f"- {name}: {value}" for name, value in report.settings.items()],
        "",
        "## Servers",
        "",
        "| name | what | command |",
        "|---|---|---|",
        *[
            f"| {s.name} | {s.description} | `{shlex.join(_short(s.command))}` |"
            for s in report.servers
        ],
        "",
        *_checks(report),
        f"![throughput and p95 latency against concurrency]({report.chart_name})",
        "",
        "## Results by workload",
        "",
        "Ratios compare req/s at the same concurrency with the two ceilings' list workload and "
        "with the straightforward ORM version's same workload. RSS is the peak during the run, "
        "of the server's whole process tree and of its largest process.",
        "",
    ]
    for workload in workloads:
        lines += _workload_table(report, workload, order)
    lines += _size_table(report)
    lines += _v2_section(report)
    lines += _profiles(report)
    return "\n".join(lines).rstrip() + "\n"


def _short(command: tuple[str, ...]) -> tuple[str, ...]:
    return (Path(command[0]).name, *command[1:])


def write(report: Report, path: Path) -> Path:
    path.write_text(render(report), encoding="utf-8")
    return path
