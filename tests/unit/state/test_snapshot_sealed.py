"""Snapshots of the sealed account buckets (no Kafka): a bucket the close mark passed is written once
under its own key and deleted when it leaves the rolling window, the snapshot's chunks hold the open
buckets only; a restart between a close and the next snapshot, or from a snapshot written before
sealing (closed buckets in its chunks), restores the live state. Expected figures are counted here."""

from __future__ import annotations

import cramjam
import orjson

from streams.contract import TYPE_INDEX
from streams.model.aggregates import WindowAggregate
from streams.state import PartitionState
from streams.state.compression import decompressed
from streams.state.replay import load_snapshot
from streams.state.snapshot import CHUNK_PREFIX, SnapshotReader
from streams.state.snapshot_parts import PARTS_PREFIX
from tests.fixtures.state import B0, G, R, W, ev, followers_of
from tests.unit.state.test_snapshot import CFG, Run, assert_same_from_now_on, post_of


def account_keys(result) -> list[tuple[bytes, bool]]:
    """The sealed account bucket records of a commit: (key, whether a tombstone)."""
    return [(key, value is None) for key, value in result.snapshot_records if key.startswith(b"a/")]


def open_account_starts(run: Run) -> set[int]:
    """The account buckets the snapshot topic holds as open (in the parts of the open state)."""
    latest = dict(run.topic)
    parts = [orjson.loads(decompressed(v)) for k, v in latest.items() if k.startswith(PARTS_PREFIX) and v is not None]
    return {row[0] for part in parts for row in part.get("a", ())}


def likes_and_posts(state: PartitionState, start: int, end: int) -> dict[str, tuple[int, int]]:
    merged = state.rolling(start, end, include_delta=True)
    return {a: (e.agg.count("like"), len(e.agg.posts)) for a, e in merged.items()}


def test_a_sealed_account_bucket_is_written_once_then_deleted_when_it_leaves_the_rolling_window():
    run = Run()
    run.live.start_at(B0)
    run.live.add(ev("x", B0 + 1, "like", "a1", "p1"), B0 + 1)
    assert account_keys(run.commit(1, take_snapshot=True)) == []
    assert open_account_starts(run) == {B0}  # open: in the snapshot's parts
    closing = run.commit(W + G, take_snapshot=True)
    assert account_keys(closing) == [(b"a/%d" % B0, False)]
    assert open_account_starts(run) == set()  # sealed: in its own record only
    for _ in range(3):
        assert account_keys(run.commit(W, take_snapshot=True)) == []
    assert likes_and_posts(run.restored(), B0, B0 + R) == {"a1": (1, 1)}
    assert account_keys(run.commit(R, take_snapshot=False)) == [(b"a/%d" % B0, True)]
    restored = run.restored()
    assert restored.sealed.starts() == [] and likes_and_posts(restored, B0, B0 + R) == {}
    assert_same_from_now_on(run.live, restored, run.now)


def test_a_restart_between_a_close_and_the_next_snapshot_restores_the_live_state():
    run = Run()
    run.live.start_at(B0)
    for i, (account, post) in enumerate([("a1", "p1"), ("a1", "p2"), ("a2", "p3")]):
        run.live.add(ev(f"s{i}", B0 + 1, "like", account, post), B0 + 1)
    run.commit(1, take_snapshot=True)  # bucket B0 open, in the chunks
    run.live.add(ev("j0", B0 + 2, "like", "a1", "p2"), B0 + 2)  # into B0 again: in the journal only
    run.commit(1, take_snapshot=False)
    assert account_keys(run.commit(W + G, take_snapshot=False)) == [(b"a/%d" % B0, False)]  # closes B0
    restored = run.restored()  # snapshot (B0 open) + a/B0 (sealed, all of it) + the journal after
    assert restored.sealed.starts() == [B0] and restored.accounts == {}
    assert likes_and_posts(restored, B0, B0 + R) == {"a1": (3, 2), "a2": (1, 1)}
    assert_same_from_now_on(run.live, restored, run.now)


def test_a_snapshot_written_before_sealing_still_loads():
    """Its closed buckets are in the chunks: they are sealed on load and written at the next commit."""
    raw = {B0: [("a1", "p1"), ("a1", "p2"), ("a2", "p3")], B0 + W: [("a1", "p1"), ("a1", "p4")]}
    rows = []
    for start, likes in raw.items():
        for account in sorted({a for a, _ in likes}):
            agg = WindowAggregate(track_posts=True)
            for a, post in likes:
                if a == account:
                    agg.add(TYPE_INDEX["like"], post_id=post)
            rows.append([start, account, "instagram", agg.to_state()])
    mark = B0 + W  # B0 closed, B0 + W open
    header = {"q": 3, "c": mark, "k": B0, "o": 5, "n": mark + G, "i": None, "chunks": 1}
    reader = SnapshotReader()
    reader.add(CHUNK_PREFIX + b"0", orjson.dumps({"q": 3, "a": rows}))
    reader.add(b"w", orjson.dumps(header))
    state = PartitionState(0, CFG, post_of=post_of)
    load_snapshot(state, reader.snapshot())
    assert state.sealed.starts() == [B0] and list(state.accounts) == [B0 + W]
    assert likes_and_posts(state, B0, B0 + R) == {"a1": (4, 3), "a2": (1, 1)}
    result = state.commit(mark + G, followers_of)
    assert account_keys(result) == [(b"a/%d" % B0, False)]


def test_a_sealed_bucket_is_written_compressed_and_an_earlier_releases_uncompressed_one_is_still_read():
    run = Run()
    run.live.start_at(B0)
    for i in range(60):
        run.live.add(ev(f"c{i}", B0 + 1, "like", f"a{1 + i % 2}", f"p{i}"), B0 + 1)
    run.commit(1, take_snapshot=True)
    [(key, value)] = [(k, v) for k, v in run.commit(W + G, take_snapshot=True).snapshot_records if k.startswith(b"a/")]
    plain = bytes(cramjam.zstd.decompress(value))  # the bucket's header line, then its columns
    assert orjson.loads(plain.partition(b"\n")[0])["accounts"] == ["a1", "a2"] and len(value) * 2 < len(plain)
    expected = likes_and_posts(run.restored(), B0, B0 + R)
    assert expected == {"a1": (30, 30), "a2": (30, 30)}
    run.topic = [(k, plain if k == key else v) for k, v in run.topic]  # as an earlier release wrote it
    assert likes_and_posts(run.restored(), B0, B0 + R) == expected
