"""The checkpoint: every commit interval (and at each window close) ONE Kafka transaction holds

1. the state journal entry of each owned partition (the changes since the last commit), and its
   snapshot records: the whole state every snapshot interval, a dedup bucket once it is sealed,
2. the final records of the windows that closed, and the open-mention changes,
3. the DLQ records and the events forwarded to their own partition (the outbox),
4. the consumer offsets of the input read so far.

Either all of it is visible (read_committed) or none is: a crash redoes exactly the uncommitted work.
The records are collected under the state lock (steps 1-2 read the state), and the transaction runs
without it, so input keeps being folded in (into the next commit) while a close's records are sent.
After a transaction with snapshots, the journal of those partitions is deleted up to its end: a
restore needs only what comes after the latest snapshot, so nothing a restore needs is ever deleted
and the journal never holds more than a snapshot interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial

from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete

from .. import json_bytes
from ..kafka.accounts import AccountBook
from ..kafka.clients import FETCH_MAX_WAIT_MS
from ..metrics import Metrics
from ..process_tuning import return_free_memory
from ..settings import Settings
from ..state import journal
from ..state.window import WindowConfig
from .clock import close_clock, now_ms
from .counts import CommitCounts
from .gauges import StateGauges, early_warning_gauges
from .outbox import Outbox
from .parts import KafkaClients, OwnedPartitions
from .pause_hook import maybe_pause_before_end_txn

log = logging.getLogger(__name__)

MENTIONS_SCAN_EVERY_MS = 5000  # the SLA gauges and the retention scan every open mention: not each commit
SLOW_COMMIT_SECONDS = 1.0  # a commit slower than this is logged as a warning
CLOSE_SLACK_MS = 150  # a closing commit waits this long past the close, for a fetch clock beyond it
CLOSE_CHASE_MS = 2000  # for this long after a close, commit every FETCH_MAX_WAIT_MS until it is done


class Checkpoint:
    def __init__(
        self,
        settings: Settings,
        config: WindowConfig,
        metrics: Metrics,
        clients: KafkaClients,
        owned: OwnedPartitions,
        accounts: AccountBook,
        group_id: str,
    ):
        self.settings, self.config, self.metrics = settings, config, metrics
        self.clients, self.owned, self.accounts, self.group_id = clients, owned, accounts, group_id
        self.outbox = Outbox()
        self.gauges = StateGauges(metrics, accounts, early_warning_gauges(settings, config, metrics))
        self.next_offsets: dict[TopicPartition, int] = {}  # processed, not yet committed
        self.arrival_ms: dict[int, int] = {}  # partition -> broker timestamp of the last message read
        self._next_snapshot_ms: dict[int, int] = {}
        self._mentions_scanned_at = 0
        self._attempted_at = now_ms()  # the last commit's start, failed or not: the interval runs from it
        self._memory_returned_at = 0.0

    def store_offset(self, tp: TopicPartition, next_offset: int, arrival_ms: int) -> None:
        """Input read up to ``next_offset`` (its last message arrived at ``arrival_ms``): the next
        transaction commits it."""
        self.next_offsets[tp] = next_offset
        self.arrival_ms[tp.partition] = arrival_ms

    def due(self, now: int) -> int:
        """When the next commit is due (epoch ms): every interval, and also as soon as a window's grace
        ends, so that its final records do not wait for the next interval. A partition closes by its
        fetch clock, which may not have passed the close yet: then soon again, for a short while."""
        cfg = self.config
        mark = cfg.close_mark(now)
        due = min(
            self._attempted_at + int(self.settings.commit_interval_seconds * 1000),
            mark + cfg.window_ms + cfg.grace_ms + CLOSE_SLACK_MS,
        )
        if now - (mark + cfg.grace_ms) < CLOSE_CHASE_MS and any(
            st.closed_through < mark for st in self.owned.states.values()
        ):
            due = min(due, self._attempted_at + FETCH_MAX_WAIT_MS)
        return due

    def attempted(self, at: int) -> None:
        """A commit was attempted (it may have failed): the next interval starts ``at``."""
        self._attempted_at = at

    def discard(self) -> None:
        """After a failed transaction: what was pending is redone from the committed offsets."""
        self.outbox.take()
        self.outbox.take_tallies()
        self.next_offsets = {}

    def forget(self, tp: TopicPartition) -> None:
        self.next_offsets.pop(tp, None)
        self.arrival_ms.pop(tp.partition, None)
        self._next_snapshot_ms.pop(tp.partition, None)

    def _snapshot_due(self, partition: int, now: int) -> bool:
        """Every snapshot interval; a partition's first one spread over the interval by its number,
        so that the partitions of a worker do not all write theirs in the same commit."""
        interval = self.config.snapshot_ms
        due = self._next_snapshot_ms.setdefault(
            partition, now + interval * (partition + 1) // self.settings.topic_partitions
        )
        if now < due:
            return False
        self._next_snapshot_ms[partition] = now + interval
        return True

    async def commit(self) -> None:
        """Collect, then run the transaction. If it fails, the engine's recovery discards everything
        since the last committed one."""
        async with self.owned.txn_lock:
            started = time.perf_counter()
            sends, offsets, finals, snapshotted, close_gauges, counts = await self._collect()
            if not sends and not offsets:
                counts.apply(self.metrics)  # no transaction: nothing of this can be redone
                return
            if not offsets:
                # Only the group can fence a zombie (streams/kafka/fencing.py), and only through the
                # offsets a transaction carries: one that closes windows with no new input re-commits
                # the offsets its state holds, so a worker paused past its session cannot publish.
                offsets = self._held_offsets()
            collected = time.perf_counter()
            producer = self.clients.producer
            assert producer is not None  # commits run while the engine runs
            async with producer.transaction():
                await self.outbox.send_all(producer, sends)
                queued = time.perf_counter()
                if offsets:
                    await producer.send_offsets_to_transaction(offsets, self.group_id)
                    maybe_pause_before_end_txn()
            counts.apply(self.metrics)  # committed: never redone
            if snapshotted:
                await self._truncate_journal(snapshotted)
            ended = time.perf_counter()
            self.metrics.commit_seconds.set(ended - collected)
            if finals or ended - started > SLOW_COMMIT_SECONDS:
                log.log(
                    logging.WARNING if ended - started > SLOW_COMMIT_SECONDS else logging.INFO,
                    "commit of %d records (%d final) in %.3f s: collected in %.3f s, sent in %.3f s, "
                    "offsets and commit %.3f s",
                    len(sends),
                    finals,
                    ended - started,
                    collected - started,
                    queued - collected,
                    ended - queued,
                    extra={
                        "partitions": sorted(self.owned.states),
                        "commit": {p: st.seq for p, st in sorted(self.owned.states.items())},
                    },
                )
            self.gauges.after_commit(list(self.owned.states.values()))
            if close_gauges is not None:
                await close_gauges()
            if snapshotted and ended - self._memory_returned_at >= self.config.snapshot_ms / 1000:
                # What the snapshots' encoding and the closes freed, once per interval (streams.process_tuning).
                self._memory_returned_at = ended
                return_free_memory()

    def _held_offsets(self) -> dict[TopicPartition, int]:
        """The next input offset of each owned partition, as its state journals it."""
        topic = self.settings.topic_interactions
        return {
            TopicPartition(topic, p): st.input_offset
            for p, st in self.owned.states.items()
            if st.input_offset is not None
        }

    async def _truncate_journal(self, partitions: list[int]) -> None:
        """Delete these partitions' journal up to its end (offset -1: the high watermark), which is
        the transaction that held their snapshot: under the transaction lock, so no later entry goes."""
        topic = self.settings.topic_state
        try:
            await self.clients.admin.delete_records({TopicPartition(topic, p): RecordsToDelete(-1) for p in partitions})
        except Exception:  # the journal keeps entries a snapshot holds; a restore skips them
            log.warning(
                "deleting the journal of partitions %s before their snapshot failed",
                partitions,
                exc_info=True,
                extra={"partitions": partitions},
            )

    async def _collect(self) -> tuple[list, dict, int, list[int], Callable[[], Awaitable[None]] | None, CommitCounts]:
        """The next transaction's records and input offsets, how many of the records are final
        window records (of the windows this call closes), the partitions it snapshots, and, when it
        closes windows, the update of the gauges they change: run once the transaction is committed,
        so that it does not delay the final records (and the gauges show what was published)."""
        async with self.owned.state_lock:
            if self.clients.producer is None:
                return [], {}, 0, [], None, CommitCounts([])
            now = now_ms()
            sends = self.outbox.take()
            counts = CommitCounts(self.outbox.take_tallies())
            offsets, self.next_offsets = self.next_offsets, {}
            topic = self.settings.topic_interactions
            rolling_records: list[dict] = []
            tumbling_records: list[dict] = []
            finals = 0
            snapshotted = []
            marks_before = {p: st.closed_through for p, st in self.owned.states.items()}
            clock = await close_clock(
                self.clients.consumer, set(self.owned.states), self.arrival_ms, now, self.metrics.consumer_lag
            )
            for partition, state in self.owned.states.items():
                take_snapshot = self._snapshot_due(partition, now)
                result = state.commit(
                    now,
                    self.accounts.followers_of,
                    clock,
                    offsets.get(TopicPartition(topic, partition)),
                    take_snapshot,
                )
                if take_snapshot:
                    snapshotted.append(partition)
                finals += len(result.post_records) + len(result.account_records) + len(result.lifetime_records)
                # Gauges (and so alerts) only from rolling windows the service counted all of.
                for record in result.account_records:
                    if record["window_kind"] == "tumbling":
                        tumbling_records.append(record)
                    elif record["window_start"] >= state.counting_since:
                        rolling_records.append(record)
                counts.add_commit(result, self.config)
                self._add_records(partition, result, sends)
                await asyncio.sleep(0)  # a partition's snapshot can take a second: let the heartbeats run
            close_gauges = None
            if any(st.closed_through > marks_before[p] for p, st in self.owned.states.items()):
                mark = max(st.closed_through for st in self.owned.states.values())
                close_gauges = partial(
                    self.gauges.after_close, rolling_records, tumbling_records, mark, list(self.owned.states.values())
                )
            if now - self._mentions_scanned_at >= MENTIONS_SCAN_EVERY_MS:
                self._mentions_scanned_at = now
                self.gauges.scan_mentions(list(self.owned.states.values()), now)
            return sends, offsets, finals, snapshotted, close_gauges, counts

    def _add_records(self, partition: int, result, sends: list) -> None:
        """One partition's journal, mention changes and final records, and their record counters."""
        s = self.settings
        if result.journal is not None:
            for chunk in journal.chunks(result.journal):
                sends.append((s.topic_state, None, json_bytes.dumps(chunk), partition))
        for key, value in result.snapshot_records:
            sends.append((s.topic_snapshots, key, value, partition))
        for event_id, mention in result.mention_changes.items():
            sends.append(
                (s.topic_mentions, event_id.encode(), None if mention is None else json_bytes.dumps(mention), partition)
            )
        for record in result.post_records:
            sends.append((s.topic_post_metrics, record["post_id"].encode(), json_bytes.dumps(record), None))
        for record in result.account_records:
            sends.append((s.topic_account_metrics, record["account_id"].encode(), json_bytes.dumps(record), None))
        for record in result.lifetime_records:
            sends.append((s.topic_post_lifetime, record["post_id"].encode(), json_bytes.dumps(record), None))
