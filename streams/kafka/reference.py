"""Reference data: every worker reads a whole compacted topic into memory, all partitions, without a
consumer group; the latest record of a key wins, a tombstone removes it. An invalid record is skipped
here (the app's agents send it to the DLQ, once), and so is one that ``validate`` says is past what
the book holds, removing the record it replaces."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import MutableMapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from ..settings import Settings
from .aiokafka_fetch import getmany_raw, guard_fetched_batches
from .aiokafka_internals import cluster_metadata
from .clients import reader

log = logging.getLogger(__name__)

FETCH_RECORDS = 10_000  # messages taken from the fetched responses at a time


class ReferenceBook:
    """The records of ``topic`` by key; ``validate(value) -> (record, rejection)``; ``key_field``
    names the record's key; ``records``: where they are kept (a dict unless a book brings its own)."""

    name = "reference"

    def __init__(
        self,
        settings: Settings,
        topic: str,
        validate,
        key_field: str,
        kafka_config: dict | None = None,
        records: MutableMapping[str, dict] | None = None,
    ):
        self.settings = settings
        self.topic = topic
        self.validate = validate
        self.key_field = key_field
        self.kafka_config = dict(kafka_config or {})
        self.records: MutableMapping[str, dict] = {} if records is None else records
        self.caught_up = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    async def start(self, catch_up_timeout: float = 30.0) -> None:
        guard_fetched_batches()  # getmany_raw: a fetch in columns, no ConsumerRecord per message
        self._consumer = reader(self.settings, self.kafka_config, isolation_level="read_uncommitted")
        await self._consumer.start()
        topic = self.topic
        partitions: set[int] = set()
        for _ in range(100):  # a topic created a moment ago takes a while to show in the metadata
            cluster = await cluster_metadata(self._consumer)
            partitions = cluster.partitions_for_topic(topic) or set()
            if partitions:
                break
            await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        # Before assign(): once partitions are assigned, an offset lookup waits for a fetch round.
        ends = await self._consumer.end_offsets(tps) if tps else {}
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._run(ends), name=f"engagement-{self.name}")
        try:
            await asyncio.wait_for(self.caught_up.wait(), catch_up_timeout)
        except TimeoutError:
            log.warning("%s topic not read to its end within %.0f s; going on", self.name, catch_up_timeout)

    async def _run(self, ends: dict) -> None:
        assert self._consumer is not None  # started by start()
        while True:
            # Checked before each fetch: at the end, a fetch would wait its whole timeout for nothing.
            if not self.caught_up.is_set() and await self._reached(ends):
                self.caught_up.set()
                log.info("%s: %d records loaded", self.name, len(self.records))
            batch = await getmany_raw(self._consumer, 1000, FETCH_RECORDS)
            for fetched in batch.values():
                self.apply(fetched.keys, fetched.values)
            self.after_batch()

    def after_batch(self) -> None:
        """A hook for books that bound what they keep."""

    async def _reached(self, ends: dict) -> bool:
        assert self._consumer is not None  # started by start()
        for tp, end in ends.items():
            if await self._consumer.position(tp) < end:
                return False
        return True

    def apply(self, keys: list[bytes | None], values: list[bytes | None]) -> None:
        """The messages of one partition, in offset order (a book may take them in bulk)."""
        for key, value in zip(keys, values):
            self._apply(key, value)

    def _apply(self, key_bytes: bytes | None, value: bytes | None) -> None:
        key = key_bytes.decode("utf-8", "replace") if key_bytes else None
        if value is None:  # tombstone: the record was removed
            self.records.pop(key, None)  # type: ignore[arg-type]  # a keyless tombstone pops nothing
            return
        record, rejection = self.validate(value)
        if record is not None:
            self.records[record[self.key_field]] = record
        elif rejection is None:  # past what the book holds (``validate`` says): as if deleted
            self.records.pop(key, None)  # type: ignore[arg-type]

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self._consumer:
            await self._consumer.stop()
