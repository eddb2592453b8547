"""The post book's index (streams.kafka.post_records): post id -> the row of the post's latest record.

The ids' ``hash`` (cached in each string: no hashing cost) sorted in a numpy array with the rows (8 + 4
bytes), searched and then checked against the row's post id (the rows' ids are passed in), so two ids
of equal hash are still two posts. The ids added since the last seal wait in a dict (up to ``seal_at``
of them, ~100 bytes each) and are merged in at once. An id is in one of the two, never both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

REMOVED = -1  # in the sorted rows: the entry's record was removed (dropped at the next prune)
SEAL_AT = 4096  # ids added before they are merged into the sorted index


class PostIndex:
    """post id -> row, of ``held`` posts."""

    def __init__(self, seal_at: int = SEAL_AT):
        self.seal_at = seal_at
        self.pending: dict[str, int] = {}
        self.hashes = np.zeros(0, np.int64)  # hash(post_id), sorted
        self.rows = np.zeros(0, np.int32)  # aligned with hashes; REMOVED: no record
        self.held = 0

    def row(self, post_id: str, ids: Sequence[str]) -> int:
        """The row of ``post_id``'s record, or -1."""
        row = self.pending.get(post_id)
        if row is not None:
            return row
        at = self._at(post_id, ids)
        return -1 if at < 0 else self.rows.item(at)

    def put(self, post_id: str, row: int, ids: Sequence[str]) -> int:
        """Point ``post_id`` at ``row``; the row it pointed at, or -1 (a post not held)."""
        old = self._put(post_id, row, ids)
        if len(self.pending) >= self.seal_at:
            self.seal()
        return old

    def put_run(self, post_ids: list[str], first: int, ids: Sequence[str]) -> list[int]:
        """``put`` of each ``post_ids[i]`` at row ``first + i`` in turn; the rows they replaced. The
        sorted part is searched once for the whole run (a sealed id re-sent: few), not per id."""
        hashes, rows = self.hashes, self.rows
        sealed: dict[int, int] = {}  # i -> where the sorted part holds post_ids[i]'s hash first
        if len(hashes):
            keys = np.fromiter(map(hash, post_ids), np.int64, len(post_ids))
            at = hashes.searchsorted(keys)
            inside = at < len(hashes)
            found = np.zeros(len(post_ids), bool)
            found[inside] = hashes[at[inside]] == keys[inside]
            hits = np.flatnonzero(found)
            sealed = dict(zip(hits.tolist(), at[hits].tolist()))
        pending, replaced = self.pending, []
        for i, post_id in enumerate(post_ids):
            at_hash = sealed.get(i)
            if at_hash is not None:  # maybe sealed; no seal within the run
                old = rows.item(at_hash)
                if old >= 0 and ids[old] == post_id:  # the first of its hash: a post re-sent
                    rows[at_hash] = first + i
                else:  # an equal hash, or removed: searched
                    old = self._put(post_id, first + i, ids)
            else:
                old = pending.get(post_id, -1)
                pending[post_id] = first + i
                if old < 0:
                    self.held += 1
            if old >= 0:
                replaced.append(old)
        if len(pending) >= self.seal_at:
            self.seal()
        return replaced

    def remove(self, post_id: str, ids: Sequence[str]) -> int:
        """Forget ``post_id``; the row it pointed at, or -1 (a post not held)."""
        row = self.pending.pop(post_id, None)
        if row is None:
            at = self._at(post_id, ids)
            if at < 0:
                return -1
            row = self.rows.item(at)
            self.rows[at] = REMOVED
        self.held -= 1
        return row

    def held_ids(self, ids: Sequence[str]) -> list[str]:
        return list(self.pending) + [ids[row] for row in self.rows[self.rows >= 0].tolist()]

    def held_rows(self) -> np.ndarray:
        """The rows of the posts held, all sealed (the order ``keep`` takes them in)."""
        self.seal()
        return self.rows[self.rows >= 0]

    def keep(self, kept: np.ndarray, renumber: np.ndarray) -> None:
        """Keep the posts whose ``held_rows`` are ``kept`` (a mask over them), their rows renumbered."""
        held = self.rows >= 0
        entries = held.copy()
        entries[held] = kept
        self.hashes = self.hashes[entries]
        self.rows = renumber[self.rows[entries]].astype(np.int32)
        self.held = len(self.rows)

    def seal(self) -> None:
        """Merge the pending ids into the sorted index."""
        pending = self.pending
        if not pending:
            return
        keys = np.fromiter(map(hash, pending), np.int64, len(pending))
        rows = np.fromiter(pending.values(), np.int32, len(pending))
        order = np.argsort(keys, kind="stable")
        keys, rows = keys[order], rows[order]
        at = np.searchsorted(self.hashes, keys)
        self.hashes = np.insert(self.hashes, at, keys)
        self.rows = np.insert(self.rows, at, rows)
        self.pending = {}

    def _put(self, post_id: str, row: int, ids: Sequence[str]) -> int:
        pending = self.pending
        old = pending.get(post_id)
        if old is not None:
            pending[post_id] = row
            return old
        at = self._at(post_id, ids)
        if at >= 0:
            old = self.rows.item(at)
            self.rows[at] = row
            return old
        pending[post_id] = row
        self.held += 1
        return -1

    def _at(self, post_id: str, ids: Sequence[str]) -> int:
        """Where the sorted part holds ``post_id``'s record, or -1."""
        hashes, rows = self.hashes, self.rows
        h = hash(post_id)
        at = hashes.searchsorted(h).item()
        n = len(hashes)
        while at < n and hashes.item(at) == h:
            row = rows.item(at)
            if row >= 0 and ids[row] == post_id:
                return at
            at += 1
        return -1
