"""A worker whose broker is not there: started 20 s before it (a fleet starting together, a cluster
restarting), it waits, live and not ready, then counts exactly; stopped after its broker has gone, it
exits within its shutdown timeout (the next owner redoes what it had not committed)."""

from __future__ import annotations

import json
import time

from streams.devtools.broker import EmbeddedKafka, free_port
from streams.devtools.processes import http_get
from tests.fixtures.kafka import isolated_settings, keyed_events, produce, run, wait_for

EVENTS = 2_000


def test_a_worker_started_before_its_broker_waits_for_it_then_counts_exactly(workers, tmp_path):
    port = free_port()
    settings = isolated_settings(f"127.0.0.1:{port}", shutdown_timeout_seconds=15)
    worker = workers(settings).launch()
    wait_for(lambda: _status(worker, "/live")[0] == 200, 30, "the worker to answer /live while it waits")
    time.sleep(20)
    assert worker.proc.poll() is None, "the worker gave up on its broker: " + worker.log.read_text()[-2000:]
    assert _status(worker, "/live") == (200, "starting")
    assert _status(worker, "/ready") == (503, "waiting_for_kafka")
    assert "unreachable" in worker.log.read_text()

    broker = EmbeddedKafka(port=port, data_dir=tmp_path / "kafka").start()
    try:
        wait_for(lambda: _status(worker, "/ready")[0] == 200, 90, "the worker to be ready once its broker is up")
        run(
            produce(
                settings,
                settings.topic_interactions,
                keyed_events(EVENTS, type_="like", platform="x", accounts=20, posts=3, prefix="late-broker"),
            )
        )
        wait_for(lambda: worker.metrics().get("engagement_events_counted_total") == EVENTS, 60, f"{EVENTS} counted")
        metrics = worker.metrics()
        assert metrics["engagement_events_consumed_total"] == EVENTS

        broker.stop()
        started = time.monotonic()
        worker.stop()
        took = time.monotonic() - started
        print(f"\nstopped {took:.1f} s after SIGTERM, its broker gone (shutdown timeout 15 s)")
        assert took < 15 + 3, f"the worker took {took:.1f} s to stop: " + worker.log.read_text()[-2000:]
    finally:
        broker.stop()


def _status(worker, path: str) -> tuple[int, str | None]:
    try:
        status, body = http_get(f"{worker.url}{path}", timeout=2)
    except OSError:
        return 0, None
    return status, json.loads(body).get("status")
