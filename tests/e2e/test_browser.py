"""A real browser: headless Chromium loads a page from the "frontend" origin (which also hosts
Better Auth, as a Next.js app does), signs up, gets the JWT and calls every endpoint of our real
service cross-origin with fetch. A page from an origin the service does not allow is blocked by
the browser itself.
"""

import json
import re
from pathlib import Path

import pytest

from tests.e2e.harness import AuthServer, require_chromium, run_browser
from tests.serving import Service
from todo_api.core.settings import Settings

pytestmark = pytest.mark.e2e

STEPS = [
    "sign_up",
    "get_token",
    "list_empty",
    "create",
    "get",
    "update_put",
    "complete_toggle_on",
    "complete_toggle_off",
    "list_one",
    "delete",
    "get_after_delete",
    "no_token",
    "other_user",
]


def calls_logged(log: str, method: str) -> int:
    """Lines of the service's request log for this method on an /api/ route (any log format)."""
    pattern = re.compile(rf"\b{method}\b.*/api/")
    return sum(1 for line in log.splitlines() if pattern.search(line))


def test_browser_calls_every_endpoint_and_other_origins_are_blocked(
    settings: Settings, processes: list[AuthServer | Service], tmp_path: Path
) -> None:
    require_chromium()
    frontend = AuthServer(tmp_path, static=True)
    processes.append(frontend)
    frontend.start()
    service = Service(
        tmp_path,
        {
            "DATABASE_URL": str(settings.database_url),
            "BETTER_AUTH_URL": frontend.url,
            "ALLOWED_ORIGINS": frontend.url,
        },
    )
    processes.append(service)
    service.start()

    report = run_browser(f"{frontend.url}/app.html", service.url)
    details = json.dumps(report, indent=1, ensure_ascii=False)
    assert report["exit_code"] == 0 and report["ok"] is True, details
    assert [step["name"] for step in report["results"]] == STEPS, details
    assert all(step["ok"] for step in report["results"]), details
    assert report["failed_requests"] == [], details
    served = service.log()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        assert calls_logged(served, method) > 0  # the calls reached the service itself

    # The same page, served from an origin the service does not allow.
    elsewhere = AuthServer(tmp_path, static=True)
    processes.append(elsewhere)
    elsewhere.start()
    before = len(served)
    blocked = run_browser(f"{elsewhere.url}/app.html", service.url, expect_blocked=True)
    details = json.dumps(blocked, indent=1, ensure_ascii=False)
    assert blocked["exit_code"] == 0 and blocked["ok"] is True, details
    assert blocked["mode"] == "blocked" and blocked["cors_console_message"] is True, details
    assert blocked["api_reachable_from_node"] == {"status": 401}, details
    # The browser stopped at the preflight: no call of the page reached a handler.
    assert calls_logged(service.log()[before:], "POST") == 0
