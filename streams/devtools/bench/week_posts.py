"""The posts of ``make bench-week``'s synthetic week (``week_traffic``): the model's own, with the
events the model gives each of them by age."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ...simulator.agenda import Agenda
from ...simulator.model import TrafficModel
from ...simulator.profile import DECAY_TAU_DAYS, NON_ENGAGED_RATIO, POST_LIFE_DAYS, SPANS, STORY_SPANS
from ...simulator.scenario import Scenario

DAY_MS = 86_400_000


@dataclass(frozen=True)
class WeekPlan:
    now_ms: int  # E: the pre-fill's last instant; every event is before it
    live_start_ms: int  # when the live simulator starts (its backfill posts are the live ones)
    days: float  # how far back posts are published (lifetime + benchmark period: every tombstone)
    ages_ms: tuple[int, ...]  # the lifetime record ages: the segments' ends
    retention_ms: int  # open mentions are kept this long
    stretch_ms: int  # the last stretch, minute by minute: rolling window + grace + one window

    @property
    def since_ms(self) -> int:
        return self.now_ms - int(self.days * DAY_MS)


@dataclass(slots=True)
class PastPost:
    post_id: str
    account_id: str
    platform: str
    published_at: int
    content_type: str
    spans: tuple[tuple[float, float, int], ...]  # (from, to ms of age, the model's events in it)

    def record(self) -> dict:
        return {
            "post_id": self.post_id,
            "account_id": self.account_id,
            "platform": self.platform,
            "published_at": self.published_at,
            "content_type": self.content_type,
        }


def past_posts(model: TrafficModel, plan: WeekPlan) -> list[PastPost]:
    """The posts published in [E - days, E) (and those after E up to the live start, without events
    here: their records only), the older week's renamed; sorted by publication."""
    life_ms = int(POST_LIFE_DAYS * model.day_seconds * 1000)
    out = []
    for start, rename in ((plan.live_start_ms, False), (plan.live_start_ms - life_ms, True)):
        for post in Agenda(model, start, Scenario()).published:
            if post.published_at < plan.since_ms:
                continue
            spans = STORY_SPANS if post.content_type == "story" else SPANS
            counts = []
            for start_days, end_days, share in spans:  # the model's counts (streams.simulator.posting)
                expected = post.er * post.followers * share
                counts.append(
                    (start_days * DAY_MS, end_days * DAY_MS, round(expected) + round(NON_ENGAGED_RATIO * expected))
                )
            post_id = post.post_id.replace("-p", "-w") if rename else post.post_id
            out.append(
                PastPost(
                    post_id,
                    post.account.account_id,
                    post.account.platform,
                    post.published_at,
                    post.content_type,
                    tuple(counts),
                )
            )
    out.sort(key=lambda p: p.published_at)
    return out


def expected_events(post: PastPost, from_age: float, to_age: float) -> float:
    """The model's expected events of ``post`` at ages [from, to): each span's count spread by the
    decay exp(-age / tau) over the span."""
    tau = DECAY_TAU_DAYS * DAY_MS
    total = 0.0
    for start, end, n in post.spans:
        lo, hi = max(start, from_age), min(end, to_age)
        if n and hi > lo:
            total += n * (math.exp(-lo / tau) - math.exp(-hi / tau)) / (math.exp(-start / tau) - math.exp(-end / tau))
    return total
