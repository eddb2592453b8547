"""`engagement top`: its figures against the worker's own /metrics (pure, and on a live worker with real
Kafka and the simulator), and the full-screen view driven in a real terminal (tmux)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from streams.devtools.processes import spawn, stop
from streams.top import Top
from streams.top.figures import History, figures
from streams.top.sources import MonitoringReading, read_monitoring
from tests.fixtures.kafka import isolated_settings, wait_for
from tests.fixtures.top import render


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
        assert f"consumed {settled['consumed']:,.0f}" in render(f)
    finally:
        stop(simulator)
