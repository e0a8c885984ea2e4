"""The PNG chart: throughput and p95 latency against concurrency, per server."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.stats import Key, Row

CHART_WORKLOADS = ("list", "mix")


def _series(rows: dict[Key, Row], workload: str) -> dict[str, list[Row]]:
    series: dict[str, list[Row]] = {}
    for key, row in rows.items():
        if key.workload == workload and key.rows == 0:
            series.setdefault(key.server, []).append(row)
    return {name: sorted(rs, key=lambda r: r.key.concurrency) for name, rs in series.items()}


def draw(rows: dict[Key, Row], order: list[str], path: Path, title: str) -> Path:
    measured = {key.workload for key in rows if key.rows == 0}
    # The list and the mix when they ran; else (`--workloads create,toggle`, say) what did, rather
    # than a chart of no rows, which matplotlib refuses.
    workloads = [w for w in CHART_WORKLOADS if w in measured] or sorted(measured)
    fig, axes = plt.subplots(len(workloads), 2, figsize=(12, 4.2 * len(workloads)), squeeze=False)
    for line, workload in enumerate(workloads):
        series = _series(rows, workload)
        throughput, latency = axes[line]
        for server in [s for s in order if s in series]:
            xs = [r.key.concurrency for r in series[server]]
            throughput.plot(xs, [r.rps for r in series[server]], marker="o", label=server)
            latency.plot(xs, [r.p95_ms for r in series[server]], marker="o", label=server)
        throughput.set_title(f"{workload}: throughput (median req/s)")
        latency.set_title(f"{workload}: p95 latency (median, ms)")
        latency.set_yscale("log")
        ticks = sorted({r.key.concurrency for rs in series.values() for r in rs})
        for axis in (throughput, latency):
            axis.set_xscale("log")
            axis.set_xticks(ticks, [f"{c:,}" for c in ticks])
            axis.minorticks_off()
            axis.set_xlabel("concurrent connections")
            axis.grid(True, which="both", alpha=0.3)
            axis.legend(fontsize="small")
        throughput.set_ylim(bottom=0)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
