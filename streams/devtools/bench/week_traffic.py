"""A synthetic past week from the simulator's model (``make bench-week``'s pre-fill): the events that
give each state of the engine the size a real week of the model's traffic gives it, few per post.

What each state holds at a time E, and what this makes of the model to get there:

* **post lives** (published within the lifetime) and **tombstones** (a lifetime more): every post the
  model published in [E - days, E) gets one event in each age segment (the lifetime record ages) it
  has reached, when the model puts an event there (``expected_events``): so its life holds the
  aggregates a real one holds (the merged total, the segment it is in), and, once matured, its sample.
  The posts of the last lifetime are the live simulator's own backfill (same ids and publications:
  ``Agenda(model, live_start)``), so that the live run continues their lives; those of the lifetime
  before are the model's previous week, renamed (``-w`` for ``-p``) not to collide with them.
* **open windows**: the last ``stretch`` (rolling window + grace + one window) minute by minute: a post
  gets an event in a minute with the probability that the model gives it at least one there, and each
  account gets its account-level events (follow, unfollow, mention) as the model's Poisson stream; so
  each (minute, post) and (minute, account) bucket the real traffic holds open exists.
* **open mentions**: the mentions of the retention whose team closes them after the stretch began
  (the others leave no state, and no open window), with the teams' reply and resolve delays
  (``streams.simulator.teams``); their replies and resolves that come before E.
* **dedup ids** are not made here: they fill in the live run's first horizon (15 minutes).

Events older than the stretch are placed on a daily grid where their segment allows it (an account
with traffic in a minute makes 60 rolling records: spread out, a week of them would take an hour).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from ...simulator.model import TrafficModel
from ...simulator.profile import (
    ACCOUNT_MIX,
    ACCOUNT_RATIO,
    DECAY_TAU_DAYS,
    DWELL_MEDIAN_MS,
    DWELL_SIGMA,
    ENGAGED_MIX,
    MENTION_NEGATIVE_SHARE,
    NON_ENGAGED_RATIO,
    OTHER_POST_MIX,
)
from ...simulator.teams import (
    ANSWERED_OTHER_SHARE,
    CLOSE_AFTER_REPLY_MEDIAN_MS,
    CLOSE_AFTER_REPLY_SIGMA,
    HANDLE_DELAY_MEDIAN_MS,
    HANDLE_DELAY_SIGMA,
)
from .week_posts import DAY_MS, PastPost, WeekPlan, expected_events, past_posts

MINUTE_MS = 60_000
GRID_MS = DAY_MS  # the grid events older than the stretch are placed on, when their segment allows

MENTION_SHARE = ACCOUNT_MIX["mention"] / sum(ACCOUNT_MIX.values())


class PastWeek:
    """The events of the synthetic week, in time order, a step at a time (``steps``)."""

    def __init__(self, model: TrafficModel, plan: WeekPlan, seed: int = 0):
        self.model, self.plan = model, plan
        self.posts = past_posts(model, plan)
        self._rng = random.Random(f"{seed}:week")
        self._np = np.random.default_rng(seed)
        self._ids = 0
        self._engaged = list(ENGAGED_MIX), list(ENGAGED_MIX.values())
        self._other = list(OTHER_POST_MIX), list(OTHER_POST_MIX.values())
        self.platform_of = {a["account_id"]: a["platform"] for a in model.accounts()}
        self._post_arrays: tuple | None = None
        self._mention_ids = 0
        self.counts = {"post_events": 0, "account_events": 0, "mentions": 0, "replies": 0, "resolves": 0}

    # -- what the pre-fill reads -------------------------------------------------------------------
    def steps(self, far_step_ms: int, near_step_ms: int, chunk: int) -> Iterator[tuple[int, list[dict], bool]]:
        """(step end, events with ts in the step in ts order, whether the step's last): steps of
        ``far_step_ms`` before the stretch, of ``near_step_ms`` in it, in chunks of at most ``chunk``
        events (the dicts of a day of mentions would take a GB)."""
        plan = self.plan
        stretch_start = plan.now_ms - plan.stretch_ms
        stretch_start -= stretch_start % MINUTE_MS
        order = itertools.count()  # ties in ts keep the order made
        pending = [
            (ts, next(order), what)
            for ts, what in self._segment_events(stretch_start)
            + self._mentions(plan.now_ms - plan.retention_ms, stretch_start)
        ]
        heapq.heapify(pending)
        t = plan.since_ms
        while t < plan.now_ms:
            if t < stretch_start:
                end = min(stretch_start, t - t % far_step_ms + far_step_ms)
            else:
                end = min(plan.now_ms, t + near_step_ms)
                for minute in range(t, end, MINUTE_MS):
                    for ts, what in self._minute(minute, min(end, minute + MINUTE_MS)):
                        heapq.heappush(pending, (ts, next(order), what))
            step = []
            while pending and pending[0][0] < end:
                ts, _, what = heapq.heappop(pending)
                step.append(self._made(ts, what))
                if len(step) == chunk:
                    yield end, step, False
                    step = []
            yield end, step, True
            t = end

    # -- the parts -------------------------------------------------------------------------------------
    def _segment_events(self, before: int) -> list[tuple[int, Any]]:
        """One event per segment a post has reached before ``before``, when the model puts one there;
        on the daily grid when the segment's part before ``before`` holds a grid instant."""
        rnd = self._rng.random
        out: list[tuple[int, Any]] = []
        bounds = (0, *self.plan.ages_ms)
        for post in self.posts:
            reach = before - post.published_at
            for lo, hi in zip(bounds, bounds[1:]):
                hi = min(hi, reach)
                if hi <= lo:
                    break
                if rnd() >= 1 - math.exp(-expected_events(post, lo, hi)):
                    continue
                instant = post.published_at + lo
                instant += -instant % GRID_MS
                ts = instant if instant < post.published_at + hi else int(post.published_at + lo + rnd() * (hi - lo))
                out.append((ts, post))
        return out

    def _minute(self, start: int, end: int) -> list[tuple[int, Any]]:
        """The events of [start, end): each live post's at least one with the model's probability,
        the accounts' own (Poisson), the mentions of it and the teams' answers due in it."""
        published, spans = self._arrays()
        age = (start - published).astype(np.float64)
        tau = DECAY_TAU_DAYS * DAY_MS
        expected = np.zeros(len(published))
        for lo_span, hi_span, n in spans:  # expected_events, for every post at once
            lo = np.maximum(lo_span, age)
            hi = np.minimum(hi_span, age + (end - start))
            share = (np.exp(-lo / tau) - np.exp(-hi / tau)) / (np.exp(-lo_span / tau) - np.exp(-hi_span / tau))
            expected += np.where((hi > lo) & (age >= 0), n * share, 0.0)
        hits = np.flatnonzero(self._np.random(len(published)) < -np.expm1(-expected))
        offsets = self._np.integers(0, end - start, len(hits))
        out: list[tuple[int, Any]] = [(start + dt, self.posts[i]) for i, dt in zip(hits.tolist(), offsets.tolist())]
        out += self._mentions(start, end, others=True)
        return out

    def _arrays(self) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """The posts' publications and, per span index, (from, to, events) of each post (a missing
        span: no events)."""
        if self._post_arrays is None:
            width = max((len(p.spans) for p in self.posts), default=0)
            spans = []
            for k in range(width):
                rows = [p.spans[k] if k < len(p.spans) else (0.0, 1.0, 0) for p in self.posts]
                spans.append(tuple(np.array(column, dtype=np.float64) for column in zip(*rows)))
            self._post_arrays = np.array([p.published_at for p in self.posts], dtype=np.int64), spans
        return self._post_arrays

    def _mentions(self, start: int, end: int, others: bool = False) -> list[tuple[int, Any]]:
        """The mentions in [start, end) whose team closes them after the stretch began (all of them
        in the stretch), with their replies and resolves before E; with ``others``, the accounts'
        follows and unfollows too. As (ts, (kind, account_id, mention number, sentiment))."""
        plan, rng = self.plan, self._np
        out: list[tuple[int, Any]] = []
        stretch_start = plan.now_ms - plan.stretch_ms
        handle_mu, close_mu = math.log(HANDLE_DELAY_MEDIAN_MS), math.log(CLOSE_AFTER_REPLY_MEDIAN_MS)
        for account_id, rate in self.model.post_event_rate.items():
            per_ms = rate * ACCOUNT_RATIO / 1000.0
            if others:
                for kind in ("follow", "unfollow"):
                    n = int(rng.poisson(per_ms * (end - start) * ACCOUNT_MIX[kind] / sum(ACCOUNT_MIX.values())))
                    out += [(ts, (kind, account_id, 0, 0.0)) for ts in rng.integers(start, end, n).tolist()]
            n = int(rng.poisson(per_ms * (end - start) * MENTION_SHARE))
            ts = rng.integers(start, end, n)
            negative = rng.random(n) < MENTION_NEGATIVE_SHARE  # the teams' model, drawn for all at once
            handled = rng.lognormal(handle_mu, HANDLE_DELAY_SIGMA, n)
            answered = negative | (rng.random(n) < ANSWERED_OTHER_SHARE)
            closed = handled + np.where(answered, rng.lognormal(close_mu, CLOSE_AFTER_REPLY_SIGMA, n), 0.0)
            sentiment = np.where(negative, -0.2 - 0.8 * rng.random(n), rng.uniform(-0.2, 1.0, n)).round(3)
            kept = np.flatnonzero(ts + closed >= stretch_start)  # else closed before: no state, no open window
            for i in kept.tolist():
                t = int(ts[i])
                self._mention_ids += 1
                number = self._mention_ids
                out.append((t, ("mention", account_id, number, float(sentiment[i]))))
                self.counts["mentions"] += 1
                if answered[i] and t + handled[i] < plan.now_ms:
                    out.append((int(t + handled[i]), ("reply", account_id, number, 0.0)))
                    self.counts["replies"] += 1
                if t + closed[i] < plan.now_ms:
                    out.append((int(t + closed[i]), ("resolve", account_id, number, 0.0)))
                    self.counts["resolves"] += 1
        return out

    def _made(self, ts: int, what) -> dict:
        """The event of a pending entry: a post's (its type drawn now), or an account's."""
        if isinstance(what, PastPost):
            return self._post_event(what, ts)
        kind, account_id, number, sentiment = what
        event = self._account_event(account_id, kind, ts)
        if kind == "mention":
            event["event_id"] = f"week-m{number}"
            event["sentiment"] = sentiment
        elif kind == "reply":
            event["in_reply_to"] = f"week-m{number}"
        elif kind == "resolve":
            event["resolves"] = f"week-m{number}"
        return event

    def _post_event(self, post: PastPost, ts: int) -> dict:
        rng = self._rng
        kinds, weights = self._engaged if rng.random() < 1 / (1 + NON_ENGAGED_RATIO) else self._other
        kind = rng.choices(kinds, weights)[0]
        event = self._event(post.account_id, post.platform, kind, ts)
        event["post_id"] = post.post_id
        if kind == "dwell":
            event["dwell_ms"] = min(600_000, round(rng.lognormvariate(math.log(DWELL_MEDIAN_MS), DWELL_SIGMA)))
        elif kind == "comment":
            event["sentiment"] = round(rng.uniform(-1.0, 1.0), 3)
        self.counts["post_events"] += 1
        return event

    def _account_event(self, account_id: str, kind: str, ts: int) -> dict:
        self.counts["account_events"] += 1
        return self._event(account_id, self.platform_of[account_id], kind, ts)

    def _event(self, account_id: str, platform: str, kind: str, ts: int) -> dict:
        self._ids += 1
        return {
            "event_id": f"week-{self._ids}",
            "type": kind,
            "ts": ts,
            "platform": platform,
            "account_id": account_id,
            "user_id": f"user-{self._ids % 200_000:06d}",
        }
