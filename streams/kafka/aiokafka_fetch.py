"""aiokafka's private internals on the fetch path: the fetcher's records, and a getmany in columns.

A sibling of ``streams.kafka.aiokafka_internals`` (which lists these too): the columnar getmany mirrors
three of aiokafka's methods, too long to share a module with the others under 300 lines. On an
aiokafka upgrade, ``tests/unit/kafka/test_aiokafka_internals.py`` names the one that moved.

- the fetcher's module global ``PartitionRecords`` (``guard_fetched_batches``): the batches of a fetch
  decoded ahead (``streams.kafka.undecodable``), and taken as columns (``GuardedPartitionRecords.take``,
  mirroring ``PartitionRecords._unpack_records``, its aborted-transaction and control-batch logic reused);
- the consumer's fetcher and subscription, the fetcher's results and waiter (``getmany_raw``, mirroring
  ``AIOKafkaConsumer.getmany``, ``Fetcher.fetched_records`` and ``FetchResult.getall``): no public call
  returns a fetch without building a ConsumerRecord per message (~15 % of the worker's CPU).
"""

from __future__ import annotations

import asyncio
import time
from itertools import chain
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.consumer import fetcher
from aiokafka.errors import ConsumerStoppedError, CorruptRecordException

from .fetched import Fetched
from .undecodable import GuardedRecords

UNGUARDED_PARTITION_RECORDS: Any = fetcher.PartitionRecords


class GuardedPartitionRecords(UNGUARDED_PARTITION_RECORDS):
    """aiokafka's records of one fetched partition, over the fetch's batches each decoded ahead: the
    fetcher builds one per fetched partition from its module global, and iterates
    ``records.next_batch()``; nothing public sees a batch before the fetcher iterates it. Read either
    as aiokafka does (ConsumerRecords) or by ``take`` (columns), not both."""

    next_fetch_offset: int  # aiokafka's: where the consumer's position goes once these are read

    def __init__(self, tp, records, *args, **kwargs):
        super().__init__(tp, GuardedRecords(records), *args, **kwargs)
        self._batch = None  # the records left of a batch that a take stopped in (max_records)
        self._batch_end = 0  # its next offset, the position once it is done (compaction leaves gaps)

    def take(self, max_records: int) -> tuple[Fetched, bool]:
        """Up to max_records messages, and whether the fetch is done: as ``_unpack_records`` yields
        them, and moving ``next_fetch_offset`` the same (aborted transactions and control batches skipped)."""
        keys: list = []
        values: list = []
        offsets: list[int] = []
        timestamps: list[int] = []
        fetched = Fetched(keys, values, offsets, timestamps)
        while True:
            if self._batch is None and not self._next_batch():
                return fetched, True
            start = self.next_fetch_offset
            for record in self._batch:
                offset = record.offset
                if offset < start:  # before the fetch offset in a compressed batch
                    continue
                keys.append(record.key)
                values.append(record.value)
                offsets.append(offset)
                timestamps.append(record.timestamp)
                if len(offsets) >= max_records:
                    self.next_fetch_offset = offset + 1
                    return fetched, False
            self.next_fetch_offset = self._batch_end
            self._batch = None

    def _next_batch(self) -> bool:
        """The next batch of records to take (False: none left), skipping as ``_unpack_records`` does."""
        records = self._records
        while records.has_next():
            batch = records.next_batch()
            if self._check_crcs and not batch.validate_crc():
                raise CorruptRecordException(f"Invalid CRC - {self._tp}")
            if self._isolation_level == fetcher.READ_COMMITTED and batch.producer_id is not None:
                self._consume_aborted_up_to(batch.base_offset)
                if batch.is_control_batch and self._contains_abort_marker(batch):
                    self._aborted_producers.discard(batch.producer_id)
                if batch.is_transactional and batch.producer_id in self._aborted_producers:
                    self.next_fetch_offset = batch.next_offset
                    continue
            if batch.is_control_batch:
                self.next_fetch_offset = batch.next_offset
                continue
            # chain: an iterator to resume in the next take (a batch's own __iter__ runs only once)
            self._batch, self._batch_end = chain(batch), batch.next_offset
            return True
        return False


def guard_fetched_batches() -> None:
    """Every consumer of this process from now on (idempotent)."""
    fetcher.PartitionRecords = GuardedPartitionRecords


async def getmany_raw(consumer: AIOKafkaConsumer, timeout_ms: int, max_records: int) -> dict[TopicPartition, Fetched]:
    """``consumer.getmany(timeout_ms=..., max_records=...)`` of all its partitions, each partition's
    messages as columns. The consumer's fetches must be guarded (``guard_fetched_batches``)."""
    if consumer._closed:
        raise ConsumerStoppedError()
    consumer._coordinator.check_errors()
    with consumer._subscription.fetch_context():
        return await _fetched_records(consumer._fetcher, timeout_ms / 1000, max_records)


async def _fetched_records(fetch, timeout: float, max_records: int) -> dict[TopicPartition, Fetched]:
    """``Fetcher.fetched_records`` of all partitions, each drained by ``_getall``."""
    while True:
        if fetch._subscriptions.reassignment_in_progress:  # records of a partition maybe no longer ours
            await fetch._subscriptions.wait_for_assignment()
        start_time = time.monotonic()
        drained: dict[TopicPartition, Fetched] = {}
        for tp in list(fetch._records):
            result = fetch._records[tp]
            if type(result) is fetcher.FetchResult:
                records = _getall(result, max_records)
                if not result.has_more():  # all taken: fetch more
                    del fetch._records[tp]
                    fetch._notify(fetch._wait_consume_future)
                if not records:
                    continue
                drained[tp] = records
                max_records -= len(records)
                if max_records == 0:
                    break
            elif drained:  # an error: raised on the next call, after these records
                return drained
            else:
                del fetch._records[tp]
                fetch._notify(fetch._wait_consume_future)
                result.check_raise()
        if drained or not timeout:
            return drained
        waiter = fetch._create_fetch_waiter()
        done, pending = await asyncio.wait([waiter], timeout=timeout)
        if not done or fetch._closed:
            for future in pending:
                future.cancel()
            return {}
        waiter.result()  # authorization errors
        timeout = max(0, timeout - (time.monotonic() - start_time))


def _getall(result, max_records: int) -> Fetched | None:
    """``FetchResult.getall``: None when the partition is no longer fetchable (revoked, paused, sought)."""
    if not result.check_assignment(result._topic_partition) or not result.has_more():
        return None
    records, done = result._partition_records.take(max_records)
    result._update_position()
    if done:
        result._partition_records = None
    return records
