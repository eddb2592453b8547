"""The parts of a snapshot that change, each written only when its value changed since the snapshot
that wrote it last: so the bytes of a snapshot follow what the interval changed (its events, the posts
that matured), not the size of the state.

The open state is cut into parts along the lines its changes follow, ``S/<name>/<group>/<j>``:

    p  the open post windows, by window start and a shard of the post id (late events touch few)
    a  the open account buckets, by window start
    L  the young post lives, by the hour they were published in (old ones get few events)
    F  the final segments of the sealed lives, by sealed group
    b  the benchmark samples, by account (a close adds the samples of the few posts that matured)

A part's value is a journal-like entry without a sequence number (``{name: items}``, chunked as
``journal.chunks`` chunks, ``j`` numbering them), so an unchanged part has the same bytes as when it
was written and is still the state at a later snapshot. A part that went away is deleted. Which parts
the topic holds, and a digest of each, is kept (``ChangedParts``), and set from what a restore read.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator

import orjson

from . import journal
from .entries import Buckets
from .lifetimes import PostLifetimes
from .lives_format import encode_finals, encode_lives, encode_samples

PARTS_PREFIX = b"S/"
POST_SHARDS = 16  # post window parts per window start
LIVES_GROUP_MS = 3_600_000  # young lives: a part per hour of publication

Record = tuple[bytes, "bytes | None"]


def state_parts(posts: Buckets, accounts: Buckets, lifetimes: PostLifetimes) -> dict[bytes, bytes]:
    """Every part of the open state: key -> value."""
    parts: dict[bytes, bytes] = {}
    for name, group, items in _groups(posts, accounts, lifetimes):
        for j, chunk in enumerate(journal.chunks({name: items})):
            parts[PARTS_PREFIX + f"{name}/{group}/{j}".encode()] = orjson.dumps(chunk)
    return parts


def _groups(posts: Buckets, accounts: Buckets, lifetimes: PostLifetimes) -> Iterator[tuple[str, object, list]]:
    for start, bucket in posts.items():
        shards: dict[int, dict] = {}
        for post_id, entry in bucket.items():
            shards.setdefault(zlib.crc32(post_id.encode()) % POST_SHARDS, {})[post_id] = entry
        for shard, entries in shards.items():
            yield "p", f"{start}/{shard}", journal.encode_windows({start: entries}, {})["p"]
    for start, bucket in accounts.items():
        if bucket:
            yield "a", start, journal.encode_windows({}, {start: bucket})["a"]
    hours: dict[int, dict] = {}
    for post_id, life in lifetimes.lives.items():
        hours.setdefault(life.published_at - life.published_at % LIVES_GROUP_MS, {})[post_id] = life
    for hour, lives in hours.items():
        yield "L", hour, encode_lives(lives)
    for start, finals in lifetimes.sealed.finals.by_group():
        yield "F", start, encode_finals(lifetimes.sealed.groups[start], finals)
    for account_id, samples in lifetimes.samples.items():
        if len(samples):
            yield "b", account_id, encode_samples({account_id: samples})


class ChangedParts:
    """The parts the snapshot topic holds, by key, as digests of their values."""

    def __init__(self) -> None:
        self.digests: dict[bytes, bytes] = {}

    def records(self, parts: dict[bytes, bytes]) -> list[Record]:
        """The parts to write (changed or new) and the keys to delete (gone)."""
        records: list[Record] = [(key, None) for key in self.digests.keys() - parts.keys()]
        for key in [key for key, _ in records]:
            del self.digests[key]
        for key, value in parts.items():
            digest = _digest(value)
            if self.digests.get(key) != digest:
                self.digests[key] = digest
                records.append((key, value))
        return records

    def restored(self, parts: dict[bytes, bytes]) -> None:
        """What a restore read is what the topic holds."""
        self.digests = {key: _digest(value) for key, value in parts.items()}

    def __len__(self) -> int:
        return len(self.digests)


def _digest(value: bytes) -> bytes:
    return hashlib.blake2b(value, digest_size=16).digest()
