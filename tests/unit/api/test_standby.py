"""streams.api.standby: while the worker waits for Kafka (before Faust's web server exists) it is live
("starting": restarting it would not bring the brokers) and not ready, in the documents /live and
/ready answer later."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from streams.api.standby import standby_app


async def answers() -> dict[str, tuple[int, dict]]:
    async with TestClient(TestServer(standby_app())) as client:
        out = {}
        for path in ("/live", "/ready", "/health", "/metrics", "/posts/p1/metrics"):
            response = await client.get(path)
            out[path] = (response.status, await response.json())
        return out


def test_waiting_for_kafka_is_live_and_not_ready():
    got = asyncio.run(answers())
    assert got["/live"] == (
        200,
        {"status": "starting", "heartbeat_age_seconds": None, "stall_after_seconds": None, "recovering_seconds": None},
    )
    assert got["/ready"] == (503, {"status": "waiting_for_kafka", "assigned": None, "restored": [], "restoring": []})
    assert got["/health"] == (503, {"status": "waiting_for_kafka"})
    for path in ("/metrics", "/posts/p1/metrics"):
        assert got[path] == (503, {"error": "the worker is waiting for Kafka"})
