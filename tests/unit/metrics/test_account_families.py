"""AccountGauges and the listening gauges per account expose what they exposed as prometheus_client
Gauges with a child per series: the reference (tests/unit/metrics/gauge_reference.py) is such Gauges,
with the names, HELP texts and labels the dashboards (grafana/) and the alert rules (deploy/) read,
set to the values the inputs give by hand, series removed as the classes removed them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from streams.metrics.accounts import AccountGauges
from streams.metrics.listening import ListeningMetrics
from tests.unit.metrics.gauge_reference import Reference, lines_of

MARK = 100 * 24 * 3_600_000


def rolling(account: str, platform: str, likes: int, er_f, er_i, sentiment, negative) -> dict:
    rates = {
        "er_followers": er_f,
        "er_impressions": er_i,
        "sentiment_mean": sentiment,
        "sentiment_negative_share": negative,
    }
    return {"account_id": account, "platform": platform, "window_end": MARK, "counts": {"like": likes}, "rates": rates}


def test_account_gauges_expose_as_gauges_did_and_drop_an_account_gone_at_the_next_update():
    registry = CollectorRegistry()
    gauges = AccountGauges(registry, cap=2, window_label="1h")
    ref = Reference()
    ref.gauge(
        "engagement_rate_ratio",
        "Engagement rate over the rolling window (0..1)",
        ["account_id", "platform", "industry", "basis", "window"],
    )
    ref.gauge(
        "engagement_sentiment_score",
        "Mean sentiment over the rolling window (-1..1)",
        ["account_id", "platform", "window"],
    )
    ref.gauge(
        "engagement_sentiment_negative_ratio",
        "Share of negative sentiments over the rolling window",
        ["account_id", "platform", "window"],
    )
    dropped = ref.gauge(
        "engagement_account_series_dropped",
        "Accounts left out of the per-account gauges by ENGAGEMENT_MAX_ACCOUNT_SERIES",
    )
    industry = {"a1": "retail", "a2": "travel", "a3": "health", "a4": "retail"}.get

    gauges.update(
        [
            rolling("a1", "x", 50, 0.02, 0.001, 0.5, 0.1),
            rolling("a2", "tiktok", 90, 0.03, None, None, None),  # no impressions, no sentiment
            rolling("a3", "x", 10, 0.01, 0.002, -0.25, 0.75),  # the quietest: over the cap of 2
        ],
        MARK,
        industry,
    )
    ref.publish(
        "engagement_rate_ratio",
        {
            ("a2", "tiktok", "travel", "followers", "1h"): 0.03,
            ("a1", "x", "retail", "followers", "1h"): 0.02,
            ("a1", "x", "retail", "impressions", "1h"): 0.001,
        },
    )
    ref.publish("engagement_sentiment_score", {("a1", "x", "1h"): 0.5})
    ref.publish("engagement_sentiment_negative_ratio", {("a1", "x", "1h"): 0.1})
    dropped.set(1)
    assert generate_latest(registry) == ref.text()

    gauges.update(
        [rolling("a2", "tiktok", 5, 0.04, 0.003, 0.0, 0.0), rolling("a4", "x", 7, 0, 0, 1, 0)], MARK, industry
    )
    ref.publish(
        "engagement_rate_ratio",
        {
            ("a4", "x", "retail", "followers", "1h"): 0,
            ("a4", "x", "retail", "impressions", "1h"): 0,
            ("a2", "tiktok", "travel", "followers", "1h"): 0.04,
            ("a2", "tiktok", "travel", "impressions", "1h"): 0.003,
        },
    )
    ref.publish("engagement_sentiment_score", {("a4", "x", "1h"): 1, ("a2", "tiktok", "1h"): 0.0})
    ref.publish("engagement_sentiment_negative_ratio", {("a4", "x", "1h"): 0, ("a2", "tiktok", "1h"): 0.0})
    dropped.set(0)
    assert generate_latest(registry) == ref.text()
    assert b'account_id="a1"' not in ref.text()


def test_listening_gauges_per_account_expose_as_gauges_did():
    registry = CollectorRegistry()
    listening = ListeningMetrics(registry, cap=2, acknowledge_seconds=43200, resolve_seconds=86400)
    ref = Reference()
    ref.gauge(
        "engagement_mentions_unanswered",
        "Mentions of the account older than the listening SLA (engagement_mention_sla_seconds) and "
        "not done with: past acknowledge, neither replied to nor resolved; past resolve, not resolved",
        ["account_id", "sla"],
    )
    ref.gauge(
        "engagement_mentions_unanswered_oldest_timestamp_seconds",
        "Event time of the account's oldest mention past an SLA (epoch s)",
        ["account_id"],
    )
    listening.set_overdue({"a1": [3, 0, 1_000_500], "a2": [1, 2, 2_000_000], "a3": [0, 1, 3_000_000]})
    ref.publish(
        "engagement_mentions_unanswered",
        {("a2", "acknowledge"): 1, ("a2", "resolve"): 2, ("a3", "acknowledge"): 0, ("a3", "resolve"): 1},
    )
    ref.publish("engagement_mentions_unanswered_oldest_timestamp_seconds", {("a2",): 2000, ("a3",): 3000})
    assert lines_of(generate_latest(registry), ref.gauges) == lines_of(ref.text(), ref.gauges)

    listening.set_overdue({"a1": [3, 0, 1_000_500], "a3": [0, 4, 3_000_000]})  # a2 done with
    ref.publish(
        "engagement_mentions_unanswered",
        {("a3", "acknowledge"): 0, ("a3", "resolve"): 4, ("a1", "acknowledge"): 3, ("a1", "resolve"): 0},
    )
    ref.publish("engagement_mentions_unanswered_oldest_timestamp_seconds", {("a3",): 3000, ("a1",): 1000.5})
    assert lines_of(generate_latest(registry), ref.gauges) == lines_of(ref.text(), ref.gauges)
