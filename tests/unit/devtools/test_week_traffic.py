"""bench-week's synthetic week: its counts against the model's rates, computed here independently."""

from __future__ import annotations

import math

from streams.devtools.bench.week_posts import DAY_MS, PastPost, WeekPlan, expected_events, past_posts
from streams.devtools.bench.week_traffic import PastWeek
from streams.simulator.model import TrafficModel
from streams.simulator.profile import TYPE_MIX

HOUR = 3_600_000
NOW = 1_800_000_000_000


def plan(days: float = 14.0) -> WeekPlan:
    return WeekPlan(
        now_ms=NOW,
        live_start_ms=NOW + 60_000,
        days=days,
        ages_ms=(HOUR, DAY_MS, 7 * DAY_MS),
        retention_ms=3 * DAY_MS,
        stretch_ms=HOUR + 360_000,
    )


def test_expected_events_follow_the_decay_of_each_span():
    post = PastPost("a-p1", "a", "x", 0, "text", ((0.0, DAY_MS, 100), (DAY_MS, 7 * DAY_MS, 2)))
    tau = DAY_MS / 4
    first_hour = 100 * (1 - math.exp(-HOUR / tau)) / (1 - math.exp(-DAY_MS / tau))
    assert math.isclose(expected_events(post, 0, HOUR), first_hour)
    assert math.isclose(expected_events(post, 0, 7 * DAY_MS), 102)
    assert expected_events(post, 7 * DAY_MS, 8 * DAY_MS) == 0


def test_posts_of_two_lifetimes_at_each_accounts_pace():
    model = TrafficModel(7, 5, rate=200.0)
    posts = past_posts(model, plan())
    for account_id, per_day in model.posts_per_day.items():
        mine = [p for p in posts if p.account_id == account_id and p.published_at < NOW]
        assert abs(len(mine) - 14 * per_day) <= 2 + 0.1 * 14 * per_day  # the jitter's +-30 % averages out
    ids = [p.post_id for p in posts]
    assert len(ids) == len(set(ids))  # the week before's are renamed: no id twice
    assert all(p.published_at >= NOW - 14 * DAY_MS for p in posts)


def test_mentions_of_a_stretch_at_the_models_rate():
    model = TrafficModel(7, 20, rate=5000.0)
    week = PastWeek(model, plan(days=1.0))
    start = NOW - HOUR
    week._mentions(start, NOW, others=True)
    account_types = TYPE_MIX["follow"] + TYPE_MIX["unfollow"] + TYPE_MIX["mention"]
    post_level = sum(v for k, v in TYPE_MIX.items() if k not in ("follow", "unfollow", "mention"))
    per_s = sum(model.post_event_rate.values()) * account_types / post_level * TYPE_MIX["mention"] / account_types
    expected = per_s * 3600
    assert abs(week.counts["mentions"] - expected) < 5 * math.sqrt(expected)
