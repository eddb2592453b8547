"""Time, for the engine: wall-clock milliseconds, and the clock by which a worker's partitions close
windows."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def close_clock(
    consumer: AIOKafkaConsumer, owned: set[int], arrival_ms: dict[int, int], now: int, lag_gauge
) -> int:
    """The time up to which every input message that arrived has been read, in every assigned
    partition: the worker's partitions close windows by it. Per partition, caught up, that is when
    the last fetch response was received (its high watermark covered everything that had arrived);
    catching up (after a restart, a rebalance, an outage), the broker's arrival stamp of the last
    message read; still restoring, nothing yet (0). So a backlog of on-time events is counted however
    late it is read, and windows still close when traffic stops. The earliest of them, because a
    message read in one partition may hold an event of an account another partition keeps (a producer
    whose partitioner is not murmur2, such as librdkafka's): it is folded there when read, and a
    partition closing by its own clock alone would already have closed its window. Also sets the
    consumer lag gauge."""
    clock = None
    for tp in consumer.assignment():
        if tp.partition not in owned:
            clock = 0
            continue
        highwater = consumer.highwater(tp)
        position = await consumer.position(tp)
        if highwater is None or position < highwater:
            read_to = arrival_ms.get(tp.partition, 0)
        else:
            read_to = min(now, consumer.last_poll_timestamp(tp) or 0)
        clock = read_to if clock is None else min(clock, read_to)
        if highwater is not None:
            lag_gauge.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))
    return clock or 0
