"""The listening metrics (DOMAIN.md, listening and response): mentions past the SLAs per account
(past acknowledge: neither replied to nor resolved; past resolve: not resolved), response times per
platform, and what the open-mention state drops."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from .gauge_family import GaugeFamily
from .histogram import BulkHistogram

# Seconds: a minute to a week; the configured SLAs are added, so "within the SLA" is a bucket.
RESPONSE_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 604800)
SLAS = ("acknowledge", "resolve")


class ListeningMetrics:
    def __init__(self, registry: CollectorRegistry, cap: int, acknowledge_seconds: float, resolve_seconds: float):
        self.cap = cap
        self.unanswered = GaugeFamily(
            "engagement_mentions_unanswered",
            "Mentions of the account older than the listening SLA (engagement_mention_sla_seconds) and "
            "not done with: past acknowledge, neither replied to nor resolved; past resolve, not resolved",
            ["account_id", "sla"],
            registry,
        )
        self.oldest = GaugeFamily(
            "engagement_mentions_unanswered_oldest_timestamp_seconds",
            "Event time of the account's oldest mention past an SLA (epoch s)",
            ["account_id"],
            registry,
        )
        sla = Gauge(
            "engagement_mention_sla_seconds",
            "The listening SLAs (ENGAGEMENT_MENTION_*_SLA_SECONDS)",
            ["sla"],
            registry=registry,
        )
        for name, seconds in zip(SLAS, (acknowledge_seconds, resolve_seconds)):
            sla.labels(name).set(seconds)
        self.open = Gauge(
            "engagement_mentions_open",
            "Mentions of this worker's partitions not resolved yet (replied to or not)",
            registry=registry,
        )
        self.acknowledged = Gauge(
            "engagement_mentions_acknowledged",
            "Of the mentions not resolved yet, those replied to (waiting for their resolve)",
            registry=registry,
        )
        self.waiting = Gauge(
            "engagement_replies_waiting",
            "Replies and resolves read before their mention, waiting for it",
            registry=registry,
        )
        self.expired = Counter(
            "engagement_mentions_expired_total",
            "Mentions dropped unresolved after ENGAGEMENT_MENTION_RETENTION_SECONDS",
            registry=registry,
        )
        self.unmatched = Counter(
            "engagement_replies_unmatched_total",
            "Replies and resolves that met no mention: it was never counted (late, or older than "
            "the state), or it had been answered or resolved already",
            registry=registry,
        )
        bounds = sorted({*RESPONSE_BUCKETS, *(_whole(s) for s in (acknowledge_seconds, resolve_seconds))})
        self.response = BulkHistogram(
            "engagement_mention_response_seconds",
            "Response time of answered mentions: reply ts - mention ts",
            tuple(bounds),
            "platform",
        )
        registry.register(self.response)

    def set_overdue(self, overdue: dict[str, list]) -> None:
        """account_id -> [past acknowledge, past resolve, oldest ts ms]: the accounts with the most
        mentions past the resolve SLA (it pages), then the acknowledge SLA, at most ``cap``; the others'
        series are removed."""
        kept = sorted(overdue.items(), key=lambda item: (item[1][1], item[1][0]), reverse=True)[: self.cap]
        unanswered: dict[tuple, float] = {}
        for account, (acknowledge, resolve, _) in kept:
            unanswered[(account, "acknowledge")] = acknowledge
            unanswered[(account, "resolve")] = resolve
        self.unanswered.publish(unanswered)
        self.oldest.publish({(account,): oldest_ms / 1000 for account, (_, _, oldest_ms) in kept})


def _whole(seconds: float) -> float | int:
    """An SLA as a bucket bound: 43200, not 43200.0, in the `le` label."""
    return int(seconds) if float(seconds).is_integer() else seconds
