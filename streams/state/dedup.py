"""The dedup memory: which event ids arrived within the horizon, in about 14 bytes per id.

A dict of event id -> time costs ~130 bytes per id (530 MB at 4,000 events/s over 900 s). Here an
id is remembered as its fingerprint (xxh3-128 of the UTF-8 id; stable across processes and
machines, so the journal and snapshots carry fingerprints, not ids), of which 96 bits are kept: a
64-bit key and a 32-bit check.

Memory: ids live in time buckets of their arrival. Per bucket, numpy arrays: the keys sorted (8
bytes per id), the checks aligned with them (4), and a directory of where each key prefix starts
(one uint32 per IDS_PER_SLOT to 2 * IDS_PER_SLOT ids: 1 to 2 bytes per id): 13 to 14 bytes per id.
The ids remembered since the last flush wait in a set (exact, ~100 bytes each): one commit's worth.

Lookups: a binary search misses the cache at nearly every step once the buckets outgrow it, one
miss after the other. With the directory a lookup in a bucket is two reads (the prefix's slot, then
its few keys, compared all at once), independent across the events of a slice, so they overlap.

False duplicates: a real event is dropped when its 96 bits equal those of a remembered id. With n
ids remembered by the partition, P(false duplicate per lookup) <= n / 2**96. Worst case, 20,000
events/s all on ONE partition, 900 s horizon + one 60 s bucket: n <= 20,000 * 960 = 19.2e6. A year
is 20,000 * 3.16e7 = 6.3e11 lookups: 6.3e11 * 19.2e6 / 2**96 = 1.5e-10 false duplicates per year.

Expiry is by bucket: a bucket [start, start + bucket_ms) is dropped whole once start + bucket_ms <=
clock - horizon, so an id is remembered for at least the horizon after its arrival and at most
one bucket longer.
"""

from __future__ import annotations

import sys

import numpy as np
import xxhash

FINGERPRINT_BYTES = 16
KEY_BITS, CHECK_BITS = 64, 32  # of the fingerprint, kept: 96 bits (narrower only to measure collisions)
IDS_PER_SLOT = 2  # directory density: one 4-byte slot per 2 to 4 ids of a bucket
_LAYOUT = np.dtype([("key", "<u8"), ("check", "<u4"), ("rest", "V4")])  # a fingerprint's 16 bytes
_STORED_BYTES = 12  # per id in a bucket blob: key, then check
BLOB_PART_IDS = 1 << 16  # ids per snapshot record of a bucket: 768 KiB (1 MiB in base64)
_PENDING_ID_BYTES = sys.getsizeof(bytes(FINGERPRINT_BYTES))  # each pending fingerprint: a bytes object


def fingerprint(event_id: str) -> bytes:
    """16 bytes: xxh3-128 of the UTF-8 id, the same in every process and on every machine."""
    return xxhash.xxh3_128_digest(event_id.encode())


def fingerprints(event_ids) -> list[bytes]:
    """``fingerprint`` of each id, the loop in C."""
    return list(map(xxhash.xxh3_128_digest, map(str.encode, event_ids)))


class _Bucket:
    """The ids of one bucket: keys sorted, checks aligned, and where each key prefix starts."""

    __slots__ = ("keys", "checks", "shift", "slots")

    def __init__(self, keys: np.ndarray, checks: np.ndarray, key_bits: int):
        self.keys, self.checks = keys, checks
        prefix_bits = min(key_bits, max(0, (len(keys) // IDS_PER_SLOT).bit_length() - 1))
        self.shift = np.uint64(key_bits - prefix_bits)
        counts = np.bincount((keys >> self.shift).astype(np.intp), minlength=1 << prefix_bits)
        self.slots = np.zeros(len(counts) + 1, np.uint32)  # keys of prefix p: [slots[p], slots[p + 1])
        np.cumsum(counts, out=self.slots[1:])

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.checks.nbytes + self.slots.nbytes

    def mark(self, keys: np.ndarray, checks: np.ndarray, found: np.ndarray) -> None:
        """Set ``found`` where (key, check) is in this bucket: every entry with the key is compared."""
        prefix = (keys >> self.shift).astype(np.intp)
        first = self.slots[prefix].astype(np.intp)
        count = self.slots[prefix + 1] - first
        asker = np.repeat(np.arange(len(keys)), count)  # per candidate entry: which lookup it serves
        entry = np.arange(len(asker)) + np.repeat(first - (np.cumsum(count) - count), count)
        same_key = np.flatnonzero(self.keys[entry] == keys[asker])
        same = same_key[self.checks[entry[same_key]] == checks[asker[same_key]]]
        found[asker[same]] = True


def _merge(old: _Bucket | None, keys: np.ndarray, checks: np.ndarray, key_bits: int) -> _Bucket:
    """A bucket of old's ids and these (in any order): new ids slot in by binary search."""
    order = np.argsort(keys)
    keys, checks = keys[order], checks[order]
    if old is not None:
        at = np.searchsorted(old.keys, keys) + np.arange(len(keys))
        rest = np.ones(len(old.keys) + len(keys), bool)
        rest[at] = False
        keys, checks = _interleave(at, keys, rest, old.keys), _interleave(at, checks, rest, old.checks)
    return _Bucket(keys, checks, key_bits)


def _interleave(at: np.ndarray, new: np.ndarray, rest: np.ndarray, old: np.ndarray) -> np.ndarray:
    out = np.empty(len(rest), old.dtype)
    out[at], out[rest] = new, old
    return out


class DedupMemory:
    """Fingerprints by arrival bucket; ``key_bits``/``check_bits`` narrow them only for tests."""

    def __init__(self, horizon_ms: int, bucket_ms: int, key_bits: int = KEY_BITS, check_bits: int = CHECK_BITS):
        if not (1 <= key_bits <= KEY_BITS and 1 <= check_bits <= CHECK_BITS):
            raise ValueError(f"key_bits in 1..{KEY_BITS}, check_bits in 1..{CHECK_BITS}")
        self.horizon_ms, self.bucket_ms = horizon_ms, bucket_ms
        self.key_bits, self.check_bits = key_bits, check_bits
        self._buckets: dict[int, _Bucket] = {}  # by start
        # Fingerprints remembered since the last flush: the caller's test is ``seen_before or in pending``,
        # and it adds each accepted event's fingerprint here.
        self.pending: set[bytes] = set()
        # Per bucket start, the ids added since the snapshot topic last got them (``take_unwritten``).
        self._unwritten: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}

    def seen_before(self, fingerprints: list[bytes]) -> list[bool]:
        """Per fingerprint of a slice, in order: remembered in a flushed bucket? The pending set is
        not looked at and nothing is remembered (see ``pending``)."""
        keys, checks = self._split(b"".join(fingerprints))
        found = np.zeros(len(keys), bool)
        for bucket in self._buckets.values():
            bucket.mark(keys, checks, found)
        return found.tolist()

    def flush(self, arrival_ms: int) -> bytes:
        """Move the pending ids into the bucket of arrival_ms (the latest of their arrivals, so that
        none expires early). Returns their fingerprints concatenated, for the journal (b"": none)."""
        if not self.pending:
            return b""
        blob = b"".join(self.pending)
        self.pending = set()
        self.add(arrival_ms, blob)
        return blob

    def add(self, bucket_arrival_ms: int, blob: bytes) -> None:
        """Replay: remember the fingerprints of ``blob`` (as ``flush`` returned it) in the bucket of
        bucket_arrival_ms."""
        if blob:
            start = bucket_arrival_ms - bucket_arrival_ms % self.bucket_ms
            keys, checks = self._split(blob)
            self._buckets[start] = _merge(self._buckets.get(start), keys, checks, self.key_bits)
            self._unwritten.setdefault(start, []).append((keys, checks))

    def take_unwritten(self) -> dict[int, list[bytes]]:
        """Per bucket start, the ids added since the last call (by ``add``, ``flush`` or
        ``load_bucket_parts(..., written=False)``), as bucket blobs of at most BLOB_PART_IDS ids:
        the snapshot topic gets each id once, whatever the size of its bucket."""
        taken = {}
        for start, added in self._unwritten.items():
            keys = np.concatenate([k for k, _ in added]).astype("<u8")
            checks = np.concatenate([c for _, c in added]).astype("<u4")
            taken[start] = [
                keys[i : i + BLOB_PART_IDS].tobytes() + checks[i : i + BLOB_PART_IDS].tobytes()
                for i in range(0, len(keys), BLOB_PART_IDS)
            ]
        self._unwritten = {}
        return taken

    def expire(self, clock_ms: int) -> list[int]:
        """Drop the buckets wholly beyond the horizon at clock_ms; returns their starts, oldest first."""
        gone = [s for s in sorted(self._buckets) if s + self.bucket_ms <= clock_ms - self.horizon_ms]
        for start in gone:
            del self._buckets[start]
            self._unwritten.pop(start, None)
        return gone

    def bucket_blob(self, start: int) -> bytes:
        """A bucket as bytes for a snapshot record: its keys, then its checks (12 bytes per id)."""
        bucket = self._buckets[start]
        return bucket.keys.astype("<u8").tobytes() + bucket.checks.astype("<u4").tobytes()

    def load_bucket(self, start: int, blob: bytes) -> None:
        """The inverse of ``bucket_blob``: the bucket becomes exactly the blob's ids."""
        n, odd = divmod(len(blob), _STORED_BYTES)
        if odd:
            raise ValueError(f"a bucket blob holds {_STORED_BYTES} bytes per id, not {len(blob)} bytes")
        self._buckets.pop(start, None)
        if n:
            keys = np.frombuffer(blob, "<u8", n).astype(np.uint64)
            checks = np.frombuffer(blob, "<u4", n, offset=8 * n).astype(np.uint32)
            self._buckets[start] = _merge(None, keys, checks, self.key_bits)

    def load_bucket_parts(self, start: int, parts: list[bytes], written: bool = True) -> None:
        """A bucket from blobs (``bucket_blob``'s format, ``take_unwritten``'s parts) holding its ids
        between them, in any order; ``written=False``: ids the snapshot topic holds in another form
        (a snapshot of an earlier release), to be written again (``take_unwritten``)."""
        keys, checks = [], []
        for part in parts:
            n, odd = divmod(len(part), _STORED_BYTES)
            if odd:
                raise ValueError(f"a bucket blob holds {_STORED_BYTES} bytes per id, not {len(part)} bytes")
            keys.append(part[: 8 * n])
            checks.append(part[8 * n :])
        self.load_bucket(start, b"".join(keys) + b"".join(checks))
        if not written and start in self._buckets:
            bucket = self._buckets[start]
            self._unwritten.setdefault(start, []).append((bucket.keys, bucket.checks))

    def bucket_starts(self) -> list[int]:
        """Starts of the buckets held, oldest first."""
        return sorted(self._buckets)

    def __len__(self) -> int:
        """Ids remembered, pending included."""
        return len(self.pending) + sum(len(b.keys) for b in self._buckets.values())

    def memory_bytes(self) -> int:
        """The arrays' bytes, and the pending set's with its fingerprints."""
        pending = sys.getsizeof(self.pending) + len(self.pending) * _PENDING_ID_BYTES
        unwritten = sum(k.nbytes + c.nbytes for added in self._unwritten.values() for k, c in added)
        return pending + unwritten + sum(b.nbytes for b in self._buckets.values())

    def _split(self, blob: bytes) -> tuple[np.ndarray, np.ndarray]:
        """The kept bits of concatenated fingerprints: (keys, checks). ValueError: not 16 bytes each."""
        parts = np.frombuffer(blob, _LAYOUT)
        return (
            parts["key"] >> np.uint64(KEY_BITS - self.key_bits),
            parts["check"] >> np.uint32(CHECK_BITS - self.check_bits),
        )
