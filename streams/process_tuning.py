"""Tuning of the worker process, set once at start before anything is allocated: the garbage
collector's thresholds and glibc's allocator; and the free memory handed back after a restore and
after each snapshot (``return_free_memory``).

The cyclic garbage collector: run less often than CPython's default.

By default a young collection runs every 700 allocations of container objects, and objects that
survive two of them are scanned again by every older collection. The engine allocates a few such
objects per event (window and lifetime deltas, their aggregates), nearly all freed by reference
counting at the next commit, and the state it keeps holds no reference cycles. So the default spent
about 15 % of the fold's time scanning (a fold micro-benchmark: 0.33 s of 1.8 s for 200,000 events,
two full collections of 0.12 s each), most of it on objects that were live and going to stay so. With a
young generation of 50,000 that falls to 0.05 s; the cycles asyncio and exceptions make are still
collected, a few tens of thousands of objects later.

A restore pauses the collector (``collection_paused``): it builds millions of objects that live on
(a week's state), so collections during it only scan what survives them all. A week's restore in one
process, three runs each: 11.4 / 9.8 / 11.6 s with the thresholds above, 10.6 / 9.4 / 9.4 s paused
(without the reads and the waits: 9.2 s against 6.7). Its own objects hold no cycles, but the
Kafka reader of the snapshot topic leaves ~180 MB in reference cycles (aiokafka's): the restore
collects them once that read is done (``collect_cycles``, 0.05 s: the state is not built yet), or its
peak RSS grew by that much (a week's restore: 597 MB with collections, 823 paused, 642 paused and
collected).

The C allocator: large blocks go back to the system when they are freed.

glibc's malloc serves a request above M_MMAP_THRESHOLD with a mapping of its own, unmapped on free;
smaller ones come from its heaps, whose free space stays in the process (RSS) while anything is
allocated above it. The threshold starts at 128 KiB but is dynamic: each freed mapped block raises it
to that block's size (up to 32 MiB). The worker allocates multi-megabyte blocks all the time (a dedup
bucket's arrays rebuilt at each commit, a restore's fetched snapshots, a window close's records), so
after the first few frees they all come from the heaps, and RSS climbed in steps that never came back
down. Setting the threshold fixes it, and so keeps those blocks mapped and returned when freed.

What the heap frees stays in it: a restore decodes its snapshot into hundreds of MB of small
objects, most freed once loaded, and a close's records the same, so a worker at a week's plateau
kept about 550 MB of free heap (RSS) after its first close. glibc returns the free pages of its heaps
only when asked (``malloc_trim``): the engine asks after a restore and after a commit that wrote
snapshots, a walk of the heap's free blocks (milliseconds), once per snapshot interval at most.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

YOUNG_COLLECTION_ALLOCATIONS = 50_000  # CPython's default: 700
OLDER_COLLECTION_EVERY = (20, 100)  # young collections per middle one, middle per full (default 10, 10)
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD_BYTES = 256 * 1024  # blocks from here up are mapped: a few thousand at most alive at once


def tune_the_process() -> None:
    """Both, in order: the allocator first, before the allocations it is about."""
    return_large_blocks_to_the_system()
    collect_less_often()


def collect_less_often() -> None:
    gc.set_threshold(YOUNG_COLLECTION_ALLOCATIONS, *OLDER_COLLECTION_EVERY)


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic collection within (if there was before: a pause within a pause keeps it paused)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def set_aside_when_built() -> Iterator[Callable[[], None]]:
    """Within, calling what it gives (``gc.freeze``) leaves every object tracked so far out of the
    collections that follow, until the exit. A restore builds one partition after the other, and each
    partition's ``collect_cycles`` scanned every partition built before: 1.05 s of a week's restore of
    8 partitions went to those collections."""
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()


def collect_cycles() -> int:
    """A full collection now (paused or not); the objects it found unreachable."""
    return gc.collect()


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def return_free_memory() -> bool:
    """Hand the heaps' free pages back to the system (glibc's ``malloc_trim``); False where the C
    library has none (musl, macOS) or nothing was returned."""
    try:
        malloc_trim = _libc().malloc_trim
    except (OSError, AttributeError):
        return False
    return bool(malloc_trim(0))


def return_large_blocks_to_the_system() -> bool:
    """Fix the mmap threshold (glibc); False where the C library has no mallopt (musl, macOS)."""
    try:
        mallopt = _libc().mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
