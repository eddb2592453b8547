"""The snapshot records written compressed (the open state's parts, the sealed account buckets): a
zstd frame, its magic number first. JSON rows of ids, counters and timestamps, and columns that are
mostly zeros, shrink 2.4 to 8 times (a week's plateau, per interval: young lives 7.3 -> 3.1 MiB, post
windows 5.9 -> 0.8, sealed account buckets 0.85 -> 0.22), and so do a snapshot's bytes on the broker,
on the wire and in a restore's fetch. A value without the magic number (an earlier
release's) is read as it is: neither JSON (``{``, ``[``) nor a bucket's header line begins with it."""

from __future__ import annotations

import cramjam

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_LEVEL = 3  # zstd's default


def compressed(value: bytes) -> bytes:
    return bytes(cramjam.zstd.compress(value, level=ZSTD_LEVEL))


def decompressed(value: bytes) -> bytes:
    """A record's value as it was encoded, compressed or (an earlier release's) not."""
    return bytes(cramjam.zstd.decompress(value)) if value[:4] == ZSTD_MAGIC else value
