"""streams.engine.checkpoint.Checkpoint: the input offsets read, when the next commit is due, and the
commit: ONE transaction with the outbox, the state journal and snapshots, and the input offsets;
after a snapshot, the journal of its partitions is deleted up to its end."""

from __future__ import annotations

import asyncio
import tracemalloc

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from streams.engine import checkpoint as checkpoint_module
from streams.engine.checkpoint import Checkpoint
from streams.engine.fold import BatchFolder
from streams.engine.parts import KafkaClients, OwnedPartitions
from streams.kafka.accounts import AccountBook
from streams.metrics import Metrics
from streams.settings import Settings
from streams.state import PartitionState, WindowConfig
from streams.state.commit import Commit
from tests.fixtures.fetched import Message, fetched
from tests.fixtures.kafka_fakes import FakeAdmin, FakeConsumer, FakeProducer
from tests.fixtures.loop_turns import LoopTurns

WINDOW, GRACE = 60_000, 300_000  # the default window and grace
MARK = 1_700_000_400_000  # a window end (a multiple of WINDOW)
NOW = MARK + GRACE + 30_000  # the latest close mark is MARK; the next close is at MARK + WINDOW + GRACE
S = Settings(topic_partitions=2, snapshot_interval_seconds=1.0, commit_interval_seconds=0.5)
GROUP = "engagement-engine"


def tp(p: int) -> TopicPartition:
    return TopicPartition(S.topic_interactions, p)


class Rig:
    """A Checkpoint with real settings, metrics, state and account book, on fake Kafka clients; its
    wall clock is ``self.now`` (``now_ms`` patched)."""

    def __init__(self, monkeypatch, partitions=(0,), closed_through=MARK, now=NOW):
        self.now = now
        monkeypatch.setattr(checkpoint_module, "now_ms", lambda: self.now)
        self.config = WindowConfig.from_settings(S)
        self.metrics = Metrics()
        self.admin, self.producer = FakeAdmin(), FakeProducer()
        self.consumer = FakeConsumer(
            assignment=[tp(p) for p in partitions],
            highwater={tp(p): 0 for p in partitions},
            last_poll={tp(p): now - 30 for p in partitions},
        )
        self.clients = KafkaClients(self.admin, FakeProducer)
        self.clients.consumer, self.clients.producer = self.consumer, self.producer
        self.owned = OwnedPartitions()
        for p in partitions:
            self.owned.states[p] = PartitionState(p, self.config, closed_through=closed_through)
        self.checkpoint = Checkpoint(S, self.config, self.metrics, self.clients, self.owned, AccountBook(S), GROUP)

    def read(self, p: int, offset: int) -> None:
        """The loop read partition p up to ``offset``, caught up: the high watermark is there too,
        and its last fetch response came 30 ms ago."""
        self.consumer.highwaters[tp(p)] = self.consumer.positions[tp(p)] = offset
        self.consumer.last_poll[tp(p)] = self.now - 30
        self.checkpoint.store_offset(tp(p), offset, self.now - 1_000)

    def commit(self) -> None:
        asyncio.run(self.checkpoint.commit())

    def snapshot_due_on_partition_0(self) -> None:
        """A first commit schedules partition 0's first snapshot (of 2, 1 s interval) 500 ms later."""
        self.read(0, 1)
        self.commit()
        self.now = NOW + 500
        self.read(0, 2)

    def deleted(self) -> list[dict]:
        """Each delete_records request: {TopicPartition: before_offset}."""
        return [{tp_: r.before_offset for tp_, r in request.items()} for request in self.admin.requests]


def test_store_offset_keeps_the_next_offset_and_the_arrival_of_the_last_message():
    rig = Checkpoint(S, WindowConfig.from_settings(S), Metrics(), None, OwnedPartitions(), AccountBook(S), GROUP)
    rig.store_offset(tp(1), 42, 1234)
    rig.store_offset(tp(1), 50, 1300)
    assert rig.next_offsets == {tp(1): 50}
    assert rig.arrival_ms == {1: 1300}


def test_due_one_commit_interval_after_the_last_attempt(monkeypatch):
    rig = Rig(monkeypatch)
    assert rig.checkpoint.due(NOW) == NOW + 500  # attempted at construction: NOW
    rig.checkpoint.attempted(NOW + 40)
    assert rig.checkpoint.due(NOW + 50) == NOW + 540


def test_due_at_a_window_close_before_the_interval_ends(monkeypatch):
    close = MARK + WINDOW + GRACE  # the next close, 30 s after NOW
    rig = Rig(monkeypatch)
    rig.checkpoint.attempted(close - 100)
    assert rig.checkpoint.due(close - 90) == close + 150  # the close, and CLOSE_SLACK_MS for the fetch clocks


@pytest.mark.parametrize(("closed_through", "due"), [(MARK - WINDOW, 100), (MARK, 500)])
def test_right_after_a_close_due_again_soon_while_a_partition_has_not_closed(monkeypatch, closed_through, due):
    """500 ms after a close a partition still behind its mark is retried every FETCH_MAX_WAIT_MS (100)."""
    now = MARK + GRACE + 500
    rig = Rig(monkeypatch, closed_through=closed_through, now=now)
    rig.checkpoint.attempted(now - 10)
    assert rig.checkpoint.due(now) == now - 10 + due


def test_discard_drops_the_outbox_and_the_offsets_read(monkeypatch):
    rig = Rig(monkeypatch)
    rig.checkpoint.outbox.add(S.topic_dlq, b"k", b"v", 0)
    rig.read(0, 42)
    rig.checkpoint.discard()
    assert rig.checkpoint.outbox.records == []
    assert rig.checkpoint.next_offsets == {}
    rig.commit()
    assert rig.producer.transactions == []  # nothing left to commit


def test_commit_is_one_transaction_of_outbox_journal_and_offsets(monkeypatch):
    rig = Rig(monkeypatch)
    rig.checkpoint.outbox.add(S.topic_dlq, b"bad", b"{}", 1)
    rig.read(0, 42)
    rig.commit()
    assert rig.producer.events == ["begin", "commit"]
    [txn] = rig.producer.transactions
    assert [(topic, p, len(recs)) for topic, p, recs in txn.batches] == [(S.topic_dlq, 1, 1), (S.topic_state, 0, 1)]
    assert txn.batches[0][2] == [(b"bad", b"{}")]
    [(key, value)] = txn.batches[1][2]
    assert key is None
    assert orjson.loads(value) == {"q": 1, "o": 42, "c": MARK, "n": NOW - 30}  # clock: the last fetch
    assert txn.offsets == [({tp(0): 42}, GROUP)]
    assert rig.admin.requests == []  # no snapshot: the journal stays
    assert rig.checkpoint.next_offsets == {}
    assert rig.checkpoint.outbox.records == []


def test_nothing_to_send_and_no_offsets_runs_no_transaction(monkeypatch):
    rig = Rig(monkeypatch)
    rig.commit()
    assert rig.producer.transactions == [] and rig.producer.events == []


def test_a_close_without_new_input_recommits_the_offsets_the_state_holds(monkeypatch):
    rig = Rig(monkeypatch, partitions=(0, 1), closed_through=MARK - WINDOW)
    rig.owned.states[0].input_offset = 40
    rig.owned.states[1].input_offset = None  # never read: no offset to hold
    rig.commit()
    [txn] = rig.producer.transactions
    assert txn.outcome == "committed"
    assert txn.offsets == [({tp(0): 40}, GROUP)]
    assert sorted((topic, p) for topic, p, _ in txn.batches) == [(S.topic_state, 0), (S.topic_state, 1)]
    for _, _, [(_, value)] in txn.batches:
        assert orjson.loads(value) == {"q": 1, "c": MARK, "n": NOW - 30}  # the close, no new offset
    value = rig.metrics.registry.get_sample_value("engagement_window_closed_through_timestamp_seconds")
    assert value == MARK / 1000  # the close's gauges, after the commit


def test_a_snapshot_goes_in_the_transaction_then_the_journal_is_deleted_up_to_its_end(monkeypatch):
    """Snapshot interval 1 s over 2 partitions: a partition's first snapshot is due (p + 1) / 2 s
    after its first commit: partition 0 at +500 ms, partition 1 at +1000 ms."""
    rig = Rig(monkeypatch, partitions=(0, 1))
    rig.read(0, 10)
    rig.read(1, 20)
    rig.commit()
    rig.now = NOW + 500
    rig.read(0, 11)
    rig.commit()
    first, second = rig.producer.transactions
    assert not any(topic == S.topic_snapshots for topic, _, _ in first.batches)
    snapshots = [(p, recs) for topic, p, recs in second.batches if topic == S.topic_snapshots]
    assert [p for p, _ in snapshots] == [0]
    [(key, header)] = snapshots[0][1]  # an empty state: the header alone
    assert key == b"w"
    # "n": the worker's clock, partition 1's last fetch (the earlier of the two)
    assert orjson.loads(header) == {"q": 2, "c": MARK, "k": MARK, "o": 11, "n": NOW - 30, "i": None, "parts": 0}
    assert second.offsets == [({tp(0): 11}, GROUP)]
    assert rig.deleted() == [{TopicPartition(S.topic_state, 0): -1}]


def test_a_failed_truncation_is_only_logged(monkeypatch):
    rig = Rig(monkeypatch)
    rig.admin.fail_with = KafkaError("broker down")
    rig.snapshot_due_on_partition_0()
    rig.commit()  # does not raise
    assert [t.outcome for t in rig.producer.transactions] == ["committed", "committed"]
    assert rig.deleted() == [{TopicPartition(S.topic_state, 0): -1}]  # it was asked, and failed


@pytest.mark.parametrize("fail", ["commit", "send", "delivery"])
def test_a_failed_transaction_propagates_and_deletes_no_journal(monkeypatch, fail):
    """The delivery case: the broker refused a batch (a record too large): before its result was looked at,
    the transaction committed without the snapshot, and the journal behind it was deleted."""
    rig = Rig(monkeypatch)
    rig.snapshot_due_on_partition_0()
    error = KafkaError("transaction failed")
    {
        "commit": rig.producer.fail_next_commit,
        "send": rig.producer.fail_next_send,
        "delivery": rig.producer.fail_next_delivery,
    }[fail](error)
    with pytest.raises(KafkaError) as raised:
        rig.commit()
    assert raised.value is error
    failed = rig.producer.transactions[-1]
    if fail == "commit":  # the snapshot was in it, and did not commit
        assert failed.outcome == "failed"
        assert [p for topic, p, _ in failed.batches if topic == S.topic_snapshots] == [0]
    else:
        assert failed.outcome == "aborted"
    assert rig.admin.requests == []  # the journal is still needed


def test_forget_drops_a_partition_and_restarts_its_snapshot_schedule(monkeypatch):
    rig = Rig(monkeypatch, partitions=(0, 1))
    rig.read(0, 5)
    rig.read(1, 6)
    rig.commit()  # schedules partition 0's first snapshot at NOW + 500
    rig.checkpoint.forget(tp(0))
    assert rig.checkpoint.arrival_ms == {1: NOW - 1_000}
    rig.read(1, 7)
    rig.checkpoint.forget(tp(1))
    assert rig.checkpoint.next_offsets == {} and rig.checkpoint.arrival_ms == {}
    rig.now = NOW + 500
    rig.read(0, 8)
    rig.commit()  # partition 0 owned again: its schedule starts anew (NOW + 1000), no snapshot yet
    assert not any(topic == S.topic_snapshots for topic, _, _ in rig.producer.transactions[-1].batches)


def sample(metrics: Metrics, name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_counters_move_only_with_the_transaction_that_commits_the_work(monkeypatch):
    """A failed transaction is redone from the committed offsets (the engine's recovery: the work
    discarded, the state restored, the input read again): its counters must not move twice, so that
    consumed = counted + duplicate + rejected holds."""
    ts = MARK + 1_000  # in the window [MARK, MARK + WINDOW), open at NOW
    values = [event_value("e1", ts), event_value("e2", ts), event_value("e1", ts), b"{not json"]
    messages = [Message(i, NOW - 1_000, b"acct", v) for i, v in enumerate(values)]

    def fold_and_commit(rig: Rig) -> None:
        BatchFolder(S, rig.config, rig.checkpoint.outbox).fold(tp(0), fetched(messages), rig.owned.states, rig.now)
        rig.now = MARK + WINDOW + GRACE + 1_000  # the window closes at this commit
        rig.read(0, len(messages))
        rig.commit()

    rig = Rig(monkeypatch)
    rig.producer.fail_next_commit(KafkaError("the transaction failed"))
    with pytest.raises(KafkaError):
        fold_and_commit(rig)
    names = ("consumed", "counted", "duplicate")
    assert [sample(rig.metrics, f"engagement_events_{n}_total") for n in names] == [0, 0, 0]
    assert sample(rig.metrics, "engagement_window_records_total", scope="post", window="1m") == 0

    rig.checkpoint.discard()  # what the recovery does, then it restores the state as it committed
    rig.owned.states[0] = PartitionState(0, rig.config, closed_through=MARK)
    rig.now = NOW
    fold_and_commit(rig)
    consumed, counted, duplicate = (sample(rig.metrics, f"engagement_events_{n}_total") for n in names)
    rejected = sample(rig.metrics, "engagement_events_rejected_total", reason="malformed_json")
    assert (consumed, counted, duplicate, rejected) == (4, 2, 1, 1)
    assert consumed == counted + duplicate + rejected
    assert sample(rig.metrics, "engagement_window_records_total", scope="post", window="1m") == 1  # the post's window


def event_value(event_id: str, ts: int) -> bytes:
    return orjson.dumps(
        {"event_id": event_id, "type": "like", "ts": ts, "platform": "x", "account_id": "acct", "post_id": "p1"}
    )


def test_the_records_queued_for_a_transaction_take_their_size_not_a_serializer_buffer(monkeypatch):
    """A close queues tens of thousands of records until its transaction is sent: each must hold its
    bytes, not orjson's 4 KiB output buffer (streams.json_bytes)."""
    rig = Rig(monkeypatch)
    records = [{"post_id": f"p{i}", "account_id": "a1", "window_start": MARK, "likes": i} for i in range(1000)]
    mentions = {f"m{i}": {"account_id": "a1", "at": MARK} for i in range(1000)}
    result = Commit({"q": 1, "c": MARK}, records, records, records, mentions, [])
    sends: list = []
    tracemalloc.start()
    try:
        rig.checkpoint._add_records(0, result, sends)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    content = sum(len(value) for _, _, value, _ in sends)
    assert len(sends) == 4001
    assert held < content + 400 * len(sends)  # each value's header and its key; 4 KiB each before


def test_a_commit_lets_the_loop_run_between_partitions_and_the_gauges_of_a_close(monkeypatch):
    """Each partition's commit (a snapshot of a week's state takes about a second) and each step of
    the close's gauges give the loop a turn: heartbeats missed for a session get the worker fenced."""
    rig = Rig(monkeypatch, partitions=(0, 1, 2), closed_through=MARK - WINDOW)
    turns = LoopTurns()
    for p, state in rig.owned.states.items():
        turns.record(monkeypatch, state, "commit", f"commit {p}")
    gauges = rig.checkpoint.gauges
    turns.record(monkeypatch, gauges, "_post_gauges", "_post_gauges")
    turns.record(monkeypatch, gauges.early, "update", "early")
    turns.run(rig.checkpoint.commit())
    assert [name for name, _ in turns.calls] == ["commit 0", "commit 1", "commit 2", "_post_gauges", "early"]
    assert turns.each_call_after_a_turn(), turns.calls
