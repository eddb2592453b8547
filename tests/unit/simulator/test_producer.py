"""The simulator's producer (streams/simulator/producer.py), with Kafka faked: what it sends, in which
order and with which keys, and that it stops when asked."""

from __future__ import annotations

import asyncio
import time

import orjson

from streams.settings import Settings
from streams.simulator import producer as simulate
from tests.fixtures.groundtruth import schema


def test_run_simulator_sends_posts_before_their_events_and_keys_every_message_by_its_account(fake_kafka):
    settings = Settings(kafka_bootstrap_servers="fake:9092")
    stats = asyncio.run(simulate.run_simulator(settings, rate=20_000, max_events=3_000, batch_share=0.2))
    wall_ms = time.time_ns() // 1_000_000
    [producer] = fake_kafka
    assert producer.stopped
    assert producer.config["acks"] == "all" and producer.config["enable_idempotence"] is True
    accounts = [(key, orjson.loads(value)) for topic, key, value in producer.sent if topic == settings.topic_accounts]
    assert [key for key, _ in accounts] == [record["account_id"].encode() for _, record in accounts]
    assert len(accounts) == stats["accounts"] == 25 == stats["account_records_produced"]
    assert producer.sent[0][0] == settings.topic_accounts
    check = schema("post.schema.json")
    posts_sent_by: dict[str, int] = {}  # post_id -> position in the sends
    for position, (topic, key, value) in enumerate(producer.sent):
        if topic == settings.topic_posts:
            record = orjson.loads(value)
            check.validate(record)
            assert key == record["post_id"].encode() and record["published_at"] <= wall_ms
            posts_sent_by[record["post_id"]] = position
    assert len(posts_sent_by) == stats["post_records_produced"] > 25 * 7  # the last 7 days' at least
    events = 0
    messages = []
    for position, (topic, key, value) in enumerate(producer.sent):
        if topic != settings.topic_interactions:
            continue
        messages.append(value)
        batch = orjson.loads(value)
        batch = batch if isinstance(batch, list) else [batch]
        assert isinstance(orjson.loads(value), dict) or 2 <= len(batch) <= 20
        assert {e["account_id"].encode() for e in batch} == {key}
        assert all(e["ts"] <= wall_ms for e in batch)
        assert all(posts_sent_by[e["post_id"]] < position for e in batch if "post_id" in e)
        events += len(batch)
    assert stats["events_produced"] == events == 3_000
    assert stats["messages_produced"] == len(messages)
    assert 0.1 < sum(value.startswith(b"[") for value in messages) / len(messages) < 0.3


def test_run_simulator_stops_when_asked(fake_kafka):
    async def run():
        stop = asyncio.Event()
        task = asyncio.create_task(
            simulate.run_simulator(Settings(kafka_bootstrap_servers="fake:9092"), rate=1_000, stop_event=stop)
        )
        await asyncio.sleep(0.3)
        stop.set()
        return await asyncio.wait_for(task, 2)

    stats = asyncio.run(run())
    assert 100 <= stats["events_produced"] <= 600
    assert fake_kafka[0].stopped
