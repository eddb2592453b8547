"""The silent collapse: the account's posts published from it on get no event at all, while their
post records still come (issue 27: silent posts count, at a post ER of 0)."""

from __future__ import annotations

import pytest

from streams.simulator import TrafficModel
from streams.simulator.scenario import Scenario

START_MS = 1_700_000_000_000


def test_posts_published_after_a_silent_collapse_get_no_event_and_nothing_else_changes():
    model = TrafficModel(seed=7, n_accounts=5, rate=100.0, day_seconds=3600.0)
    rates = model.posts_per_day
    account = max(rates, key=rates.get)  # posts every 50 s here
    silent_at = START_MS + 300_000
    end = START_MS + 1_200_000
    normal_posts, normal = model.run(START_MS, end, batch_share=0.1)
    silent_posts, silent = model.run(
        START_MS, end, batch_share=0.1, scenario=Scenario(silent_account=account, silent_at_ms=silent_at)
    )
    assert silent_posts == normal_posts  # the records all come
    after = {p["post_id"] for p in normal_posts if p["account_id"] == account and p["published_at"] >= silent_at}
    assert len(after) >= 10
    assert sum(e.get("post_id") in after for e in normal) > 1000

    def by_id(events):  # a batch groups the events of a message: the order differs, not the events
        return sorted(events, key=lambda e: e["event_id"])

    assert by_id(silent) == by_id([e for e in normal if e.get("post_id") not in after])


def test_an_unknown_silent_account_is_refused():
    model = TrafficModel(seed=7, n_accounts=5)
    with pytest.raises(ValueError, match="silent collapse account 'acct-0099'"):
        model.stream(START_MS, Scenario(silent_account="acct-0099"))
