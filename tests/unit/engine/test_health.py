"""Health that tells the truth: /live follows the consume loop's heartbeat, /ready the restore of every
assigned partition. The rules (streams/engine/health.py) with a clock passed in, the views with a fake
engine (a stuck loop while the web server still answers), and a real worker during a restore."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from unittest.mock import AsyncMock

import faust
import pytest
from aiokafka import TopicPartition

from streams.api import views
from streams.engine import health
from streams.engine.health import Bounds, Liveness, Readiness, liveness, readiness, summary
from streams.engine.parts import OwnedPartitions
from streams.engine.rebalance import Rebalance
from streams.engine.recovery import Recovery
from streams.metrics import Metrics
from streams.settings import Settings
from streams.top.sources import read_worker

BOUNDS = Bounds.for_commit_interval(0.5)  # the default commit interval


def test_the_bounds_are_a_commit_interval_the_fetch_wait_and_the_allowances():
    assert BOUNDS.stall_after_seconds == pytest.approx(0.5 + 0.1 + 30.0)
    assert BOUNDS.recovery_seconds == pytest.approx(300.0 + 30.6)
    assert Bounds.for_commit_interval(10.0).stall_after_seconds == pytest.approx(40.1)


def test_a_loop_that_beats_is_live_and_one_that_stopped_beating_is_stuck():
    assert liveness(1000.0, None, 1000.0 + 30.5, BOUNDS) == Liveness("live", 30.5, BOUNDS.stall_after_seconds)
    stuck = liveness(1000.0, None, 1000.0 + 31.0, BOUNDS)
    assert stuck == Liveness("stuck", 31.0, BOUNDS.stall_after_seconds) and not stuck.live


def test_before_its_first_beat_the_loop_is_starting_and_live():
    assert liveness(None, None, 5000.0, BOUNDS) == Liveness("starting", None, BOUNDS.stall_after_seconds)
    assert liveness(None, None, 5000.0, BOUNDS).live


def test_a_recovery_is_live_until_its_own_deadline_whatever_the_heartbeat():
    recovering = liveness(1000.0, 1000.0, 1000.0 + 200.0, BOUNDS)  # beat 200 s ago: inside the recovery
    assert recovering == Liveness("recovering", 200.0, BOUNDS.stall_after_seconds, 200.0) and recovering.live
    late = liveness(1000.0, 1000.0, 1000.0 + 331.0, BOUNDS)  # past give-up + one stall bound
    assert late == Liveness("stuck", 331.0, BOUNDS.stall_after_seconds, 331.0) and not late.live


def test_ready_only_when_every_assigned_partition_is_restored():
    assert readiness(frozenset({0, 1, 2}), {0}, False) == Readiness("restoring", [0, 1, 2], [0], [1, 2])
    assert readiness(frozenset({0, 1, 2}), {0, 1, 2}, False) == Readiness("ready", [0, 1, 2], [0, 1, 2], [])
    # A state still held for a partition no longer assigned is not served (nor waited for).
    assert readiness(frozenset({1}), {1, 5}, False) == Readiness("ready", [1], [1], [])


def test_not_ready_during_a_rebalance_or_a_recovery():
    assert readiness(None, {0, 1}, False) == Readiness("rebalancing", None, [], [])
    assert readiness(frozenset({0, 1}), {0, 1}, True) == Readiness("recovering", [0, 1], [], [0, 1])
    assert readiness(None, {0, 1}, True) == Readiness("recovering", None, [], [])


def test_a_worker_assigned_no_partition_is_ready():
    assert readiness(frozenset(), set(), False) == Readiness("ready", [], [], [])


def test_the_health_status_puts_a_stuck_loop_first():
    live, stuck = Liveness("live", 0.1, 30.6), Liveness("stuck", 99.0, 30.6)
    restoring, ready = Readiness("restoring", [0], [], [0]), Readiness("ready", [0], [0], [])
    assert [summary(live, ready), summary(live, restoring), summary(stuck, ready), summary(stuck, restoring)] == [
        "ok",
        "restoring",
        "stuck",
        "stuck",
    ]


def fake_engine(*, heartbeat, assigned, states, recovering_since=None):
    return SimpleNamespace(
        heartbeat=heartbeat,
        states=dict.fromkeys(states),
        settings=SimpleNamespace(commit_interval_seconds=0.5),
        recovery=SimpleNamespace(recovering_since=recovering_since),
        rebalance=SimpleNamespace(assigned=assigned),
        assignor=SimpleNamespace(url="http://w1", owners={0: "http://w1", 1: "http://w1"}),
        metrics=Metrics(max_account_series=10),
    )


def test_probe_reads_the_engine():
    engine = fake_engine(heartbeat=100.0, assigned=frozenset({0, 1}), states={0})
    assert health.probe(engine, 102.0) == (
        Liveness("live", 2.0, BOUNDS.stall_after_seconds),
        Readiness("restoring", [0, 1], [0], [1]),
    )
    engine.recovery.recovering_since = 101.0
    assert health.probe(engine, 102.0) == (
        Liveness("recovering", 2.0, BOUNDS.stall_after_seconds, 1.0),
        Readiness("recovering", [0, 1], [], [0, 1]),
    )
    assert health.probe(None) == (Liveness("starting", None, None), Readiness("starting", None, [], []))


def test_a_rebalance_marks_its_assignment_and_clears_it_on_revocation(monkeypatch):
    owned = OwnedPartitions()
    owned.states[0] = None
    rebalance = Rebalance(
        Settings.from_env({}),
        Metrics(max_account_series=10),
        SimpleNamespace(consumer=SimpleNamespace(pause=lambda *tps: None)),
        owned,
        SimpleNamespace(commit=AsyncMock(), forget=lambda tp: None, next_offsets={}),
        recovery=None,
        kept=SimpleNamespace(park=AsyncMock(), clear=lambda: None),
        on_fatal=None,
    )
    monkeypatch.setattr(rebalance, "_restore_then_resume", AsyncMock())  # partition 3 is new: a restore

    async def rebalanced() -> list:
        marks = [rebalance.assigned]
        await rebalance.on_partitions_assigned({TopicPartition("in", 0), TopicPartition("in", 3)})
        marks.append(rebalance.assigned)
        await rebalance.on_partitions_revoked(set())
        return marks + [rebalance.assigned]

    assert asyncio.run(rebalanced()) == [None, frozenset({0, 3}), None]


def test_a_recovery_marks_itself_while_it_runs(monkeypatch):
    recovery = Recovery(Settings.from_env({}), None, {}, None, None, OwnedPartitions(), None, None)
    seen, failing = [], []

    async def recover() -> None:
        seen.append(recovery.recovering_since)
        if failing:
            raise OSError("cluster unreachable")

    monkeypatch.setattr(recovery, "_recover", recover)
    started = time.monotonic()
    asyncio.run(recovery.recover_with_retries())
    assert started <= seen[0] <= time.monotonic() and recovery.recovering_since is None
    failing.append(True)
    with pytest.raises(OSError):  # past its deadline at once: the loop dies, the worker exits
        asyncio.run(recovery.recover_with_retries(give_up_after_s=0))
    assert len(seen) == 2 and recovery.recovering_since is None


def _gauges(metrics: Metrics) -> dict[str, float]:
    samples = (line.rpartition(" ") for line in metrics.exposition().decode().splitlines())
    return {
        name: float(value)
        for name, _, value in samples
        if name in ("engagement_loop_heartbeat_age_seconds", "engagement_worker_ready")
    }


def test_the_gauges_are_computed_at_each_scrape():
    engine = fake_engine(heartbeat=None, assigned=None, states=())
    health.export(engine)
    before = _gauges(engine.metrics)
    assert math.isnan(before["engagement_loop_heartbeat_age_seconds"]) and before["engagement_worker_ready"] == 0
    engine.heartbeat = time.monotonic() - 12.0
    engine.rebalance.assigned, engine.states = frozenset({0}), {0: None}
    after = _gauges(engine.metrics)
    assert after["engagement_loop_heartbeat_age_seconds"] == pytest.approx(12.0, abs=0.5)
    assert after["engagement_worker_ready"] == 1


def _answer(view_class, engine, monkeypatch) -> tuple[int, dict]:
    monkeypatch.setattr(views.EngineView, "engine_of", staticmethod(lambda: engine))
    app = faust.App("health-views", broker="kafka://127.0.0.1:1")
    response = asyncio.run(view_class(app, app.web).get(None))
    return response.status, json.loads(response.body)


def test_a_stuck_loop_answers_503_on_live_and_health_while_the_web_server_still_answers(monkeypatch):
    engine = fake_engine(heartbeat=time.monotonic() - 45.0, assigned=frozenset({0, 1}), states={0, 1})
    status, body = _answer(views.Live, engine, monkeypatch)
    assert status == 503 and body["status"] == "stuck" and body["heartbeat_age_seconds"] == pytest.approx(45, abs=1)
    assert _answer(views.Ready, engine, monkeypatch) == (
        200,
        {"status": "ready", "assigned": [0, 1], "restored": [0, 1], "restoring": []},
    )
    status, body = _answer(views.Health, engine, monkeypatch)
    assert (status, body["status"], body["partitions"], body["ready"]["status"]) == (503, "stuck", [0, 1], "ready")


def test_health_is_ok_only_when_live_and_ready(monkeypatch):
    engine = fake_engine(heartbeat=time.monotonic(), assigned=frozenset({0, 1}), states={0})
    status, body = _answer(views.Health, engine, monkeypatch)
    assert (status, body["status"], body["partitions"], body["owners"]) == (
        503,
        "restoring",
        [0],
        {"0": "http://w1", "1": "http://w1"},
    )
    assert _answer(views.Live, engine, monkeypatch)[0] == 200
    engine.states[1] = None
    status, body = _answer(views.Health, engine, monkeypatch)
    assert (status, body["status"], body["partitions"], body["live"]["status"]) == (200, "ok", [0, 1], "live")
    assert _answer(views.Ready, None, monkeypatch) == (
        503,
        {"status": "starting", "assigned": None, "restored": [], "restoring": []},
    )
    assert _answer(views.Live, None, monkeypatch)[0] == 200


def test_top_reads_the_health_of_a_worker_that_is_not_ready():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, body = (
                (200, b"engagement_worker_ready 0.0\n")
                if self.path == "/metrics"
                else (503, json.dumps({"status": "restoring", "partitions": [3]}).encode())
            )
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        reading = read_worker(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert (reading.error, reading.health) == (None, {"status": "restoring", "partitions": [3]})
