"""The engine end to end on the real broker: generated traffic with out-of-order events, duplicates,
late events, batches, mis-keyed events, malformed and schema-violating messages. The ground truth is
computed here, from what the test generated, with DOMAIN.md's formulas written out again."""

from __future__ import annotations

import base64
import json
import random
import time
from collections import Counter

import orjson
import pytest

from streams.devtools.processes import http_get
from tests.fixtures.groundtruth import (
    POST_TYPES,
    TYPES,
    assert_records_equal_truth,
    comparable,
    expected_record,
    merge_into,
    schema,
    truth,
    ts_ms,
)
from tests.fixtures.kafka import isolated_settings, json_values, produce, read_all, run, wait_for

WINDOW_S, GRACE_S, ROLLING_S = 5, 6, 20
WINDOW_MS, ROLLING_MS = WINDOW_S * 1000, ROLLING_S * 1000
ACCOUNTS = {  # account_id -> (platform, followers or None when no reference record is published)
    "acct-fb": ("facebook", 2000),
    "acct-ig": ("instagram", 15000),
    "acct-tt": ("tiktok", 900),
    "acct-x": ("x", 4000),
    "acct-li": ("linkedin", 300),
    "acct-noref": ("youtube", None),
}
MAX_MESSAGE_BYTES, MAX_BATCH = 65536, 50


class Traffic:
    """Generates the input, remembers what each message should become."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.seq = 0
        self.sent_events: list[dict] = []  # every valid event sent, duplicates included, in order
        self.on_time_ids: set[str] = set()  # ids the engine must count (first sending of each)
        self.late_ids: set[str] = set()
        self.messages: list[tuple[bytes | None, bytes]] = []
        self.expect: list = []  # per message: None (all counted) or [(batch_index, reason)]

    def event(self, now_ms: int, account: str | None = None, jitter_ms: int = 2000) -> dict:
        self.seq += 1
        account = account or self.rng.choice(sorted(ACCOUNTS))
        platform = ACCOUNTS[account][0]
        kind = self.rng.choices(TYPES, weights=(40, 12, 6, 5, 3, 2, 5, 6, 2, 1, 3, 2, 1))[0]
        event = {
            "event_id": f"ev-{self.seq}",
            "type": kind,
            "platform": platform,
            "account_id": account,
            "ts": now_ms - self.rng.randrange(jitter_ms),
            "user_id": f"u{self.rng.randrange(50)}",
        }
        if kind in POST_TYPES:
            event["post_id"] = f"{account}-post-{self.rng.randrange(4)}"
        if kind == "dwell":
            event["dwell_ms"] = self.rng.randrange(0, 60_000)
        if kind in ("comment", "mention") and self.rng.random() < 0.8:
            event["sentiment"] = self.rng.choice([-0.9, -0.5, -0.2, 0.0, 0.3, 0.8, 1.0])
        if kind == "reply":
            event["in_reply_to"] = "ev-1"
        if kind == "resolve":
            event["resolves"] = "ev-2"
        if self.seq % 3 == 0:  # both ts forms of the contract
            event["ts"] = (
                time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(event["ts"] // 1000))
                + f".{event['ts'] % 1000:03d}+00:00"
            )
        return event

    def add(self, key: str | None, payload, expect=None, raw: bytes | None = None) -> None:
        self.messages.append((key.encode() if key else None, raw if raw is not None else orjson.dumps(payload)))
        self.expect.append(expect)

    def counted(self, event: dict) -> None:
        self.sent_events.append(event)
        self.on_time_ids.add(event["event_id"])

    def round(self, now_ms: int, n: int) -> None:
        for _ in range(n):
            roll = self.rng.random()
            if roll < 0.75:
                event = self.event(now_ms)
                key = event["account_id"] if self.rng.random() > 0.03 else "mis-keyed"
                self.counted(event)
                self.add(key, event)
            elif roll < 0.85 and self.sent_events:  # a duplicate of an earlier event, keyed anyhow
                original = self.rng.choice([e for e in self.sent_events if e])
                self.add(None if self.rng.random() < 0.5 else "dup", original)
                self.sent_events.append(None)  # placeholder: a duplicate, counted once
            else:  # a collector batch: valid events of one account and a few invalid ones
                account = self.rng.choice(sorted(ACCOUNTS))
                batch, expect = [], []
                for i in range(self.rng.randrange(2, 8)):
                    event = self.event(now_ms, account)
                    if self.rng.random() < 0.2:
                        bad, reason = self.invalid(event)
                        batch.append(bad)
                        expect.append((i, reason))
                    else:
                        batch.append(event)
                        self.counted(event)
                self.add(account, batch, expect)

    def invalid(self, event: dict) -> tuple[object, str]:
        choice = self.rng.randrange(7)
        bad = dict(event)
        if choice == 0:
            bad["type"] = "poke"
            return bad, "unknown_type"
        if choice == 1:
            bad["type"], bad["dwell_ms"], bad["post_id"] = "dwell", -5, "p"
            return bad, "schema:dwell_ms"
        if choice == 2:
            bad["type"] = "like"
            bad.pop("post_id", None)
            return bad, "schema:post_id"
        if choice == 3:
            bad["platform"] = "myspace"
            return bad, "schema:platform"
        if choice == 4:
            bad["ts"] = 631152000000  # 1990
            return bad, "schema:ts"
        if choice == 5:
            bad["ts"] = int(time.time() * 1000) + 3_600_000
            return bad, "future_ts"
        return ["not", "an", "event"], "schema:event"

    def malformed(self) -> None:
        self.add("acct-fb", None, [(None, "malformed_json")], raw=b'{"event_id": "x", "type": ')
        self.add("acct-fb", None, [(None, "malformed_json")], raw=b"\xff\xfe\x00garbage")
        self.add("acct-fb", None, [(None, "malformed_json")], raw=b"")
        self.add("acct-fb", None, [(None, "malformed_json")], raw=b'{"a": NaN}')
        self.add("acct-ig", None, [(None, "too_large")], raw=b'{"pad": "' + b"x" * (MAX_MESSAGE_BYTES + 10) + b'"}')
        big = [self.event(int(time.time() * 1000), "acct-ig") for _ in range(MAX_BATCH + 1)]
        self.add("acct-ig", big, [(None, "too_large")])
        self.add("acct-ig", 42, [(None, "schema:event")])

    def late(self, ts_ms: int, n: int) -> None:
        for _ in range(n):
            event = self.event(ts_ms, jitter_ms=1)
            self.late_ids.add(event["event_id"])
            self.add(event["account_id"], event, [(None, "late")])


def total(workers, name: str) -> float:
    return sum(sum(v for k, v in w.metrics().items() if k == name or k.startswith(name + "{")) for w in workers)


@pytest.mark.integration
@pytest.mark.parametrize("n_workers", [1, 2])
def test_final_records_equal_the_ground_truth(kafka_bootstrap, workers, topics_ready, n_workers):
    settings = topics_ready(
        isolated_settings(
            kafka_bootstrap,
            window_seconds=WINDOW_S,
            window_grace_seconds=GRACE_S,
            rolling_window_seconds=ROLLING_S,
            max_message_bytes=MAX_MESSAGE_BYTES,
            max_batch_events=MAX_BATCH,
            commit_interval_seconds=0.3,
        )
    )
    run(
        produce(
            settings,
            settings.topic_accounts,
            [
                (a.encode(), orjson.dumps({"account_id": a, "platform": p, "followers": f}))
                for a, (p, f) in ACCOUNTS.items()
                if f is not None
            ],
        )
    )
    group = [workers(settings, f"w{i}").start() for i in range(n_workers)]
    wait_for(
        lambda: sum(len(json.loads(http_get(f"{w.url}/health")[1])["partitions"]) for w in group) == 8,
        60,
        "all 8 partitions assigned",
    )

    traffic = Traffic(seed=4 + n_workers)
    metadata = []
    # Round 1, then a live query while its windows are open.
    traffic.round(int(time.time() * 1000), 250)
    traffic.malformed()
    traffic.late(int(time.time() * 1000) - 120_000, 3)  # windows that closed before the workers started
    metadata += run(produce(settings, settings.topic_interactions, traffic.messages))
    sent_so_far = len(traffic.messages)
    wait_for(
        lambda: total(group, "engagement_events_consumed_total") >= _expected_consumed(traffic), 30, "round 1 consumed"
    )
    time.sleep(1)  # one commit interval: the delta is merged
    _check_live_queries(group, traffic)

    for _ in range(3):  # more rounds, 3 s apart: several windows, out-of-order within grace
        time.sleep(3)
        traffic.round(int(time.time() * 1000), 250)
        metadata += run(produce(settings, settings.topic_interactions, traffic.messages[sent_so_far:]))
        sent_so_far = len(traffic.messages)

    # Late events for a window of ours that has now closed by the wall clock.
    first_start = min(ts_ms(e) for e in traffic.sent_events if e) // WINDOW_MS * WINDOW_MS
    wait_for(lambda: time.time() * 1000 > first_start + WINDOW_MS + GRACE_S * 1000 + 1500, 30, "first close")
    traffic.late(first_start + 100, 4)
    metadata += run(produce(settings, settings.topic_interactions, traffic.messages[sent_so_far:]))

    on_time = [e for e in traffic.sent_events if e]
    last_start = max(ts_ms(e) for e in on_time) // WINDOW_MS * WINDOW_MS
    last_close_s = (last_start + ROLLING_MS) / 1000 + GRACE_S + 2
    wait_for(lambda: time.time() > last_close_s, 90, "the last rolling window to close")
    time.sleep(1.5)

    posts_expected, accounts_expected, rolling_expected = truth(on_time, WINDOW_MS, ROLLING_MS)
    assert len(posts_expected) > 20 and len(accounts_expected) > 10 and len(rolling_expected) > 20
    post_records = json_values(run(read_all(settings, settings.topic_post_metrics)))
    account_records = json_values(run(read_all(settings, settings.topic_account_metrics)))
    dlq_messages = run(read_all(settings, settings.topic_dlq))
    assert_records_equal_truth(
        post_records,
        account_records,
        on_time,
        WINDOW_MS,
        ROLLING_MS,
        platform_of=lambda a: ACCOUNTS[a][0],
        followers_ok=lambda a, followers: followers == ACCOUNTS[a][1],
    )

    # Every rejected input is in the DLQ with the right reason, and nothing else is.
    expected_dlq = Counter()
    for meta, expect in zip(metadata, traffic.expect):
        for batch_index, reason in expect or ():
            expected_dlq[(meta.partition, meta.offset, batch_index, reason)] += 1
    actual_dlq = Counter()
    for message in dlq_messages:
        record = orjson.loads(message.value)
        schema("dlq.schema.json").validate(record)
        source = record["source"]
        assert source["topic"] == settings.topic_interactions
        assert base64.b64decode(record["original_b64"]) or record["reason"] == "malformed_json"
        actual_dlq[(source["partition"], source["offset"], source["batch_index"], record["reason"])] += 1
    assert actual_dlq == expected_dlq

    # The accounting identity, and each term exactly.
    consumed = total(group, "engagement_events_consumed_total")
    counted = total(group, "engagement_events_counted_total")
    duplicate = total(group, "engagement_events_duplicate_total")
    rejected = total(group, "engagement_events_rejected_total")
    assert consumed == counted + duplicate + rejected
    assert counted == len(on_time)
    assert duplicate == sum(1 for e in traffic.sent_events if e is None)
    assert rejected == sum(expected_dlq.values())
    assert total(group, "engagement_events_late_total") == len(traffic.late_ids)


def _expected_consumed(traffic: Traffic) -> int:
    """Events the workers will have consumed once every message so far is read (forwarded ones once)."""
    n = 0
    for (_key, value), expect in zip(traffic.messages, traffic.expect):
        if expect and expect[0][0] is None:
            n += 1
            continue
        data = orjson.loads(value)
        n += len(data) if isinstance(data, list) else 1
    return n


def _check_live_queries(group, traffic: Traffic) -> None:
    """While round 1's windows are open, any worker returns the live values of any key."""
    on_time = [e for e in traffic.sent_events if e]
    posts_expected, accounts_expected, _ = truth(on_time, WINDOW_MS, ROLLING_MS)
    account = "acct-ig"

    def expect(acct, agg):
        return expected_record(acct, agg, *ACCOUNTS[acct])

    for worker in group:
        status, body = http_get(f"{worker.url}/accounts/{account}/metrics?window={WINDOW_S}s")
        assert status == 200, body
        windows = {w["window_start"]: w for w in json.loads(body)["windows"]}
        expected = {start: agg for (acct, start), (_, agg) in accounts_expected.items() if acct == account}
        assert set(windows) == set(expected)
        for start, agg in expected.items():
            assert comparable(windows[start]) == expect(account, agg)
        status, body = http_get(f"{worker.url}/accounts/{account}/metrics?window={ROLLING_S}s")
        assert status == 200, body
        [rolling] = json.loads(body)["windows"]
        merged = {"counts": Counter(), "dwell_sum": 0, "dwell_n": 0, "s_sum": 0.0, "s_n": 0, "s_neg": 0, "posts": set()}
        for agg in expected.values():
            merge_into(merged, agg)
        assert comparable(rolling) == expect(account, merged)

        post_id, start = next(k for k in posts_expected if k[0].startswith(account))
        status, body = http_get(f"{worker.url}/posts/{post_id}/metrics")
        assert status == 200, body
        windows = {w["window_start"]: w for w in json.loads(body)["windows"]}
        owner, agg = posts_expected[(post_id, start)]
        assert comparable(windows[start]) == expect(owner, agg)

        assert http_get(f"{worker.url}/posts/no-such-post/metrics")[0] == 404
        assert http_get(f"{worker.url}/accounts/no-such-account/metrics")[0] == 404
        assert http_get(f"{worker.url}/accounts/{account}/metrics?window=7d")[0] == 400
