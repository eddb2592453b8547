"""The account's own baseline per post (issue 27): the median post ER of its matured posts of the
benchmark period before its latest N, and the mean post ER of those latest N; per content type too.
Expected values are worked out by hand from the samples below."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from streams.metrics.posts import PostRateGauges
from streams.model.bands import load_benchmarks

H = 3_600_000
T0 = 1_700_000_040_000
# (post_id, content_type, hours after T0, post ER at maturity), shuffled: samples come in the order
# their posts matured, which need not be the order of publication.
BRAND = [
    ("p5", "image", 4, 0.010),
    ("p1", "image", 0, 0.020),
    ("p2", "reel", 1, 0.030),
    ("p3", "image", 2, 0.025),
    ("p4", "reel", 3, 0.028),
    ("p7", "image", 6, 0.008),
    ("p6", "reel", 5, 0.012),
]
FEW = [("q1", "image", 0, 0.02), ("q2", "image", 1, 0.001), ("q3", "image", 2, 0.001)]  # no earlier post


def samples(posts, platform="instagram"):
    return [[post_id, platform, content_type, T0 + h * H, er] for post_id, content_type, h, er in posts]


def value(gauge, labels):
    return gauge.series[labels]


def test_median_of_the_earlier_posts_and_mean_of_the_latest_three():
    gauges = PostRateGauges(
        CollectorRegistry(), cap=10, benchmarks=load_benchmarks(None), window_share=1 / 168, latest_posts=3
    )
    gauges.update({"brand": samples(BRAND), "few": samples(FEW)}, {}, lambda a: "")
    own = gauges.own_baseline
    every = ("brand", "instagram", "", "all")
    # All posts by publication: p1..p7; the latest three p5, p6, p7; before them p1..p4.
    assert value(own.median, every) == pytest.approx((0.025 + 0.028) / 2)
    assert value(own.baseline_posts, every) == 4
    assert value(own.latest, every) == pytest.approx((0.010 + 0.012 + 0.008) / 3)
    # Images p1, p3, p5, p7: the latest three p3, p5, p7; before them p1 alone.
    image = ("brand", "instagram", "", "image")
    assert value(own.median, image) == pytest.approx(0.020)
    assert value(own.baseline_posts, image) == 1
    assert value(own.latest, image) == pytest.approx((0.025 + 0.010 + 0.008) / 3)
    # Reels p2, p4, p6, and the account with three posts: no post before the latest three, no baseline.
    exported = {labels for gauge in (own.median, own.baseline_posts, own.latest) for labels in gauge.series}
    assert exported == {every, image}

    gauges.update({"few": samples(FEW)}, {}, lambda a: "")  # brand's posts left the period
    assert not own.median.series and not own.latest.series and not own.baseline_posts.series
