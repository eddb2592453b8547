"""Account reference data: every worker reads the whole compacted accounts topic into memory.

It is small (one record per account) and every worker needs any account's follower count when a
window closes, so each worker reads all partitions without a consumer group; the latest record wins.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from ..settings import Settings
from ..validation import validate_account
from .clients import reader

log = logging.getLogger(__name__)


class AccountBook:
    def __init__(self, settings: Settings, kafka_config: dict | None = None):
        self.settings = settings
        self.kafka_config = dict(kafka_config or {})
        self.records: dict[str, dict] = {}
        self.caught_up = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task | None = None

    def followers_of(self, account_id: str) -> int | None:
        record = self.records.get(account_id)
        return None if record is None else record["followers"]

    def industry_of(self, account_id: str) -> str:
        record = self.records.get(account_id)
        return (record or {}).get("industry", "")

    async def start(self, catch_up_timeout: float = 30.0) -> None:
        self._consumer = reader(self.settings, self.kafka_config, isolation_level="read_uncommitted")
        await self._consumer.start()
        topic = self.settings.topic_accounts
        partitions = set()
        for _ in range(100):  # a topic created a moment ago takes a while to show in the metadata
            # The public topics() discards the partition metadata it fetched; this keeps it.
            cluster = await self._consumer._client.fetch_all_metadata()
            partitions = cluster.partitions_for_topic(topic) or set()
            if partitions:
                break
            await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        # Before assign(): once partitions are assigned, an offset lookup waits for a fetch round.
        ends = await self._consumer.end_offsets(tps) if tps else {}
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._run(ends), name="engagement-accounts")
        try:
            await asyncio.wait_for(self.caught_up.wait(), catch_up_timeout)
        except asyncio.TimeoutError:
            log.warning("accounts topic not read to its end within %.0f s; going on", catch_up_timeout)

    async def _run(self, ends: dict) -> None:
        while True:
            # Checked before each fetch: at the end, a fetch would wait its whole timeout for nothing.
            if not self.caught_up.is_set() and await self._reached(ends):
                self.caught_up.set()
                log.info("accounts: %d records loaded", len(self.records))
            batch = await self._consumer.getmany(timeout_ms=1000)
            for messages in batch.values():
                for message in messages:
                    self._apply(message)

    async def _reached(self, ends: dict) -> bool:
        for tp, end in ends.items():
            if await self._consumer.position(tp) < end:
                return False
        return True

    def _apply(self, message) -> None:
        account_id = message.key.decode("utf-8", "replace") if message.key else None
        if message.value is None:  # tombstone: the account was removed
            self.records.pop(account_id, None)
            return
        record, rejection = validate_account(message.value)
        if rejection is None:  # an invalid record is ignored here, and sent to the DLQ by the app's agent
            self.records[record["account_id"]] = record

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self._consumer:
            await self._consumer.stop()
