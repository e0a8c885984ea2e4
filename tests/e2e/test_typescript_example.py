"""The TypeScript example (examples/typescript) is a check, not only documentation: its types are
generated from the current docs/openapi.json, it must type-check with `tsc --strict` and build,
its offline tests (the `Link` parsing, the paging helper) must pass, and its walk-through (create,
filter, page through along `Link`, tags, PATCH with If-Match, 412) must behave as documented
against a real `todo-api serve`. A change to the API that breaks the example fails here.

Needs node and `npm ci` in examples/typescript; fails, never skips, without them.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SECRET, make_token
from tests.e2e.harness import AuthServer, node
from tests.serving import TODO_API, Service, clean_env

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "typescript"
NPM_CI = f"run `npm ci` in {EXAMPLE}"
USER_ID = "ts-example"


def npm() -> str:
    path = shutil.which("npm")
    if path is None:
        pytest.fail(f"npm is not installed: install Node.js 20 or later, then {NPM_CI}")
    return path


def require_example_modules() -> None:
    """Every devDependency installed, at the version package.json pins."""
    manifest = json.loads((EXAMPLE / "package.json").read_text())
    pinned: dict[str, str] = manifest["devDependencies"]
    for name, version in pinned.items():
        installed = EXAMPLE / "node_modules" / name / "package.json"
        if not installed.exists():
            pytest.fail(f"npm modules missing ({name}): {NPM_CI}")
        found = json.loads(installed.read_text())["version"]
        if found != version:
            pytest.fail(f"{name} {found} installed, {version} expected: {NPM_CI}")


def output(result: subprocess.CompletedProcess[str]) -> str:
    stdout, stderr = result.stdout, result.stderr
    return f"exit {result.returncode}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"


def test_the_typescript_example_type_checks_and_runs_against_the_service(
    tmp_path: Path, processes: list[AuthServer | Service]
) -> None:
    node_path, npm_path = node(), npm()
    require_example_modules()

    # Types from the current docs/openapi.json, tsc --strict (tsconfig.json), dist/, npm test.
    # The limit only stops a hang: in a parallel run on two busy cores it took over 120 s.
    check = subprocess.run(
        [npm_path, "run", "check"], cwd=EXAMPLE, capture_output=True, text=True, timeout=600
    )
    assert check.returncode == 0, f"npm run check failed:\n{output(check)}"

    database = f"sqlite:///{tmp_path / 'todo.db'}"
    settings = {"DATABASE_URL": database, "BETTER_AUTH_SECRET": SECRET}
    migrate = subprocess.run(
        [TODO_API, "migrate"],
        env=clean_env(**settings),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, output(migrate)
    service = Service(tmp_path, settings)
    processes.append(service)
    service.start()

    env = {**os.environ, "API_URL": service.url, "USER_ID": USER_ID, "TOKEN": make_token(USER_ID)}
    walk = subprocess.run(
        [node_path, "dist/main.js"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert walk.returncode == 0, f"the walk-through failed:\n{output(walk)}"
    assert "behaved as documented" in walk.stdout, output(walk)
    print(walk.stdout)
