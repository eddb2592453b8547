"""Which partition a key lives in: the Java client's default partitioner (murmur2), so that our
producers, the engine's routing and other teams' producers agree."""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def partition_for(key: str, partitions: int) -> int:
    return partition_for_bytes(key.encode(), partitions)


def partition_for_bytes(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions
