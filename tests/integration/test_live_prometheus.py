"""A real Prometheus (tests/fixtures/prometheus.py) evaluates the project's rules and every dashboard
query against a stand-in exporter: the right accounts alert, and every query returns data."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import UTC, datetime

import pytest

from streams.devtools.broker import free_port
from tests.fixtures import promql
from tests.fixtures.prometheus import ALERTMANAGER, http_json, tool, wait_until


def test_live_alerts_fire_for_the_right_accounts(live_prometheus):
    """ER per post against the band, with enough matured posts; the hourly ER plays no part: acc-low
    (hourly 2 %, above facebook's band) fires on its 0.4 % per post over 5 posts; acc-edu (1 % per post)
    only against the education row's 1.2 %; acc-reels for its reels only (2 % against the reel row's
    3 %; 2.5 % over all its posts is inside instagram's band); acc-ok (hourly 0.1 %, per post 3 %, its
    reels 4 %) and acc-few (0.2 % per post but 2 matured posts, fewer than 3) do not."""
    firing = live_prometheus('ALERTS{alertname="EngagementRateBelowBenchmark", alertstate="firing"}')
    assert sorted((a["metric"]["account_id"], a["metric"]["content_type"]) for a in firing) == [
        ("acc-edu", "all"),
        ("acc-low", "all"),
        ("acc-reels", "reel"),
    ]
    for alert in firing:
        assert alert["metric"]["team"] == "marketing"
    assert {a["metric"]["account_id"]: (a["metric"]["platform"], a["metric"].get("industry")) for a in firing} == {
        "acc-edu": ("facebook", "education"),
        "acc-low": ("facebook", "retail"),
        "acc-reels": ("instagram", None),
    }
    # What the alert compares, as the rules record it.
    per_post = {
        (s["metric"]["account_id"], s["metric"]["content_type"]): float(s["value"][1])
        for s in live_prometheus("account:engagement_rate_per_post:ratio")
    }
    assert per_post[("acc-low", "all")] == pytest.approx(0.004) and per_post[("acc-ok", "reel")] == pytest.approx(0.04)
    low = {
        (s["metric"]["account_id"], s["metric"]["content_type"]): float(s["value"][1])
        for s in live_prometheus('account:engagement_post_benchmark:ratio{bound="low"}')
    }
    assert low[("acc-edu", "all")] == 0.012 and low[("acc-ok", "reel")] == 0.03 and ("acc-ok", "image") not in low
    posts = {
        s["metric"]["account_id"]: float(s["value"][1])
        for s in live_prometheus('account:engagement_matured_posts:max{content_type="all"}')
    }
    assert posts == {"acc-low": 5, "acc-ok": 6, "acc-edu": 4, "acc-few": 2, "acc-reels": 5}
    assert not live_prometheus('ALERTS{team="platform", alertstate="firing"}')
    # The drop alert compares the hourly ER with its own trailing baseline: steady, no drop.
    assert live_prometheus("account:engagement_rate_followers:baseline") and not live_prometheus(
        'ALERTS{alertname="EngagementDropVsBaseline", alertstate="firing"}'
    )


@pytest.mark.parametrize("account, post", [("acc-low", "p-low-1"), ("acc-ok", None)])
def test_live_every_dashboard_query_returns_data(live_prometheus, account, post):
    """``post`` None: the post text box's default (every exported post)."""
    substitutions = {"account": account, **({"post": post} if post else {})}
    empty = [
        f"{uid} / {title}: {expr}"
        for uid, title, expr in promql.dashboard_queries(substitutions)
        if not live_prometheus(expr)
    ]
    assert not empty, "queries without data:\n" + "\n".join(empty)


def test_alertmanager_inhibits_marketing_while_pipeline_is_down(tmp_path):
    """Run the real Alertmanager: a marketing alert (with account labels) is suppressed while
    EngagementIngestionStalled (no account labels) fires, and only then."""
    binary = shutil.which("alertmanager") or tool("prometheus-alertmanager")
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={ALERTMANAGER}",
            f"--storage.path={tmp_path}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/api/v2"
    try:

        def ready():
            try:
                return http_json(f"{base}/status")
            except OSError:
                return None

        assert wait_until(ready), "alertmanager did not start"
        now = datetime.now(UTC).isoformat()

        def post(**labels):
            http_json(f"{base}/alerts", [{"labels": {"service": "engagement", **labels}, "startsAt": now}])

        def state(alertname):
            for alert in http_json(f"{base}/alerts"):
                if alert["labels"]["alertname"] == alertname:
                    return alert["status"]["state"]

        post(
            alertname="EngagementRateBelowBenchmark",
            team="marketing",
            severity="warning",
            account_id="acc-1",
            platform="facebook",
        )
        post(alertname="EngagementRejectRateHigh", team="platform", severity="warning", job="engagement")
        assert wait_until(lambda: state("EngagementRateBelowBenchmark") == "active")
        time.sleep(1)  # a non-inhibiting platform alert leaves it active
        assert state("EngagementRateBelowBenchmark") == "active"

        post(alertname="EngagementIngestionStalled", team="platform", severity="critical", job="engagement")
        assert wait_until(lambda: state("EngagementRateBelowBenchmark") == "suppressed")
        assert state("EngagementIngestionStalled") == "active"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
