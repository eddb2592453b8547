"""streams.metrics.Metrics.exposition: the series per account are built once per change, not at every
scrape, and the exposition holds every family once, the live counters always current."""

from __future__ import annotations

import streams.metrics as metrics_module
from streams.metrics import Metrics


def _rate_line(body: bytes) -> list[str]:
    return [line for line in body.decode().splitlines() if line.startswith('engagement_rate_ratio{account_id="a1"')]


def test_series_per_account_show_after_a_change_and_are_built_once_per_change(monkeypatch):
    metrics = Metrics(max_account_series=10)
    built = []
    original = metrics_module.generate_latest
    monkeypatch.setattr(
        metrics_module, "generate_latest", lambda registry: built.append(registry) or original(registry)
    )
    series = ("a1", "x", "retail", "reach", "1h")
    metrics.accounts.rate.publish({series: 0.25})
    metrics.per_account_changed()
    assert _rate_line(metrics.exposition()) == [
        'engagement_rate_ratio{account_id="a1",basis="reach",industry="retail",platform="x",window="1h"} 0.25'
    ]
    metrics.counted.inc(7)
    body = metrics.exposition()  # no change per account: only the live registry is built again
    assert "engagement_events_counted_total 7.0" in body.decode()
    assert [r is metrics.per_account for r in built] == [True, False, False]
    metrics.accounts.rate.publish({series: 0.5})
    metrics.per_account_changed()
    assert _rate_line(metrics.exposition())[0].endswith(" 0.5")


def test_every_family_is_exposed_once():
    body = Metrics(max_account_series=10).exposition().decode()
    families = [line.split()[2] for line in body.splitlines() if line.startswith("# TYPE ")]
    assert len(families) == len(set(families))
    assert {"engagement_rate_ratio", "engagement_events_counted_total", "engagement_mention_response_seconds"} <= set(
        families
    )
