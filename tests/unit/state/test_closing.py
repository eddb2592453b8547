"""Closing a partition's windows (streams.state.closing), no Kafka: the final records a close mark
makes (post and account tumbling windows once their end is reached, one rolling record per account
and step while its span holds traffic, lifetime records at each age and a benchmark sample at
maturity), each once, and what the mark drops from the state.

The events are folded into a state and merged by a commit that closes nothing; the closing functions
are then called with explicit marks. Every count and rate expected is worked out here by hand from
the events fed in, and the records are checked against the output schemas."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

from jsonschema import Draft202012Validator

from streams.contract import TYPES
from streams.state import COUNTED, PartitionState
from streams.state.closing import close_lives, close_windows, drop_closed
from streams.state.sealed_accounts import SealedAccounts
from tests.fixtures.paths import SCHEMAS
from tests.fixtures.state import B0, CFG, R, W, ev, followers_of, rolling, tumbling, validate

NOW = B0 + 10 * W  # emitted_at of every record here
LIFETIME_VALIDATOR = Draft202012Validator(json.loads((SCHEMAS / "post-lifetime.schema.json").read_text()))


def counts(**nonzero) -> dict:
    return {t: nonzero.get(t, 0) for t in TYPES}


def merged(events, cfg=CFG, post_of=lambda post_id: None, closed_through: int = B0) -> PartitionState:
    """A partition holding ``events``, merged by a commit whose close mark is behind (nothing closes);
    its first input arrived at B0 - W."""
    state = PartitionState(0, cfg, closed_through=closed_through, post_of=post_of)
    state.input_from(B0 - W)
    for e in events:
        assert state.add(e, closed_through) == COUNTED
    state.commit(closed_through + 1, followers_of)
    assert state.closed_through == closed_through and not state.delta_posts
    return state


def close(state, mark: int):
    posts: list[dict] = []
    accounts: list[dict] = []
    close_windows(state, mark, NOW, followers_of, posts, accounts)
    validate(posts, accounts)
    return posts, accounts


def likes(events_by_start: dict[int, int]) -> list:
    return [ev(f"l{start}-{i}", start + i, "like") for start, n in events_by_start.items() for i in range(n)]


MIXED = [
    ev("l1", B0 + 1, "like", "a1", "p1"),
    ev("l2", B0 + 2, "like", "a1", "p1"),
    ev("c1", B0 + 3, "comment", "a1", "p1", sentiment=-0.5),
    ev("s1", B0 + 4, "share", "a1", "p2"),
    ev("i1", B0 + 5, "impression", "a1", "p2"),
    ev("i2", B0 + 6, "impression", "a1", "p2"),
    ev("d1", B0 + 7, "dwell", "a1", "p2", dwell_ms=250),
    ev("k1", B0 + 8, "click", "a1", "p2"),
    ev("f1", B0 + 9, "follow", "a1"),
    ev("u1", B0 + 10, "unfollow", "a1"),
    ev("u2", B0 + 11, "unfollow", "a1"),
    ev("m1", B0 + 12, "mention", "a1", sentiment=0.5),
    ev("r1", B0 + 13, "reaction", "a2", "p3"),  # a2: followers unknown
    ev("i3", B0 + 14, "impression", "a2", "p3"),
    ev("v1", B0 + 15, "save", "a3", "p4"),  # a3: no followers
]


def test_a_closed_window_gives_exact_post_and_account_records():
    posts, accounts = close(merged(MIXED), B0 + W)
    by_post = {r["post_id"]: r for r in posts}
    assert sorted(by_post) == ["p1", "p2", "p3", "p4"]
    # p2: share + click engaged (2) of 2 impressions, one click, one 250 ms dwell; a1 has 2000 followers.
    assert by_post["p2"] == {
        "post_id": "p2",
        "scope": "post",
        "window_kind": "tumbling",
        "window_start": B0,
        "window_end": B0 + W,
        "account_id": "a1",
        "platform": "instagram",
        "followers": 2000,
        "counts": counts(share=1, impression=2, dwell=1, click=1),
        "engaged": 2,
        "dwell_ms_sum": 250,
        "dwell_count": 1,
        "sentiment_sum": 0,
        "sentiment_count": 0,
        "sentiment_negative": 0,
        "rates": {
            "er_followers": 2 / 2000,
            "er_impressions": 2 / 2,
            "applause": 0.0,
            "amplification": 1 / 2000,
            "conversation": 0.0,
            "ctr": 1 / 2,
            "avg_dwell_ms": 250.0,
            "sentiment_mean": None,
            "sentiment_negative_share": None,
            "follower_growth": 0,
        },
        "emitted_at": NOW,
    }
    p1 = by_post["p1"]  # 2 likes and a comment at -0.5 (negative), no impressions
    assert (p1["counts"], p1["engaged"]) == (counts(like=2, comment=1), 3)
    assert (p1["sentiment_sum"], p1["sentiment_count"], p1["sentiment_negative"]) == (-0.5, 1, 1)
    assert p1["rates"]["applause"] == 2 / 2000 and p1["rates"]["conversation"] == 1 / 2000
    assert p1["rates"]["er_impressions"] is None and p1["rates"]["sentiment_negative_share"] == 1.0
    assert by_post["p3"]["followers"] is None and by_post["p3"]["rates"]["er_followers"] is None
    assert by_post["p3"]["rates"]["er_impressions"] == 1 / 1
    assert by_post["p4"]["followers"] == 0 and by_post["p4"]["rates"]["er_followers"] is None

    by_account = {r["account_id"]: r for r in tumbling(accounts)}
    a1 = by_account["a1"]
    # like 2 + comment 1 + share 1 + click 1 engaged; comment -0.5 and mention 0.5; follow 1, unfollow 2.
    expected_a1 = {
        "scope": "account",
        "window_kind": "tumbling",
        "window_start": B0,
        "window_end": B0 + W,
        "account_id": "a1",
        "platform": "instagram",
        "followers": 2000,
        "counts": counts(like=2, comment=1, share=1, impression=2, dwell=1, click=1, follow=1, unfollow=2, mention=1),
        "engaged": 5,
        "dwell_ms_sum": 250,
        "dwell_count": 1,
        "sentiment_sum": 0.0,
        "sentiment_count": 2,
        "sentiment_negative": 1,
        "rates": {
            "er_followers": 5 / 2000,
            "er_impressions": 5 / 2,
            "applause": 2 / 2000,
            "amplification": 1 / 2000,
            "conversation": 1 / 2000,
            "ctr": 1 / 2,
            "avg_dwell_ms": 250.0,
            "sentiment_mean": 0.0,
            "sentiment_negative_share": 1 / 2,
            "follower_growth": -1,
        },
        "emitted_at": NOW,
        "active_posts": 2,
        "responses": {
            "answered": 0,
            "response_ms_sum": 0,
            "response_ms_max": None,
            "within_acknowledge_sla": 0,
            "mean_ms": None,
            "within_acknowledge_sla_share": None,
            "resolved": 0,
            "closed_without_answer": 0,
        },
    }
    assert a1 == expected_a1
    assert sorted(by_account) == ["a1", "a2", "a3"]
    assert by_account["a2"]["active_posts"] == 1 and by_account["a2"]["rates"]["applause"] is None
    # The rolling window ending at the mark spans only this bucket: the same figures.
    rolled = {r["account_id"]: r for r in rolling(accounts)}
    assert sorted(rolled) == ["a1", "a2", "a3"]
    assert rolled["a1"] == {**expected_a1, "window_kind": "rolling", "window_start": B0 + W - R}


def test_a_window_closes_when_the_mark_reaches_its_end_and_only_once():
    state = merged(likes({B0: 1, B0 + W: 2, B0 + 2 * W: 3}))

    def summary(records):
        return [(r["window_start"], r["window_end"], r["counts"]["like"]) for r in records]

    posts, accounts = close(state, B0 + W)
    assert summary(posts) == summary(tumbling(accounts)) == [(B0, B0 + W, 1)]
    assert summary(rolling(accounts)) == [(B0 + W - R, B0 + W, 1)]
    assert state.closed_through == B0 + W and sorted(state.posts) == [B0 + W, B0 + 2 * W]

    posts, accounts = close(state, B0 + 3 * W)
    assert summary(posts) == summary(tumbling(accounts)) == [(B0 + W, B0 + 2 * W, 2), (B0 + 2 * W, B0 + 3 * W, 3)]
    # One rolling record per step: each spans every bucket before its end.
    assert summary(rolling(accounts)) == [(B0 + 2 * W - R, B0 + 2 * W, 1 + 2), (B0 + 3 * W - R, B0 + 3 * W, 1 + 2 + 3)]

    assert close(state, B0 + 3 * W) == ([], [])  # the same mark again: nothing is final twice


def test_nothing_closes_before_the_window_end():
    state = merged(likes({B0: 2}))
    assert close(state, B0) == ([], [])
    assert list(state.posts) == [B0] and list(state.accounts) == [B0]


def test_rolling_records_step_until_the_bucket_leaves_the_span():
    state = merged(likes({B0: 1}))
    posts, accounts = close(state, B0 + R + 2 * W)  # the mark passes every rolling end at once
    assert [(r["window_start"], r["counts"]["like"]) for r in posts] == [(B0, 1)]
    ends = [B0 + k * W for k in range(1, R // W + 1)]  # B0 + W ... B0 + R: the windows holding the bucket
    assert [(r["window_start"], r["window_end"]) for r in rolling(accounts)] == [(end - R, end) for end in ends]
    assert all(r["counts"]["like"] == 1 and r["active_posts"] == 1 for r in rolling(accounts))
    assert state.accounts == {} and state.posts == {}


def test_drop_closed_keeps_what_a_rolling_window_still_needs():
    state = SimpleNamespace(
        config=CFG,
        posts={B0: {}, B0 + W: {}},
        accounts={B0 - R: {}, B0 - R + W: {}, B0 - R + 2 * W: {}, B0: {}, B0 + W: {}},
        sealed=SealedAccounts(),
        closed_through=B0 - W,
        counting_since=None,
    )
    drop_closed(state, B0 + W)
    assert list(state.posts) == [B0 + W]  # its window ends after the mark
    assert list(state.accounts) == [B0 + W]  # open
    assert state.sealed.starts() == [B0 - R + 2 * W, B0]  # closed, in the rolling window ending at B0 + 2W
    assert (state.closed_through, state.counting_since) == (B0 + W, B0 + W)
    drop_closed(state, B0 + 2 * W)
    assert (state.closed_through, state.counting_since) == (B0 + 2 * W, B0 + W)  # the first mark stays


LIVES_CFG = dataclasses.replace(CFG, post_ages_ms=(2 * W, 5 * W, 10 * W), maturity_ms=5 * W, benchmark_period_ms=20 * W)
POSTS = {
    "p1": {"published_at": B0, "content_type": "reel"},
    "p2": {"published_at": B0 - 2 * W, "content_type": "text"},  # before the first input (B0 - W)
    "p3": {"published_at": B0, "content_type": "video"},  # a2: followers unknown
}


def test_lifetime_records_at_each_age_and_a_sample_at_maturity():
    events = [
        ev("a", B0 + 1, "like", "a1", "p1"),  # p1 ages W and less: segment [0, 2W)
        ev("b", B0 + W, "like", "a1", "p1"),
        ev("c", B0 + 3 * W, "comment", "a1", "p1", sentiment=-0.5),  # [2W, 5W)
        ev("d", B0 + 6 * W, "share", "a1", "p1"),  # [5W, 10W)
        ev("e", B0 + 1, "like", "a1", "p2"),  # p2 age 2W + 1: [2W, 5W)
        ev("f", B0 + 2, "reaction", "a2", "p3"),
    ]
    state = merged(events, cfg=LIVES_CFG, post_of=POSTS.get)

    def at(mark):
        records: list[dict] = []
        samples = close_lives(state, mark, NOW, followers_of, records)
        for record in records:
            LIFETIME_VALIDATOR.validate(record)
        return {(r["post_id"], r["age_ms"]): r for r in records}, samples

    records, samples = at(B0 + 2 * W)
    assert sorted(records) == [("p1", 2 * W), ("p2", 2 * W), ("p3", 2 * W)]
    assert records[("p1", 2 * W)]["counts"] == counts(like=2) and records[("p1", 2 * W)]["engaged"] == 2
    assert records[("p2", 2 * W)]["counts"] == counts() and records[("p2", 2 * W)]["window_end"] == B0
    assert samples == []

    records, samples = at(B0 + 5 * W)
    assert sorted(records) == [("p1", 5 * W), ("p2", 5 * W), ("p3", 5 * W)]
    assert records[("p1", 5 * W)] == {
        "post_id": "p1",
        "account_id": "a1",
        "platform": "instagram",
        "content_type": "reel",
        "published_at": B0,
        "published_at_source": "post_record",
        "complete": True,
        "age_ms": 5 * W,
        "final": False,
        "window_start": B0,
        "window_end": B0 + 5 * W,
        "followers": 2000,
        "counts": counts(like=2, comment=1),
        "engaged": 3,
        "dwell_ms_sum": 0,
        "dwell_count": 0,
        "sentiment_sum": -0.5,
        "sentiment_count": 1,
        "sentiment_negative": 1,
        "rates": {
            "er_followers": 3 / 2000,
            "er_impressions": None,
            "applause": 2 / 2000,
            "amplification": 0.0,
            "conversation": 1 / 2000,
            "ctr": None,
            "avg_dwell_ms": None,
            "sentiment_mean": -0.5,
            "sentiment_negative_share": 1.0,
            "follower_growth": 0,
        },
        "emitted_at": NOW,
    }
    assert records[("p2", 5 * W)]["complete"] is False and records[("p2", 5 * W)]["counts"] == counts(like=1)
    # Only p1 is a sample: p2 was published before the first input, p3's account has no follower count.
    # With its ER at each age before maturity (2W: its two likes), for its account's curve.
    assert samples == [["a1", "p1", "instagram", "reel", B0, 3 / 2000, [2 / 2000]]]
    assert state.lifetimes.samples == {"a1": [["p1", "instagram", "reel", B0, 3 / 2000, [2 / 2000]]]}

    records, samples = at(B0 + 10 * W)
    final = records[("p1", 10 * W)]
    assert final["final"] is True and final["counts"] == counts(like=2, comment=1, share=1) and final["engaged"] == 4
    assert samples == [] and at(B0 + 10 * W) == ({}, [])  # every age published once
