"""Record batches a consumer cannot decode become one stand-in record, instead of an exception.

aiokafka decompresses a batch while ``getmany`` iterates it. A batch it cannot decompress (a codec
library missing, a codec it does not know, a payload that does not decompress) raises out of
``getmany``, the worker's loop dies, and a restarted worker fetches the same batch and dies again: a
crash loop on one producer's batch. With the fetcher guarded (``GuardedRecords``), such a batch yields ONE
record at its last offset whose value is an ``UndecodableBatch`` (empty bytes, which every JSON
reader rejects) saying which offsets, which codec and why; the consumer's position moves past the
batch, so the engine sends it to the DLQ and commits past it in its transaction.

The fetcher's records of a partition are wrapped in ``GuardedRecords`` by
``streams.kafka.aiokafka_fetch.guard_fetched_batches`` (the one place that reaches into the
fetcher). A batch's ``validate_crc()`` reads the batch's buffer, which decompressing replaces: so the
CRC is checked here, before the batch is decoded ahead.
"""

from __future__ import annotations

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


class UndecodableBatch(bytes):
    """The value of the record that stands for a batch that could not be decoded: empty bytes,
    carrying the batch's offsets, codec and the error."""

    first_offset: int
    last_offset: int
    codec: str
    error: str

    def __new__(cls, first_offset: int, last_offset: int, codec: str, error: str) -> UndecodableBatch:
        value = super().__new__(cls, b"")
        value.first_offset, value.last_offset, value.codec, value.error = first_offset, last_offset, codec, error
        return value

    @property
    def offsets(self) -> int:
        """Offsets the batch spans: its records, for a batch as a producer wrote it."""
        return self.last_offset - self.first_offset + 1

    def describe(self) -> str:
        return (
            f"record batch at offsets {self.first_offset}..{self.last_offset} ({self.offsets} records, "
            f"{self.codec}) could not be decoded: {self.error}; its records stay in the topic until its "
            "retention deletes them"
        )


class _StandIn:
    """What aiokafka reads of a record to build a ConsumerRecord."""

    __slots__ = ("offset", "timestamp", "timestamp_type", "key", "value", "checksum", "headers")

    def __init__(self, offset: int, timestamp: int, timestamp_type: int, value: UndecodableBatch):
        self.offset, self.timestamp, self.timestamp_type = offset, timestamp, timestamp_type
        self.key, self.value, self.checksum, self.headers = None, value, None, ()


class _DecodedBatch:
    """A compressed batch decoded ahead (its records, or the stand-in), with the batch's attributes.
    Its CRC was valid before decoding (decoding replaces the buffer the CRC is computed over)."""

    __slots__ = ("_batch", "_records")

    def __init__(self, batch, records: list):
        self._batch, self._records = batch, records

    def __getattr__(self, name: str):
        return getattr(self._batch, name)

    def __iter__(self):
        return iter(self._records)

    def validate_crc(self) -> bool:
        return True


def decode_ahead(batch):
    """A compressed batch decoded now, where a failure can be caught; other batches as they are."""
    if getattr(batch, "magic", 2) < 2 or not batch.compression_type:
        return batch  # uncompressed: nothing to decode ahead (Kafka 4 writes no v0/v1 batches)
    if not batch.validate_crc():  # as for any batch: aiokafka raises CorruptRecordException, fetches again
        return batch
    try:
        return _DecodedBatch(batch, list(batch))
    except Exception as exc:  # noqa: BLE001 - whatever the codec raised, the batch is undecodable
        last = batch.base_offset + batch.last_offset_delta
        value = UndecodableBatch(
            batch.base_offset, last, CODECS.get(batch.compression_type, "unknown"), f"{type(exc).__name__}: {exc}"
        )
        return _DecodedBatch(batch, [_StandIn(last, batch.max_timestamp, batch.timestamp_type, value)])


class GuardedRecords:
    """A fetch's record batches, each decoded ahead."""

    __slots__ = ("_records",)

    def __init__(self, records):
        self._records = records

    def has_next(self) -> bool:
        return self._records.has_next()

    def next_batch(self):
        batch = self._records.next_batch()
        return None if batch is None else decode_ahead(batch)
