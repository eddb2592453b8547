"""The final segments of sealed post lives (``sealed_lives``): the aggregate of a sealed post's last
age, for the posts that got events in it, as rows of columns rather than an object each.

At a week's plateau a worker holds about 200,000 of them: as a dict of ``WindowAggregate`` about 430 B
each, as rows 72.5 B (``tracemalloc``). A row is 68 bytes: the counts of POST_TYPE_INDEXES, the dwell ms
and sentiment sums, dwell count, sentiment count, negatives (``aggregate_rows``) and the order it was
set in. Rows live in blocks of 4,096 (one is added when every row is handed out: none is copied to
grow); a row freed (``pop``, ``drop``) is the next one handed out, so the blocks follow the finals
held, not the uptime. The index is per group: the row of each position as int32 (4 B a sealed post,
where a dict of keys to rows took over 100 B a final), in an ``array``: its element reads cost a
fifth of a numpy array's.

Reads give a new aggregate: a final changes only through ``set`` and ``merge`` (a sealed post's events
come through a commit's delta, ``SealedLifetimes.merge``)."""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from operator import add

import numpy as np

from ..model.aggregates import WindowAggregate
from .aggregate_rows import POST_TYPE_INDEXES, post_counts, row_aggregate, row_states, state_columns, state_row

Key = tuple[int, int]  # (group start, position in the group)

_K = len(POST_TYPE_INDEXES)
# counts, dwell ms sum, sentiment sum, dwell count, sentiment count, negatives, order set in
_ROW = struct.Struct(f"<{_K}I2d3IQ")
_ROW_DTYPE = np.dtype([("counts", "<u4", (_K,)), ("sums", "<f8", (2,)), ("tallies", "<u4", (3,)), ("order", "<u8")])
_BLOCK_BITS = 12
_BLOCK_ROWS = 1 << _BLOCK_BITS
_IN_BLOCK = _BLOCK_ROWS - 1
_NO_ROW = array("i", [-1])


class FinalSegments:
    """(group start, position) -> the final segment of that sealed post, as rows."""

    def __init__(self) -> None:
        self._blocks: list[bytearray] = []
        self._index: dict[int, array] = {}  # group start -> the row of each position (-1: none)
        self._held: dict[int, int] = {}  # group start -> its finals
        self._free = array("i")  # rows freed, handed out again last freed first
        self._fresh = 0  # the rows below it were handed out before
        self._order = 0  # of the next final set: the order a dict of them would iterate in
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def get(self, key: Key) -> WindowAggregate | None:
        row = self._row(key)
        return None if row < 0 else _aggregate(self._read(row))

    def set(self, key: Key, agg: WindowAggregate) -> None:
        """Hold ``agg`` (its values: later changes of it are not seen) as the final of ``key``."""
        values = (agg.dwell_ms_sum, agg.sentiment_sum, agg.dwell_count, agg.sentiment_count, agg.sentiment_negative)
        self._put(key, post_counts(agg), values)

    def set_state(self, key: Key, state: list) -> None:
        """``set`` of an aggregate's ``to_state`` (a snapshot's "F"), without making the aggregate."""
        self._put(key, *state_row(state))

    def set_states(self, keys: list[Key], states: list[list]) -> None:
        """``set_state`` of each in turn; into an empty one (a restore's "F": ~190,000 at a week) all
        at once, in columns."""
        columns = None if self._fresh or len(set(keys)) != len(keys) else state_columns(states)
        if columns is None:
            for key, state in zip(keys, states):
                self.set_state(key, state)
            return
        n = len(keys)
        table = np.zeros(n, _ROW_DTYPE)
        table["counts"], table["sums"], table["tallies"] = columns
        table["order"] = np.arange(n)
        raw = table.tobytes()
        block_bytes = _BLOCK_ROWS * _ROW.size
        for lo in range(0, len(raw), block_bytes):
            block = bytearray(block_bytes)
            block[: len(raw) - lo] = raw[lo : lo + block_bytes]
            self._blocks.append(block)
        starts = np.fromiter((start for start, _ in keys), np.int64, n)
        positions = np.fromiter((position for _, position in keys), np.int64, n)
        by_start = np.argsort(starts, kind="stable")
        group_starts, first, sizes = np.unique(starts[by_start], return_index=True, return_counts=True)
        for g in np.argsort(by_start[first], kind="stable").tolist():  # in the order they came, as set_state's
            rows = by_start[first[g] : first[g] + sizes[g]]
            index = np.full(int(positions[rows].max()) + 1, -1, np.int32)
            index[positions[rows]] = rows
            start = int(group_starts[g])
            self._index[start] = array("i", index.tobytes())
            self._held[start] = len(rows)
        self._fresh = self._len = self._order = n

    def merge(self, key: Key, agg: WindowAggregate) -> None:
        """Add ``agg`` into the final of ``key`` (as ``WindowAggregate.merge``), or start it with it."""
        row = self._row(key)
        if row < 0:
            self.set(key, agg)
            return
        counts = post_counts(agg)
        old = self._read(row)
        self._write(
            row,
            list(map(add, old[:_K], counts)),
            (
                old[_K] + agg.dwell_ms_sum,
                old[_K + 1] + agg.sentiment_sum,
                old[_K + 2] + agg.dwell_count,
                old[_K + 3] + agg.sentiment_count,
                old[_K + 4] + agg.sentiment_negative,
            ),
            old[-1],
        )

    def pop(self, key: Key) -> WindowAggregate | None:
        row = self._row(key)
        if row < 0:
            return None
        agg = _aggregate(self._read(row))
        start = key[0]
        self._index[start][key[1]] = -1
        self._free.append(row)
        self._len -= 1
        self._held[start] -= 1
        if not self._held[start]:
            del self._held[start], self._index[start]
        return agg

    def drop(self, start: int) -> None:
        """Every final of the group at ``start`` (the group is gone)."""
        index = self._index.pop(start, None)
        if index is None:
            return
        del self._held[start]
        rows = np.frombuffer(index, np.int32)
        rows = rows[rows >= 0]
        self._free.frombytes(rows.tobytes())
        self._len -= len(rows)

    def by_group(self) -> list[tuple[int, list[tuple[int, list]]]]:
        """(group start, [(position, aggregate state), ...]) in the order a dict of the finals, grouped
        by start, iterates: by the order each was set (the snapshot's "F" parts keep their bytes)."""
        groups = []
        for start, index in self._index.items():
            rows = np.frombuffer(index, np.int32)
            at = np.flatnonzero(rows >= 0)
            table = self._gather(rows[at])
            by_order = np.argsort(table["order"])
            groups.append((int(table["order"][by_order[0]]), start, at[by_order].tolist(), table[by_order]))
        if not groups:
            return []
        groups.sort(key=lambda g: g[0])
        table = np.concatenate([g[3] for g in groups])
        states = row_states(table["counts"], table["sums"], table["tallies"])
        out, lo = [], 0
        for _, start, positions, _ in groups:
            out.append((start, list(zip(positions, states[lo : lo + len(positions)]))))
            lo += len(positions)
        return out

    @property
    def nbytes(self) -> int:
        """The blocks, the index and the free rows, as allocated."""
        index = sum(rows.buffer_info()[1] * 4 + 280 for rows in self._index.values())  # and its dict entries
        return len(self._blocks) * (_BLOCK_ROWS * _ROW.size + 64) + index + self._free.buffer_info()[1] * 4 + 500

    # -- rows -------------------------------------------------------------------------------------------
    def _put(self, key: Key, counts: Sequence[int], values: tuple) -> None:
        start, position = key
        index = self._index.get(start)
        if index is not None and position < len(index) and (row := index[position]) >= 0:
            self._write(row, counts, values, self._read(row)[-1])  # a dict keeps a replaced key's place
        else:
            order = self._order
            self._write(self._take(start, position, index), counts, values, order)

    def _row(self, key: Key) -> int:
        index = self._index.get(key[0])
        if index is None or key[1] >= len(index):
            return -1
        return index[key[1]]

    def _take(self, start: int, position: int, index: array | None) -> int:
        """A row (a freed one first) for the final at ``position`` of the group at ``start``, put in
        the group's ``index``, set next."""
        if self._free:
            row = self._free.pop()
        else:
            row = self._fresh
            self._fresh += 1
            if row >> _BLOCK_BITS == len(self._blocks):
                self._blocks.append(bytearray(_BLOCK_ROWS * _ROW.size))
        if index is None:
            index = self._index[start] = array("i")
            self._held[start] = 0
        missing = position - len(index)
        if missing >= 0:  # a seal's positions come in order: the array's own spare room
            if missing:
                index.extend(_NO_ROW * missing)
            index.append(row)
        else:
            index[position] = row
        self._held[start] += 1
        self._len += 1
        self._order += 1
        return row

    def _read(self, row: int) -> tuple:
        return _ROW.unpack_from(self._blocks[row >> _BLOCK_BITS], (row & _IN_BLOCK) * _ROW.size)

    def _write(self, row: int, counts: Sequence[int], values: tuple, order: int) -> None:
        _ROW.pack_into(self._blocks[row >> _BLOCK_BITS], (row & _IN_BLOCK) * _ROW.size, *counts, *values, order)

    def _gather(self, rows: np.ndarray) -> np.ndarray:
        table = np.empty(len(rows), _ROW_DTYPE)
        blocks = rows >> _BLOCK_BITS
        for block in np.unique(blocks).tolist():
            hit = blocks == block
            table[hit] = np.frombuffer(self._blocks[block], _ROW_DTYPE)[rows[hit] & _IN_BLOCK]
        return table


def _aggregate(values: tuple) -> WindowAggregate:
    return row_aggregate(values[:_K], values[_K : _K + 2], values[_K + 2 : _K + 5])
