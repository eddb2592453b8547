"""Per-account series: bounded by ENGAGEMENT_MAX_ACCOUNT_SERIES, removed when the account goes idle or
its partition moves to another worker (no stale series)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from .gauge_family import GaugeFamily


class AccountGauges:
    """Per-account gauges from each account's latest final rolling-window record: ER by followers and
    by impressions, sentiment. At most ``cap`` accounts (the busiest) are exported; the number left out
    is a gauge. An account with no traffic in the latest rolling window, or whose partition moved to
    another worker, loses its series: no stale gauges."""

    def __init__(self, registry: CollectorRegistry, cap: int, window_label: str):
        self.cap = cap
        self.window = window_label
        self.rate = GaugeFamily(
            "engagement_rate_ratio",
            "Engagement rate over the rolling window (0..1)",
            ["account_id", "platform", "industry", "basis", "window"],
            registry,
        )
        self.sentiment = GaugeFamily(
            "engagement_sentiment_score",
            "Mean sentiment over the rolling window (-1..1)",
            ["account_id", "platform", "window"],
            registry,
        )
        self.negative = GaugeFamily(
            "engagement_sentiment_negative_ratio",
            "Share of negative sentiments over the rolling window",
            ["account_id", "platform", "window"],
            registry,
        )
        self.dropped = Gauge(
            "engagement_account_series_dropped",
            "Accounts left out of the per-account gauges by ENGAGEMENT_MAX_ACCOUNT_SERIES",
            registry=registry,
        )
        self.latest: dict[str, tuple[dict, str]] = {}  # account_id -> (rolling record, industry)

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
        rate: dict[tuple, float] = {}
        sentiment: dict[tuple, float] = {}
        negative: dict[tuple, float] = {}
        for record, industry in kept:
            account, platform, rates = record["account_id"], record["platform"], record["rates"]
            window = self.window
            for basis in ("followers", "impressions"):
                value = rates[f"er_{basis}"]
                if value is not None:
                    rate[(account, platform, industry, basis, window)] = value
            if rates["sentiment_mean"] is not None:
                labels = (account, platform, window)
                sentiment[labels] = rates["sentiment_mean"]
                negative[labels] = rates["sentiment_negative_share"]
        self.rate.publish(rate)
        self.sentiment.publish(sentiment)
        self.negative.publish(negative)


class AccountCounters:
    """Per-account counters from each closed tumbling account window: mentions, scored sentiments by
    polarity, answered (acknowledged) mentions with their response time, and resolved ones, answered
    or closed without answer. The spike rules take their rate over
    spans of their own (deploy/prometheus/rules), so no rule depends on a window length setting.
    At most ``cap`` accounts hold series (those seen first); an account without traffic for
    ``IDLE_MS`` loses its series, so the cap frees up again."""

    # Longer than the spike rules look back (12 h baseline + 2 h history): a quiet account that
    # wakes up to a crisis still has its baseline.
    IDLE_MS = 26 * 3600 * 1000

    def __init__(self, registry: CollectorRegistry, cap: int):
        self.cap = cap
        labels = ["account_id", "platform"]
        self.mentions = Counter(
            "engagement_account_mentions_total", "Mentions of the account", labels, registry=registry
        )
        self.sentiments = Counter(
            "engagement_account_sentiments_total",
            "Comments and mentions of the account with a sentiment, by polarity (negative: below -0.2)",
            [*labels, "polarity"],
            registry=registry,
        )
        self.answered = Counter(
            "engagement_account_mentions_answered_total",
            "Mentions of the account its team acknowledged: replied to (the first reply)",
            labels,
            registry=registry,
        )
        self.answered_in_sla = Counter(
            "engagement_account_mentions_answered_within_sla_total",
            "Mentions answered within the acknowledge SLA",
            labels,
            registry=registry,
        )
        self.response_seconds = Counter(
            "engagement_account_mention_response_seconds_total",
            "Sum of the response times of the answered mentions",
            labels,
            registry=registry,
        )
        self.resolved = Counter(
            "engagement_account_mentions_resolved_total",
            "Mentions of the account its team resolved (closed), answered or not",
            labels,
            registry=registry,
        )
        self.closed_without_answer = Counter(
            "engagement_account_mentions_closed_without_answer_total",
            "Of the resolved mentions, those closed with no reply (they needed no answer)",
            labels,
            registry=registry,
        )
        self.dropped = Gauge(
            "engagement_account_counters_dropped",
            "Accounts of the latest close left out of the per-account counters by ENGAGEMENT_MAX_ACCOUNT_SERIES",
            registry=registry,
        )
        self._seen: dict[str, tuple[str, int]] = {}  # account_id -> (platform, end of its latest window)

    def add(self, tumbling_records: list[dict], mark: int) -> None:
        """Count the account records of the tumbling windows that closed at ``mark``."""
        dropped = 0
        for record in tumbling_records:
            account, platform = record["account_id"], record["platform"]
            if account not in self._seen and len(self._seen) >= self.cap:
                dropped += 1
                continue
            self._seen[account] = (platform, record["window_end"])
            negative = record["sentiment_negative"]
            self.mentions.labels(account, platform).inc(record["counts"]["mention"])
            self.sentiments.labels(account, platform, "negative").inc(negative)
            self.sentiments.labels(account, platform, "other").inc(record["sentiment_count"] - negative)
            responses = record["responses"]
            self.answered.labels(account, platform).inc(responses["answered"])
            self.answered_in_sla.labels(account, platform).inc(responses["within_acknowledge_sla"])
            self.response_seconds.labels(account, platform).inc(responses["response_ms_sum"] / 1000)
            self.resolved.labels(account, platform).inc(responses["resolved"])
            self.closed_without_answer.labels(account, platform).inc(responses["closed_without_answer"])
        self.dropped.set(dropped)
        self.forget([a for a, (_, end) in self._seen.items() if end <= mark - self.IDLE_MS])

    def accounts(self) -> list[str]:
        return list(self._seen)

    def forget(self, account_ids) -> None:
        for account in account_ids:
            seen = self._seen.pop(account, None)
            if seen is None:
                continue
            labels = (account, seen[0])
            for counter in (
                self.mentions,
                self.answered,
                self.answered_in_sla,
                self.response_seconds,
                self.resolved,
                self.closed_without_answer,
            ):
                counter.remove(*labels)
            for polarity in ("negative", "other"):
                self.sentiments.remove(*labels, polarity)
