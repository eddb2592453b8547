"""An account's own baseline per post (issue 27): the median post ER (at the maturity age) of its
posts of the benchmark period before its latest N, and the mean post ER of those latest N
(ENGAGEMENT_OWN_BASELINE_LATEST_POSTS); for all its posts and per content type. The alert
EngagementPostRateBelowOwnBaseline compares the two; since it needs no posting cadence, it covers the
accounts that post less than once per rolling window, which EngagementDropVsBaseline does not. The
latest posts are left out of the median, so that a collapse does not pull down its own baseline."""

from __future__ import annotations

from collections.abc import Sequence
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

    def summarize(self, items: Sequence[list]) -> dict[str, tuple[float, int, float]]:
        """Content type (and all) -> (median ER of the earlier posts, their number, mean ER of the
        latest), from one account's samples ([post_id, platform, content_type, published_at, er])."""
        groups: dict[str, list[list]] = {ALL: []}
        for sample in sorted(items, key=lambda s: (s[3], s[0])):  # by publication
            groups[ALL].append(sample)
            groups.setdefault(sample[2], []).append(sample)
        n = self.latest_posts
        return {
            content_type: (median(s[4] for s in group[:-n]), len(group) - n, sum(s[4] for s in group[-n:]) / n)
            for content_type, group in groups.items()
            if len(group) > n
        }

    def add(
        self,
        desired: dict[GaugeFamily, dict[tuple, float]],
        labels_of: dict[str, tuple],
        summary: dict[str, tuple[float, int, float]],
    ) -> None:
        """Add the series of one account to ``desired`` (family -> its series): ``summary`` as
        ``summarize`` made it; ``labels_of[content_type]`` the labels of its series."""
        median_of, baseline_posts, latest_of = desired[self.median], desired[self.baseline_posts], desired[self.latest]
        for content_type, (earlier_median, earlier, latest_mean) in summary.items():
            labels = labels_of[content_type]
            median_of[labels] = earlier_median
            baseline_posts[labels] = earlier
            latest_of[labels] = latest_mean
