"""The C allocator of the worker process: large blocks go back to the system when they are freed.

glibc's malloc serves a request above M_MMAP_THRESHOLD with a mapping of its own, unmapped on free;
smaller ones come from its heaps, whose free space stays in the process (RSS) while anything is
allocated above it. The threshold starts at 128 KiB but is dynamic: each freed mapped block raises it
to that block's size (up to 32 MiB). The worker allocates multi-megabyte blocks all the time (a dedup
bucket's arrays rebuilt at each commit, a restore's fetched snapshots, a window close's records), so
after the first few frees they all come from the heaps, and RSS climbed in steps that never came back
down. Setting the threshold fixes it, and so keeps those blocks mapped and returned when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD_BYTES = 256 * 1024  # blocks from here up are mapped: a few thousand at most alive at once


def return_large_blocks_to_the_system() -> bool:
    """Fix the mmap threshold (glibc); False where the C library has no mallopt (musl, macOS)."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
