"""The counters a transaction moves, applied once it has committed: the input the fold tallied, the
records published, the replies left unmatched and the mentions expired. A transaction that fails is
redone from the committed offsets, and its work must not count twice: the identity
consumed = counted + duplicate + rejected holds for what committed."""

from __future__ import annotations

from collections import Counter

from ..metrics import BatchTally, Metrics
from ..state.commit import Commit
from ..state.window import WindowConfig, duration_label


class CommitCounts:
    def __init__(self, tallies: list[BatchTally]):
        self.tallies = tallies
        self.records: Counter[tuple[str, str]] = Counter()  # (scope, window) -> final records
        self.lifetime_records: Counter[str] = Counter()  # age label -> records
        self.replies_unmatched = self.mentions_expired = 0

    def add_commit(self, result: Commit, config: WindowConfig) -> None:
        """What one partition's part of the transaction publishes."""
        if result.post_records:
            self.records["post", config.window_label] += len(result.post_records)
        for record in result.account_records:
            label = config.window_label if record["window_kind"] == "tumbling" else config.rolling_label
            self.records["account", label] += 1
        for record in result.lifetime_records:
            self.lifetime_records[duration_label(record["age_ms"])] += 1
        self.replies_unmatched += result.replies_unmatched
        self.mentions_expired += result.mentions_expired

    def apply(self, metrics: Metrics) -> None:
        for tally in self.tallies:
            metrics.add_batch(tally)
        for (scope, window), n in self.records.items():
            metrics.records.labels(scope, window).inc(n)
        for age, n in self.lifetime_records.items():
            metrics.lifetime_records.labels(age).inc(n)
        if self.replies_unmatched:
            metrics.listening.unmatched.inc(self.replies_unmatched)
        if self.mentions_expired:
            metrics.listening.expired.inc(self.mentions_expired)
