"""streams.engine.outbox: the next transaction's records, and how they are sent (record batches per
partition, a keyed record in its key's partition, a full batch sent and a new one started)."""

from __future__ import annotations

import asyncio
import random

from streams.engine.outbox import Outbox
from tests.fixtures.kafka_fakes import FakeProducer

# Kafka's own test vectors of its murmur2 (clients' UtilsTest.testMurmur2), as the Java client's signed ints.
JAVA_MURMUR2 = {b"21": -973932308, b"abc": 479470107, b"a-little-bit-long-string": -985981536}


def send(records, producer: FakeProducer, outbox: Outbox | None = None) -> list:
    """send_all in one transaction, as the checkpoint does; the batches it sent."""
    outbox = outbox or Outbox()

    async def go():
        async with producer.transaction() as txn:
            await outbox.send_all(producer, records)
        return txn.batches

    return asyncio.run(go())


def test_take_returns_what_was_added_in_order_and_empties_the_outbox():
    outbox = Outbox()
    outbox.add("dlq", b"k1", b"v1", 3)
    outbox.add("forward", b"k2", None)
    assert outbox.take() == [("dlq", b"k1", b"v1", 3), ("forward", b"k2", None, None)]
    assert outbox.take() == []
    assert outbox.records == []


def test_records_are_sent_in_one_batch_per_partition_in_their_order():
    records = [("t", b"a", b"1", 0), ("t", b"b", b"2", 1), ("u", b"c", b"3", 0), ("t", b"d", b"4", 0)]
    assert send(records, FakeProducer()) == [
        ("t", 0, [(b"a", b"1"), (b"d", b"4")]),
        ("t", 1, [(b"b", b"2")]),
        ("u", 0, [(b"c", b"3")]),
    ]


def test_a_keyed_record_goes_to_the_partition_of_its_key_by_the_java_partitioner():
    producer = FakeProducer(partition_counts={"metrics": 6})
    records = [("metrics", key, b"v", None) for key in JAVA_MURMUR2]
    expected = {(h & 0x7FFFFFFF) % 6: key for key, h in JAVA_MURMUR2.items()}
    assert sorted(expected) == [0, 2, 3]  # three keys, three partitions: a wrong hash would show
    batches = send(records, producer)
    assert {partition: recs for _, partition, recs in batches} == {p: [(key, b"v")] for p, key in expected.items()}


def test_the_partition_count_of_a_topic_is_asked_once():
    producer, outbox = FakeProducer(partition_counts={"metrics": 6}), Outbox()
    send([("metrics", b"21", b"1", None)], producer, outbox)
    send([("metrics", b"abc", b"2", None), ("other", b"x", b"3", 1)], producer, outbox)
    assert producer.partitions_asked == ["metrics"]


def test_a_keyless_record_without_a_partition_goes_to_a_random_one(monkeypatch):
    asked = []
    monkeypatch.setattr(random, "randrange", lambda n: asked.append(n) or n - 1)
    assert send([("dlq", None, b"v", None)], FakeProducer(partition_counts={"dlq": 3})) == [("dlq", 2, [(None, b"v")])]
    assert asked == [3]


def test_a_full_batch_is_sent_and_a_new_one_started_nothing_lost():
    records = [("t", str(i).encode(), b"v%d" % i, 0) for i in range(5)]
    batches = send(records, FakeProducer(batch_capacity=2))
    assert [(topic, partition, len(recs)) for topic, partition, recs in batches] == [
        ("t", 0, 2),
        ("t", 0, 2),
        ("t", 0, 1),
    ]
    assert [rec for _, _, recs in batches for rec in recs] == [(str(i).encode(), b"v%d" % i) for i in range(5)]
