"""streams.engine.clock.close_clock: the time up to which every assigned partition's input has been
read (per partition, the fetch clock when caught up, capped by now; the arrival stamp of the last
message read when catching up; 0 while restoring), the earliest of them; and the consumer lag gauge."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from streams.engine.clock import close_clock
from streams.metrics import Metrics
from tests.fixtures.kafka_fakes import FakeConsumer

TOPIC = "interactions"
NOW = 1_700_000_000_000


def tp(p: int) -> TopicPartition:
    return TopicPartition(TOPIC, p)


def clock(consumer: FakeConsumer, owned: set[int], arrival_ms: dict[int, int]) -> tuple[int, Metrics]:
    metrics = Metrics()
    return asyncio.run(close_clock(consumer, owned, arrival_ms, NOW, metrics.consumer_lag)), metrics


def lag(metrics: Metrics, p: int) -> float | None:
    return metrics.registry.get_sample_value("engagement_consumer_lag_messages", {"topic": TOPIC, "partition": str(p)})


def test_a_caught_up_partition_closes_by_its_last_fetch_capped_by_now():
    consumer = FakeConsumer(
        assignment=[tp(0), tp(1), tp(2)],
        highwater={tp(0): 10, tp(1): 20, tp(2): 30},
        positions={tp(0): 10, tp(1): 20, tp(2): 30},
        last_poll={tp(0): NOW - 80, tp(1): NOW + 5_000},  # 2: no fetch response yet
    )
    result, metrics = clock(consumer, {0, 1, 2}, {0: NOW - 9_000, 1: NOW - 9_000, 2: NOW - 9_000})
    assert result == 0  # 2 has no fetch response yet: nothing is known read
    assert [lag(metrics, p) for p in (0, 1, 2)] == [0.0, 0.0, 0.0]
    consumer._assignment = {tp(0), tp(1)}
    assert clock(consumer, {0, 1}, {0: NOW - 9_000, 1: NOW - 9_000})[0] == NOW - 80  # 1 capped by now


def test_a_catching_up_partition_closes_by_the_arrival_of_its_last_message_read():
    consumer = FakeConsumer(
        assignment=[tp(0), tp(1), tp(2)],
        highwater={tp(0): 500, tp(1): 40},  # 2: no high watermark known yet
        positions={tp(0): 120, tp(1): 10, tp(2): 0},
        last_poll={tp(0): NOW - 50, tp(1): NOW - 50, tp(2): NOW - 50},
    )
    result, metrics = clock(consumer, {0, 1, 2}, {0: NOW - 3_600_000, 1: NOW - 60_000, 2: NOW - 60_000})
    assert result == NOW - 3_600_000
    assert lag(metrics, 0) == 380.0
    assert lag(metrics, 1) == 30.0
    assert lag(metrics, 2) is None  # no high watermark: no lag to show


def test_every_partition_waits_for_the_one_furthest_behind():
    """A caught-up partition does not close by its own fetch clock while another is still reading a
    backlog: that backlog may hold events of the caught-up partition's accounts (misrouted by the
    producer's partitioner), folded into it only when read."""
    consumer = FakeConsumer(
        assignment=[tp(0), tp(1)],
        highwater={tp(0): 10, tp(1): 5_000},
        positions={tp(0): 10, tp(1): 1_000},
        last_poll={tp(0): NOW - 20, tp(1): NOW - 20},
    )
    assert clock(consumer, {0, 1}, {0: NOW - 30, 1: NOW - 600_000})[0] == NOW - 600_000


def test_a_partition_still_restoring_holds_every_close():
    consumer = FakeConsumer(
        assignment=[tp(0), tp(1)],
        highwater={tp(0): 7, tp(1): 9},
        positions={tp(0): 7, tp(1): 2},
        last_poll={tp(0): NOW - 10, tp(1): NOW - 10},
    )
    result, metrics = clock(consumer, {0, 5}, {1: NOW - 1})  # 1 restoring; 5 owned but no longer assigned
    assert result == 0
    assert clock(consumer, {0, 1, 5}, {1: NOW - 1})[0] == NOW - 10
    assert lag(metrics, 1) is None
    assert lag(metrics, 5) is None
