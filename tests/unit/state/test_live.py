"""streams.state.live: the live reads of open windows include what is not committed yet."""

from __future__ import annotations

import pytest

from streams.state.live import live_account, live_post
from tests.fixtures.state import (
    B0,
    G,
    R,
    W,
    commit,
    ev,
    followers_of,
    fresh,
    validate,
)


def test_live_reads_include_uncommitted_events():
    now = B0 + 1000
    state = fresh(now)
    state.add(ev("e1", B0 + 1, "like", "a1", "p1"), now)
    state.add(ev("e2", B0 + 2, "comment", "a1", "p1", sentiment=0.4), now)
    assert [r["counts"]["like"] for r in live_post(state, "p1", now, followers_of)] == [1]
    commit(state, now)
    state.add(ev("e3", B0 + 3, "like", "a1", "p1"), now)  # in the delta only
    state.add(ev("e4", B0 + W + 3, "like", "a1", "p2"), now)
    live = live_post(state, "p1", now, followers_of)
    validate(live, [])
    assert len(live) == 1
    assert live[0]["counts"]["like"] == 2 and live[0]["counts"]["comment"] == 1
    assert live[0]["engaged"] == 3 and live[0]["rates"]["er_followers"] == pytest.approx(3 / 2000)
    assert live[0]["window_start"] == B0
    assert live_post(state, "nope", now, followers_of) == []
    tum = live_account(state, "a1", False, now, followers_of)
    validate([], tum)
    assert [(r["window_start"], r["counts"]["like"], r["active_posts"]) for r in tum] == [(B0, 2, 1), (B0 + W, 1, 1)]
    roll = live_account(state, "a1", True, now, followers_of)
    validate([], roll)
    assert len(roll) == 1
    end = now - now % W + W
    assert (roll[0]["window_start"], roll[0]["window_end"]) == (end - R, end)
    assert roll[0]["counts"]["like"] == 2 and roll[0]["active_posts"] == 1  # [B0 + W] not yet in span
    roll = live_account(state, "a1", True, B0 + W + 5, followers_of)
    assert roll[0]["counts"]["like"] == 3 and roll[0]["active_posts"] == 2
    assert live_account(state, "a9", True, now, followers_of) == []
    # live reads do not change what gets emitted
    _, posts, accounts = commit(state, B0 + 2 * W + G)
    assert sorted((r["post_id"], r["counts"]["like"]) for r in posts) == [("p1", 2), ("p2", 1)]
    # closed windows disappear from the tumbling live reads but stay in the rolling one
    assert live_post(state, "p1", B0 + 2 * W + G, followers_of) == []
    assert live_account(state, "a1", False, B0 + 2 * W + G, followers_of) == []
    roll = live_account(state, "a1", True, B0 + 2 * W + G, followers_of)
    assert roll[0]["counts"]["like"] == 3
