"""Ground truth for the Kafka tests, computed from the generated input with DOMAIN.md's formulas
written out again here (never with the engine's own code)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from .conftest import REPO

ENGAGED = ("like", "reaction", "comment", "share", "save", "click")
TYPES = (
    "impression",
    "like",
    "reaction",
    "comment",
    "share",
    "save",
    "click",
    "dwell",
    "follow",
    "unfollow",
    "mention",
    "reply",
)
POST_TYPES = TYPES[:8]


def schema(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((REPO / "schemas" / name).read_text()), format_checker=FormatChecker())


def ts_ms(event: dict) -> int:
    ts = event["ts"]
    if isinstance(ts, int):
        return ts
    return int(datetime.fromisoformat(ts).timestamp() * 1000)


def ratio(num, den):
    return None if not den else num / den


def _empty() -> dict:
    return {"counts": Counter(), "dwell_sum": 0, "dwell_n": 0, "s_sum": 0.0, "s_n": 0, "s_neg": 0, "posts": set()}


def truth(events: list[dict], window_ms: int, rolling_ms: int) -> tuple[dict, dict, dict]:
    """Expected post, tumbling-account and rolling-account aggregates, keyed by (key, window_start);
    post values are (account_id, aggregate), account values (account_id, aggregate)."""
    posts, accounts = defaultdict(_empty), defaultdict(_empty)
    owners = {}
    for e in events:
        start = ts_ms(e) // window_ms * window_ms
        targets = [accounts[(e["account_id"], start)]]
        if e["type"] in POST_TYPES:
            targets.append(posts[(e["post_id"], start)])
            owners[e["post_id"]] = e["account_id"]
        for agg in targets:
            agg["counts"][e["type"]] += 1
            if e["type"] == "dwell":
                agg["dwell_sum"] += e["dwell_ms"]
                agg["dwell_n"] += 1
            if e["type"] in ("comment", "mention") and "sentiment" in e:
                agg["s_sum"] += e["sentiment"]
                agg["s_n"] += 1
                agg["s_neg"] += e["sentiment"] < -0.2
            if e["type"] in POST_TYPES:
                agg["posts"].add(e["post_id"])
    rolling = defaultdict(_empty)
    for (account, start), agg in accounts.items():
        for end in range(start + window_ms, start + rolling_ms + 1, window_ms):
            merge_into(rolling[(account, end - rolling_ms)], agg)
    return (
        {k: (owners[k[0]], v) for k, v in posts.items()},
        {k: (k[0], v) for k, v in accounts.items()},
        {k: (k[0], v) for k, v in rolling.items()},
    )


def merge_into(into: dict, agg: dict) -> None:
    into["counts"] += agg["counts"]
    for k in ("dwell_sum", "dwell_n", "s_sum", "s_n", "s_neg"):
        into[k] += agg[k]
    into["posts"] |= agg["posts"]


def expected_record(account: str, agg: dict, platform: str, followers: int | None) -> dict:
    counts = agg["counts"]
    engaged = sum(counts[t] for t in ENGAGED)
    return {
        "account_id": account,
        "platform": platform,
        "followers": followers,
        "counts": {t: counts[t] for t in TYPES},
        "engaged": engaged,
        "dwell_ms_sum": agg["dwell_sum"],
        "dwell_count": agg["dwell_n"],
        "sentiment_sum": pytest.approx(agg["s_sum"]),
        "sentiment_count": agg["s_n"],
        "sentiment_negative": agg["s_neg"],
        "rates": {
            "er_followers": pytest.approx(ratio(engaged, followers)),
            "er_impressions": pytest.approx(ratio(engaged, counts["impression"])),
            "applause": pytest.approx(ratio(counts["like"] + counts["reaction"], followers)),
            "amplification": pytest.approx(ratio(counts["share"], followers)),
            "conversation": pytest.approx(ratio(counts["comment"], followers)),
            "ctr": pytest.approx(ratio(counts["click"], counts["impression"])),
            "avg_dwell_ms": pytest.approx(ratio(agg["dwell_sum"], agg["dwell_n"])),
            "sentiment_mean": pytest.approx(ratio(agg["s_sum"], agg["s_n"])),
            "sentiment_negative_share": pytest.approx(ratio(agg["s_neg"], agg["s_n"])),
            "follower_growth": counts["follow"] - counts["unfollow"],
        },
    }


def comparable(record: dict) -> dict:
    return {
        k: v
        for k, v in record.items()
        if k
        not in (
            "emitted_at",
            "window_start",
            "window_end",
            "scope",
            "window_kind",
            "post_id",
            "active_posts",
            "responses",
        )
    }  # responses: tests/test_listening.py, test_mentions.py


def assert_records_equal_truth(
    post_records: list[dict],
    account_records: list[dict],
    events: list[dict],
    window_ms: int,
    rolling_ms: int,
    platform_of,
    followers_ok,
) -> None:
    """Exactly one final record per key and window, each equal to the ground truth.
    followers_ok(account_id, followers) says whether the follower count a record used is one the
    account had; the rates are checked against the record's own follower count."""
    posts_expected, accounts_expected, rolling_expected = truth(events, window_ms, rolling_ms)
    post_schema, account_schema = schema("post-metrics.schema.json"), schema("account-metrics.schema.json")
    for record in post_records:
        post_schema.validate(record)
    for record in account_records:
        account_schema.validate(record)
    post_keys = [(r["post_id"], r["window_start"]) for r in post_records]
    assert len(post_keys) == len(set(post_keys)), "a post window was published twice"
    assert set(post_keys) == set(posts_expected), "post windows differ"
    for record in post_records:
        account, agg = posts_expected[(record["post_id"], record["window_start"])]
        assert record["window_end"] == record["window_start"] + window_ms
        assert followers_ok(account, record["followers"])
        assert comparable(record) == expected_record(account, agg, platform_of(account), record["followers"]), (
            f"post {record['post_id']} window {record['window_start']}: {record['counts']} != {dict(agg['counts'])}"
        )
    for kind, expected in (("tumbling", accounts_expected), ("rolling", rolling_expected)):
        records = [r for r in account_records if r["window_kind"] == kind]
        keys = [(r["account_id"], r["window_start"]) for r in records]
        assert len(keys) == len(set(keys)), f"an account {kind} window was published twice"
        assert set(keys) == set(expected), f"{kind} windows differ"
        for record in records:
            account, agg = expected[(record["account_id"], record["window_start"])]
            assert record["active_posts"] == len(agg["posts"])
            assert followers_ok(account, record["followers"])
            assert comparable(record) == expected_record(account, agg, platform_of(account), record["followers"]), (
                f"{kind} {account} window {record['window_start']}: {record['counts']} != {dict(agg['counts'])}"
            )
