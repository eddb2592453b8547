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

import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Callable

import orjson
from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete

from ..state import journal
from ..state.window import duration_label
from .clock import close_clocks, now_ms
from .outbox import Outbox

if TYPE_CHECKING:
    from .loop import Engine

log = logging.getLogger(__name__)

MENTIONS_SCAN_EVERY_MS = 5000  # the SLA gauges and the retention scan every open mention: not each commit
SLOW_COMMIT_SECONDS = 1.0  # a commit slower than this is logged as a warning


class Checkpoint:
    def __init__(self, engine: "Engine"):
        self.engine = engine
        self.outbox = Outbox()
        self.next_offsets: dict[TopicPartition, int] = {}  # processed, not yet committed
        self.arrival_ms: dict[int, int] = {}  # partition -> broker timestamp of the last message read
        self._next_snapshot_ms: dict[int, int] = {}
        self._mentions_scanned_at = 0

    def discard(self) -> None:
        """After a failed transaction: what was pending is redone from the committed offsets."""
        self.outbox.take()
        self.next_offsets = {}

    def forget(self, tp: TopicPartition) -> None:
        self.next_offsets.pop(tp, None)
        self.arrival_ms.pop(tp.partition, None)
        self._next_snapshot_ms.pop(tp.partition, None)

    def _snapshot_due(self, partition: int, now: int) -> bool:
        """Every snapshot interval; a partition's first one spread over the interval by its number,
        so that the partitions of a worker do not all write theirs in the same commit."""
        interval = self.engine.config.snapshot_ms
        due = self._next_snapshot_ms.setdefault(
            partition, now + interval * (partition + 1) // self.engine.settings.topic_partitions)
        if now < due:
            return False
        self._next_snapshot_ms[partition] = now + interval
        return True

    async def commit(self) -> None:
        """Collect, then run the transaction. If it fails, the engine's recovery discards everything
        since the last committed one."""
        engine = self.engine
        async with engine.txn_lock:
            started = time.perf_counter()
            sends, offsets, finals, snapshotted, close_gauges = await self._collect()
            if not sends and not offsets:
                return
            if not offsets:
                # Only the group can fence a zombie (streams/kafka/fencing.py), and only through the
                # offsets a transaction carries: one that closes windows with no new input re-commits
                # the offsets its state holds, so a worker paused past its session cannot publish.
                offsets = self._held_offsets()
            collected = time.perf_counter()
            producer = engine.producer
            async with producer.transaction():
                await self.outbox.send_all(producer, sends)
                queued = time.perf_counter()
                if offsets:
                    await producer.send_offsets_to_transaction(offsets, engine.group_id)
            if snapshotted:
                await self._truncate_journal(snapshotted)
            ended = time.perf_counter()
            engine.metrics.commit_seconds.set(ended - collected)
            if finals or ended - started > SLOW_COMMIT_SECONDS:
                log.log(logging.WARNING if ended - started > SLOW_COMMIT_SECONDS else logging.INFO,
                        "commit of %d records (%d final) in %.3f s: collected in %.3f s, sent in %.3f s, "
                        "offsets and commit %.3f s", len(sends), finals, ended - started, collected - started,
                        queued - collected, ended - queued)
            states = list(engine.states.values())
            engine.metrics.open_windows.set(sum(st.open_window_count() for st in states))
            engine.metrics.dedup_ids.set(sum(len(st.dedup) for st in states))
            engine.metrics.dedup_bytes.set(sum(st.dedup.memory_bytes() for st in states))
            if close_gauges is not None:
                close_gauges()

    def _held_offsets(self) -> dict[TopicPartition, int]:
        """The next input offset of each owned partition, as its state journals it."""
        topic = self.engine.settings.topic_interactions
        return {TopicPartition(topic, p): st.input_offset for p, st in self.engine.states.items()
                if st.input_offset is not None}

    async def _truncate_journal(self, partitions: list[int]) -> None:
        """Delete these partitions' journal up to its end (offset -1: the high watermark), which is
        the transaction that held their snapshot: under the transaction lock, so no later entry goes."""
        topic = self.engine.settings.topic_state
        try:
            await self.engine.admin.delete_records({TopicPartition(topic, p): RecordsToDelete(-1)
                                                    for p in partitions})
        except Exception:  # the journal keeps entries a snapshot holds; a restore skips them
            log.warning("deleting the journal of partitions %s before their snapshot failed", partitions,
                        exc_info=True)

    async def _collect(self) -> tuple[list, dict, int, list[int], Callable[[], None] | None]:
        """The next transaction's records and input offsets, how many of the records are final
        window records (of the windows this call closes), the partitions it snapshots, and, when it
        closes windows, the update of the gauges they change: run once the transaction is committed,
        so that it does not delay the final records (and the gauges show what was published)."""
        engine = self.engine
        async with engine.state_lock:
            if engine.producer is None:
                return [], {}, 0, [], None
            now = now_ms()
            sends = self.outbox.take()
            offsets, self.next_offsets = self.next_offsets, {}
            topic = engine.settings.topic_interactions
            rolling_records: list[dict] = []
            tumbling_records: list[dict] = []
            finals = 0
            snapshotted = []
            marks_before = {p: st.closed_through for p, st in engine.states.items()}
            clocks = await close_clocks(engine.consumer, set(engine.states), self.arrival_ms, now,
                                        engine.metrics.consumer_lag)
            for partition, state in engine.states.items():
                take_snapshot = self._snapshot_due(partition, now)
                result = state.commit(now, engine.accounts.followers_of, clocks.get(partition, 0),
                                      offsets.get(TopicPartition(topic, partition)), take_snapshot)
                if take_snapshot:
                    snapshotted.append(partition)
                finals += len(result.post_records) + len(result.account_records) + len(result.lifetime_records)
                # Gauges (and so alerts) only from rolling windows the service counted all of.
                for record in result.account_records:
                    if record["window_kind"] == "tumbling":
                        tumbling_records.append(record)
                    elif record["window_start"] >= state.counting_since:
                        rolling_records.append(record)
                if result.replies_unmatched:
                    engine.metrics.listening.unmatched.inc(result.replies_unmatched)
                self._add_records(partition, result, sends)
            close_gauges = None
            if any(st.closed_through > marks_before[p] for p, st in engine.states.items()):
                mark = max(st.closed_through for st in engine.states.values())
                close_gauges = partial(self._close_gauges, rolling_records, tumbling_records, mark,
                                       list(engine.states.values()))
            if now - self._mentions_scanned_at >= MENTIONS_SCAN_EVERY_MS:
                self._mentions_scanned_at = now
                self._scan_mentions(now)
            return sends, offsets, finals, snapshotted, close_gauges

    def _close_gauges(self, rolling_records: list, tumbling_records: list, mark: int, states: list) -> None:
        """After the transaction: folds may have run since the collect, but they touch neither the
        samples nor the published counts read here; only a commit does, and this one holds the
        transaction lock."""
        metrics = self.engine.metrics
        metrics.accounts.update(rolling_records, mark, self.engine.accounts.industry_of)
        metrics.account_counters.add(tumbling_records, mark)
        metrics.closed_through.set(mark / 1000)
        self._post_gauges(states)
        metrics.per_account_changed()

    def _post_gauges(self, states: list) -> None:
        """ER per post and the post state's size: at each close, when the samples may have changed."""
        metrics = self.engine.metrics
        samples: dict = {}
        published: dict = {}
        for state in states:
            samples.update(state.lifetimes.samples)
            published.update(state.lifetimes.published)
        metrics.post_rates.update(samples, published, self.engine.accounts.industry_of)
        metrics.tracked_posts.set(sum(st.tracked_posts() for st in states))
        metrics.post_state_bytes.set(sum(st.lifetimes.memory_bytes() for st in states))

    def _scan_mentions(self, now: int) -> None:
        """The SLA gauges; mentions past the retention are dropped (in the next transaction)."""
        listening = self.engine.metrics.listening
        overdue: dict = {}
        states = list(self.engine.states.values())
        for state in states:
            scan = state.mentions.scan(now)
            overdue.update(scan.overdue)
            if scan.expired:
                listening.expired.inc(scan.expired)
        listening.set_overdue(overdue)
        listening.open.set(sum(len(st.mentions.open) for st in states))
        listening.waiting.set(sum(len(st.mentions.waiting) for st in states))

    def _add_records(self, partition: int, result, sends: list) -> None:
        """One partition's journal, mention changes and final records, and their record counters."""
        s, cfg, metrics = self.engine.settings, self.engine.config, self.engine.metrics
        if result.journal is not None:
            for chunk in journal.chunks(result.journal):
                sends.append((s.topic_state, None, orjson.dumps(chunk), partition))
        for key, value in result.snapshot_records:
            sends.append((s.topic_snapshots, key, value, partition))
        for event_id, mention in result.mention_changes.items():
            sends.append((s.topic_mentions, event_id.encode(),
                          None if mention is None else orjson.dumps(mention), partition))
        for record in result.post_records:
            sends.append((s.topic_post_metrics, record["post_id"].encode(), orjson.dumps(record), None))
        for record in result.account_records:
            sends.append((s.topic_account_metrics, record["account_id"].encode(), orjson.dumps(record), None))
        for record in result.lifetime_records:
            sends.append((s.topic_post_lifetime, record["post_id"].encode(), orjson.dumps(record), None))
            metrics.lifetime_records.labels(duration_label(record["age_ms"])).inc()
        if result.post_records:
            metrics.records.labels("post", cfg.window_label).inc(len(result.post_records))
        for kind, label in (("tumbling", cfg.window_label), ("rolling", cfg.rolling_label)):
            n = sum(1 for r in result.account_records if r["window_kind"] == kind)
            if n:
                metrics.records.labels("account", label).inc(n)
