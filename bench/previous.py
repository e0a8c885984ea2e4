"""`--previous REV`: the service as it was at another commit, measured in the same run.

A change to the request path is judged against the code before it, on the same machine and in
the same interleaved runs (a later run on this shared machine differs by up to ±10 %). The
commit's files come from `git archive` into the run's temporary directory, and run on this
interpreter with its `src/` first on the path, against a database of its own that its own
migrations made: a change to the schema is measured with the change, not beside it.
"""

import io
import subprocess
import sys
import tarfile
from pathlib import Path

from bench.options import REPO_ROOT
from bench.servers import HOST, ServerSpec, free_port

NAME = "previous"
# `todo-api` of the checked-out commit: its cli module, this interpreter.
_CLI = ("-c", "from todo_api.cli import main; main()")


def check_out(rev: str, work: Path) -> Path:
    """The commit's tree under ``work``; returns the folder to put first on PYTHONPATH."""
    # git from PATH, with the operator's own argument.
    archive = subprocess.run(  # noqa: S603
        ["git", "archive", "--format=tar", rev],  # noqa: S607
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise SystemExit(f"--previous {rev}: {archive.stderr.decode(errors='replace').strip()}")
    target = work / NAME
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tree:
        tree.extractall(target, filter="data")
    return target / "src"


def database(main: str) -> str:
    return f"{main}_{NAME}"


def migrate_command() -> tuple[str, ...]:
    return (sys.executable, *_CLI, "migrate")


def spec(rev: str, workloads: tuple[str, ...], src: Path, dsn: str) -> ServerSpec:
    port = free_port()
    command = (sys.executable, *_CLI, "serve", "--host", HOST, "--port", str(port))
    return ServerSpec(
        NAME,
        f"the service at `{rev}`, 1 worker, its own database",
        command,
        port,
        workloads,
        is_ours=True,
        env=(("PYTHONPATH", str(src)), ("DATABASE_URL", dsn)),
    )
