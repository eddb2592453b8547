"""streams.state.replay: the journal replayed into a fresh state rebuilds it (Hypothesis, against the
state that wrote it), forgets expired ids as the live state does, and resumes at its input offset."""

from __future__ import annotations

import orjson
from hypothesis import Phase, given, settings, strategies as st

from streams.state import COUNTED, DUPLICATE, LATE, PartitionState
from streams.state.replay import apply_journal
from tests.fixtures.state import (
    B0,
    CFG,
    ID_POOL,
    POST_OWNER,
    POST_TYPES,
    D,
    G,
    R,
    W,
    commit,
    ev,
    fresh,
    ops_strategy,
    probe,
    rolling,
    strip_emitted_at,
)


def _run(ops, final_step):
    """Drive A with ops, replay its journal into B; returns (A, B, now after the last commit)."""
    now = B0
    a = fresh(now)
    journal = []
    ops = list(ops) + [("commit", 0)]
    for op in ops:
        if op[0] == "add":
            _, id_, type_, post, account, back, dwell, sentiment, step = op
            now += step
            if type_ in POST_TYPES:
                account = POST_OWNER[post]
            extra = {}
            if type_ == "dwell":
                extra["dwell_ms"] = dwell
            if type_ in ("comment", "mention") and sentiment is not None:
                extra["sentiment"] = sentiment
            result = a.add(ev(id_, now - back, type_, account, post, **extra), now)
            assert result in (COUNTED, DUPLICATE, LATE)
        else:
            now += op[1]
            entry, posts, accounts = commit(a, now)
            if entry is not None:
                journal.append(orjson.loads(orjson.dumps(entry)))  # serialized at once, as the engine does
    b = PartitionState(0, CFG)
    for entry in journal:
        apply_journal(b, entry)
    if b.closed_through == 0:  # as the engine's restore does for a fresh partition
        b.closed_through = CFG.close_mark(B0)
    return a, b, now


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy, final_step=st.one_of(st.integers(0, 2 * R), st.sampled_from([0, G, G + W, R + G + W])))
def test_journal_replay_rebuilds_state(ops, final_step):
    a, b, now = _run(ops, final_step)
    assert a.closed_through == b.closed_through
    later = now + final_step
    _, a_posts, a_accounts = commit(a, later)
    _, b_posts, b_accounts = commit(b, later)
    assert strip_emitted_at(a_posts) == strip_emitted_at(b_posts)
    assert strip_emitted_at(a_accounts) == strip_emitted_at(b_accounts)
    assert a.closed_through == b.closed_through
    # dedup memory: what A still remembers, B remembers too
    for id_ in ID_POOL:
        status_a = probe(a, id_, later)
        status_b = probe(b, id_, later)
        if status_a == DUPLICATE:
            assert status_b == DUPLICATE, id_


def test_journal_replay_simple_example():
    a = fresh(B0)
    journal = []
    for i, t in enumerate([B0 + 1, B0 + W + 1, B0 + 2 * W + 1]):
        a.add(ev(f"e{i}", t, "like", "a1", "p1"), t)
        a.add(ev(f"f{i}", t, "follow", "a2"), t)
        entry, _, _ = commit(a, t + G)
        journal.append(orjson.loads(orjson.dumps(entry)))
    b = PartitionState(0, CFG)
    for entry in journal:
        apply_journal(b, entry)
    assert b.closed_through == a.closed_through
    assert probe(b, "e0", B0 + 3 * W) == DUPLICATE
    later = B0 + 5 * W + G
    ra, rb = commit(a, later), commit(b, later)
    assert ra[1] and strip_emitted_at(ra[1]) == strip_emitted_at(rb[1])
    assert rolling(ra[2]) and strip_emitted_at(ra[2]) == strip_emitted_at(rb[2])


# Regression: a replayed state must forget expired ids as the live state did (an id re-sent after the
# dedup horizon counts again, before and after a restart).
def test_journal_replay_forgets_expired_ids_like_the_live_state():
    a = fresh(B0)
    journal = []
    assert a.add(ev("x", B0), B0) == COUNTED
    for t in (B0, B0 + D + W):
        entry, _, _ = commit(a, t)
        if entry is not None:
            journal.append(orjson.loads(orjson.dumps(entry)))
    b = PartitionState(0, CFG)
    for entry in journal:
        apply_journal(b, entry)
    now = B0 + D + W
    assert a.closed_through == b.closed_through
    assert probe(a, "x", now) == COUNTED
    assert probe(b, "x", now) == COUNTED


# After replay, A and B agree on every id, both ways, and keep emitting the same records. (No shrinking phase: the
# failure is found fast, shrinking is slow.)
@settings(max_examples=150, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(ops=ops_strategy, final_step=st.one_of(st.integers(0, 2 * R), st.sampled_from([0, G, G + W, R + G + W])))
def test_journal_replay_dedup_agrees_both_ways(ops, final_step):
    a, b, now = _run(ops, final_step)
    later = now + final_step
    assert [probe(a, i, later) for i in ID_POOL] == [probe(b, i, later) for i in ID_POOL]
    final = later + R + G + W
    _, a_posts, a_accounts = commit(a, final)
    _, b_posts, b_accounts = commit(b, final)
    assert strip_emitted_at(a_posts) == strip_emitted_at(b_posts)
    assert strip_emitted_at(a_accounts) == strip_emitted_at(b_accounts)


def test_journal_carries_the_input_offset_the_state_has_read_up_to():
    a = fresh(B0)
    journal = []
    for offset, t in ((17, B0 + 1), (None, B0 + 2), (42, B0 + 3)):
        a.add(ev(f"o{t}", t, "like", "a1", "p1"), t)
        journal.append(orjson.loads(orjson.dumps(a.commit(t, lambda _: None, input_offset=offset).journal)))
    assert [entry.get("o") for entry in journal] == [17, None, 42]
    b = PartitionState(0, CFG)
    assert b.input_offset is None
    for entry in journal:
        apply_journal(b, entry)
    assert b.input_offset == 42 == a.input_offset
