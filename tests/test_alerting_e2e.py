"""The whole alerting path for real: embedded Kafka, a worker, the simulator, Prometheus with the
project's rules, Alertmanager with the project's routes, and a webhook receiver run by the test.

Short windows and hold times come from settings (and the rules' `# tunable` durations), so the run
takes minutes, not hours."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streams.devtools.prometheus import (alertmanager_binary, fast_rules, start_alertmanager, start_prometheus,
                                with_window_label, write_alertmanager_config, write_prometheus_config)
from streams.devtools.processes import http_get, scrape, spawn, stop

from .conftest import isolated_settings, wait_for
from .promql import dashboard_queries

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not shutil.which("prometheus") or not alertmanager_binary(),
                                 reason="Debian's prometheus and prometheus-alertmanager are not installed "
                                        "(make test installs them)")]

COLLAPSED, NORMAL = "acct-0003", "acct-0002"  # instagram and facebook in the simulator's model
ROLLING_LABEL = "1m"  # the rolling window of this run (60 s) is labelled so, not "1h"
MARKETING_ALERTS = {"EngagementRateBelowBenchmark", "EngagementDropVsBaseline"}


class Webhook:
    """Alertmanager's webhook receivers, run by the test: every notification, with its path."""

    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self, path_suffix: str, status: str = "firing") -> list[dict]:
        return [alert for path, body in self.received if path.endswith(path_suffix)
                for alert in body["alerts"] if alert["status"] == status]

    def close(self):
        self.server.shutdown()


def prom_query(prometheus: str, expr: str) -> list[dict]:
    status, body = http_get(f"{prometheus}/api/v1/query?query={urllib.parse.quote(expr)}")
    assert status == 200, (expr, body[:500])
    return json.loads(body)["data"]["result"]



@pytest.fixture
def stack(kafka_bootstrap, workers, topics_ready, tmp_path):
    settings = topics_ready(isolated_settings(
        kafka_bootstrap, window_seconds=5, window_grace_seconds=2, rolling_window_seconds=60,
        commit_interval_seconds=0.5))
    worker = workers(settings).start()
    webhook = Webhook()
    processes = []
    am_work, prom_work = tmp_path / "alertmanager", tmp_path / "prometheus"
    am_proc, alertmanager = start_alertmanager(
        write_alertmanager_config(am_work, webhook.address, group_wait="1s"), am_work, tmp_path / "am.log")
    processes.append(am_proc)
    config = write_prometheus_config(
        prom_work, [worker.url.removeprefix("http://")], alertmanager.removeprefix("http://"), interval="1s",
        rules_transform=lambda text: fast_rules(text, for_duration="10s", baseline_range="10m",
                                                rate_range="20s", window_label=ROLLING_LABEL))
    prom_proc, prometheus = start_prometheus(config, prom_work, tmp_path / "prometheus.log")
    processes.append(prom_proc)
    yield settings, worker, webhook, prometheus, alertmanager, tmp_path
    for proc in processes:
        stop(proc)
    webhook.close()


def test_collapse_pages_marketing_for_that_account_only_and_a_stall_inhibits(stack):
    settings, worker, webhook, prometheus, alertmanager, tmp_path = stack
    simulator = spawn([sys.executable, "-m", "streams.cli", "simulate", "--rate", "250", "--accounts", "5",
                       "--collapse-account", COLLAPSED, "--collapse-after", "15"],
                      settings.as_env(), tmp_path / "simulator.log")
    try:
        # The collapsed account's page arrives through Alertmanager at the marketing receiver.
        fired = wait_for(lambda: [a for a in webhook.alerts("/hook/marketing")
                                    if a["labels"]["alertname"] == "EngagementRateBelowBenchmark"],
                           300, "EngagementRateBelowBenchmark at the webhook")
        assert {a["labels"]["account_id"] for a in fired} == {COLLAPSED}
        alert = fired[0]
        assert alert["labels"]["team"] == "marketing" and alert["labels"]["platform"] == "instagram"
        assert alert["labels"]["severity"]
        assert "below" in alert["annotations"]["description"]
        assert alert["annotations"]["runbook_url"] and COLLAPSED in alert["annotations"]["dashboard"]

        # No other account alerts, at the webhook or in Prometheus.
        marketing = [a for a in webhook.alerts("/hook/marketing") if a["labels"]["alertname"] in MARKETING_ALERTS]
        assert {a["labels"]["account_id"] for a in marketing} == {COLLAPSED}
        firing = prom_query(prometheus, 'ALERTS{alertstate="firing",team="marketing"}')
        assert {s["metric"]["account_id"] for s in firing} == {COLLAPSED}
        # Every other account is exported and above its benchmark: the silence means something.
        rates = prom_query(prometheus, 'engagement_rate_ratio{basis="followers"}')
        assert {s["metric"]["account_id"] for s in rates} == {f"acct-{i:04d}" for i in range(1, 6)}

        # Every PromQL expression of every dashboard panel returns data from this Prometheus.
        time.sleep(5)  # recording rules have evaluated the latest scrape
        empty = [(uid, title, expr) for uid, title, expr in dashboard_queries({"account": NORMAL})
                 if not prom_query(prometheus, with_window_label(expr, ROLLING_LABEL))]
        assert empty == []

        # Ingestion stops: the platform on-call is paged and the marketing page is inhibited.
        stop(simulator, sig=signal.SIGTERM)
        wait_for(lambda: [a for a in webhook.alerts("/hook/platform")
                            if a["labels"]["alertname"] == "EngagementIngestionStalled"],
                   120, "EngagementIngestionStalled at the platform receiver")

        def suppressed():
            status, body = http_get(f"{alertmanager}/api/v2/alerts?filter=alertname%3D%22EngagementRateBelowBenchmark%22")
            alerts = json.loads(body)
            return alerts and all(a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]
                                  for a in alerts)
        wait_for(suppressed, 30, "the marketing alert to be inhibited")
        before = len(webhook.alerts("/hook/marketing"))
        time.sleep(5)
        assert len(webhook.alerts("/hook/marketing")) == before, "a marketing page went out during the stall"
    finally:
        stop(simulator)


@pytest.mark.integration
def test_account_series_are_capped_moved_and_dropped(kafka_bootstrap, workers, topics_ready, tmp_path):
    cap, accounts = 3, 8
    settings = topics_ready(isolated_settings(
        kafka_bootstrap, window_seconds=2, window_grace_seconds=1, rolling_window_seconds=10,
        max_account_series=cap))
    first = workers(settings, "first").start()
    simulator = spawn([sys.executable, "-m", "streams.cli", "simulate", "--rate", "300", "--accounts",
                       str(accounts)], settings.as_env(), tmp_path / "simulator.log")

    def series(worker) -> set[str]:
        return {k.split('account_id="')[1].split('"')[0] for k in worker.metrics()
                if k.startswith("engagement_rate_ratio{")}

    try:
        wait_for(lambda: first.metrics().get("engagement_account_series_dropped") == accounts - cap, 60,
                   "the cap to apply")
        for _ in range(5):  # and it keeps holding, step after step
            assert len(series(first)) == cap
            time.sleep(1)

        # A second worker takes half the partitions: no account is exported by both.
        second = workers(settings, "second").start()
        time.sleep(8)
        for _ in range(5):
            a, b = series(first), series(second)
            assert not a & b, f"stale series after the rebalance: {a & b}"
            assert len(a) <= cap and len(b) <= cap
            time.sleep(1)
    finally:
        stop(simulator)
    # Idle accounts lose their series once the rolling window has passed them.
    wait_for(lambda: not series(first) and not series(second), 40, "idle series to be removed")
    assert scrape(f"{first.url}/metrics").get("engagement_account_series_dropped") == 0
