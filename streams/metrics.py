"""The worker's Prometheus metrics: one registry per engine, served at /metrics on the web port.

Naming: base units, ``_total`` counters, ``_seconds``, ``_ratio`` 0..1; no per-post label. The hot
path never touches these objects per event: it tallies plain ints per batch and adds them here once.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
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
        self.partitions = Gauge("engagement_partitions_assigned", "Input partitions this worker owns",
                                registry=r)
        self.open_windows = Gauge("engagement_open_windows", "Window keys held in memory", registry=r)
        self.commit_seconds = Gauge("engagement_last_commit_duration_seconds",
                                    "Duration of the last state/output/offset transaction", registry=r)
        self.restore_seconds = Gauge("engagement_last_restore_duration_seconds",
                                     "Time the last partition restore from the state changelog took",
                                     registry=r)
        self.up = Gauge("engagement_worker_up", "1 while the worker runs", registry=r)
        self.up.set(1)

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

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class BatchTally:
    """Plain counts for one fetched batch; cheaper per event than touching prometheus objects."""

    __slots__ = ("consumed", "counted", "duplicate", "forwarded", "rejected", "interactions")

    def __init__(self) -> None:
        self.consumed = self.counted = self.duplicate = self.forwarded = 0
        self.rejected: Tally = Tally()
        self.interactions: Tally = Tally()
