"""Optional py-spy profile of the service under load: where its CPU goes, by package."""

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# py-spy's raw (collapsed) format: "frame;frame;...;frame COUNT", the root frame naming the
# process, each other frame "function (package/module.py:line)".
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
IDLE = ("Condition.wait (threading.py", "select (selectors.py")
WAITING = "Queue.get (queue.py"  # a thread-pool worker waiting for (or waking to) work
NATIVE = "(no Python frame: native code)"
ENTRY = "(todo_api/cli.py"  # main() and _serve() are on every stack


@dataclass(frozen=True)
class Profile:
    label: str
    samples: int
    idle: int
    by_package: list[tuple[str, float]]
    by_function: list[tuple[str, float]]
    service_inclusive: list[tuple[str, float]]
    raw_path: Path


def py_spy() -> str | None:
    here = str(Path(sys.executable).parent)
    return shutil.which("py-spy") or shutil.which("py-spy", path=here)


def start(pid: int, duration_s: int, out: Path) -> subprocess.Popen[bytes] | None:
    """Sample the process tree at 200 Hz for ``duration_s``; None when py-spy is missing."""
    program = py_spy()
    if program is None:
        return None
    return subprocess.Popen(  # noqa: S603 - py-spy on our own server
        [
            program,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--rate",
            "200",
            "--duration",
            str(duration_s),
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _parts(frame: str) -> tuple[str, str]:
    match = FRAME.match(frame)
    return (match.group("func"), match.group("file")) if match else (frame, "")


def _package(frame: str) -> str:
    if frame.startswith("process "):
        return NATIVE
    _, file = _parts(frame)
    return file.split("/", 1)[0] if "/" in file else "stdlib"


def _function(frame: str) -> str:
    if frame.startswith("process "):
        return NATIVE
    func, file = _parts(frame)
    return f"{func} ({file})" if file else func


def _service_frames(frames: list[str]) -> set[str]:
    return {_function(f) for f in frames if "(todo_api/" in f and ENTRY not in f}


def summarize(label: str, raw_path: Path, top: int = 15) -> Profile | None:
    """Self time of each sample's innermost frame, by package and function; and the share of
    samples in which each of the service's own functions is on the stack. Samples of an idle
    thread (a thread-pool worker waiting for work) are counted apart, not in the shares."""
    if not raw_path.exists():
        return None
    packages: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    service: Counter[str] = Counter()
    total = idle = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count, frames = int(count_text), stack.split(";")
        if frames[-1].startswith(IDLE) or any(f.startswith(WAITING) for f in frames):
            idle += count
            continue
        packages[_package(frames[-1])] += count
        functions[_function(frames[-1])] += count
        for name in _service_frames(frames):
            service[name] += count
        total += count
    if total == 0:
        return None

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, 100 * n / total) for name, n in counter.most_common(top)]

    return Profile(
        label, total, idle, shares(packages), shares(functions), shares(service), raw_path
    )
