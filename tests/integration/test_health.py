"""Health that tells the truth: /live follows the consume loop's heartbeat, /ready the restore of every
assigned partition. The rules (streams/engine/health.py) with a clock passed in, the views with a fake
engine (a stuck loop while the web server still answers), and a real worker during a restore."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaProducer

from streams.devtools.processes import http_get
from streams.kafka.security import kafka_client_config
from tests.fixtures.kafka import isolated_settings, wait_for

ALL = list(range(8))


# -- a real worker during a restore ------------------------------------------------------------------


async def _open_transaction(settings) -> AIOKafkaProducer:
    """A transaction left open on every partition of the state journal, as a worker that died in a
    commit leaves one: a restore waits until it is decided (here, until the test aborts it)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        transactional_id=f"{settings.app_id}-held",
        **kafka_client_config(settings),
    )
    await producer.start()
    await producer.begin_transaction()
    for partition in range(settings.topic_partitions):
        await producer.send_and_wait(settings.topic_state, b"never committed", partition=partition)
    return producer


async def _abort(producer: AIOKafkaProducer) -> None:
    await producer.abort_transaction()
    await producer.stop()


def _get(worker, path: str) -> tuple[int, dict] | None:
    try:
        status, body = http_get(f"{worker.url}{path}", timeout=1)
    except OSError:
        return None
    return status, json.loads(body)


@pytest.mark.integration
def test_a_restoring_worker_is_live_but_not_ready_until_restored(kafka_bootstrap, workers, topics_ready):
    settings = topics_ready(isolated_settings(kafka_bootstrap))
    loop = asyncio.new_event_loop()
    held = loop.run_until_complete(_open_transaction(settings))
    try:
        worker = workers(settings).launch()
        restoring = wait_for(
            lambda: (answer := _get(worker, "/ready")) and answer[1]["status"] == "restoring" and answer,
            60,
            "/ready to say restoring",
            interval=0.1,
        )
        live, whole, metrics = _get(worker, "/live"), _get(worker, "/health"), worker.metrics()
        assert restoring == (503, {"status": "restoring", "assigned": ALL, "restored": [], "restoring": ALL})
        assert live[0] == 200 and live[1]["status"] == "live" and live[1]["heartbeat_age_seconds"] < 2.0, live
        assert (whole[0], whole[1]["status"], whole[1]["partitions"]) == (503, "restoring", [])
        assert metrics["engagement_worker_ready"] == 0 and metrics["engagement_loop_heartbeat_age_seconds"] < 2.0
        loop.run_until_complete(_abort(held))
        held = None
        ready = wait_for(
            lambda: (answer := _get(worker, "/ready")) and answer[0] == 200 and answer,
            30,
            "/ready to say ready",
            interval=0.1,
        )
        assert ready == (200, {"status": "ready", "assigned": ALL, "restored": ALL, "restoring": []})
        assert _get(worker, "/health")[1]["status"] == "ok" and worker.metrics()["engagement_worker_ready"] == 1
    finally:
        if held is not None:
            loop.run_until_complete(_abort(held))
        loop.close()
