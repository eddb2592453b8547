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
    def parse(cls, text: str) -> Metrics:
        return cls(
            [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]
        )

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
class PerPost:
    """An account's ER per post (DOMAIN.md: the mean ER by followers at the maturity age of its posts of
    the benchmark period) and the band it is compared with, as Prometheus records them."""

    platform: str
    er: float | None = None
    band: dict[str, float] | None = None  # {"low": .., "high": ..}; None: no band (a content type without one)


# Every account's ER per post over all its posts, and the series of the content types that
# EngagementRateBelowBenchmark fires for (so that a content-type alert shows its own numbers).
_FIRING = 'ALERTS{alertname="EngagementRateBelowBenchmark", alertstate="firing"}'
PER_POST_QUERY = (
    'account:engagement_rate_per_post:ratio{content_type="all"} '
    f"or (account:engagement_rate_per_post:ratio and on (account_id, content_type) {_FIRING})"
)
BAND_QUERY = (
    'account:engagement_post_benchmark:ratio{content_type="all"} '
    f"or (account:engagement_post_benchmark:ratio and on (account_id, content_type) {_FIRING})"
)


@dataclass
class MonitoringReading:
    alerts: list[dict] | None = None  # Alertmanager's, with receivers
    per_post: dict[tuple[str, str], PerPost] | None = None  # (account_id, content_type) -> (Prometheus)
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


def _health(url: str) -> dict:
    """/health's document, also when it answers 503: a worker starting, restoring or stuck says so."""
    try:
        return json.loads(get(url))
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            raise
        return json.loads(exc.read())


def read_worker(url: str) -> WorkerReading:
    reading = WorkerReading(url.rstrip("/"))
    try:
        reading.metrics = Metrics.parse(get(f"{reading.url}/metrics"))
        reading.health = _health(f"{reading.url}/health")
    except (OSError, ValueError) as exc:
        reading.error = _error(exc)
    return reading


def _query(prometheus: str, expr: str) -> list[dict]:
    query = urllib.parse.urlencode({"query": expr})
    return json.loads(get(f"{prometheus.rstrip('/')}/api/v1/query?{query}"))["data"]["result"]


def read_per_post(prometheus: str) -> dict[tuple[str, str], PerPost]:
    """(account_id, content_type) -> its ER per post and band, from the recording rules."""
    out: dict[tuple[str, str], PerPost] = {}

    def entry(labels: dict) -> PerPost:
        key = (labels.get("account_id", ""), labels.get("content_type", ""))
        return out.setdefault(key, PerPost(labels.get("platform", "")))

    for item in _query(prometheus, PER_POST_QUERY):
        entry(item["metric"]).er = float(item["value"][1])
    for item in _query(prometheus, BAND_QUERY):
        per_post = entry(item["metric"])
        per_post.band = {**(per_post.band or {}), item["metric"].get("bound", ""): float(item["value"][1])}
    return out


def read_monitoring(prometheus: str | None, alertmanager: str | None) -> MonitoringReading:
    reading = MonitoringReading()
    if prometheus:
        try:
            reading.per_post = read_per_post(prometheus)
        except (OSError, ValueError, KeyError) as exc:
            reading.prometheus_error = _error(exc)
    if alertmanager:
        try:
            reading.alerts = json.loads(get(f"{alertmanager.rstrip('/')}/api/v2/alerts?active=true"))
        except (OSError, ValueError) as exc:
            reading.alertmanager_error = _error(exc)
    return reading
