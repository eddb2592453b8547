"""Snapshots (no Kafka): a state restored from its latest snapshot plus the journal entries written
after it is the live state: same close mark, same final records from then on, same dedup answers.

The records go through a stand-in for the compacted topic that keeps every record in order (a
reader must take the latest value of each key itself), and the journal entries a snapshot holds are
dropped, as the checkpoint deletes them."""

from __future__ import annotations

import dataclasses

import orjson
import xxhash
from hypothesis import given, settings, strategies as st

from streams.state import PartitionState
from streams.state.replay import apply_journal, load_snapshot
from streams.state.snapshot import SnapshotReader
from streams.state.snapshot_parts import PARTS_PREFIX, POST_SHARDS
from tests.fixtures.state import (
    B0,
    CFG as WINDOWS_CFG,
    ID_POOL,
    POST_OWNER,
    POST_TYPES,
    G,
    R,
    W,
    ev,
    followers_of,
    ops_strategy,
    probe,
    strip_emitted_at,
)

# Post lifetimes short enough that a run publishes every age, matures posts and expires them.
CFG = dataclasses.replace(
    WINDOWS_CFG, post_ages_ms=(2 * W, 5 * W, 10 * W), maturity_ms=5 * W, benchmark_period_ms=20 * W
)
# Records for two of the posts (the others start from their first event), published before the run.
POSTS = {"p1": {"published_at": B0 + W, "content_type": "reel"}, "p3": {"published_at": B0, "content_type": "text"}}


def post_of(post_id):
    return POSTS.get(post_id)


class Run:
    """A live state, its journal and its snapshot topic, driven by test_state's operations."""

    def __init__(self):
        self.now = B0
        self.live = PartitionState(0, CFG, post_of=post_of)
        self.journal: list[dict] = []
        self.topic: list[tuple[bytes, bytes | None]] = []
        self.offset = self.committed_offset = 0  # one input message per add, as the engine commits them

    def commit(self, step: int, take_snapshot: bool):
        self.now += step
        moved = self.offset if self.offset != self.committed_offset else None
        self.committed_offset = self.offset
        result = self.live.commit(self.now, followers_of, input_offset=moved, take_snapshot=take_snapshot)
        if result.journal is not None:
            self.journal.append(orjson.loads(orjson.dumps(result.journal)))
        self.topic.extend(result.snapshot_records)
        if take_snapshot:  # the checkpoint deletes the journal a snapshot holds
            self.journal = []
        return result

    def add(self, op):
        _, id_, type_, post, account, back, dwell, sentiment, step = op
        self.now += step
        self.offset += 1
        if type_ in POST_TYPES:
            account = POST_OWNER[post]
        if not self.live.closed_through:  # as the engine starts a partition with no state
            self.live.start_at(self.now)
            self.live.input_from(self.now)
        extra = {"dwell_ms": dwell} if type_ == "dwell" else {}
        if type_ in ("comment", "mention") and sentiment is not None:
            extra["sentiment"] = sentiment
        self.live.add(ev(id_, self.now - back, type_, account, post, **extra), self.now)

    def restored(self) -> PartitionState:
        reader = SnapshotReader()
        for key, value in self.topic:
            reader.add(key, value)
        state = PartitionState(0, CFG, post_of=post_of)
        load_snapshot(state, reader.snapshot())
        for entry in self.journal:
            if entry["q"] > state.seq:
                apply_journal(state, entry)
        return state


def lives_of(state: PartitionState) -> tuple:
    """Every post's life as the state answers for it (young, sealed or a tombstone), and the counts."""
    lifetimes = state.lifetimes

    def life(post_id):
        found = lifetimes.find(post_id)
        if found is None:
            return None
        so_far = found.so_far().to_state()
        return found.meta(), found.done, so_far, found.reached, post_id in lifetimes.lives

    return {p: life(p) for p in POST_OWNER}, lifetimes.count(), sorted(lifetimes.sealed.groups)


def rolling_now(state: PartitionState, now: int) -> dict:
    """Every account's rolling aggregate of the window ending after ``now``, as the live reads merge it."""
    end = now - now % W + W
    return {account: e.agg.to_state() for account, e in state.rolling(end - R, end, include_delta=True).items()}


def assert_same_from_now_on(a: PartitionState, b: PartitionState, now: int) -> None:
    assert a.closed_through == b.closed_through and a.input_offset == b.input_offset
    assert a.sealed.starts() == b.sealed.starts() and sorted(a.accounts) == sorted(b.accounts)
    assert rolling_now(a, now) == rolling_now(b, now)
    assert [probe(a, i, now) for i in ID_POOL] == [probe(b, i, now) for i in ID_POOL]
    assert a.lifetimes.samples == b.lifetimes.samples
    assert {p: life.reached for p, life in a.lifetimes.lives.items()} == {
        p: life.reached for p, life in b.lifetimes.lives.items()
    }
    assert lives_of(a) == lives_of(b)
    final = now + R + G + W
    ra, rb = a.commit(final, followers_of), b.commit(final, followers_of)
    assert strip_emitted_at(ra.post_records) == strip_emitted_at(rb.post_records)
    assert strip_emitted_at(ra.account_records) == strip_emitted_at(rb.account_records)
    assert strip_emitted_at(ra.lifetime_records) == strip_emitted_at(rb.lifetime_records)
    assert a.lifetimes.samples == b.lifetimes.samples


@settings(max_examples=150, deadline=None)
@given(
    ops=ops_strategy,
    snapshot_at=st.lists(st.booleans(), min_size=40, max_size=40),
    final_step=st.sampled_from([0, G, G + W, R]),
)
def test_latest_snapshot_and_the_journal_after_it_rebuild_the_state(ops, snapshot_at, final_step):
    run = Run()
    for op, take_snapshot in zip(list(ops) + [("commit", 0)], snapshot_at):
        if op[0] == "add":
            run.add(op)
        else:
            run.commit(op[1], take_snapshot)
    run.commit(0, False)
    assert_same_from_now_on(run.live, run.restored(), run.now + final_step)


def test_a_restore_reads_the_snapshot_and_only_the_journal_after_it():
    run = Run()
    run.live.start_at(B0)
    for i in range(5):
        run.live.add(ev(f"a{i}", run.now + 1), run.now + 1)
        run.commit(W // 2, take_snapshot=i == 2)
    assert [e["q"] for e in run.journal] == [4, 5]  # the first three are deleted with the snapshot
    restored = run.restored()
    assert restored.seq == run.live.seq == 5
    assert_same_from_now_on(run.live, restored, run.now)


def test_each_remembered_id_is_written_once_and_its_buckets_records_deleted_when_it_expires():
    run = Run()
    run.live.start_at(B0)
    run.live.add(ev("x", B0 + 1), B0 + 1)
    bucket = B0 - B0 % CFG.dedup_bucket_ms
    dedup_records = lambda result: [r for r in result.snapshot_records if r[0].startswith(b"d/")]  # noqa: E731
    assert dedup_records(run.commit(1, take_snapshot=False)) == []  # in the journal only, until a snapshot
    written = dedup_records(run.commit(1, take_snapshot=True))
    assert [(key, len(value)) for key, value in written] == [(b"d/%d/0" % bucket, 12)]  # one id: 12 bytes
    run.live.add(ev("y", run.now), run.now)
    written = dedup_records(run.commit(1, take_snapshot=True))
    assert [(key, len(value)) for key, value in written] == [(b"d/%d/1" % bucket, 12)]  # only the new one
    assert dedup_records(run.commit(1, take_snapshot=True)) == []
    assert probe(run.restored(), "x", run.now) == "duplicate" and probe(run.restored(), "y", run.now) == "duplicate"
    gone = dedup_records(run.commit(CFG.dedup_ms + CFG.dedup_bucket_ms, take_snapshot=False))
    assert sorted(gone) == [(b"d/%d/0" % bucket, None), (b"d/%d/1" % bucket, None)]
    assert probe(run.restored(), "x", run.now) == "counted"  # forgotten after a restore too


def test_the_parts_of_windows_closed_and_lives_over_are_deleted():
    run = Run()
    run.live.start_at(B0)
    for i in range(9000):  # more window keys than one part holds
        run.live.add(ev(f"e{i}", B0 + 1, "like", "a1", f"p{i}"), B0 + 1)
    run.commit(1, take_snapshot=True)
    parts = {key for key, value in run.topic if key.startswith(PARTS_PREFIX) and value is not None}
    assert len({key for key in parts if key.startswith(b"S/p/")}) == POST_SHARDS
    # Every post window closed, every post's life over and its tombstone gone: the account bucket
    # (sealed now) and the samples were the last parts.
    run.commit(W + G + CFG.lifetime_ms + CFG.benchmark_period_ms, take_snapshot=True)
    last = {key: value for key, value in run.topic}
    assert [key for key in parts if last[key] is not None] == []
    assert_same_from_now_on(run.live, run.restored(), run.now)


def test_answered_mentions_survive_in_the_snapshot_and_the_journal():
    """The response times live in the account windows: a restore must bring them back."""
    run = Run()

    def say(event_id: str, type_: str, step: int, **extra):
        run.now += step
        run.offset += 1
        if not run.live.closed_through:
            run.live.start_at(run.now)
        run.live.add(ev(event_id, run.now, type_, "a1", None, **extra), run.now)

    say("m0", "mention", 1000, sentiment=-0.5)
    say("r0", "reply", 30_000, in_reply_to="m0")
    run.commit(10, take_snapshot=True)  # the first response is in the snapshot ...
    say("m1", "mention", 1000, sentiment=0.4)
    say("r1", "reply", 2000, in_reply_to="m1")
    run.commit(10, take_snapshot=False)  # ... the second in the journal after it, same window

    def responses(state: PartitionState) -> list:
        return [e.agg.responses for bucket in state.accounts.values() for e in bucket.values() if e.agg.responses]

    assert responses(run.live) == [[2, 32_000, 30_000, 2, 0, 0]]
    restored = run.restored()
    assert responses(restored) == responses(run.live)
    assert_same_from_now_on(run.live, restored, run.now)


def test_post_lifetimes_and_benchmark_samples_survive_in_the_snapshot_and_the_journal():
    """A post matured before the snapshot (its sample is in it), one after (its sample is in the journal);
    a third is mid-life: the restored state publishes the same lifetime records and keeps the same samples."""
    run = Run()
    run.live.start_at(B0)
    run.live.input_from(B0)
    # p1 published at B0 + W (record; its first event is before, a clock skew), p2 starts from its
    # first event at B0 + W.
    for i, (post, ts) in enumerate([("p1", B0), ("p1", B0 + 3 * W), ("p2", B0 + W), ("p2", B0 + 4 * W)]):
        run.now = max(run.now, ts)
        run.live.add(ev(f"l{i}", ts, "like", "a1", post), run.now)
    run.commit(W // 2, take_snapshot=False)
    run.commit(6 * W + G, take_snapshot=True)  # p1 matured (B0 + 6W): its sample is in the snapshot
    # With its ER at 2W (the like of B0, a clock skew, counts in the first segment) for the curve.
    assert run.live.lifetimes.samples == {"a1": [["p1", "instagram", "reel", B0 + W, 2 / 2000, [1 / 2000]]]}
    assert len(run.live.lifetimes.samples["a1"].rows) == 1  # sealed into the columns at the close
    run.live.add(ev("l9", run.now, "share", "a1", "p2"), run.now)
    run.commit(2 * W, take_snapshot=False)
    reader = SnapshotReader()
    for key, value in run.topic:
        reader.add(key, value)
    loaded = PartitionState(0, CFG, post_of=post_of)
    load_snapshot(loaded, reader.snapshot())
    # sealed as the snapshot loads: its rows as JSON lists are not held until the next close
    assert len(loaded.lifetimes.samples["a1"].rows) == 1 and not loaded.lifetimes.samples["a1"].tail
    restored = run.restored()
    assert restored.lifetimes.samples == run.live.lifetimes.samples
    restored.lifetimes.samples.seal_and_expire(0)
    assert restored.lifetimes.samples == run.live.lifetimes.samples
    assert_same_from_now_on(run.live, restored, run.now)


def test_a_hot_partition_snapshots_in_records_far_under_the_message_limit_and_restores_exactly():
    """25,000 events/s on one partition fill a 60 s dedup bucket with 1.5 million ids (18 MB as one
    blob: past the topic's 16 MiB limit, every snapshot failed). Each record stays under 1.1 MiB and a
    restore remembers exactly the ids the live state does."""
    state = PartitionState(0, CFG, post_of=post_of)
    state.start_at(B0)
    bucket_ms = CFG.dedup_bucket_ms
    sealed_start = B0 - B0 % bucket_ms
    ids = {
        start: [f"{start}-{i}".encode() for i in range(1_500_000)] for start in (sealed_start, sealed_start + bucket_ms)
    }
    for start, raw in ids.items():
        state.dedup.add(start, b"".join(xxhash.xxh3_128_digest(i) for i in raw))
    now = sealed_start + bucket_ms + 1  # the first bucket sealed, the second filling
    result = state.commit(now, followers_of, take_snapshot=True)
    sizes = [len(value) for _, value in result.snapshot_records if value is not None]
    assert max(sizes) < 1.1 * 2**20 and sum(sizes) > 2 * 1_500_000 * 12
    reader = SnapshotReader()
    for key, value in result.snapshot_records:
        reader.add(key, value)
    restored = PartitionState(0, CFG, post_of=post_of)
    load_snapshot(restored, reader.snapshot())
    for start in ids:
        assert restored.dedup.bucket_blob(start) == state.dedup.bucket_blob(start)
    probes = [xxhash.xxh3_128_digest(raw[i]) for raw in ids.values() for i in (0, 777_777, 1_499_999)]
    assert restored.dedup.seen_before(probes) == [True] * 6
    assert restored.dedup.seen_before([xxhash.xxh3_128_digest(b"never")]) == [False]


def test_a_sealed_bucket_written_as_one_record_before_parts_is_still_read():
    memory = PartitionState(0, CFG).dedup
    memory.add(B0, b"".join(xxhash.xxh3_128_digest(b"%d" % i) for i in range(1000)))
    [start] = memory.bucket_starts()
    reader = SnapshotReader()
    reader.add(b"d/%d" % start, memory.bucket_blob(start))  # the format of earlier releases
    snap = reader.snapshot()
    assert snap.sealed == {start: [memory.bucket_blob(start)]} and snap.sealed_keys == {start: [b"d/%d" % start]}
