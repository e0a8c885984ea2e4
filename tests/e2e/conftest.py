"""End-to-end tests (marker `e2e`): real Better Auth, real uvicorn, real Chromium.

They need node, `npm ci` in tests/e2e/node and Chromium, so a plain `make test` leaves them out
(one line at the end says so); `E2E=1 make test` runs them, and then a missing piece is a
failure, never a skip. CI (.ci/run) installs the pieces and sets E2E=1.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import AuthServer
from tests.serving import Service


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[AuthServer | Service]]:
    """Processes a test starts; all stopped at its end, their logs printed if it failed."""
    started: list[AuthServer | Service] = []
    yield started
    for process in reversed(started):
        process.stop()
        print(f"--- {type(process).__name__} on port {process.port} ---\n{process.log()}")
