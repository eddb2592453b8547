"""An account's own baseline per post (issue 27): the median post ER (at the maturity age) of its
posts of the benchmark period before its latest N, and the mean post ER of those latest N
(ENGAGEMENT_OWN_BASELINE_LATEST_POSTS); for all its posts and per content type. The alert
EngagementPostRateBelowOwnBaseline compares the two; since it needs no posting cadence, it covers the
accounts that post less than once per rolling window, which EngagementDropVsBaseline does not. The
latest posts are left out of the median, so that a collapse does not pull down its own baseline."""

from __future__ import annotations

from statistics import median

from prometheus_client import CollectorRegistry

from .gauge_family import GaugeFamily

ALL = "all"  # the content_type label of all of an account's posts (as in streams.metrics.posts)


class OwnBaselineGauges:
    def __init__(self, registry: CollectorRegistry, labels: list[str], latest_posts: int):
        self.latest_posts = latest_posts
        self.median = GaugeFamily(
            "engagement_account_post_rate_median_ratio",
            "The account's own baseline per post: median ER by followers at the maturity age of its posts "
            "of the benchmark period before its latest ENGAGEMENT_OWN_BASELINE_LATEST_POSTS",
            labels,
            registry,
        )
        self.baseline_posts = GaugeFamily(
            "engagement_account_post_baseline_posts",
            "Posts in engagement_account_post_rate_median_ratio",
            labels,
            registry,
        )
        self.latest = GaugeFamily(
            "engagement_account_latest_posts_rate_ratio",
            "Mean ER by followers at the maturity age of the account's latest "
            "ENGAGEMENT_OWN_BASELINE_LATEST_POSTS matured posts",
            labels,
            registry,
        )
        self.families = (self.median, self.baseline_posts, self.latest)

    def add(
        self, desired: dict[GaugeFamily, dict[tuple, float]], labels_of: dict[str, tuple], items: list[list]
    ) -> None:
        """Add the series of one account to ``desired`` (family -> its series): ``items`` its samples
        ([post_id, platform, content_type, published_at, er]); ``labels_of[content_type]`` the labels
        of its series (all, and each content type of its samples)."""
        groups: dict[str, list[list]] = {ALL: []}
        for sample in sorted(items, key=lambda s: (s[3], s[0])):  # by publication
            groups[ALL].append(sample)
            groups.setdefault(sample[2], []).append(sample)
        median_of, baseline_posts, latest_of = desired[self.median], desired[self.baseline_posts], desired[self.latest]
        n = self.latest_posts
        for content_type, group in groups.items():
            if len(group) <= n:
                continue
            earlier, latest = group[:-n], group[-n:]
            labels = labels_of[content_type]
            median_of[labels] = median(s[4] for s in earlier)
            baseline_posts[labels] = len(earlier)
            latest_of[labels] = sum(s[4] for s in latest) / n
