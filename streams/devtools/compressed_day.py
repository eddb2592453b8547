"""The compressed day of `make run`: the simulator's model day, and every horizon of the service with
it, lasts minutes instead of 24 hours, so that a new user sees the whole product (ER per post against
its band, a collapsed account's page, the crisis account's listening pages) within five minutes.

Every horizon that is about the model day is the service's real-time default divided by one factor
(86,400 s / the compressed day): the maturity age, the record ages, the lifetime, the benchmark
period, the listening SLAs, the mention retention, the windows, and the simulated teams' reply
delays. Wall-clock knobs that are about the machinery, not the day (commit interval, snapshot
interval, dedup horizon, session timeout, and the grace for events out of order), keep theirs. The
alert rules' `# tunable` durations are scaled the same way, with a floor of a few scrapes so that a
rate has points to go on.
The service's own defaults stay real time: this profile lives in the dev tooling only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..settings import Settings
from ..simulator import TrafficModel
from ..simulator.profile import MAX_LATENESS_MS
from .prometheus import fast_rules

REAL_DAY_SECONDS = 86_400.0
DEFAULT_DAY_SECONDS = 120.0  # a day in two minutes: a once-a-day poster's post matures within five
SCRAPE_INTERVAL = "1s"
# The grace is for events out of order in transport, a wall-clock matter: compressed (300 s / 720),
# it would reject as late what the simulator sends up to 2 s late. It keeps a second above that.
GRACE_FLOOR_SECONDS = MAX_LATENESS_MS / 1000 + 1
# Floors of the scaled rule durations: a rate over fewer than ~30 one-second scrapes is noise, and a
# hold shorter than a few evaluations is no hold.
RANGE_FLOOR_SECONDS, HOLD_FLOOR_SECONDS = 30.0, 10.0
# Seconds after the simulator starts when the scenarios begin: the crisis waits for the history the
# spike rules' baseline needs (at a 120 s day: the 60 s before the 30 s spike window).
COLLAPSE_AFTER_SECONDS, CRISIS_AFTER_SECONDS = 0.0, 90.0
HOLD = re.compile(r"for: (\d+)([smhd])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Settings that are durations of the model day (seconds), scaled by the factor.
SCALED_SECONDS = (
    "rolling_window_seconds",
    "window_grace_seconds",
    "mention_acknowledge_sla_seconds",
    "mention_resolve_sla_seconds",
    "mention_retention_seconds",
    "post_lifetime_seconds",
    "post_maturity_seconds",
    "benchmark_period_seconds",
    "early_warning_first_check_seconds",
    "simulate_day_seconds",
)
# A compressed day at the default rate is a day of 720 times fewer events: a post would gather a few
# engaged interactions by its first check age, where the early warning needs 30 (its
# ENGAGEMENT_EARLY_WARNING_MIN_EXPECTED_ENGAGED: fewer swing by chance as much as a collapse). Ten
# times the rate gives the busiest accounts' posts about 40.
RATE_FACTOR = 10
# Of the posts of the account chosen for it, this share collapses from its publication (the early
# warning's case): several within the five minutes.
COLLAPSING_POSTS = 0.2
# That account posts at least this often (a day), so that its curve is known within the first minutes.
CURVE_POSTS_PER_DAY = 10


@dataclass(frozen=True)
class CompressedDay:
    day_seconds: float = DEFAULT_DAY_SECONDS

    @property
    def factor(self) -> float:
        return REAL_DAY_SECONDS / self.day_seconds

    def scaled(self, seconds: float) -> float:
        return seconds / self.factor

    def settings(self, base: Settings) -> dict:
        """Overrides of ``base`` (real time: the defaults, or what the environment set) that compress
        its day, and name the simulator's collapsed and crisis accounts."""
        overrides: dict = {name: self.scaled(float(getattr(base, name))) for name in SCALED_SECONDS}
        # Windows are whole seconds; the rolling window stays a whole number of them.
        window = max(1, round(self.scaled(base.window_seconds)))
        overrides["window_seconds"] = window
        overrides["window_grace_seconds"] = max(GRACE_FLOOR_SECONDS, overrides["window_grace_seconds"])
        overrides["rolling_window_seconds"] = max(window, round(overrides["rolling_window_seconds"] / window) * window)
        overrides["post_lifetime_ages_seconds"] = tuple(
            _seconds(self.scaled(float(age))) for age in base.post_lifetime_ages_seconds
        )
        overrides["simulate_reply_delay_scale"] = 1 / self.factor
        overrides["simulate_rate"] = base.simulate_rate * RATE_FACTOR
        collapsed, crisis, collapsing = self.scenario_accounts(base)
        overrides.update(
            simulate_collapse_account=collapsed,
            simulate_collapse_after_seconds=COLLAPSE_AFTER_SECONDS,
            simulate_crisis_account=crisis,
            simulate_crisis_after_seconds=CRISIS_AFTER_SECONDS,
            simulate_collapsing_account=collapsing,
            simulate_collapsing_posts=COLLAPSING_POSTS,
        )
        return overrides

    def scenario_accounts(self, base: Settings) -> tuple[str, str, str]:
        """(collapsed, crisis, collapsing posts). The collapsed account posts most often (its ER per
        post has posts to go on first); the crisis falls on the busiest of the others (the spike rules'
        minimum volumes are counts over a window that a compressed day fills with fewer events than a
        real hour); some posts collapse of the account left whose posts gather the most events, among
        those that post often enough for their curve to be known soon."""
        model = TrafficModel(base.simulate_seed, base.simulate_accounts, rate=base.simulate_rate * RATE_FACTOR)
        collapsed = max(model.account_ids, key=lambda a: (model.posts_per_day[a], a))
        others = [a for a in model.account_ids if a != collapsed] or [collapsed]
        crisis = max(others, key=lambda a: (model.post_event_rate[a], a))
        rest = [a for a in others if a != crisis and model.posts_per_day[a] >= CURVE_POSTS_PER_DAY] or others
        collapsing = max(rest, key=lambda a: (model.post_event_rate[a] / model.posts_per_day[a], a))
        return collapsed, crisis, collapsing

    def rules(self, text: str) -> str:
        """The alert rules with their `# tunable` durations scaled (the real ones: their header)."""

        spike = max(RANGE_FLOOR_SECONDS, self.scaled(3600))
        spike_baseline = max(RANGE_FLOOR_SECONDS, self.scaled(12 * 3600))
        text = HOLD.sub(lambda m: f"for: {self._hold(int(m[1]) * UNIT_SECONDS[m[2]])}", text)
        return fast_rules(
            text,
            for_duration=None,
            baseline_range=_duration(max(RANGE_FLOOR_SECONDS, self.scaled(7 * 86400))),
            rate_range="5m",  # the pipeline alerts' window: wall clock, not the model day
            spike_range=_duration(spike),
            spike_baseline_range=_duration(spike_baseline),
            spike_history=_duration(spike + spike_baseline),
        )

    def _hold(self, real_seconds: int) -> str:
        return "0s" if real_seconds == 0 else _duration(max(HOLD_FLOOR_SECONDS, self.scaled(real_seconds)))

    def describe(self, compressed: Settings) -> str:
        """What runs, for people: ``compressed`` is ``base`` with ``settings(base)`` applied."""
        return (
            f"a compressed day: the model day and every horizon with it last {self.day_seconds:g} s, not 24 h "
            f"(posts mature at {compressed.post_maturity_seconds:g} s; listening SLAs "
            f"{compressed.mention_acknowledge_sla_seconds:g} s and {compressed.mention_resolve_sla_seconds:g} s); "
            f"{compressed.simulate_collapse_account}'s posts collapse, {compressed.simulate_crisis_account} has a "
            f"crisis from {compressed.simulate_crisis_after_seconds:g} s, "
            f"{compressed.simulate_collapsing_posts:.0%} of {compressed.simulate_collapsing_account}'s posts go off "
            f"track. Real time: make run REAL_TIME=1"
        )


def _seconds(value: float) -> str:
    return f"{value:g}"


def _duration(seconds: float) -> str:
    """A Prometheus duration of whole seconds."""
    return f"{max(1, round(seconds))}s"
