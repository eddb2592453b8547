"""Per-account ER per post (DOMAIN.md, "Benchmarks: what the number means") and the band it is
compared with, from the benchmark samples of the partitions this worker owns: for each account (and
each of its content types), the mean ER by followers at the maturity age of its posts published in
the benchmark period. Bounded like the other per-account series (ENGAGEMENT_MAX_ACCOUNT_SERIES, the
accounts with the most posts first); the best and worst posts are exported, a few, for the dashboards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Gauge

from ..model.bands import Benchmarks, band_for
from .gauge_family import GaugeFamily
from .own_baseline import OwnBaselineGauges
from .samples_cache import SamplesCache

ALL = "all"  # the content_type label of an account's mean over all its posts
RANKED_POSTS = 10  # best and worst posts exported per worker


class AccountPosts(NamedTuple):
    """What the gauges take from one account's samples."""

    platform: str
    groups: dict[str, tuple[float, int]]  # content type (and all) -> (mean ER, posts)
    own: dict[str, tuple[float, int, float]]  # its own baseline (OwnBaselineGauges.summarize)
    lowest: list[tuple]  # (post_id, platform, content_type, er): its RANKED_POSTS lowest ERs ...
    highest: list[tuple]  # ... and highest, each in a stable order by ER


class PostRateGauges:
    def __init__(
        self, registry: CollectorRegistry, cap: int, benchmarks: Benchmarks, window_share: float, latest_posts: int = 3
    ):
        """``window_share``: the rolling window's length over the benchmark period's; ``latest_posts``:
        the posts compared with the account's own baseline (streams.metrics.own_baseline)."""
        self.cap = cap
        self.benchmarks = benchmarks
        self.window_share = window_share
        account = ["account_id", "platform", "industry", "content_type"]
        self.rate = GaugeFamily(
            "engagement_account_post_rate_ratio",
            "Account ER per post: mean ER by followers at the maturity age of the account's posts "
            "published in the benchmark period (content_type=all: all of them)",
            account,
            registry,
        )
        self.posts = GaugeFamily(
            "engagement_account_matured_posts",
            "Posts in engagement_account_post_rate_ratio",
            account,
            registry,
        )
        self.band = GaugeFamily(
            "engagement_account_post_benchmark_ratio",
            "The benchmark band an account's ER per post is compared with: its industry's row, else "
            "its platform's; for a content type only where the benchmarks file gives one",
            [*account, "bound"],
            registry,
        )
        self.ranked = GaugeFamily(
            "engagement_post_rate_ratio",
            f"ER by followers at the maturity age of the {RANKED_POSTS} best and worst posts of "
            "the benchmark period (rank=top, bottom)",
            ["post_id", "account_id", "platform", "content_type", "rank"],
            registry,
        )
        self.cadence = GaugeFamily(
            "engagement_account_posts_per_rolling_window",
            "Posts the account published per rolling window, over the benchmark period: "
            "below about one, its rolling ER swings with the age of its latest post",
            ["account_id", "platform"],
            registry,
        )
        self.dropped = Gauge(
            "engagement_account_post_series_dropped",
            "Accounts left out of the ER-per-post gauges by ENGAGEMENT_MAX_ACCOUNT_SERIES",
            registry=registry,
        )
        self.own_baseline = OwnBaselineGauges(registry, account, latest_posts)
        self.summaries = SamplesCache(self.summarize)
        self.families = (self.rate, self.posts, self.band, self.ranked, self.cadence, *self.own_baseline.families)

    def update(self, samples: dict[str, list[list]], published: dict[str, list], industry_of) -> None:
        """``samples``: account_id -> [[post_id, platform, content_type, published_at, er], ...];
        ``published``: account_id -> [platform, posts of the benchmark period]; of every partition this
        worker owns (an account's partition is one, so all of an account is here)."""
        accounts = sorted(
            samples.keys() | published.keys(),
            key=lambda a: (len(samples.get(a, ())), published.get(a, ("", 0))[1]),
            reverse=True,
        )
        kept_accounts = accounts[: self.cap]
        self.dropped.set(len(accounts) - len(kept_accounts))
        desired: dict[GaugeFamily, dict[tuple, float]] = {family: {} for family in self.families}
        rate, posts, band_of, cadence = (desired[f] for f in (self.rate, self.posts, self.band, self.cadence))
        for account_id in kept_accounts:
            if account_id in published:
                platform, count = published[account_id]
                cadence[(account_id, platform)] = count * self.window_share
        summaries = self.summaries.of(samples, [a for a in kept_accounts if a in samples])
        for account_id, summary in summaries.items():
            platform, industry = summary.platform, industry_of(account_id)
            labels_of = {c: (account_id, platform, industry, c) for c in summary.groups}  # shared by families
            self.own_baseline.add(desired, labels_of, summary.own)
            for content_type, (mean, count) in summary.groups.items():
                labels = labels_of[content_type]
                rate[labels] = mean
                posts[labels] = count
                band = band_for(self.benchmarks, platform, industry, "" if content_type == ALL else content_type)
                if band is not None:
                    band_of[(*labels, "low")] = band[0]
                    band_of[(*labels, "high")] = band[1]
        # Each account's lowest and highest in a stable order by ER: the worker's are among them, in the
        # same order as if all its samples were sorted.
        lowest = sorted(((a, *s) for a, summary in summaries.items() for s in summary.lowest), key=lambda s: s[4])
        highest = sorted(((a, *s) for a, summary in summaries.items() for s in summary.highest), key=lambda s: s[4])
        for rank, chosen in (("bottom", lowest[:RANKED_POSTS]), ("top", highest[-RANKED_POSTS:])):
            for account_id, post_id, platform, content_type, er in chosen:
                desired[self.ranked][(post_id, account_id, platform, content_type, rank)] = er
        for family, series in desired.items():
            family.publish(series)

    def summarize(self, items: Sequence[list]) -> AccountPosts:
        """One account's figures from its samples, in the order they came (read once)."""
        items = list(items)
        groups: dict[str, list[float]] = {ALL: []}
        for _, _, content_type, _, er, *_ in items:
            groups[ALL].append(er)
            groups.setdefault(content_type, []).append(er)
        by_er = sorted(((s[0], s[1], s[2], s[4]) for s in items), key=lambda s: s[3])
        return AccountPosts(
            items[-1][1],
            {content_type: (sum(ers) / len(ers), len(ers)) for content_type, ers in groups.items()},
            self.own_baseline.summarize(items),
            by_er[:RANKED_POSTS],
            by_er[-RANKED_POSTS:],
        )

    def forget(self, moved) -> None:
        """Drop the series of the accounts for which ``moved(account_id)`` holds (their partition left)."""
        for family in self.families:
            account = 1 if family is self.ranked else 0  # engagement_post_rate_ratio's labels begin with post_id
            family.remove_where(lambda labels: moved(labels[account]))  # noqa: B023
