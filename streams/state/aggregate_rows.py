"""A post's aggregate as a row of numbers and back: the sealed lives keep their totals
(``sealed_lives.SealedGroup``) and their final segments (``final_segments``) as rows of columns.

Only post-level events fold into a post's aggregate (``PostLifetimes.add``), so its counts of
POST_TYPE_INDEXES, dwell ms sum and count, sentiment sum, count and negatives are every field it can
hold: ``posts`` (distinct posts) and ``responses`` (mentions answered) are an account's."""

from __future__ import annotations

import struct
from itertools import chain
from operator import add, itemgetter

import numpy as np

from ..contract import POST_LEVEL_TYPES, TYPE_INDEX, TYPES
from ..model.aggregates import WindowAggregate

# The counts a post's aggregate can hold (only post-level events fold into a life).
POST_TYPE_INDEXES = tuple(sorted(TYPE_INDEX[t] for t in POST_LEVEL_TYPES))
_post_counts = itemgetter(*POST_TYPE_INDEXES)
# Every type's count from a post's counts followed by a zero (the count of the other types).
_all_counts = itemgetter(
    *(POST_TYPE_INDEXES.index(t) if t in POST_TYPE_INDEXES else len(POST_TYPE_INDEXES) for t in range(len(TYPES)))
)


def aggregate_row(agg: WindowAggregate | None) -> tuple[list, list, list]:
    """An aggregate's fields as a group's row: counts, sums, tallies (zeros for None)."""
    if agg is None:
        return [0] * len(POST_TYPE_INDEXES), [0.0, 0.0], [0, 0, 0]
    return (
        [agg.counts[i] for i in POST_TYPE_INDEXES],
        [agg.dwell_ms_sum, agg.sentiment_sum],
        [agg.dwell_count, agg.sentiment_count, agg.sentiment_negative],
    )


def row_aggregate(counts, sums, tallies) -> WindowAggregate:
    """The aggregate of a row: counts of POST_TYPE_INDEXES, (dwell ms, sentiment) sums, (dwell count,
    sentiment count, negatives)."""
    agg = WindowAggregate()
    agg.counts = list(_all_counts((*counts, 0)))
    agg.dwell_ms_sum, agg.sentiment_sum = sums
    agg.dwell_count, agg.sentiment_count, agg.sentiment_negative = tallies
    return agg


# A post's aggregate in 60 bytes: the counts of POST_TYPE_INDEXES, the two sums, the three tallies.
_PACKED = struct.Struct(f"<{len(POST_TYPE_INDEXES)}I2d3I")
_K = len(POST_TYPE_INDEXES)


def _row_fields(agg: WindowAggregate) -> tuple | None:
    """A post's aggregate as the packed row's fields; None when it holds more than a post's fields."""
    counts = agg.counts
    post = _post_counts(counts)
    if agg.posts is not None or agg.responses is not None or sum(post) != sum(counts):  # counts are >= 0
        return None
    return (*post, agg.dwell_ms_sum, agg.sentiment_sum, agg.dwell_count, agg.sentiment_count, agg.sentiment_negative)


def packed(agg: WindowAggregate) -> bytes | WindowAggregate:
    """A post's aggregate as bytes (60 + the object's 33, where the aggregate takes ~300); the aggregate
    itself when it holds what the bytes cannot (another type's count, distinct posts, responses, a
    count past 32 bits): nothing is ever cut."""
    fields = _row_fields(agg)
    try:
        return agg if fields is None else _PACKED.pack(*fields)
    except struct.error:
        return agg


def packed_state(state: list) -> bytes | WindowAggregate:
    """``packed`` of the aggregate of a ``WindowAggregate.to_state`` state, without making it when the
    bytes can hold it."""
    try:
        counts, (dwell, sentiment, dwell_count, sentiment_count, negatives) = state_row(state)
        return _PACKED.pack(*counts, dwell, sentiment, dwell_count, sentiment_count, negatives)
    except (ValueError, struct.error):  # ValueError: not a post's aggregate; kept whole
        return WindowAggregate.from_state(state)


def merged(value: bytes | WindowAggregate, agg: WindowAggregate) -> bytes | WindowAggregate:
    """``packed(unpacked(value).merge(agg))``, without making an aggregate when the bytes hold both (a
    commit merges its delta into each young life it touched: 2.0 us where that took 4.6)."""
    if type(value) is bytes and (fields := _row_fields(agg)) is not None:
        try:
            return _PACKED.pack(*map(add, _PACKED.unpack(value), fields))
        except struct.error:  # a count past 32 bits: kept whole
            pass
    return packed(unpacked(value).merge(agg))


def unpacked(value: bytes | WindowAggregate) -> WindowAggregate:
    """A new aggregate equal to the one ``packed`` was given: the caller may change it."""
    if type(value) is not bytes:
        return value.copy()  # type: ignore[union-attr]  # an aggregate kept whole
    row = _PACKED.unpack(value)
    return row_aggregate(row[:_K], row[_K : _K + 2], row[_K + 2 :])


def post_counts(agg: WindowAggregate) -> tuple[int, ...]:
    """The counts of POST_TYPE_INDEXES of a post's aggregate; an aggregate holding more than a row can
    (another type's count, distinct posts, responses) is refused rather than cut."""
    fields = _row_fields(agg)
    if fields is None:
        raise ValueError(f"not a post's aggregate: {agg!r}")
    return fields[:_K]


def state_row(state: list) -> tuple[tuple[int, ...], tuple]:
    """A post's aggregate state (``WindowAggregate.to_state``; a short count list, written before a
    type was added, reads as zeros) as the counts of POST_TYPE_INDEXES and (dwell ms sum, sentiment sum,
    dwell count, sentiment count, negatives); refused as ``post_counts`` refuses."""
    counts = state[0]
    if len(counts) < len(TYPES):
        counts = [*counts, *[0] * (len(TYPES) - len(counts))]
    post = _post_counts(counts)
    if state[6] is not None or len(state) > 7 or sum(post) != sum(counts):
        raise ValueError(f"not a post's aggregate: {state!r}")
    return post, (state[1], state[3], state[2], state[4], state[5])


_U32_MAX = 2**32 - 1


def state_columns(states: list[list]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``state_row`` of each state at once, as columns: counts of POST_TYPE_INDEXES (uint32), the two
    sums (float64), the three tallies (uint32). None when one of them is not the state of a post's
    aggregate of the contract's types, in integers the columns hold (``state_row`` one by one then
    reads it, or says why it refuses it)."""
    width, n = len(TYPES), len(states)
    if any(len(state) != 7 or state[6] is not None or len(state[0]) != width for state in states):
        return None
    counts_flat = list(chain.from_iterable(state[0] for state in states))
    tallies_flat = [value for state in states for value in (state[2], state[4], state[5])]
    sums_flat = [value for state in states for value in (state[1], state[3])]
    integers, numbers = set(map(type, counts_flat)).union(map(type, tallies_flat)), set(map(type, sums_flat))
    if not (integers <= {int} and numbers <= {int, float}):  # numpy would read "1.5", 2.5 and True
        return None
    try:
        counts = np.array(counts_flat, np.int64).reshape(n, width)
        tallies = np.array(tallies_flat, np.int64).reshape(n, 3)
        sums = np.array(sums_flat, np.float64).reshape(n, 2)
    except OverflowError:  # ints past 64 bits
        return None
    for column in (counts, tallies):
        if n and (column.min() < 0 or column.max() > _U32_MAX):
            return None
    post = counts[:, POST_TYPE_INDEXES]
    if (post.sum(axis=1) != counts.sum(axis=1)).any():  # a count of another type: refused by state_row
        return None
    return post.astype(np.uint32), sums, tallies.astype(np.uint32)


def row_states(counts: np.ndarray, sums: np.ndarray, tallies: np.ndarray) -> list[list]:
    """``WindowAggregate.to_state`` of each row of these columns, at once."""
    full = np.zeros((len(counts), len(TYPES)), np.int64)
    full[:, POST_TYPE_INDEXES] = counts
    return [
        [c, dwell, dwell_count, sentiment, sentiment_count, negative, None]
        for c, (dwell, sentiment), (dwell_count, sentiment_count, negative) in zip(
            full.tolist(), sums.tolist(), tallies.tolist()
        )
    ]
