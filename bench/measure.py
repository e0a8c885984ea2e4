"""One measured wrk run against one running server, and the interleaved matrix of them."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import procs, wrk
from bench.servers import Server
from bench.stats import Key, Sample

WRITES = frozenset({"create", "toggle", "mix", "patch_if_match"})


def _nothing(server: Server, workload: str) -> None:
    return None


@dataclass(frozen=True)
class Driver:
    """What every run needs: wrk, the data files per workload, settings and a log; what to do
    after a write workload, and before any run (patch_if_match's data file is made then)."""

    wrk: str
    data: dict[str, Path]
    timeout: str
    log: Path
    reset_writes: Callable[[], None]
    before: Callable[[Server, str], None] = _nothing


def once(driver: Driver, server: Server, workload: str, c: int, seconds: int) -> wrk.WrkResult:
    """Unmeasured load (warm-up or a profile): the same run, no sample kept."""
    driver.before(server, workload)
    result = wrk.run(
        driver.wrk,
        server.base_url,
        workload,
        driver.data[workload],
        c,
        seconds,
        driver.timeout,
        driver.log,
    )
    _after(driver, server, workload)
    return result


def sample(driver: Driver, server: Server, key: Key, run: int, seconds: int) -> Sample:
    driver.before(server, key.workload)
    with procs.RssSampler(server.pid) as rss:
        result = wrk.run(
            driver.wrk,
            server.base_url,
            key.workload,
            driver.data[key.workload],
            key.concurrency,
            seconds,
            driver.timeout,
            driver.log,
        )
    _after(driver, server, key.workload)
    mb = 1024 * 1024
    return Sample(key, run, result, rss.peak.tree_bytes / mb, rss.peak.process_bytes / mb)


def _after(driver: Driver, server: Server, workload: str) -> None:
    # A c=1,000 run leaves up to 1,000 requests in the server when wrk stops: let it finish
    # before the next run, and undo what write workloads changed so every server sees the
    # same data.
    procs.wait_quiet(server.pid)
    if workload in WRITES:
        driver.reset_writes()


def describe(s: Sample) -> str:
    r = s.result
    label = f"{s.key.server}@{s.key.rows:,}" if s.key.rows else s.key.server
    return (
        f"{label:>17} {s.key.workload:<16} c={s.key.concurrency:<5} run {s.run}: "
        f"{r.rps:8,.0f} req/s  p50 {r.p50_ms:7.1f}  p95 {r.p95_ms:7.1f}  p99 {r.p99_ms:7.1f} ms  "
        f"errors {r.errors}  rss {s.rss_tree_mb:.0f} MB"
    )


def interleaved(
    driver: Driver,
    servers: list[Server],
    workloads: tuple[str, ...],
    concurrency: tuple[int, ...],
    runs: int,
    seconds: Callable[[int], int],
    levels: dict[str, tuple[int, ...]] | None = None,
) -> list[Sample]:
    """Run r of every (workload, c, server) before run r+1; server order rotates per run.
    ``levels`` gives some workloads other concurrency levels than ``concurrency``."""
    samples: list[Sample] = []
    for run in range(1, runs + 1):
        shift = (run - 1) % len(servers)
        order = servers[shift:] + servers[:shift]
        for workload in workloads:
            for c in (levels or {}).get(workload, concurrency):
                for server in order:
                    if workload not in server.spec.workloads:
                        continue
                    key = Key(server.spec.name, workload, c, server.rows)
                    result = sample(driver, server, key, run, seconds(c))
                    print(describe(result), flush=True)
                    samples.append(result)
    return samples
