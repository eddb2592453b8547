"""Acknowledge and resolve, two steps (DOMAIN.md, listening and response): a reply acknowledges a
mention, a resolve closes it, answered or not; a resolve read before its mention waits for it; with
ENGAGEMENT_MENTION_RESOLVED_BY=reply a reply closes it too. Expected values are worked out in each
test from the events it makes."""

from __future__ import annotations

import pytest

from streams.settings import Settings, SettingsError
from streams.state import PartitionState, WindowConfig
from streams.state.mentions import OpenMentions
from tests.fixtures.state import ACCOUNT_VALIDATOR, B0, G, W, followers_of
from tests.unit.state.test_mentions import ACK, KEEP, RESOLVE, fresh, mention, reply, resolve


def test_a_reply_acknowledges_a_mention_and_only_a_resolve_closes_it():
    mentions = OpenMentions(ACK, RESOLVE, KEEP)
    mentions.mention("m", "a1", B0)
    assert mentions.reply("m", "a1", B0 + 60_000, "x") == B0
    assert mentions.take_changes() == {"m": ["a", "a1", B0]}
    assert mentions.reply("m", "a1", B0 + 90_000, "x") is None  # a second reply: no change
    assert mentions.take_changes() == {}
    assert mentions.scan(B0 + ACK + 1).overdue == {}  # acknowledged in time
    assert mentions.scan(B0 + RESOLVE + 1).overdue == {"a1": [0, 1, B0]}  # not resolved
    assert mentions.resolve("m", "a1", B0 + RESOLVE + 2) is True  # answered, then closed
    assert mentions.take_changes() == {"m": None}
    assert mentions.scan(B0 + RESOLVE + 3).overdue == {} and mentions.unresolved() == {}


def test_a_mention_closed_without_answer_is_resolved_and_has_no_response_time():
    state = fresh(B0)
    t = B0 + 1000
    state.add(mention("praise", t), t)
    state.add(resolve("s1", t + 60_000, "praise"), t + 60_000)
    state.add(mention("question", t + 1), t + 1)
    state.add(reply("r1", t + 2 * 60_000, "question"), t + 2 * 60_000)
    state.add(resolve("s2", t + 3 * 60_000, "question"), t + 3 * 60_000)
    state.add(resolve("s3", t + 4 * 60_000, "question"), t + 4 * 60_000)  # a second resolve: nothing
    assert [ms for values in state.take_responses().values() for ms in values] == [2 * 60_000 - 1]
    assert state.mentions.unresolved() == {}
    records = []
    for step in range(0, 6 * W + G, W):
        records += state.commit(t + step, followers_of).account_records
    tumbling = [r for r in records if r["window_kind"] == "tumbling"]
    for record in tumbling:
        ACCOUNT_VALIDATOR.validate(record)
    total = {k: sum(r["responses"][k] for r in tumbling) for k in ("answered", "resolved", "closed_without_answer")}
    assert total == {"answered": 1, "resolved": 2, "closed_without_answer": 1}
    assert sum(r["counts"]["resolve"] for r in tumbling) == 3


def test_a_reply_and_a_resolve_read_before_their_mention_wait_for_it():
    state = fresh(B0)
    t = B0 + 1000
    state.add(resolve("s-early", t + 50, "closed-early"), t + 50)
    state.add(reply("r-early", t + 60, "both-early"), t + 60)
    state.add(resolve("s-both", t + 70, "both-early"), t + 70)
    assert set(state.mentions.waiting) == {"closed-early", "both-early"}
    state.add(mention("closed-early", t), t + 80)
    state.add(mention("both-early", t + 10), t + 90)
    assert not state.mentions.waiting and state.mentions.unresolved() == {}
    assert [ms for values in state.take_responses().values() for ms in values] == [50]
    agg = state.delta_accounts[t - t % W]["a1"].agg
    assert agg.responses is not None and agg.responses[4:] == [2, 1]  # resolved, closed without answer


def test_a_resolve_whose_mention_never_comes_is_dropped_once_it_could_no_longer_count():
    state = fresh(B0)
    t = B0 + 1000
    state.add(resolve("s1", t, "unknown"), t)
    assert state.commit(t - t % W + W + G - 1, followers_of).replies_unmatched == 0
    result = state.commit(t - t % W + W + G, followers_of)
    assert result.replies_unmatched == 1 and result.mention_changes == {"unknown": None}


def test_with_replies_only_producers_a_reply_resolves_the_mention():
    mentions = OpenMentions(ACK, RESOLVE, KEEP, reply_resolves=True)
    mentions.mention("m", "a1", B0)
    assert mentions.reply("m", "a1", B0 + 10, "x") == B0
    assert mentions.take_changes() == {"m": None} and mentions.unresolved() == {}
    mentions.reply("m2", "a1", B0 + 20, "x")  # read first: the mention is resolved as it comes
    waited = mentions.mention("m2", "a1", B0 + 5)
    assert waited is not None and waited.resolved and mentions.unresolved() == {}
    assert mentions.scan(B0 + RESOLVE + 100).overdue == {}


def test_the_resolved_by_setting_reaches_the_partition_state():
    by_reply = WindowConfig.from_settings(Settings.from_env({"ENGAGEMENT_MENTION_RESOLVED_BY": "reply"}))
    assert PartitionState(0, by_reply).mentions.reply_resolves
    assert not PartitionState(0, WindowConfig.from_settings(Settings.from_env({}))).mentions.reply_resolves
    with pytest.raises(SettingsError, match="ENGAGEMENT_MENTION_RESOLVED_BY='answer'"):
        Settings.from_env({"ENGAGEMENT_MENTION_RESOLVED_BY": "answer"})
