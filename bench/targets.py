"""The targets of the performance issue, checked against one run's medians."""

from dataclasses import dataclass

from bench.stats import Key, Row

LIST_RATIO_TO_DRIVER = 0.9
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
    ours = {k: r for k, r in size_rows.items() if k.server == "ours"}
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


def check(rows: dict[Key, Row], size_rows: dict[Key, Row]) -> list[Check]:
    return [
        _list_vs_driver(rows),
        _c1000(rows),
        _mix_vs_orm(rows),
        _table_size(size_rows),
        _rss(rows),
    ]
