"""Partitions kept across a rebalance. aiokafka's group protocol is eager: every rebalance revokes all
of a worker's partitions, then assigns the new set, and most of them come back to the same worker. A
partition whose commit on revoke succeeded is parked with the ends of its partition of the state,
snapshot and mention topics, taken once no transaction is open on them (every marker landed). Given
back with those ends unchanged, nobody has written to it since, not even in a transaction still open:
the parked state is the committed one and is served again without a restore. Anything else (a
partition moved and back, ends unreadable) is restored as before."""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import TopicPartition

from ..kafka.clients import end_readers
from ..settings import Settings
from ..state import PartitionState

log = logging.getLogger(__name__)

SETTLE_SECONDS = 2.0  # for the markers of the commit on revoke to land; past it, nothing is parked
Ends = dict[TopicPartition, int]


class KeptPartitions:
    def __init__(self, settings: Settings, kafka_config: dict):
        self.settings, self.kafka_config = settings, kafka_config
        self._parked: dict[int, tuple[PartitionState, Ends]] = {}

    async def park(self, states: dict[int, PartitionState]) -> None:
        """Keep these committed states (of partitions being revoked) for the next assignment."""
        self._parked = {}
        if not states:
            return
        try:
            ends = await self.settled_ends(list(states))
        except Exception:  # nothing parked: the partitions are restored if they come back
            log.warning("reading the state topics' ends failed; partitions given back will be restored", exc_info=True)
            return
        if ends is None:
            return
        for partition, state in states.items():
            self._parked[partition] = (state, {tp: end for tp, end in ends.items() if tp.partition == partition})

    async def take(self, assigned: list[int]) -> dict[int, PartitionState]:
        """The parked states of ``assigned`` partitions that nobody wrote to since; the rest of what
        was parked is dropped (only the assignment right after may keep them)."""
        parked, self._parked = self._parked, {}
        candidates = {p: kept for p, kept in parked.items() if p in assigned}
        if not candidates:
            return {}
        try:
            ends = await self.settled_ends(list(candidates))
        except Exception:
            log.warning("reading the state topics' ends failed; restoring instead", exc_info=True)
            return {}
        return unchanged(candidates, ends)

    def clear(self) -> None:
        self._parked = {}

    async def settled_ends(self, partitions: list[int], timeout_s: float = SETTLE_SECONDS) -> Ends | None:
        """The ends of the partitions' state, snapshot and mention topics once no transaction is open
        on them (read_committed and read_uncommitted ends agree), or None if one still is after
        timeout_s."""
        tps = [TopicPartition(topic, p) for p in partitions for topic in self.settings.state_topics]
        async with end_readers(self.settings, self.kafka_config, self.settings.state_topics) as (
            written_reader,
            committed_reader,
        ):
            deadline = time.monotonic() + timeout_s
            while True:
                written = await written_reader.end_offsets(tps)
                if await committed_reader.end_offsets(tps) == written:
                    return written
                if time.monotonic() > deadline:
                    return None
                await asyncio.sleep(0.02)


def unchanged(parked: dict[int, tuple[PartitionState, Ends]], ends: Ends | None) -> dict[int, PartitionState]:
    """The parked states whose topic partitions end where they did when they were parked."""
    if ends is None:
        return {}
    return {
        partition: state
        for partition, (state, then) in parked.items()
        if then and all(ends.get(tp) == end for tp, end in then.items())
    }
