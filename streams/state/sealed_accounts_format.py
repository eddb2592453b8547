"""The snapshot records of the sealed account buckets (``streams.state.sealed_accounts``): one record per bucket,
key ``a/<window start>``, written once when the bucket is sealed and deleted (tombstone) when it leaves
the rolling window; the per-interval snapshot writes only the open buckets.

A value is self-contained (the shared tables are process-local): a JSON header line with the ids the
bucket uses, then its columns as little-endian arrays:

    {"v": 1, "types": counts per row, "accounts": [row's account id, ...], "platforms": [...],
     "posts": [...], "post_ids": how many post indices, "responses": rows with responses}\\n
    platforms <i2 (rows) | ints <i4 (rows x (types + 3)) | sums <f8 (rows x 2) | post_ends <i4 (rows)
    | posts <i4 | response_rows <i4 | responses <i8 (x 6)

``types``: a count list written before a type was added is short and reads as zeros, as in
``WindowAggregate.from_state``.
"""

from __future__ import annotations

import numpy as np
import orjson

from .compression import compressed, decompressed
from .sealed_accounts import INT_COLUMNS, N_TYPES, RESPONSE_FIELDS, SealedAccounts, SealedBucket

ACCOUNT_BUCKET_PREFIX = b"a/"
Record = tuple[bytes, "bytes | None"]  # as streams.state.snapshot's


def bucket_key(start: int) -> bytes:
    return ACCOUNT_BUCKET_PREFIX + str(start).encode()


def encode_bucket(sealed: SealedAccounts, start: int) -> bytes:
    b = sealed.buckets[start]
    platforms, platform_rows = np.unique(b.platforms, return_inverse=True)
    posts, post_rows = np.unique(b.posts, return_inverse=True)
    account_names, platform_names, post_names = sealed.accounts.names, sealed.platforms.names, sealed.posts.names
    header = {
        "v": 1,
        "types": N_TYPES,
        "accounts": [account_names[i] for i in b.accounts.tolist()],
        "platforms": [platform_names[i] for i in platforms.tolist()],
        "posts": [post_names[i] for i in posts.tolist()],
        "post_ids": len(b.posts),
        "responses": len(b.response_rows),
    }
    columns = (
        (platform_rows, "<i2"),
        (b.ints, "<i4"),
        (b.sums, "<f8"),
        (b.post_ends, "<i4"),
        (post_rows, "<i4"),
        (b.response_rows, "<i4"),
        (b.responses, "<i8"),
    )
    return orjson.dumps(header) + b"\n" + b"".join(np.ascontiguousarray(c, dtype).tobytes() for c, dtype in columns)


def decode_bucket(value: bytes, sealed: SealedAccounts) -> SealedBucket:
    """A bucket of ``encode_bucket`` (its record's value, compressed or not), its ids interned in
    ``sealed``'s tables."""
    raw_header, _, body = decompressed(value).partition(b"\n")
    header = orjson.loads(raw_header)
    rows, types = len(header["accounts"]), header["types"]
    n_posts, n_responses = header["post_ids"], header["responses"]
    offset = 0

    def take(dtype: str, count: int) -> np.ndarray:
        nonlocal offset
        out = np.frombuffer(body, dtype, count, offset)
        offset += out.nbytes
        return out

    platform_rows = take("<i2", rows)
    written = take("<i4", rows * (types + 3)).reshape(rows, types + 3)
    ints = np.zeros((rows, INT_COLUMNS), np.int32)
    ints[:, :types] = written[:, :types]
    ints[:, N_TYPES:] = written[:, types:]
    sums = take("<f8", rows * 2).reshape(rows, 2).astype(np.float64)
    post_ends = take("<i4", rows).astype(np.int32)
    post_rows = take("<i4", n_posts)
    response_rows = take("<i4", n_responses).astype(np.int32)
    responses = take("<i8", n_responses * RESPONSE_FIELDS).reshape(n_responses, RESPONSE_FIELDS).astype(np.int64)
    return SealedBucket(
        sealed.accounts.indexes(header["accounts"]),
        sealed.platforms.indexes(header["platforms"]).astype(np.int16)[platform_rows],
        ints,
        sums,
        post_ends,
        sealed.posts.indexes(header["posts"])[post_rows],
        response_rows,
        responses,
    )


class SealedBucketRecords:
    """Which sealed account buckets the snapshot topic holds: each written once, and deleted when the
    state no longer holds it. After a restore, those read back (``written``); a bucket sealed by the
    replay itself is written at the next commit."""

    def __init__(self) -> None:
        self.written: set[int] = set()

    def sync(self, sealed: SealedAccounts) -> list[Record]:
        records: list[Record] = [(bucket_key(s), None) for s in sorted(self.written) if s not in sealed]
        records += [
            (bucket_key(s), compressed(encode_bucket(sealed, s))) for s in sealed.starts() if s not in self.written
        ]
        self.written = set(sealed.starts())
        return records
