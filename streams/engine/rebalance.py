"""Rebalances: commit before partitions go, restore before new ones are read.

A revoked partition's work is committed first (its next owner starts from that commit) and its state
dropped. A worker that learns from a refused commit that its partitions were taken over while it was
paused drops them all, uncommitted, and rejoins (``drop_lost``). A new partition is paused until its
state is rebuilt; the rebuild runs outside the rebalance callback, since a long one inside it would
miss the group's deadline and cost the membership.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from aiokafka import ConsumerRebalanceListener, TopicPartition

from ..kafka.aiokafka_internals import request_rejoin
from ..kafka.fencing import GroupFenced
from ..kafka.partitioner import partition_for

if TYPE_CHECKING:
    from .loop import Engine

log = logging.getLogger(__name__)


class Rebalance(ConsumerRebalanceListener):
    def __init__(self, engine: "Engine"):
        self.engine = engine
        self._restoring: asyncio.Task | None = None
        # The partitions of the group's last assignment; None before the first one and from a
        # revocation until the next (a rebalance under way). Readiness reads it (engine/health.py).
        self.assigned: frozenset[int] | None = None

    async def on_partitions_revoked(self, revoked) -> None:
        self.assigned = None
        await self.cancel_restore()
        try:
            await self.engine.checkpoint.commit()
        except GroupFenced as exc:  # they are someone else's already: nothing of ours commits for them
            log.warning("commit on revoke refused (%s); the next owner redoes that work", exc)
        except Exception:
            log.exception("commit on revoke failed; the next owner redoes that work")
        self._drop(revoked)

    async def drop_lost(self, exc: GroupFenced) -> None:
        """The group refused this worker's offsets (it was paused past its session timeout, and its
        partitions were given to others): drop every partition with what was collected for it, stop
        reading, and rejoin. The group assigns partitions again; they are restored from what committed."""
        engine = self.engine
        log.warning("this worker is no longer a member of the group (%s): dropping partitions %s and rejoining",
                    exc, sorted(engine.states))
        await self.cancel_restore()
        async with engine.state_lock:
            engine.checkpoint.discard()
            self._drop([TopicPartition(engine.settings.topic_interactions, p) for p in list(engine.states)])
        assignment = engine.consumer.assignment()
        if assignment:
            engine.consumer.pause(*assignment)
        request_rejoin(engine.consumer)

    def _drop(self, tps) -> None:
        engine = self.engine
        partitions = engine.settings.topic_partitions
        for tp in tps:
            state = engine.states.pop(tp.partition, None)
            engine.checkpoint.forget(tp)
            try:
                engine.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
            except KeyError:
                pass
            if state is not None:
                engine.metrics.forget_accounts(lambda a: partition_for(a, partitions) == tp.partition)
        engine.metrics.partitions.set(len(engine.states))

    async def on_partitions_assigned(self, assigned) -> None:
        self.assigned = frozenset(tp.partition for tp in assigned)
        new = [tp for tp in assigned if tp.partition not in self.engine.states]
        if new:
            self.engine.consumer.pause(*new)
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
        engine = self.engine
        try:
            states = await engine.recovery.restore([tp.partition for tp in tps])
            offsets = await engine.recovery.resume_offsets(states)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.critical("restoring partitions %s failed", [tp.partition for tp in tps], exc_info=True)
            os._exit(70)  # a worker that cannot rebuild its state must not count: restart it
        consumer = engine.consumer
        assignment = consumer.assignment()
        for tp in tps:
            if tp in assignment:
                engine.states[tp.partition] = states[tp.partition]
                if offsets[tp.partition] is not None:  # else: auto_offset_reset (the beginning)
                    consumer.seek(tp, offsets[tp.partition])
                consumer.resume(tp)
        engine.metrics.partitions.set(len(engine.states))
