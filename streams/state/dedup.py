"""The dedup memory: which event ids arrived within the horizon, in about 12 bytes per id.

Ids are remembered as fingerprints (xxh3-128 of the UTF-8 id; stable across processes, so the
journal and snapshots carry fingerprints, not ids). Of the 16 bytes, 96 bits are kept: a 64-bit key
and a 32-bit check. Like an LSM tree: the buckets still filling hold a few sorted runs each, and once
a bucket is sealed it is merged into one array sorted by key, with each id's bucket slot alongside
(its bucket number modulo 256, for expiry and snapshots: far fewer buckets than that are alive). The
merge inserts the sealed run at its positions (no sort), so it needs one new array at a time. A slice of events is checked in one vectorised pass (``seen_before``):
a binary search of the merged array and of the few runs. Ids remembered since the last flush wait in
a small set (``remember``) until the commit moves them into their bucket (``flush``).

Memory: 13 bytes per sealed id (key 8, check 4, slot 1), 12 per id of a filling bucket, plus the
pending set, which holds one commit interval's ids.

False duplicates: a real event is dropped when its 96 bits equal those of a remembered id. With n ids
remembered by the partition, P(false duplicate per lookup) <= n / 2**96. Worst case, 20,000 events/s
all in ONE partition with the default 900 s horizon (+ one bucket): n <= 19.2e6; a year is 6.3e11
lookups, so 6.3e11 * 19.2e6 / 2**96 = 1.5e-10 false duplicates per year.

Expiry is by bucket: ids live in buckets [start, start + bucket_ms) of their arrival time (the time
given to ``flush``), and a bucket is dropped whole once start + bucket_ms <= clock - horizon. So an
id is remembered for at least the horizon after it arrived and at most one bucket longer.
"""

from __future__ import annotations

import sys

import numpy as np
import xxhash

FINGERPRINT_BYTES = 16
KEY_BITS, CHECK_BITS = 64, 32  # of the fingerprint, kept: 96 bits
MAX_RUNS = 4  # sorted runs of a filling bucket before they are merged into one
SLOTS = 256  # bucket numbers are kept modulo this (uint8): buckets alive at once are far fewer
_FINGERPRINT = np.dtype([("key", "<u8"), ("check", "<u4"), ("rest", "<u4")])
_PENDING_BYTES_PER_ID = 110  # a set slot, the bytes object (49 + 16) and headroom


def fingerprint(event_id: str) -> bytes:
    return xxhash.xxh3_128_digest(event_id.encode())


def _split(fingerprints: bytes) -> tuple[np.ndarray, np.ndarray]:
    parts = np.frombuffer(fingerprints, dtype=_FINGERPRINT)
    keys, checks = parts["key"], parts["check"]
    if KEY_BITS < 64:  # narrower fingerprints: only for measuring collisions
        keys = keys >> np.uint64(64 - KEY_BITS)
    if CHECK_BITS < 32:
        checks = checks >> np.uint32(32 - CHECK_BITS)
    return keys.copy(), checks.copy()


def _sorted(keys: np.ndarray, *aligned: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.argsort(keys, kind="stable")  # timsort: concatenated sorted runs merge in linear time
    return (keys[order], *(a[order] for a in aligned))


def _contains(sorted_keys: np.ndarray, checks_of: np.ndarray, keys: np.ndarray, checks: np.ndarray,
              found: np.ndarray) -> None:
    """Mark in ``found`` the (key, check) pairs present in a run sorted by key."""
    if not len(sorted_keys):
        return
    left = np.searchsorted(sorted_keys, keys)
    hit = np.flatnonzero(sorted_keys[np.minimum(left, len(sorted_keys) - 1)] == keys)
    for i in hit:  # a key found: compare the check of every entry with that key (usually one)
        j = left[i]
        while j < len(sorted_keys) and sorted_keys[j] == keys[i]:
            if checks_of[j] == checks[i]:
                found[i] = True
                break
            j += 1


class _Filling:
    """A bucket still taking ids: a few sorted runs."""

    __slots__ = ("runs",)

    def __init__(self):
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, keys: np.ndarray, checks: np.ndarray) -> None:
        self.runs.append(_sorted(keys, checks))
        if len(self.runs) > MAX_RUNS:
            self.runs = [_sorted(*self.arrays())]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([k for k, _ in self.runs]), np.concatenate([c for _, c in self.runs])


class DedupMemory:
    def __init__(self, horizon_ms: int, bucket_ms: int):
        self.horizon_ms = horizon_ms
        self.bucket_ms = bucket_ms
        self._keys = np.empty(0, np.uint64)  # sealed buckets, merged and sorted by key
        self._checks = np.empty(0, np.uint32)
        self._slots = np.empty(0, np.uint8)  # each id's bucket number modulo SLOTS
        self._sealed: set[int] = set()
        self._filling: dict[int, _Filling] = {}
        self._pending: set[bytes] = set()

    def seen_before(self, fingerprints: list[bytes]) -> list[bool]:
        """Per fingerprint of a slice: remembered in a flushed bucket? (Not the pending set.)"""
        found = np.zeros(len(fingerprints), dtype=bool)
        if fingerprints and (len(self._keys) or self._filling):
            keys, checks = _split(b"".join(fingerprints))
            order = np.argsort(keys)  # sorted needles: each binary search starts from the last one
            keys, checks = keys[order], checks[order]
            _contains(self._keys, self._checks, keys, checks, found)
            for bucket in self._filling.values():
                for run_keys, run_checks in bucket.runs:
                    _contains(run_keys, run_checks, keys, checks, found)
            found[order] = found.copy()
        return found.tolist()

    def is_pending(self, fp: bytes) -> bool:
        return fp in self._pending

    def remember(self, fp: bytes) -> None:
        self._pending.add(fp)

    def flush(self, arrival_ms: int) -> bytes:
        """Move the pending ids into the bucket of arrival_ms (the latest of their arrivals, so that
        none expires early); returns their fingerprints, for the journal."""
        if not self._pending:
            return b""
        blob = b"".join(self._pending)
        self._pending = set()
        self.add(arrival_ms, blob)
        return blob

    def add(self, arrival_ms: int, blob: bytes) -> None:
        """Remember the fingerprints of ``blob`` (as ``flush`` returned it) in the bucket of arrival_ms."""
        if not blob:
            return
        start = arrival_ms - arrival_ms % self.bucket_ms
        keys, checks = _split(blob)
        if start in self._sealed:  # only a replay adds to a sealed bucket
            self._merge(start, keys, checks)
        else:
            self._filling.setdefault(start, _Filling()).add(keys, checks)

    def expire(self, clock_ms: int) -> list[int]:
        """Drop the buckets wholly beyond the horizon at clock_ms (their starts are returned), and
        merge the buckets sealed by clock_ms into the sorted array."""
        cutoff = clock_ms - self.horizon_ms - self.bucket_ms  # a bucket starting at or before it goes
        gone = sorted({s for s in self._sealed | set(self._filling) if s <= cutoff})
        sealed_gone = [s for s in gone if s in self._sealed]
        if sealed_gone:
            keep = ~np.isin(self._slots, [self._slot(s) for s in sealed_gone])
            self._keys, self._checks, self._slots = self._keys[keep], self._checks[keep], self._slots[keep]
            self._sealed.difference_update(sealed_gone)
            for start in gone:
                self._filling.pop(start, None)
        for start in [s for s in self._filling if s + self.bucket_ms <= clock_ms]:
            self._merge(start, *self._filling.pop(start).arrays())
        return gone

    def _slot(self, start: int) -> int:
        return (start // self.bucket_ms) % SLOTS

    def _merge(self, start: int, keys: np.ndarray, checks: np.ndarray) -> None:
        keys, checks = _sorted(keys, checks)
        at = np.searchsorted(self._keys, keys)
        self._keys = np.insert(self._keys, at, keys)
        self._checks = np.insert(self._checks, at, checks)
        self._slots = np.insert(self._slots, at, np.uint8(self._slot(start)))
        self._sealed.add(start)

    def sealed(self, clock_ms: int) -> list[int]:
        """Starts of the buckets that can take no more ids at clock_ms, oldest first."""
        return sorted(s for s in self._sealed | set(self._filling) if s + self.bucket_ms <= clock_ms)

    def bucket_starts(self) -> list[int]:
        return sorted(self._sealed | set(self._filling))

    def bucket_blob(self, start: int) -> bytes:
        """A bucket as bytes for a snapshot record: its keys, then its checks (12 bytes per id)."""
        if start in self._filling:
            keys, checks = self._filling[start].arrays()
        else:
            mask = self._slots == self._slot(start)
            keys, checks = self._keys[mask], self._checks[mask]
        return keys.astype("<u8").tobytes() + checks.astype("<u4").tobytes()

    def load_bucket(self, start: int, blob: bytes) -> None:
        """The inverse of ``bucket_blob``; the bucket is merged at the next ``expire`` if sealed."""
        n = len(blob) // 12
        bucket = self._filling[start] = _Filling()
        bucket.add(np.frombuffer(blob, "<u8", n).copy(), np.frombuffer(blob, "<u4", n, offset=8 * n).copy())

    def __len__(self) -> int:
        filling = sum(len(k) for bucket in self._filling.values() for k, _ in bucket.runs)
        return len(self._pending) + len(self._keys) + filling

    def memory_bytes(self) -> int:
        arrays = self._keys.nbytes + self._checks.nbytes + self._slots.nbytes + sum(
            k.nbytes + c.nbytes for bucket in self._filling.values() for k, c in bucket.runs)
        return arrays + sys.getsizeof(self._pending) + len(self._pending) * _PENDING_BYTES_PER_ID
