"""`engagement top`: its figures against the worker's own /metrics (pure, and on a live worker with real
Kafka and the simulator), and the full-screen view driven in a real terminal (tmux)."""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from streams.devtools.processes import spawn, stop
from streams.top import Top
from streams.top.figures import History, figures, status_line
from streams.top.sources import Metrics, MonitoringReading, PerPost, WorkerReading, read_monitoring
from streams.top.view import screen, sparkline

from .conftest import isolated_settings, wait_for
from .test_deploy import live_prometheus  # noqa: F401 (the fixture: a real Prometheus, the project's rules)


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
    text = _render(f)
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
    text = _render(f)
    assert "hourly rolling ER" in text and "--prometheus" in text
    # A Prometheus that does not answer: said so, and no band is made up.
    f = figures([reading], {}, 1.0, read_monitoring("http://127.0.0.1:9", None), History())
    assert f.prometheus_error.startswith("not answering") and f.ranked_by == "hourly"
    assert "ER per post and bands not shown" in _render(f)


def test_the_view_reads_the_er_per_post_and_the_bands_from_prometheus(live_prometheus):  # noqa: F811
    """A real Prometheus with the project's rules, scraping the stand-in exporter of test_deploy:
    every account's ER per post over all its posts with its band, and the content-type series of the
    alerts that fire for a content type (acc-reels' reels), none of the others."""
    reading = read_monitoring(live_prometheus.url, None)
    assert reading.prometheus_error is None
    facebook, instagram = {"low": 0.0083, "high": 0.0165}, {"low": 0.0173, "high": 0.0354}
    expected = {
        ("acc-low", "all"): ("facebook", 0.004, facebook),
        ("acc-ok", "all"): ("instagram", 0.03, instagram),
        ("acc-edu", "all"): ("facebook", 0.01, {"low": 0.012, "high": 0.02}),
        ("acc-few", "all"): ("facebook", 0.002, facebook),
        ("acc-reels", "all"): ("instagram", 0.025, instagram),
        ("acc-reels", "reel"): ("instagram", 0.02, {"low": 0.03, "high": 0.06}),
    }
    assert set(reading.per_post) == set(expected)
    for key, (platform, er, band) in expected.items():
        got = reading.per_post[key]
        assert (got.platform, got.band) == (platform, band) and got.er == pytest.approx(er), key
    alerts = [
        {"status": {"state": "active"}, "receivers": [{"name": "marketing-oncall"}], "labels": a["metric"]}
        for a in live_prometheus('ALERTS{alertname="EngagementRateBelowBenchmark", alertstate="firing"}')
    ]
    f = figures([], {}, 1.0, MonitoringReading(alerts=alerts, per_post=reading.per_post), History(), ranked=10)
    assert [r.account_id for r in f.top] == ["acc-ok", "acc-reels", "acc-edu", "acc-low", "acc-few"]
    below = {(a["account_id"], a["content_type"]): (round(a["per_post"], 6), a["band"]["low"]) for a in f.below}
    assert below == {
        ("acc-low", "all"): (0.004, 0.0083),
        ("acc-edu", "all"): (0.01, 0.012),
        ("acc-reels", "reel"): (0.02, 0.03),
    }


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
    assert "x" in _render(f)


def test_sparkline_scales_to_its_largest_value():
    assert sparkline([0, 4, 8]) == " ▄█" and sparkline([0, 0]) == "  " and sparkline([]) == ""


def _render(f, width: int = 220) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(screen(f, "test", show_alerts=True))
    return console.export_text()


def _accounting(m: dict) -> dict:
    return {
        "consumed": m.get("engagement_events_consumed_total", 0),
        "counted": m.get("engagement_events_counted_total", 0),
        "duplicate": m.get("engagement_events_duplicate_total", 0),
        "rejected": sum(v for k, v in m.items() if k.startswith("engagement_events_rejected_total{")),
    }


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _drive_in_tmux(tmp_path: Path, url: str, key: str) -> tuple[str, str]:
    """Run `engagement top` in a real terminal, read the screen, press ``key``; (screen, exit status)."""
    session, status_file = f"top-{key.replace('-', '')}-{time.monotonic_ns()}", tmp_path / f"status-{key}"
    # The tmux server inherits pytest's environment, whose COLUMNS (80) would override the pane's width.
    command = (
        f"env -u COLUMNS -u LINES {shlex.quote(sys.executable)} -m streams.cli top --worker {url}; "
        f"echo $? > {shlex.quote(str(status_file))}"
    )
    _tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50", command)
    try:

        def screen_with_throughput() -> str | None:
            text = _tmux("capture-pane", "-p", "-t", session)
            return text if "consumed/s" in text and _row_rate(text, url) > 0 else None

        shown = wait_for(screen_with_throughput, 30, "the view to show the worker and its throughput", 0.3)
        _tmux("send-keys", "-t", session, key)
        wait_for(lambda: status_file.exists() and status_file.read_text().strip(), 10, f"top to exit on {key}", 0.1)
        return shown, status_file.read_text().strip()
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def _row_rate(text: str, url: str) -> float:
    """The consumed/s column of the worker's row on the screen (after its name and its partitions)."""
    found = re.search(rf"{re.escape(url.removeprefix('http://'))}\s+\d+: \S+\s+([\d,]+)\s", text)
    return float(found.group(1).replace(",", "")) if found else 0.0


@pytest.mark.integration
def test_the_view_shows_what_a_live_worker_exposes(kafka_bootstrap, workers, topics_ready, tmp_path):
    settings = topics_ready(isolated_settings(kafka_bootstrap, commit_interval_seconds=0.3))
    worker = workers(settings).start()
    rate, events = 500, 8_000
    simulator = spawn(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "simulate",
            "--rate",
            str(rate),
            "--max-events",
            str(events),
            "--accounts",
            "10",
        ],
        settings.as_env(),
        tmp_path / "simulator.log",
    )
    try:
        wait_for(lambda: worker.metrics().get("engagement_events_counted_total", 0) > 0, 60, "counting")
        # In a real terminal: the worker and its throughput on screen, and q / Ctrl-C exit cleanly.
        for key in ("q", "C-c"):
            shown, status = _drive_in_tmux(tmp_path, worker.url, key)
            assert status == "0", (key, status, shown)
        # Throughput: top's rate over its two readings against the test's own, taken around them.
        top = Top([worker.url])
        first, t0 = _accounting(worker.metrics()), time.monotonic()
        top.refresh()
        time.sleep(3)
        shown = top.refresh()
        last, t1 = _accounting(worker.metrics()), time.monotonic()
        expected = (last["consumed"] - first["consumed"]) / (t1 - t0)
        assert expected > 0 and abs(shown.workers[0].rates["consumed"] - expected) <= 0.35 * expected, (
            shown.workers[0].rates,
            expected,
        )
        assert simulator.wait(events / rate + 120) == 0

        # Counts: once the traffic has stopped and the counters settled, exactly the worker's.
        def settled_counts() -> dict | None:
            counts = _accounting(worker.metrics())
            time.sleep(1)
            return counts if counts["consumed"] >= events and counts == _accounting(worker.metrics()) else None

        settled = wait_for(settled_counts, 60, "the counters to settle")
        metrics = worker.metrics()
        f = Top([worker.url]).refresh()
        w = f.workers[0]
        assert (w.consumed, w.counted, w.duplicate, sum(w.rejected.values())) == (
            settled["consumed"],
            settled["counted"],
            settled["duplicate"],
            settled["rejected"],
        )
        assert len(w.partitions) == metrics["engagement_partitions_assigned"] == 8
        assert sum(w.lag.values()) == sum(
            v for k, v in metrics.items() if k.startswith("engagement_consumer_lag_messages")
        )
        assert f"consumed {settled['consumed']:,.0f}" in _render(f)
    finally:
        stop(simulator)
