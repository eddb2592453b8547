"""What a restore reads: the state topics' committed records, a partition at a time, once the
transactions written to them are decided (``wait_for_decided``)."""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition

from ..kafka.aiokafka_fetch import getmany_raw
from ..kafka.aiokafka_internals import know_topics
from ..kafka.clients import FETCH_MAX_WAIT_MS, TRANSACTION_ABORT_CHECK_MS, TRANSACTION_TIMEOUT_MS, end_readers, reader
from ..settings import Settings

log = logging.getLogger(__name__)

RESTORE_FETCH_BYTES = 8 * 1024 * 1024  # per fetch response of a restore's reader
RESTORE_FETCH_PARTITION_BYTES = 2 * 1024 * 1024
RESTORE_FETCH_RECORDS = 10_000  # messages taken from the fetched responses at a time
# For transactions still open when a restore starts (see wait_for_decided): the broker has decided a
# dead or paused worker's by then (its timeout, then the broker's next check for timed-out ones).
DECIDED_WAIT_SECONDS = (TRANSACTION_TIMEOUT_MS + TRANSACTION_ABORT_CHECK_MS) / 1000 + 5.0


class CommittedReads:
    """One read_committed reader per topic for a whole restore (an async context manager), which
    reads a partition's records up to the end the partition had when the restore began."""

    def __init__(self, settings: Settings, kafka_config: dict, topics: tuple[str, ...], partitions: list[int]):
        self.settings, self.kafka_config = settings, kafka_config
        self.topics, self.partitions = topics, partitions
        self._readers: dict[str, AIOKafkaConsumer] = {}
        self._starts: dict[TopicPartition, int] = {}
        self._ends: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> CommittedReads:
        try:
            for topic in self.topics:
                # Small fetches: a restore reads tens of MB of snapshots, and each response is held
                # (and copied into records) until read. A record larger than a fetch still comes
                # whole (KIP-74).
                self._readers[topic] = reader(
                    self.settings,
                    self.kafka_config,
                    fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
                    max_partition_fetch_bytes=RESTORE_FETCH_PARTITION_BYTES,
                    fetch_max_bytes=RESTORE_FETCH_BYTES,
                )
            await asyncio.gather(*(self._start(topic) for topic in self.topics))
        except BaseException:
            await self._stop()
            raise
        return self

    async def _start(self, topic: str) -> None:
        """Start the topic's reader and take its partitions' first and end offsets."""
        consumer = self._readers[topic]
        await consumer.start()
        await know_topics(consumer, (topic,))
        # Every offset first, nothing assigned yet: with partitions assigned, each offset lookup waits
        # for the fetcher's round trip (fetch_max_wait), which made an empty restore take seconds.
        tps = [TopicPartition(topic, p) for p in self.partitions]
        self._starts.update(await consumer.beginning_offsets(tps))
        self._ends.update(await consumer.end_offsets(tps))

    async def __aexit__(self, *exc) -> None:
        await self._stop()

    async def _stop(self) -> None:
        readers, self._readers = list(self._readers.values()), {}
        for consumer in readers:
            await consumer.stop()

    async def read(self, topic: str, partition: int) -> AsyncIterator[tuple[list, list]]:
        """(keys, values) of the partition's committed messages, in offset order, up to the end it
        had when the restore began: nothing is written to a partition before it is restored."""
        tp = TopicPartition(topic, partition)
        start, end = self._starts[tp], self._ends[tp]
        if start >= end:
            return
        consumer = self._readers[topic]
        consumer.assign([tp])  # the partition read before, if any, is no longer fetched
        consumer.seek(tp, start)
        while True:
            # Columns, not a ConsumerRecord per message: a week's restore reads over 400,000 mentions.
            fetched = (await getmany_raw(consumer, 1000, RESTORE_FETCH_RECORDS)).get(tp)
            if fetched is not None:
                read = bisect_left(fetched.offsets, end)
                if read:
                    yield fetched.keys[:read], fetched.values[:read]
            if await consumer.position(tp) >= end:
                consumer.pause(tp)
                return


async def wait_for_decided(
    settings: Settings, kafka_config: dict, tps: list[TopicPartition], timeout_s: float = DECIDED_WAIT_SECONDS
) -> None:
    """Wait until the transactions that wrote to these partitions before now are decided: a commit's
    markers reach the partitions after the commit returns, and until then a read_committed reader
    ends before that transaction, so a restore right after a rebalance's commit would miss it. The
    previous owner's transaction may still be open: a worker paused (a GC pause, a frozen VM) after
    its offsets were accepted and before its end of transaction can still commit it when it resumes,
    so a restore that read past it would count its input twice. So the restore waits until the broker
    has decided it: committed, or aborted once past its timeout (a dead worker's), which takes up to
    DECIDED_WAIT_SECONDS. Past that (a broker checking less often than the default), it reads what is
    committed, with an error logged."""
    async with end_readers(settings, kafka_config, tuple(dict.fromkeys(tp.topic for tp in tps))) as (
        written_reader,
        committed_reader,
    ):
        written = await written_reader.end_offsets(tps)
        started = time.monotonic()
        said = 0.0
        while True:
            stable = await committed_reader.end_offsets(tps)
            open_on = sorted(f"{tp.topic}/{tp.partition}" for tp in tps if stable[tp] < written[tp])
            if not open_on:
                return
            waited = time.monotonic() - started
            if waited > timeout_s:
                log.error(
                    "restore: transactions on %s still open after %.0f s; reading what is committed",
                    open_on,
                    timeout_s,
                )
                return
            if waited - said >= 5.0:
                said = waited
                log.warning(
                    "restore: waiting %.0f s so far for the previous owner's transaction on %s to be decided",
                    waited,
                    open_on,
                )
            await asyncio.sleep(0.05)
