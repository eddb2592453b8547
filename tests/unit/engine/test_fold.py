"""What real producers send, without a broker: Schema Registry framing, and record batches that cannot
be decoded (a codec missing, a payload corrupt) turned into one DLQ record instead of a dead worker.
The broker tests with Kafka's own console producer are in test_real_producers.py."""

from __future__ import annotations

import base64
from collections import Counter

import orjson
import pytest
from aiokafka import TopicPartition

from streams.engine.fold import BatchFolder
from streams.engine.outbox import Outbox
from streams.kafka.partitioner import partition_for
from streams.kafka.undecodable import UndecodableBatch
from streams.metrics import Metrics
from streams.settings import Settings
from streams.state import PartitionState, WindowConfig
from tests.fixtures.fetched import Message, fetched
from tests.fixtures.producers import ACCOUNT, NOW, event, framed

SETTINGS = Settings.from_env({})
CFG = WindowConfig.from_settings(SETTINGS)
TP = TopicPartition(SETTINGS.topic_interactions, partition_for(ACCOUNT, SETTINGS.topic_partitions))


def fold(values: list[bytes], first_offset: int = 0):
    """Fold one slice of messages into a fresh partition, and commit it: (metrics, the DLQ records)."""
    metrics, outbox = Metrics(), Outbox()
    folder = BatchFolder(SETTINGS, CFG, outbox)
    state = PartitionState(TP.partition, CFG, closed_through=CFG.close_mark(NOW))
    messages = [Message(first_offset + i, NOW, ACCOUNT.encode(), value) for i, value in enumerate(values)]
    folder.fold(TP, fetched(messages), {TP.partition: state}, NOW)
    for tally in outbox.take_tallies():  # as the checkpoint does once the transaction has committed
        metrics.add_batch(tally)
    dlq = [orjson.loads(value) for topic, _, value, _ in outbox.records if topic == SETTINGS.topic_dlq]
    return metrics, dlq


def sample(metrics: Metrics, name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize("schema_ids", [(1, 2, 3), (10, 0x0A0A0A0A, 13), (0, 2**32 - 1, 0x7B)])
def test_framed_and_unframed_events_mixed_count_exactly(schema_ids):
    """Schema ids whose bytes are newlines or braces too: the slice decoder joins values by newlines."""
    values, types = [], Counter()
    for i in range(30):
        type_ = ("like", "comment", "share")[i % 3]
        types[type_] += 1
        payload = event(i, type_)
        values.append(framed(payload, schema_ids[i % 3]) if i % 2 else payload)
    metrics, dlq = fold(values)
    assert dlq == []
    assert sample(metrics, "engagement_events_counted_total") == 30
    assert sample(metrics, "engagement_input_framed_messages_total") == 15
    for type_, n in types.items():
        assert sample(metrics, "engagement_interactions_total", platform="instagram", type=type_) == n


def test_a_framed_payload_that_is_not_json_says_so_in_the_dlq():
    avro_like = framed(b"\x02\x08acct\x10", 42)
    metrics, dlq = fold([event(1), avro_like, b"\x00\x00\x01", framed(event(2), 7)])
    assert sample(metrics, "engagement_events_counted_total") == 2
    assert sample(metrics, "engagement_events_rejected_total", reason="malformed_json") == 2
    by_offset = {record["source"]["offset"]: record for record in dlq}
    assert sorted(by_offset) == [1, 2]
    assert "schema id 42" in by_offset[1]["error"] and "not JSON" in by_offset[1]["error"]
    assert base64.b64decode(by_offset[1]["original_b64"]) == avro_like  # the message as it came
    assert "fewer than its 5-byte header" in by_offset[2]["error"]


def test_a_framed_event_that_breaks_the_schema_is_rejected_for_its_field():
    bad = orjson.dumps({"event_id": "x", "type": "like", "ts": NOW, "platform": "instagram", "post_id": "p"})
    metrics, dlq = fold([framed(bad, 3)])
    assert [record["reason"] for record in dlq] == ["schema:account_id"]
    assert base64.b64decode(dlq[0]["original_b64"]) == bad


def test_an_undecodable_batch_is_one_dlq_record_with_its_offsets_and_the_rest_counts():
    stand_in = UndecodableBatch(50, 57, "lz4", "UnsupportedCodecError: Libraries for lz4 compression codec not found")
    metrics, dlq = fold([event(1), stand_in, event(2)], first_offset=56)
    assert sample(metrics, "engagement_events_counted_total") == 2
    assert sample(metrics, "engagement_events_consumed_total") == 3
    assert sample(metrics, "engagement_events_rejected_total", reason="undecodable_batch") == 1
    assert sample(metrics, "engagement_input_undecodable_records_total", codec="lz4") == 8
    (record,) = dlq
    assert record["reason"] == "undecodable_batch"
    assert record["source"]["partition"] == TP.partition and record["source"]["offset"] == 50
    assert "offsets 50..57 (8 records, lz4)" in record["error"] and "UnsupportedCodecError" in record["error"]


def test_the_fold_moves_no_counter_before_its_input_commits():
    """The fold's tallies wait in the outbox for the transaction: a batch redone after a failed one
    must not count twice (the checkpoint applies them once committed, tests/unit/engine/test_checkpoint.py)."""
    metrics, outbox = Metrics(), Outbox()
    state = PartitionState(TP.partition, CFG, closed_through=CFG.close_mark(NOW))
    BatchFolder(SETTINGS, CFG, outbox).fold(
        TP, fetched([Message(0, NOW, ACCOUNT.encode(), event(1))]), {TP.partition: state}, NOW
    )
    assert sample(metrics, "engagement_events_consumed_total") == 0
    assert sample(metrics, "engagement_events_counted_total") == 0
    [tally] = outbox.take_tallies()
    assert (tally.consumed, tally.counted) == (1, 1)


OTHER = TopicPartition(SETTINGS.topic_interactions, (TP.partition + 1) % SETTINGS.topic_partitions)


def misrouted(states: dict[int, PartitionState]) -> tuple[Outbox, list]:
    """Two events of ACCOUNT (whose partition is TP's) read in another partition, as a producer whose
    partitioner is not murmur2 places them: (the outbox, the records it holds)."""
    outbox = Outbox()
    messages = [Message(i, NOW, ACCOUNT.encode(), event(i)) for i in range(2)]
    BatchFolder(SETTINGS, CFG, outbox).fold(OTHER, fetched(messages), states, NOW)
    return outbox, outbox.take()


def test_an_event_read_in_another_partition_of_this_worker_is_folded_into_its_own_at_once():
    """Not forwarded through Kafka: read again later in its own partition, it could find its window
    closed by then (a backlog read after an outage), though it reached Kafka on time."""
    home = PartitionState(TP.partition, CFG, closed_through=CFG.close_mark(NOW))
    other = PartitionState(OTHER.partition, CFG, closed_through=CFG.close_mark(NOW))
    outbox, records = misrouted({TP.partition: home, OTHER.partition: other})
    assert records == []
    [tally] = outbox.take_tallies()
    assert (tally.consumed, tally.counted, tally.forwarded) == (2, 2, 0)
    [bucket] = home.delta_posts.values()
    assert sum(sum(entry.agg.counts) for entry in bucket.values()) == 2
    assert other.delta_posts == {}


def test_an_event_of_a_partition_another_worker_owns_is_forwarded_there():
    other = PartitionState(OTHER.partition, CFG, closed_through=CFG.close_mark(NOW))
    outbox, records = misrouted({OTHER.partition: other})
    assert [(topic, key, partition) for topic, key, _, partition in records] == [
        (SETTINGS.topic_interactions, ACCOUNT.encode(), TP.partition)
    ] * 2
    [tally] = outbox.take_tallies()
    assert (tally.consumed, tally.counted, tally.forwarded) == (0, 0, 2)  # consumed when read there


def test_a_misrouted_event_is_late_by_its_own_partitions_windows():
    home = PartitionState(TP.partition, CFG, closed_through=CFG.close_mark(NOW) + 10 * CFG.window_ms)
    other = PartitionState(OTHER.partition, CFG, closed_through=CFG.close_mark(NOW))
    outbox, records = misrouted({TP.partition: home, OTHER.partition: other})
    late = [orjson.loads(value) for topic, _, value, _ in records if topic == SETTINGS.topic_dlq]
    assert [(r["reason"], r["source"]["partition"]) for r in late] == [("late", OTHER.partition)] * 2
