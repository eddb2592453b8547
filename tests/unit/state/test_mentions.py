"""The listening state without Kafka: open mentions past the two SLAs, expiry, replies and resolves
read before their mention, and the response and resolve figures of the account records (DOMAIN.md,
listening and response: acknowledge and resolve are two steps). Expected values are worked out in each
test from the events it makes."""

from __future__ import annotations

import random
import statistics

import numpy as np
import orjson

from streams.state import PartitionState, WindowConfig
from streams.state.mention_store import MentionStore, mention_key
from streams.state.mentions import OpenMentions
from streams.validation.structs import event_from
from tests.fixtures.state import ACCOUNT_VALIDATOR, B0, ENGAGED, PLATFORM, G, W, followers_of

ACK, RESOLVE, KEEP = 12 * 60_000, 24 * 60_000, 72 * 60_000  # the SLAs and the retention, shortened
CFG = WindowConfig(
    window_ms=W,
    grace_ms=G,
    rolling_ms=20 * W,
    dedup_ms=15 * W,
    engaged_types=ENGAGED,
    acknowledge_ms=ACK,
    resolve_ms=RESOLVE,
    mention_retention_ms=KEEP,
)


def mention(event_id: str, ts: int, account: str = "a1") -> dict:
    return event_from(
        {
            "event_id": event_id,
            "type": "mention",
            "ts": ts,
            "platform": PLATFORM[account],
            "account_id": account,
            "sentiment": -0.5,
        }
    )


def reply(event_id: str, ts: int, to: str, account: str = "a1") -> dict:
    return event_from(
        {
            "event_id": event_id,
            "type": "reply",
            "ts": ts,
            "platform": PLATFORM[account],
            "account_id": account,
            "in_reply_to": to,
        }
    )


def resolve(event_id: str, ts: int, of: str, account: str = "a1") -> dict:
    return event_from(
        {
            "event_id": event_id,
            "type": "resolve",
            "ts": ts,
            "platform": PLATFORM[account],
            "account_id": account,
            "resolves": of,
        }
    )


def fresh(now: int) -> PartitionState:
    return PartitionState(0, CFG, closed_through=CFG.close_mark(now))


def test_open_mentions_past_each_sla_per_account_and_the_oldest():
    now = B0 + 100 * 60_000
    mentions = OpenMentions(ACK, RESOLVE, KEEP)
    ages_min = {"a1": [1, 11, 13, 20, 25, 30, 71], "a2": [5, 12.5], "a3": [2, 3]}
    for account, ages in ages_min.items():
        for i, age in enumerate(ages):
            mentions.mention(f"{account}-{i}", account, now - int(age * 60_000))
    mentions.reply("a1-4", "a1", now, "instagram")  # acknowledged, not resolved
    mentions.resolve("a1-5", "a1", now)  # closed without answer
    mentions.mention("a3-old", "a3", now - 26 * 60_000)
    mentions.reply("a3-old", "a3", now, "instagram")  # acknowledged: past the resolve SLA only
    scan = mentions.scan(now)
    # a1: 13, 20, 71 min past 12 min (25 was answered, 30 closed); 71 and the answered 25 past 24 min.
    assert scan.overdue == {
        "a1": [3, 2, now - 71 * 60_000],
        "a2": [1, 0, now - 750_000],
        "a3": [0, 1, now - 26 * 60_000],
    }
    assert scan.expired == 0
    # Exactly at the SLA is not past it.
    assert OpenMentions(ACK, RESOLVE, KEEP).scan(now).overdue == {}
    edge = OpenMentions(ACK, RESOLVE, KEEP)
    edge.mention("m", "a1", now - ACK)
    assert edge.scan(now).overdue == {}
    assert edge.scan(now + 1).overdue == {"a1": [1, 0, now - ACK]}


def test_mentions_past_the_retention_expire_and_close_in_the_topic():
    now = B0 + 200 * 60_000
    mentions = OpenMentions(ACK, RESOLVE, KEEP)
    mentions.mention("old", "a1", now - KEEP - 1)
    mentions.mention("kept", "a1", now - KEEP)
    mentions.take_changes()
    scan = mentions.scan(now)
    assert scan.expired == 1 and mentions.find("old") is None and mentions.open_count == 1
    assert mentions.find("kept") == ("m", "a1", now - KEEP)
    assert scan.overdue == {"a1": [1, 1, now - KEEP]}
    assert mentions.take_changes() == {"old": None}
    # Counted with the change that closes it (the commit holding it), once: a scan redone after a
    # failed commit expires it again, in a state restored from the topic.
    assert mentions.take_expired() == 1 and mentions.take_expired() == 0
    assert mentions.reply("old", "a1", now, "instagram") is None  # too late: it waits, unmatched


def test_the_compacted_topic_rebuilds_open_mentions_and_waiting_replies():
    live = OpenMentions(ACK, RESOLVE, KEEP)
    topic: dict[str, bytes | None] = {}  # key -> latest value, as compaction keeps it
    rng = random.Random(3)
    for i in range(300):
        ts = B0 + i * 1000
        draw = rng.random()
        if draw < 0.5:
            live.mention(f"m{i}", rng.choice(["a1", "a2"]), ts)
        elif draw < 0.8:
            live.reply(f"m{rng.randrange(i + 5)}", "a1", ts, "instagram")  # some answer mentions to come
        else:
            live.resolve(f"m{rng.randrange(i + 5)}", "a1", ts)
        if i % 50 == 0:
            live.scan(ts + KEEP // 2)
        for key, value in live.take_changes().items():
            topic[key] = None if value is None else orjson.dumps(value)
    restored = OpenMentions(ACK, RESOLVE, KEEP)
    for key, value in topic.items():
        restored.restore(key, None if value is None else orjson.loads(value))
    assert (restored.unresolved(), restored.waiting) == (live.unresolved(), live.waiting)
    assert live.open_count and live.acknowledged_count and live.waiting
    assert any(r[1] is None for r in live.waiting.values()) and any(r[3] is None for r in live.waiting.values())


def test_response_times_in_the_account_records():
    """Mentions answered after known delays, one never, one reply read before its mention."""
    t = B0 + 1000
    state = fresh(t)
    delays = {"m1": 30_000, "m2": 5 * 60_000, "m3": 13 * 60_000}  # m3: past the acknowledge SLA
    mention_ts = {}
    for i, mention_id in enumerate(["m1", "m2", "m3", "never"]):
        mention_ts[mention_id] = t + i
        state.add(mention(mention_id, t + i), t + i)
    reply_ts = {m: mention_ts[m] + d for m, d in delays.items()}
    now = max(reply_ts.values())
    for m in delays:
        state.add(reply(f"r-{m}", reply_ts[m], m), now)
    # A reply read before its mention: it waits, then the mention closes it at once.
    state.add(reply("r-early", now + 5, "early"), now + 5)
    state.add(mention("early", now - 2 * 60_000), now + 6)
    responses_ms = [*delays.values(), 2 * 60_000 + 5]
    by_platform = state.take_responses()
    assert sorted(ms for values in by_platform.values() for ms in values) == sorted(responses_ms)
    assert set(by_platform) == {"instagram"}

    records = []
    close_at = now + 20 * W + G
    for step in range(0, close_at - t + W, W):
        records += state.commit(t + step, followers_of).account_records
    tumbling = [r for r in records if r["window_kind"] == "tumbling"]
    for record in tumbling:
        ACCOUNT_VALIDATOR.validate(record)
    answered = sum(r["responses"]["answered"] for r in tumbling)
    assert answered == len(responses_ms)
    assert sum(r["responses"]["response_ms_sum"] for r in tumbling) == sum(responses_ms)
    assert max(r["responses"]["response_ms_max"] or 0 for r in tumbling) == max(responses_ms)
    assert sum(r["responses"]["within_acknowledge_sla"] for r in tumbling) == sum(ms <= ACK for ms in responses_ms)
    # Each response counts in the window of the later-read event: the reply's, or the early mention's.
    windows = {r["window_start"]: r["responses"]["answered"] for r in tumbling if r["responses"]["answered"]}
    expected: dict[int, int] = {}
    for ts in [*reply_ts.values(), now - 2 * 60_000]:
        expected[ts - ts % W] = expected.get(ts - ts % W, 0) + 1
    assert windows == expected
    # The rolling records sum the buckets: mean and share within the SLA over the whole span.
    span = [r for r in records if r["window_kind"] == "rolling" and r["responses"]["answered"] == len(responses_ms)]
    assert span, "no rolling window holds every response"
    summary = span[0]["responses"]
    assert summary["mean_ms"] == statistics.mean(responses_ms)
    assert summary["within_acknowledge_sla_share"] == 3 / 4
    unresolved = state.mentions.unresolved()
    assert {key for key, (kind, _, _) in unresolved.items() if kind == "m"} == {mention_key("never")}


def test_a_reply_whose_mention_never_comes_is_dropped_once_it_could_no_longer_count():
    state = fresh(B0)
    t = B0 + 1000
    state.add(reply("r1", t, "unknown"), t)
    assert set(state.mentions.waiting) == {"unknown"}
    state.commit(t, followers_of)
    # Until the reply's window has closed a mention (ts <= the reply's) may still come.
    assert state.commit(t - t % W + W + G - 1, followers_of).replies_unmatched == 0
    result = state.commit(t - t % W + W + G, followers_of)
    assert result.replies_unmatched == 1 and not state.mentions.waiting
    assert result.mention_changes == {"unknown": None}


def test_a_second_reply_to_the_same_mention_is_no_new_response():
    state = fresh(B0)
    t = B0 + 1000
    state.add(mention("m", t), t)
    state.add(reply("r1", t + 10, "m"), t + 10)
    state.add(reply("r2", t + 20, "m"), t + 20)
    assert [ms for values in state.take_responses().values() for ms in values] == [10]


def test_open_mentions_of_the_topic_format_before_replies_are_restored():
    """The mentions topic of a deployment from before replies waited in it holds [account_id, ts] per
    open mention: a restore takes them (a worker that crashed on them would never start again)."""
    restored = OpenMentions(ACK, RESOLVE, KEEP)
    restored.restore("old-1", ["a1", 1_000])
    restored.restore("new-1", ["m", "a2", 2_000])
    restored.restore("old-2", ["a1", 3_000])
    restored.restore("old-2", None)
    # A waiting reply as the topic held it before resolves waited there too.
    restored.restore("reply-1", ["r", "a1", 4_000, "x"])
    assert restored.unresolved() == {mention_key("old-1"): ("m", "a1", 1_000), mention_key("new-1"): ("m", "a2", 2_000)}
    assert restored.waiting == {"reply-1": ("a1", 4_000, "x", None)}
    restored.mention("reply-1", "a1", 3_000)
    assert restored.find("reply-1") == ("a", "a1", 3_000) and restored.acknowledged_count == 1


def test_a_restore_applies_its_records_in_chunks_and_the_latest_per_key_still_wins():
    """The topic before compaction: every change in order, a key changed many times across chunks. A
    restore in chunks of 7 rebuilds what the live state holds, never holding more than a chunk of
    records (a week's 400,000 held as JSON until the first use took ~125 MB)."""
    live = OpenMentions(ACK, RESOLVE, KEEP)
    log: list[tuple[str, bytes | None]] = []  # every change, in order
    rng = random.Random(8)
    for i in range(400):
        ts = B0 + i * 1000
        draw = rng.random()
        if draw < 0.45:
            live.mention(f"m{rng.randrange(60)}", rng.choice(["a1", "a2"]), ts)  # ids come back
        elif draw < 0.75:
            live.reply(f"m{rng.randrange(70)}", "a1", ts, "instagram")
        else:
            live.resolve(f"m{rng.randrange(70)}", "a1", ts)
        log.extend((key, None if value is None else orjson.dumps(value)) for key, value in live.take_changes().items())
    for chunk in (7, 10**9):
        restored = OpenMentions(ACK, RESOLVE, KEEP, restore_chunk=chunk)
        for key, value in log:
            restored.restore(key, None if value is None else orjson.loads(value))
            assert len(restored._restored.ids) < chunk  # noqa: SLF001 (what waits to be applied)
        assert (restored.unresolved(), restored.waiting) == (live.unresolved(), live.waiting)
    assert live.open_count and live.acknowledged_count and len(log) > 3 * len(live.unresolved())


def test_held_keys_finds_the_keys_held_in_the_arrays_and_among_the_pending():
    store = MentionStore(seal_at=8)
    for key in range(10, 90, 10):  # sealed into the arrays at the eighth
        store.put(key, f"m{key}", 0, B0 + key, 0)
    store.put(7, "m7", 0, B0, 0)  # pending
    store.remove(30)  # REMOVED in the arrays, not compacted yet: ``remove`` tells
    assert sorted(store.held_keys(np.array([1, 7, 20, 30, 35, 80, 99], np.uint64))) == [7, 20, 30, 80]
    assert MentionStore().held_keys(np.array([1], np.uint64)) == []
