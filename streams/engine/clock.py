"""Time, for the engine: wall-clock milliseconds, and the per-partition clocks that close windows."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def close_clocks(
    consumer: AIOKafkaConsumer, owned: set[int], arrival_ms: dict[int, int], now: int, lag_gauge
) -> dict[int, int]:
    """Per owned partition, the time up to which every input message that arrived has been read:
    windows close by it. Caught up, that is when the last fetch response was received (its high
    watermark covered everything that had arrived); catching up (after a restart, a rebalance, an
    outage), the broker's arrival stamp of the last message read. So a backlog of on-time events is
    counted however late it is read, and windows still close when traffic stops. Also sets the
    consumer lag gauge."""
    clocks = {}
    for tp in consumer.assignment():
        if tp.partition not in owned:
            continue
        highwater = consumer.highwater(tp)
        position = await consumer.position(tp)
        if highwater is None or position < highwater:
            clocks[tp.partition] = arrival_ms.get(tp.partition, 0)
        else:
            clocks[tp.partition] = min(now, consumer.last_poll_timestamp(tp) or 0)
        if highwater is not None:
            lag_gauge.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))
    return clocks
