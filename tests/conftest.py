"""The tiers, by folder: tests/unit (no broker, no live server, no sleeps: `make check`),
tests/integration (the embedded Kafka broker, a live Prometheus or Alertmanager, the built wheel) and
tests/soak (long reliability runs: `make soak`). The fixtures and helpers the tests share are in
tests/fixtures/; a test module imports from there, never from another test module."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ("tests.fixtures.kafka", "tests.fixtures.prometheus", "tests.fixtures.simulator")

TIERS = {"integration": pytest.mark.integration, "soak": pytest.mark.soak}
# A unit test that asks for one of these is misfiled: it would start a broker or a server in make check.
LIVE_FIXTURES = frozenset({"kafka_bootstrap", "live_prometheus"})
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = Path(item.path).relative_to(TESTS).parts[0]
        if tier in TIERS:
            item.add_marker(TIERS[tier])
        elif tier == "unit" and LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            raise pytest.UsageError(f"{item.nodeid} needs a broker or a live server: it belongs in tests/integration")
