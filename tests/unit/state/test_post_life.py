"""A young post's life held compact (``streams.state.post_life``): its total and segments packed,
read back exactly as a dict of aggregates would hold them, whatever they hold (an aggregate the
packed bytes cannot hold is kept whole), and a life under 600 bytes.

Expected values come from a plain-Python model: each aggregate's events summed by hand into the state
list a snapshot holds, kept in a dict in insertion order (the "L" parts' JSON keeps its bytes)."""

from __future__ import annotations

import random
import sys
import tracemalloc

import orjson
import pytest

from streams.contract import TYPE_INDEX, TYPES
from streams.model.aggregates import WindowAggregate
from streams.state.lifetimes import LIFE_BYTES, PACKED_BYTES, PostLifetimes
from streams.state.lives_format import decode_lives
from streams.state.post_life import PostLife
from tests.unit.state.test_final_segments import added, aggregate, events, expected_state

META = ("acct-0007", "instagram", 1_760_000_000_000, "video", "post_record", True)


def odd_aggregate(rnd: random.Random) -> tuple[WindowAggregate, list]:
    """An aggregate packed bytes cannot hold, and its state: a count past 32 bits, or an account-level
    type's count."""
    agg = WindowAggregate()
    if rnd.random() < 0.5:
        agg.counts[TYPE_INDEX["impression"]] = 2**32 + rnd.randint(0, 9)
    else:
        agg.add(TYPE_INDEX["follow"])
    return agg, agg.to_state()


@pytest.mark.parametrize("seed", range(40))
def test_any_sequence_of_changes_reads_back_as_a_dict_of_aggregates_would(seed):
    rnd = random.Random(seed)
    life = PostLife(*META)
    model_total: list | None = None
    model_segments: dict[int, list] = {}
    odd_total, odd_segments = False, set()  # holding what packed bytes cannot: kept whole
    for _ in range(rnd.randint(1, 30)):
        step = rnd.random()
        index = rnd.randint(0, 4)
        if step < 0.5:
            if rnd.random() < 0.1:
                agg, state = odd_aggregate(rnd)
                odd_segments.add(index)
            else:
                evs = events(rnd, rnd.randint(1, 5))
                agg, state = aggregate(evs), expected_state(evs)
            life.add_segment(index, agg)
            mine = model_segments.get(index)
            model_segments[index] = state if mine is None else added(mine, state)
        elif step < 0.7:
            popped = life.pop_segment(index)
            state = model_segments.pop(index, None)
            odd_segments.discard(index)
            assert (None if popped is None else popped.to_state()) == state
        elif step < 0.85:
            segment = life.pop_segment(index)
            if segment is not None:  # an age published: its segment merged into the total
                total = life.total
                life.total = segment if total is None else total.merge(segment)
                state = model_segments.pop(index)
                odd_total |= index in odd_segments
                odd_segments.discard(index)
                model_total = state if model_total is None else added(model_total, state)
        else:
            read = life.total  # a read is a copy: changing it changes nothing held
            if read is not None:
                read.add(TYPE_INDEX["like"])
            for agg in life.segments.values():
                agg.add(TYPE_INDEX["like"])
        assert (None if life.total is None else life.total.to_state()) == model_total
        assert [(i, agg.to_state()) for i, agg in life.segments.items()] == list(model_segments.items())
        for i in range(5):
            got = life.segment(i)
            assert (None if got is None else got.to_state()) == model_segments.get(i)
        whole = len(odd_segments) + (model_total is not None and odd_total)
        assert life.held() == (len(model_segments) + (model_total is not None) - whole, whole)
    so_far = model_total
    for state in model_segments.values():
        so_far = state if so_far is None else added(so_far, state)
    assert life.so_far().to_state() == (so_far if so_far is not None else WindowAggregate().to_state())


def test_a_restored_life_holds_the_states_it_was_given_and_packs_what_it_can():
    rnd = random.Random(3)
    evs = events(rnd, 7)
    odd, odd_state = odd_aggregate(random.Random(1))
    older = [[0, 4, 1], 12.5, 1, -0.5, 2, 1, None]  # written when the contract had three types
    items = [["p1", list(META), 5, 1, expected_state(evs), [[1, odd_state], [2, older]], [3]]]
    life = decode_lives(orjson.loads(orjson.dumps(items)))["p1"]
    assert life.total.to_state() == expected_state(evs)
    assert life.segments[1].to_state() == odd_state
    assert life.segments[2].to_state() == [[0, 4, 1] + [0] * (len(TYPES) - 3), 12.5, 1, -0.5, 2, 1, None]
    assert life.held() == (2, 1)  # the odd one kept whole


def test_a_young_life_takes_under_600_bytes_and_the_estimate_counts_it():
    """As a restore makes them from JSON (each string, list and number its own object): a total and one
    segment each, its id and dict slot included. On the seventh bench-week run's young lives: 1,393 B
    before (a dict of segments, aggregates as objects, the meta's strings each life's own), 584 B now."""
    rnd = random.Random(5)
    aggs = [expected_state(events(rnd, rnd.randint(1, 6))) for _ in range(64)]
    published = META[2] + 100_000
    items = [
        [f"acct-{k % 2000:04d}-p{k:06d}", list(META), published + k, 1, aggs[k % 64], [[2, aggs[-k % 64]]], []]
        for k in range(20_000)
    ]
    raw = orjson.dumps(items)
    del items
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        lives = decode_lives(orjson.loads(raw))
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    lifetimes = PostLifetimes((10, 20, 40), 20, 100, ("like",))
    lifetimes.lives = lives
    per_life, counted = traced / len(lives), lifetimes.memory_bytes() / len(lives)
    print(f"\nyoung lives at 20,000: {per_life:.1f} B each (tracemalloc), {counted:.1f} B (the estimate)")
    assert per_life < 600
    assert abs(counted - per_life) <= 0.1 * per_life
    assert PACKED_BYTES == sys.getsizeof(bytes(60)) and LIFE_BYTES + 2 * PACKED_BYTES < 600
