"""What the next transaction commits, and how its records are sent (in record batches per partition):
the records the fold made (DLQ records, forwarded events) and the tallies of the input it folded, which
reach the counters only once the transaction that commits that input has committed: a batch redone
after a failed transaction must not count twice."""

from __future__ import annotations

import asyncio
import random

from aiokafka import AIOKafkaProducer

from ..kafka.partitioner import partition_for_bytes
from ..metrics import BatchTally

Record = tuple[str, "bytes | None", "bytes | None", "int | None"]  # topic, key, value, partition


class Outbox:
    def __init__(self):
        self.records: list[Record] = []
        self.tallies: list[BatchTally] = []
        self._partition_counts: dict[str, int] = {}  # topic -> partitions

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        self.records.append((topic, key, value, partition))

    def take(self) -> list[Record]:
        records, self.records = self.records, []
        return records

    def add_tally(self, tally: BatchTally) -> None:
        self.tallies.append(tally)

    def take_tallies(self) -> list[BatchTally]:
        tallies, self.tallies = self.tallies, []
        return tallies

    async def send_all(self, producer: AIOKafkaProducer, records: list[Record]) -> None:
        """Send in record batches per partition: a window close publishes tens of thousands of
        records, and one send() call each would stall the loop for seconds. Returns once every batch
        is acknowledged, and raises if any was refused (a record too large, a broker gone): the
        transaction then aborts, and nothing of it counts as written."""
        by_partition: dict[tuple[str, int], list] = {}
        for topic, key, value, partition in records:
            if partition is None:
                count = self._partition_counts.get(topic)
                if count is None:
                    count = self._partition_counts[topic] = len(await producer.partitions_for(topic))
                partition = partition_for_bytes(key, count) if key is not None else random.randrange(count)
            by_partition.setdefault((topic, partition), []).append((key, value))
        delivered = []
        for (topic, partition), batch_records in by_partition.items():
            batch = producer.create_batch()
            for key, value in batch_records:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full: send, start anew
                    delivered.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            delivered.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*delivered)
