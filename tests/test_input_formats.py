"""What real producers send, without a broker: Schema Registry framing, and record batches that cannot
be decoded (a codec missing, a payload corrupt) turned into one DLQ record instead of a dead worker.
The broker tests with Kafka's own console producer are in test_real_producers.py."""

from __future__ import annotations

import base64
import struct
from collections import Counter, namedtuple

import aiokafka.codec
import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.record.util import calc_crc32c
from hypothesis import given, strategies as st

from streams.engine.fold import BatchFolder
from streams.engine.outbox import Outbox
from streams.kafka.partitioner import partition_for
from streams.kafka.undecodable import UndecodableBatch, decode_ahead
from streams.metrics import Metrics
from streams.settings import Settings
from streams.state import PartitionState, WindowConfig
from streams.validation.framing import unframe

Message = namedtuple("Message", "offset timestamp key value")
NOW = 1_700_000_000_000
SETTINGS = Settings.from_env({})
CFG = WindowConfig.from_settings(SETTINGS)
ACCOUNT = "acct-1"
TP = TopicPartition(SETTINGS.topic_interactions, partition_for(ACCOUNT, SETTINGS.topic_partitions))
CODEC_IDS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def event(i: int, type_: str = "like") -> bytes:
    return orjson.dumps(
        {
            "event_id": f"e{i}",
            "type": type_,
            "ts": NOW - 1000,
            "platform": "instagram",
            "account_id": ACCOUNT,
            "post_id": f"p{i % 3}",
        }
    )


def framed(payload: bytes, schema_id: int) -> bytes:
    """Confluent's wire format, written from its documentation: magic byte 0, big-endian schema id."""
    return b"\x00" + struct.pack(">I", schema_id) + payload


def fold(values: list[bytes], first_offset: int = 0):
    """Fold one slice of messages into a fresh partition: (metrics, the DLQ records)."""
    metrics, outbox = Metrics(), Outbox()
    folder = BatchFolder(SETTINGS, CFG, outbox, metrics)
    state = PartitionState(TP.partition, CFG, closed_through=CFG.close_mark(NOW))
    messages = [Message(first_offset + i, NOW, ACCOUNT.encode(), value) for i, value in enumerate(values)]
    folder.fold(TP, messages, state, NOW)
    dlq = [orjson.loads(value) for topic, _, value, _ in outbox.records if topic == SETTINGS.topic_dlq]
    return metrics, dlq


def sample(metrics: Metrics, name: str, **labels) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


# -- Schema Registry framing ---------------------------------------------------------------------
def test_unframed_values_come_back_as_they_are():
    values = [event(1), event(2), None]
    assert unframe(values) == (values, 0)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 2**32 - 1)), min_size=1, max_size=30))
def test_each_framed_value_loses_exactly_its_five_byte_header(choices):
    payloads = [event(i) for i in range(len(choices))]
    values = [framed(p, sid) if is_framed else p for p, (is_framed, sid) in zip(payloads, choices)]
    assert unframe(values) == (payloads, sum(is_framed for is_framed, _ in choices))


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


# -- record batches that cannot be decoded ----------------------------------------------------------
def batch_bytes(codec: str, values: list[bytes], base_offset: int = 0) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=CODEC_IDS.get(codec, 0),
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for i, value in enumerate(values):
        builder.append(i, timestamp=NOW + i, key=ACCOUNT.encode(), value=value, headers=[])
    buffer = bytearray(builder.build())
    struct.pack_into(">q", buffer, 0, base_offset)  # the broker assigns offsets; the CRC does not cover them
    return bytes(buffer)


def corrupt_payload(buffer: bytes) -> bytes:
    """Compressed bytes that do not decompress, under a valid CRC (as a producer's bug would write)."""
    data = bytearray(buffer)
    for i in range(70, len(data) - 4):
        data[i] ^= 0x5A
    crc = calc_crc32c(bytes(data[21:]))  # CRC-32C from the attributes on (KIP-98)
    struct.pack_into(">I", data, 17, crc)
    return bytes(data)


def only_batch(buffer: bytes):
    return MemoryRecords(buffer).next_batch()


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_a_compressed_batch_decodes_ahead_to_its_records(codec):
    values = [event(i) for i in range(5)]
    records = list(decode_ahead(only_batch(batch_bytes(codec, values, base_offset=40))))
    assert [(r.offset, r.value) for r in records] == list(zip(range(40, 45), values))


def test_an_uncompressed_batch_is_left_to_aiokafka():
    batch = only_batch(batch_bytes("none", [event(1)]))
    assert decode_ahead(batch) is batch


def test_a_batch_whose_codec_is_missing_becomes_one_stand_in(monkeypatch):
    batch = only_batch(batch_bytes("lz4", [event(i) for i in range(7)], 100))
    monkeypatch.setattr(aiokafka.codec, "has_lz4", lambda: False)  # as in a virtualenv without cramjam
    (stand_in,) = list(decode_ahead(batch))
    value = stand_in.value
    assert isinstance(value, UndecodableBatch) and value == b""
    assert (stand_in.offset, value.first_offset, value.last_offset, value.codec) == (106, 100, 106, "lz4")
    assert "UnsupportedCodecError" in value.error


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_a_corrupt_compressed_payload_becomes_one_stand_in(codec):
    (stand_in,) = list(decode_ahead(only_batch(corrupt_payload(batch_bytes(codec, [event(i) for i in range(9)], 7)))))
    assert (stand_in.value.first_offset, stand_in.value.last_offset, stand_in.value.codec) == (7, 15, codec)


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
