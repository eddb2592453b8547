"""Rebalances: commit before partitions go, restore before new ones are read.

A revoked partition's work is committed first (its next owner starts from that commit) and its state
dropped, or parked when the commit succeeded: given back by the assignment that follows with nothing
written to it since, it is kept without a restore (``kept``). A worker whose commit the group refused
(its partitions taken over while it was paused, or a rebalance under way: counted by reason) drops
them all, uncommitted, and rejoins (``drop_lost``). A new partition is paused until its
state is rebuilt, and resumed then, while the next is rebuilt (a week's partition takes about a
second: the first counts again after one, not eight); the rebuild runs outside the rebalance
callback, since a long one inside it would miss the group's deadline and cost the membership.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import ConsumerRebalanceListener, TopicPartition

from ..kafka.aiokafka_internals import request_rejoin
from ..kafka.fencing import GroupFenced
from ..kafka.partitioner import partition_for
from ..metrics import Metrics
from ..settings import Settings
from ..state import PartitionState
from .checkpoint import Checkpoint
from .kept import KeptPartitions
from .parts import KafkaClients, OwnedPartitions
from .recovery import Recovery

log = logging.getLogger(__name__)


class Rebalance(ConsumerRebalanceListener):
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        clients: KafkaClients,
        owned: OwnedPartitions,
        checkpoint: Checkpoint,
        recovery: Recovery,
        kept: KeptPartitions,
        on_fatal: Callable[[str, BaseException], None],
    ):
        self.settings, self.metrics, self.clients, self.owned = settings, metrics, clients, owned
        self.checkpoint, self.recovery, self.kept, self.on_fatal = checkpoint, recovery, kept, on_fatal
        self._restoring: asyncio.Task | None = None
        # The partitions of the group's last assignment; None before the first one and from a
        # revocation until the next (a rebalance under way). Readiness reads it (engine/health.py).
        self.assigned: frozenset[int] | None = None

    async def on_partitions_revoked(self, revoked) -> None:
        self.assigned = None
        if revoked:  # read no more of them: the commit below holds all their input folded in
            assert self.clients.consumer is not None  # a rebalance comes from the started consumer
            self.clients.consumer.pause(*revoked)
        await self.cancel_restore()
        committed = False
        try:
            await self.checkpoint.commit()
            committed = True
        except GroupFenced as exc:  # they are someone else's already: nothing of ours commits for them
            self.metrics.commits_refused.labels(exc.reason).inc()
            log.warning("commit on revoke refused (%s); the next owner redoes that work", exc)
        except Exception:
            log.exception("commit on revoke failed; the next owner redoes that work")
        async with self.owned.state_lock:
            # Parked only as committed: no input folded in since the commit (of any partition: an
            # event read in one may be folded into another's state).
            clean = committed and not self.checkpoint.next_offsets
            parked = {
                tp.partition: self.owned.states[tp.partition] for tp in revoked if tp.partition in self.owned.states
            }
            self._drop(revoked)
        if clean:
            await self.kept.park(parked)
        else:
            self.kept.clear()

    async def drop_lost(self, exc: GroupFenced) -> None:
        """The group refused this worker's offsets (it was paused past its session timeout, and its
        partitions were given to others): drop every partition with what was collected for it, stop
        reading, and rejoin. The group assigns partitions again; they are restored from what committed."""
        self.metrics.commits_refused.labels(exc.reason).inc()
        log.warning(
            "the group refused this worker's commit (%s): dropping partitions %s and rejoining",
            exc,
            sorted(self.owned.states),
            extra={"partitions": sorted(self.owned.states)},
        )
        self.kept.clear()
        await self.cancel_restore()
        async with self.owned.state_lock:
            self.checkpoint.discard()
            self._drop([TopicPartition(self.settings.topic_interactions, p) for p in list(self.owned.states)])
        consumer = self.clients.consumer
        assert consumer is not None  # a rebalance comes from the started consumer
        assignment = consumer.assignment()
        if assignment:
            consumer.pause(*assignment)
        request_rejoin(consumer)

    def _drop(self, tps) -> None:
        partitions = self.settings.topic_partitions
        for tp in tps:
            state = self.owned.states.pop(tp.partition, None)
            self.checkpoint.forget(tp)
            try:
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
            except KeyError:
                pass
            if state is not None:
                self.metrics.forget_accounts(lambda a: partition_for(a, partitions) == tp.partition)  # noqa: B023  called now
        self.metrics.partitions.set(len(self.owned.states))

    async def on_partitions_assigned(self, assigned) -> None:
        self.assigned = frozenset(tp.partition for tp in assigned)
        new = [tp for tp in assigned if tp.partition not in self.owned.states]
        if new:
            assert self.clients.consumer is not None  # a rebalance comes from the started consumer
            self.clients.consumer.pause(*new)
            self._restoring = asyncio.create_task(self._restore_then_resume(new), name="engagement-restore")

    async def cancel_restore(self) -> None:
        task, self._restoring = self._restoring, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _restore_then_resume(self, tps: list[TopicPartition]) -> None:
        """Restore the partitions (those kept first), resuming each as soon as it is back."""
        partitions = [tp.partition for tp in tps]
        try:
            kept = await self.kept.take(partitions)
            if kept:
                log.info(
                    "partitions %s kept from before the rebalance (nothing written to them since); restoring %s",
                    sorted(kept),
                    sorted(set(partitions) - set(kept)),
                    extra={"partitions": sorted(kept)},
                )

            def resume(partition: int, state: PartitionState) -> None:
                consumer = self.clients.consumer
                assert consumer is not None  # restores follow an assignment of the started consumer
                self.owned.states[partition] = state
                consumer.resume(TopicPartition(self.settings.topic_interactions, partition))
                self.metrics.rebalanced_partitions.labels("kept" if partition in kept else "restored").inc()
                self.metrics.partitions.set(len(self.owned.states))

            await self.recovery.restore_and_seek([p for p in partitions if p not in kept], kept, resume)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a worker that cannot rebuild its state must not count: restart it
            self.on_fatal(f"restoring partitions {partitions} failed", exc)
