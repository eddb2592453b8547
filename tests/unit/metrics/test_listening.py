"""The listening series from the account records and the SLA scan: acknowledged, resolved and
closed-without-answer mentions per account, and the accounts past an SLA that keep series."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streams.metrics.accounts import AccountCounters
from streams.metrics.listening import ListeningMetrics


def record(account: str, answered: int, resolved: int, without_answer: int) -> dict:
    return {
        "account_id": account,
        "platform": "x",
        "window_end": 60_000,
        "counts": {"mention": resolved},
        "sentiment_negative": 0,
        "sentiment_count": 0,
        "responses": {
            "answered": answered,
            "within_acknowledge_sla": answered,
            "response_ms_sum": 1000 * answered,
            "resolved": resolved,
            "closed_without_answer": without_answer,
        },
    }


def test_account_counters_count_acknowledged_resolved_and_closed_without_answer():
    registry = CollectorRegistry()
    counters = AccountCounters(registry, cap=10)
    counters.add([record("a1", answered=3, resolved=5, without_answer=2)], mark=60_000)
    counters.add([record("a1", answered=1, resolved=1, without_answer=0)], mark=120_000)
    labels = {"account_id": "a1", "platform": "x"}
    value = registry.get_sample_value
    assert value("engagement_account_mentions_answered_total", labels) == 4
    assert value("engagement_account_mentions_resolved_total", labels) == 6
    assert value("engagement_account_mentions_closed_without_answer_total", labels) == 2
    counters.forget(["a1"])
    assert value("engagement_account_mentions_resolved_total", labels) is None


def test_accounts_past_the_resolve_sla_only_keep_their_series_first():
    """An account whose mentions were all answered but not resolved is past the resolve SLA only:
    it pages, so with the cap reached it keeps its series before one past acknowledge only."""
    registry = CollectorRegistry()
    listening = ListeningMetrics(registry, cap=1, acknowledge_seconds=43200, resolve_seconds=86400)
    listening.set_overdue({"warned": [30, 0, 1_000], "paged": [0, 12, 2_000]})
    value = registry.get_sample_value
    assert value("engagement_mentions_unanswered", {"account_id": "paged", "sla": "resolve"}) == 12
    assert value("engagement_mentions_unanswered", {"account_id": "paged", "sla": "acknowledge"}) == 0
    assert value("engagement_mentions_unanswered", {"account_id": "warned", "sla": "acknowledge"}) is None
