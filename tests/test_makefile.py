"""The Makefile's .venv setup when `python3 -m venv` fails (Debian without python3-venv).

Fake interpreters stand in for python3 and for .venv/bin/python, so no network is needed.
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
STAMP = ".venv/.installed-stamp"
HINT = (
    "make: could not create .venv: install Python's venv module "
    "(Debian/Ubuntu: apt-get install python3-venv)"
)

# .venv/bin/python as left by a venv without ensurepip, and as made by a working one.
BROKEN_VENV_PYTHON = """#!/bin/sh
if [ "$1 $2" = "-m pip" ]; then echo "No module named pip" >&2; exit 1; fi
exit 2
"""
WORKING_VENV_PYTHON = """#!/bin/sh
if [ "$1 $2" = "-m pip" ]; then exit 0; fi
exit 2
"""


def write_script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def fake_python3(directory: Path, *, venv_works: bool) -> Path:
    """A python3 whose `-c` is the real interpreter's and whose `-m venv DIR` makes a fake venv."""
    venv_python = write_script(
        directory / "venv-python", WORKING_VENV_PYTHON if venv_works else BROKEN_VENV_PYTHON
    )
    venv_result = (
        "exit 0"
        if venv_works
        else 'echo "The virtual environment was not created: ensurepip is not available" >&2\n'
        "exit 1"
    )
    return write_script(
        directory / "python3",
        f"""#!/bin/sh
if [ "$1" = "-c" ]; then exec {shlex.quote(sys.executable)} "$@"; fi
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && cp {shlex.quote(str(venv_python))} "$3/bin/python"
  {venv_result}
fi
echo "fake python3: unexpected arguments: $*" >&2
exit 2
""",
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    shutil.copy(MAKEFILE, directory / "Makefile")
    (directory / "pyproject.toml").touch()
    (directory / "requirements.lock").touch()
    return directory


def make_stamp(project: Path, python3: Path) -> subprocess.CompletedProcess[str]:
    # Not the MAKEFLAGS of a `make test` this may run under (-n, -k, ... would leak in).
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    }
    return subprocess.run(
        ["make", "-C", str(project), STAMP, f"PYTHON={python3}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_failed_venv_stops_with_one_line_and_the_next_run_recovers(
    project: Path, tmp_path: Path
) -> None:
    failed = make_stamp(project, fake_python3(tmp_path / "without-venv", venv_works=False))
    output = failed.stdout + failed.stderr

    assert failed.returncode != 0, output
    assert [line for line in output.splitlines() if "python3-venv" in line] == [HINT], output
    assert not (project / ".venv").exists(), output

    # python3-venv installed: the next run just works.
    fixed = make_stamp(project, fake_python3(tmp_path / "with-venv", venv_works=True))

    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert (project / STAMP).is_file()


def test_broken_venv_left_by_an_older_make_is_rebuilt(project: Path, tmp_path: Path) -> None:
    write_script(project / ".venv" / "bin" / "python", BROKEN_VENV_PYTHON)

    result = make_stamp(project, fake_python3(tmp_path / "with-venv", venv_works=True))

    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / STAMP).is_file()
    assert (project / ".venv" / "bin" / "python").read_text() == WORKING_VENV_PYTHON


def test_usable_venv_is_kept(project: Path, tmp_path: Path) -> None:
    write_script(project / ".venv" / "bin" / "python", WORKING_VENV_PYTHON)
    (project / ".venv" / "kept").touch()

    # A python3 that cannot make a venv: it is not needed when .venv's pip runs.
    result = make_stamp(project, fake_python3(tmp_path / "without-venv", venv_works=False))

    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / STAMP).is_file()
    assert (project / ".venv" / "kept").is_file()
