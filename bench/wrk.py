"""Driving load with wrk (one thread) and reading the result line its Lua ``done()`` prints."""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"
SCRIPTS = {
    "list": "list.lua",
    "list_big": "list.lua",
    "get": "get.lua",
    "create": "create.lua",
    "toggle": "toggle.lua",
    "mix": "mix.lua",
    # The v2 workloads: one script for every page (the query comes from the data file).
    "page_pending_due": "page.lua",
    "page_deep": "page.lua",
    "page_tag": "page.lua",
    "search_q": "page.lua",
    "search_rare": "page.lua",
    "patch_if_match": "patch_if_match.lua",
}
RESULT_MARK = "BENCH_RESULT "


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    timeouts: int
    statuses: dict[int, int]
    fallbacks: int

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def non_2xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if not 200 <= code < 300)

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors + self.timeouts


def ensure_wrk() -> str:
    """wrk from Debian's package; installed with apt-get when missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: apt-get install -y wrk", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        subprocess.run(command, check=True, env=env)  # noqa: S603 - fixed commands
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("could not install wrk (apt-get install -y wrk)")
    return found


def version(wrk: str) -> str:
    result = subprocess.run(  # noqa: S603 - wrk found on PATH
        [wrk, "-v"], capture_output=True, text=True, check=False
    )
    first = (result.stdout or result.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def parse(output: str) -> WrkResult:
    line = next((ln for ln in output.splitlines() if ln.startswith(RESULT_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result line:\n{output[-2000:]}")
    raw = json.loads(line[len(RESULT_MARK) :])
    return WrkResult(
        requests=int(raw["requests"]),
        duration_s=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1e3,
        p90_ms=raw["p90_us"] / 1e3,
        p95_ms=raw["p95_us"] / 1e3,
        p99_ms=raw["p99_us"] / 1e3,
        max_ms=raw["max_us"] / 1e3,
        socket_errors=int(raw["connect_errors"] + raw["read_errors"] + raw["write_errors"]),
        timeouts=int(raw["timeouts"]),
        statuses={int(code): int(n) for code, n in raw["statuses"].items()},
        fallbacks=int(raw["fallbacks"]),
    )


def run(
    wrk: str,
    base_url: str,
    workload: str,
    data_file: Path,
    connections: int,
    duration_s: int,
    timeout: str,
    log: Path,
) -> WrkResult:
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--timeout",
        timeout,
        "--latency",
        "-s",
        str(LUA_DIR / SCRIPTS[workload]),
        base_url,
    ]
    env = {**os.environ, "BENCH_DATA": str(data_file), "BENCH_LUA_DIR": str(LUA_DIR)}
    result = subprocess.run(  # noqa: S603 - wrk with our own arguments
        command,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=duration_s + 120,
    )
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        raise RuntimeError(f"wrk exited {result.returncode}: {result.stderr[-2000:]}")
    return parse(result.stdout)
