"""Post lives past their last-but-one age, in columns: what the bulk of the post state is.

A post's life changes little after its last-but-one age (24 h by default): one segment is left, and
most posts get few events in it. The lives of the posts published in one *span* of time (the first
age, 1 h by default) are sealed together, once every one of them has passed its last-but-one age,
into a ``SealedGroup``: numpy columns (64-bit fingerprint of the post id, publication time, account
and kind (platform, content type, source, complete) as indexes into shared tables, the merged total's
fields, the post ids in one blob). The final segments of the posts that get events in their last age
are rows too (``final_segments``). Once every post of a group is past its lifetime, the group keeps
only what a tombstone needs (fingerprint, publication time, account), until the benchmark period has
passed too.

A lookup goes through one index over all groups: the fingerprints sorted, each with where it is.
A post that reaches its last-but-one age after its group was sealed (a *straggler*: a life started
late) keeps its ``PostLife``; so does every post when the maturity is the last age (the curve of a
young post needs its own fields).
"""

from __future__ import annotations

import numpy as np
import xxhash

from ..model.aggregates import WindowAggregate
from .aggregate_rows import row_aggregate
from .final_segments import FinalSegments

_POS_BITS = 22  # an index entry: group slot << _POS_BITS | position in the group
_EMPTY_U64 = np.empty(0, np.uint64)


def post_fingerprint(post_id: str) -> int:
    """64 bits of xxh3 of the UTF-8 post id: stable across processes (snapshots carry them)."""
    return xxhash.xxh3_64_intdigest(post_id.encode())


class SealedGroup:
    """The sealed lives of the posts published in [start, start + span), as columns by position."""

    __slots__ = ("start", "fps", "published", "accounts", "kinds", "counts", "sums", "tallies", "ids", "id_ends")

    def __init__(self, start: int, fps, published, accounts, kinds, counts=None, sums=None, tallies=None):
        self.start = start
        self.fps = np.asarray(fps, np.uint64)
        self.published = np.asarray(published, np.uint32)  # ms after start
        self.accounts = np.asarray(accounts, np.uint32)  # into SealedLives.accounts
        self.kinds = np.asarray(kinds, np.uint16)  # into SealedLives.kinds
        # None once every post is past its lifetime (a tombstone group): the totals and the post ids.
        self.counts = None if counts is None else np.asarray(counts, np.uint32).reshape(len(self.fps), -1)
        self.sums = None if sums is None else np.asarray(sums, np.float64).reshape(-1, 2)  # dwell ms, sentiment
        self.tallies = (
            None if tallies is None else np.asarray(tallies, np.uint32).reshape(-1, 3)
        )  # counts of both, negatives
        self.ids = b""
        self.id_ends = np.empty(0, np.uint32)

    def set_ids(self, post_ids: list[str]) -> None:
        encoded = [p.encode() for p in post_ids]
        self.ids = b"".join(encoded)
        self.id_ends = np.cumsum([len(e) for e in encoded], dtype=np.uint32)

    def extended(self, more: SealedGroup) -> SealedGroup:
        """This group with ``more``'s posts after its own (positions kept: the final segments' keys)."""

        def both(a, b):
            return None if a is None else np.concatenate([a, b])

        group = SealedGroup(
            self.start,
            both(self.fps, more.fps),
            both(self.published, more.published),
            both(self.accounts, more.accounts),
            both(self.kinds, more.kinds),
            both(self.counts, more.counts),
            both(self.sums, more.sums),
            both(self.tallies, more.tallies),
        )
        if not self.ended:
            group.ids, group.id_ends = self.ids + more.ids, np.concatenate([self.id_ends, more.id_ends + len(self.ids)])
        return group

    def __len__(self) -> int:
        return len(self.fps)

    @property
    def ended(self) -> bool:
        return self.counts is None

    def post_id(self, i: int) -> str:
        begin = int(self.id_ends[i - 1]) if i else 0
        return self.ids[begin : int(self.id_ends[i])].decode()

    def published_at(self, i: int) -> int:
        return self.start + int(self.published[i])

    def total(self, i: int) -> WindowAggregate:
        return row_aggregate(self.counts[i].tolist(), self.sums[i].tolist(), self.tallies[i].tolist())  # type: ignore[index]

    def end(self) -> None:
        """Keep what a tombstone needs (and its kind, for the live view of an ended post)."""
        self.counts = self.sums = self.tallies = None
        self.ids, self.id_ends = b"", np.empty(0, np.uint32)

    @property
    def nbytes(self) -> int:
        columns: list[np.ndarray] = [self.fps, self.published, self.accounts, self.kinds, self.id_ends]
        columns += [c for c in (self.counts, self.sums, self.tallies) if c is not None]
        return sum(c.nbytes + 112 for c in columns) + len(self.ids) + 120


class SealedLives:
    """The sealed groups by start, the tables their indexes point into, and the index over them."""

    def __init__(self, span: int):
        self.span = span
        self.groups: dict[int, SealedGroup] = {}  # by start, ascending
        self.finals = FinalSegments()  # (group start, position) -> final segment
        self.accounts: list[str] = []
        self.platforms: list[str] = []  # of each account
        self.kinds: list[tuple] = []  # (platform, content_type, source, complete)
        self._account_index: dict[str, int] = {}
        self._kind_index: dict[tuple, int] = {}
        self._fps = _EMPTY_U64
        self._locs = np.empty(0, np.uint32)
        self._slots: list[SealedGroup] = []

    def account(self, account_id: str, platform: str) -> int:
        index = self._account_index.get(account_id)
        if index is None:
            index = self._account_index[account_id] = len(self.accounts)
            self.accounts.append(account_id)
            self.platforms.append(platform)  # an account is on one platform
        return index

    def kind(self, kind: tuple) -> int:
        index = self._kind_index.get(kind)
        if index is None:
            index = self._kind_index[kind] = len(self.kinds)
            self.kinds.append(kind)
        return index

    def find(self, post_id: str) -> tuple[SealedGroup, int] | None:
        fps = self._fps
        if not len(fps):
            return None
        fp = np.uint64(post_fingerprint(post_id))
        i = int(np.searchsorted(fps, fp))
        if i == len(fps) or fps[i] != fp:
            return None
        loc = int(self._locs[i])
        return self._slots[loc >> _POS_BITS], loc & ((1 << _POS_BITS) - 1)

    def positions(self, post_ids: list[str]) -> list[tuple[int, int] | None]:
        """``find`` for many at once (a restore's final segments): (group start, position) or None."""
        fps = self._fps
        if not len(fps) or not post_ids:
            return [None] * len(post_ids)
        wanted = np.fromiter((post_fingerprint(p) for p in post_ids), np.uint64, len(post_ids))
        at = np.minimum(np.searchsorted(fps, wanted), len(fps) - 1)
        found = fps[at] == wanted
        locs = self._locs[at].tolist()
        mask = (1 << _POS_BITS) - 1
        return [
            (self._slots[loc >> _POS_BITS].start, loc & mask) if hit else None for loc, hit in zip(locs, found.tolist())
        ]

    def add_many(self, groups: list[SealedGroup]) -> None:
        for group in groups:
            self.groups[group.start] = group
        self.groups = dict(sorted(self.groups.items()))
        self._reindex()

    def drop(self, starts: list[int]) -> None:
        for start in starts:
            del self.groups[start]
            self.finals.drop(start)
        if starts:
            self._reindex()

    def _reindex(self) -> None:
        self._slots = list(self.groups.values())
        if not self._slots:
            self._fps, self._locs = _EMPTY_U64, np.empty(0, np.uint32)
            return
        fps = np.concatenate([g.fps for g in self._slots])
        locs = np.concatenate(
            [(slot << _POS_BITS) + np.arange(len(g), dtype=np.uint32) for slot, g in enumerate(self._slots)]
        ).astype(np.uint32)
        order = np.argsort(fps, kind="stable")
        self._fps, self._locs = fps[order], locs[order]

    def count(self) -> int:
        return len(self._fps)

    def published_since(self, since: int, published: dict[str, list]) -> None:
        """Add each account's posts published after ``since`` to ``published`` ([platform, count])."""
        for group in self.groups.values():
            if group.start + self.span <= since + 1:
                continue
            accounts = group.accounts if group.start > since else group.accounts[group.published > since - group.start]
            for index, n in enumerate(np.bincount(accounts).tolist()):
                if n:
                    account_id = self.accounts[index]
                    count = published.get(account_id)
                    if count is None:
                        published[account_id] = [self.platforms[index], n]
                    else:
                        count[1] += n

    @property
    def nbytes(self) -> int:
        return sum(g.nbytes for g in self.groups.values()) + self._fps.nbytes + self._locs.nbytes + self.finals.nbytes

    # -- what a close mark does to them ---------------------------------------------------------------
    def due(self, previous: int, mark: int, lifetime: int):
        """(group, position, final segment or None) of each post whose lifetime ends in (previous, mark]."""
        for group in self.groups.values():
            if group.ended:
                continue
            ends = group.published.astype(np.int64) + (group.start + lifetime)
            for i in np.flatnonzero((ends > previous) & (ends <= mark)).tolist():
                yield group, i, self.finals.pop((group.start, i))

    def end_and_expire(self, mark: int, lifetime: int, period: int) -> None:
        """Groups whose every post is past its lifetime keep their tombstones; those a benchmark
        period past that go."""
        gone = []
        for start, group in self.groups.items():
            if start + self.span + lifetime + period <= mark:
                gone.append(start)
            elif not group.ended and start + self.span + lifetime <= mark:
                group.end()
        self.drop(gone)

    def boundary(self, mark: int, sealed_age: int) -> int:
        """Lives published before it are past ``sealed_age`` (the last-but-one age) at ``mark``."""
        edge = mark - sealed_age
        return edge - edge % self.span
