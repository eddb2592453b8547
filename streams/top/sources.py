"""What `engagement top` reads, each over plain HTTP with a short timeout: the workers' /metrics and
/health, Prometheus' query and alerts API, Alertmanager's alerts. A source that does not answer gives
its error instead of data, so the view shows it as such and goes on."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

TIMEOUT_SECONDS = 1.5  # per request: a refresh must not hang on one dead source


@dataclass
class Metrics:
    """One scrape of a worker's /metrics: samples as (name, labels, value)."""

    samples: list[tuple[str, dict, float]] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> "Metrics":
        return cls([(s.name, s.labels, s.value) for family in text_string_to_metric_families(text)
                    for s in family.samples])

    def total(self, name: str, **match: str) -> float:
        return sum(v for n, labels, v in self.samples if n == name and _matches(labels, match))

    def series(self, name: str, **match: str) -> list[tuple[dict, float]]:
        return [(labels, v) for n, labels, v in self.samples if n == name and _matches(labels, match)]

    def has(self, name: str) -> bool:
        return any(n == name for n, _, _ in self.samples)


def _matches(labels: dict, match: dict) -> bool:
    return all(labels.get(k) == v for k, v in match.items())


@dataclass
class WorkerReading:
    url: str
    metrics: Metrics | None = None
    health: dict | None = None
    error: str | None = None


@dataclass
class MonitoringReading:
    alerts: list[dict] | None = None  # Alertmanager's, with receivers
    bands: dict[str, dict[str, float]] | None = None  # account_id -> {"low": .., "high": ..} (Prometheus)
    prometheus_error: str | None = None
    alertmanager_error: str | None = None


def get(url: str, timeout: float = TIMEOUT_SECONDS) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (operator-given URLs)
        return response.read().decode()


def _error(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = getattr(exc, "reason", None) or exc
    return f"not answering ({reason})"


def read_worker(url: str) -> WorkerReading:
    reading = WorkerReading(url.rstrip("/"))
    try:
        reading.metrics = Metrics.parse(get(f"{reading.url}/metrics"))
        reading.health = json.loads(get(f"{reading.url}/health"))
    except (OSError, ValueError) as exc:
        reading.error = _error(exc)
    return reading


def read_monitoring(prometheus: str | None, alertmanager: str | None) -> MonitoringReading:
    reading = MonitoringReading()
    if prometheus:
        try:
            query = urllib.parse.urlencode({"query": "account:engagement_benchmark:ratio"})
            result = json.loads(get(f"{prometheus.rstrip('/')}/api/v1/query?{query}"))["data"]["result"]
            reading.bands = {}
            for item in result:
                labels = item["metric"]
                reading.bands.setdefault(labels.get("account_id", ""), {})[labels.get("bound", "")] = \
                    float(item["value"][1])
        except (OSError, ValueError, KeyError) as exc:
            reading.prometheus_error = _error(exc)
    if alertmanager:
        try:
            reading.alerts = json.loads(get(f"{alertmanager.rstrip('/')}/api/v2/alerts?active=true"))
        except (OSError, ValueError) as exc:
            reading.alertmanager_error = _error(exc)
    return reading
