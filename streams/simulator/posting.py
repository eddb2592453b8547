"""When things happen in a run (``streams.simulator.stream``): the posts an account publishes and
their schedules (the k-th of N events of a span at the decay's quantile ``(k + u_k) / N``), the
accounts' posting intervals and their account-level Poisson streams. The draws come from the run's
events generator, in the order the agenda asks for them."""

from __future__ import annotations

import bisect
import math
import random

from .profile import DECAY_TAU_DAYS, NON_ENGAGED_RATIO, POSTING_JITTER, SPANS, STORY_SPANS, collapses
from .records import Account, Post


class Posting:
    """The posts and the waits of a run's accounts, drawn from ``rng``."""

    def __init__(self, rng: random.Random, day_ms: float, seed: int, collapsing: float):
        self._rng = rng
        self._seed = seed
        self._collapsing = collapsing  # Scenario.collapsing_posts
        self.day_ms = day_ms
        self.tau_ms = DECAY_TAU_DAYS * day_ms

    def new_post(self, account: Account, published_at: int, followers: int) -> Post:
        rng = self._rng
        account.posts += 1
        post = Post()
        post.post_id = f"{account.account_id}-p{account.posts:06d}"
        post.account = account
        post.published_at = published_at
        post.content_type = account.contents[
            bisect.bisect_right(account.content_cum, rng.random() * account.content_cum[-1])
        ]
        post.er = account.er_low + account.er_width * rng.random()
        post.followers = followers
        post.collapsed = account.collapse_at is not None and published_at >= account.collapse_at
        if account.collapsing and collapses(self._seed, post.post_id, self._collapsing):
            post.collapsed = True
        post.silent = account.silent_at is not None and published_at >= account.silent_at
        post.span = 0
        return post

    def schedule(self, post: Post, not_before: float) -> float | None:
        """Move ``post`` to its first event at or after ``not_before`` (from its current span on) and
        return that event's time; None when it has no event left."""
        rnd = self._rng.random
        spans = STORY_SPANS if post.content_type == "story" else SPANS
        t0 = post.published_at
        tau = self.tau_ms
        while post.span < len(spans):
            start_days, end_days, share = spans[post.span]
            expected = post.er * post.followers * share
            engaged = round(expected)
            n = engaged + round(NON_ENGAGED_RATIO * expected)
            if n:
                # Event k of n at the decay's quantile (k + u) / n over [start, end): CDF ~ a - exp(-age/tau).
                a = math.exp(-start_days / DECAY_TAU_DAYS)
                bdn = (a - math.exp(-end_days / DECAY_TAU_DAYS)) / n
                k = 0
                age = not_before - t0
                if age > start_days * self.day_ms:
                    k = max(0, int((a - math.exp(-age / tau)) / bdn))
                while k < n:
                    t = t0 - tau * math.log(a - (k + rnd()) * bdn)
                    if t >= not_before:
                        post.k, post.n, post.a, post.bdn = k, n, a, bdn
                        left = n - k
                        post.engaged_left = engaged if k == 0 else round(engaged * left / n)
                        post.other_left = left - post.engaged_left
                        return t
                    k += 1
            post.span += 1
        return None

    def interval(self, account: Account) -> float:
        return account.interval_ms * (1 - POSTING_JITTER + 2 * POSTING_JITTER * self._rng.random())

    def account_gap(self, account: Account, t: float) -> float:
        """Time to the account's next account-level event (Poisson); a crisis starting meanwhile
        restarts the wait at its start with the crisis rate (the process is memoryless)."""
        crisis_at = account.crisis_at
        in_crisis = crisis_at is not None and t >= crisis_at
        gap = -math.log(1.0 - self._rng.random()) / (account.crisis_rate if in_crisis else account.rate)
        if crisis_at is not None and not in_crisis and t + gap >= crisis_at:
            gap = crisis_at - t - math.log(1.0 - self._rng.random()) / account.crisis_rate
        return gap
