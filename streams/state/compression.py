"""The snapshot records written compressed (the open state's parts, the sealed account buckets): a
zstd frame, its magic number first. JSON rows of ids, counters and timestamps, and columns that are
mostly zeros, shrink 2.4 to 8 times (a week's plateau, per interval: young lives 7.3 -> 3.1 MiB, post
windows 5.9 -> 0.8, sealed account buckets 0.85 -> 0.22), and so do a snapshot's bytes on the broker,
on the wire and in a restore's fetch. A value without the magic number (an earlier
release's) is read as it is: neither JSON (``{``, ``[``) nor a bucket's header line begins with it.

By python-zstandard, a compression context kept per thread: a restore decompresses ~88,000 parts, most
of a few hundred bytes, and cramjam (which aiokafka uses) makes a context per call, 14.6 us a frame
against 2.2 (compressing them: 1.72 -> 0.42 s). The frames are zstd's: cramjam reads them back in the
tests."""

from __future__ import annotations

import threading

import zstandard

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_LEVEL = 3  # zstd's default


_contexts = threading.local()  # a context serves one call at a time


def compressed(value: bytes) -> bytes:
    try:
        compressor = _contexts.compressor
    except AttributeError:
        compressor = _contexts.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return compressor.compress(value)


def decompressed(value: bytes) -> bytes:
    """A record's value as it was encoded, compressed or (an earlier release's) not."""
    if value[:4] != ZSTD_MAGIC:
        return value
    try:
        decompressor = _contexts.decompressor
    except AttributeError:
        decompressor = _contexts.decompressor = zstandard.ZstdDecompressor()
    try:
        return decompressor.decompress(value)
    except zstandard.ZstdError:  # a frame without its size in the header (streamed): read as a stream
        return decompressor.decompressobj().decompress(value)
