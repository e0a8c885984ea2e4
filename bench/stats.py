"""Samples from single wrk runs, and their summary over interleaved runs (medians)."""

from collections import Counter
from dataclasses import dataclass, field
from statistics import median

from bench.wrk import WrkResult

MB = 1024 * 1024


@dataclass(frozen=True)
class Key:
    server: str
    workload: str
    concurrency: int
    rows: int = 0  # table size, for the table-size phase only


@dataclass(frozen=True)
class Sample:
    key: Key
    run: int
    result: WrkResult
    rss_tree_mb: float
    rss_process_mb: float


@dataclass(frozen=True)
class Row:
    """Medians over runs; error counts are totals over all runs."""

    key: Key
    runs: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rss_tree_mb: float
    rss_process_mb: float
    errors: int
    non_2xx: int
    socket_errors: int
    timeouts: int
    statuses: dict[int, int] = field(default_factory=dict)


def summarize(samples: list[Sample]) -> Row:
    results = [s.result for s in samples]
    statuses: Counter[int] = Counter()
    for result in results:
        statuses.update(result.statuses)
    return Row(
        key=samples[0].key,
        runs=len(samples),
        rps=median(r.rps for r in results),
        p50_ms=median(r.p50_ms for r in results),
        p95_ms=median(r.p95_ms for r in results),
        p99_ms=median(r.p99_ms for r in results),
        rss_tree_mb=median(s.rss_tree_mb for s in samples),
        rss_process_mb=median(s.rss_process_mb for s in samples),
        errors=sum(r.errors for r in results),
        non_2xx=sum(r.non_2xx for r in results),
        socket_errors=sum(r.socket_errors for r in results),
        timeouts=sum(r.timeouts for r in results),
        statuses=dict(sorted(statuses.items())),
    )


def summarize_all(samples: list[Sample]) -> dict[Key, Row]:
    grouped: dict[Key, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(sample.key, []).append(sample)
    return {key: summarize(group) for key, group in grouped.items()}
