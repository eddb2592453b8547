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
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streams.devtools.processes import http_get, scrape, spawn, stop
from streams.devtools.prometheus import (
    alertmanager_binary,
    fast_rules,
    start_alertmanager,
    start_prometheus,
    write_alertmanager_config,
    write_prometheus_config,
)
from streams.simulator import TrafficModel
from streams.simulator.profile import collapses
from tests.fixtures.kafka import isolated_settings, wait_for
from tests.fixtures.promql import dashboard_queries

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not shutil.which("prometheus") or not alertmanager_binary(),
        reason="Debian's prometheus and prometheus-alertmanager are not installed (make test installs them)",
    ),
]

# The simulator's day, shortened to the maturity age (24 h, one model day): posts are published,
# mature and leave the benchmark period within the run.
DAY_S = 20
POST_SETTINGS = dict(
    post_lifetime_ages_seconds=("5", "10"),
    post_maturity_seconds=DAY_S,
    post_lifetime_seconds=2 * DAY_S,
    benchmark_period_seconds=15 * DAY_S,
    # Early warning from a quarter of the model day (the first close after 1 h of a 20 s day would
    # come too late to be early); a median post gathers about 30 engaged interactions by then on the
    # one account big enough (x, 3,800 followers), 6 to 9 on the others: projected on that one only.
    early_warning_first_check_seconds=5,
    early_warning_min_expected_engaged=20,
)
RATE, N_ACCOUNTS = 1000, 5
MODEL = TrafficModel(7, N_ACCOUNTS, rate=RATE, day_seconds=DAY_S)  # the simulator's default seed
CRISIS = "acct-0004"
# The collapsed accounts post often (their ER per post has posts to go on soon): the engaged events
# of one turn into impressions, the other's new posts get no event at all (a silent collapse: its
# posts count from their records, at 0 %). The others post from once a day to several times an hour,
# and none of them may alert.
BY_CADENCE = sorted(sorted(set(MODEL.account_ids) - {CRISIS}), key=MODEL.posts_per_day.get)
COLLAPSED, SILENT = BY_CADENCE[-2], BY_CADENCE[-1]
NORMAL = next(a for a in MODEL.account_ids if a not in (COLLAPSED, SILENT, CRISIS))
# A few posts of a healthy account collapse from their publication (the simulator chooses which): its
# engagement per post stays inside its band; the posts page PostOffTrack, nothing else does.
OFF_TRACK, COLLAPSING_POSTS = CRISIS, 0.05
# The rolling window of this run is 60 s, not the default hour: the rules and dashboards, which
# assume no window length, must alert and show all the same.
ROLLING_LABEL = "1m"
ENGAGEMENT_ALERTS = {"EngagementRateBelowBenchmark", "EngagementDropVsBaseline", "EngagementPostRateBelowOwnBaseline"}
CRISIS_ALERTS = {"EngagementMentionSpike", "EngagementNegativeSentimentSpike", "EngagementMentionUnanswered"}
# The listening SLAs, shortened, and the retention in the defaults' proportion (3 x the resolve SLA);
# the simulated teams' reply and resolve delays shrink by the acknowledge SLA's factor (an hour's
# median becomes 1.7 s). A normal team closes every mention it handles, so none piles up.
ACK_S, RESOLVE_S = 20, 25
RETENTION_S = 3 * RESOLVE_S
REPLY_DELAY_SCALE = ACK_S / 43200
REPEAT = "3s"  # Alertmanager repeats a firing notification this often: an inhibition that fails shows


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
        return [
            alert
            for path, body in self.received
            if path.endswith(path_suffix)
            for alert in body["alerts"]
            if alert["status"] == status
        ]

    def close(self):
        self.server.shutdown()


def prom_query(prometheus: str, expr: str) -> list[dict]:
    status, body = http_get(f"{prometheus}/api/v1/query?query={urllib.parse.quote(expr)}")
    assert status == 200, (expr, body[:500])
    return json.loads(body)["data"]["result"]


@pytest.fixture
def stack(kafka_bootstrap, workers, topics_ready, tmp_path):
    settings = topics_ready(
        isolated_settings(
            kafka_bootstrap,
            window_seconds=5,
            window_grace_seconds=2,
            rolling_window_seconds=60,
            commit_interval_seconds=0.5,
            mention_acknowledge_sla_seconds=ACK_S,
            mention_resolve_sla_seconds=RESOLVE_S,
            mention_retention_seconds=RETENTION_S,
            **POST_SETTINGS,
        )
    )
    worker = workers(settings).start()
    webhook = Webhook()
    processes = []
    am_work, prom_work = tmp_path / "alertmanager", tmp_path / "prometheus"
    am_proc, alertmanager = start_alertmanager(
        write_alertmanager_config(am_work, webhook.address, group_wait="1s", repeat_interval=REPEAT),
        am_work,
        tmp_path / "am.log",
    )
    processes.append(am_proc)
    config = write_prometheus_config(
        prom_work,
        [worker.url.removeprefix("http://")],
        alertmanager.removeprefix("http://"),
        interval="1s",
        rules_transform=lambda text: fast_rules(
            text,
            for_duration="10s",
            baseline_range="10m",
            rate_range="20s",
            spike_range="30s",
            spike_baseline_range="30s",
            spike_history="60s",
        ).replace("for: 10s  # tunable: post-off-track hold", "for: 3s  # tunable: post-off-track hold"),
    )
    prom_proc, prometheus = start_prometheus(config, prom_work, tmp_path / "prometheus.log")
    processes.append(prom_proc)
    yield settings, worker, webhook, prometheus, alertmanager, tmp_path
    for proc in processes:
        stop(proc)
    webhook.close()


def test_collapse_and_crisis_page_the_right_receivers_for_those_accounts_only_and_a_stall_inhibits(stack):
    settings, worker, webhook, prometheus, alertmanager, tmp_path = stack
    # The crisis begins once the mention baselines have their history (the spike rules' 60 s).
    simulator = spawn(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "simulate",
            "--rate",
            str(RATE),
            "--accounts",
            str(N_ACCOUNTS),
            "--day-seconds",
            str(DAY_S),
            "--collapse-account",
            COLLAPSED,
            "--collapse-after",
            "0",
            "--silent-account",
            SILENT,
            "--silent-after",
            "0",
            "--crisis-account",
            CRISIS,
            "--crisis-after",
            "65",
            "--reply-delay-scale",
            str(REPLY_DELAY_SCALE),
            "--collapsing-posts",
            str(COLLAPSING_POSTS),
            "--collapsing-account",
            OFF_TRACK,
        ],
        settings.as_env(),
        tmp_path / "simulator.log",
    )

    def marketing(path: str = "/hook/marketing") -> list[dict]:
        return [a for a in webhook.alerts(path) if a["labels"]["alertname"] in ENGAGEMENT_ALERTS | CRISIS_ALERTS]

    try:
        # The collapsed accounts' pages arrive through Alertmanager at the marketing receiver.
        def below_benchmark():
            fired = [
                a
                for a in webhook.alerts("/hook/marketing")
                if a["labels"]["alertname"] == "EngagementRateBelowBenchmark"
            ]
            return fired if {COLLAPSED, SILENT} <= {a["labels"]["account_id"] for a in fired} else None

        fired = wait_for(below_benchmark, 300, "EngagementRateBelowBenchmark of both collapses at the webhook")
        assert {a["labels"]["account_id"] for a in fired} == {COLLAPSED, SILENT}
        alert = next(a for a in fired if a["labels"]["account_id"] == COLLAPSED)
        platform = next(r["platform"] for r in MODEL.accounts() if r["account_id"] == COLLAPSED)
        assert alert["labels"]["team"] == "marketing" and alert["labels"]["platform"] == platform
        assert alert["labels"]["severity"] and alert["labels"]["content_type"] == "all"
        assert (
            "matured posts" in alert["annotations"]["description"]
            and "below the benchmark's low bound" in alert["annotations"]["description"]
        )
        assert alert["annotations"]["runbook_url"] and COLLAPSED in alert["annotations"]["dashboard"]

        # The crisis: the spikes and the resolve-SLA page at the marketing on-call, the
        # acknowledge-SLA warning at the community team.
        def crisis_paged():
            names = {
                (a["labels"]["alertname"], a["labels"].get("sla"))
                for a in marketing()
                if a["labels"]["account_id"] == CRISIS
            }
            return {
                ("EngagementMentionSpike", None),
                ("EngagementNegativeSentimentSpike", None),
                ("EngagementMentionUnanswered", "resolve"),
            } <= names

        wait_for(crisis_paged, 240, "the crisis account's spike and resolve-SLA pages")

        # A collapsing post pages the marketing on-call in its first quarter day, with its projection.
        def off_track() -> list[dict]:
            return [a for a in webhook.alerts("/hook/marketing") if a["labels"]["alertname"] == "PostOffTrack"]

        page = wait_for(off_track, 120, "PostOffTrack at the webhook")[0]
        assert page["labels"]["post_id"].startswith(OFF_TRACK) and page["labels"]["team"] == "marketing"
        assert "projected at" in page["annotations"]["description"]
        assert "below the benchmark's low bound" in page["annotations"]["description"]
        assert page["annotations"]["runbook_url"].endswith("#postofftrack")
        community = marketing("/hook/community")
        assert {(a["labels"]["alertname"], a["labels"]["sla"], a["labels"]["account_id"]) for a in community} == {
            ("EngagementMentionUnanswered", "acknowledge", CRISIS)
        }
        assert "the oldest has waited" in community[0]["annotations"]["description"]

        # Every account has three matured posts (from one post a day to several an hour): from then on
        # the silence of the others means something; they are inside their band, and have mentions.
        others = set(MODEL.account_ids) - {COLLAPSED, SILENT}

        def per_post_of_all():  # the once-a-day account's third post matures about 90 s in
            rates = {
                s["metric"]["account_id"]: float(s["value"][1])
                for s in prom_query(
                    prometheus,
                    'account:engagement_rate_per_post:ratio{content_type="all"}'
                    " and on (account_id, content_type) account:engagement_matured_posts:max >= 3",
                )
            }
            return rates if set(MODEL.account_ids) <= rates.keys() else None

        per_post = wait_for(per_post_of_all, 60, "three matured posts of every account")
        # No other account alerts, at the webhooks or in Prometheus.
        paged = {(a["labels"]["alertname"], a["labels"]["account_id"]) for a in marketing() + community}
        assert {account for _, account in paged} == {COLLAPSED, SILENT, CRISIS}, paged
        assert {name for name, account in paged if account in (COLLAPSED, SILENT)} <= ENGAGEMENT_ALERTS
        assert {name for name, account in paged if account == CRISIS} <= CRISIS_ALERTS
        firing = prom_query(prometheus, 'ALERTS{alertstate="firing",team="marketing"}')
        assert {s["metric"]["account_id"] for s in firing} == {COLLAPSED, SILENT, CRISIS}
        # The posts off track are the collapsing account's: no healthy account's post pages.
        assert {a["labels"]["account_id"] for a in off_track()} == {OFF_TRACK}
        assert all(collapses(MODEL.seed, a["labels"]["post_id"], COLLAPSING_POSTS) for a in off_track())
        lows = {
            s["metric"]["account_id"]: float(s["value"][1])
            for s in prom_query(prometheus, 'account:engagement_post_benchmark:ratio{content_type="all", bound="low"}')
        }
        assert all(per_post[a] >= lows[a] for a in others), (per_post, lows)
        assert per_post[COLLAPSED] < lows[COLLAPSED]
        assert per_post[SILENT] == 0  # every post it published since the start got nothing
        assert {MODEL.posts_per_day[a] for a in others} >= {1.0} and max(MODEL.posts_per_day[a] for a in others) >= 48
        rates = prom_query(prometheus, 'engagement_rate_ratio{basis="followers"}')
        assert {s["metric"]["account_id"] for s in rates} == set(MODEL.account_ids)
        assert {s["metric"]["window"] for s in rates} == {ROLLING_LABEL}
        answered = prom_query(prometheus, "sum by (account_id) (engagement_account_mentions_answered_total) > 0")
        assert {NORMAL, CRISIS} <= {s["metric"]["account_id"] for s in answered}

        # Every PromQL expression of every dashboard panel returns data from this Prometheus.
        time.sleep(5)  # recording rules have evaluated the latest scrape
        empty = [
            (uid, title, expr)
            for uid, title, expr in dashboard_queries({"account": NORMAL})
            if not prom_query(prometheus, expr)
        ]
        assert empty == []

        # Ingestion stops: the platform on-call is paged and every marketing alert is inhibited.
        stop(simulator, sig=signal.SIGTERM)
        wait_for(
            lambda: [
                a for a in webhook.alerts("/hook/platform") if a["labels"]["alertname"] == "EngagementIngestionStalled"
            ],
            120,
            "EngagementIngestionStalled at the platform receiver",
        )

        def firing_marketing() -> list[dict]:
            """The marketing alerts Alertmanager holds as firing (a resolved one is not inhibited)."""
            status, body = http_get(f"{alertmanager}/api/v2/alerts?filter=team%3D%22marketing%22")
            now = datetime.now(UTC)
            return [a for a in json.loads(body) if datetime.fromisoformat(a["endsAt"]) > now]

        def all_suppressed(alerts) -> bool:
            return all(a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"] for a in alerts)

        wait_for(
            lambda: (alerts := firing_marketing()) and all_suppressed(alerts),
            30,
            "the marketing alerts to be inhibited",
        )
        # Alertmanager repeats a notification every REPEAT (3 s): an alert that slipped through the
        # inhibition would be notified again while it keeps firing. Watch for 8 s.
        before = len(marketing()), len(marketing("/hook/community"))
        watched = []
        for _ in range(16):
            alerts = firing_marketing()
            assert all_suppressed(alerts), [(a["labels"]["alertname"], a["status"]) for a in alerts]
            watched.append(len(alerts))
            time.sleep(0.5)
        assert all(watched[:12]), f"the marketing alerts resolved too soon to check anything: {watched}"
        assert (len(marketing()), len(marketing("/hook/community"))) == before, (
            "a marketing notification went out during the stall"
        )
    finally:
        stop(simulator)


@pytest.mark.integration
def test_account_series_are_capped_moved_and_dropped(kafka_bootstrap, workers, topics_ready, tmp_path):
    cap, accounts = 3, 8
    settings = topics_ready(
        isolated_settings(
            kafka_bootstrap, window_seconds=2, window_grace_seconds=1, rolling_window_seconds=10, max_account_series=cap
        )
    )
    first = workers(settings, "first").start()
    simulator = spawn(
        [sys.executable, "-m", "streams.cli", "simulate", "--rate", "300", "--accounts", str(accounts)],
        settings.as_env(),
        tmp_path / "simulator.log",
    )

    def series(worker) -> set[str]:
        return {
            k.split('account_id="')[1].split('"')[0] for k in worker.metrics() if k.startswith("engagement_rate_ratio{")
        }

    try:
        wait_for(
            lambda: first.metrics().get("engagement_account_series_dropped") == accounts - cap, 60, "the cap to apply"
        )
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
