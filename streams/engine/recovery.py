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
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

import orjson
from aiokafka import TopicPartition

from ..metrics import Metrics
from ..process_tuning import collect_cycles, collection_paused, return_free_memory, set_aside_when_built
from ..settings import Settings
from ..state import PartitionState, WindowConfig
from ..state.post_life import PostOf
from ..state.replay import apply_journal, load_snapshot
from ..state.silent import PostArrivals
from ..state.snapshot import SnapshotReader
from .checkpoint import Checkpoint
from .parts import KafkaClients, OwnedPartitions
from .state_reads import CommittedReads, wait_for_decided

log = logging.getLogger(__name__)

GIVE_UP_AFTER_SECONDS = 300.0  # of failed recoveries: then the worker exits, for its supervisor to restart it


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
        self,
        partitions: list[int],
        kept: dict[int, PartitionState] | None = None,
        ready: Callable[[int, PartitionState], None] | None = None,
    ) -> dict[int, PartitionState]:
        """Restore the partitions' state, then move the consumer to where each one's input resumes
        (its beginning when nothing was committed), and so for the ``kept`` states (committed, not
        restored), which come first: after a failed transaction and when partitions are assigned
        alike. Partitions are restored one at a time, and ``ready(partition, state)`` is told of each
        once sought, so that its input is read while the next is restored. Only the partitions still
        assigned then: (partition, state)."""
        states: dict[int, PartitionState] = {}
        await self._seek(kept or {}, states, ready)
        if partitions:
            async with aclosing(self.restore_each(partitions)) as restored:  # its readers stop if a seek fails
                async for partition, state in restored:
                    await self._seek({partition: state}, states, ready)
        return states

    async def _seek(
        self,
        restored: dict[int, PartitionState],
        states: dict[int, PartitionState],
        ready: Callable[[int, PartitionState], None] | None,
    ) -> None:
        """Seek the ``restored`` partitions still assigned to where their input resumes; add them to
        ``states`` and tell ``ready`` of each."""
        consumer = self.clients.consumer
        assert consumer is not None  # partitions are restored once it has assigned them
        assigned = {tp.partition for tp in consumer.assignment()}
        restored = {p: state for p, state in restored.items() if p in assigned}
        for partition, offset in (await self.resume_offsets(restored)).items():
            tp = TopicPartition(self.settings.topic_interactions, partition)
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
        states.update(restored)
        if ready is not None:
            for partition, state in restored.items():
                ready(partition, state)

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
        """Rebuild these partitions' state (``restore_each``): (partition, state)."""
        async with aclosing(self.restore_each(partitions)) as restored:
            return {partition: state async for partition, state in restored}

    async def restore_each(self, partitions: list[int]) -> AsyncGenerator[tuple[int, PartitionState], None]:
        """Rebuild partitions' state one at a time, each (partition, state) as soon as it is rebuilt:
        a week's partition takes about a second, and a worker can count its input meanwhile. From
        the latest snapshot, the journal after it, the open mentions; a partition with neither starts
        empty (``PartitionState.start_at`` its first input)."""
        started = time.perf_counter()
        s = self.settings
        tps = [TopicPartition(topic, p) for p in partitions for topic in s.state_topics]
        await wait_for_decided(s, self.kafka_config, tps)
        snapshots = entries = 0
        with set_aside_when_built() as set_aside:
            async with CommittedReads(s, self.kafka_config, s.state_topics, partitions) as reads:
                for partition in partitions:
                    state, replayed = await self._restore_one(partition, reads)
                    snapshots, entries = snapshots + bool(state.seq), entries + replayed
                    set_aside()  # the next partitions' collect_cycles scan none of it
                    yield partition, state
        self.metrics.restore_seconds.set(time.perf_counter() - started)
        log.info(
            "partitions %s restored from %d snapshots and %d journal entries in %.2f s",
            sorted(partitions),
            snapshots,
            entries,
            time.perf_counter() - started,
            extra={"partitions": sorted(partitions)},
        )

    async def _restore_one(self, partition: int, reads: CommittedReads) -> tuple[PartitionState, int]:
        """The partition's state, and the journal entries replayed into it."""
        begun = time.perf_counter()
        state = PartitionState(partition, self.config, post_of=self.post_of, post_arrivals=self.post_arrivals)
        with collection_paused():  # what it builds lives on: collections would scan it for nothing
            entries = await self._read_state(state, reads)
        return_free_memory()  # the decoded snapshot and journal, freed (streams.process_tuning)
        log.info(
            "partition %d restored from %s and %d journal entries in %.2f s",
            partition,
            "its snapshot" if state.seq else "no snapshot",
            entries,
            time.perf_counter() - begun,
            extra={"partitions": [partition], "commit": {partition: state.seq}},
        )
        return state, entries

    async def _read_state(self, state: PartitionState, reads: CommittedReads) -> int:
        """Load the partition's latest snapshot, the journal after it and the open mentions into its
        state; the journal entries replayed."""
        s, partition = self.settings, state.partition
        reader = SnapshotReader()
        async for keys, values in reads.read(s.topic_snapshots, partition):
            for key, value in zip(keys, values):
                reader.add(key, value)
        collect_cycles()  # the reader's (streams.process_tuning): before the state is built, while it is cheap
        load_snapshot(state, reader.snapshot())
        del reader  # its records freed once loaded: the blobs are the dedup memory
        await asyncio.sleep(0)  # a week's partition loads in about a second: let the heartbeats run
        snapshot_seq, entries = state.seq, 0
        async for _, values in reads.read(s.topic_state, partition):
            for value in values:
                entry = orjson.loads(value)
                if entry["q"] > snapshot_seq:
                    apply_journal(state, entry)
                    entries += 1
        restore_mention = state.mentions.restore
        async for keys, values in reads.read(s.topic_mentions, partition):
            for key, value in zip(keys, values):
                restore_mention(key.decode(), None if value is None else orjson.loads(value))
        state.mentions.settle()  # the last records read, applied now rather than at their first use
        return entries
