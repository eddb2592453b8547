"""The window buckets' typed entries (streams.state.entries), no Kafka: a post entry carries its
account and platform beside its aggregate, an account entry its platform; ``copy`` is deep;
``merge_buckets`` hands a commit's delta over to the state (new windows and keys by reference, a key
both hold by merging aggregates); the rolling merge (streams.state.rolling_merge, here with no bucket
sealed) merges an account's buckets of [start, end) over every source into fresh entries, leaving the
sources as they were.

The expected counts are worked out here from the aggregates each test builds."""

from __future__ import annotations

import pytest

from streams.contract import TYPE_INDEX
from streams.model.aggregates import WindowAggregate
from streams.state import rolling_merge
from streams.state.entries import AccountEntry, Buckets, PostEntry, merge_buckets
from streams.state.sealed_accounts import SealedAccounts
from tests.fixtures.state import B0, W

LIKE, SHARE, DWELL, COMMENT = (TYPE_INDEX[t] for t in ("like", "share", "dwell", "comment"))


def rolling(sources: list[Buckets], start: int, end: int) -> dict[str, AccountEntry]:
    """The rolling merge over open buckets only (no bucket sealed yet)."""
    return rolling_merge.rolling(SealedAccounts(), sources, start, end)


def agg(likes: int = 0, shares: int = 0, posts: tuple[str, ...] | None = None) -> WindowAggregate:
    """An aggregate of ``likes`` likes and ``shares`` shares; an account's (tracking posts) when ``posts``."""
    a = WindowAggregate(track_posts=posts is not None)
    for post_id in posts or ():
        a.add(LIKE, post_id=post_id)
    for _ in range(likes - len(posts or ())):
        a.add(LIKE)
    for _ in range(shares):
        a.add(SHARE)
    return a


def likes_shares(entry) -> tuple[int, int]:
    return entry.agg.counts[LIKE], entry.agg.counts[SHARE]


def test_post_entry_carries_its_owner_beside_the_aggregate():
    a = agg(likes=2)
    entry = PostEntry("a1", "instagram", a)
    assert (entry.account_id, entry.platform, entry.agg) == ("a1", "instagram", a)
    assert entry.agg is a  # the aggregate is held, not copied
    with pytest.raises(AttributeError):  # slots: one entry per post and window, no per-instance dict
        entry.post_id = "p1"


def test_account_entry_carries_its_platform_beside_the_aggregate():
    a = agg(likes=1, posts=("p1",))
    entry = AccountEntry("tiktok", a)
    assert (entry.platform, entry.agg) == ("tiktok", a)
    assert not hasattr(entry, "account_id")  # the bucket's key is the account
    with pytest.raises(AttributeError):
        entry.account_id = "a1"


def test_copies_are_deep_and_equal():
    post = PostEntry("a1", "x", agg(likes=1))
    post.agg.add(DWELL, dwell_ms=250)
    post.agg.add(COMMENT, sentiment=-0.5)
    account = AccountEntry("x", agg(likes=2, posts=("p1", "p2")))
    post_copy, account_copy = post.copy(), account.copy()
    assert (post_copy.account_id, post_copy.platform) == ("a1", "x")
    assert account_copy.platform == "x"
    assert post_copy.agg.to_state() == [
        [0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0],
        250.0,
        1,
        -0.5,
        1,
        1,
        None,
    ]
    assert account_copy.agg.posts == {"p1", "p2"}
    # Changing a copy leaves the original as it was.
    post_copy.agg.add(SHARE)
    account_copy.agg.add(LIKE, post_id="p3")
    assert post.agg.counts[SHARE] == 0
    assert account.agg.posts == {"p1", "p2"} and account.agg.counts[LIKE] == 2


def test_merge_hands_new_windows_and_keys_over_by_reference():
    state = {B0: {"p1": PostEntry("a1", "x", agg(likes=1))}}
    new_window = {"p1": PostEntry("a1", "x", agg(likes=5))}
    new_key = PostEntry("a2", "tiktok", agg(shares=2))
    merge_buckets(state, {B0: {"p2": new_key}, B0 + W: new_window})
    assert state[B0 + W] is new_window
    assert state[B0]["p2"] is new_key
    assert likes_shares(state[B0]["p1"]) == (1, 0)  # a key the delta lacks is left alone


def test_merge_sums_a_key_both_hold_into_the_state_entry():
    kept = AccountEntry("x", agg(likes=3, posts=("p1",)))
    state = {B0: {"a1": kept}}
    delta = {B0: {"a1": AccountEntry("x", agg(likes=2, shares=4, posts=("p2",)))}}
    merge_buckets(state, delta)
    assert state[B0]["a1"] is kept
    assert likes_shares(kept) == (3 + 2, 4)
    assert kept.agg.posts == {"p1", "p2"}


def test_merge_of_an_empty_delta_changes_nothing():
    state = {B0: {"a1": AccountEntry("x", agg(likes=1, posts=()))}}
    merge_buckets(state, {})
    assert list(state) == [B0] and list(state[B0]) == ["a1"] and likes_shares(state[B0]["a1"]) == (1, 0)


def account_buckets(likes_by_start: dict[int, dict[str, int]]) -> dict:
    return {
        start: {account: AccountEntry("x", agg(likes=n, posts=())) for account, n in bucket.items()}
        for start, bucket in likes_by_start.items()
    }


def test_rolling_merges_the_buckets_starting_in_the_half_open_span():
    buckets = account_buckets(
        {
            B0 - W: {"a1": 100},  # before the span
            B0: {"a1": 1, "a2": 10},  # first bucket of the span
            B0 + W: {"a1": 2},
            B0 + 2 * W: {"a1": 4, "a3": 1000},  # starts at the end: outside
        }
    )
    merged = rolling([buckets], B0, B0 + 2 * W)
    assert {account: likes_shares(e) for account, e in merged.items()} == {"a1": (1 + 2, 0), "a2": (10, 0)}
    assert all(e.platform == "x" for e in merged.values())


def test_rolling_merges_every_source_and_posts_once():
    state = {B0: {"a1": AccountEntry("instagram", agg(likes=2, posts=("p1", "p2")))}}
    delta = {
        B0: {"a1": AccountEntry("instagram", agg(likes=1, posts=("p2",)))},
        B0 + W: {"a2": AccountEntry("tiktok", agg(shares=3, posts=()))},
    }
    merged = rolling([state, delta], B0, B0 + 2 * W)
    assert likes_shares(merged["a1"]) == (2 + 1, 0) and merged["a1"].agg.posts == {"p1", "p2"}
    assert likes_shares(merged["a2"]) == (0, 3) and merged["a2"].platform == "tiktok"


def test_rolling_leaves_its_sources_as_they_were():
    buckets = account_buckets({B0: {"a1": 1}, B0 + W: {"a1": 2}})
    before = {start: {k: e.agg.to_state() for k, e in b.items()} for start, b in buckets.items()}
    merged = rolling([buckets], B0, B0 + 2 * W)
    merged["a1"].agg.add(SHARE)
    assert merged["a1"] is not buckets[B0]["a1"]
    assert {start: {k: e.agg.to_state() for k, e in b.items()} for start, b in buckets.items()} == before


def test_rolling_of_nothing_is_empty():
    assert rolling([], B0, B0 + W) == {}
    assert rolling([account_buckets({B0: {"a1": 1}})], B0 + W, B0 + 2 * W) == {}
