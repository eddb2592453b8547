"""Rebuilding a partition's state from what committed: the latest snapshot, then each journal entry
written after it. Replaying an entry redoes exactly the merges, closes and expiries of the commit
that wrote it, without emitting anything, so a restarted or rebalanced worker neither loses a window
nor publishes one twice. The formats are ``streams.state.snapshot``'s and ``streams.state.journal``'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import journal
from .closing import drop_closed, seal_closed
from .entries import merge_buckets
from .lives_format import add_samples, decode_lives, load_sealed
from .sealed_accounts_format import decode_bucket
from .snapshot import Snapshot

if TYPE_CHECKING:
    from .partition import PartitionState


def load_snapshot(state: PartitionState, snap: Snapshot) -> None:
    """Start from a snapshot (then replay the journal entries after ``state.seq``)."""
    written = state.snapshots.dedup_keys
    for start, parts in snap.sealed.items():
        state.dedup.load_bucket_parts(start, parts)
        written[start] = snap.sealed_keys[start]
    for start, value in sorted(snap.account_buckets.items()):
        state.sealed.add(start, decode_bucket(value, state.sealed))
    state.snapshots.account_buckets.written = set(snap.account_buckets)
    if snap.header is None:
        return
    header = snap.header
    windows = journal.decode({**snap.entry, "q": header["q"]})
    state.posts = windows.posts
    # A sealed record written after the snapshot holds all of its bucket; an older snapshot has its
    # closed buckets in the chunks: they are sealed here.
    state.accounts = {s: b for s, b in windows.accounts.items() if s not in state.sealed}
    seal_closed(state, header["c"])
    state.lifetimes.restore(decode_lives(snap.entry.get("L", ())))
    add_samples(state.lifetimes, snap.entry.get("b", ()))
    state.lifetimes.samples.seal()  # the snapshot's rows as JSON lists took ~300 B a sample until a close
    # A snapshot from before the sealed lives holds every life in "L": the next close seals them.
    load_sealed(state.lifetimes, snap.lives, snap.entry.get("F", ()), header["c"])
    state.snapshots.lives.written = dict(snap.lives_keys)
    state.snapshots.lives.posts = {start: len(group) for start, group in state.lifetimes.sealed.groups.items()}
    for start, parts in snap.filling.items():  # an earlier release's: the buckets still filling then
        if start not in written:  # a sealed record, written later, holds all of it
            state.dedup.load_bucket_parts(start, parts, written=False)
    state.seq, state.closed_through, state.counting_since = header["q"], header["c"], header["k"]
    state.input_offset, state.clock, state.first_input_ms = header["o"], header["n"], header.get("i")
    state.snapshots.chunks = header.get("chunks", 0)
    state.snapshots.parts.restored(snap.parts)


def apply_journal(state: PartitionState, raw: dict) -> None:
    """Redo one committed entry: the same merges and closes as ``PartitionState.commit``."""
    entry = journal.decode(raw)
    state.seq = max(state.seq, entry.seq)
    merge_buckets(state.posts, entry.posts)
    # A bucket sealed from its record (written after the snapshot, once closed) holds these deltas.
    merge_buckets(state.accounts, {s: b for s, b in entry.accounts.items() if s not in state.sealed})
    state.lifetimes.merge(entry.lives)
    add_samples(state.lifetimes, entry.samples)
    if entry.seen is not None:  # ids the snapshot topic does not hold yet: written at the next snapshot
        state.dedup.add(*entry.seen)
    if entry.input_offset is not None:
        state.input_offset = max(state.input_offset or 0, entry.input_offset)
    if entry.first_input_ms is not None:
        state.first_input_ms = entry.first_input_ms
    if entry.close_mark is not None:
        if state.counting_since is None:
            state.counting_since = entry.close_mark
        if entry.close_mark > state.closed_through:
            state.lifetimes.advance(entry.close_mark)
            drop_closed(state, entry.close_mark)
    if entry.committed_at is not None:
        state.clock = max(state.clock, entry.committed_at)
        for start in state.dedup.expire(entry.committed_at):
            state.snapshots.dedup_keys.pop(start, None)
