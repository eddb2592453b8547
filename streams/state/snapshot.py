"""The snapshot format: a partition's whole state as records of the compacted snapshot topic, in the
partition that matches the input partition. A restore reads the latest value of each key, then the
journal entries committed after the snapshot (their sequence number ``q`` is higher), so restore
work is bounded by the snapshot interval, not by uptime.

Keys (compaction keeps the latest value of each):

    w        header: {"q", "c" close mark, "k" counting since, "o" input offset, "n" clock, "i" first input,
             "parts": how many "S/" records make this snapshot}
    S/<name>/<group>/<j>  a part of the open state (streams.state.snapshot_parts): the post and account
             windows still open, the young lives ("L"), the sealed ones' final segments ("F"), the
             benchmark samples ("b"); each written when its value changed, deleted when it went away
    w/<i>    chunk i of a snapshot of earlier releases (header "chunks"): the whole open state, read
             and deleted by the next snapshot
    P/<s>/<j>  part j of a group of sealed post lives (published in [s, s + first age), each past its
             last-but-one age; streams.state.lives_records): written once in the first snapshot after
             it is sealed (again only if a life started late joins it), deleted when its benchmark
             period is over. The chunks carry the young lives ("L") and the sealed ones' final
             segments ("F"): a snapshot's size follows the young posts and the events, not the 14
             days of lives and tombstones. (A snapshot without "P/" records holds every life in "L".)
    a/<s>    a sealed account bucket (streams.state.sealed_accounts_format): written once when the close mark passes
             its end, deleted when it leaves the rolling window; the chunks hold the open ones only
    d/<s>/<j>  part j of dedup bucket s: the ids it got since the snapshot before (raw,
             DedupMemory.take_unwritten), so each id is written once; all of them deleted (key
             tombstones) when the bucket expires. (``d/<s>``, a whole bucket in one record, is still read.)

A bucket's ids are written in parts of at most BLOB_PART_IDS ids, so that no record nears the topic's
message limit however hot the partition (one record per bucket passed 16 MiB above about 17,500
events/s on one partition).

The "S/" parts and the "a/" buckets are written compressed (streams.state.compression).

All records of a snapshot are written in the transaction of the commit they describe, so a reader
sees a whole snapshot or the previous one: the parts written then and those unchanged since.
``SnapshotWriter`` writes them, ``SnapshotReader`` reads them back; ``streams.state.replay`` loads
what it read into a partition's state.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import orjson

from . import journal
from .compression import decompressed
from .dedup import DedupMemory
from .entries import Buckets
from .lifetimes import PostLifetimes
from .lives_records import LIVES_PREFIX, SealedLivesRecords, parse_lives_key
from .sealed_accounts_format import ACCOUNT_BUCKET_PREFIX, SealedBucketRecords
from .snapshot_parts import PARTS_PREFIX, ChangedParts, state_parts

HEADER = b"w"
CHUNK_PREFIX = b"w/"
SEALED_PREFIX = b"d/"

Record = tuple[bytes, "bytes | None"]  # key, value (None: delete)


def sealed_key(start: int, part: int) -> bytes:
    return SEALED_PREFIX + f"{start}/{part}".encode()


class SnapshotWriter:
    """What of a partition's state the snapshot topic holds: the sealed dedup buckets (each written
    once), the parts of the open state, and the chunks of an earlier release's snapshot, if any."""

    def __init__(self) -> None:
        self.dedup_keys: dict[int, list[bytes]] = {}  # dedup bucket start -> the keys of its records
        self.parts = ChangedParts()
        self.chunks = 0  # "w/<i>" records of an earlier release's snapshot, deleted by the next one
        self.lives = SealedLivesRecords()  # the sealed post lives' records
        self.account_buckets = SealedBucketRecords()  # the sealed account buckets, each written once

    def expire(self, dedup: DedupMemory, clock: int) -> tuple[list[Record], bool]:
        """Drop the dedup buckets beyond the horizon, and delete their records; (the records, whether
        any bucket expired)."""
        expired = dedup.expire(clock)
        return [(key, None) for start in expired for key in self.dedup_keys.pop(start, ())], bool(expired)

    def dedup_records(self, dedup: DedupMemory) -> list[Record]:
        """The ids remembered since the last snapshot, as more parts of their buckets."""
        records: list[Record] = []
        for start, blobs in dedup.take_unwritten().items():
            keys = self.dedup_keys.setdefault(start, [])
            for blob in blobs:
                keys.append(sealed_key(start, len(keys)))
                records.append((keys[-1], blob))
        return records

    def whole(
        self,
        *,
        seq: int,
        close_mark: int,
        counting_since: int | None,
        input_offset: int | None,
        clock: int,
        first_input_ms: int | None,
        posts: Buckets,
        accounts: Buckets,
        lifetimes: PostLifetimes,
        dedup: DedupMemory,
    ) -> list[Record]:
        """The records of a snapshot of the whole state: the dedup ids and sealed lives new since the
        last one, the parts of the open state that changed, and the header."""
        marks = {"q": seq, "c": close_mark, "k": counting_since, "o": input_offset, "n": clock, "i": first_input_ms}
        records = self.dedup_records(dedup)
        records += self.lives.records(lifetimes.sealed)
        records += self.parts.records(state_parts(posts, accounts, lifetimes))
        records += [(CHUNK_PREFIX + str(i).encode(), None) for i in range(self.chunks)]
        self.chunks = 0
        records.append((HEADER, orjson.dumps({**marks, "parts": len(self.parts)})))
        return records


@dataclass
class Snapshot:
    header: dict | None = None  # None: no snapshot of this partition yet
    entry: dict = field(default_factory=dict)  # the windows and lives, as one journal-like entry
    filling: dict[int, list[bytes]] = field(default_factory=dict)  # an earlier release's: bucket start -> its parts
    sealed: dict[int, list[bytes]] = field(default_factory=dict)  # bucket start -> its parts, in order
    sealed_keys: dict[int, list[bytes]] = field(default_factory=dict)  # bucket start -> their record keys
    lives: dict[int, list[bytes]] = field(default_factory=dict)  # sealed post lives: group start -> its parts
    lives_keys: dict[int, list[bytes]] = field(default_factory=dict)  # group start -> their record keys
    account_buckets: dict[int, bytes] = field(default_factory=dict)  # sealed account bucket start -> its record
    parts: dict[bytes, bytes] = field(default_factory=dict)  # the open state's parts: key -> value


class SnapshotReader:
    """Collects a snapshot partition's records in offset order; ``snapshot()`` decodes the latest."""

    def __init__(self):
        self._latest: dict[bytes, bytes] = {}

    def add(self, key: bytes, value: bytes | None) -> None:
        if value is None:
            self._latest.pop(key, None)
        else:
            self._latest[key] = value

    def snapshot(self) -> Snapshot:
        out = Snapshot()
        sealed: dict[int, list[tuple[int, bytes, bytes]]] = {}
        lives: dict[int, list[tuple[int, bytes, bytes]]] = {}
        for key, value in self._latest.items():
            if key.startswith(SEALED_PREFIX):
                bucket, _, part = key[len(SEALED_PREFIX) :].partition(b"/")
                sealed.setdefault(int(bucket), []).append((int(part or 0), key, value))
            elif key.startswith(LIVES_PREFIX):
                group, number = parse_lives_key(key)
                lives.setdefault(group, []).append((number, key, value))
            elif key.startswith(ACCOUNT_BUCKET_PREFIX):
                out.account_buckets[int(key[len(ACCOUNT_BUCKET_PREFIX) :])] = value
        for start, parts in lives.items():
            parts.sort()
            out.lives[start] = [value for _, _, value in parts]
            out.lives_keys[start] = [key for _, key, _ in parts]
        for start, parts in sealed.items():
            parts.sort()
            out.sealed[start] = [value for _, _, value in parts]
            out.sealed_keys[start] = [key for _, key, _ in parts]
        raw = self._latest.get(HEADER)
        if raw is None:
            return out
        out.header = orjson.loads(raw)
        out.parts = {key: decompressed(value) for key, value in self._latest.items() if key.startswith(PARTS_PREFIX)}
        if "chunks" in out.header:
            chunks = [self._chunk(i, out.header["q"]) for i in range(out.header["chunks"])]
        elif len(out.parts) != out.header["parts"]:
            raise ValueError(
                f"snapshot of commit {out.header['q']}: {len(out.parts)} parts, its header says {out.header['parts']}"
            )
        else:
            chunks = [orjson.loads(value) for value in out.parts.values()]
        for chunk in chunks:
            if "u" in chunk:
                start, blob = chunk["u"]
                out.filling.setdefault(start, []).append(base64.b64decode(blob))
            for name in journal.DELTA_KEYS:
                out.entry.setdefault(name, []).extend(chunk.get(name, ()))
        return out

    def _chunk(self, i: int, q: int) -> dict:
        chunk = orjson.loads(self._latest[CHUNK_PREFIX + str(i).encode()])
        if chunk["q"] != q:
            raise ValueError(f"snapshot chunk {i} is of commit {chunk['q']}, its header of {q}")
        return chunk
