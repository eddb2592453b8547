"""The state journal's format: one entry per partition per commit, written in the commit's
transaction to the partition of the state topic that matches the input partition.

An entry is a JSON object; every key is optional:

    p  [[window_start, post_id, account_id, platform, aggregate], ...]   post window deltas
    a  [[window_start, account_id, platform, aggregate], ...]            account window deltas
    s  [[event_id, seen_at_ms], ...]                                     event ids first seen
    c  the close mark after the commit
    n  the commit's time: a replay expires the dedup memory as the commit did
    o  the next input offset the state has read up to

``aggregate`` is ``WindowAggregate.to_state()``. A large entry is split into several messages
(``chunks``); the close mark, time and offset travel in the last one, so that a replay applies every
delta before the close, exactly as the commit did. What an entry *means* (merge, close, expire) is
``PartitionState.apply_journal``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from ..model.aggregates import WindowAggregate

CHUNK_KEYS = 4000  # window keys per journal message, to stay well under the message size limit
DELTA_KEYS = ("p", "a", "s")
MARK_KEYS = ("c", "n", "o")

# Window buckets: {window_start_ms: {key: entry}}. A post entry is [account_id, platform, aggregate],
# an account entry [platform, aggregate]; the owner fields ride along so that records need no lookup.
Buckets = dict


@dataclass
class JournalEntry:
    posts: Buckets = field(default_factory=dict)
    accounts: Buckets = field(default_factory=dict)
    seen: list = field(default_factory=list)  # [(event_id, seen_at_ms)], in first-seen order
    close_mark: int | None = None
    committed_at: int | None = None
    input_offset: int | None = None


def encode(posts: Buckets, accounts: Buckets, seen: list) -> dict:
    """The delta part of an entry (the caller adds c, n and o)."""
    entry = {}
    if posts:
        entry["p"] = [[start, key, *owner, agg.to_state()]
                      for start, bucket in posts.items() for key, (*owner, agg) in bucket.items()]
    if accounts:
        entry["a"] = [[start, key, platform, agg.to_state()]
                      for start, bucket in accounts.items() for key, (platform, agg) in bucket.items()]
    if seen:
        entry["s"] = seen
    return entry


def chunks(entry: dict) -> Iterator[dict]:
    """An entry as messages of at most about CHUNK_KEYS keys each; the marks in the last one."""
    chunk: dict = {}
    size = 0
    for name in DELTA_KEYS:
        items = entry.get(name, ())
        for start in range(0, len(items), CHUNK_KEYS):
            part = items[start:start + CHUNK_KEYS]
            if size + len(part) > CHUNK_KEYS and chunk:
                yield chunk
                chunk, size = {}, 0
            chunk[name] = part
            size += len(part)
    chunk.update((name, entry[name]) for name in MARK_KEYS if name in entry)
    if chunk:
        yield chunk


def decode(entry: dict) -> JournalEntry:
    decoded = JournalEntry(seen=entry.get("s", []), close_mark=entry.get("c"),
                           committed_at=entry.get("n"), input_offset=entry.get("o"))
    for start, post_id, account_id, platform, state in entry.get("p", ()):
        decoded.posts.setdefault(start, {})[post_id] = [account_id, platform, WindowAggregate.from_state(state)]
    for start, account_id, platform, state in entry.get("a", ()):
        decoded.accounts.setdefault(start, {})[account_id] = [platform, WindowAggregate.from_state(state)]
    return decoded
