"""streams.state.window: the close mark of a commit, and the window each event lands in."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from streams.state import COUNTED, PartitionState
from tests.fixtures.state import (
    B0,
    CFG,
    G,
    W,
    commit,
    ev,
)


def test_config_close_mark():
    assert CFG.close_mark(B0 + W + G) == B0 + W
    assert CFG.close_mark(B0 + W + G - 1) == B0
    assert CFG.close_mark(B0 + W + G + W - 1) == B0 + W


@settings(max_examples=50, deadline=None)
@given(offsets=st.lists(st.integers(0, 10 * W - 1), min_size=1, max_size=30))
def test_window_start_property(offsets):
    now = B0 + 10 * W
    state = PartitionState(0, CFG, closed_through=B0)
    for i, off in enumerate(offsets):
        assert state.add(ev(f"e{i}", B0 + off), now) == COUNTED
    _, posts, _ = commit(state, B0 + 10 * W + G)
    expected = {}
    for off in offsets:
        s = (B0 + off) - (B0 + off) % W
        expected[s] = expected.get(s, 0) + 1
    assert {r["window_start"]: r["counts"]["like"] for r in posts} == expected
    assert len(posts) == len(expected)
