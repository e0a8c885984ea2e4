"""Process helpers: resource limits, a process tree's RSS and CPU, and waiting for quiet."""

import fcntl
import os
import resource
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import psutil

WANTED_NOFILE = 65_536


def raise_nofile(wanted: int = WANTED_NOFILE) -> int:
    """``ulimit -n`` for this process and its children (wrk and servers at c=1,000)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            wanted = hard
    target = max(soft, wanted)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


@dataclass
class RssPeak:
    tree_bytes: int = 0
    process_bytes: int = 0
    samples: int = 0


class RssSampler:
    """Samples the RSS of a process tree in a thread: peak of the sum, and of any one process."""

    def __init__(self, pid: int, interval_s: float = 0.2) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak = RssPeak()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        processes = tree(self.pid)
        while not self._stop.is_set():
            sizes = [_rss(p) for p in processes]
            self.peak.tree_bytes = max(self.peak.tree_bytes, sum(sizes))
            self.peak.process_bytes = max(self.peak.process_bytes, max(sizes, default=0))
            self.peak.samples += 1
            self._stop.wait(self.interval_s)


def wait_quiet(pid: int, limit_s: float = 60.0, window_s: float = 0.5) -> float:
    """Wait until the tree uses under 5 % of a core (a c=1,000 run leaves a backlog behind)."""
    started = time.monotonic()
    processes = tree(pid)
    while time.monotonic() - started < limit_s:
        before = _cpu_seconds(processes)
        time.sleep(window_s)
        if _cpu_seconds(processes) - before < 0.05 * window_s:
            break
    return time.monotonic() - started


LOCK_PATH = Path(tempfile.gettempdir()) / "todo-api-bench.lock"


def exclusive_run(path: Path = LOCK_PATH) -> TextIO:
    """One bench at a time on a machine: two would share the CPU and the databases.

    The lock is held for as long as the returned file stays open (the process's life).
    """
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise SystemExit(
            f"another bench run is going on (pid {holder}, lock {path}): two at once would "
            "measure each other and drop each other's databases; wait for it to finish"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
