"""What real producers send, without a broker: Schema Registry framing, and record batches that cannot
be decoded (a codec missing, a payload corrupt) turned into one DLQ record instead of a dead worker.
The broker tests with Kafka's own console producer are in test_real_producers.py."""

from __future__ import annotations

import struct

import aiokafka.codec
import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.record.util import calc_crc32c

from streams.kafka.undecodable import UndecodableBatch, decode_ahead
from tests.fixtures.producers import ACCOUNT, NOW, event

CODEC_IDS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


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
