"""The final segments of sealed post lives as rows of columns (``streams.state.final_segments``): what
is set, merged, popped and dropped reads back exactly, in the order a dict of them would iterate (the
snapshot's "F" parts keep their bytes), freed rows are reused, and a final takes under 80 bytes.

Expected values come from a plain-Python model: the events of each aggregate summed by hand into the
state list a snapshot holds ([counts by type, dwell ms sum, dwell count, sentiment sum, sentiment count,
negatives, None]), kept in a dict in insertion order."""

from __future__ import annotations

import math
import random
import tracemalloc

import pytest

from streams.contract import POST_LEVEL_TYPES, TYPE_INDEX, TYPES
from streams.model.aggregates import WindowAggregate
from streams.state.aggregate_rows import state_columns
from streams.state.final_segments import FinalSegments

POST_TYPES = sorted(POST_LEVEL_TYPES)
SPAN, B0 = 3_600_000, 1_760_000_000_000

Event = tuple[str, "float | None", "float | None"]  # type, dwell ms, sentiment


def events(rnd: random.Random, n: int) -> list[Event]:
    return [
        (rnd.choice(POST_TYPES), rnd.choice([None, rnd.random() * 9_000]), rnd.choice([None, rnd.uniform(-1, 1)]))
        for _ in range(n)
    ]


def aggregate(evs: list[Event]) -> WindowAggregate:
    agg = WindowAggregate()
    for type_name, dwell, sentiment in evs:
        agg.add(TYPE_INDEX[type_name], dwell, sentiment)
    return agg


def expected_state(evs: list[Event]) -> list:
    counts = [sum(1 for t, _, _ in evs if t == name) for name in TYPES]
    dwell_sum, sentiment_sum = 0.0, 0.0
    for _, dwell, sentiment in evs:  # in event order: float sums depend on it
        dwell_sum += dwell if dwell is not None else 0.0
        sentiment_sum += sentiment if sentiment is not None else 0.0
    dwells = sum(1 for _, d, _ in evs if d is not None)
    sentiments = [s for _, _, s in evs if s is not None]
    return [counts, dwell_sum, dwells, sentiment_sum, len(sentiments), sum(1 for s in sentiments if s < -0.2), None]


def added(a: list, b: list) -> list:
    return [[x + y for x, y in zip(a[0], b[0])], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5], None]


def by_group_of(model: dict) -> list:
    """What a dict of finals gives grouped by group start: groups in order of first appearance."""
    groups: dict[int, list] = {}
    for (start, position), state in model.items():
        groups.setdefault(start, []).append((position, state))
    return list(groups.items())


def test_a_final_reads_back_exactly_what_was_set_and_a_later_set_replaces_it():
    rnd = random.Random(1)
    finals = FinalSegments()
    first, second = events(rnd, 7), events(rnd, 3)
    finals.set((B0, 5), aggregate(first))
    assert finals.get((B0, 5)).to_state() == expected_state(first)
    finals.set((B0, 5), aggregate(second))
    assert finals.get((B0, 5)).to_state() == expected_state(second) and len(finals) == 1
    assert finals.get((B0, 6)) is None and finals.get((B0 + SPAN, 5)) is None and finals.get((B0, 10**6)) is None


def test_merge_adds_into_a_final_or_starts_it():
    rnd = random.Random(2)
    finals = FinalSegments()
    mine, theirs, alone = events(rnd, 5), events(rnd, 4), events(rnd, 2)
    finals.set((B0, 0), aggregate(mine))
    finals.merge((B0, 0), aggregate(theirs))
    finals.merge((B0 + SPAN, 3), aggregate(alone))
    assert finals.get((B0, 0)).to_state() == added(expected_state(mine), expected_state(theirs))
    assert finals.get((B0 + SPAN, 3)).to_state() == expected_state(alone) and len(finals) == 2


def test_pop_returns_the_final_once_and_drop_removes_one_groups_finals():
    rnd = random.Random(3)
    finals = FinalSegments()
    evs = {(B0 + g * SPAN, p): events(rnd, 3) for g in range(3) for p in (0, 9, 4)}
    for key, e in evs.items():
        finals.set(key, aggregate(e))
    assert finals.pop((B0, 9)).to_state() == expected_state(evs[(B0, 9)])
    assert finals.pop((B0, 9)) is None and finals.get((B0, 9)) is None and len(finals) == 8
    finals.drop(B0 + SPAN)
    assert len(finals) == 5 and all(finals.get((B0 + SPAN, p)) is None for p in (0, 9, 4))
    assert finals.get((B0 + 2 * SPAN, 4)).to_state() == expected_state(evs[(B0 + 2 * SPAN, 4)])
    finals.drop(B0 + 7 * SPAN)  # a group without finals


def test_any_sequence_of_changes_reads_back_as_a_dict_of_them_would_in_its_order():
    rnd = random.Random(4)
    finals, model = FinalSegments(), {}
    for _ in range(6_000):
        key = (B0 + rnd.randrange(6) * SPAN, rnd.randrange(300))
        op = rnd.random()
        if op < 0.35:
            evs = events(rnd, rnd.randint(1, 4))
            if op < 0.2:
                finals.set(key, aggregate(evs))
            else:
                finals.set_state(key, expected_state(evs))  # a restore
            model[key] = expected_state(evs)
        elif op < 0.7:
            evs = events(rnd, rnd.randint(1, 4))
            finals.merge(key, aggregate(evs))
            model[key] = added(model[key], expected_state(evs)) if key in model else expected_state(evs)
        elif op < 0.995:
            popped = finals.pop(key)
            assert (None if popped is None else popped.to_state()) == model.pop(key, None)
        else:
            finals.drop(key[0])
            model = {k: v for k, v in model.items() if k[0] != key[0]}
    assert len(finals) == len(model) > 100
    assert list(finals.by_group()) == by_group_of(model)
    assert all(finals.get(key).to_state() == state for key, state in model.items())


@pytest.mark.parametrize("seed", range(3))
def test_a_restores_finals_set_at_once_read_back_and_change_as_a_dict_of_them_would(seed):
    """``set_states`` into an empty one (in columns, several blocks) and into one that holds finals
    (one by one): what each reads back, then after more changes, is what the dict model holds."""
    rnd = random.Random(seed)
    keys = rnd.sample([(B0 + g * SPAN, p) for g in (3, 0, 7, 1) for p in range(3_000)], 9_000)  # blocks of 4,096
    states = [expected_state(events(rnd, rnd.randint(1, 3))) for _ in keys]
    restored, model = FinalSegments(), dict(zip(keys, states))
    assert state_columns(states) is not None  # so they are set in columns
    restored.set_states(keys, states)
    assert len(restored) == len(model) and list(restored.by_group()) == by_group_of(model)
    assert all(restored.get(key).to_state() == state for key, state in model.items())
    assert restored.get((B0 + 3 * SPAN, 3_000)) is None and restored.get((B0 + 2 * SPAN, 0)) is None
    more = [(B0 + rnd.randrange(9) * SPAN, rnd.randrange(3_100)) for _ in range(40)]
    more_states = [expected_state(events(rnd, 2)) for _ in more]
    restored.set_states(more, more_states)  # not empty any more: one by one
    model.update(zip(more, more_states))
    for key in rnd.sample(keys, 500):
        evs = events(rnd, 2)
        restored.merge(key, aggregate(evs))
        model[key] = added(model[key], expected_state(evs))
    for key in rnd.sample(keys, 500):
        assert restored.pop(key).to_state() == model.pop(key)
    for key in [(B0 + 5 * SPAN, p) for p in range(600)]:  # rows freed by the pops, handed out again
        restored.set_state(key, model.setdefault(key, expected_state(events(rnd, 1))))
    assert len(restored) == len(model) and list(restored.by_group()) == by_group_of(model)
    assert all(restored.get(key).to_state() == state for key, state in model.items())


def test_a_restores_finals_set_at_once_refuse_and_read_as_one_by_one():
    """What ``set_state`` refuses, ``set_states`` refuses; a short count list (an earlier contract's)
    reads as zeros."""
    older = [[0, 4, 1], 12.5, 1, -0.5, 2, 1, None]
    finals = FinalSegments()
    finals.set_states([(B0, 0), (B0, 1)], [expected_state([("like", None, None)]), older])
    assert finals.get((B0, 1)).to_state() == [[0, 4, 1] + [0] * (len(TYPES) - 3), 12.5, 1, -0.5, 2, 1, None]
    past_the_columns = [[2**32 if t == "like" else 0 for t in TYPES], 0.0, 0, 0.0, 0, 0, None]
    for refused in (
        [[1 if t == "follow" else 0 for t in TYPES], 0.0, 0, 0.0, 0, 0, None],  # an account-level count
        [[0] * len(TYPES), 0.0, 0, 0.0, 0, 0, ["p1"]],  # distinct posts
        past_the_columns,
        [[1.5 if t == "like" else 0 for t in TYPES], 0.0, 0, 0.0, 0, 0, None],  # not an integer
        [[0] * len(TYPES), "1.5", 0, 0.0, 0, 0, None],  # not a number
    ):
        with pytest.raises(Exception) as one_by_one:
            FinalSegments().set_state((B0, 0), refused)
        with pytest.raises(one_by_one.type):
            FinalSegments().set_states([(B0, 0)], [refused])


def test_freed_rows_are_reused_so_memory_follows_the_finals_held_not_the_uptime():
    rnd = random.Random(5)
    finals = FinalSegments()
    agg = aggregate(events(rnd, 3))
    held = 20_000
    sizes = []
    for day in range(12):  # each round the oldest group's finals go and a new group's come
        if day >= 2:
            for p in range(held // 2):
                assert finals.pop((B0 + (day - 2) * SPAN, p)) is not None
        for p in range(held // 2):
            finals.set((B0 + day * SPAN, p), agg)
        sizes.append(finals.nbytes)
    assert len(finals) == held
    assert sizes[-1] <= 80 * held  # the rows of the 20,000 held, not of the 120,000 set since the start
    assert sizes[-1] == sizes[1]


def test_a_final_takes_under_80_bytes_at_200000_finals():
    rnd = random.Random(6)
    aggs = [aggregate(events(rnd, rnd.randint(1, 6))) for _ in range(64)]
    starts = [B0 + g * SPAN for g in range(126)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        finals = FinalSegments()
        for k in range(200_000):
            finals.set((starts[k // 1_600], k % 1_600), aggs[k % 64])
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    per_final, counted = traced / 200_000, finals.nbytes / 200_000
    print(f"\nfinal segments at 200,000: {per_final:.1f} B each (tracemalloc), {counted:.1f} B (nbytes)")
    assert len(finals) == 200_000
    assert per_final < 80
    assert abs(finals.nbytes - traced) <= 0.05 * traced  # nbytes counts what it takes


def test_a_snapshots_state_is_set_as_the_aggregate_it_holds_and_a_short_count_list_reads_as_zeros():
    rnd = random.Random(7)
    finals = FinalSegments()
    evs = events(rnd, 9)
    finals.set_state((B0, 2), expected_state(evs))
    assert finals.get((B0, 2)).to_state() == expected_state(evs)
    older = [[0, 4, 1], 12.5, 1, -0.5, 2, 1, None]  # written when the contract had three types
    finals.set_state((B0, 3), older)
    assert finals.get((B0, 3)).to_state() == [[0, 4, 1] + [0] * (len(TYPES) - 3), 12.5, 1, -0.5, 2, 1, None]
    for refused in (
        [[0] * len(TYPES), 0.0, 0, 0.0, 0, 0, ["p1"]],  # distinct posts
        [[0] * len(TYPES), 0.0, 0, 0.0, 0, 0, None, [1, 10, 10, 1, 0, 0]],  # responses
        [[1 if t == "follow" else 0 for t in TYPES], 0.0, 0, 0.0, 0, 0, None],  # an account-level count
    ):
        with pytest.raises(ValueError):
            finals.set_state((B0, 4), refused)
    assert len(finals) == 2


def test_an_aggregate_with_more_than_a_posts_fields_is_refused_not_cut():
    finals = FinalSegments()
    account_level = WindowAggregate()
    account_level.add(TYPE_INDEX["follow"])
    tracking = WindowAggregate(track_posts=True)
    tracking.add(TYPE_INDEX["like"], post_id="p1")
    answered = WindowAggregate()
    answered.add_response(1_000, True)
    for agg in (account_level, tracking, answered):
        with pytest.raises(ValueError):
            finals.set((B0, 1), agg)
        with pytest.raises(ValueError):
            finals.merge((B0, 1), agg)
    assert len(finals) == 0


def test_counts_up_to_the_columns_limit_round_trip():
    finals = FinalSegments()
    agg = WindowAggregate()
    agg.counts[TYPE_INDEX["impression"]] = 2**32 - 1
    agg.dwell_ms_sum, agg.sentiment_sum, agg.sentiment_count = 1e300, -0.0, 2**32 - 1
    finals.set((B0, 0), agg)
    state = finals.get((B0, 0)).to_state()
    assert state[0][TYPE_INDEX["impression"]] == 2**32 - 1 and state[1:5] == [1e300, 0, -0.0, 2**32 - 1]
    assert math.copysign(1, state[3]) == -1
