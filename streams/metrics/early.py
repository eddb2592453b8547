"""Early warning gauges (DOMAIN.md, "Early warning: a post off track in its first hour"; the math in
streams/model/early.py): per account and content type its curve (the share of its ER at maturity
reached at each record age before maturity), the matured posts behind it and its median post ER (the
baseline); per young post whose account has a curve of enough posts, its projected ER at maturity,
its band's low bound and the check age it has passed. PostOffTrack compares them.

Bounded: the curves of the accounts with the most matured posts (ENGAGEMENT_MAX_ACCOUNT_SERIES), and
the ``PROJECTED_POSTS`` young posts lowest against their band; the others are counted as dropped. The
series are rebuilt from the partitions owned at each close: an account that moved leaves with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Gauge

from ..model.bands import Benchmarks, band_for
from ..model.early import Curve, EarlyWarning, checked_age, enough_to_tell, learn_curves, median_post_er, projected_er
from ..state.window import duration_label
from .gauge_family import GaugeFamily
from .samples_cache import SamplesCache

PROJECTED_POSTS = 50  # young posts exported per worker, the lowest against their band first


class EarlyWarningGauges:
    def __init__(
        self, registry: CollectorRegistry, cap: int, benchmarks: Benchmarks, early: EarlyWarning, ages_ms: tuple
    ):
        self.cap, self.benchmarks, self.early, self.ages_ms = cap, benchmarks, early, ages_ms
        account = ["account_id", "platform", "content_type"]
        post = ["post_id", "account_id", "platform", "industry", "content_type"]
        self.share = GaugeFamily(
            "engagement_account_curve_share_ratio",
            "Share of its ER at maturity an account's posts (of a content type) reach by each record age: "
            "the median over its matured posts of the benchmark period",
            [*account, "age"],
            registry,
        )
        self.curve_posts = GaugeFamily(
            "engagement_account_curve_posts",
            "Matured posts behind engagement_account_curve_share_ratio (those with an ER at maturity above 0)",
            account,
            registry,
        )
        self.median = GaugeFamily(
            "engagement_account_curve_median_rate_ratio",
            "Median post ER at maturity of the account's matured posts of the content type: its own baseline",
            account,
            registry,
        )
        self.projected = GaugeFamily(
            "engagement_post_projected_rate_ratio",
            "A young post's projected ER at maturity: its ER at the latest check age passed / the share its "
            f"account's curve reaches by then ({PROJECTED_POSTS} posts per worker, the lowest against their band)",
            post,
            registry,
        )
        self.band_low = GaugeFamily(
            "engagement_post_benchmark_low_ratio",
            "The band's low bound a projected post is compared with: its content type's, else its account's",
            post,
            registry,
        )
        self.checked = GaugeFamily(
            "engagement_post_checked_age_seconds",
            "The latest check age a projected post has passed",
            post,
            registry,
        )
        self.min_posts = Gauge(
            "engagement_early_warning_min_matured_posts",
            "Matured posts an account (and content type) needs for its curve (ENGAGEMENT_EARLY_WARNING_MIN_POSTS)",
            registry=registry,
        )
        self.min_posts.set(early.min_posts)
        self.dropped = Gauge(
            "engagement_post_projection_series_dropped",
            f"Young posts with a projection left out of the gauges (more than {PROJECTED_POSTS})",
            registry=registry,
        )
        self.age_labels = tuple(duration_label(age_ms) for age_ms in ages_ms)  # one string per age, shared
        self.learned = SamplesCache(self.learn)

    def learn(self, items: Sequence[list]) -> tuple[str, dict[str, Curve], dict[str, float]]:
        """One account's platform, curves and median post ERs, from its samples (read once)."""
        items = list(items)
        return items[-1][1], learn_curves(items, self.early.maturity), median_post_er(items)

    def update(self, states: list, mark: int, followers_of, industry_of) -> None:
        """From the post lifetimes of the partitions this worker owns, as of the close ``mark``."""
        early = self.early
        samples: dict = {}
        for state in states:
            samples.update(state.lifetimes.samples)
        accounts = sorted(samples, key=lambda a: len(samples[a]), reverse=True)[: self.cap]
        curve_shares: dict[tuple, float] = {}
        curve_posts: dict[tuple, float] = {}
        curve_medians: dict[tuple, float] = {}
        curves: dict[str, dict[str, Curve]] = {}
        baselines: dict[str, dict[str, float]] = {}
        for account_id, (platform, learned, medians) in self.learned.of(samples, accounts).items():
            curves[account_id], baselines[account_id] = learned, medians
            for content_type, curve in learned.items():
                labels = (account_id, platform, content_type)
                curve_posts[labels] = curve.posts
                curve_medians[labels] = medians[content_type]
                for age, share in zip(self.age_labels, curve.shares):
                    curve_shares[(*labels, age)] = share
        posts = []
        for state in states:
            for post_id, life in state.lifetimes.lives.items():
                index = checked_age(early, life.done, life.content_type, mark - life.published_at)
                own = curves.get(life.account_id, {}).get(life.content_type)
                if index is None or own is None or own.posts < early.min_posts or not life.complete:
                    continue
                if index >= len(life.reached):  # a life from a snapshot before the curves
                    continue
                followers, industry = followers_of(life.account_id), industry_of(life.account_id)
                band = band_for(self.benchmarks, life.platform, industry, life.content_type) or band_for(
                    self.benchmarks, life.platform, industry
                )
                baseline, share = baselines[life.account_id][life.content_type], own.shares[index]
                if not followers or band is None or not enough_to_tell(baseline, followers, share, early.min_expected):
                    continue
                projected = projected_er(life.reached[index] / followers, share)
                if projected is None:
                    continue
                post = (post_id, life.account_id, life.platform, industry, life.content_type)
                posts.append((projected / band[0] if band[0] else projected, post, projected, band[0], index))
        posts.sort(key=lambda p: p[0])
        self.dropped.set(max(0, len(posts) - PROJECTED_POSTS))
        shown = posts[:PROJECTED_POSTS]
        self.share.publish(curve_shares)
        self.curve_posts.publish(curve_posts)
        self.median.publish(curve_medians)
        self.projected.publish({post: projected for _, post, projected, _, _ in shown})
        self.band_low.publish({post: low for _, post, _, low, _ in shown})
        self.checked.publish({post: self.ages_ms[index] / 1000 for _, post, _, _, index in shown})
