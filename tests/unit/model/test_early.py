"""The early-warning math against hand-computed figures (DOMAIN.md, early warning)."""

from __future__ import annotations

import random

import pytest

from streams.model.early import (
    Curve,
    EarlyWarning,
    checked_age,
    learn_curves,
    median_post_er,
    off_track,
    projected_er,
)


def sample(content_type: str, er: float, early: list[float] | None) -> list:
    row = ["p", "instagram", content_type, 0, er]
    return row if early is None else [*row, early]


def test_the_share_is_the_median_ratio_per_content_type_and_zero_and_old_samples_give_none():
    samples = [
        sample("image", 0.02, [0.004, 0.01]),  # 0.2, 0.5
        sample("image", 0.01, [0.003, 0.006]),  # 0.3, 0.6
        sample("image", 0.04, [0.016, 0.028]),  # 0.4, 0.7
        sample("image", 0.0, [0.0, 0.0]),  # no share: 0 / 0
        sample("image", 0.03, None),  # an older encoding: no early ERs
        sample("video", 0.05, [0.005, 0.04]),  # 0.1, 0.8
    ]
    curves = learn_curves(samples, 2)
    assert curves.keys() == {"image", "video"}
    assert curves["image"].posts == 3
    assert curves["image"].shares == pytest.approx((0.3, 0.6))
    assert curves["video"] == Curve(1, pytest.approx((0.1, 0.8)))
    # The baseline counts every matured post, the collapsed (0) and the old one too.
    assert median_post_er(samples) == {"image": pytest.approx(0.02), "video": pytest.approx(0.05)}


def test_learned_shares_match_the_generated_ratios():
    rng = random.Random(3)
    ratios = sorted(rng.uniform(0.1, 0.9) for _ in range(7))
    samples = [
        sample("reel", er, [er * r]) for r, er in zip(rng.sample(ratios, 7), (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07))
    ]
    assert learn_curves(samples, 1)["reel"].shares == pytest.approx((ratios[3],))


def test_projection_and_the_off_track_rule():
    assert projected_er(0.003, 0.3) == pytest.approx(0.01)
    assert projected_er(0.003, 0.0) is None
    # Below the band's low bound; with a baseline, also below (1 - drop) x baseline.
    assert off_track(0.01, 0.0173, None, 0.5)
    assert not off_track(0.02, 0.0173, None, 0.5)
    assert off_track(0.01, 0.0173, 0.025, 0.5)  # 0.01 < 0.0125
    assert not off_track(0.013, 0.0173, 0.024, 0.5)  # below the band, not half below its median: 0.013 >= 0.012


def test_a_young_post_is_past_the_first_check_age_before_maturity_and_a_story_within_24_h():
    # Ages 1 h, 6 h, 24 h (maturity), 7 d; the first check age is 1 h.
    early = EarlyWarning(first_check=0, maturity=2, min_posts=5)
    hour = 3_600_000
    assert checked_age(early, 0, "image", hour // 2) is None  # no age passed yet
    assert checked_age(early, 1, "image", 2 * hour) == 0
    assert checked_age(early, 2, "image", 7 * hour) == 1
    assert checked_age(early, 3, "image", 25 * hour) is None  # matured
    late_first = EarlyWarning(first_check=1, maturity=2, min_posts=5)
    assert checked_age(late_first, 1, "image", 2 * hour) is None
    # A story, with a maturity past 24 h: young until 24 h, then expired.
    long_maturity = EarlyWarning(first_check=0, maturity=3, min_posts=5)
    assert checked_age(long_maturity, 3, "story", 23 * hour) == 2
    assert checked_age(long_maturity, 3, "story", 24 * hour) is None
    assert checked_age(long_maturity, 3, "image", 30 * hour) == 2


def test_the_first_check_is_the_first_record_age_from_the_setting_on_and_none_before_maturity_is_no_warning():
    hour, day, week = 3_600_000, 86_400_000, 604_800_000
    # The setting names a record age: checks from it on.
    assert EarlyWarning.at(hour, 5, (hour, day, week), day).first_check == 0
    # Between record ages: from the next one (6 h of 1 h, 6 h, 24 h).
    assert EarlyWarning.at(2 * hour, 5, (hour, 6 * hour, day, week), day).first_check == 1
    # Ages that were valid before the early warning (none before maturity) start a worker all the
    # same, with no young post ever checked.
    early = EarlyWarning.at(hour, 5, (day, week), day)
    assert not early.enabled
    assert all(checked_age(early, done, "video", 0) is None for done in range(4))
    assert EarlyWarning.at(hour, 5, (hour, day, week), day).enabled
