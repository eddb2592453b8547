"""The bytes a worker writes to the snapshot topic, per snapshot interval: a reader in a thread of its
own that tails the topic (every partition, from its end when started) and adds up each record's key
and value by the interval of its broker timestamp, and by the kind of record its key names
(streams.state.snapshot: "S/p" the open post windows' parts, "d" sealed dedup buckets, ...); and
what the same records would have taken with the parts' JSON uncompressed (``plain``)."""

from __future__ import annotations

import asyncio
import threading

from aiokafka import TopicPartition

from ...kafka.clients import reader
from ...settings import Settings
from ...state.compression import decompressed


class SnapshotMeter:
    def __init__(self, settings: Settings, kafka_config: dict, interval_s: float):
        self.settings, self.kafka_config, self.interval_ms = settings, kafka_config, int(interval_s * 1000)
        self.bytes_by_interval: dict[int, int] = {}  # interval start (epoch ms) -> bytes written in it
        self.kinds_by_interval: dict[int, dict[str, int]] = {}  # interval start -> record kind -> bytes
        self.plain_by_interval: dict[int, int] = {}  # interval start -> bytes with the parts uncompressed
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._tail()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    def per_interval(self) -> list[dict]:
        """[{start_ms, bytes, plain, kinds}] in time order; the last interval (still filling) left out."""
        starts = sorted(self.bytes_by_interval)[:-1]
        return [
            {
                "start_ms": s,
                "bytes": self.bytes_by_interval[s],
                "plain": self.plain_by_interval[s],
                "kinds": self.kinds_by_interval[s],
            }
            for s in starts
        ]

    async def _tail(self) -> None:
        # read_uncommitted: what the worker writes, aborted transactions included (they were written too)
        consumer = reader(self.settings, self.kafka_config, isolation_level="read_uncommitted")
        await consumer.start()
        try:
            topic = self.settings.topic_snapshots
            tps = [TopicPartition(topic, p) for p in range(self.settings.topic_partitions)]
            consumer.assign(tps)
            await consumer.seek_to_end(*tps)
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    for m in messages:
                        start = m.timestamp - m.timestamp % self.interval_ms
                        size = len(m.key or b"") + len(m.value or b"")
                        self.bytes_by_interval[start] = self.bytes_by_interval.get(start, 0) + size
                        kinds = self.kinds_by_interval.setdefault(start, {})
                        kind = record_kind(m.key or b"")
                        kinds[kind] = kinds.get(kind, 0) + size
                        plain = len(m.key or b"") + len(decompressed(m.value) if m.value else b"")
                        self.plain_by_interval[start] = self.plain_by_interval.get(start, 0) + plain
        finally:
            await consumer.stop()


def record_kind(key: bytes) -> str:
    """ "S/<name>" for a part of the open state, else the key's first segment ("d", "P", "a", "w")."""
    segments = key.decode(errors="replace").split("/")
    return "/".join(segments[:2]) if segments[0] == "S" else segments[0]
