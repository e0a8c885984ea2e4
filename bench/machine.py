"""What the numbers were measured on: CPU, memory, kernel, PostgreSQL, Python and packages."""

import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "sqlmodel",
    "sqlalchemy",
    "asyncpg",
    "psycopg",
    "orjson",
    "pyjwt",
    "todo-api",
)


def cpu() -> str:
    models: list[str] = []
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            models.append(line.split(":", 1)[1].strip())
    if not models:
        return platform.processor() or "unknown"
    return f"{len(models)} x {models[0]}"


def _command(args: list[str]) -> str:
    try:
        result = subprocess.run(  # noqa: S603 - fixed commands
            args, capture_output=True, text=True, check=False, timeout=10
        )
    except OSError:
        return "unavailable"
    return result.stdout.rstrip() or result.stderr.rstrip()


def packages() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def describe(postgres: str, wrk: str, nofile: int, load_before: str) -> dict[str, str]:
    return {
        "CPU": cpu(),
        "memory (free -h)": _command(["free", "-h"]),
        "kernel (uname -srmo)": _command(["uname", "-srmo"]),
        "PostgreSQL": postgres,
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": ", ".join(f"{k} {v}" for k, v in packages().items()),
        "load generator": f"{wrk}, 1 thread, ulimit -n {nofile}",
        "load average (1, 5, 15 min)": f"{load_before} before the run, {load_average()} after "
        "(anything else busy on the machine shows here)",
    }
