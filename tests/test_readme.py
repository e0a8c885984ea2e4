"""README.md's "Calling the API" is examples/curl.sh, block by block, and runs as printed: the
script, against `todo-api serve` on each database, gets the status it wants from every call."""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import SECRET, Api, make_token
from tests.serving import Service, clean_env
from todo_api.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SCRIPT = ROOT / "examples" / "curl.sh"
SECTION = "## Calling the API"
# What the script holds before the README's first block, besides its shebang and comments: two
# lines that a shell into which the blocks are pasted by hand must not run.
PRELUDE_COMMANDS = ["set -euo pipefail", 'cd "$(dirname "$0")/.."']

# Each `want` of the script, in order: the status each call must answer (and does, or the
# script stops).
STATUSES = [
    *[200, 201, 200, 200, 200, 422],  # list, create, get, PUT, toggle, a misspelt field
    *[201, 201, 200, 200, 200],  # two creates, three filtered lists (then the Link line)
    *[201, 200, 200, 200, 204],  # a tagged create, ?tag=, /tags, rename, delete a tag
    *[200, 422],  # PATCH, a null title
    *[200, 412, 304],  # If-Match: the ETag read, then the same again; If-None-Match
    *[201, 201],  # an Idempotency-Key and its retry
    *[201, 200, 200],  # a recurring task, completing it, its next occurrence
    *[200, 200],  # reminders: the next 24 hours, a week
    *[201, 200, 204, 404],  # the calendar feed: made, read without a token, revoked, gone
    *[200, 200, 204, 200],  # /changes, a toggle, a delete, /changes since
]


def readme_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{SECTION}\n")
    end = text.index("\n## ", start + 1)
    return re.findall(r"^```sh\n(.*?)^```$", text[start:end], flags=re.MULTILINE | re.DOTALL)


def script_parts() -> tuple[list[str], list[str]]:
    """The script's prelude (lines), and the rest cut into blocks at its blank lines."""
    text = SCRIPT.read_text(encoding="utf-8")
    prelude, separator, rest = text.partition(f"\n{PRELUDE_COMMANDS[-1]}\n\n")
    assert separator, f"{SCRIPT.name}'s prelude must end with {PRELUDE_COMMANDS[-1]}, a blank line"
    blocks = [block if block.endswith("\n") else f"{block}\n" for block in rest.split("\n\n")]
    return [*prelude.splitlines(), separator.strip()], blocks


def test_the_readme_shows_the_script_as_it_is() -> None:
    prelude, blocks = script_parts()
    assert blocks == readme_blocks(), (
        f"the sh blocks of README.md's {SECTION!r} must be {SCRIPT.relative_to(ROOT)} after its"
        " prelude, in order, one blank line between two blocks"
    )
    assert prelude[0] == "#!/usr/bin/env bash"
    assert [line for line in prelude if line and not line.startswith("#")] == PRELUDE_COMMANDS
    assert len(blocks) >= 10


def _tools_or_fail() -> None:
    """The script needs bash, curl and python3. CI must run it: there, one missing fails."""
    missing = [tool for tool in ("bash", "curl", "python3") if shutil.which(tool) is None]
    if missing:
        message = f"README's curl examples need {', '.join(missing)}, missing on this machine"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{message} (CI must run them)")
        pytest.skip(message)


@pytest.fixture
def served(api: Api, settings: Settings, tmp_path: Path) -> Iterator[Service]:
    """`todo-api serve` on the test database, every table empty."""
    url = settings.database.sync_url.render_as_string(hide_password=False)
    service = Service(tmp_path, {"DATABASE_URL": url, "BETTER_AUTH_SECRET": SECRET}).start()
    yield service
    service.stop()


def test_the_readme_examples_run_as_printed(served: Service) -> None:
    _tools_or_fail()
    token = make_token("alice", lifetime=timedelta(minutes=10))
    run = subprocess.run(
        ["bash", str(SCRIPT)],
        env=clean_env(TOKEN=token, BASE=served.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    output = run.stdout
    assert run.returncode == 0, f"{SCRIPT.name} failed ({run.returncode}):\n{output}"
    assert [int(status) for status in re.findall(r"^HTTP (\d{3})$", output, re.M)] == STATUSES
    # What the comments beside the calls promise.
    assert re.search(r"^link: </api/alice/tasks\?limit=2&cursor=[^>]+>; rel=\"next\"", output, re.M)
    assert "idempotent-replayed: true" in output
    assert '"due_at":"2030-04-01T07:00:00' in output  # the next meeting, in summer time
    assert '"remind_at":"2030-04-01T06:45:00' in output
    assert "BEGIN:VCALENDAR" in output
    assert re.search(r'"deleted":\[\d+\]', output)
    assert "event: changed" in output and "event: deleted" in output
