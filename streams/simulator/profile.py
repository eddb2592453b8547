"""The traffic model's profile: what real accounts, posts and their events look like (the mixes, the
benchmark bands, the decay) and the pure helpers derived from it; ``streams.simulator.model`` builds
the accounts from it, ``streams.simulator.stream`` their events.

What is modelled, and why
-------------------------
DOMAIN.md's benchmark band is the average engagement rate **per post**, at maturity: the engaged
interactions a post gathers in its first day, over the account's followers. So the model draws the
ER of each *post*, and everything else follows from how real accounts behave:

* **Accounts** post at their own pace: ``posts_per_day`` is spread log-uniformly from once a day to
  72 a day (every 20 minutes), the extremes exact, so any two or more accounts include one of each.
  Each account posts at a regular interval with +-30 % jitter and a random phase.
* **Posts** have a content type drawn from their platform's mix (``CONTENT_MIX``; a story is an
  instagram post) and an ER at maturity ``ER_p`` drawn uniformly from the middle 80 % of the
  platform's benchmark band. In the post's first day it gets exactly ``round(ER_p * followers)``
  engaged events (followers at publication), so its ER at maturity is its drawn ER up to rounding.
* **Engagement decays** with the post's age as ``exp(-age / tau)``, ``tau`` = a quarter of a day:
  98 % of a post's engagement comes in its first day, the rest in the next days (expected counts,
  rounded), none after ``POST_LIFE_DAYS`` (7 days); a story gets nothing after a day (it expires).
  Impressions and dwells follow the same decay, ``NON_ENGAGED_RATIO`` of them per engaged event
  (TYPE_MIX's proportions). Within a span the k-th of N events is at the decay's quantile
  ``(k + u_k) / N`` (``u_k`` uniform), so the counts are exact and the times still irregular.
* **Account-level events** (follow, unfollow, mention) come as a Poisson stream per account, at a rate
  proportional to the account's mean post-level rate (TYPE_MIX's proportions again).

The hourly totals are then whatever they really are, not calibrated to any band: an account that posts
once a day gets about ``ER_p / 23`` of its followers' engagement in an average hour (about ``0.16 *
ER_p`` in the hour after a post, then falling: far below the band), and one that posts 72 times a day
about ``3 * ER_p`` an hour (the sum of ~70 posts of various ages: far above it). Comparing with the
band is the engine's job, post by post at maturity.
"""

from __future__ import annotations

import math
import random

from ..contract import CONTENT_TYPES
from ..model.bands import DEFAULT_BENCHMARKS
from ..settings import DEFAULT_ENGAGED_TYPES
from .teams import ANSWERED_OTHER_SHARE

# DOMAIN.md's benchmark table: average ER per post, low .. high across industries.
BENCHMARK_BANDS = DEFAULT_BENCHMARKS
PLATFORMS = tuple(BENCHMARK_BANDS)
INDUSTRIES = (
    "retail",
    "education",
    "entertainment and media",
    "nonprofit",
    "government",
    "food and beverage",
    "travel",
    "technology",
    "financial services",
    "health",
)
NAME_WORDS = (
    ("Blue", "Northern", "Bright", "Urban", "Golden", "Silver", "Green", "Open", "Little", "Prime"),
    ("Harbor", "Works", "Studio", "Market", "Labs", "Kitchen", "Collective", "Group", "Trail", "House"),
)

# Proportions of the event types; impressions dominate. Post-level types are drawn per post (engaged
# among engaged, the others among the others), account-level ones per account; replies and resolves
# are not drawn: each is the team's, when its delay after a mention is up.
TYPE_MIX = {
    "impression": 0.648,
    "like": 0.12,
    "reaction": 0.04,
    "dwell": 0.07,
    "click": 0.04,
    "comment": 0.025,
    "share": 0.015,
    "save": 0.01,
    "follow": 0.012,
    "unfollow": 0.004,
    "mention": 0.01,
}
ENGAGED_TYPES = frozenset(DEFAULT_ENGAGED_TYPES)
ACCOUNT_TYPES = frozenset({"follow", "unfollow", "mention", "reply", "resolve"})
ENGAGED_MIX = {kind: share for kind, share in TYPE_MIX.items() if kind in ENGAGED_TYPES}
OTHER_POST_MIX = {
    kind: share for kind, share in TYPE_MIX.items() if kind not in ENGAGED_TYPES and kind not in ACCOUNT_TYPES
}
ACCOUNT_MIX = {kind: share for kind, share in TYPE_MIX.items() if kind in ACCOUNT_TYPES}
POST_LEVEL_SHARE = sum(ENGAGED_MIX.values()) + sum(OTHER_POST_MIX.values())
NON_ENGAGED_RATIO = sum(OTHER_POST_MIX.values()) / sum(ENGAGED_MIX.values())  # impressions + dwells per engaged
ACCOUNT_RATIO = sum(ACCOUNT_MIX.values()) / POST_LEVEL_SHARE  # account-level events per post-level event

# What a post can be, per platform (weights); every type is one of the post schema's.
CONTENT_MIX: dict[str, dict[str, float]] = {
    "instagram": {"image": 0.35, "carousel": 0.2, "reel": 0.3, "story": 0.15},
    "tiktok": {"video": 0.9, "live": 0.1},
    "facebook": {"text": 0.15, "image": 0.35, "video": 0.25, "link": 0.15, "live": 0.1},
    "x": {"text": 0.45, "image": 0.25, "video": 0.15, "link": 0.15},
    "linkedin": {"text": 0.3, "image": 0.3, "video": 0.15, "link": 0.15, "carousel": 0.1},
}
assert set(CONTENT_MIX) == set(PLATFORMS)
assert all(kind in CONTENT_TYPES for mix in CONTENT_MIX.values() for kind in mix)

POSTS_PER_DAY_RANGE = (1.0, 72.0)  # from once a day to every 20 minutes
POSTING_JITTER = 0.3  # each interval is the account's regular one +-30 %
ER_BAND_MARGIN = 0.1  # a post's ER at maturity: uniform in [low + 0.1 w, high - 0.1 w]
DECAY_TAU_DAYS = 0.25  # engagement intensity ~ exp(-age / tau)
MATURITY_DAYS = 1.0  # the post ER the band is about: its first day
POST_LIFE_DAYS = 7.0  # no event after this age
STORY_LIFE_DAYS = 1.0  # stories expire
FIRST_DAY_SHARE = 1 - math.exp(-MATURITY_DAYS / DECAY_TAU_DAYS)
# Engaged events after maturity, per engaged event of the first day (the decay's expected remainder).
AFTER_MATURITY = (
    math.exp(-MATURITY_DAYS / DECAY_TAU_DAYS) - math.exp(-POST_LIFE_DAYS / DECAY_TAU_DAYS)
) / FIRST_DAY_SHARE
SPANS = ((0.0, MATURITY_DAYS, 1.0), (MATURITY_DAYS, POST_LIFE_DAYS, AFTER_MATURITY))  # (from, to, share)
STORY_SPANS = ((0.0, STORY_LIFE_DAYS, 1.0),)
assert STORY_LIFE_DAYS == MATURITY_DAYS  # a story's one span is the first day

FOLLOWER_SPREAD = 100.0  # largest / smallest follower count before scaling
USER_POOL = 200_000
LATE_SHARE = 0.1  # events that arrive late (out of order) ...
MAX_LATENESS_MS = 2_000  # ... by less than this
DWELL_MEDIAN_MS = 15_000  # lognormal dwell: median 15 s, most between 5 and 60 s
DWELL_SIGMA = 0.7
COMMENT_NEGATIVE_SHARE = 0.15
MENTION_NEGATIVE_SHARE = 0.25  # mentions carry more complaints than comments
CRISIS_MENTION_FACTOR = 8  # a crisis multiplies the account's mentions ...
CRISIS_NEGATIVE_SHARE = 0.8  # ... and most of them are negative
COLLAPSE_RESIDUAL = 0.01  # share of engaged events a collapsed post keeps
# The teams' replies and resolves per mention (every mention is closed once), and per post-level event.
TEAM_EVENTS_PER_MENTION = MENTION_NEGATIVE_SHARE + (1 - MENTION_NEGATIVE_SHARE) * ANSWERED_OTHER_SHARE + 1
TEAM_RATIO = TEAM_EVENTS_PER_MENTION * ACCOUNT_MIX["mention"] / POST_LEVEL_SHARE


def collapses(seed: int, post_id: str, share: float) -> bool:
    """Whether a post collapses from its publication under ``Scenario.collapsing_posts = share``."""
    return share > 0 and random.Random(f"{seed}:collapsing:{post_id}").random() < share


def posts_per_day_values(n_accounts: int) -> list[float]:
    """The posting rates of ``n_accounts`` accounts, sorted: log-uniform over POSTS_PER_DAY_RANGE by
    stratum, the extremes exact (one account: once a day)."""
    low, high = POSTS_PER_DAY_RANGE
    if n_accounts == 1:
        return [low]
    return [low * (high / low) ** (k / (n_accounts - 1)) for k in range(n_accounts - 1)] + [high]


def _content_life(platform: str) -> float:
    """Expected engaged events over a post's life per engaged event of its first day, over the
    platform's content mix (a story has no life after its first day)."""
    mix = CONTENT_MIX[platform]
    return sum(w * (1.0 if kind == "story" else 1.0 + AFTER_MATURITY) for kind, w in mix.items()) / sum(mix.values())


def events_per_post_follower(platform: str) -> float:
    """Expected post-level events of one post per follower of its account, over the post's life."""
    low, high = BENCHMARK_BANDS[platform]
    return (low + high) / 2 * (1 + NON_ENGAGED_RATIO) * _content_life(platform)
