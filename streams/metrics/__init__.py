"""The worker's Prometheus metrics: one registry per engine, served at /metrics on the web port.

Naming: base units, ``_total`` counters, ``_seconds``, ``_ratio`` 0..1; no per-post label. The hot
path never touches these objects per event: it tallies plain ints per batch and adds them here once.
Next to the service's own series: the process (``process_*``: RSS, CPU, open files), the garbage
collector (``python_gc_*``) and ``engagement_build_info``.
"""

from __future__ import annotations

from collections import Counter as Tally
from importlib.metadata import PackageNotFoundError, version
from operator import attrgetter
from platform import python_version

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, GCCollector, ProcessCollector, generate_latest

from ..contract import TYPE_INDEX
from ..kafka.undecodable import CODECS
from .accounts import AccountCounters, AccountGauges
from .histogram import BulkHistogram
from .listening import ListeningMetrics
from .posts import PostRateGauges

DWELL_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
DWELL = TYPE_INDEX["dwell"]
_PLATFORM_AND_TYPE, _TS = attrgetter("platform", "type"), attrgetter("ts")
DISTRIBUTION = "engagement-streams"


def build_labels() -> dict[str, str]:
    """engagement_build_info's labels: the installed distribution's version and the Python running it."""
    try:
        installed = version(DISTRIBUTION)
    except PackageNotFoundError:  # a checkout on sys.path, never installed
        installed = "unknown"
    return {"version": installed, "python": python_version()}


class Metrics:
    def __init__(
        self,
        max_account_series: int = 2000,
        rolling_label: str = "1h",
        benchmarks=None,
        slas_seconds: tuple[float, float] = (43200.0, 86400.0),
        rolling_share_of_period: float = 1 / 168,
        own_baseline_latest_posts: int = 3,
    ) -> None:
        # The series per account (tens of thousands: a 2 MB exposition) change only when windows close
        # or accounts move, so their text is built at most once per change (``per_account_changed``),
        # not at every scrape; the rest changes with every batch and is built at each scrape.
        self.registry = CollectorRegistry()
        self.per_account = CollectorRegistry()
        self._per_account_text: bytes | None = None
        r, a = self.registry, self.per_account
        self.accounts = AccountGauges(a, max_account_series, rolling_label)
        self.account_counters = AccountCounters(a, max_account_series)
        self.benchmarks = benchmark_gauge(a, benchmarks or {})
        self.post_rates = PostRateGauges(
            a, max_account_series, benchmarks or {}, rolling_share_of_period, own_baseline_latest_posts
        )
        self.listening = ListeningMetrics(r, max_account_series, *slas_seconds)  # a histogram fed per batch
        self.consumed = Counter(
            "engagement_events_consumed_total",
            "Events read from the interactions topic (a message rejected whole counts "
            "as one); consumed = counted + duplicate + rejected",
            registry=r,
        )
        self.counted = Counter("engagement_events_counted_total", "Events folded into windows", registry=r)
        self.duplicate = Counter(
            "engagement_events_duplicate_total", "Events whose event_id was seen within the dedup horizon", registry=r
        )
        self.rejected = Counter(
            "engagement_events_rejected_total", "Events sent to the DLQ, by reason", ["reason"], registry=r
        )
        self.late = Counter(
            "engagement_events_late_total",
            'Events whose window had closed (also in engagement_events_rejected_total{reason="late"})',
            registry=r,
        )
        self.framed = Counter(
            "engagement_input_framed_messages_total",
            "Input messages in Schema Registry's wire format (magic byte 0, a 4-byte schema "
            "id); their JSON payload was read as an unframed message's",
            registry=r,
        )
        self.undecodable = Counter(
            "engagement_input_undecodable_records_total",
            "Input records in record batches that could not be decoded (codec missing or "
            "payload corrupt); each batch is one DLQ record (undecodable_batch) with its "
            "offsets",
            ["codec"],
            registry=r,
        )
        for codec in CODECS.values():  # at 0 from the start, so that the first increase() is seen
            if codec != "none":
                self.undecodable.labels(codec)
        self.forwarded = Counter(
            "engagement_events_forwarded_total",
            "Events re-keyed to the partition of their account (producer keyed them "
            "otherwise); they are consumed again there",
            registry=r,
        )
        self.interactions = Counter(
            "engagement_interactions_total", "Counted interactions", ["platform", "type"], registry=r
        )
        self.records = Counter(
            "engagement_window_records_total", "Final window records emitted", ["scope", "window"], registry=r
        )
        self.lifetime_records = Counter(
            "engagement_post_lifetime_records_total",
            "Post lifetime records emitted, by the post age they cover",
            ["age"],
            registry=r,
        )
        self.tracked_posts = Gauge(
            "engagement_posts_tracked",
            "Posts in the lifetime state (within their lifetime, or ended and kept "
            "as tombstones for a benchmark period)",
            registry=r,
        )
        self.post_state_bytes = Gauge(
            "engagement_post_state_memory_bytes",
            "Memory the post lifetimes and benchmark samples take (estimate)",
            registry=r,
        )
        self.reference_records = Counter(
            "engagement_reference_records_total",
            "Account and post reference records checked by their agents (rejected: sent to the DLQ)",
            ["kind", "outcome"],
            registry=r,
        )
        self.partitions = Gauge("engagement_partitions_assigned", "Input partitions this worker owns", registry=r)
        self.commits_refused = Counter(
            "engagement_commits_refused_total",
            "Transactions the consumer group refused (their work redone from what committed), by the "
            "group's reason: REBALANCE_IN_PROGRESS (routine), or this worker no longer a member",
            ["reason"],
            registry=r,
        )
        self.rebalanced_partitions = Counter(
            "engagement_rebalance_partitions_total",
            "Partitions a rebalance gave this worker: kept (its own state, nothing written since) or restored",
            ["outcome"],
            registry=r,
        )
        self.open_windows = Gauge("engagement_open_windows", "Window keys held in memory", registry=r)
        self.commit_seconds = Gauge(
            "engagement_last_commit_duration_seconds",
            "Duration of the last state/output/offset transaction",
            registry=r,
        )
        self.restore_seconds = Gauge(
            "engagement_last_restore_duration_seconds",
            "Time the last partition restore (snapshot and journal) took",
            registry=r,
        )
        self.closed_through = Gauge(
            "engagement_window_closed_through_timestamp_seconds",
            "End of the latest window this worker has closed and published (epoch s)",
            registry=r,
        )
        self.dedup_ids = Gauge(
            "engagement_dedup_remembered_ids",
            "Event ids in the dedup memory of the partitions this worker owns",
            registry=r,
        )
        self.dedup_bytes = Gauge("engagement_dedup_memory_bytes", "Memory the dedup memory takes", registry=r)
        self.up = Gauge("engagement_worker_up", "1 while the worker runs", registry=r)
        self.up.set(1)
        build = build_labels()
        Gauge(
            "engagement_build_info",
            "Always 1: the version of the service and of Python a worker runs",
            list(build),
            registry=r,
        ).labels(**build).set(1)
        # What the pod's memory limit and the GC tuning (streams/collector.py) are judged by.
        ProcessCollector(registry=r)
        GCCollector(registry=r)
        # Computed at each scrape (streams/engine/health.py sets their functions).
        self.loop_heartbeat_age = Gauge(
            "engagement_loop_heartbeat_age_seconds",
            "Seconds since the consume loop last began an iteration (NaN before it starts); /live fails past its bound",
            registry=r,
        )
        self.ready = Gauge(
            "engagement_worker_ready",
            "1 while the worker is ready (/ready): every partition assigned to it is restored and served",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "engagement_consumer_lag_messages",
            "Messages in the input partition not yet read by this worker",
            ["topic", "partition"],
            registry=r,
        )
        self.dwell = BulkHistogram("engagement_dwell_seconds", "Dwell time of dwell events", DWELL_BUCKETS, "platform")
        self.event_lag = BulkHistogram(
            "engagement_event_lag_seconds", "Processing time minus event time of counted events", LAG_BUCKETS
        )
        r.register(self.dwell)
        r.register(self.event_lag)

    def add_batch(self, tally: BatchTally) -> None:
        self.consumed.inc(tally.consumed)
        if tally.counted:
            self.counted.inc(tally.counted)
        if tally.duplicate:
            self.duplicate.inc(tally.duplicate)
        if tally.forwarded:
            self.forwarded.inc(tally.forwarded)
        if tally.framed:
            self.framed.inc(tally.framed)
        for codec, n in tally.undecodable.items():
            self.undecodable.labels(codec).inc(n)
        for reason, n in tally.rejected.items():
            self.rejected.labels(reason).inc(n)
            if reason == "late":
                self.late.inc(n)
        for (platform, type_), n in tally.interactions.items():
            self.interactions.labels(platform, type_).inc(n)
        if tally.event_ts:
            self.event_lag.observe_many((tally.now_ms - np.array(tally.event_ts, np.int64)) / 1000)
        for platform, values in tally.dwell_ms.items():
            self.dwell.observe_many((v / 1000 for v in values), platform)
        for platform, values in tally.response_ms.items():
            self.listening.response.observe_many((v / 1000 for v in values), platform)

    def forget_accounts(self, moved) -> None:
        """The accounts for which ``moved(account_id)`` holds went to another worker: so do their series."""
        self.accounts.forget([a for a in self.accounts.latest if moved(a)])
        self.account_counters.forget([a for a in self.account_counters.accounts() if moved(a)])
        self.post_rates.forget(moved)
        self.per_account_changed()

    def per_account_changed(self) -> None:
        """Call after setting any series of ``accounts``, ``account_counters`` or ``post_rates``."""
        self._per_account_text = None

    def exposition(self) -> bytes:
        text = self._per_account_text
        if text is None:
            text = self._per_account_text = generate_latest(self.per_account)
        return generate_latest(self.registry) + text


class BatchTally:
    """Plain counts for one fetched batch; cheaper per event than touching prometheus objects, and
    taken for the whole slice at once (``add_counted``)."""

    __slots__ = (
        "consumed",
        "counted",
        "duplicate",
        "forwarded",
        "framed",
        "rejected",
        "undecodable",
        "interactions",
        "event_ts",
        "now_ms",
        "dwell_ms",
        "response_ms",
    )

    def __init__(self, now_ms: int = 0) -> None:
        self.consumed = self.counted = self.duplicate = self.forwarded = self.framed = 0
        self.rejected: Tally = Tally()
        self.undecodable: Tally = Tally()  # codec -> records
        self.interactions: Tally = Tally()
        self.now_ms = now_ms  # the lag of an event: now_ms - its ts
        self.event_ts: list[int] = []
        self.dwell_ms: dict[str, list] = {}
        self.response_ms: dict[str, list] = {}  # of the mentions answered

    def add_counted(self, events: list) -> None:
        """The events a slice counted (interaction structs): the loops run in C, but the dwell's."""
        self.counted += len(events)
        self.interactions.update(map(_PLATFORM_AND_TYPE, events))
        self.event_ts.extend(map(_TS, events))
        for event in events:
            if event.type_index == DWELL:
                self.dwell_ms.setdefault(event.platform, []).append(event.dwell_ms)


def benchmark_gauge(registry: CollectorRegistry, table) -> Gauge:
    gauge = Gauge(
        "engagement_benchmark_ratio",
        "Benchmark engagement rate per post (0..1)",
        ["platform", "industry", "content_type", "bound"],
        registry=registry,
    )
    for (platform, industry, content_type), (low, high) in table.items():
        gauge.labels(platform, industry, content_type, "low").set(low)
        gauge.labels(platform, industry, content_type, "high").set(high)
    return gauge
