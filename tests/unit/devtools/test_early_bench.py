"""The early-warning benchmark's scoring and its reading of the gauges (PostOffTrack's expression)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from streams.devtools.bench.early import flagged_posts, score
from streams.model.bands import load_benchmarks


def test_precision_recall_and_minutes_against_the_actual_er_at_maturity():
    # instagram's band starts at 1.73 %: p1, p2 actually off track; p3, p4 inside.
    posts = [
        {"post_id": f"p{i}", "account_id": "a1", "platform": "instagram", "content_type": "image", "published_at": 0}
        for i in range(1, 5)
    ]
    actual = {"p1": 0.001, "p2": 0.01, "p3": 0.02, "p4": 0.03}
    alerted = {"p1": 90 * 60_000, "p3": 70 * 60_000, "p9": 1}  # p9: not scored
    got = score(posts, actual, alerted, load_benchmarks(None), {"a1": "retail"}, {"p1", "p3"})
    assert got == {
        "posts_scored": 4,
        "actually_off_track": 2,
        "alerts": 2,
        "true_alerts": 1,
        "precision": 0.5,
        "recall": 0.5,
        "actually_off_track_projected": 1,
        "recall_among_projected": 1.0,
        "minutes_to_alert_median": 90.0,
        "minutes_to_alert_p90": 90.0,
    }


def test_the_rule_over_the_gauges_needs_a_curve_of_enough_posts_and_heeds_the_baseline_and_stories():
    r = CollectorRegistry()
    post = ["post_id", "account_id", "platform", "industry", "content_type"]
    account = ["account_id", "platform", "content_type"]
    projected = Gauge("engagement_post_projected_rate_ratio", "", post, registry=r)
    low = Gauge("engagement_post_benchmark_low_ratio", "", post, registry=r)
    checked = Gauge("engagement_post_checked_age_seconds", "", post, registry=r)
    posts = Gauge("engagement_account_curve_posts", "", account, registry=r)
    median = Gauge("engagement_account_curve_median_rate_ratio", "", account, registry=r)
    Gauge("engagement_early_warning_min_matured_posts", "", registry=r).set(5)
    rows = [  # post, account, type, projected, checked age, curve posts, median
        ("off", "a1", "image", 0.005, 3600, 6, 0.02),
        ("soft", "a1", "image", 0.015, 3600, 6, 0.02),  # not half below 2 %
        ("few", "a2", "image", 0.001, 3600, 4, 0.02),
        ("story", "a1", "story", 0.001, 90_000, 6, 0.02),  # past 24 h
    ]
    for post_id, account_id, content_type, value, age, n, m in rows:
        labels = (post_id, account_id, "instagram", "retail", content_type)
        projected.labels(*labels).set(value)
        low.labels(*labels).set(0.0173)
        checked.labels(*labels).set(age)
        posts.labels(account_id, "instagram", content_type).set(n)
        median.labels(account_id, "instagram", content_type).set(m)
    assert flagged_posts(r, 0.5) == ({"off"}, {"off", "soft", "few", "story"})
