"""Early warning (DOMAIN.md, "Early warning: a post off track in its first hour"): an account's curve,
learned from its own matured posts, and the projection of a young post's ER at maturity.

A *sample* is a matured post as the post lifetimes keep it: [post_id, platform, content_type,
published_at, er, early], ``er`` its post ER at maturity, ``early`` its post ER at each record age
before maturity (over the followers at maturity, so a share is a ratio of engaged counts). Samples of
an older encoding have no ``early``: they count in the baseline, not in the curve.

Share reached at age A, per content type: the median over the matured posts of ER at A / ER at
maturity. A post with ER 0 at maturity gave no share (0 / 0: it says nothing of the curve's shape);
it still counts in the baseline, the median post ER, where a collapse to zero belongs.

A post is projected only where its account's median post would have gathered at least
``min_expected`` engaged interactions by that age: below, a post's count swings by chance as much as
a collapse would move it (a Poisson count of 30 has a standard deviation of 18 %; of 5, 45 %).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from statistics import median
from typing import Any

STORY = "story"
STORY_LIFE_MS = 86_400_000  # stories expire after 24 h by design (DOMAIN.md): no projection past it


@dataclass(frozen=True, slots=True)  # slots: the close's gauges keep one per account and content type
class Curve:
    posts: int  # matured posts that gave a share
    shares: tuple[float, ...]  # share of the ER at maturity reached at each record age before maturity


@dataclass(frozen=True)
class EarlyWarning:
    """``first_check``: index of the first check age among the record ages; ``maturity``: of the
    maturity age; ``min_posts``: matured posts (that gave a share) an account needs for its curve;
    ``min_expected``: engaged interactions its median post gathers by the check age, at least."""

    first_check: int
    maturity: int
    min_posts: int
    min_expected: float = 0.0

    @classmethod
    def at(
        cls, first_check_ms: int, min_posts: int, ages_ms: tuple[int, ...], maturity_ms: int, min_expected: float = 0.0
    ) -> EarlyWarning:
        """From the settings: the checks are the record ages from the first check age on, before
        maturity. Ages with none there (a deployment's, set before the early warning) leave it off
        (``enabled``), rather than stopping a worker whose settings were valid before."""
        maturity = ages_ms.index(maturity_ms)
        return cls(min(bisect.bisect_left(ages_ms, first_check_ms), maturity), maturity, min_posts, min_expected)

    @classmethod
    def of(cls, settings: Any, config: Any) -> EarlyWarning:
        """From the settings (ENGAGEMENT_EARLY_WARNING_*) and the window config's record ages."""
        return cls.at(
            int(settings.early_warning_first_check_seconds * 1000),
            settings.early_warning_min_posts,
            config.post_ages_ms,
            config.maturity_ms,
            settings.early_warning_min_expected_engaged,
        )

    @property
    def enabled(self) -> bool:
        return self.first_check < self.maturity


def learn_curves(samples: list[list], early_ages: int) -> dict[str, Curve]:
    """Content type -> its curve, from one account's samples; ``early_ages``: the record ages before
    maturity (a sample with fewer early ERs, an older encoding, gives no share)."""
    ratios: dict[str, list[list[float]]] = {}
    for sample in samples:
        if len(sample) < 6 or len(sample[5]) != early_ages or sample[4] <= 0:
            continue
        er, early = sample[4], sample[5]
        ratios.setdefault(sample[2], []).append([e / er for e in early])
    return {
        content_type: Curve(len(rows), tuple(median(row[k] for row in rows) for k in range(early_ages)))
        for content_type, rows in ratios.items()
    }


def median_post_er(samples: list[list]) -> dict[str, float]:
    """Content type -> the median post ER at maturity of one account's matured posts of that type."""
    ers: dict[str, list[float]] = {}
    for sample in samples:
        ers.setdefault(sample[2], []).append(sample[4])
    return {content_type: median(values) for content_type, values in ers.items()}


def projected_er(er_at_age: float, share: float) -> float | None:
    """The post's ER at maturity as its curve foresees it; None where the curve has reached nothing
    by that age (its matured posts gathered all their engagement later)."""
    return er_at_age / share if share > 0 else None


def checked_age(early: EarlyWarning, done: int, content_type: str, age_ms: int) -> int | None:
    """The index of the latest check age a post has passed (``done``: ages published), or None when
    it is not a young post: before the first check age, matured, or a story past its 24 h."""
    index = done - 1
    if index < early.first_check or index >= early.maturity:
        return None
    if content_type == STORY and age_ms >= STORY_LIFE_MS:
        return None
    return index


def enough_to_tell(baseline: float, followers: int, share: float, min_expected: float) -> bool:
    """Whether the account's median post (``baseline``: its ER at maturity) gathers ``min_expected``
    engaged interactions by an age where its curve reaches ``share``."""
    return baseline * followers * share >= min_expected


def off_track(projected: float, band_low: float, baseline: float | None, drop_fraction: float) -> bool:
    """Below the band's low bound, and, where the account has a baseline, below it by the drop fraction."""
    if projected >= band_low:
        return False
    return baseline is None or projected < baseline * (1 - drop_fraction)
