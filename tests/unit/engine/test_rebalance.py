"""streams.engine.rebalance.Rebalance: commit before partitions go, restore before new ones are read,
drop everything when the group fences a commit; and a failed commit's recovery racing a rebalance's
restore. ``Recovery.restore_each`` (the part that reads Kafka) is replaced by prepared states, which a
test can hold back on an event."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streams.engine import rebalance as rebalance_module
from streams.engine.checkpoint import Checkpoint
from streams.engine.kept import KeptPartitions
from streams.engine.parts import KafkaClients, OwnedPartitions
from streams.engine.rebalance import Rebalance
from streams.engine.recovery import Recovery
from streams.kafka.accounts import AccountBook
from streams.kafka.fencing import GroupFenced
from streams.metrics import Metrics
from streams.settings import Settings
from streams.state import PartitionState, WindowConfig
from tests.fixtures.kafka_fakes import FakeAdmin, FakeConsumer, FakeProducer

S = Settings(topic_partitions=4)
CONFIG = WindowConfig.from_settings(S)
TOPIC = S.topic_interactions


def tp(p: int) -> TopicPartition:
    return TopicPartition(TOPIC, p)


class Rig:
    """A Rebalance with its real Checkpoint and Recovery on fake clients. The restore returns a fresh
    state per partition (kept in ``prepared``); one asked for partitions in ``gates`` waits for that
    event first; ``restore_error`` makes it raise."""

    def __init__(self, monkeypatch, owned=(0,), assigned=(0,)):
        self.consumer = FakeConsumer(assignment=[tp(p) for p in assigned])
        self.clients = KafkaClients(FakeAdmin(), FakeProducer)
        self.clients.consumer, self.clients.producer = self.consumer, FakeProducer()
        self.owned = OwnedPartitions()
        self.owned.states.update({p: PartitionState(p, CONFIG) for p in owned})
        self.metrics = Metrics()
        self.checkpoint = Checkpoint(S, CONFIG, self.metrics, self.clients, self.owned, AccountBook(S), "g")
        self.recovery = Recovery(S, CONFIG, {}, self.metrics, self.clients, self.owned, self.checkpoint, lambda _: None)
        self.fatal: list[tuple[str, BaseException]] = []
        # The state topics' ends as a reader would find them, settled (None: a transaction open)
        self.ends: dict[TopicPartition, int] | None = {
            TopicPartition(topic, p): 100 + p
            for p in range(S.topic_partitions)
            for topic in (S.topic_state, S.topic_snapshots, S.topic_mentions)
        }
        self.kept = KeptPartitions(S, {})

        async def settled_ends(partitions):
            return None if self.ends is None else dict(self.ends)

        self.kept.settled_ends = settled_ends  # type: ignore[method-assign]
        self.rebalance = Rebalance(
            S, self.metrics, self.clients, self.owned, self.checkpoint, self.recovery, self.kept, self._on_fatal
        )
        self.prepared: dict[int, PartitionState] = {}
        self.restored: list[list[int]] = []
        self.gates: dict[tuple[int, ...], asyncio.Event] = {}  # before any of these partitions
        self.partition_gates: dict[int, asyncio.Event] = {}  # before this one, after those before it
        self.restore_error: Exception | None = None

        async def restore_each(_self, partitions):
            self.restored.append(list(partitions))
            if tuple(partitions) in self.gates:
                await self.gates[tuple(partitions)].wait()
            for p in partitions:
                if p in self.partition_gates:
                    await self.partition_gates[p].wait()
                if self.restore_error is not None:
                    raise self.restore_error
                self.prepared[p] = PartitionState(p, CONFIG)
                yield p, self.prepared[p]

        monkeypatch.setattr(Recovery, "restore_each", restore_each)

    def _on_fatal(self, what: str, exc: BaseException) -> None:
        self.fatal.append((what, exc))

    def gate(self, *partitions: int) -> asyncio.Event:
        event = self.gates[partitions] = asyncio.Event()
        return event

    def sample(self, name: str, labels: dict | None = None) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels or {})

    def lag(self, p: int) -> float | None:
        return self.sample("engagement_consumer_lag_messages", {"topic": TOPIC, "partition": str(p)})


async def settle() -> None:
    """Let every other task run to its end."""
    await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}))


def test_revoke_commits_then_drops_the_state_the_lag_gauge_and_the_offsets(monkeypatch):
    rig = Rig(monkeypatch, owned=(0, 1), assigned=(0, 1))
    rig.rebalance.assigned = frozenset({0, 1})
    for p, offset in ((0, 42), (1, 7)):
        rig.checkpoint.store_offset(tp(p), offset, 5)
        rig.metrics.consumer_lag.labels(TOPIC, str(p)).set(3)
    kept = rig.owned.states[1]
    asyncio.run(rig.rebalance.on_partitions_revoked([tp(0)]))
    [txn] = rig.clients.producer.transactions
    assert txn.outcome == "committed"
    assert txn.offsets == [({tp(0): 42, tp(1): 7}, "g")]
    assert sorted(p for topic, p, _ in txn.batches if topic == S.topic_state) == [0, 1]  # 0's journal too
    assert rig.owned.states == {1: kept}
    assert rig.checkpoint.arrival_ms == {1: 5}
    assert rig.lag(0) is None and rig.lag(1) == 3.0
    assert rig.sample("engagement_partitions_assigned") == 1.0
    assert rig.rebalance.assigned is None  # a rebalance is under way


@pytest.mark.parametrize("error", [GroupFenced("taken over"), KafkaError("broker gone")], ids=["fenced", "failed"])
def test_revoke_drops_the_partitions_even_when_the_commit_fails(monkeypatch, error):
    rig = Rig(monkeypatch, owned=(0, 1), assigned=(0, 1))
    rig.checkpoint.store_offset(tp(1), 9, 5)
    rig.clients.producer.fail_next_commit(error)
    asyncio.run(rig.rebalance.on_partitions_revoked([tp(0), tp(1)]))  # does not raise
    assert rig.clients.producer.transactions[0].outcome == "failed"
    assert rig.owned.states == {} and rig.checkpoint.arrival_ms == {}
    assert rig.sample("engagement_partitions_assigned") == 0.0


def test_assign_pauses_new_partitions_restores_them_in_a_task_then_resumes_them(monkeypatch):
    rig = Rig(monkeypatch, owned=(0,), assigned=(0, 1, 2))
    rig.consumer.committed_offsets[tp(1)] = 11
    owned0 = rig.owned.states[0]

    async def go():
        gate = rig.gate(1, 2)
        await rig.rebalance.on_partitions_assigned([tp(0), tp(1), tp(2)])
        assert rig.consumer.paused() == {tp(1), tp(2)}  # at once: nothing of them is read unrestored
        for _ in range(5):
            await asyncio.sleep(0)
        assert rig.restored == [[1, 2]]  # restoring in its task; the callback has returned
        assert set(rig.owned.states) == {0} and rig.consumer.paused() == {tp(1), tp(2)}
        gate.set()
        await settle()

    asyncio.run(go())
    assert rig.consumer.paused() == set()
    assert rig.owned.states == {0: owned0, 1: rig.prepared[1], 2: rig.prepared[2]}

    assert rig.consumer.sought == [(tp(1), 11), (tp(2), None)]
    assert rig.sample("engagement_partitions_assigned") == 3.0
    assert rig.rebalance.assigned == frozenset({0, 1, 2})


def test_assign_resumes_each_partition_once_restored_while_the_next_is_restored(monkeypatch):
    """A week's partition takes about a second: the first one counts again after its own restore."""
    rig = Rig(monkeypatch, owned=(), assigned=(1, 2))

    async def go():
        second = rig.partition_gates[2] = asyncio.Event()
        await rig.rebalance.on_partitions_assigned([tp(1), tp(2)])
        for _ in range(5):
            await asyncio.sleep(0)
        assert rig.owned.states == {1: rig.prepared[1]}  # 2 is still being restored
        assert rig.consumer.paused() == {tp(2)}
        assert rig.sample("engagement_partitions_assigned") == 1.0
        assert rig.sample("engagement_rebalance_partitions_total", {"outcome": "restored"}) == 1.0
        second.set()
        await settle()

    asyncio.run(go())
    assert rig.consumer.paused() == set()
    assert rig.owned.states == {1: rig.prepared[1], 2: rig.prepared[2]}
    assert rig.sample("engagement_partitions_assigned") == 2.0


def test_assigning_only_owned_partitions_restores_nothing(monkeypatch):
    rig = Rig(monkeypatch, owned=(0, 1), assigned=(0, 1))
    asyncio.run(rig.rebalance.on_partitions_assigned([tp(0), tp(1)]))
    assert rig.restored == [] and rig.consumer.paused() == set()
    assert rig.rebalance.assigned == frozenset({0, 1})


def test_a_failed_restore_is_fatal_and_its_partitions_stay_paused(monkeypatch):
    rig = Rig(monkeypatch, owned=(0,), assigned=(0, 1))
    rig.restore_error = KafkaError("journal unreadable")

    async def go():
        await rig.rebalance.on_partitions_assigned([tp(0), tp(1)])
        await settle()

    asyncio.run(go())
    assert rig.fatal == [("restoring partitions [1] failed", rig.restore_error)]
    assert set(rig.owned.states) == {0} and rig.consumer.paused() == {tp(1)}


def test_drop_lost_discards_pauses_everything_and_rejoins(monkeypatch):
    rejoined = []
    monkeypatch.setattr(rebalance_module, "request_rejoin", rejoined.append)
    rig = Rig(monkeypatch, owned=(0, 1), assigned=(0, 1))
    rig.checkpoint.outbox.add(S.topic_dlq, b"k", b"v", 0)
    rig.checkpoint.store_offset(tp(0), 3, 5)
    asyncio.run(rig.rebalance.drop_lost(GroupFenced("paused past the session", "ILLEGAL_GENERATION")))
    assert rig.sample("engagement_commits_refused_total", {"reason": "ILLEGAL_GENERATION"}) == 1.0
    assert rig.owned.states == {}
    assert rig.checkpoint.outbox.records == [] and rig.checkpoint.next_offsets == {}
    assert rig.consumer.paused() == {tp(0), tp(1)}
    assert rejoined == [rig.consumer]
    assert rig.clients.producer.transactions == []  # nothing of it commits
    assert rig.sample("engagement_partitions_assigned") == 0.0


def test_cancel_restore_stops_a_restore_in_flight(monkeypatch):
    rig = Rig(monkeypatch, owned=(0,), assigned=(0, 1))

    async def go():
        rig.gate(1)
        await rig.rebalance.on_partitions_assigned([tp(0), tp(1)])
        await asyncio.sleep(0)
        [task] = asyncio.all_tasks() - {asyncio.current_task()}
        await rig.rebalance.cancel_restore()
        await rig.rebalance.cancel_restore()  # nothing in flight: a no-op
        return task

    task = asyncio.run(go())
    assert task.cancelled()
    assert rig.restored == [[1]] and rig.fatal == []
    assert set(rig.owned.states) == {0} and rig.consumer.paused() == {tp(1)}


def test_a_commit_that_fails_while_a_rebalance_restore_is_in_flight(monkeypatch):
    """Partition 1 is assigned and restoring when a commit fails; the engine recovers (as its loop
    does: recover_with_retries). The rebalance's restore ends while the recovery's own restore (of
    the partitions owned when it began: 0) is still reading. Afterwards every assigned partition
    that is being read (resumed) must have its state: the loop skips and re-reads a partition
    without state, so one left so is never counted again. (Before the fix the recovery cleared
    every partition and put back its own: 1 stayed resumed without state.)"""
    rig = Rig(monkeypatch, owned=(0,), assigned=(0, 1))
    rig.checkpoint.store_offset(tp(0), 4, 5)

    async def go():
        rebalance_gate, recovery_gate = rig.gate(1), rig.gate(0)
        await rig.rebalance.on_partitions_assigned([tp(0), tp(1)])
        rig.clients.producer.fail_next_commit(KafkaError("transaction timed out"))
        with pytest.raises(KafkaError):
            await rig.checkpoint.commit()
        recovering = asyncio.create_task(rig.recovery.recover_with_retries())
        for _ in range(5):
            await asyncio.sleep(0)
        assert rig.restored == [[1], [0]]  # both restores in flight
        rebalance_gate.set()  # the rebalance's restore ends first: 1 resumed, its state added
        for _ in range(5):
            await asyncio.sleep(0)
        assert 1 in rig.owned.states and tp(1) not in rig.consumer.paused()
        recovery_gate.set()
        await recovering
        await settle()

    asyncio.run(go())
    assert rig.fatal == []
    resumed = {t.partition for t in rig.consumer.assignment() - rig.consumer.paused()}
    assert resumed == {0, 1}
    assert resumed <= set(rig.owned.states), f"resumed without state: {sorted(resumed - set(rig.owned.states))}"


# -- partitions kept across a rebalance (aiokafka's eager protocol revokes them all) -------------------


def revoke_then_assign(rig: Rig, revoked: list[int], assigned: list[int], between=lambda: None) -> None:
    async def go():
        await rig.rebalance.on_partitions_revoked([tp(p) for p in revoked])
        between()
        rig.consumer.assign_anew(tp(p) for p in assigned)
        await rig.rebalance.on_partitions_assigned([tp(p) for p in assigned])
        await settle()

    asyncio.run(go())


def test_partitions_given_back_with_nothing_written_since_are_kept_without_a_restore(monkeypatch):
    rig = Rig(monkeypatch, owned=(0, 1, 2), assigned=(0, 1, 2))
    before = dict(rig.owned.states)
    rig.checkpoint.store_offset(tp(0), 42, 5)
    rig.consumer.committed_offsets[tp(0)] = 42
    revoke_then_assign(rig, [0, 1, 2], [0, 1, 3])
    assert rig.restored == [[3]]  # 2 went elsewhere, 3 is new: only 3 is read from Kafka
    assert rig.owned.states == {0: before[0], 1: before[1], 3: rig.prepared[3]}
    assert (tp(0), 42) in rig.consumer.sought and rig.consumer.paused() == set()
    assert rig.sample("engagement_rebalance_partitions_total", {"outcome": "kept"}) == 2.0
    assert rig.sample("engagement_rebalance_partitions_total", {"outcome": "restored"}) == 1.0


def test_a_partition_written_to_since_its_commit_on_revoke_is_restored(monkeypatch):
    """Another worker owned it meanwhile (its journal grew), or a transaction is open on it."""
    rig = Rig(monkeypatch, owned=(0, 1), assigned=(0, 1))
    before = dict(rig.owned.states)

    def another_owner_wrote_to_1():
        rig.ends[TopicPartition(S.topic_state, 1)] += 3

    revoke_then_assign(rig, [0, 1], [0, 1], another_owner_wrote_to_1)
    assert rig.restored == [[1]] and rig.owned.states == {0: before[0], 1: rig.prepared[1]}

    rig = Rig(monkeypatch, owned=(0, 1), assigned=(0, 1))

    def transaction_opened():
        rig.ends = None

    revoke_then_assign(rig, [0, 1], [0, 1], transaction_opened)
    assert rig.restored == [[0, 1]]


@pytest.mark.parametrize(
    "error", [GroupFenced("rebalancing", "REBALANCE_IN_PROGRESS"), KafkaError("broker gone")], ids=["refused", "failed"]
)
def test_nothing_is_kept_when_the_commit_on_revoke_did_not_commit(monkeypatch, error):
    rig = Rig(monkeypatch, owned=(0, 1), assigned=(0, 1))
    rig.checkpoint.store_offset(tp(1), 9, 5)
    rig.clients.producer.fail_next_commit(error)
    revoke_then_assign(rig, [0, 1], [0, 1])
    assert rig.restored == [[0, 1]]
    refused = rig.sample("engagement_commits_refused_total", {"reason": "REBALANCE_IN_PROGRESS"})
    assert refused == (1.0 if isinstance(error, GroupFenced) else None)


def test_input_folded_in_after_the_commit_on_revoke_is_not_kept(monkeypatch):
    """The loop may fold a batch between the commit on revoke and the drop: that state holds input
    whose offset did not commit, and would count it twice once read again."""
    rig = Rig(monkeypatch, owned=(0, 1), assigned=(0, 1))
    commit = rig.checkpoint.commit

    async def commit_then_a_batch_is_folded():
        await commit()
        rig.checkpoint.store_offset(tp(0), 5, 5)

    monkeypatch.setattr(rig.checkpoint, "commit", commit_then_a_batch_is_folded)
    revoke_then_assign(rig, [0, 1], [0, 1])
    assert rig.restored == [[0, 1]]
