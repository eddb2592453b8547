"""The state journal's format: one entry per partition per commit, written in the commit's
transaction to the partition of the state topic that matches the input partition.

An entry is a JSON object; every key but ``q`` is optional:

    q  the partition's commit sequence number (a snapshot says up to which entry it holds)
    p  [[window_start, post_id, account_id, platform, aggregate], ...]   post window deltas
    a  [[window_start, account_id, platform, aggregate], ...]            account window deltas
    l  [[post_id, meta or None, max_ts, [[segment, aggregate], ...]], ...]   post lifetime deltas
    b  [[account_id, post_id, platform, content_type, published_at, er], ...]  benchmark samples (posts matured)
    s  [arrival_ms, base64 of the fingerprints of the event ids first seen]   (dedup memory)
    c  the close mark after the commit
    n  the commit's clock: a replay expires the dedup memory as the commit did
    o  the next input offset the state has read up to
    i  the broker arrival time of the partition's first input (once, when it is read)

``aggregate`` is ``WindowAggregate.to_state()``; the lifetime formats are ``streams.state.lifetimes``'.
A large entry is split into several messages (``chunks``); the marks travel in the last one, so that
a replay applies every delta before the close, exactly as the commit did. What an entry *means*
(merge, close, expire) is ``streams.state.replay``'s. Entries older than the latest snapshot are deleted.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..model.aggregates import WindowAggregate
from .entries import AccountEntry, Buckets, PostEntry
from .lives_format import decode_delta
from .post_life import LifeDelta

CHUNK_KEYS = 4000  # window keys per journal message, to stay well under the message size limit
DELTA_KEYS = ("p", "a", "l", "b", "L", "F")  # "L": young post lives, "F": sealed ones' final segments: snapshots only
MARK_KEYS = ("s", "c", "n", "o", "i")


@dataclass
class JournalEntry:
    posts: Buckets = field(default_factory=dict)
    accounts: Buckets = field(default_factory=dict)
    seq: int = 0
    seen: tuple[int, bytes] | None = None  # (arrival_ms, fingerprints) remembered by the commit
    close_mark: int | None = None
    committed_at: int | None = None
    input_offset: int | None = None
    first_input_ms: int | None = None
    lives: dict[str, LifeDelta] = field(default_factory=dict)
    samples: list = field(default_factory=list)


def encode_windows(posts: Buckets, accounts: Buckets) -> dict:
    """The window part of an entry ("p", "a"); a snapshot's window chunks have the same layout."""
    entry = {}
    if posts:
        entry["p"] = [
            [start, key, e.account_id, e.platform, e.agg.to_state()]
            for start, bucket in posts.items()
            for key, e in bucket.items()
        ]
    if accounts:
        entry["a"] = [
            [start, key, e.platform, e.agg.to_state()]
            for start, bucket in accounts.items()
            for key, e in bucket.items()
        ]
    return entry


def encode(
    windows: dict,
    *,
    seq: int,
    close_mark: int,
    clock: int,
    lives: list | None = None,
    samples: list | None = None,
    seen: tuple[int, bytes] | None = None,
    input_offset: int | None = None,
    first_input_ms: int | None = None,
) -> dict:
    """One commit's entry: its windows (``encode_windows``), the encoded lifetime delta and samples,
    the dedup ids it remembered (arrival ms, fingerprints), and its marks. A replay must know the
    close mark even when the commit kept it, and the clock, to expire the dedup memory as it did."""
    entry = dict(windows)
    if lives:
        entry["l"] = lives
    if input_offset is not None:
        entry["o"] = input_offset
    if first_input_ms is not None:
        entry["i"] = first_input_ms
    if seen is not None:
        entry["s"] = [seen[0], base64.b64encode(seen[1]).decode()]
    if samples:
        entry["b"] = samples
    entry.update(c=close_mark, n=clock, q=seq)
    return entry


def chunks(entry: dict) -> Iterator[dict]:
    """An entry as messages of at most about CHUNK_KEYS keys each; the marks in the last one, the
    sequence number in each (a restore skips the messages of entries a snapshot holds)."""
    common = {"q": entry["q"]} if "q" in entry else {}
    chunk: dict = dict(common)
    size = 0
    for name in DELTA_KEYS:
        items = entry.get(name, ())
        for start in range(0, len(items), CHUNK_KEYS):
            part = items[start : start + CHUNK_KEYS]
            if size + len(part) > CHUNK_KEYS and size:
                yield chunk
                chunk, size = dict(common), 0
            chunk[name] = part
            size += len(part)
    chunk.update((name, entry[name]) for name in MARK_KEYS if name in entry)
    if len(chunk) > len(common):
        yield chunk


def decode(entry: dict) -> JournalEntry:
    seen = entry.get("s")
    decoded = JournalEntry(
        seq=entry["q"],
        seen=None if seen is None else (seen[0], base64.b64decode(seen[1])),
        close_mark=entry.get("c"),
        committed_at=entry.get("n"),
        input_offset=entry.get("o"),
        first_input_ms=entry.get("i"),
        lives=decode_delta(entry.get("l", ())),
        samples=entry.get("b", []),
    )
    for start, post_id, account_id, platform, state in entry.get("p", ()):
        decoded.posts.setdefault(start, {})[post_id] = PostEntry(
            account_id, platform, WindowAggregate.from_state(state)
        )
    for start, account_id, platform, state in entry.get("a", ()):
        decoded.accounts.setdefault(start, {})[account_id] = AccountEntry(platform, WindowAggregate.from_state(state))
    return decoded
