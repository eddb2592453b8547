"""`engagement top`: its figures against the worker's own /metrics (pure, and on a live worker with real
Kafka and the simulator), and the full-screen view driven in a real terminal (tmux)."""

from __future__ import annotations

import re

from streams.top.figures import History, figures, status_line
from streams.top.sources import Metrics, MonitoringReading, PerPost, WorkerReading, read_monitoring
from streams.top.view import sparkline
from tests.fixtures.top import render


def _exposition(consumed, counted, duplicate, rejected: dict, likes: float) -> str:
    lines = [
        f"engagement_events_consumed_total {consumed}",
        f"engagement_events_counted_total {counted}",
        f"engagement_events_duplicate_total {duplicate}",
        f"engagement_events_late_total {rejected.get('late', 0)}",
        'engagement_consumer_lag_messages{topic="in",partition="3"} 7',
        'engagement_window_records_total{scope="post",window="1m"} 120',
        f'engagement_interactions_total{{platform="x",type="like"}} {likes}',
        'engagement_rate_ratio{account_id="a1",platform="x",industry="retail",basis="followers",window="1h"} 0.02',
        'engagement_rate_ratio{account_id="a2",platform="x",industry="retail",basis="followers",window="1h"} 0.001',
        'engagement_rate_ratio{account_id="a3",platform="x",industry="retail",basis="followers",window="1h"} 0.03',
        'engagement_mentions_unanswered{account_id="a2",sla="acknowledge"} 4',
    ]
    lines += [f'engagement_events_rejected_total{{reason="{r}"}} {n}' for r, n in rejected.items()]
    return "\n".join(lines) + "\n"


def test_figures_are_the_counts_and_their_rates():
    before = WorkerReading(
        "http://w1", Metrics.parse(_exposition(100, 90, 4, {"late": 2, "schema": 4}, 10)), {"partitions": [0, 1]}
    )
    after = WorkerReading(
        "http://w1", Metrics.parse(_exposition(300, 270, 10, {"late": 6, "schema": 14}, 50)), {"partitions": [0, 1]}
    )
    dead = WorkerReading("http://w2", error="not answering (connection refused)")
    x_band = {"low": 0.0104, "high": 0.0148}
    # ER per post (Prometheus) ranks the accounts, not the hourly ER (the workers): a1 has the best
    # hour (2 %) but the worst posts (0.5 % per post); a3 (hourly 3 %) has no matured post yet.
    monitoring = MonitoringReading(
        alerts=[
            {
                "status": {"state": "active"},
                "receivers": [{"name": "marketing-oncall"}],
                "labels": {
                    "alertname": "EngagementRateBelowBenchmark",
                    "account_id": "a1",
                    "platform": "x",
                    "content_type": "all",
                    "severity": "warning",
                },
            },
            {
                "status": {"state": "active"},
                "receivers": [{"name": "marketing-oncall"}],
                "labels": {
                    "alertname": "EngagementRateBelowBenchmark",
                    "account_id": "a2",
                    "platform": "x",
                    "content_type": "video",
                    "severity": "warning",
                },
            },
        ],
        per_post={
            ("a1", "all"): PerPost("x", 0.005, x_band),
            ("a2", "all"): PerPost("x", 0.012, x_band),
            ("a2", "video"): PerPost("x", 0.009, {"low": 0.011, "high": 0.02}),
        },
    )
    history = History()
    f = figures([after, dead], {"http://w1": before}, 4.0, monitoring, history)
    w = f.workers[0]
    assert (w.consumed, w.counted, w.duplicate, w.late) == (300, 270, 10, 6)
    assert w.rejected == {"late": 6, "schema": 14} and w.partitions == [0, 1] and w.lag == {3: 7}
    assert w.rates == {"consumed": 50, "counted": 45, "duplicate": 1.5, "rejected": 3.5, "late": 1}
    assert f.workers[1].error.startswith("not answering")
    assert f.ranked_by == "per_post"
    assert [(r.account_id, r.per_post, r.hourly) for r in f.top] == [("a2", 0.012, 0.001), ("a1", 0.005, 0.02)]
    assert f.bottom[0].account_id == "a1" and f.top[0].band == x_band
    assert f.below == [
        {
            **f.alerts[0],
            "account_id": "a1",
            "platform": "x",
            "content_type": "all",
            "per_post": 0.005,
            "band": x_band,
            "hourly": 0.02,
        },
        # A content-type alert: that type's ER per post and band, not the account's over all its posts.
        {
            **f.alerts[1],
            "account_id": "a2",
            "platform": "x",
            "content_type": "video",
            "per_post": 0.009,
            "band": {"low": 0.011, "high": 0.02},
            "hourly": 0.001,
        },
    ]
    assert f.alerts[0]["receivers"] == ["marketing-oncall"] and f.unanswered == {"acknowledge": 4}
    assert f.sparks == {"x/like": [10.0]}
    text = render(f)
    assert "not answering" in text and "EngagementRateBelowBenchmark" in text and "1.04 % .. 1.48 %" in text
    assert "ER per post" in text and "hourly" in text
    # The alert rows: ER per post against the band, the hourly ER in its own column, after the band.
    a1_row = next(line for line in text.splitlines() if "EngagementRateBelowBenchmark" in line and "a1" in line)
    assert re.search(r"\ball\s+0\.50 %\s+1\.04 % \.\. 1\.48 %\s+2\.00 %", a1_row), a1_row
    a2_row = next(line for line in text.splitlines() if "EngagementRateBelowBenchmark" in line and "a2" in line)
    assert re.search(r"\bvideo\s+0\.90 %\s+1\.10 % \.\. 2\.00 %\s+0\.10 %", a2_row), a2_row
    assert "consumed 300" in status_line(f, 12) and "not answering: http://w2" in status_line(f, 12)


def test_without_prometheus_the_accounts_are_ranked_by_the_hourly_rate_without_bands():
    reading = WorkerReading("http://w", Metrics.parse(_exposition(1, 1, 0, {}, 0)))
    f = figures([reading], {}, 1.0, MonitoringReading(), History())
    assert f.ranked_by == "hourly"
    assert [(r.account_id, r.hourly, r.per_post, r.band) for r in f.top] == [
        ("a3", 0.03, None, None),
        ("a1", 0.02, None, None),
        ("a2", 0.001, None, None),
    ]
    text = render(f)
    assert "hourly rolling ER" in text and "--prometheus" in text
    # A Prometheus that does not answer: said so, and no band is made up.
    f = figures([reading], {}, 1.0, read_monitoring("http://127.0.0.1:9", None), History())
    assert f.prometheus_error.startswith("not answering") and f.ranked_by == "hourly"
    assert "ER per post and bands not shown" in render(f)


def test_a_restarted_worker_gives_no_negative_rate():
    before = WorkerReading("http://w", Metrics.parse(_exposition(1000, 1000, 0, {}, 0)))
    after = WorkerReading("http://w", Metrics.parse(_exposition(10, 10, 0, {}, 0)))
    f = figures([after], {"http://w": before}, 1.0, MonitoringReading(), History())
    assert f.workers[0].rates["consumed"] == 0


def test_a_type_that_appears_later_lines_up_with_the_others():
    history = History()
    readings = [
        WorkerReading("http://w", Metrics.parse('engagement_interactions_total{platform="x",type="like"} 0\n')),
        WorkerReading("http://w", Metrics.parse('engagement_interactions_total{platform="x",type="like"} 2\n')),
        WorkerReading(
            "http://w",
            Metrics.parse(
                'engagement_interactions_total{platform="x",type="like"} 4\n'
                'engagement_interactions_total{platform="x",type="save"} 3\n'
            ),
        ),
    ]
    previous: dict = {}
    for reading in readings:
        f = figures([reading], previous, 1.0, MonitoringReading(), history)
        previous = {"http://w": reading}
    assert f.sparks == {"x/like": [0.0, 2.0, 2.0], "x/save": [0.0, 0.0, 0.0]}
    f.sparks["x/late-type"] = [5.0]  # a shorter series still renders, on the latest point
    assert "x" in render(f)


def test_sparkline_scales_to_its_largest_value():
    assert sparkline([0, 4, 8]) == " ▄█" and sparkline([0, 0]) == "  " and sparkline([]) == ""


def test_a_firing_post_off_track_has_its_line_with_its_projection_and_band():
    exposition = (
        'engagement_post_projected_rate_ratio{post_id="p7",account_id="a1",platform="x",industry="retail",'
        'content_type="image"} 0.004\n'
        'engagement_post_benchmark_low_ratio{post_id="p7",account_id="a1",platform="x",industry="retail",'
        'content_type="image"} 0.0104\n'
        'engagement_post_projected_rate_ratio{post_id="p8",account_id="a1",platform="x",industry="retail",'
        'content_type="image"} 0.002\n'
    )
    reading = WorkerReading("http://w1", Metrics.parse(exposition), {"partitions": [0]})
    firing = {
        "status": {"state": "active"},
        "receivers": [{"name": "marketing-oncall"}],
        "labels": {"alertname": "PostOffTrack", "post_id": "p7", "account_id": "a1", "platform": "x"}
        | {"content_type": "image", "severity": "warning"},
    }
    quiet = figures([reading], {}, 4.0, MonitoringReading(alerts=[], per_post={}), History())
    assert quiet.off_track == [] and "posts off track (PostOffTrack): none" in render(quiet)
    # p8 is exported (lower still) but not firing: only the alert's post is on the line.
    f = figures([reading], {}, 4.0, MonitoringReading(alerts=[firing], per_post={}), History())
    assert f.off_track == [
        {"post_id": "p7", "account_id": "a1", "platform": "x", "content_type": "image"}
        | {"projected": 0.004, "band_low": 0.0104}
    ]
    assert "posts off track (PostOffTrack): 1: p7 of a1 (x, image) projected 0.40 % < 1.04 %" in render(f)
