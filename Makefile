# The two commands: `make run` (the live service) and `make test` (the whole suite).
# Both bootstrap what is missing: virtualenv + pip install, Kafka jars (Maven), Debian packages.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: bootstrap system-deps jars run test soak bench bench-scale clean

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
	$(VENV)/bin/engagement run $(if $(DURATION),--duration $(DURATION))

test: bootstrap
	$(VENV)/bin/pytest -m "not soak"

soak: bootstrap
	$(VENV)/bin/pytest -m soak

bench: bootstrap
	$(VENV)/bin/pip install -q -e '.[dev,bench]'
	$(VENV)/bin/engagement bench $(BENCH_ARGS)

# One worker at 5,000 events/s for 20 minutes: RSS plateau and restart times (docs/performance.md).
bench-scale: bootstrap
	$(VENV)/bin/pip install -q -e '.[dev,bench]'
	$(PY) -m streams.devtools.bench.scale $(SCALE_ARGS)

clean:
	rm -rf .run .pytest_cache .hypothesis
