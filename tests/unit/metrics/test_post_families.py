"""The early-warning curves, the ER per post and the own baseline expose what they exposed as
prometheus_client Gauges with a child per series (the reference: tests/unit/metrics/gauge_reference.py,
with the names, HELP texts and labels the dashboards and alert rules read, values worked out by hand),
series of an account gone removed at the next rebuild or when its partition moves; and at scale their
series hold a small part of what Gauge children held."""

from __future__ import annotations

import gc
import random
import tracemalloc
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from streams.metrics.early import EarlyWarningGauges
from streams.metrics.posts import PostRateGauges
from streams.model.bands import load_benchmarks
from streams.model.early import EarlyWarning
from tests.unit.metrics.gauge_reference import Reference, rounded

HOUR = 3_600_000
AGES = (HOUR, 24 * HOUR, 7 * 24 * HOUR)  # the default record ages; maturity 24 h
MARK = 100 * 24 * HOUR


def sample(post_id: str, platform: str, content_type: str, hours: int, er: float, early: float) -> list:
    return [post_id, platform, content_type, MARK - hours * HOUR, er, [early]]


def test_early_warning_curves_expose_as_gauges_did_and_an_account_gone_loses_its_curves():
    registry = CollectorRegistry()
    early = EarlyWarning.at(HOUR, 5, AGES, AGES[1])
    gauges = EarlyWarningGauges(registry, 10, load_benchmarks(None), early, AGES)
    ref = Reference()
    account = ["account_id", "platform", "content_type"]
    post = ["post_id", "account_id", "platform", "industry", "content_type"]
    ref.gauge(
        "engagement_account_curve_share_ratio",
        "Share of its ER at maturity an account's posts (of a content type) reach by each record age: "
        "the median over its matured posts of the benchmark period",
        [*account, "age"],
    )
    ref.gauge(
        "engagement_account_curve_posts",
        "Matured posts behind engagement_account_curve_share_ratio (those with an ER at maturity above 0)",
        account,
    )
    ref.gauge(
        "engagement_account_curve_median_rate_ratio",
        "Median post ER at maturity of the account's matured posts of the content type: its own baseline",
        account,
    )
    ref.gauge(
        "engagement_post_projected_rate_ratio",
        "A young post's projected ER at maturity: its ER at the latest check age passed / the share its "
        "account's curve reaches by then (50 posts per worker, the lowest against their band)",
        post,
    )
    ref.gauge(
        "engagement_post_benchmark_low_ratio",
        "The band's low bound a projected post is compared with: its content type's, else its account's",
        post,
    )
    ref.gauge("engagement_post_checked_age_seconds", "The latest check age a projected post has passed", post)
    ref.gauge(
        "engagement_early_warning_min_matured_posts",
        "Matured posts an account (and content type) needs for its curve (ENGAGEMENT_EARLY_WARNING_MIN_POSTS)",
    ).set(5)
    ref.gauge(
        "engagement_post_projection_series_dropped",
        "Young posts with a projection left out of the gauges (more than 50)",
    ).set(0)
    # a1: six images, each at half its ER at maturity by 1 h (ERs 0.01..0.06: median 0.035); two reels
    # at a quarter. a2: five videos at a fifth, all at ER 0.04.
    a1 = [sample(f"i{k}", "instagram", "image", 30 + k, 0.01 * k, 0.005 * k) for k in range(1, 7)]
    a1 += [sample(f"r{k}", "instagram", "reel", 40 + k, 0.02, 0.005) for k in range(2)]
    a2 = [sample(f"v{k}", "tiktok", "video", 30 + k, 0.04, 0.008) for k in range(5)]

    def update(samples: dict) -> None:
        state = SimpleNamespace(lifetimes=SimpleNamespace(samples=samples, lives={}))
        gauges.update([state], MARK, {"a1": 1000, "a2": 1000}.get, lambda a: "retail")

    update({"a2": a2, "a1": a1})  # a1, with the most matured posts, first
    ref.publish(
        "engagement_account_curve_share_ratio",
        {
            ("a1", "instagram", "image", "1h"): 0.5,
            ("a1", "instagram", "reel", "1h"): 0.25,
            ("a2", "tiktok", "video", "1h"): 0.2,
        },
    )
    ref.publish(
        "engagement_account_curve_posts",
        {("a1", "instagram", "image"): 6, ("a1", "instagram", "reel"): 2, ("a2", "tiktok", "video"): 5},
    )
    ref.publish(
        "engagement_account_curve_median_rate_ratio",
        {("a1", "instagram", "image"): 0.035, ("a1", "instagram", "reel"): 0.02, ("a2", "tiktok", "video"): 0.04},
    )
    assert rounded(generate_latest(registry)) == rounded(ref.text())

    update({"a2": a2})  # a1's partition left
    ref.publish("engagement_account_curve_share_ratio", {("a2", "tiktok", "video", "1h"): 0.2})
    ref.publish("engagement_account_curve_posts", {("a2", "tiktok", "video"): 5})
    ref.publish("engagement_account_curve_median_rate_ratio", {("a2", "tiktok", "video"): 0.04})
    assert rounded(generate_latest(registry)) == rounded(ref.text())


def test_post_rate_and_own_baseline_gauges_expose_as_gauges_did_and_forget_an_account_that_moved():
    registry = CollectorRegistry()
    gauges = PostRateGauges(registry, 10, load_benchmarks(None), window_share=1 / 168, latest_posts=3)
    ref = Reference()
    account = ["account_id", "platform", "industry", "content_type"]
    ref.gauge(
        "engagement_account_post_rate_ratio",
        "Account ER per post: mean ER by followers at the maturity age of the account's posts "
        "published in the benchmark period (content_type=all: all of them)",
        account,
    )
    ref.gauge("engagement_account_matured_posts", "Posts in engagement_account_post_rate_ratio", account)
    ref.gauge(
        "engagement_account_post_benchmark_ratio",
        "The benchmark band an account's ER per post is compared with: its industry's row, else "
        "its platform's; for a content type only where the benchmarks file gives one",
        [*account, "bound"],
    )
    ref.gauge(
        "engagement_post_rate_ratio",
        "ER by followers at the maturity age of the 10 best and worst posts of the benchmark period (rank=top, bottom)",
        ["post_id", "account_id", "platform", "content_type", "rank"],
    )
    ref.gauge(
        "engagement_account_posts_per_rolling_window",
        "Posts the account published per rolling window, over the benchmark period: "
        "below about one, its rolling ER swings with the age of its latest post",
        ["account_id", "platform"],
    )
    ref.gauge(
        "engagement_account_post_series_dropped",
        "Accounts left out of the ER-per-post gauges by ENGAGEMENT_MAX_ACCOUNT_SERIES",
    ).set(0)
    ref.gauge(
        "engagement_account_post_rate_median_ratio",
        "The account's own baseline per post: median ER by followers at the maturity age of its posts "
        "of the benchmark period before its latest ENGAGEMENT_OWN_BASELINE_LATEST_POSTS",
        account,
    )
    ref.gauge("engagement_account_post_baseline_posts", "Posts in engagement_account_post_rate_median_ratio", account)
    ref.gauge(
        "engagement_account_latest_posts_rate_ratio",
        "Mean ER by followers at the maturity age of the account's latest "
        "ENGAGEMENT_OWN_BASELINE_LATEST_POSTS matured posts",
        account,
    )
    # a1: four images published p1 (oldest) .. p4, ERs 0.01 .. 0.04; a2: one x text post.
    a1 = [["p1", "instagram", "image", 1, 0.01], ["p2", "instagram", "image", 2, 0.02]]
    a1 += [["p3", "instagram", "image", 3, 0.03], ["p4", "instagram", "image", 4, 0.04]]
    a2 = [["q1", "x", "text", 1, 0.015]]
    gauges.update({"a1": a1, "a2": a2}, {"a1": ["instagram", 7], "a2": ["x", 1]}, lambda a: "retail")
    a1_all, a1_image, a2_all, a2_text = (
        ("a1", "instagram", "retail", "all"),
        ("a1", "instagram", "retail", "image"),
        ("a2", "x", "retail", "all"),
        ("a2", "x", "retail", "text"),
    )
    ref.publish("engagement_account_posts_per_rolling_window", {("a1", "instagram"): 7 / 168, ("a2", "x"): 1 / 168})
    # Own baseline (a1 only: a2 has no post before its latest three): the median of p1, the mean of p2..p4.
    ref.publish("engagement_account_post_rate_median_ratio", {a1_all: 0.01, a1_image: 0.01})
    ref.publish("engagement_account_post_baseline_posts", {a1_all: 1, a1_image: 1})
    ref.publish("engagement_account_latest_posts_rate_ratio", {a1_all: 0.03, a1_image: 0.03})
    ref.publish("engagement_account_post_rate_ratio", {a1_all: 0.025, a1_image: 0.025, a2_all: 0.015, a2_text: 0.015})
    ref.publish("engagement_account_matured_posts", {a1_all: 4, a1_image: 4, a2_all: 1, a2_text: 1})
    ref.publish(  # the benchmarks file's rows: instagram and x retail; none per content type for these
        "engagement_account_post_benchmark_ratio",
        {(*a1_all, "low"): 0.0173, (*a1_all, "high"): 0.0354, (*a2_all, "low"): 0.0104, (*a2_all, "high"): 0.0148},
    )
    ranked = [("p1", "a1", 0.01), ("q1", "a2", 0.015), ("p2", "a1", 0.02), ("p3", "a1", 0.03), ("p4", "a1", 0.04)]
    platform = {"a1": "instagram", "a2": "x"}
    type_of = {"a1": "image", "a2": "text"}
    ref.publish(
        "engagement_post_rate_ratio",
        {
            (post, a, platform[a], type_of[a], rank): er
            for rank in ("bottom", "top")  # all five posts are among both the 10 worst and the 10 best
            for post, a, er in ranked
        },
    )
    assert rounded(generate_latest(registry)) == rounded(ref.text())

    gauges.forget(lambda account_id: account_id == "a1")
    for name, published in list(ref.published.items()):
        ref.publish(name, {labels: value for labels, value in published.items() if "a1" not in labels})
    assert rounded(generate_latest(registry)) == rounded(ref.text())
    assert b'"a1"' not in generate_latest(registry)


def test_the_biggest_families_hold_at_most_200_bytes_per_series_at_scale():
    """500 accounts of 1..4 content types: 3,752 curve series and 8,771 ER-per-post series. The
    bound is test_gauge_family's (a label tuple, a float, a dict slot); Gauge children hold 830..860 B."""
    rng = random.Random(3)
    samples = {}
    for i in range(500):
        types = ["image", "reel", "carousel", "story"][: 1 + i % 4]
        samples[f"account-{i:04d}"] = [
            [f"account-{i:04d}-p{k}", "instagram", types[k % len(types)], MARK - k * HOUR, er, [er * 0.4]]
            for k, er in enumerate(rng.uniform(0.01, 0.05) for _ in range(12))
        ]
    published = {a: ["instagram", 12] for a in samples}
    state = SimpleNamespace(lifetimes=SimpleNamespace(samples=samples, lives={}))
    early = EarlyWarning.at(HOUR, 5, AGES, AGES[1])
    for build, update in (
        (
            lambda r: EarlyWarningGauges(r, 2000, load_benchmarks(None), early, AGES),
            lambda g: g.update([state], MARK, lambda a: 1000, lambda a: "retail"),
        ),
        (
            lambda r: PostRateGauges(r, 2000, load_benchmarks(None), 1 / 168),
            lambda g: g.update(samples, published, lambda a: "retail"),
        ),
    ):
        registry = CollectorRegistry()
        gauges = build(registry)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            update(gauges)
            gc.collect()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        series = sum(len(f.samples) for f in registry.collect())
        assert series > 3000
        assert held / series <= 200, (type(gauges).__name__, series, held / series)
