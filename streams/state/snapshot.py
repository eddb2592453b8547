"""The snapshot format: a partition's whole state as records of the compacted snapshot topic, in the
partition that matches the input partition. A restore reads the latest value of each key, then the
journal entries committed after the snapshot (their sequence number ``q`` is higher), so restore
work is bounded by the snapshot interval, not by uptime.

Keys (compaction keeps the latest value of each):

    w        header: {"q", "c" close mark, "k" counting since, "o" input offset, "n" clock, "i" first input,
             "chunks": how many "w/<i>" records make this snapshot}
    w/<i>    chunk i: {"q", "p": post window entries, "a": account window entries} (journal.encode's
             layout; "L": whole post lives, "b": benchmark samples, streams.state.lifetimes), or {"q", "u": [bucket start, base64 fingerprints]}: a dedup bucket still filling
    d/<s>    a sealed dedup bucket (raw DedupMemory.bucket_blob), written once when it can receive no
             more ids and deleted (tombstone) when it expires: the largest part of the state is never
             written twice

All records of a snapshot are written in the transaction of the commit they describe, so a reader
sees a whole snapshot or the previous one. Chunks left over from a larger previous snapshot are
deleted in the same transaction.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import orjson

from . import journal

HEADER = b"w"
CHUNK_PREFIX = b"w/"
SEALED_PREFIX = b"d/"

Record = tuple[bytes, "bytes | None"]  # key, value (None: delete)


def sealed_key(start: int) -> bytes:
    return SEALED_PREFIX + str(start).encode()


def encode_windows(marks: dict, posts, accounts, lifetimes: dict, filling: dict[int, bytes],
                   previous_chunks: int) -> list[Record]:
    """The header and chunks of a snapshot; ``lifetimes``: {"L": lives, "b": samples}, encoded;
    ``filling``: dedup bucket start -> blob of the buckets not sealed yet. Deletes the chunks of a
    previous, larger snapshot."""
    q = marks["q"]
    state = {**journal.encode(posts, accounts), **{k: v for k, v in lifetimes.items() if v}}
    chunks = [{**chunk, "q": q} for chunk in journal.chunks(state)]
    chunks += [{"q": q, "u": [start, base64.b64encode(blob).decode()]} for start, blob in sorted(filling.items())]
    records = [(CHUNK_PREFIX + str(i).encode(), orjson.dumps(chunk)) for i, chunk in enumerate(chunks)]
    records += [(CHUNK_PREFIX + str(i).encode(), None) for i in range(len(chunks), previous_chunks)]
    records.append((HEADER, orjson.dumps({**marks, "chunks": len(chunks)})))
    return records


@dataclass
class Snapshot:
    header: dict | None = None  # None: no snapshot of this partition yet
    entry: dict = field(default_factory=dict)  # the windows and lives, as one journal-like entry
    filling: dict[int, bytes] = field(default_factory=dict)  # dedup bucket start -> blob
    sealed: dict[int, bytes] = field(default_factory=dict)


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
        for key, value in self._latest.items():
            if key.startswith(SEALED_PREFIX):
                out.sealed[int(key[len(SEALED_PREFIX):])] = value
        raw = self._latest.get(HEADER)
        if raw is None:
            return out
        out.header = orjson.loads(raw)
        for i in range(out.header["chunks"]):
            chunk = orjson.loads(self._latest[CHUNK_PREFIX + str(i).encode()])
            if chunk["q"] != out.header["q"]:
                raise ValueError(f"snapshot chunk {i} is of commit {chunk['q']}, its header of {out.header['q']}")
            if "u" in chunk:
                start, blob = chunk["u"]
                out.filling[start] = base64.b64decode(blob)
            for name in journal.DELTA_KEYS:
                out.entry.setdefault(name, []).extend(chunk.get(name, ()))
        return out
