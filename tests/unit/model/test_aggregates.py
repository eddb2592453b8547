"""Unit tests of streams.model.aggregates.WindowAggregate: add, merge, state round trip (no Kafka)."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from streams.contract import PLATFORMS, POST_LEVEL_TYPES, TYPE_INDEX, TYPES
from streams.model.aggregates import WindowAggregate
from tests.fixtures.paths import REPO

SCHEMA = json.loads((REPO / "schemas" / "interaction-event.schema.json").read_text())
SCHEMA_TYPES = SCHEMA["properties"]["type"]["enum"]

event = st.one_of(
    st.tuples(
        st.sampled_from([t for t in SCHEMA_TYPES if t not in ("dwell", "comment", "mention")]),
        st.none(),
        st.none(),
        st.one_of(st.none(), st.sampled_from(["p1", "p2", "p3", "p4"])),
    ),
    st.tuples(st.just("dwell"), st.integers(0, 86_400_000), st.none(), st.sampled_from(["p1", "p2", "p5"])),
    st.tuples(
        st.sampled_from(["comment", "mention"]),
        st.none(),
        st.one_of(st.none(), st.floats(-1, 1, allow_nan=False), st.just(-0.2)),
        st.one_of(st.none(), st.sampled_from(["p1", "p6"])),
    ),
)
events_strategy = st.lists(event, max_size=50)


def aggregate(events, track_posts=True) -> WindowAggregate:
    agg = WindowAggregate(track_posts=track_posts)
    for type_name, dwell, sentiment, post_id in events:
        agg.add(TYPE_INDEX[type_name], dwell, sentiment, post_id)
    return agg


def assert_matches_events(agg: WindowAggregate, events, track_posts=True):
    """Compare with values computed directly from the event list."""
    assert agg.counts_by_type() == {t: sum(1 for e in events if e[0] == t) for t in SCHEMA_TYPES}
    assert agg.total == len(events)
    dwells = [e[1] for e in events if e[1] is not None]
    assert agg.dwell_count == len(dwells)
    assert agg.dwell_ms_sum == sum(dwells)  # integer dwell: exact
    sentiments = [e[2] for e in events if e[2] is not None]
    assert agg.sentiment_count == len(sentiments)
    assert agg.sentiment_sum == pytest.approx(sum(sentiments), abs=1e-9)
    assert agg.sentiment_negative == sum(1 for s in sentiments if s < -0.2)
    if track_posts:
        assert agg.posts == {e[3] for e in events if e[3] is not None}
    else:
        assert agg.posts is None


def assert_same(a: WindowAggregate, b: WindowAggregate):
    assert a.counts == b.counts
    assert a.dwell_ms_sum == b.dwell_ms_sum
    assert a.dwell_count == b.dwell_count
    assert a.sentiment_sum == pytest.approx(b.sentiment_sum, abs=1e-9)
    assert a.sentiment_count == b.sentiment_count
    assert a.sentiment_negative == b.sentiment_negative
    assert a.posts == b.posts


def test_types_equal_schema_enum():
    assert list(TYPES) == SCHEMA_TYPES
    assert len(TYPES) == 13
    assert list(PLATFORMS) == SCHEMA["properties"]["platform"]["enum"]
    assert {TYPES[i]: i for i in range(len(TYPES))} == TYPE_INDEX


def test_post_level_types_match_schema_rule():
    rule = next(r for r in SCHEMA["allOf"] if r["then"] == {"required": ["post_id"]})
    assert POST_LEVEL_TYPES == set(rule["if"]["properties"]["type"]["enum"])
    assert "follow" not in POST_LEVEL_TYPES and "mention" not in POST_LEVEL_TYPES


def test_add_basic():
    agg = aggregate(
        [
            ("like", None, None, "p1"),
            ("like", None, None, "p1"),
            ("dwell", 300, None, "p2"),
            ("comment", None, -0.5, "p1"),
            ("mention", None, -0.2, None),
            ("follow", None, None, None),
        ]
    )
    assert agg.count("like") == 2 and agg.count("dwell") == 1 and agg.count("follow") == 1
    assert agg.dwell_ms_sum == 300 and agg.dwell_count == 1
    assert agg.sentiment_count == 2 and agg.sentiment_negative == 1
    assert agg.sentiment_sum == pytest.approx(-0.7)
    assert agg.posts == {"p1", "p2"}
    assert agg.total == 6


def test_dwell_zero_counts_as_a_dwell():
    agg = aggregate([("dwell", 0, None, "p1")])
    assert agg.dwell_count == 1 and agg.dwell_ms_sum == 0


@settings(max_examples=200, deadline=None)
@given(events=events_strategy, track_posts=st.booleans())
def test_add_matches_direct_computation(events, track_posts):
    assert_matches_events(aggregate(events, track_posts), events, track_posts)


@settings(max_examples=200, deadline=None)
@given(events=events_strategy, cuts=st.lists(st.integers(0, 50), max_size=6), data=st.data())
def test_split_aggregate_merge_equals_whole(events, cuts, data):
    bounds = sorted({0, len(events), *(c for c in cuts if c <= len(events))})
    chunks = [events[a:b] for a, b in zip(bounds, bounds[1:])] or [[]]
    order = data.draw(st.permutations(range(len(chunks))))
    merged = WindowAggregate(track_posts=True)
    for i in order:  # merge order must not matter either
        result = merged.merge(aggregate(chunks[i]))
        assert result is merged
    whole = aggregate(events)
    assert_same(merged, whole)
    assert_matches_events(merged, events)


@settings(max_examples=150, deadline=None)
@given(a_events=events_strategy, b_events=events_strategy)
def test_merge_commutative(a_events, b_events):
    a1, b1 = aggregate(a_events), aggregate(b_events)
    a2, b2 = aggregate(a_events), aggregate(b_events)
    ab = a1.merge(b1)
    ba = b2.merge(a2)
    assert_same(ab, ba)
    assert_matches_events(ab, a_events + b_events)


@settings(max_examples=100, deadline=None)
@given(a_events=events_strategy, b_events=events_strategy)
def test_merge_leaves_other_unchanged_and_copy_is_independent(a_events, b_events):
    a, b = aggregate(a_events), aggregate(b_events)
    a.merge(b)
    assert_matches_events(b, b_events)
    c = b.copy()
    assert c == b and c is not b
    c.add(TYPE_INDEX["like"], None, None, "new-post")
    assert_matches_events(b, b_events)


@settings(max_examples=200, deadline=None)
@given(events=events_strategy, track_posts=st.booleans())
def test_state_round_trip(events, track_posts):
    agg = aggregate(events, track_posts)
    back = WindowAggregate.from_state(agg.to_state())
    assert back == agg
    assert_same(back, agg)
    via_json = WindowAggregate.from_state(orjson.loads(orjson.dumps(agg.to_state())))
    assert via_json == agg
    assert_same(via_json, agg)
    assert (via_json.posts is None) == (not track_posts)
    # the restored aggregate keeps working: adding to it equals adding to the original
    for restored in (back, via_json):
        restored.add(TYPE_INDEX["dwell"], 7, None, "pX")
    agg.add(TYPE_INDEX["dwell"], 7, None, "pX")
    assert back == agg and via_json == agg


def test_from_state_does_not_share_lists():
    agg = aggregate([("like", None, None, "p1")])
    state = orjson.loads(orjson.dumps(agg.to_state()))
    restored = WindowAggregate.from_state(state)
    restored.add(TYPE_INDEX["like"], None, None, "p2")
    assert state[0][TYPE_INDEX["like"]] == 1
    assert state[6] == ["p1"]


def test_posts_tracked_only_at_account_level():
    post_level = WindowAggregate()
    post_level.add(TYPE_INDEX["like"], None, None, "p1")
    assert post_level.posts is None
    assert post_level.to_state()[6] is None
    account = WindowAggregate(track_posts=True)
    for p in ("p1", "p2", "p1", None):
        account.add(TYPE_INDEX["like"], None, None, p)
    assert account.posts == {"p1", "p2"}  # distinct posts; events without a post add none
    assert account.to_state()[6] == ["p1", "p2"]
    # merging account aggregates unites their post sets
    other = WindowAggregate(track_posts=True)
    other.add(TYPE_INDEX["share"], None, None, "p3")
    other.add(TYPE_INDEX["share"], None, None, "p2")
    account.merge(other)
    assert account.posts == {"p1", "p2", "p3"}
    # a post-level aggregate never starts tracking posts
    post_level.merge(account)
    assert post_level.posts is None


def test_equality_is_by_value():
    a = aggregate([("like", None, None, "p1")])
    b = aggregate([("like", None, None, "p1")])
    assert a == b
    b.add(TYPE_INDEX["like"])
    assert a != b
    assert a != object()


def test_a_state_written_before_a_type_and_resolves_were_added_reads_them_as_zeros():
    """A deployed changelog holds 12 counts (no resolve) and 4 response fields: a restore reads them,
    and they merge with the aggregates of the new events."""
    old = WindowAggregate.from_state([[1] * 12, 0.0, 0, 0.0, 0, 0, ["p1"], [1, 30_000, 30_000, 1]])
    assert old.counts == [1] * 12 + [0] and old.responses == [1, 30_000, 30_000, 1, 0, 0]
    new = WindowAggregate(track_posts=True)
    new.add(TYPE_INDEX["resolve"])
    new.add_resolved(answered=False)
    assert old.merge(new).counts[TYPE_INDEX["resolve"]] == 1 and old.responses == [1, 30_000, 30_000, 1, 1, 1]
