"""The early-warning gauges from post lifetimes: curves, baselines and the projected young posts."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from streams.metrics.early import EarlyWarningGauges
from streams.model.bands import load_benchmarks
from streams.model.early import EarlyWarning
from streams.state.post_life import PostLife

HOUR = 3_600_000
AGES = (HOUR, 86_400 * 1000, 7 * 86_400 * 1000)
MARK = 100 * 86_400 * 1000
FOLLOWERS = {"a1": 10_000, "a2": 20_000}


def young(account_id: str, content_type: str, published_at: int, engaged_at_1h: int) -> PostLife:
    life = PostLife(account_id, "instagram", published_at, content_type, "post_record", True)
    life.done, life.reached = 1, [engaged_at_1h]
    return life


def gauges_after(samples: dict, lives: dict) -> dict:
    registry = CollectorRegistry()
    early = EarlyWarning.at(HOUR, 5, AGES, AGES[1])
    gauges = EarlyWarningGauges(registry, 100, load_benchmarks(None), early, AGES)
    state = SimpleNamespace(lifetimes=SimpleNamespace(samples=samples, lives=lives))
    gauges.update([state], MARK, FOLLOWERS.get, lambda a: "retail")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in registry.collect() for s in family.samples}


def test_a_young_post_is_projected_from_its_accounts_curve_only_with_enough_matured_posts():
    rng = random.Random(5)
    ratios = [rng.uniform(0.1, 0.5) for _ in range(5)]
    ers = [rng.uniform(0.01, 0.04) for _ in range(5)]
    image = [[f"m{i}", "instagram", "image", 0, er, [er * r]] for i, (er, r) in enumerate(zip(ers, ratios))]
    video = [[f"v{i}", "instagram", "video", 0, 0.02, [0.004]] for i in range(4)]  # four: no curve yet
    lives = {
        "y1": young("a1", "image", MARK - 2 * HOUR, 30),
        "y2": young("a1", "video", MARK - 2 * HOUR, 30),
        "y3": young("a2", "image", MARK - 2 * HOUR, 30),  # a new account: no matured post, no curve
        "y4": young("a1", "image", MARK - HOUR // 2, 30),  # before the first check age: none passed
    }
    lives["y4"].done, lives["y4"].reached = 0, []
    got = gauges_after({"a1": image + video}, lives)
    post = (
        ("account_id", "a1"),
        ("content_type", "image"),
        ("industry", "retail"),
        ("platform", "instagram"),
        ("post_id", "y1"),
    )
    share = sorted(ratios)[2]
    assert got[("engagement_post_projected_rate_ratio", post)] == pytest.approx(30 / 10_000 / share)
    assert got[("engagement_post_benchmark_low_ratio", post)] == pytest.approx(0.0173)
    assert got[("engagement_post_checked_age_seconds", post)] == 3600
    projected = {labels for name, labels in got if name == "engagement_post_projected_rate_ratio"}
    assert projected == {post}
    image_curve = (("account_id", "a1"), ("content_type", "image"), ("platform", "instagram"))
    at_1h = (("account_id", "a1"), ("age", "1h"), ("content_type", "image"), ("platform", "instagram"))
    assert got[("engagement_account_curve_share_ratio", at_1h)] == pytest.approx(share)
    assert got[("engagement_account_curve_posts", image_curve)] == 5
    assert got[("engagement_account_curve_median_rate_ratio", image_curve)] == pytest.approx(sorted(ers)[2])
    assert got[("engagement_early_warning_min_matured_posts", ())] == 5


def test_a_story_past_24_h_is_no_young_post():
    stories = [[f"s{i}", "instagram", "story", 0, 0.02, [0.01, 0.015]] for i in range(5)]
    ages = (HOUR, 6 * HOUR, 48 * HOUR, 7 * 86_400 * 1000)  # maturity 48 h: a story expires before it
    registry = CollectorRegistry()
    gauges = EarlyWarningGauges(registry, 100, load_benchmarks(None), EarlyWarning.at(HOUR, 5, ages, ages[2]), ages)
    fresh, old = young("a1", "story", MARK - 7 * HOUR, 10), young("a1", "story", MARK - 25 * HOUR, 10)
    fresh.done = old.done = 2
    fresh.reached = old.reached = [5, 10]
    state = SimpleNamespace(lifetimes=SimpleNamespace(samples={"a1": stories}, lives={"fresh": fresh, "old": old}))
    gauges.update([state], MARK, FOLLOWERS.get, lambda a: "retail")
    projected = {
        s.labels["post_id"]: s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == "engagement_post_projected_rate_ratio"
    }
    assert projected == {"fresh": pytest.approx(10 / 10_000 / 0.75)}


def test_no_record_age_from_the_first_check_age_to_maturity_leaves_the_early_warning_off():
    # 2 h with ages 1 h, 24 h, 7 d: the next record age is the maturity (tests/unit/model/test_early.py).
    assert not EarlyWarning.at(2 * HOUR, 5, AGES, AGES[1]).enabled
    assert not EarlyWarning.at(AGES[1], 5, AGES, AGES[1]).enabled


def test_a_post_is_projected_only_where_its_accounts_median_post_gathers_enough_by_then():
    ers, ratios = [0.01, 0.02, 0.03, 0.04, 0.05], [0.5] * 5
    image = [[f"m{i}", "instagram", "image", 0, er, [er * r]] for i, (er, r) in enumerate(zip(ers, ratios))]
    expected = 0.03 * 10_000 * 0.5  # the median post's engaged interactions by 1 h: 150

    def projected(min_expected: float) -> set:
        registry = CollectorRegistry()
        early = EarlyWarning.at(HOUR, 5, AGES, AGES[1], min_expected)
        gauges = EarlyWarningGauges(registry, 100, load_benchmarks(None), early, AGES)
        lives = {"y1": young("a1", "image", MARK - 2 * HOUR, 10)}
        state = SimpleNamespace(lifetimes=SimpleNamespace(samples={"a1": image}, lives=lives))
        gauges.update([state], MARK, FOLLOWERS.get, lambda a: "retail")
        return {
            s.labels["post_id"]
            for family in registry.collect()
            for s in family.samples
            if s.name == "engagement_post_projected_rate_ratio"
        }

    assert projected(expected) == {"y1"}
    assert projected(expected + 1) == set()
