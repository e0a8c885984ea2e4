# Everything a newcomer needs: `make dev` runs the service, `make test` runs the tests.
# Both create .venv and install the locked dependencies on first use (Python 3.11+).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: dev test lint format openapi lock bench clean

# A .venv counts only if its pip runs: without python3-venv (Debian/Ubuntu), `python3 -m venv`
# fails halfway, leaving bin/python but no pip. Such a .venv is removed and made again, and if
# that fails too, make stops with one line saying what to install; the next run starts afresh.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed (set PYTHON=python3.11)")'
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || \
	  { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip --version; } >/dev/null 2>&1 || \
	  { rm -rf $(VENV); echo "make: could not create $(VENV): install Python's venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

dev: $(STAMP)
	$(BIN)/todo-api dev

# In parallel (pytest-xdist): one worker more than there are cores, since many tests spend their
# time waiting on servers they started; each worker has databases of its own. PYTEST_WORKERS=0
# runs in one process.
PYTEST_WORKERS ?= $(shell echo $$(( $$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) + 1 )))
test: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The benchmark (bench/README.md): about an hour with the arguments below (wrk's timeout is
# the issue's 30 s; c=1,000 runs last longer than it), needs PostgreSQL on 127.0.0.1:5432 and
# installs wrk when missing. Writes docs/benchmarks.{md,png,json}.
BENCH_ARGS ?= --duration 5 --duration-high 35 --timeout 30 --runs 3
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	$(BIN)/python -m bench.run $(BENCH_ARGS)

openapi: $(STAMP)
	$(BIN)/todo-api openapi --output docs/openapi.json

# Re-resolve every pin from pyproject.toml into requirements.lock, in a throwaway venv.
lock:
	rm -rf /tmp/todo-api-lock && $(PYTHON) -m venv /tmp/todo-api-lock
	/tmp/todo-api-lock/bin/python -m pip install --quiet --disable-pip-version-check '.[dev]'
	{ echo "# Every pin, resolved by make lock from pyproject.toml. Installed as constraints."; \
	  /tmp/todo-api-lock/bin/python -m pip freeze --exclude todo-api --exclude pip; } > requirements.lock

clean:
	rm -rf $(VENV) .todo-dev build *.egg-info
