"""A fetch's messages of one partition as columns: what the engine reads of a message, without an
object per message (aiokafka's getmany builds a ConsumerRecord per message, ~2 µs of it; lists of
bytes and ints are not even tracked by the garbage collector)."""

from __future__ import annotations


class Fetched:
    """Messages of one partition in offset order: the i-th message is (keys[i], values[i],
    offsets[i], timestamps[i]). A value may be an ``UndecodableBatch`` (``streams.kafka.undecodable``)."""

    __slots__ = ("keys", "values", "offsets", "timestamps")

    def __init__(self, keys: list, values: list, offsets: list[int], timestamps: list[int]):
        self.keys, self.values, self.offsets, self.timestamps = keys, values, offsets, timestamps

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, run: slice) -> Fetched:
        return Fetched(self.keys[run], self.values[run], self.offsets[run], self.timestamps[run])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fetched) and self.rows() == other.rows()

    def rows(self) -> list[tuple]:
        """(key, value, offset, timestamp) of each message."""
        return list(zip(self.keys, self.values, self.offsets, self.timestamps))

    def __repr__(self) -> str:
        return f"Fetched({self.rows()!r})"
