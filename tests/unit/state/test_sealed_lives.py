"""Sealed post lives (no Kafka): lives past their last-but-one age kept in columns, written once to
the snapshot topic, restored equal, including a restart between a post's last two ages. Expected
counts are the events the test sends; the restored state is compared with the live one."""

from __future__ import annotations

import numpy as np

from streams.state import PartitionState
from streams.state.lives_records import LIVES_PREFIX
from streams.state.sealed_lives import SealedGroup, SealedLives, post_fingerprint
from tests.fixtures.state import B0, W, ev, followers_of
from tests.unit.state.test_snapshot import CFG, Run, assert_same_from_now_on, lives_of, post_of

LIFETIME, PERIOD = CFG.post_ages_ms[-1], CFG.benchmark_period_ms
# A clock whose close mark is 9 W after p1's publication: past its 5 W age and its group's span.
SEALED_AT = post_of("p1")["published_at"] + 8 * W + CFG.grace_ms + W


def feed_p1(run: Run, at: list[int]) -> None:
    for i, ts in enumerate(at):
        run.now = max(run.now, ts)
        run.live.add(ev(f"e{ts}-{i}", ts, "like", "a1", "p1"), run.now)


def started() -> Run:
    run = Run()
    run.live.start_at(B0)
    run.live.input_from(B0)
    return run


def lives_records(records) -> list:
    return [(key, value is None) for key, value in records if key.startswith(LIVES_PREFIX)]


def test_a_restart_between_a_posts_last_two_ages_keeps_its_sealed_life_and_final_segment():
    run = started()
    published = post_of("p1")["published_at"]
    feed_p1(run, [published + 10, published + 3 * W])  # before its 2nd age (5 W)
    run.commit(W, take_snapshot=False)
    run.commit(SEALED_AT - run.now, take_snapshot=True)  # the close passes 5 W and the group's span
    assert "p1" not in run.live.lifetimes.lives and run.live.lifetimes.count() == 1
    feed_p1(run, [published + 9 * W, published + 9 * W + 1, published + 9 * W + 2])  # its final segment
    run.commit(W // 4, take_snapshot=True)
    feed_p1(run, [published + 9 * W + W // 2])
    run.commit(W // 4, take_snapshot=False)  # in the journal only
    restored = run.restored()
    assert lives_of(restored) == lives_of(run.live)
    assert restored.lifetimes.find("p1").so_far().count("like") == 6
    result = restored.commit(published + LIFETIME + CFG.grace_ms + W, followers_of)
    [final] = [r for r in result.lifetime_records if r["final"]]
    assert final["counts"]["like"] == 6 and final["post_id"] == "p1"
    assert_same_from_now_on(run.live, run.restored(), run.now)


def test_sealed_lives_are_written_once_and_deleted_when_their_benchmark_period_ends():
    run = started()
    published = post_of("p1")["published_at"]
    feed_p1(run, [published + 10])
    writes = []
    for _ in range(40):
        result = run.commit(W, take_snapshot=True)
        writes.append(lives_records(result.snapshot_records))
    written = [i for i, w in enumerate(writes) if any(not deleted for _, deleted in w)]
    deleted = [i for i, w in enumerate(writes) if any(d for _, d in w)]
    assert len(written) == 1 and len(deleted) == 1 and written[0] < deleted[0]
    # The deletion comes once the group's span, the lifetime and the benchmark period have all passed.
    assert run.live.lifetimes.count() == 0 and run.live.lifetimes.sealed.groups == {}


def test_a_snapshot_written_before_sealing_loads_and_the_next_close_seals_its_lives():
    run = started()
    run.live.lifetimes.sealed.span = 0  # as the previous release: every life whole in "L"
    published = post_of("p1")["published_at"]
    feed_p1(run, [published + 10, published + 3 * W])
    run.commit(SEALED_AT - run.now, take_snapshot=True)
    assert run.live.lifetimes.sealed.groups == {} and "p1" in run.live.lifetimes.lives
    restored = run.restored()
    run.live.lifetimes.sealed.span = CFG.post_ages_ms[0]
    assert lives_of(restored)[0] == lives_of(run.live)[0]
    for state in (restored, run.live):
        state.commit(run.now + W, followers_of)
    assert "p1" not in restored.lifetimes.lives and lives_of(restored) == lives_of(run.live)


def test_an_event_of_a_sealed_post_is_found_by_its_fingerprint_and_counted_once():
    state = PartitionState(0, CFG, post_of=post_of)
    state.start_at(B0)
    state.input_from(B0)
    published = post_of("p1")["published_at"]
    state.add(ev("a", published + 10, "like", "a1", "p1"), published + 10)
    state.commit(SEALED_AT, followers_of)
    assert state.lifetimes.lives == {} and state.lifetimes.count() == 1
    now = SEALED_AT
    state.add(ev("b", published + 9 * W + 5, "share", "a1", "p1"), now)
    state.add(ev("b2", published + 9 * W + 5, "share", "a1", "p1"), now)
    state.commit(now, followers_of)
    life = state.lifetimes.find("p1")
    assert (life.so_far().count("like"), life.so_far().count("share")) == (1, 2) and life.done == 2


def test_a_restore_finds_many_sealed_posts_at_once_at_their_places_in_their_groups():
    sealed = SealedLives(W)
    posts = {B0: [f"p{i}" for i in range(50)], B0 + W: [f"q{i}" for i in range(30)]}
    groups = []
    for start, ids in posts.items():
        n = len(ids)
        fps = np.array([post_fingerprint(p) for p in ids], np.uint64)
        zeros = np.zeros(n, np.uint32)
        groups.append(SealedGroup(start, fps, zeros, zeros, np.zeros(n, np.uint16)))
    sealed.add_many(groups)
    asked = ["q29", "p0", "never", "p49", "q0", "p17", "gone"]
    expected = {p: (start, i) for start, ids in posts.items() for i, p in enumerate(ids)}
    assert sealed.positions(asked) == [expected.get(p) for p in asked]
    assert SealedLives(W).positions(["p0"]) == [None] and sealed.positions([]) == []
