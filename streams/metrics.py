"""The worker's Prometheus metrics: one registry per engine, served at /metrics on the web port.

Naming: base units, ``_total`` counters, ``_seconds``, ``_ratio`` 0..1; no per-post label. The hot
path never touches these objects per event: it tallies plain ints per batch and adds them here once.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import HistogramMetricFamily

DWELL_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)


class BulkHistogram:
    """A Prometheus histogram fed many values at once (prometheus_client's observe() takes a lock per
    value); one child per label value, exposed by a collector."""

    def __init__(self, name: str, documentation: str, buckets: tuple, label: str | None = None):
        self.name, self.documentation, self.label = name, documentation, label
        self.bounds = list(buckets)
        self.children: dict[str, list] = {}  # label value -> [bucket counts..., +Inf count, sum]

    def observe_many(self, values, label_value: str = "") -> None:
        child = self.children.get(label_value)
        if child is None:
            child = self.children[label_value] = [0] * (len(self.bounds) + 1) + [0.0]
        bounds, last = self.bounds, len(self.bounds)
        total = 0.0
        for value in values:
            child[bisect.bisect_left(bounds, value)] += 1
            total += value
        child[last + 1] += total

    def collect(self):
        family = HistogramMetricFamily(self.name, self.documentation,
                                       labels=[self.label] if self.label else None)
        for label_value, child in self.children.items():
            cumulative, buckets = 0, []
            for bound, n in zip([*self.bounds, math.inf], child):
                cumulative += n
                buckets.append(("+Inf" if bound == math.inf else str(bound), cumulative))
            family.add_metric([label_value] if self.label else [], buckets, child[-1])
        yield family


class Metrics:
    def __init__(self, max_account_series: int = 2000, rolling_label: str = "1h", benchmarks=None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accounts = AccountGauges(r, max_account_series, rolling_label)
        self.benchmarks = benchmark_gauge(r, benchmarks or {})
        self.consumed = Counter("engagement_events_consumed_total",
                                "Events read from the interactions topic (a message rejected whole counts "
                                "as one); consumed = counted + duplicate + rejected", registry=r)
        self.counted = Counter("engagement_events_counted_total", "Events folded into windows", registry=r)
        self.duplicate = Counter("engagement_events_duplicate_total",
                                 "Events whose event_id was seen within the dedup horizon", registry=r)
        self.rejected = Counter("engagement_events_rejected_total", "Events sent to the DLQ, by reason",
                                ["reason"], registry=r)
        self.late = Counter("engagement_events_late_total", "Events whose window had closed (also in "
                            "engagement_events_rejected_total{reason=\"late\"})", registry=r)
        self.forwarded = Counter("engagement_events_forwarded_total",
                                 "Events re-keyed to the partition of their account (producer keyed them "
                                 "otherwise); they are consumed again there", registry=r)
        self.interactions = Counter("engagement_interactions_total", "Counted interactions",
                                    ["platform", "type"], registry=r)
        self.records = Counter("engagement_window_records_total", "Final window records emitted",
                               ["scope", "window"], registry=r)
        self.account_records = Counter("engagement_account_records_total",
                                       "Account reference records checked by the accounts agent", ["outcome"],
                                       registry=r)
        self.partitions = Gauge("engagement_partitions_assigned", "Input partitions this worker owns",
                                registry=r)
        self.open_windows = Gauge("engagement_open_windows", "Window keys held in memory", registry=r)
        self.commit_seconds = Gauge("engagement_last_commit_duration_seconds",
                                    "Duration of the last state/output/offset transaction", registry=r)
        self.restore_seconds = Gauge("engagement_last_restore_duration_seconds",
                                     "Time the last partition restore (snapshot and journal) took",
                                     registry=r)
        self.closed_through = Gauge("engagement_window_closed_through_timestamp_seconds",
                                    "End of the latest window this worker has closed and published (epoch s)",
                                    registry=r)
        self.dedup_ids = Gauge("engagement_dedup_remembered_ids",
                               "Event ids in the dedup memory of the partitions this worker owns", registry=r)
        self.dedup_bytes = Gauge("engagement_dedup_memory_bytes", "Memory the dedup memory takes", registry=r)
        self.up = Gauge("engagement_worker_up", "1 while the worker runs", registry=r)
        self.up.set(1)
        self.consumer_lag = Gauge("engagement_consumer_lag_messages",
                                  "Messages in the input partition not yet read by this worker",
                                  ["topic", "partition"], registry=r)
        self.unanswered = LabelledGauge(Gauge(
            "engagement_mentions_unanswered", "Mentions with no reply for longer than the listening SLA",
            ["account_id", "older_than"], registry=r), max_account_series)
        self.dwell = BulkHistogram("engagement_dwell_seconds", "Dwell time of dwell events", DWELL_BUCKETS,
                                   "platform")
        self.event_lag = BulkHistogram("engagement_event_lag_seconds",
                                       "Processing time minus event time of counted events", LAG_BUCKETS)
        r.register(self.dwell)
        r.register(self.event_lag)

    def add_batch(self, tally: "BatchTally") -> None:
        self.consumed.inc(tally.consumed)
        if tally.counted:
            self.counted.inc(tally.counted)
        if tally.duplicate:
            self.duplicate.inc(tally.duplicate)
        if tally.forwarded:
            self.forwarded.inc(tally.forwarded)
        for reason, n in tally.rejected.items():
            self.rejected.labels(reason).inc(n)
            if reason == "late":
                self.late.inc(n)
        for (platform, type_), n in tally.interactions.items():
            self.interactions.labels(platform, type_).inc(n)
        if tally.lags_ms:
            self.event_lag.observe_many(lag / 1000 for lag in tally.lags_ms)
        for platform, values in tally.dwell_ms.items():
            self.dwell.observe_many((v / 1000 for v in values), platform)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class BatchTally:
    """Plain counts for one fetched batch; cheaper per event than touching prometheus objects."""

    __slots__ = ("consumed", "counted", "duplicate", "forwarded", "rejected", "interactions", "lags_ms",
                 "dwell_ms")

    def __init__(self) -> None:
        self.consumed = self.counted = self.duplicate = self.forwarded = 0
        self.rejected: Tally = Tally()
        self.interactions: Tally = Tally()
        self.lags_ms: list[int] = []
        self.dwell_ms: dict[str, list] = {}


class AccountGauges:
    """Per-account gauges from each account's latest final rolling-window record: ER by followers and
    by impressions, sentiment. At most ``cap`` accounts (the busiest) are exported; the number left out
    is a gauge. An account with no traffic in the latest rolling window, or whose partition moved to
    another worker, loses its series: no stale gauges."""

    def __init__(self, registry: CollectorRegistry, cap: int, window_label: str):
        self.cap = cap
        self.window = window_label
        self.rate = Gauge("engagement_rate_ratio", "Engagement rate over the rolling window (0..1)",
                          ["account_id", "platform", "industry", "basis", "window"], registry=registry)
        self.sentiment = Gauge("engagement_sentiment_score", "Mean sentiment over the rolling window (-1..1)",
                               ["account_id", "platform", "window"], registry=registry)
        self.negative = Gauge("engagement_sentiment_negative_ratio",
                              "Share of negative sentiments over the rolling window",
                              ["account_id", "platform", "window"], registry=registry)
        self.dropped = Gauge("engagement_account_series_dropped",
                             "Accounts left out of the per-account gauges by ENGAGEMENT_MAX_ACCOUNT_SERIES",
                             registry=registry)
        self.latest: dict[str, tuple[dict, str]] = {}  # account_id -> (rolling record, industry)
        self._exported: set[tuple[Gauge, tuple]] = set()

    def update(self, rolling_records: list[dict], mark: int, industry_of) -> None:
        """Take the records of windows ending at ``mark`` (the close mark just reached)."""
        current = {r["account_id"]: r for r in rolling_records if r["window_end"] == mark}
        self.latest = {a: (r, industry_of(a)) for a, r in current.items()}
        self._export()

    def forget(self, account_ids) -> None:
        for account_id in account_ids:
            self.latest.pop(account_id, None)
        self._export()

    def _export(self) -> None:
        ranked = sorted(self.latest.values(), key=lambda ri: sum(ri[0]["counts"].values()), reverse=True)
        kept = ranked[: self.cap]
        self.dropped.set(len(ranked) - len(kept))
        desired: dict[tuple[Gauge, tuple], float] = {}
        for record, industry in kept:
            account, platform, rates = record["account_id"], record["platform"], record["rates"]
            window = self.window
            for basis in ("followers", "impressions"):
                value = rates[f"er_{basis}"]
                if value is not None:
                    desired[(self.rate, (account, platform, industry, basis, window))] = value
            if rates["sentiment_mean"] is not None:
                desired[(self.sentiment, (account, platform, window))] = rates["sentiment_mean"]
                desired[(self.negative, (account, platform, window))] = rates["sentiment_negative_share"]
        for gauge, labels in self._exported - desired.keys():
            gauge.remove(*labels)
        for (gauge, labels), value in desired.items():
            gauge.labels(*labels).set(value)
        self._exported = set(desired)


def benchmark_gauge(registry: CollectorRegistry, table) -> Gauge:
    gauge = Gauge("engagement_benchmark_ratio", "Benchmark engagement rate per post (0..1)",
                  ["platform", "industry", "bound"], registry=registry)
    for (platform, industry), (low, high) in table.items():
        gauge.labels(platform, industry, "low").set(low)
        gauge.labels(platform, industry, "high").set(high)
    return gauge


class LabelledGauge:
    """A gauge set whole from a {labels: value} mapping each time: series absent from the mapping are
    removed; at most ``cap`` series (the largest values)."""

    def __init__(self, gauge: Gauge, cap: int):
        self.gauge, self.cap = gauge, cap
        self._exported: set[tuple] = set()

    def set_all(self, values: dict[tuple, float]) -> None:
        kept = dict(sorted(values.items(), key=lambda kv: kv[1], reverse=True)[: self.cap])
        for labels in self._exported - kept.keys():
            self.gauge.remove(*labels)
        for labels, value in kept.items():
            self.gauge.labels(*labels).set(value)
        self._exported = set(kept)
