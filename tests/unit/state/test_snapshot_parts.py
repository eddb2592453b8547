"""Incremental snapshots (no Kafka): a snapshot writes the parts of the open state that changed since
the last one, deletes those that went away, and a restore (from them, or from an earlier release's
chunks) is the live state; a restored state's own snapshots go on from what the topic holds."""

from __future__ import annotations

import base64

import cramjam
import orjson
import pytest

from streams.state import PartitionState
from streams.state.dedup import fingerprint
from streams.state.replay import load_snapshot
from streams.state.snapshot import SnapshotReader
from streams.state.snapshot_parts import PARTS_PREFIX, YOUNG_LIVES_PER_PART, state_parts
from tests.fixtures.state import B0, G, W, ev, followers_of
from tests.unit.state.test_snapshot import CFG, Run, assert_same_from_now_on, post_of


def parts_written(records) -> dict[bytes, bytes | None]:
    return {key: value for key, value in records if key.startswith(PARTS_PREFIX)}


def decoded(value: bytes) -> dict:
    """A part's value: a zstd frame of its JSON."""
    return orjson.loads(bytes(cramjam.zstd.decompress(value)))


def post_rows(value: bytes) -> list[str]:
    return [row[1] for row in decoded(value).get("p", ())]


def test_a_snapshot_writes_only_the_parts_the_interval_changed():
    run = Run()
    run.live.start_at(B0)
    for i in range(200):
        run.live.add(ev(f"e{i}", B0 + 1, "like", "a1", f"p{i}"), B0 + 1)
    first = parts_written(run.commit(1, take_snapshot=True).snapshot_records)
    before = dict(run.topic)
    run.live.add(ev("again", B0 + 2, "like", "a1", "p7"), B0 + 2)
    second = parts_written(run.commit(1, take_snapshot=True).snapshot_records)
    assert all(value is not None and before.get(key) != value for key, value in second.items())
    written_posts = [post_rows(value) for key, value in second.items() if key.startswith(b"S/p/")]
    assert len(written_posts) == 1 and "p7" in written_posts[0]
    assert len([key for key in first if key.startswith(b"S/p/")]) > 10  # 200 posts: in most of the shards
    assert parts_written(run.commit(1, take_snapshot=True).snapshot_records) == {}  # nothing changed
    assert_same_from_now_on(run.live, run.restored(), run.now)


def test_a_restored_state_rewrites_no_unchanged_part_and_deletes_the_parts_gone():
    run = Run()
    run.live.start_at(B0)
    run.live.input_from(B0)
    for i in range(50):
        run.live.add(ev(f"e{i}", B0 + 1, "like", f"a{1 + i % 2}", f"p{i}"), B0 + 1)
    run.commit(1, take_snapshot=True)
    restored = run.restored()  # a new owner of the partition: its writer knows what the topic holds
    assert parts_written(restored.commit(run.now, followers_of, take_snapshot=True).snapshot_records) == {}
    # Both close B0's windows; the new owner's snapshot must delete their parts from the topic.
    run.now += W + G
    for state in (run.live, restored):
        state.add(ev("late-news", run.now, "like", "a1", "p1"), run.now)
    run.live.commit(run.now, followers_of, take_snapshot=True)
    records = restored.commit(run.now, followers_of, take_snapshot=True).snapshot_records
    assert {key for key, value in parts_written(records).items() if value is None} >= {
        key for key, value in run.topic if key.startswith(b"S/p/%d/" % B0)
    }
    run.topic.extend(records)  # the topic as the new owner left it
    run.journal = []
    assert_same_from_now_on(run.live, run.restored(), run.now)


def test_an_earlier_release_snapshot_in_chunks_loads_and_the_next_snapshot_deletes_the_chunks():
    post_rows_b0 = [[B0, f"p{i}", "a1", "instagram", [[0, 3] + [0] * 12, 0.0, 0, 0.0, 0, 0, None]] for i in range(3)]
    header = {"q": 4, "c": B0, "k": B0, "o": 9, "n": B0 + 1, "i": B0, "chunks": 2}
    reader = SnapshotReader()
    reader.add(b"w/0", orjson.dumps({"q": 4, "p": post_rows_b0[:2]}))
    reader.add(b"w/1", orjson.dumps({"q": 4, "p": post_rows_b0[2:]}))
    reader.add(b"w", orjson.dumps(header))
    state = PartitionState(0, CFG, post_of=post_of)
    load_snapshot(state, reader.snapshot())
    assert {post: entry.agg.count("like") for post, entry in state.posts[B0].items()} == {"p0": 3, "p1": 3, "p2": 3}
    records = state.commit(B0 + 2, followers_of, take_snapshot=True).snapshot_records
    assert [(key, value) for key, value in records if key.startswith(b"w/")] == [(b"w/0", None), (b"w/1", None)]
    assert orjson.loads(dict(records)[b"w"])["parts"] == len(parts_written(records))
    for key, value in records:
        reader.add(key, value)
    again = PartitionState(0, CFG, post_of=post_of)
    load_snapshot(again, reader.snapshot())
    assert {post: entry.agg.count("like") for post, entry in again.posts[B0].items()} == {"p0": 3, "p1": 3, "p2": 3}


def test_a_snapshot_missing_a_part_is_refused():
    run = Run()
    run.live.start_at(B0)
    run.live.add(ev("x", B0 + 1, "like", "a1", "p1"), B0 + 1)
    run.commit(1, take_snapshot=True)
    reader = SnapshotReader()
    for key, value in run.topic:
        reader.add(key, value)
    reader.add(next(key for key, _ in run.topic if key.startswith(b"S/p/")), None)
    with pytest.raises(ValueError, match="parts, its header says"):
        reader.snapshot()


def test_the_ids_of_an_earlier_release_snapshots_filling_bucket_are_written_as_parts_of_their_bucket():
    ids = [fingerprint(f"old-{i}") for i in range(5)]
    memory = PartitionState(0, CFG).dedup
    memory.add(B0, b"".join(ids))
    [blob] = memory.take_unwritten()[B0]
    header = {"q": 4, "c": B0, "k": B0, "o": 9, "n": B0 + 1, "i": B0, "chunks": 1}
    reader = SnapshotReader()
    reader.add(b"w/0", orjson.dumps({"q": 4, "u": [B0, base64.b64encode(blob).decode()]}))
    reader.add(b"w", orjson.dumps(header))
    state = PartitionState(0, CFG, post_of=post_of)
    load_snapshot(state, reader.snapshot())
    records = state.commit(B0 + 2, followers_of, take_snapshot=True).snapshot_records
    assert [(key, len(value)) for key, value in records if key.startswith(b"d/")] == [(b"d/%d/0" % B0, 5 * 12)]
    for key, value in records:
        reader.add(key, value)
    again = PartitionState(0, CFG, post_of=post_of)
    load_snapshot(again, reader.snapshot())
    assert again.dedup.seen_before(ids + [fingerprint("new")]) == [True] * 5 + [False]


def rows_of(records, name: str) -> list[list]:
    """The rows of kind ``name`` in the ``S/<name>/`` parts written."""
    prefix = PARTS_PREFIX + name.encode() + b"/"
    return [decoded(value)[name] for key, value in parts_written(records).items() if key.startswith(prefix)]


def test_an_event_on_one_young_post_rewrites_its_part_of_the_hour_not_the_whole_hour():
    run = Run()
    run.live.start_at(B0)
    for i in range(400):  # 400 young lives, published in one hour
        run.live.add(ev(f"e{i}", B0 + 1, "like", "a1", f"p{i}"), B0 + 1)
    run.commit(1, take_snapshot=True)
    run.live.add(ev("again", B0 + 2, "like", "a1", "p7"), B0 + 2)
    [lives] = rows_of(run.commit(1, take_snapshot=True).snapshot_records, "L")
    assert "p7" in [row[0] for row in lives]
    assert len(lives) < 2 * YOUNG_LIVES_PER_PART < 400
    assert_same_from_now_on(run.live, run.restored(), run.now)


@pytest.mark.parametrize("young", [1, 63, 64, 400, 1000])
def test_young_lives_are_written_in_parts_of_one_to_two_part_sizes_so_they_compress_together(young):
    """At a week's plateau nearly every young life gets an event each interval (94 %); in parts of 3
    lives their compressed bytes were 2.2 times those of parts of 64 to 127 (docs/performance.md)."""
    run = Run()
    run.live.start_at(B0)
    for i in range(young):  # in one hour
        run.live.add(ev(f"e{i}", B0 + 1, "like", "a1", f"p{i}"), B0 + 1)
    parts = rows_of(run.commit(1, take_snapshot=True).snapshot_records, "L")
    assert sorted(row[0] for rows in parts for row in rows) == sorted(f"p{i}" for i in range(young))
    assert len(parts) == max(1, young // YOUNG_LIVES_PER_PART)
    assert all(min(young, YOUNG_LIVES_PER_PART // 2) <= len(rows) < 2 * YOUNG_LIVES_PER_PART for rows in parts)
    assert_same_from_now_on(run.live, run.restored(), run.now)


def test_an_event_on_one_sealed_post_rewrites_a_few_final_segments_not_its_whole_group():
    run = Run()
    run.live.start_at(B0)
    for i in range(400):
        run.live.add(ev(f"e{i}", B0 + 1, "like", "a1", f"s{i}"), B0 + 1)
    # The close mark (grace behind) past the last-but-one age of the whole first-age span: every
    # life sealed, none over.
    for _ in range((2 * W + CFG.post_ages_ms[1] + G) // W):
        run.commit(W, take_snapshot=False)
    assert not run.live.lifetimes.lives and run.live.lifetimes.sealed.count() == 400
    final_segment = B0 + CFG.post_ages_ms[2] - W  # in the last age, the close mark behind it
    for i in range(400):  # each gets an event after sealing: a final segment each
        run.live.add(ev(f"f{i}", final_segment, "like", "a1", f"s{i}"), run.now)
    first = rows_of(run.commit(1, take_snapshot=True).snapshot_records, "F")
    assert sorted(row[0] for rows in first for row in rows) == sorted(f"s{i}" for i in range(400))
    run.live.add(ev("again", final_segment, "like", "a1", "s7"), run.now)
    [finals] = rows_of(run.commit(1, take_snapshot=True).snapshot_records, "F")
    assert "s7" in [row[0] for row in finals]
    assert len(finals) <= 400 // 16
    assert_same_from_now_on(run.live, run.restored(), run.now)


def test_the_parts_are_compared_one_at_a_time_not_all_held_at_once():
    """A snapshot keeps the values of the changed parts only: the unchanged ones are serialized,
    compared by digest and dropped (the whole open state at once was ~200 MB at a week's plateau)."""
    run = Run()
    run.live.start_at(B0)
    for i in range(400):
        run.live.add(ev(f"e{i}", B0 + 1, "like", "a1", f"p{i}"), B0 + 1)
    run.commit(1, take_snapshot=True)
    parts = state_parts(run.live.posts, run.live.accounts, run.live.lifetimes)
    assert not isinstance(parts, (dict, list))  # a generator: a part at a time
    assert next(iter(parts))[0].startswith(PARTS_PREFIX)


def test_parts_are_written_compressed_and_an_earlier_releases_uncompressed_parts_are_still_read():
    run = Run()
    run.live.start_at(B0)
    for i in range(400):
        run.live.add(ev(f"e{i}", B0 + 1, "like", f"a{1 + i % 2}", f"p{i}"), B0 + 1)
    written = parts_written(run.commit(1, take_snapshot=True).snapshot_records)
    plain = {key: bytes(cramjam.zstd.decompress(value)) for key, value in written.items()}
    assert sorted(post for value in written.values() for post in post_rows(value)) == sorted(
        f"p{i}" for i in range(400)
    )
    assert sum(map(len, written.values())) * 3 < sum(map(len, plain.values()))

    reader = SnapshotReader()
    for key, value in run.topic:  # as an earlier release wrote them: the parts' JSON as it is
        reader.add(key, plain.get(key, value))
    state, again = PartitionState(0, CFG, post_of=post_of), PartitionState(0, CFG, post_of=post_of)
    load_snapshot(state, reader.snapshot())
    load_snapshot(again, reader.snapshot())  # the digests are of the JSON: nothing to rewrite
    assert parts_written(again.commit(run.now, followers_of, take_snapshot=True).snapshot_records) == {}
    assert_same_from_now_on(run.restored(), state, run.now)
    assert_same_from_now_on(run.live, run.restored(), run.now)
