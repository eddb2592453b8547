"""Unit tests of streams.state.PartitionState, driven with explicit now_ms values (no Kafka, no clock)."""

from __future__ import annotations

import base64

import orjson
import pytest
import xxhash

from streams.state import COUNTED, DUPLICATE, LATE, PartitionState
from streams.state.live import live_post
from tests.fixtures.state import (
    B0,
    CFG,
    D,
    G,
    R,
    W,
    commit,
    ev,
    followers_of,
    fresh,
    raw_commit,
    rolling,
    start_of,
    tumbling,
    validate,
)


def test_events_land_in_their_tumbling_window():
    state = fresh(B0 + 10_000)
    stamps = [B0 - 1, B0, B0 + 1, B0 + 59_999, B0 + 60_000, B0 + 119_999, B0 + 120_000]
    for i, ts in enumerate(stamps):
        assert state.add(ev(f"e{i}", ts), B0 + 10_000) == COUNTED
    expected = {}
    for ts in stamps:
        expected[start_of(ts)] = expected.get(start_of(ts), 0) + 1
    assert expected == {B0 - W: 1, B0: 3, B0 + W: 2, B0 + 2 * W: 1}
    live = live_post(state, "p1", B0 + 10_000, followers_of)
    validate(live, [])
    assert {r["window_start"]: r["counts"]["like"] for r in live} == expected
    assert all(r["window_end"] == r["window_start"] + W for r in live)
    # close all of them and look at the final records
    _, posts, accounts = commit(state, B0 + 3 * W + G)
    assert {r["window_start"]: r["counts"]["like"] for r in posts} == expected
    assert {r["window_start"]: r["counts"]["like"] for r in tumbling(accounts)} == expected


# -- closing ----------------------------------------------------------------------------------------


def _fill(state: PartitionState, now: int, start: int):
    events = [
        ev("l1", start + 1, "like", "a1", "p1"),
        ev("l2", start + 2, "like", "a1", "p1"),
        ev("c1", start + 3, "comment", "a1", "p1", sentiment=-0.5),
        ev("s1", start + 4, "share", "a1", "p2"),
        ev("i1", start + 5, "impression", "a1", "p2"),
        ev("i2", start + 6, "impression", "a1", "p2"),
        ev("d1", start + 7, "dwell", "a1", "p2", dwell_ms=250),
        ev("f1", start + 8, "follow", "a1"),
        ev("u1", start + 9, "unfollow", "a1"),
        ev("u2", start + 10, "unfollow", "a1"),
        ev("m1", start + 11, "mention", "a1", sentiment=0.5),
        ev("r1", start + 12, "reaction", "a2", "p3"),
        ev("k1", start + 13, "click", "a2", "p3"),
        ev("i3", start + 14, "impression", "a2", "p3"),
    ]
    for e in events:
        assert state.add(e, now) == COUNTED
    return events


def test_commit_before_grace_emits_nothing_then_exactly_once():
    state = fresh(B0)
    _fill(state, B0 + 1000, B0)
    end = B0 + W
    entry, posts, accounts = commit(state, end + G - 1)
    assert entry is not None  # the delta was journaled
    assert posts == [] and tumbling(accounts) == [] and rolling(accounts) == []
    entry, posts, accounts = commit(state, end + G)
    # the close mark, the commit's clock for dedup expiry, and the entry's sequence number
    assert entry == {"c": end, "n": end + G, "q": 2}
    assert sorted(r["post_id"] for r in posts) == ["p1", "p2", "p3"]
    assert all(r["window_start"] == B0 and r["window_end"] == end for r in posts)
    acc = {r["account_id"]: r for r in tumbling(accounts)}
    assert sorted(acc) == ["a1", "a2"] and len(tumbling(accounts)) == 2
    by_post = {r["post_id"]: r for r in posts}

    p1 = by_post["p1"]
    assert (p1["account_id"], p1["platform"], p1["followers"]) == ("a1", "instagram", 2000)
    assert p1["counts"]["like"] == 2 and p1["counts"]["comment"] == 1 and sum(p1["counts"].values()) == 3
    assert p1["engaged"] == 3
    assert p1["sentiment_count"] == 1 and p1["sentiment_negative"] == 1
    assert p1["rates"]["er_followers"] == pytest.approx(3 / 2000)
    assert p1["rates"]["applause"] == pytest.approx(2 / 2000)
    assert p1["rates"]["conversation"] == pytest.approx(1 / 2000)
    assert p1["rates"]["er_impressions"] is None and p1["rates"]["ctr"] is None

    p2 = by_post["p2"]
    assert p2["engaged"] == 1 and p2["counts"]["impression"] == 2
    assert p2["rates"]["er_impressions"] == pytest.approx(1 / 2)
    assert p2["dwell_ms_sum"] == 250 and p2["dwell_count"] == 1 and p2["rates"]["avg_dwell_ms"] == 250

    a1 = acc["a1"]
    assert a1["active_posts"] == 2
    assert a1["engaged"] == 4  # 2 likes, 1 comment, 1 share
    assert a1["counts"]["follow"] == 1 and a1["counts"]["unfollow"] == 2 and a1["counts"]["mention"] == 1
    assert a1["rates"]["follower_growth"] == -1
    assert a1["sentiment_count"] == 2 and a1["sentiment_sum"] == pytest.approx(0.0)
    assert a1["rates"]["sentiment_negative_share"] == pytest.approx(0.5)
    assert a1["rates"]["er_followers"] == pytest.approx(4 / 2000)
    assert a1["rates"]["er_impressions"] == pytest.approx(4 / 2)

    a2 = acc["a2"]  # followers unknown -> follower ratios null
    assert a2["followers"] is None and a2["active_posts"] == 1
    for key in ("er_followers", "applause", "amplification", "conversation"):
        assert a2["rates"][key] is None
    assert a2["rates"]["ctr"] == pytest.approx(1.0) and a2["rates"]["er_impressions"] == pytest.approx(2.0)
    assert by_post["p3"]["followers"] is None and by_post["p3"]["rates"]["applause"] is None

    # later commits never emit this window again
    for later in (end + G, end + G + 1, end + G + W, end + G + 10 * W, end + G + 2 * R):
        _, posts, accounts = commit(state, later)
        assert not any(r["window_start"] == B0 for r in posts + tumbling(accounts))
        assert not any(r["window_start"] == B0 and r["window_kind"] == "tumbling" for r in accounts)


def test_followers_zero_gives_null_rates_and_latest_followers_used():
    state = fresh(B0)
    state.add(ev("x1", B0 + 5, "like", "a3", "p4"), B0 + 5)
    state.add(ev("x2", B0 + 6, "like", "a1", "p1"), B0 + 6)
    followers = {"a1": 10, "a3": 0}
    commit(state, B0 + 1000, followers.get)
    followers["a1"] = 40  # the reference record changes before the window closes
    _, posts, accounts = commit(state, B0 + W + G, followers.get)
    by_account = {r["account_id"]: r for r in tumbling(accounts)}
    assert by_account["a1"]["followers"] == 40
    assert by_account["a1"]["rates"]["er_followers"] == pytest.approx(1 / 40)
    assert by_account["a3"]["followers"] == 0 and by_account["a3"]["rates"]["er_followers"] is None
    assert {r["post_id"]: r["rates"]["applause"] for r in posts} == {"p1": pytest.approx(1 / 40), "p4": None}


def test_commit_without_changes_returns_no_entry():
    state = fresh(B0)
    assert raw_commit(state, B0) == (None, [], [])
    state.add(ev("e1", B0 + 1), B0 + 1)
    entry, _, _ = commit(state, B0 + 2)
    entry = orjson.loads(orjson.dumps(entry))
    assert entry["c"] == state.closed_through
    # the ids first seen, as 16-byte fingerprints (xxh3-128), with the latest arrival among them
    assert entry["s"] == [B0 + 1, base64.b64encode(xxhash.xxh3_128_digest(b"e1")).decode()]
    assert raw_commit(state, B0 + 3) == (None, [], [])


# -- dedup -------------------------------------------------------------------------------------------


def test_duplicates_count_once_within_horizon_and_again_after():
    n0 = B0 + 1000
    state = fresh(n0)
    assert state.add(ev("dup", B0 + 500), n0) == COUNTED
    assert state.add(ev("dup", B0 + 500), n0) == DUPLICATE
    assert state.add(ev("dup", B0 + 600, "share", "a1", "p2"), n0 + 1) == DUPLICATE
    assert [r["counts"]["like"] for r in live_post(state, "p1", n0, followers_of)] == [1]
    assert live_post(state, "p2", n0, followers_of) == []
    commit(state, n0 + 10)
    assert state.add(ev("dup", B0 + 700), n0 + 20) == DUPLICATE
    # still within the horizon: a commit at first_seen + dedup - 1 keeps the id
    t1 = n0 + D - 1
    _, posts, _ = commit(state, t1)
    assert [r["counts"]["like"] for r in posts if r["window_start"] == B0] == [1]
    assert state.add(ev("dup", t1 - 10), t1) == DUPLICATE
    # after a commit past the horizon and the rest of its dedup bucket (ids expire a bucket at a time,
    # so each is remembered for at least the horizon and at most one bucket more) it counts again
    t2 = n0 + D + CFG.dedup_bucket_ms
    commit(state, t2)
    assert state.add(ev("dup", t2 - 10), t2) == COUNTED
    assert state.add(ev("dup", t2 - 10), t2) == DUPLICATE
    _, posts, accounts = commit(state, t2 + W + G)
    assert [(r["window_start"], r["counts"]["like"]) for r in posts] == [(start_of(t2 - 10), 1)]
    assert [r["counts"]["like"] for r in tumbling(accounts)] == [1]


def test_duplicate_not_counted_in_account_either():
    state = fresh(B0)
    for _ in range(3):
        state.add(ev("same", B0 + 5, "comment", "a1", "p1", sentiment=-0.9), B0 + 5)
    _, posts, accounts = commit(state, B0 + W + G)
    assert posts[0]["counts"]["comment"] == 1 and posts[0]["sentiment_count"] == 1
    assert tumbling(accounts)[0]["counts"]["comment"] == 1


# -- late ----------------------------------------------------------------------------------------------


def test_late_after_close():
    state = fresh(B0)
    assert state.add(ev("e1", B0 + 5), B0 + 5) == COUNTED
    commit(state, B0 + W + G)  # closes [B0, B0 + W)
    assert state.closed_through == B0 + W
    assert state.add(ev("e2", B0 + W - 1), B0 + W + G + 1) == LATE
    assert state.add(ev("e3", B0 - 10 * W), B0 + W + G + 1) == LATE
    assert state.add(ev("e4", B0 + W), B0 + W + G + 1) == COUNTED  # next window still open
    # a late event is not remembered: the same id with an open-window ts counts
    assert state.add(ev("e2", B0 + W + 1), B0 + W + G + 2) == COUNTED
    _, posts, _ = commit(state, B0 + 2 * W + G)
    assert [(r["window_start"], r["counts"]["like"]) for r in posts] == [(B0 + W, 2)]


def test_window_closes_by_commit_not_by_event_time():
    state = fresh(B0)
    old = B0 - 4 * W  # end + grace already passed at now, but no commit closed it
    now = B0 + 10 * W
    assert old + W > state.closed_through
    assert state.add(ev("e1", old + 5), now) == COUNTED
    _, posts, _ = commit(state, now)
    assert [(r["window_start"], r["counts"]["like"]) for r in posts] == [(old, 1)]
    assert state.add(ev("e2", old + 6), now) == LATE


# -- rolling --------------------------------------------------------------------------------------------


def _rolling_setup():
    """a1: 1 like in minute 0 (p1), 2 in minute 1 (p1, p2), 4 in minute 2 (p3); a2: 3 likes in minute 1."""
    now = B0 + 3 * W
    state = fresh(now)
    plan = [
        (B0, "a1", "p1", 1),
        (B0 + W, "a1", "p1", 1),
        (B0 + W, "a1", "p2", 1),
        (B0 + 2 * W, "a1", "p3", 4),
        (B0 + W, "a2", "q1", 3),
    ]
    i = 0
    for start, account, post, count in plan:
        for _ in range(count):
            assert state.add(ev(f"e{i}", start + i, "like", account, post), now) == COUNTED
            i += 1
    buckets = {"a1": {B0: (1, {"p1"}), B0 + W: (2, {"p1", "p2"}), B0 + 2 * W: (4, {"p3"})}, "a2": {B0 + W: (3, {"q1"})}}
    return state, now, buckets


def _expected_rolling(buckets):
    expected = {}
    for account, by_start in buckets.items():
        ends = set()
        for s in by_start:
            ends.update(range(s + W, s + R + 1, W))
        for end in ends:
            inside = [v for s, v in by_start.items() if end - R <= s < end]
            expected[(account, end)] = (sum(c for c, _ in inside), len(set().union(*(p for _, p in inside))))
    return expected


def _check_rolling(records, buckets):
    got = {}
    for r in records:
        key = (r["account_id"], r["window_end"])
        assert key not in got, f"rolling window emitted twice: {key}"
        assert r["window_start"] == r["window_end"] - R
        got[key] = (r["counts"]["like"], r["active_posts"])
    assert got == _expected_rolling(buckets)
    return got


def test_rolling_incremental_commits():
    state, now, buckets = _rolling_setup()
    records = []
    t = now
    while t <= B0 + 2 * W + R + G + 10 * W:
        _, _, accounts = commit(state, t)
        records += rolling(accounts)
        t += W // 2
    got = _check_rolling(records, buckets)
    # the spot checks, written out
    assert got[("a1", B0 + W)] == (1, 1)
    assert got[("a1", B0 + 2 * W)] == (3, 2)
    assert got[("a1", B0 + 3 * W)] == (7, 3)
    assert got[("a1", B0 + R)] == (7, 3)
    assert got[("a1", B0 + R + W)] == (6, 3)
    assert got[("a1", B0 + R + 2 * W)] == (4, 1)
    assert ("a1", B0 + R + 3 * W) not in got  # E - rolling passed the last bucket
    assert max(end for a, end in got if a == "a1") == B0 + 2 * W + R
    assert got[("a2", B0 + 2 * W)] == (3, 1) and ("a2", B0 + W) not in got
    assert max(end for a, end in got if a == "a2") == B0 + W + R
    assert len([k for k in got if k[0] == "a1"]) == (B0 + 2 * W + R - (B0 + W)) // W + 1
    # the state let go of the buckets once no rolling window needs them
    assert state.accounts == {} and state.posts == {}


def test_rolling_single_late_commit_equals_incremental():
    state, now, buckets = _rolling_setup()
    _, posts, accounts = commit(state, B0 + 10 * R)
    _check_rolling(rolling(accounts), buckets)
    assert len(posts) == 5 and len(tumbling(accounts)) == 4  # post windows: p1 x2, p2, p3, q1
    _, posts, accounts = commit(state, B0 + 11 * R)
    assert posts == [] and accounts == []
