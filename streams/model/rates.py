"""Engagement rates: pure functions of an aggregate and the account's follower count (DOMAIN.md).

Every ratio is 0..1 (dashboards show percent) and None when its denominator is 0 or unknown.
"""

from __future__ import annotations

import functools

from ..contract import TYPE_INDEX
from .aggregates import CLICK, COMMENT, FOLLOW, IMPRESSION, LIKE, REACTION, SHARE, UNFOLLOW, WindowAggregate


def ratio(numerator: float, denominator: float | None) -> float | None:
    if not denominator:
        return None
    return numerator / denominator


def engagement_rate(interactions: int, audience: int | None) -> float | None:
    """DOMAIN.md: engagement rate = interactions / audience (x 100 for percent)."""
    return ratio(interactions, audience)


@functools.lru_cache(maxsize=16)
def _type_indexes(types: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(TYPE_INDEX[t] for t in types)


def engaged_count(agg: WindowAggregate, engaged_types: tuple[str, ...]) -> int:
    counts = agg.counts
    return sum([counts[i] for i in _type_indexes(engaged_types)])


def rates(
    agg: WindowAggregate, followers: int | None, engaged_types: tuple[str, ...], engaged: int | None = None
) -> dict:
    """``engaged``: engaged_count(agg, engaged_types) when the caller has it already (a window close
    computes it for tens of thousands of records)."""
    counts = agg.counts
    if engaged is None:
        engaged = engaged_count(agg, engaged_types)
    impressions = counts[IMPRESSION]
    return {
        "er_followers": engagement_rate(engaged, followers),
        "er_impressions": engagement_rate(engaged, impressions),
        "applause": ratio(counts[LIKE] + counts[REACTION], followers),
        "amplification": ratio(counts[SHARE], followers),
        "conversation": ratio(counts[COMMENT], followers),
        "ctr": ratio(counts[CLICK], impressions),
        "avg_dwell_ms": ratio(agg.dwell_ms_sum, agg.dwell_count),
        "sentiment_mean": ratio(agg.sentiment_sum, agg.sentiment_count),
        "sentiment_negative_share": ratio(agg.sentiment_negative, agg.sentiment_count),
        "follower_growth": counts[FOLLOW] - counts[UNFOLLOW],
    }
