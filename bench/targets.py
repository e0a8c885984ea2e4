"""The targets of the performance issue, checked against one run's medians."""

from collections.abc import Callable
from dataclasses import dataclass

from bench.explain import VERDICT_RULE, Plan
from bench.options import PAGE_WORKLOADS, V2_CONCURRENCY, V2_WORKLOADS
from bench.stats import Key, Row

LIST_RATIO_TO_DRIVER = 0.9
# The v2 workloads, against the service's own list of 50 tasks in the same runs.
PAGE_RATIO_TO_LIST = 0.7
SEARCH_RATIO_TO_LIST = 0.5
PAGE_P95_MS = 200.0
RATIO_TO_LIST = {
    "page_pending_due": PAGE_RATIO_TO_LIST,
    "page_deep": PAGE_RATIO_TO_LIST,
    "page_tag": PAGE_RATIO_TO_LIST,
}
RATIO_TO_LIST |= {"search_q": SEARCH_RATIO_TO_LIST, "search_rare": SEARCH_RATIO_TO_LIST}
assert set(RATIO_TO_LIST) == set(PAGE_WORKLOADS)
LIST_P95_MS = 200.0
MIX_RATIO_TO_ORM = 4.0
SIZE_P50_SPREAD = 0.15
RSS_PER_WORKER_MB = 150.0


@dataclass(frozen=True)
class Check:
    target: str
    measured: str
    met: bool | None  # None: not measured in this run


def _get(rows: dict[Key, Row], server: str, workload: str, c: int) -> Row | None:
    return rows.get(Key(server, workload, c))


def _list_vs_driver(rows: dict[Key, Row]) -> Check:
    target = (
        f"list, 1 worker, c=100: ≥ {LIST_RATIO_TO_DRIVER}x driver ceiling, "
        f"p95 < {LIST_P95_MS:.0f} ms, 0 errors"
    )
    ours, driver = _get(rows, "ours", "list", 100), _get(rows, "driver", "list", 100)
    if ours is None or driver is None or driver.rps == 0:
        return Check(target, "not measured", None)
    ratio = ours.rps / driver.rps
    met = ratio >= LIST_RATIO_TO_DRIVER and ours.p95_ms < LIST_P95_MS and ours.errors == 0
    measured = (
        f"{ours.rps:,.0f} vs {driver.rps:,.0f} req/s = {ratio:.2f}x, "
        f"p95 {ours.p95_ms:,.0f} ms, {ours.errors} errors"
    )
    return Check(target, measured, met)


def _c1000(rows: dict[Key, Row]) -> Check:
    target = "every workload at c=1,000: 0 errors, 0 timeouts"
    ours = [
        r for k, r in rows.items() if k.server == "ours" and k.concurrency == 1000 and not k.rows
    ]
    if not ours:
        return Check(target, "not measured", None)
    failing = [f"{r.key.workload}: {r.errors}" for r in ours if r.errors]
    measured = "; ".join(failing) if failing else f"0 errors in {len(ours)} workloads"
    return Check(target, measured, not failing)


def _mix_vs_orm(rows: dict[Key, Row]) -> Check:
    target = f"mix, c=100: ≥ {MIX_RATIO_TO_ORM:.0f}x the straightforward SQLModel version"
    ours, orm = _get(rows, "ours", "mix", 100), _get(rows, "orm", "mix", 100)
    if ours is None or orm is None or orm.rps == 0:
        return Check(target, "not measured", None)
    ratio = ours.rps / orm.rps
    measured = f"{ours.rps:,.0f} vs {orm.rps:,.0f} req/s = {ratio:.2f}x"
    return Check(target, measured, ratio >= MIX_RATIO_TO_ORM)


def _table_size(size_rows: dict[Key, Row]) -> Check:
    target = f"list p50 with the large table within {SIZE_P50_SPREAD:.0%} of the small one"
    ours = {k: r for k, r in size_rows.items() if k.server == "ours" and k.workload == "list"}
    sizes = sorted({k.rows for k in ours})
    if len(sizes) != 2:
        return Check(target, "not measured", None)
    parts, met = [], True
    for c in sorted({k.concurrency for k in ours}):
        small, large = (
            ours.get(Key("ours", "list", c, sizes[0])),
            ours.get(Key("ours", "list", c, sizes[1])),
        )
        if small is None or large is None or small.p50_ms == 0:
            continue
        change = large.p50_ms / small.p50_ms - 1
        met = met and abs(change) <= SIZE_P50_SPREAD
        parts.append(f"c={c}: {small.p50_ms:.1f} → {large.p50_ms:.1f} ms ({change:+.0%})")
    return Check(target, "; ".join(parts) or "not measured", met if parts else None)


def _rss(rows: dict[Key, Row]) -> Check:
    target = f"server RSS under load < {RSS_PER_WORKER_MB:.0f} MB per worker"
    ours = [r for k, r in rows.items() if k.server.startswith("ours")]
    if not ours:
        return Check(target, "not measured", None)
    worst = max(ours, key=lambda r: r.rss_process_mb)
    measured = (
        f"largest process {worst.rss_process_mb:.0f} MB "
        f"({worst.key.server}, {worst.key.workload}, c={worst.key.concurrency})"
    )
    return Check(target, measured, worst.rss_process_mb < RSS_PER_WORKER_MB)


def v2_lookup(rows: dict[Key, Row], size_rows: dict[Key, Row]) -> Callable[[str], Row | None]:
    """Where the v2 workloads' rows are, with the list they are compared with (the same server,
    database and runs): the table-size phase's large database when they ran there."""
    there = [k.rows for k in size_rows if k.workload in V2_WORKLOADS and k.server == "ours"]
    if there:
        table = max(there)
        return lambda workload: size_rows.get(Key("ours", workload, V2_CONCURRENCY, table))
    return lambda workload: rows.get(Key("ours", workload, V2_CONCURRENCY))


def _page_vs_list(get: Callable[[str], Row | None], workload: str) -> Check:
    ratio = RATIO_TO_LIST[workload]
    target = (
        f"{workload}, c={V2_CONCURRENCY}: ≥ {ratio}x the service's list in the same runs, "
        f"p95 < {PAGE_P95_MS:.0f} ms, 0 errors"
    )
    page, listing = get(workload), get("list")
    if page is None or listing is None or listing.rps == 0:
        return Check(target, "not measured", None)
    measured_ratio = page.rps / listing.rps
    met = measured_ratio >= ratio and page.p95_ms < PAGE_P95_MS and page.errors == 0
    measured = (
        f"{page.rps:,.0f} vs {listing.rps:,.0f} req/s = {measured_ratio:.2f}x, "
        f"p95 {page.p95_ms:,.0f} ms, {page.errors} errors"
    )
    return Check(target, measured, met)


def _patch(get: Callable[[str], Row | None]) -> Check:
    target = f"patch_if_match, c={V2_CONCURRENCY}: 0 errors (a 412 is one)"
    row = get("patch_if_match")
    if row is None:
        return Check(target, "not measured", None)
    measured = f"{row.rps:,.0f} req/s, p95 {row.p95_ms:,.0f} ms, {row.errors} errors"
    return Check(target, measured, row.errors == 0)


def _plans(plans: list[Plan]) -> Check:
    target = f"page workloads' EXPLAIN (ANALYZE): {VERDICT_RULE}"
    if not plans:
        return Check(target, "not measured", None)
    parts = []
    for plan in plans:
        if plan.error:
            parts.append(f"{plan.workload}: failed")
            continue
        found = ["seq scan"] if plan.seq_scan else []
        if plan.search and plan.read_rows >= plan.user_rows:
            found.append(f"reads all {plan.user_rows:,} of the user's tasks")
        elif plan.search and plan.sorted_rows > plan.page_rows:
            found.append(f"ok, sorts its {plan.sorted_rows:,} matches")
        elif plan.sorted_rows > plan.page_rows:
            found.append(f"sorts {plan.sorted_rows:,} rows")
        parts.append(f"{plan.workload}: {', '.join(found) or 'ok'}")
    return Check(target, "; ".join(parts), all(plan.ok for plan in plans))


def check(rows: dict[Key, Row], size_rows: dict[Key, Row], plans: list[Plan]) -> list[Check]:
    get = v2_lookup(rows, size_rows)
    return [
        _list_vs_driver(rows),
        _c1000(rows),
        _mix_vs_orm(rows),
        _table_size(size_rows),
        _rss(rows),
        *(_page_vs_list(get, workload) for workload in PAGE_WORKLOADS),
        _patch(get),
        _plans(plans),
    ]
