"""The worker's allocator tuning, in a process of its own (pytest's heap would blur the figures):
the free memory a restore or a close leaves in glibc's heap goes back to the system when asked."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

import pytest

from streams.process_tuning import collect_cycles, collection_paused, set_aside_when_built

HEAP_CHURN = """
from streams.process_tuning import return_free_memory, return_large_blocks_to_the_system

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096

return_large_blocks_to_the_system()
base = rss()
blocks = [bytes(2000) + bytes([i % 256]) for i in range(40_000)]  # 80 MB of small heap blocks
keep = blocks[-1]  # the last one stays: the heap's top cannot shrink past it
del blocks
freed = rss()
returned = return_free_memory()
print(freed - base, rss() - base, returned)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap")
def test_the_heap_freed_by_a_restore_goes_back_to_the_system():
    out = subprocess.run([sys.executable, "-c", HEAP_CHURN], capture_output=True, text=True, check=True).stdout
    held, after, returned = out.split()
    assert int(held) > 70_000_000  # freed, but still the process's
    assert int(after) < 5_000_000 and returned == "True"


def test_collection_is_paused_within_and_resumes_as_it_was():
    assert gc.isenabled()
    try:
        with collection_paused():
            assert not gc.isenabled()
            with collection_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()  # the outer pause still holds
        assert gc.isenabled()
        with pytest.raises(ValueError), collection_paused():
            raise ValueError
        assert gc.isenabled()
    finally:
        gc.enable()


def test_cycles_are_collected_on_demand_while_collection_is_paused():
    """What the restore relies on after reading the snapshot topic (aiokafka's reader leaves cycles)."""

    class Node:
        pass

    with collection_paused():
        node = Node()
        node.self = node  # a cycle: reference counting alone never frees it
        gone = weakref.ref(node)
        del node
        assert gone() is not None
        assert collect_cycles() >= 1 and gone() is None


def test_what_is_set_aside_is_not_scanned_by_collections_until_the_exit():
    class Node:
        pass

    built = [Node() for _ in range(1000)]
    with set_aside_when_built() as set_aside:
        set_aside()
        assert gc.get_freeze_count() >= len(built)  # the restore's later collections skip them
        cycle = Node()
        cycle.self = cycle  # made after: still collected
        gone = weakref.ref(cycle)
        del cycle
        collect_cycles()
        assert gone() is None
    assert gc.get_freeze_count() == 0  # scanned again by the collections after the restore
