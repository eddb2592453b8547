"""The account buckets kept for the rolling window once closed, sealed into columns.

A bucket whose end the close mark passed can change no more (its events would be late), yet the
rolling window keeps it for an hour. As dicts of aggregates it costs about 0.9 KB an account; sealed it
is a row of fixed-width columns over shared tables of account, platform and post ids. The distinct
posts stay as post indices per row: a rolling record counts the posts of the union over its buckets,
which a per-bucket count cannot give. ``streams.state.rolling_merge`` merges sealed buckets with numpy.
"""

from __future__ import annotations

import numpy as np

from ..contract import TYPES
from .entries import AccountEntry
from .intern import InternTable

N_TYPES = len(TYPES)
# The integer columns: the counts per type, then the dwell count, sentiment count and negatives.
DWELL_COUNT, SENTIMENT_COUNT, NEGATIVES = N_TYPES, N_TYPES + 1, N_TYPES + 2
INT_COLUMNS = N_TYPES + 3
RESPONSE_FIELDS = 6  # WindowAggregate.responses
COMPACT_SLACK = 4096  # ids a table may hold past twice those in use before it is compacted


def distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, ascending: a sort and a mask (np.unique hashes, ~50 times slower here)."""
    ordered = np.sort(values)
    keep = np.empty(len(ordered), bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


class SealedBucket:
    """One closed account bucket, a row per account: ``accounts``/``platforms`` index the shared
    tables, ``ints`` (rows x INT_COLUMNS), ``sums`` (rows x 2: dwell ms, sentiment), the rows' post
    indices ``posts`` ending at ``post_ends``, and the rows with mention responses apart (few have any)."""

    __slots__ = ("accounts", "platforms", "ints", "sums", "post_ends", "posts", "response_rows", "responses")

    def __init__(self, accounts, platforms, ints, sums, post_ends, posts, response_rows, responses):
        self.accounts, self.platforms, self.ints, self.sums = accounts, platforms, ints, sums
        self.post_ends, self.posts = post_ends, posts
        self.response_rows, self.responses = response_rows, responses

    def __len__(self) -> int:
        return len(self.accounts)

    def post_counts(self) -> np.ndarray:
        return np.diff(self.post_ends, prepend=0)


class SealedAccounts:
    """The sealed account buckets of a partition by window start, and the tables they index."""

    def __init__(self) -> None:
        self.buckets: dict[int, SealedBucket] = {}
        self.accounts = InternTable()
        self.platforms = InternTable()
        self.posts = InternTable()
        self._live = {"accounts": 0, "posts": 0}  # ids in use at the last compaction

    def __contains__(self, start: int) -> bool:
        return start in self.buckets

    def starts(self) -> list[int]:
        return list(self.buckets)

    def entry_count(self) -> int:
        return sum(len(b) for b in self.buckets.values())

    def seal(self, start: int, bucket: dict[str, AccountEntry]) -> None:
        """Seal a closed bucket {account_id: entry}; sealing in window order keeps merges in it."""
        aggs = [e.agg for e in bucket.values()]
        ints = np.array(
            [a.counts + [a.dwell_count, a.sentiment_count, a.sentiment_negative] for a in aggs], np.int32
        ).reshape(len(aggs), INT_COLUMNS)
        sums = np.array([(a.dwell_ms_sum, a.sentiment_sum) for a in aggs], np.float64).reshape(len(aggs), 2)
        post_lists = [a.posts or () for a in aggs]
        post_ends = np.cumsum([len(p) for p in post_lists], dtype=np.int64).astype(np.int32)
        posts = self.posts.indexes([p for ps in post_lists for p in ps])
        answered = [i for i, a in enumerate(aggs) if a.responses is not None]
        self.buckets[start] = SealedBucket(
            self.accounts.indexes(list(bucket)),
            self.platforms.indexes([e.platform for e in bucket.values()]).astype(np.int16),
            ints,
            sums,
            post_ends,
            posts,
            np.array(answered, np.int32),
            np.array([aggs[i].responses for i in answered], np.int64).reshape(len(answered), RESPONSE_FIELDS),
        )

    def add(self, start: int, bucket: SealedBucket) -> None:
        """A bucket read back from the snapshot (``streams.state.sealed_accounts_format``)."""
        self.buckets[start] = bucket
        self.buckets = dict(sorted(self.buckets.items()))

    def drop_before(self, first_start: int) -> list[int]:
        """Drop the buckets starting before ``first_start`` (no rolling window needs them); the
        starts dropped. The tables are compacted once they hold more than twice the ids in use."""
        dropped = [start for start in self.buckets if start < first_start]
        for start in dropped:
            del self.buckets[start]
        if dropped:
            self._compact_if_sparse()
        return dropped

    def _compact_if_sparse(self) -> None:
        buckets = list(self.buckets.values())
        if len(self.posts.names) > 2 * self._live["posts"] + COMPACT_SLACK:
            used = distinct(np.concatenate([b.posts for b in buckets] or [np.empty(0, np.int32)]))
            self.posts, remap = self.posts.compacted(used)
            for b in buckets:
                b.posts = remap[b.posts]
            self._live["posts"] = len(used)
        if len(self.accounts.names) > 2 * self._live["accounts"] + COMPACT_SLACK:
            used = distinct(np.concatenate([b.accounts for b in buckets] or [np.empty(0, np.int32)]))
            self.accounts, remap = self.accounts.compacted(used)
            for b in buckets:
                b.accounts = remap[b.accounts]
            self._live["accounts"] = len(used)
