"""streams.engine.kept: a parked state is kept only when every topic partition of its state ends where
it did at its commit on revoke, and only by the assignment right after; the rebalance's use of it is in
tests/unit/engine/test_rebalance.py."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from streams.engine.kept import KeptPartitions, unchanged
from streams.settings import Settings
from streams.state import PartitionState, WindowConfig

S = Settings(topic_partitions=4)
CONFIG = WindowConfig.from_settings(S)
TOPICS = (S.topic_state, S.topic_snapshots, S.topic_mentions)


def ends(**moved: int) -> dict[TopicPartition, int]:
    """Every topic partition at 10, but those named: topic initial and partition (e.g. s1=12)."""
    out = {TopicPartition(topic, p): 10 for topic in TOPICS for p in range(4)}
    for name, end in moved.items():
        topic = {"s": S.topic_state, "n": S.topic_snapshots, "m": S.topic_mentions}[name[0]]
        out[TopicPartition(topic, int(name[1:]))] = end
    return out


def kept_after(then: dict | None, now: dict | None, parked=(0, 1, 2), assigned=(0, 1, 3)) -> dict:
    kept = KeptPartitions(S, {})
    answers = iter([then, now])

    async def settled_ends(partitions):
        return next(answers)

    kept.settled_ends = settled_ends  # type: ignore[method-assign]
    states = {p: PartitionState(p, CONFIG) for p in parked}

    async def go():
        await kept.park(states)
        return await kept.take(list(assigned)), await kept.take(list(assigned))

    first, second = asyncio.run(go())
    assert second == {}  # only the assignment right after may keep them
    return {p: state is states[p] for p, state in first.items()}


def test_untouched_partitions_given_back_are_kept():
    assert kept_after(ends(), ends()) == {0: True, 1: True}  # 2 not given back, 3 never parked


def test_a_write_to_any_of_a_partition_s_topics_means_a_restore():
    assert kept_after(ends(), ends(s0=11)) == {1: True}
    assert kept_after(ends(), ends(n1=11, m0=12)) == {}
    assert kept_after(ends(), ends(s2=11)) == {0: True, 1: True}  # 2 is not given back anyway


def test_an_open_transaction_at_either_end_keeps_nothing():
    assert kept_after(None, ends()) == {}
    assert kept_after(ends(), None) == {}


def test_unchanged_needs_the_ends_of_the_parked_partition():
    state = PartitionState(0, CONFIG)
    assert unchanged({0: (state, {})}, ends()) == {}
    assert unchanged({0: (state, {TopicPartition(S.topic_state, 0): 10})}, ends()) == {0: state}
