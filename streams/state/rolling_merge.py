"""The rolling merge over sealed account buckets, vectorised, then the open buckets on top.

Same results as merging the aggregates one by one (``WindowAggregate.merge``, as the open buckets are): integer
columns are summed per account, the float sums with ``np.bincount`` (which adds in row order, the
buckets' window order: the same additions as the one-by-one merge), the platform is the account's
first row's, the posts the union of its rows' posts (a lazy set over the post table), the responses
summed but for their maximum."""

from __future__ import annotations

from collections.abc import Iterator, Set

import numpy as np

from ..model.aggregates import WindowAggregate
from .entries import AccountEntry, Buckets
from .sealed_accounts import DWELL_COUNT, N_TYPES, NEGATIVES, RESPONSE_FIELDS, SENTIMENT_COUNT, SealedAccounts, distinct

RESPONSE_MAX = 2  # the one response field merged by max


class PostIds(Set):
    """The post ids of a merged rolling aggregate, read from the post table only when iterated: a
    rolling record reads the count. A union with it makes a plain set."""

    __slots__ = ("_names", "_indexes")

    def __init__(self, names: list[str], indexes: np.ndarray):
        self._names, self._indexes = names, indexes

    def __len__(self) -> int:
        return len(self._indexes)

    def __iter__(self) -> Iterator[str]:
        names = self._names
        return (names[i] for i in self._indexes.tolist())

    def __contains__(self, post_id: object) -> bool:
        return any(post_id == name for name in self)

    @classmethod
    def _from_iterable(cls, it) -> set:
        return set(it)


def rolling(
    sealed: SealedAccounts, open_sources: list[Buckets], start: int, end: int, account_id: str | None = None
) -> dict[str, AccountEntry]:
    """Per account (or only ``account_id``): its platform and the merge of its buckets starting in
    [start, end), the sealed ones first (they are the older), then each of ``open_sources``."""
    merged = merge_sealed(sealed, start, end, account_id)
    for buckets in open_sources:
        for bucket_start, bucket in buckets.items():
            if start <= bucket_start < end:
                items = bucket.items() if account_id is None else [(account_id, bucket.get(account_id))]
                for key, entry in items:
                    if entry is None:
                        continue
                    slot = merged.get(key)
                    if slot is None:
                        merged[key] = entry.copy()
                    else:
                        slot.agg.merge(entry.agg)
    return merged


def merge_sealed(sealed: SealedAccounts, start: int, end: int, account_id: str | None = None) -> dict:
    parts = [b for s, b in sorted(sealed.buckets.items()) if start <= s < end]
    if account_id is not None and account_id not in sealed.accounts.index:
        return {}
    if not parts:
        return {}
    accounts = np.concatenate([b.accounts for b in parts]).astype(np.int64)
    table = len(sealed.accounts.names)
    present, first_row = np.unique(accounts, return_index=True)
    order = np.argsort(accounts, kind="stable")
    bounds = np.searchsorted(accounts[order], present)
    ints = np.add.reduceat(np.concatenate([b.ints for b in parts]).astype(np.int64)[order], bounds, axis=0)
    sums = np.concatenate([b.sums for b in parts])
    dwell = np.bincount(accounts, weights=sums[:, 0], minlength=table)[present]
    sentiment = np.bincount(accounts, weights=sums[:, 1], minlength=table)[present]
    platforms = np.concatenate([b.platforms for b in parts])[first_row]
    post_lo, post_hi, post_indexes = _distinct_posts(sealed, parts, accounts, present)
    responses, answered = _responses(parts, table)
    wanted = range(len(present)) if account_id is None else np.flatnonzero(present == sealed.accounts.index[account_id])
    names, platform_names, post_names = sealed.accounts.names, sealed.platforms.names, sealed.posts.names
    present_l, ints_l, dwell_l, sentiment_l = present.tolist(), ints.tolist(), dwell.tolist(), sentiment.tolist()
    platforms_l, lo_l, hi_l = platforms.tolist(), post_lo.tolist(), post_hi.tolist()
    merged: dict[str, AccountEntry] = {}
    for k in wanted:
        a = present_l[k]
        row = ints_l[k]
        agg = WindowAggregate()
        agg.counts = row[:N_TYPES]
        agg.dwell_count, agg.sentiment_count = row[DWELL_COUNT], row[SENTIMENT_COUNT]
        agg.sentiment_negative = row[NEGATIVES]
        agg.dwell_ms_sum, agg.sentiment_sum = dwell_l[k], sentiment_l[k]
        agg.posts = PostIds(post_names, post_indexes[lo_l[k] : hi_l[k]])  # type: ignore[assignment]
        if answered[a]:
            agg.responses = responses[a].tolist()
        merged[names[a]] = AccountEntry(platform_names[platforms_l[k]], agg)
    return merged


def _distinct_posts(sealed: SealedAccounts, parts: list, accounts: np.ndarray, present: np.ndarray):
    """The distinct (account, post) pairs of the rows: each present account's slice [lo, hi) of the
    post indices returned."""
    width = max(len(sealed.posts.names), 1)
    row_accounts = np.repeat(accounts, np.concatenate([b.post_counts() for b in parts]))
    pairs = distinct(row_accounts * width + np.concatenate([b.posts for b in parts]))
    pair_accounts = pairs // width
    lo = np.searchsorted(pair_accounts, present, side="left")
    hi = np.searchsorted(pair_accounts, present, side="right")
    return lo, hi, pairs % width


def _responses(parts: list, table: int) -> tuple[np.ndarray, np.ndarray]:
    """Per account of the table: its merged responses, and whether any row had responses."""
    rows = np.concatenate([b.accounts[b.response_rows] for b in parts]).astype(np.int64)
    values = np.concatenate([b.responses for b in parts])
    merged = np.zeros((table, RESPONSE_FIELDS), np.int64)
    np.add.at(merged, rows, values)
    merged[:, RESPONSE_MAX] = 0
    np.maximum.at(merged[:, RESPONSE_MAX], rows, values[:, RESPONSE_MAX])
    return merged, np.bincount(rows, minlength=table) > 0
