"""Sealed account buckets (streams.state.sealed_accounts, rolling_merge, sealed_accounts_format), no Kafka: the rolling
merge over sealed buckets, open buckets, or both, equals a ground truth summed here from the raw
events; the distinct posts are those of the union over the buckets; a sealed bucket read back from
its snapshot record merges the same; the id tables stay bounded as buckets come and go.

The dwell values are whole milliseconds and the sentiments multiples of 1/8, so that every sum is
exact in any order and the comparison can be exact."""

from __future__ import annotations

import random

from streams.contract import TYPE_INDEX, TYPES
from streams.model.aggregates import WindowAggregate
from streams.state.entries import AccountEntry
from streams.state.rolling_merge import rolling
from streams.state.sealed_accounts import COMPACT_SLACK, SealedAccounts
from streams.state.sealed_accounts_format import decode_bucket, encode_bucket
from tests.fixtures.state import B0, W

PLATFORMS = ("instagram", "tiktok", "x")
DWELL, COMMENT, MENTION = "dwell", "comment", "mention"
POST_LEVEL = ("impression", "like", "reaction", "comment", "share", "save", "click", "dwell")


def raw_events(seed: int, buckets: int, accounts: int, per_bucket: int) -> list[tuple]:
    """(bucket start, account, type, post or None, dwell or None, sentiment or None, response or None)."""
    rng = random.Random(seed)
    events = []
    for b in range(buckets):
        for _ in range(per_bucket):
            account = f"acc{rng.randrange(accounts)}"
            type_ = rng.choice(TYPES)
            post = f"{account}-p{rng.randrange(6)}" if type_ in POST_LEVEL else None
            dwell = rng.randrange(0, 90_000) if type_ == DWELL else None
            sentiment = rng.randrange(-8, 9) / 8 if type_ in (COMMENT, MENTION) and rng.random() < 0.8 else None
            # Now and then a response (ms, within the SLA) or a resolve (answered) lands in the bucket.
            response = rng.choice([None] * 8 + [("answered", rng.randrange(1, 10**6), rng.random() < 0.5)])
            response = response or rng.choice([None] * 12 + [("resolved", rng.random() < 0.5)])
            events.append((B0 + b * W, account, type_, post, dwell, sentiment, response))
    return events


def platform_of(account: str) -> str:
    return PLATFORMS[int(account[3:]) % len(PLATFORMS)]


def buckets_of(events) -> dict[int, dict[str, AccountEntry]]:
    buckets: dict[int, dict[str, AccountEntry]] = {}
    for start, account, type_, post, dwell, sentiment, response in events:
        bucket = buckets.setdefault(start, {})
        entry = bucket.setdefault(account, AccountEntry(platform_of(account), WindowAggregate(track_posts=True)))
        entry.agg.add(TYPE_INDEX[type_], dwell, sentiment, post)
        if response and response[0] == "answered":
            entry.agg.add_response(response[1], response[2])
        elif response:
            entry.agg.add_resolved(response[1])
    return buckets


def ground_truth(events, start: int, end: int) -> dict[str, dict]:
    """Per account, its rolling figures over [start, end), summed from the raw events."""
    out: dict[str, dict] = {}
    for s, account, type_, post, dwell, sentiment, response in events:
        if not start <= s < end:
            continue
        t = out.setdefault(
            account,
            {
                "platform": platform_of(account),
                "counts": dict.fromkeys(TYPES, 0),
                "dwell": [0, 0],
                "sentiment": [0.0, 0, 0],
                "posts": set(),
                "responses": None,
            },
        )
        t["counts"][type_] += 1
        if dwell is not None:
            t["dwell"][0] += dwell
            t["dwell"][1] += 1
        if sentiment is not None:
            t["sentiment"][0] += sentiment
            t["sentiment"][1] += 1
            t["sentiment"][2] += sentiment < -0.2
        if post is not None:
            t["posts"].add(post)
        if response:
            r = t["responses"] = t["responses"] or [0, 0, 0, 0, 0, 0]
            if response[0] == "answered":
                r[0], r[1], r[2], r[3] = r[0] + 1, r[1] + response[1], max(r[2], response[1]), r[3] + response[2]
            else:
                r[4], r[5] = r[4] + 1, r[5] + (not response[1])
    for t in out.values():
        t["posts"] = sorted(t["posts"])
    return out


def figures(merged: dict[str, AccountEntry]) -> dict[str, dict]:
    return {
        account: {
            "platform": e.platform,
            "counts": e.agg.counts_by_type(),
            "dwell": [e.agg.dwell_ms_sum, e.agg.dwell_count],
            "sentiment": [e.agg.sentiment_sum, e.agg.sentiment_count, e.agg.sentiment_negative],
            "posts": sorted(e.agg.posts),
            "responses": e.agg.responses,
        }
        for account, e in merged.items()
    }


def split(buckets: dict, sealed_before: int) -> tuple[SealedAccounts, dict]:
    """Seal the buckets starting before ``sealed_before`` (in window order); the rest stay open."""
    sealed = SealedAccounts()
    for start in sorted(buckets):
        if start < sealed_before:
            sealed.seal(start, buckets[start])
    return sealed, {s: b for s, b in buckets.items() if s >= sealed_before}


def test_rolling_over_sealed_and_open_buckets_equals_the_events_summed():
    events = raw_events(seed=5, buckets=24, accounts=40, per_bucket=150)
    for sealed_before in (B0, B0 + 10 * W, B0 + 24 * W):  # none, some, all sealed
        for start, end in ((B0, B0 + 24 * W), (B0 + 3 * W, B0 + 17 * W), (B0 + 30 * W, B0 + 40 * W)):
            sealed, open_buckets = split(buckets_of(events), sealed_before)
            merged = rolling(sealed, [open_buckets], start, end)
            assert figures(merged) == ground_truth(events, start, end), (sealed_before, start, end)
            assert {a: len(e.agg.posts) for a, e in merged.items()} == {
                a: len(t["posts"]) for a, t in ground_truth(events, start, end).items()
            }


def test_distinct_posts_are_the_union_over_the_buckets_not_a_sum():
    events = [(B0 + b * W, "acc1", "like", post, None, None, None) for b in range(3) for post in ("p1", "p2")]
    sealed, _ = split(buckets_of(events), B0 + 3 * W)
    [entry] = rolling(sealed, [], B0, B0 + 3 * W).values()
    assert len(entry.agg.posts) == 2 and sorted(entry.agg.posts) == ["p1", "p2"]
    assert entry.agg.counts_by_type()["like"] == 6


def test_rolling_of_one_account_is_that_account_of_the_whole_merge():
    events = raw_events(seed=6, buckets=12, accounts=20, per_bucket=100)
    sealed, open_buckets = split(buckets_of(events), B0 + 8 * W)
    truth = ground_truth(events, B0, B0 + 12 * W)
    for account in ("acc3", "acc17", "nobody"):
        merged = rolling(sealed, [open_buckets], B0, B0 + 12 * W, account_id=account)
        assert figures(merged) == ({account: truth[account]} if account in truth else {})


def test_a_sealed_bucket_read_back_from_its_record_merges_the_same():
    events = raw_events(seed=7, buckets=6, accounts=30, per_bucket=200)
    live, _ = split(buckets_of(events), B0 + 6 * W)
    restored = SealedAccounts()
    restored.posts.indexes(["unrelated"])  # the tables of the reader differ from the writer's
    for start in reversed(live.starts()):
        restored.add(start, decode_bucket(encode_bucket(live, start), restored))
    assert restored.starts() == live.starts()
    assert figures(rolling(restored, [], B0, B0 + 6 * W)) == ground_truth(events, B0, B0 + 6 * W)


def test_the_id_tables_stay_bounded_as_buckets_come_and_go():
    sealed = SealedAccounts()
    window = 10
    events = []
    for b in range(60):  # every bucket has posts of its own: the post table would grow without end
        bucket_events = [(B0 + b * W, f"acc{i % 50}", "like", f"b{b}-p{i}", None, None, None) for i in range(400)]
        events += bucket_events
        sealed.seal(B0 + b * W, buckets_of(bucket_events)[B0 + b * W])
        sealed.drop_before(B0 + (b - window + 1) * W)
    assert len(sealed.posts.names) <= 2 * window * 400 + COMPACT_SLACK
    start = B0 + (60 - window) * W
    assert figures(rolling(sealed, [], start, B0 + 60 * W)) == ground_truth(events, start, B0 + 60 * W)
