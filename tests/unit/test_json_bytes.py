"""JSON bytes sized to their content (streams.json_bytes): what the engine keeps by the tens of
thousands (a close's records until their transaction is sent, a snapshot's parts) must not keep
orjson's output buffer."""

from __future__ import annotations

import tracemalloc

import orjson

from streams import json_bytes

RECORD = {"post_id": "p-000123", "counts": {f"type{i}": i for i in range(13)}, "rates": {"er": 0.04, "ctr": None}}


def allocated_per_object(make, n: int = 2000) -> float:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [make() for _ in range(n)]
        return (tracemalloc.get_traced_memory()[0] - before) / len(kept)
    finally:
        tracemalloc.stop()


def test_dumps_is_orjson_output_in_an_object_of_its_size():
    out = json_bytes.dumps(RECORD)
    assert out == orjson.dumps(RECORD) and type(out) is bytes
    assert orjson.loads(out) == RECORD
    # A bytes object: its header (33 bytes) and its content, in the allocator's 8- or 16-byte steps.
    assert allocated_per_object(lambda: json_bytes.dumps(RECORD)) <= len(out) + 33 + 16 + 8  # + the list slot


def test_orjson_dumps_keeps_a_buffer_many_times_its_output():
    """Why streams.json_bytes exists: orjson 3.12 and later hand back their whole output buffer (at
    least 4 KiB). If an upgrade sizes it to the output, this fails: json_bytes.dumps can go."""
    out = orjson.dumps(RECORD)
    assert allocated_per_object(lambda: orjson.dumps(RECORD)) >= 4 * len(out)
