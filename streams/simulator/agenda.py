"""The agenda of a run: what happens next, and the events it makes (``streams.simulator.stream``
merges and batches them).

Time is the model's own: it decides when every event happens (a heap merge of per-post schedules, the
accounts' publication schedules, their account-level streams and the replies to come), so the total
rate follows the posting cycles; follower counts are scaled so that its long-run mean is ``rate``.
``day_seconds`` is the length of a model day on the run's clock (86,400 s; a test that shortens the
post maturity shortens the day too): posting intervals, decay, maturity, post life and the backfill
scale with it, reply delays keep their own ``reply_delay_scale``. The stream starts in a steady state:
each account already has the posts it published in the last 7 model days (their records come out at
the start), and their events from the start on are produced.

The agenda is a calendar queue of (time, seq, kind, source) entries: each live post's next event, each
account's next publication and next account-level event, the teams' replies and resolves to come.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections import Counter, deque
from collections.abc import Iterator
from typing import Protocol

from .posting import Posting
from .profile import (
    ACCOUNT_MIX,
    COLLAPSE_RESIDUAL,
    COMMENT_NEGATIVE_SHARE,
    CRISIS_MENTION_FACTOR,
    CRISIS_NEGATIVE_SHARE,
    DWELL_MEDIAN_MS,
    DWELL_SIGMA,
    ENGAGED_MIX,
    LATE_SHARE,
    MAX_LATENESS_MS,
    MENTION_NEGATIVE_SHARE,
    OTHER_POST_MIX,
    POST_LIFE_DAYS,
    USER_POOL,
)
from .records import Post, new_account
from .scenario import Scenario
from .teams import Team

BUCKET_EVENTS = 256  # the agenda's buckets hold about this many events

_POST, _PUBLISH, _ACCOUNT, _REPLY, _RESOLVE = range(5)  # what an agenda entry is


class Model(Protocol):
    """What a run reads of its ``TrafficModel`` (``streams.simulator.model``, which imports the stream:
    this keeps the imports one way)."""

    seed: int
    rate: float
    day_seconds: float
    posts_per_day: dict[str, float]
    post_event_rate: dict[str, float]

    def accounts(self) -> list[dict]: ...


class Agenda:
    """The posts and events of one run in model order (``events``), and the posts published so far."""

    def __init__(self, model: Model, start_ms: int, scenario: Scenario):
        self._id_prefix = f"sim{model.seed}-{start_ms}-"
        day_ms = model.day_seconds * 1000.0
        self._rng = random.Random(f"{model.seed}:events")
        self._team = Team(random.Random(f"{model.seed}:teams"), scenario.reply_delay_scale)
        # Its own generator, so that a collapse leaves every other draw unchanged.
        self._collapse_rng = random.Random(f"{model.seed}:collapse")
        self._posting = posting = Posting(self._rng, day_ms, model.seed, scenario.collapsing_posts)
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self.net_follows: Counter[str] = Counter()
        self.published: deque[Post] = deque()  # published, record not returned yet
        rng = self._rng
        entries: list = []  # the agenda at the start: each account's next publication and event, each post's
        backfill: list[Post] = []
        life_ms = POST_LIFE_DAYS * day_ms
        for record in model.accounts():
            account_id = record["account_id"]
            interval_ms = day_ms / model.posts_per_day[account_id]
            account = new_account(record, interval_ms, model.post_event_rate[account_id], scenario, start_ms)
            # The posts of the last 7 days, at the account's pace from a random phase.
            t = start_ms - life_ms + rng.random() * account.interval_ms
            while t < start_ms and scenario.posts:
                backfill.append(posting.new_post(account, int(t), account.followers))
                t += posting.interval(account)
            if scenario.posts:
                entries.append((t, next(self._seq), _PUBLISH, account))
            entries.append((start_ms + posting.account_gap(account, start_ms), next(self._seq), _ACCOUNT, account))
        backfill.sort(key=lambda post: post.published_at)
        for post in backfill:
            self.published.append(post)
            first = posting.schedule(post, start_ms)
            if first is not None:
                entries.append((first, next(self._seq), _POST, post))
        # The agenda: a calendar queue of (time, seq, kind, source) in buckets of about BUCKET_EVENTS
        # events (a heap of 100,000 live posts costs more per event than the rest of the model).
        self._inverse_width = model.rate / (BUCKET_EVENTS * 1000.0)
        self._buckets: dict[int, list] = {}
        for entry in entries:
            self._buckets.setdefault(int(entry[0] * self._inverse_width), []).append(entry)
        self._bucket_order = list(self._buckets)
        heapq.heapify(self._bucket_order)

    def events(self) -> Iterator[tuple[int, int, dict]]:
        """(due ms, lateness ms, event) in model order, forever."""
        posting = self._posting
        schedule, new_post, interval, account_gap = (
            posting.schedule,
            posting.new_post,
            posting.interval,
            posting.account_gap,
        )
        rnd = self._rng.random
        collapse_rnd = self._collapse_rng.random
        heappush, heappop, insort = heapq.heappush, heapq.heappop, bisect.insort
        log, bisect_right = math.log, bisect.bisect_right
        seq, ids, prefix = self._seq, self._ids, self._id_prefix
        tau = posting.tau_ms
        buckets, bucket_order, inverse_width = self._buckets, self._bucket_order, self._inverse_width
        current: list = []  # the bucket being consumed, sorted; position, its length, its index
        position = end = 0
        current_index = -1
        engaged_kinds = list(ENGAGED_MIX)
        engaged_cum = [c / sum(ENGAGED_MIX.values()) for c in itertools.accumulate(ENGAGED_MIX.values())]
        engaged_cum[-1] = 2.0  # above any draw in [0, 1], rounding included
        impression_share = OTHER_POST_MIX["impression"] / sum(OTHER_POST_MIX.values())
        late_scale = MAX_LATENESS_MS / LATE_SHARE
        account_kinds = list(ACCOUNT_MIX)
        account_cum = list(itertools.accumulate(ACCOUNT_MIX.values()))
        crisis_cum = list(
            itertools.accumulate(
                share * (CRISIS_MENTION_FACTOR if kind == "mention" else 1) for kind, share in ACCOUNT_MIX.items()
            )
        )
        dwell_mu = math.log(DWELL_MEDIAN_MS)
        handle = self._team.handle
        lognormvariate = self._rng.lognormvariate
        sentiment = self._sentiment
        net_follows = self.net_follows
        published = self.published
        while True:
            if position == end:
                current_index = heappop(bucket_order)
                current = buckets.pop(current_index)
                current.sort()
                position, end = 0, len(current)
            t, _, kind, source = current[position]
            position += 1
            due = int(t)
            if kind == _POST:
                post = source
                engaged_left = post.engaged_left
                x = rnd() * (engaged_left + post.other_left)
                if x < engaged_left:  # x / engaged_left is uniform again: it draws the type
                    post.engaged_left = engaged_left - 1
                    kind = engaged_kinds[bisect_right(engaged_cum, x / engaged_left)]
                    engaged = True
                else:  # and (x - engaged_left) / other_left
                    other_left = post.other_left
                    post.other_left = other_left - 1
                    kind = "impression" if x - engaged_left < impression_share * other_left else "dwell"
                    engaged = False
                k = post.k + 1
                if k < post.n:
                    post.k = k
                    following = post.published_at - tau * log(post.a - (k + rnd()) * post.bdn)
                else:
                    post.span += 1
                    following = schedule(post, t)
                if following is not None:
                    entry = (following, next(seq), _POST, post)
                    index = int(following * inverse_width)
                    if index == current_index:
                        insort(current, entry, position)
                        end += 1
                    else:
                        bucket = buckets.get(index)
                        if bucket is None:
                            buckets[index] = [entry]
                            heappush(bucket_order, index)
                        else:
                            bucket.append(entry)
                account = post.account
                u = rnd()
                late = int(u * late_scale) if u < LATE_SHARE else 0
                ts = due - late
                if ts < post.published_at:
                    ts = post.published_at
                event = {
                    "event_id": f"{prefix}{next(ids)}",
                    "type": kind,
                    "ts": ts,
                    "platform": account.platform,
                    "account_id": account.account_id,
                    "post_id": post.post_id,
                    "user_id": f"user-{int(rnd() * USER_POOL):06d}",
                }
                if kind == "dwell":
                    event["dwell_ms"] = min(600_000, round(lognormvariate(dwell_mu, DWELL_SIGMA)))
                elif kind == "comment":
                    event["sentiment"] = sentiment(COMMENT_NEGATIVE_SHARE)
                if post.silent:  # dropped once drawn, so that every other draw stays the same
                    continue
                if engaged and post.collapsed and collapse_rnd() >= COLLAPSE_RESIDUAL:
                    event["type"] = "impression"
                    event.pop("sentiment", None)
                yield due, late, event
                continue
            if kind == _ACCOUNT:
                account = source
                crisis = account.crisis_at is not None and t >= account.crisis_at
                cumulative = crisis_cum if crisis else account_cum
                kind = account_kinds[bisect_right(cumulative, rnd() * cumulative[-1])]
                account_id = account.account_id
                u = rnd()
                late = int(u * late_scale) if u < LATE_SHARE else 0
                event = {
                    "event_id": f"{prefix}{next(ids)}",
                    "type": kind,
                    "ts": due - late,
                    "platform": account.platform,
                    "account_id": account_id,
                    "user_id": f"user-{int(rnd() * USER_POOL):06d}",
                }
                nexts = [(t + account_gap(account, t), next(seq), _ACCOUNT, account)]
                if kind == "mention":
                    event["sentiment"] = sentiment(CRISIS_NEGATIVE_SHARE if crisis else MENTION_NEGATIVE_SHARE)
                    # The team handles the usual number of mentions an hour: in a crisis, a smaller share.
                    if not crisis or rnd() < 1 / CRISIS_MENTION_FACTOR:
                        closes = account.stop_closing_at is None or t < account.stop_closing_at
                        for delay, action in zip(handle(event["sentiment"], closes), (_REPLY, _RESOLVE)):
                            if delay is not None:
                                # After the mention's own time (an out-of-order one happened earlier),
                                # never before now.
                                due_at = max(t, event["ts"] + delay)
                                nexts.append((due_at, next(seq), action, (account, event["event_id"])))
                else:
                    net_follows[account_id] += 1 if kind == "follow" else -1
            elif kind == _REPLY or kind == _RESOLVE:
                account, mention_id = source
                # The team's own action: never late, so never before its mention.
                late = 0
                event = {
                    "event_id": f"{prefix}{next(ids)}",
                    "type": "reply" if kind == _REPLY else "resolve",
                    "ts": due,
                    "platform": account.platform,
                    "account_id": account.account_id,
                    "user_id": account.account_id,
                    "in_reply_to" if kind == _REPLY else "resolves": mention_id,
                }
                nexts = ()  # type: ignore[assignment]  # the shared empty tuple: nothing allocated per action
            else:  # _PUBLISH: a new post, and the account's next one
                account = source
                followers = max(1, account.followers + net_follows[account.account_id])
                post = new_post(account, due, followers)
                published.append(post)
                nexts = [(t + interval(account), next(seq), _PUBLISH, account)]
                first = schedule(post, due)
                if first is not None:
                    nexts.append((first, next(seq), _POST, post))
                event = None  # type: ignore[assignment]  # a publication is no event: not yielded below
            for entry in nexts:
                index = int(entry[0] * inverse_width)
                if index == current_index:
                    insort(current, entry, position)
                    end += 1
                elif index in buckets:
                    buckets[index].append(entry)
                else:
                    buckets[index] = [entry]
                    heappush(bucket_order, index)
            if event is not None:
                yield due, late, event

    def _sentiment(self, negative_share: float) -> float:
        if self._rng.random() < negative_share:
            return round(self._rng.uniform(-1.0, -0.2), 3)
        return round(min(1.0, max(-0.2, self._rng.gauss(0.5, 0.3))), 3)
