"""End-to-end tests (marker `e2e`): real Better Auth, real uvicorn, real Chromium.

They need node, `npm ci` in tests/e2e/node and Chromium, so a plain `make test` leaves them out
(one line at the end says so); `E2E=1 make test` runs them, and then a missing piece is a
failure, never a skip. CI (.ci/run) installs the pieces and sets E2E=1.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import AuthServer, Service

E2E = os.environ.get("E2E") == "1"
_deselected: list[pytest.Item] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if E2E:
        return
    _deselected[:] = [item for item in items if item.get_closest_marker("e2e")]
    if _deselected:
        config.hook.pytest_deselected(items=_deselected)
        items[:] = [item for item in items if not item.get_closest_marker("e2e")]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _deselected:
        terminalreporter.write_line(
            f"e2e: {len(_deselected)} end-to-end tests left out; E2E=1 runs them "
            "(needs node, `npm ci` in tests/e2e/node, and chromium)"
        )


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[AuthServer | Service]]:
    """Processes a test starts; all stopped at its end, their logs printed if it failed."""
    started: list[AuthServer | Service] = []
    yield started
    for process in reversed(started):
        process.stop()
        print(f"--- {type(process).__name__} on port {process.port} ---\n{process.log()}")
