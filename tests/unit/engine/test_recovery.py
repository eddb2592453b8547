"""streams.engine.recovery.Recovery: where restored partitions resume their input, retrying a failed
recovery until its deadline, and the recovery itself (a new producer, the owned state rebuilt).
``Recovery.restore_each`` (the part that reads Kafka) is replaced by prepared states."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from streams.engine import recovery as recovery_module
from streams.engine.checkpoint import Checkpoint
from streams.engine.parts import KafkaClients, OwnedPartitions
from streams.engine.recovery import Recovery
from streams.kafka.accounts import AccountBook
from streams.metrics import Metrics
from streams.settings import Settings
from streams.state import PartitionState, WindowConfig
from tests.fixtures.kafka_fakes import FakeAdmin, FakeConsumer, FakeProducer
from tests.fixtures.loop_turns import LoopTurns

S = Settings(topic_partitions=4)
CONFIG = WindowConfig.from_settings(S)


def tp(p: int) -> TopicPartition:
    return TopicPartition(S.topic_interactions, p)


def state(p: int, input_offset: int | None = None) -> PartitionState:
    st = PartitionState(p, CONFIG)
    st.input_offset = input_offset
    return st


class Rig:
    """A Recovery on fake clients whose restore returns ``self.prepared`` (and records what it was asked)."""

    def __init__(self, monkeypatch, assigned=(0, 1, 2), committed=None, prepared=None):
        self.prepared: dict[int, PartitionState] = prepared or {}
        self.restored: list[list[int]] = []
        self.consumer = FakeConsumer(assignment=[tp(p) for p in assigned], committed=committed)
        self.made: list[FakeProducer] = []
        self.clients = KafkaClients(FakeAdmin(), self._new_producer)
        self.clients.consumer, self.clients.producer = self.consumer, FakeProducer()
        self.owned = OwnedPartitions()
        metrics = Metrics()
        self.checkpoint = Checkpoint(S, CONFIG, metrics, self.clients, self.owned, AccountBook(S), "g")
        self.recovery = Recovery(S, CONFIG, {}, metrics, self.clients, self.owned, self.checkpoint, lambda _: None)

        async def restore_each(_self, partitions):
            self.restored.append(list(partitions))
            for p in partitions:
                yield p, self.prepared[p]

        monkeypatch.setattr(Recovery, "restore_each", restore_each)

    def _new_producer(self) -> FakeProducer:
        self.made.append(FakeProducer())
        return self.made[-1]


def test_restore_and_seek_resumes_at_the_later_of_committed_and_journal_offsets(monkeypatch):
    prepared = {0: state(0, 15), 1: state(1, 12), 2: state(2), 3: state(3, 99)}
    rig = Rig(monkeypatch, assigned=(0, 1, 2), committed={tp(0): 10, tp(1): 20}, prepared=prepared)
    states = asyncio.run(rig.recovery.restore_and_seek([0, 1, 2, 3]))
    assert rig.restored == [[0, 1, 2, 3]]
    assert states == {p: prepared[p] for p in (0, 1, 2)}  # 3 was revoked during its restore: dropped
    # 0: the journal is ahead of the committed offset; 1: the committed one; 2: neither: the beginning
    assert rig.consumer.sought == [(tp(0), 15), (tp(1), 20), (tp(2), None)]


def test_resume_offsets(monkeypatch):
    rig = Rig(monkeypatch, committed={tp(0): 7, tp(2): 3})
    states = {0: state(0), 1: state(1, 4), 2: state(2, 3), 3: state(3)}
    assert asyncio.run(rig.recovery.resume_offsets(states)) == {0: 7, 1: 4, 2: 3, 3: None}
    assert rig.consumer.sought == []  # it only says where


def test_recover_replaces_the_producer_and_refills_the_owned_states(monkeypatch):
    old = {0: state(0, 1), 1: state(1, 2)}
    prepared = {0: state(0, 30), 1: state(1, 40)}
    rig = Rig(monkeypatch, assigned=(0, 1), committed={tp(0): 31}, prepared=prepared)
    rig.owned.states.update(old)
    states = rig.owned.states  # the engine keeps this dict (Engine.states): it must stay the same object
    failed = rig.clients.producer
    rig.checkpoint.outbox.add(S.topic_dlq, b"k", b"v", 0)
    rig.checkpoint.store_offset(tp(0), 5, 1)
    asyncio.run(rig.recovery._recover())
    assert failed.stopped
    assert rig.made == [rig.clients.producer] and rig.clients.producer.started
    assert rig.restored == [[0, 1]]
    assert rig.owned.states is states
    assert rig.owned.states == prepared and all(rig.owned.states[p] is prepared[p] for p in (0, 1))
    assert rig.consumer.sought == [(tp(0), 31), (tp(1), 40)]
    assert rig.checkpoint.outbox.records == [] and rig.checkpoint.next_offsets == {}  # the failed work is redone


def test_recover_goes_on_when_the_failed_producer_does_not_stop(monkeypatch):
    rig = Rig(monkeypatch, assigned=(0,), prepared={0: state(0, 3)})
    rig.owned.states[0] = state(0)

    async def broken_stop():
        raise KafkaConnectionError("unreachable")

    rig.clients.producer.stop = broken_stop
    asyncio.run(rig.recovery._recover())
    assert len(rig.made) == 1 and rig.clients.producer is rig.made[0] and rig.made[0].started
    assert rig.owned.states == {0: rig.prepared[0]}


class FakeTime:
    """The monotonic clock of streams.engine.recovery; sleeping advances it (no real sleeps)."""

    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)
        self.now += delay


def flaky_recover(monkeypatch, failures: int, clock: FakeTime) -> list:
    """_recover fails ``failures`` times (a cluster unreachable), then succeeds; each attempt records
    (the clock, recovering_since)."""
    attempts = []

    async def recover(self):
        attempts.append((clock.now, self.recovering_since))
        if len(attempts) <= failures:
            raise KafkaConnectionError("no broker")

    monkeypatch.setattr(Recovery, "_recover", recover)
    monkeypatch.setattr(recovery_module, "time", clock)
    monkeypatch.setattr(asyncio, "sleep", clock.sleep)
    return attempts


def test_recover_with_retries_retries_until_it_succeeds(monkeypatch):
    clock = FakeTime()
    attempts = flaky_recover(monkeypatch, 2, clock)
    rig = Rig(monkeypatch)
    asyncio.run(rig.recovery.recover_with_retries(give_up_after_s=60))
    assert clock.slept == [0.5, 1.0]
    assert attempts == [(100.0, 100.0), (100.5, 100.0), (101.5, 100.0)]  # not ready since the first attempt
    assert rig.recovery.recovering_since is None


def test_recover_with_retries_gives_up_after_its_deadline(monkeypatch):
    """The delay doubles up to 5 s; the failure after the deadline (100 + 20 s) is raised."""
    clock = FakeTime()
    attempts = flaky_recover(monkeypatch, 1000, clock)
    rig = Rig(monkeypatch)
    with pytest.raises(KafkaConnectionError):
        asyncio.run(rig.recovery.recover_with_retries(give_up_after_s=20))
    assert clock.slept == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert [at for at, _ in attempts] == [100.0, 100.5, 101.5, 103.5, 107.5, 112.5, 117.5, 122.5]
    assert rig.recovery.recovering_since is None


class NoRecords:
    """``CommittedReads`` of topics with nothing in them, noting what was read: (topic, partition)."""

    def __init__(self, settings, kafka_config, topics, partitions):
        self.reads: list[tuple[str, int]] = []
        READS.append(self)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def read(self, topic, partition):
        self.reads.append((topic, partition))
        return
        yield


READS: list[NoRecords] = []


def restore_from_empty_topics(monkeypatch) -> Recovery:
    async def nothing_to_wait(*_args):
        return None

    READS.clear()
    monkeypatch.setattr(recovery_module, "wait_for_decided", nothing_to_wait)
    monkeypatch.setattr(recovery_module, "CommittedReads", NoRecords)
    return Recovery(S, CONFIG, {}, Metrics(), KafkaClients(FakeAdmin(), FakeProducer), OwnedPartitions(), None, None)


def test_a_restore_lets_the_loop_run_between_partitions(monkeypatch):
    """A week's partition takes about a second to load: the heartbeats must run between them, or a
    worker restoring 8 partitions misses its session and is fenced, to restore again."""
    recovery = restore_from_empty_topics(monkeypatch)
    turns = LoopTurns()
    monkeypatch.setattr(recovery_module, "load_snapshot", lambda state, snapshot: None)
    turns.record(monkeypatch, recovery_module, "load_snapshot", "load")
    turns.run(recovery.restore([0, 1, 2]))
    assert len(turns.calls) == 3 and turns.each_call_after_a_turn(), turns.calls


def test_restore_each_gives_a_partition_before_it_reads_the_next(monkeypatch):
    """Each partition's snapshot, journal and mentions, in that order, with one set of readers; a
    partition is handed over (to be resumed) before anything of the next is read."""
    recovery = restore_from_empty_topics(monkeypatch)
    seen: list[tuple[int, int]] = []  # (partition given, reads done by then)

    async def go():
        async for partition, state in recovery.restore_each([2, 0]):
            assert state.partition == partition
            seen.append((partition, len(READS[0].reads)))

    asyncio.run(go())
    [reads] = READS
    assert reads.reads == [(topic, p) for p in (2, 0) for topic in (S.topic_snapshots, S.topic_state, S.topic_mentions)]
    assert seen == [(2, 3), (0, 6)]


def test_restore_and_seek_hands_over_each_partition_once_sought(monkeypatch):
    """Kept states first, then each restored one, each sought before ``ready`` hears of it; a
    partition no longer assigned is neither sought nor handed over."""
    rig = Rig(monkeypatch, assigned=(0, 1, 2), committed={tp(1): 5}, prepared={1: state(1), 3: state(3)})
    told: list[tuple[int, list]] = []
    kept = state(0, input_offset=9)
    states = asyncio.run(
        rig.recovery.restore_and_seek([1, 3], {0: kept}, lambda p, st: told.append((p, list(rig.consumer.sought))))
    )
    assert told == [(0, [(tp(0), 9)]), (1, [(tp(0), 9), (tp(1), 5)])]
    assert rig.restored == [[1, 3]]
    assert states == {0: kept, 1: rig.prepared[1]}
