"""The unresolved mentions (open or acknowledged) in about 29 bytes each, for the days they are held.

A mention is kept by the 64-bit key of its event id's fingerprint (``mention_key``), its ts, its
account (an index into an ``InternTable``) and its state, in numpy arrays sorted by key (8 + 8 + 4 + 1
bytes), with the seq of its id in ``MentionIds`` (4 bytes, and the compressed id: ~3 bytes for the
simulator's ids) to close it in the topic when it expires. The mentions added since the last seal wait
in a dict (up to CHUNK_IDS of them, ~200 bytes each) and are merged in at once. A lookup is the dict,
then one binary search. Removal sets the state REMOVED; the arrays are compacted once a quarter of
them is removed.

Key collisions: two mentions whose ids share 64 bits are one mention here (the later replaces it, or a
reply to one acknowledges the other). With n mentions held, P(per lookup) <= n / 2**64. Worst case,
the simulator's 50 mentions/s all on one partition and never answered for the 3-day retention:
n = 13e6; a year of 150 lookups/s (mentions, replies, resolves) is 4.7e9 lookups: 3.3e-3
wrong mentions per year, each one mention's response time. Dedup keeps 96 bits because a collision
there loses an event.
"""

from __future__ import annotations

import numpy as np

from .dedup import fingerprint, fingerprints
from .mention_ids import CHUNK_IDS, MentionIds

OPEN, ACKNOWLEDGED, REMOVED = 0, 1, 2
_COMPACT_SHARE = 4  # compact the arrays once more than 1 / _COMPACT_SHARE of them is removed


def mention_key(event_id: str) -> int:
    """The first 64 bits of the id's fingerprint (the dedup memory's key of the same id)."""
    return int.from_bytes(fingerprint(event_id)[:8], "little")


def mention_keys(event_ids: list[str]) -> np.ndarray:
    """``mention_key`` of each id, the loop in C."""
    return np.frombuffer(b"".join(fingerprints(event_ids)), [("key", "<u8"), ("rest", "V8")])["key"].astype(np.uint64)


class MentionStore:
    def __init__(self, seal_at: int = CHUNK_IDS, ids: MentionIds | None = None) -> None:
        self.seal_at = seal_at  # pending mentions merged in at once (small only in tests)
        self.pending: dict[int, list] = {}  # key -> [event_id, account, ts, state]: added since the seal
        self.keys = np.zeros(0, np.uint64)
        self.ts = np.zeros(0, np.int64)
        self.accounts = np.zeros(0, np.uint32)
        self.seqs = np.zeros(0, np.uint32)
        self.states = np.zeros(0, np.uint8)
        self.ids = MentionIds() if ids is None else ids
        self.counts = [0, 0]  # held, by state: open, acknowledged
        self._removed = 0  # array entries REMOVED

    def get(self, key: int) -> tuple[int, int, int] | None:
        """(state, account, ts) of the mention held with this key."""
        entry = self.pending.get(key)
        if entry is not None:
            return entry[3], entry[1], entry[2]
        at = self._find(key)
        return None if at is None else (int(self.states[at]), int(self.accounts[at]), int(self.ts[at]))

    def held_keys(self, keys: np.ndarray) -> list[int]:
        """Those of these keys a mention may be held with (``remove`` tells): checked at once, where a
        search each took a restore's chunk ~3 us a key."""
        found: list[int] = []
        if len(self.keys):
            at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            found = keys[self.keys[at] == keys].tolist()
        if self.pending:
            found += [key for key in keys.tolist() if key in self.pending]
        return found

    def put(self, key: int, event_id: str, account: int, ts: int, state: int) -> None:
        """Hold a mention (replacing one held with its key)."""
        self.remove(key)
        self.pending[key] = [event_id, account, ts, state]
        self.counts[state] += 1
        if len(self.pending) >= self.seal_at:
            self.seal()

    def acknowledge(self, key: int) -> None:
        """The held open mention of this key becomes acknowledged."""
        entry = self.pending.get(key)
        if entry is not None:
            entry[3] = ACKNOWLEDGED
        else:
            self.states[self._find(key)] = ACKNOWLEDGED
        self.counts[OPEN] -= 1
        self.counts[ACKNOWLEDGED] += 1

    def remove(self, key: int) -> bool:
        """Stop holding the mention of this key; whether one was held."""
        entry = self.pending.pop(key, None)
        if entry is not None:
            self.counts[entry[3]] -= 1
            return True
        at = self._find(key)
        if at is None:
            return False
        self.counts[self.states[at]] -= 1
        self.states[at] = REMOVED
        self._removed += 1
        if self._removed * _COMPACT_SHARE > len(self.keys):
            self._compact()
        return True

    def expire(self, open_before: int, acknowledged_before: int) -> list[str]:
        """Stop holding the open mentions with ts < open_before and the acknowledged ones with ts <
        acknowledged_before: their event ids."""
        before = (open_before, acknowledged_before)
        gone = [key for key, entry in self.pending.items() if entry[2] < before[entry[3]]]
        expired = [self.pending[key][0] for key in gone]
        for key in gone:
            self.remove(key)
        is_open, is_acknowledged = self.states == OPEN, self.states == ACKNOWLEDGED
        at = np.flatnonzero((is_open & (self.ts < open_before)) | (is_acknowledged & (self.ts < acknowledged_before)))
        if len(at):
            expired += self.ids.at(self.seqs[at])
            for state in (OPEN, ACKNOWLEDGED):
                self.counts[state] -= int(np.count_nonzero(self.states[at] == state))
            self.states[at] = REMOVED
            self._removed += len(at)
            if self._removed * _COMPACT_SHARE > len(self.keys):
                self._compact()
        return expired

    def columns(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(states, accounts, ts) of the arrays and of the pending mentions (REMOVED: not held)."""
        pending = list(self.pending.values())
        return [
            (self.states, self.accounts, self.ts),
            (
                np.fromiter((e[3] for e in pending), np.uint8, len(pending)),
                np.fromiter((e[1] for e in pending), np.uint32, len(pending)),
                np.fromiter((e[2] for e in pending), np.int64, len(pending)),
            ),
        ]

    def seal(self) -> None:
        """Merge the pending mentions into the arrays."""
        if not self.pending:
            return
        keys = np.fromiter(self.pending, np.uint64, len(self.pending))
        entries = list(self.pending.values())
        self.pending = {}
        for entry in entries:
            self.counts[entry[3]] -= 1
        self.add_many(
            keys,
            [e[0] for e in entries],
            np.fromiter((e[1] for e in entries), np.uint32, len(entries)),
            np.fromiter((e[2] for e in entries), np.int64, len(entries)),
            np.fromiter((e[3] for e in entries), np.uint8, len(entries)),
        )

    def add_many(self, keys: np.ndarray, event_ids: list[str], accounts, ts, states) -> None:
        """Hold these mentions (keys distinct, none held yet), straight into the arrays: a restore."""
        first = self.ids.add(event_ids)
        seqs = np.arange(first, first + len(keys), dtype=np.uint32)
        for state in (OPEN, ACKNOWLEDGED):
            self.counts[state] += int(np.count_nonzero(states == state))
        order = np.argsort(keys, kind="stable")
        at = np.searchsorted(self.keys, keys[order]) + np.arange(len(keys))
        old = np.ones(len(self.keys) + len(keys), bool)
        old[at] = False
        for name, new in (("keys", keys), ("ts", ts), ("accounts", accounts), ("states", states), ("seqs", seqs)):
            merged = np.empty(len(old), getattr(self, name).dtype)
            merged[at], merged[old] = new[order], getattr(self, name)
            setattr(self, name, merged)

    def entries(self) -> dict[int, tuple[int, int, int]]:
        """Every mention held: key -> (state, account, ts)."""
        alive = np.flatnonzero(self.states != REMOVED)
        out = {
            k: (s, a, t)
            for k, s, a, t in zip(
                self.keys[alive].tolist(),
                self.states[alive].tolist(),
                self.accounts[alive].tolist(),
                self.ts[alive].tolist(),
                strict=True,
            )
        }
        out.update((key, (e[3], e[1], e[2])) for key, e in self.pending.items())
        return out

    def _find(self, key: int) -> int | None:
        """The array index holding this key (entries REMOVED skipped: a key may come back)."""
        key_ = np.uint64(key)
        at = int(np.searchsorted(self.keys, key_))
        while at < len(self.keys) and self.keys[at] == key_:
            if self.states[at] != REMOVED:
                return at
            at += 1
        return None

    def _compact(self) -> None:
        alive = np.flatnonzero(self.states != REMOVED)
        self.keys, self.ts, self.accounts, self.states = (
            self.keys[alive],
            self.ts[alive],
            self.accounts[alive],
            self.states[alive],
        )
        seqs = self.seqs[alive]
        by_seq = np.argsort(seqs, kind="stable")
        self.seqs = np.empty(len(seqs), np.uint32)
        self.seqs[by_seq] = self.ids.keep(seqs[by_seq])
        self._removed = 0
