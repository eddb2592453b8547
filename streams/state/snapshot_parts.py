"""The parts of a snapshot that change, each written only when its value changed since the snapshot
that wrote it last: so the bytes of a snapshot follow what the interval changed (its events, the posts
that matured), not the size of the state.

The open state is cut into parts along the lines its changes follow, ``S/<name>/<group>/<j>``:

    p  the open post windows, by window start and a shard of the post id (late events touch few)
    a  the open account buckets, by window start
    L  the young post lives, by the hour they were published in and a shard of the post id
    F  the final segments of the sealed lives, by sealed group and a shard of the position in it
    b  the benchmark samples, by account (a close adds the samples of the few posts that matured)

Finals are sharded finely (FINALS_SHARDS): nearly every sealed group gets some event in an interval,
but few of its posts do; by group alone a week's plateau rewrote 2.9 MiB of them per interval, in 64
shards 0.7-0.8. Young lives are the other way round: at 5,000 events/s 94 % of them get an event in
an interval, so their parts are cut to hold YOUNG_LIVES_PER_PART to twice as many lives, which
compress together: in 64 shards per hour (3 lives a part) an interval's young lives took 2.97 MiB
compressed, in parts of 64 to 127 lives 1.42 MiB (7.0 MiB of JSON either way).

A part's value is a journal-like entry without a sequence number (``{name: items}``, chunked as
``journal.chunks`` chunks, ``j`` numbering them), so an unchanged part has the same bytes as when it
was written and is still the state at a later snapshot. A part that went away is deleted. Which parts
the topic holds, and a digest of each, is kept (``ChangedParts``), and set from what a restore read.
The parts are made and compared one at a time, so a snapshot holds the bytes of the changed ones
only, not the whole open state serialized.

A part is written compressed (streams.state.compression); its digest is of its JSON.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator

from .. import json_bytes
from . import journal
from .compression import compressed
from .entries import Buckets
from .lifetimes import PostLifetimes
from .lives_format import encode_finals, encode_lives, encode_samples

PARTS_PREFIX = b"S/"
POST_SHARDS = 16  # post window parts per window start
LIVES_GROUP_MS = 3_600_000  # young lives: parts per hour of publication
FINALS_SHARDS = 64  # final segments' parts per sealed group
YOUNG_LIVES_PER_PART = 64  # a young hour's lives per part, at least (fewer: the hour in one part)

Record = tuple[bytes, "bytes | None"]


def state_parts(posts: Buckets, accounts: Buckets, lifetimes: PostLifetimes) -> Iterator[tuple[bytes, bytes]]:
    """Every part of the open state, (key, value), made as it is asked for."""
    for name, group, items in _groups(posts, accounts, lifetimes):
        for j, chunk in enumerate(journal.chunks({name: items})):
            yield PARTS_PREFIX + f"{name}/{group}/{j}".encode(), json_bytes.dumps(chunk)


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
    for hour, hour_lives in hours.items():
        # the count changes as the hour fills: its parts are rewritten once, those past it deleted
        shard_count = max(1, len(hour_lives) // YOUNG_LIVES_PER_PART)
        by_shard: dict[int, dict] = {}
        for post_id, life in hour_lives.items():
            by_shard.setdefault(zlib.crc32(post_id.encode()) % shard_count, {})[post_id] = life
        for shard, lives in by_shard.items():
            yield "L", f"{hour}/{shard}", encode_lives(lives)
    for start, finals in lifetimes.sealed.finals.by_group():
        final_shards: dict[int, list] = {}
        for i, state in finals:
            final_shards.setdefault(i % FINALS_SHARDS, []).append((i, state))
        for shard, shard_finals in final_shards.items():
            yield "F", f"{start}/{shard}", encode_finals(lifetimes.sealed.groups[start], shard_finals)
    for account_id, samples in lifetimes.samples.items():
        if len(samples):
            yield "b", account_id, encode_samples({account_id: samples})


class ChangedParts:
    """The parts the snapshot topic holds, by key, as digests of their values."""

    def __init__(self) -> None:
        self.digests: dict[bytes, bytes] = {}

    def records(self, parts: Iterable[tuple[bytes, bytes]]) -> list[Record]:
        """The keys to delete (gone) and the parts to write (changed or new), of ``parts`` taken
        one at a time."""
        written: list[Record] = []
        seen: set[bytes] = set()
        for key, value in parts:
            seen.add(key)
            digest = _digest(value)
            if self.digests.get(key) != digest:
                self.digests[key] = digest
                written.append((key, compressed(value)))
        gone = sorted(self.digests.keys() - seen)
        for key in gone:
            del self.digests[key]
        return [(key, None) for key in gone] + written

    def restored(self, parts: dict[bytes, bytes]) -> None:
        """What a restore read is what the topic holds."""
        self.digests = {key: _digest(value) for key, value in parts.items()}

    def __len__(self) -> int:
        return len(self.digests)


def _digest(value: bytes) -> bytes:
    return hashlib.blake2b(value, digest_size=16).digest()
