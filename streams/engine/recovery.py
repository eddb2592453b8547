"""Recovery: rebuild partitions' state from what committed, and resume their input where it ends.

Used when partitions are assigned (a start, a rebalance) and after a failed transaction, whose work
is discarded and redone from the committed offsets. Reads are read_committed: only what committed.
A restore reads the partition's latest snapshot, then the journal entries committed after it (the
checkpoint deletes the older ones), so its cost is bounded by the snapshot interval, whatever the
uptime, and state of any age comes back: after an outage of any length nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from bisect import bisect_left

import orjson
from aiokafka import TopicPartition

from ..kafka.aiokafka_fetch import getmany_raw
from ..kafka.clients import (
    FETCH_MAX_WAIT_MS,
    TRANSACTION_ABORT_CHECK_MS,
    TRANSACTION_TIMEOUT_MS,
    end_readers,
    reader,
)
from ..metrics import Metrics
from ..process_tuning import collect_cycles, collection_paused, return_free_memory
from ..settings import Settings
from ..state import PartitionState, WindowConfig
from ..state.post_life import PostOf
from ..state.replay import apply_journal, load_snapshot
from ..state.silent import PostArrivals
from ..state.snapshot import SnapshotReader
from .checkpoint import Checkpoint
from .parts import KafkaClients, OwnedPartitions

log = logging.getLogger(__name__)

GIVE_UP_AFTER_SECONDS = 300.0  # of failed recoveries: then the worker exits, for its supervisor to restart it
RESTORE_FETCH_BYTES = 8 * 1024 * 1024  # per fetch response of a restore's reader
RESTORE_FETCH_PARTITION_BYTES = 2 * 1024 * 1024
RESTORE_FETCH_RECORDS = 10_000  # messages taken from the fetched responses at a time
# For transactions still open when a restore starts (see _wait_for_decided): the broker has decided a
# dead or paused worker's by then (its timeout, then the broker's next check for timed-out ones).
DECIDED_WAIT_SECONDS = (TRANSACTION_TIMEOUT_MS + TRANSACTION_ABORT_CHECK_MS) / 1000 + 5.0


class Recovery:
    def __init__(
        self,
        settings: Settings,
        config: WindowConfig,
        kafka_config: dict,
        metrics: Metrics,
        clients: KafkaClients,
        owned: OwnedPartitions,
        checkpoint: Checkpoint,
        post_of: PostOf,
        post_arrivals: PostArrivals | None = None,
    ):
        self.settings, self.config, self.kafka_config, self.metrics = settings, config, kafka_config, metrics
        self.clients, self.owned, self.checkpoint, self.post_of = clients, owned, checkpoint, post_of
        self.post_arrivals = post_arrivals
        # While recover_with_retries runs (monotonic start): the worker is not ready, and its loop,
        # blocked in the recovery, counts as live until the recovery's own deadline (engine/health.py).
        self.recovering_since: float | None = None

    # -- after a failed transaction -----------------------------------------------------------------
    async def recover_with_retries(self, give_up_after_s: float = GIVE_UP_AFTER_SECONDS) -> None:
        """Retry the recovery while the cluster is unreachable (a broker restart, a network cut);
        after give_up_after_s the loop dies and the worker exits, for its supervisor to restart it."""
        self.recovering_since = time.monotonic()
        deadline = self.recovering_since + give_up_after_s
        delay = 0.5
        try:
            while True:
                try:
                    await self._recover()
                    log.info(
                        "recovered: %d partitions restored",
                        len(self.owned.states),
                        extra={"partitions": sorted(self.owned.states)},
                    )
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    log.warning("recovery failed; retrying in %.1f s", delay, exc_info=True)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        finally:
            self.recovering_since = None

    async def _recover(self) -> None:
        """Forget in-memory state, rebuild it from the journal, and rewind the consumer to the
        committed offsets (the aborted transaction's work is redone)."""
        async with self.owned.txn_lock, self.owned.state_lock:
            self.checkpoint.discard()
            try:
                assert self.clients.producer is not None  # a transaction failed: there was one
                await asyncio.wait_for(self.clients.producer.stop(), 10)
            except Exception:  # it may hang on an unreachable broker; its transaction is void anyway
                log.warning("stopping the failed producer", exc_info=True)
            self.clients.producer = self.clients.new_producer()
            await self.clients.producer.start()
            partitions = list(self.owned.states)
            states = await self.restore_and_seek(partitions)
            # Replace only these: a rebalance's restore, which runs without the locks, may have added
            # partitions meanwhile (restored from what committed, resumed), which must stay.
            for partition in partitions:
                self.owned.states.pop(partition, None)
            self.owned.states.update(states)

    # -- restore --------------------------------------------------------------------------------------
    async def restore_and_seek(
        self, partitions: list[int], kept: dict[int, PartitionState] | None = None
    ) -> dict[int, PartitionState]:
        """Restore the partitions' state, then move the consumer to where each one's input resumes
        (its beginning when nothing was committed), and so for the ``kept`` states (committed, not
        restored): after a failed transaction and when partitions are assigned alike. Only the
        partitions still assigned once the restore is done: (partition, state)."""
        states = await self.restore(partitions) if partitions else {}
        states.update(kept or {})
        consumer = self.clients.consumer
        assert consumer is not None  # partitions are restored once it has assigned them
        assigned = {tp.partition for tp in consumer.assignment()}
        states = {p: state for p, state in states.items() if p in assigned}
        for partition, offset in (await self.resume_offsets(states)).items():
            tp = TopicPartition(self.settings.topic_interactions, partition)
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
        return states

    async def resume_offsets(self, states: dict[int, PartitionState]) -> dict[int, int | None]:
        """Where each restored partition's input resumes: the offset its journal says the state has
        read up to, or the group's committed offset if that is later. Both commit in one transaction,
        but a committed offset fetched right after the commit can still be the previous one."""
        out = {}
        consumer = self.clients.consumer
        assert consumer is not None  # partitions are restored once it has assigned them
        for partition, state in states.items():
            committed = await consumer.committed(TopicPartition(self.settings.topic_interactions, partition))
            known = [offset for offset in (committed, state.input_offset) if offset is not None]
            out[partition] = max(known) if known else None
        return out

    async def restore(self, partitions: list[int]) -> dict[int, PartitionState]:
        """Rebuild partitions' state: the latest snapshot, the journal after it, the open mentions.
        A partition with neither starts empty (``PartitionState.start_at`` its first input)."""
        started = time.perf_counter()
        s, cfg = self.settings, self.config
        states = {p: PartitionState(p, cfg, post_of=self.post_of, post_arrivals=self.post_arrivals) for p in partitions}
        await self._wait_for_decided([TopicPartition(topic, p) for p in partitions for topic in s.state_topics])
        with collection_paused():  # what it builds lives on: collections would scan it for nothing
            snapshots, entries = await self._read_state(states)
        return_free_memory()  # the decoded snapshots and journal, freed (streams.process_tuning)
        self.metrics.restore_seconds.set(time.perf_counter() - started)
        log.info(
            "partitions %s restored from %d snapshots and %d journal entries in %.2f s",
            sorted(partitions),
            snapshots,
            entries,
            time.perf_counter() - started,
            extra={"partitions": sorted(partitions), "commit": {p: states[p].seq for p in sorted(partitions)}},
        )
        return states

    async def _read_state(self, states: dict[int, PartitionState]) -> tuple[int, int]:
        """Load the latest snapshot, the journal after it and the open mentions into these states;
        (the snapshots found, the journal entries replayed)."""
        s, partitions = self.settings, list(states)
        readers = {p: SnapshotReader() for p in partitions}
        async for partition, keys, values in self._read_to_end(s.topic_snapshots, partitions):
            add = readers[partition].add
            for key, value in zip(keys, values):
                add(key, value)
        collect_cycles()  # the reader's (streams.process_tuning): before the state is built, while it is cheap
        for p in partitions:  # each partition's records freed once loaded: the blobs are the dedup memory
            load_snapshot(states[p], readers.pop(p).snapshot())
            await asyncio.sleep(0)  # a week's partition loads in about a second: let the heartbeats run
        snapshot_seq = {p: state.seq for p, state in states.items()}
        entries = 0
        async for partition, _, values in self._read_to_end(s.topic_state, partitions):
            for value in values:
                entry = orjson.loads(value)
                if entry["q"] > snapshot_seq[partition]:
                    apply_journal(states[partition], entry)
                    entries += 1
        async for partition, keys, values in self._read_to_end(s.topic_mentions, partitions):
            restore_mention = states[partition].mentions.restore
            for key, value in zip(keys, values):
                restore_mention(key.decode(), None if value is None else orjson.loads(value))
        for state in states.values():
            state.mentions.settle()  # the last records read, applied now rather than at their first use
        return sum(1 for seq in snapshot_seq.values() if seq), entries

    async def _read_to_end(self, topic: str, partitions: list[int]):
        """(partition, keys, values) of the committed messages of these partitions up to the end they
        had when the read began, a fetch of a partition at a time (in offset order)."""
        tps = [TopicPartition(topic, p) for p in partitions]
        # Small fetches: a restore reads tens of MB of snapshots, and each response is held (and
        # copied into records) until read. A record larger than a fetch still comes whole (KIP-74).
        consumer = reader(
            self.settings,
            self.kafka_config,
            fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
            max_partition_fetch_bytes=RESTORE_FETCH_PARTITION_BYTES,
            fetch_max_bytes=RESTORE_FETCH_BYTES,
        )
        await consumer.start()
        try:
            # Offsets first, assignment after: with partitions assigned, each offset lookup waits for
            # the fetcher's round trip (fetch_max_wait), which made an empty restore take seconds.
            starts = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            pending = {tp for tp in tps if starts[tp] < ends[tp]}
            if not pending:
                return
            consumer.assign(list(pending))
            for tp in pending:
                consumer.seek(tp, starts[tp])
            while pending:
                # Columns, not a ConsumerRecord per message: a week's restore reads over 400,000 mentions.
                batch = await getmany_raw(consumer, 1000, RESTORE_FETCH_RECORDS)
                for tp, fetched in batch.items():
                    # What was written after the read began is not the restore's.
                    read = bisect_left(fetched.offsets, ends[tp])
                    if read:
                        yield tp.partition, fetched.keys[:read], fetched.values[:read]
                done = {tp for tp in pending if await consumer.position(tp) >= ends[tp]}
                if done:
                    consumer.pause(*done)
                    pending -= done
        finally:
            await consumer.stop()

    async def _wait_for_decided(self, tps: list[TopicPartition], timeout_s: float = DECIDED_WAIT_SECONDS) -> None:
        """Wait until the transactions that wrote to these partitions before now are decided: a
        commit's markers reach the partitions after the commit returns, and until then a
        read_committed reader ends before that transaction, so a restore right after a rebalance's
        commit would miss it. The previous owner's transaction may still be open: a worker paused
        (a GC pause, a frozen VM) after its offsets were accepted and before its end of transaction
        can still commit it when it resumes, so a restore that read past it would count its input
        twice. So the restore waits until the broker has decided it: committed, or aborted once past
        its timeout (a dead worker's), which takes up to DECIDED_WAIT_SECONDS. Past that (a broker
        checking less often than the default), it reads what is committed, with an error logged."""
        async with end_readers(self.settings, self.kafka_config) as (written_reader, committed_reader):
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
