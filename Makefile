# The two commands: `make run` (the live service) and `make test` (the whole suite).
# Both bootstrap what is missing: virtualenv + pip install, Kafka jars (Maven), Debian packages.
# Before each commit: `make check` (lint, types, the unit tier; the virtualenv only, no broker).
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: bootstrap system-deps jars run check test soak bench bench-scale bench-week clean

bootstrap: system-deps $(STAMP) jars

system-deps:
	@bash deploy/bootstrap-system.sh

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

jars: $(STAMP)
	@$(PY) -m streams.devtools.broker --fetch >/dev/null

run: bootstrap
	$(VENV)/bin/engagement run $(if $(DURATION),--duration $(DURATION)) $(if $(REAL_TIME),--real-time)

# Needs the virtualenv only (not the jars nor the Debian packages): the unit tier starts no broker.
# One pytest worker per core; a module's tests stay on one worker (module-scoped fixtures start once).
check: $(STAMP)
	$(VENV)/bin/ruff check streams tests
	$(VENV)/bin/ruff format --check streams tests
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -n auto --dist loadfile tests/unit

test: bootstrap
	$(VENV)/bin/pytest -m "not soak" --durations=15

soak: bootstrap
	$(VENV)/bin/pytest -m soak

bench: bootstrap
	$(VENV)/bin/pip install -q -e '.[dev,bench]'
	$(VENV)/bin/engagement bench $(BENCH_ARGS)

# One worker at 5,000 events/s for 20 minutes: RSS plateau and restart times (docs/performance.md).
bench-scale: bootstrap
	$(VENV)/bin/pip install -q -e '.[dev,bench]'
	$(PY) -m streams.devtools.bench.scale $(SCALE_ARGS)

# One worker at the state a week of uptime gives it (pre-filled), 20 minutes at 5,000 events/s, two
# SIGKILLs: state sizes, RSS and restore peaks, snapshot bytes per interval (docs/performance.md).
# Short dev run: make bench-week WEEK_ARGS="--minutes 3 --accounts 200 --prefill-days 1"
bench-week: bootstrap
	$(VENV)/bin/pip install -q -e '.[dev,bench]'
	$(PY) -m streams.devtools.bench.week $(WEEK_ARGS)

clean:
	rm -rf .run .pytest_cache .hypothesis .mypy_cache .ruff_cache
