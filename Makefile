# Entry points: the same targets CI calls. A fresh machine needs only Python 3.11+ and make
# (and Node.js 18+ with npm for `make test`: the SDK peers, see sdk-peers below).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV     := $(shell command -v uv 2>/dev/null)

BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_ARGS  ?=

.PHONY: install demo test lint format bench bench-peers bench-compare lock clean browser sdk-peers faketime

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
ifdef UV
	$(UV) venv --python $(PYTHON) $(VENV)
	$(UV) pip install --python $(BIN)/python -r requirements.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .
else
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
endif
	touch $(STAMP)

# MediLink live with simulated traffic; one real second is one engine hour, so a 3-day
# drip plays out in about a minute. Ctrl-C stops it; `make demo` again resumes the story.
# DEMO_ARGS="--reset" starts over; see `tidings demo --help`.
DEMO_ARGS ?=
demo: install
	TIDINGS_DEMO_LAUNCHER=make $(BIN)/tidings demo --time-scale 3600 $(DEMO_ARGS)

lint: install
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff format src tests bench examples
	$(BIN)/ruff check --fix src tests bench examples

# Two pytest processes share the suite (most tests wait on workers, servers and timers, not
# the CPU); the `exclusive` tests, which restart the shared PostgreSQL server, run after
# them, alone. TEST_WORKERS=1 runs everything in one process.
TEST_WORKERS ?= 2
test: lint browser sdk-peers faketime
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope -m "not exclusive"
	$(BIN)/pytest -m exclusive

# The real Trigger.dev (4.x, 3.x) and Inngest (4.x, 3.x) SDKs that tests/integration/
# test_sdk_*.py drive against a live server: installed from the committed lock file,
# once (again only when package.json or the lock changes). Needs Node 18+ and npm.
SDK_PEERS := tests/integration/node
sdk-peers: $(SDK_PEERS)/node_modules/.installed

$(SDK_PEERS)/node_modules/.installed: $(SDK_PEERS)/package.json $(SDK_PEERS)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "sdk-peers: npm not found: install Node.js 18+ (e.g. apt-get install nodejs npm)" >&2; exit 1; }
	cd $(SDK_PEERS) && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

# Headless Chromium for the dashboard's browser tests (tests/e2e/test_dashboard_browser.py):
# Debian's package, driven by Playwright through executable_path (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# libfaketime for the clock-skew test (tests/integration/test_many_hosts.py): worker
# processes whose clocks run a minute ahead of or behind the database's. Debian's package.
faketime:
	@command -v faketime >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq faketime >/dev/null; }

bench: install
	$(BIN)/python bench/core.py
	$(BIN)/python bench/events.py

# tidings side by side with DBOS and Procrastinate on PostgreSQL (see bench/peers.py). The
# peers live in their own venv, never in .venv: the pinned set plus the `bench` extra.
# Needs PostgreSQL at 127.0.0.1:5432 ($$BENCH_PG_URL) and pgbench. BENCH_ARGS=--quick to smoke.
bench-peers: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/peers.py $(BENCH_ARGS)

# This tree beside an earlier commit (BASE, default HEAD~1), back to back in one run, as
# ratios in bench/RESULTS.md (see bench/compare.py). BENCH_ARGS=--quick for small sizes.
BASE ?= HEAD~1
bench-compare: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python bench/compare.py --base $(BASE) $(BENCH_ARGS)

$(BENCH_STAMP): pyproject.toml requirements.lock
ifdef UV
	$(UV) venv --python $(PYTHON) $(BENCH_VENV)
	$(UV) pip install --python $(BENCH_VENV)/bin/python -r requirements.lock
	$(UV) pip install --python $(BENCH_VENV)/bin/python -e '.[bench]'
else
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r requirements.lock
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench]'
endif
	echo '*' > $(BENCH_VENV)/.gitignore
	touch $(BENCH_STAMP)

# Re-resolve the pinned dependency set from pyproject.toml (needs the network).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache $(SDK_PEERS)/node_modules

# Events, waits and timers on SQLite and PostgreSQL (see bench/events.py; PostgreSQL at
# 127.0.0.1:5432 or $$BENCH_PG_URL, SQLite only if unreachable). BENCH_ARGS=--quick to smoke.
.PHONY: bench-events
bench-events: install
	$(BIN)/python bench/events.py $(BENCH_ARGS)

# Backup and restore time and size, and worker throughput during backups, on SQLite and
# PostgreSQL (see bench/backup.py). BENCH_ARGS=--quick for small sizes.
.PHONY: bench-backup
bench-backup: install
	$(BIN)/python bench/backup.py $(BENCH_ARGS)

# Sends/s through each provider against its loopback fake, limit lifted and enforced
# (see bench/providers.py; about 1 minute). BENCH_ARGS=--quick to smoke.
.PHONY: bench-providers
bench-providers: install
	$(BIN)/python bench/providers.py $(BENCH_ARGS)
