"""The traffic model: a pure, deterministic model of accounts and their events (no Kafka, no wall
clock); ``streams.simulator.producer`` paces its events into Kafka in real time.

How the traffic is shared out (the one relation that makes the dashboards plausible)
------------------------------------------------------------------------------------
With ``R`` events/s in all, a fraction ``ENGAGED_SHARE`` (0.25) of them engaged, and account ``i``
getting the share ``s_i`` of the events, the account's ER by followers over the rolling window of
``T`` seconds (ENGAGEMENT_ROLLING_WINDOW_SECONDS, one hour) is::

    ER_i = R * T * s_i * ENGAGED_SHARE / followers_i

Each account draws a target ``ER_i`` from the middle of its platform's benchmark band (DOMAIN.md), so
``s_i`` must be proportional to ``followers_i * ER_i``; the shares summing to 1 then fix the scale::

    sum_i followers_i * ER_i = R * T * ENGAGED_SHARE      (engaged events per window, all accounts)

So follower counts cannot be chosen independently of the rate: the model draws their *shape*
log-uniformly over a ``FOLLOWER_SPREAD`` (100x) range and scales them to satisfy the relation. At the
default 200 events/s and 25 accounts that gives about 20,000 .. 2,000,000 followers; the counts scale
with ``rate / n_accounts`` (build the model with another ``rate`` to get the counts for it). The spread
is kept at 100x, not 4000x, because the smallest account needs a few hundred engaged events an hour
for its hourly ER to land reliably inside a band as narrow as x's (1.04 % .. 1.48 %).

Accounts take turns by stride scheduling (each one's turn comes back after ``size / share`` units),
so every account gets its share of any stretch of traffic closely; only the type of each event is
random. A collapsed account keeps its traffic, but from the collapse time on its engaged events become
impressions (all but ``COLLAPSE_RESIDUAL`` of them), so its ER falls far below its platform's low.

Mentions and replies (DOMAIN.md, listening and response): the team answers ``REPLY_SHARE`` of its
mentions, each after a lognormal delay (median an hour, 90 % within about three), and never the rest;
the reply is the account's next event once it is due. In a crisis the account's mentions jump
``CRISIS_MENTION_FACTOR``-fold, mostly negative, while its team answers at its usual pace: as many
replies an hour as before, so most of the crisis goes unanswered.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Iterator

from ..model.bands import DEFAULT_BENCHMARKS
from ..settings import DEFAULT_ENGAGED_TYPES

# DOMAIN.md's benchmark table: average ER per post, low .. high across industries.
BENCHMARK_BANDS = DEFAULT_BENCHMARKS
PLATFORMS = tuple(BENCHMARK_BANDS)
INDUSTRIES = ("retail", "education", "entertainment and media", "nonprofit", "government",
              "food and beverage", "travel", "technology", "financial services", "health")
NAME_WORDS = (("Blue", "Northern", "Bright", "Urban", "Golden", "Silver", "Green", "Open", "Little", "Prime"),
              ("Harbor", "Works", "Studio", "Market", "Labs", "Kitchen", "Collective", "Group", "Trail", "House"))

# Share of each type among all events; impressions dominate. Engaged types sum to ENGAGED_SHARE.
TYPE_MIX = {
    "impression": 0.648, "like": 0.12, "reaction": 0.04, "dwell": 0.07, "click": 0.04, "comment": 0.025,
    "share": 0.015, "save": 0.01, "follow": 0.012, "unfollow": 0.004, "mention": 0.01,
}  # replies are not drawn: each answers a mention when its delay is up
ENGAGED_TYPES = frozenset(DEFAULT_ENGAGED_TYPES)
ENGAGED_SHARE = sum(share for kind, share in TYPE_MIX.items() if kind in ENGAGED_TYPES)
ACCOUNT_TYPES = frozenset({"follow", "unfollow", "mention", "reply"})

FOLLOWER_SPREAD = 100.0         # largest / smallest follower count before scaling
TARGET_BAND_POSITION = (0.4, 0.6)   # where in [low, high] an account's target ER is drawn
POST_POPULARITY_EXPONENT = 1.2  # Zipf skew: post k gets weight 1 / (k + 1) ** exponent
USER_POOL = 200_000
LATE_SHARE = 0.1                # events that arrive late (out of order) ...
MAX_LATENESS_MS = 2_000         # ... by less than this
DWELL_MEDIAN_MS = 15_000        # lognormal dwell: median 15 s, most between 5 and 60 s
DWELL_SIGMA = 0.7
COMMENT_NEGATIVE_SHARE = 0.15
MENTION_NEGATIVE_SHARE = 0.25   # mentions carry more complaints than comments
REPLY_SHARE = 0.95              # mentions the team answers; the others never get a reply
REPLY_DELAY_MEDIAN_MS = 3_600_000   # lognormal reply delay: median 1 h, 90 % within 2.8 h,
REPLY_DELAY_SIGMA = 0.8             # 1 in 1,000 past the 12 h SLA
CRISIS_MENTION_FACTOR = 8       # a crisis multiplies the account's mentions ...
CRISIS_NEGATIVE_SHARE = 0.8     # ... and most of them are negative
COLLAPSE_RESIDUAL = 0.01        # share of engaged events a collapsed account keeps

BATCH_SIZES = (2, 20)


@dataclass(frozen=True)
class Scenario:
    """What happens to whom in a run (times on the run's clock, in ms); by default nothing."""
    collapse_account: str | None = None
    collapse_at_ms: int | None = None  # None: from the start
    crisis_account: str | None = None
    crisis_at_ms: int | None = None  # None: from the start
    reply_delay_scale: float = 1.0  # a test with SLAs shortened by this factor keeps their proportion


class TrafficModel:
    """Accounts and their traffic, fully determined by (seed, n_accounts, rate, posts_per_account)."""

    def __init__(self, seed: int, n_accounts: int, *, rate: float = 200.0, posts_per_account: int = 12,
                 rolling_seconds: float = 3600.0):
        if n_accounts < 1 or rate <= 0 or posts_per_account < 1:
            raise ValueError("n_accounts and posts_per_account must be >= 1 and rate > 0")
        self.seed = seed
        self.rate = rate
        self.posts_per_account = posts_per_account
        rng = random.Random(f"{seed}:accounts")
        # Stratified log-uniform shape: account k gets the k-th slice of the log range, shuffled, so
        # the spread is the same whatever the seed.
        slices = [(k + rng.random()) / n_accounts for k in range(n_accounts)]
        rng.shuffle(slices)
        self._accounts: list[dict] = []
        self.target_er: dict[str, float] = {}
        shape: dict[str, float] = {}
        for index, position in enumerate(slices):
            account_id = f"acct-{index + 1:04d}"
            platform = PLATFORMS[index % len(PLATFORMS)]
            low, high = BENCHMARK_BANDS[platform]
            self.target_er[account_id] = low + (high - low) * rng.uniform(*TARGET_BAND_POSITION)
            shape[account_id] = FOLLOWER_SPREAD ** position
            self._accounts.append({
                "account_id": account_id,
                "platform": platform,
                "followers": 0,
                "industry": rng.choice(INDUSTRIES),
                "name": f"{rng.choice(NAME_WORDS[0])} {rng.choice(NAME_WORDS[1])}",
            })
        engaged_per_window = rate * rolling_seconds * ENGAGED_SHARE
        scale = engaged_per_window / sum(shape[a] * self.target_er[a] for a in shape)
        for record in self._accounts:
            record["followers"] = max(1, round(shape[record["account_id"]] * scale))
        total = sum(r["followers"] * self.target_er[r["account_id"]] for r in self._accounts)
        self.traffic_share = {r["account_id"]: r["followers"] * self.target_er[r["account_id"]] / total
                              for r in self._accounts}

    @property
    def account_ids(self) -> list[str]:
        return [record["account_id"] for record in self._accounts]

    def accounts(self) -> list[dict]:
        """The account reference records (schemas/account.schema.json)."""
        return [dict(record) for record in self._accounts]

    def stream(self, start_ms: int, scenario: Scenario = Scenario()) -> EventStream:
        """A stateful source of events; ``start_ms`` (the run's start) is part of every event_id."""
        if scenario.reply_delay_scale <= 0:
            raise ValueError(f"the reply delay scale must be > 0, not {scenario.reply_delay_scale}")
        for role, account in (("collapse", scenario.collapse_account), ("crisis", scenario.crisis_account)):
            if account is not None and account not in self.traffic_share:
                raise ValueError(f"unknown {role} account {account!r} "
                                 f"(the simulator has {self.account_ids[0]} .. {self.account_ids[-1]})")
        return EventStream(self, start_ms, scenario)

    def events(self, start_ms: int, count: int, *, batch_share: float = 0.0,
               scenario: Scenario = Scenario()) -> Iterator[dict]:
        """``count`` events on a simulated clock that starts at ``start_ms`` and runs at ``rate``."""
        stream = self.stream(start_ms, scenario)
        produced = 0
        while produced < count:
            now_ms = start_ms + int(produced * 1000 / self.rate)
            for event in stream.next_message(now_ms, batch_share)[:count - produced]:
                yield event
                produced += 1


class EventStream:
    """The event sequence of one run: sequence numbers, whose turn it is, the replies to come."""

    def __init__(self, model: TrafficModel, start_ms: int, scenario: Scenario):
        self._model = model
        self._id_prefix = f"sim{model.seed}-{start_ms}-"
        self._collapse_account = scenario.collapse_account
        self._collapse_at_ms = start_ms if scenario.collapse_at_ms is None else scenario.collapse_at_ms
        self._crisis_account = scenario.crisis_account
        self._crisis_at_ms = start_ms if scenario.crisis_at_ms is None else scenario.crisis_at_ms
        self._reply_delay_median_ms = REPLY_DELAY_MEDIAN_MS * scenario.reply_delay_scale
        self._rng = random.Random(f"{model.seed}:events")
        # Its own generator, so that a collapse leaves every other draw (and account) unchanged.
        self._collapse_rng = random.Random(f"{model.seed}:collapse")
        self._sequence = itertools.count(1)
        self._platform = {r["account_id"]: r["platform"] for r in model.accounts()}
        self._types = list(TYPE_MIX)
        self._type_cum = list(itertools.accumulate(TYPE_MIX.values()))
        crisis_mix = {**TYPE_MIX, "mention": TYPE_MIX["mention"] * CRISIS_MENTION_FACTOR}
        self._crisis_type_cum = list(itertools.accumulate(crisis_mix.values()))
        popularity = [1 / (k + 1) ** POST_POPULARITY_EXPONENT for k in range(model.posts_per_account)]
        self._post_cum = list(itertools.accumulate(popularity))
        # Stride scheduling: (next turn, account id); random phases so accounts do not start in lockstep.
        self._turns = [(self._rng.random() / share, account_id)
                       for account_id, share in model.traffic_share.items()]
        heapq.heapify(self._turns)
        # Per account, the replies its team will send: a heap of (due ts, mention id, mention ts).
        self._replies: dict[str, list[tuple[int, str, int]]] = {a: [] for a in model.traffic_share}
        self._net_follows: Counter[str] = Counter()

    def accounts(self) -> list[dict]:
        """The account records as of now: followers drift by the follows and unfollows produced."""
        records = self._model.accounts()
        for record in records:
            record["followers"] = max(0, record["followers"] + self._net_follows[record["account_id"]])
        return records

    def next_message(self, now_ms: int, batch_share: float = 0.0) -> list[dict]:
        """The events of one message: one event, or (with probability batch_share) a batch of 2-20
        events, always of a single account."""
        size = self._rng.randint(*BATCH_SIZES) if self._rng.random() < batch_share else 1
        turn, account_id = heapq.heappop(self._turns)
        heapq.heappush(self._turns, (turn + size / self._model.traffic_share[account_id], account_id))
        return [self._event(now_ms, account_id) for _ in range(size)]

    def _event(self, now_ms: int, account_id: str) -> dict:
        rng = self._rng
        replies = self._replies[account_id]
        if replies and replies[0][0] <= now_ms:
            return self._reply(now_ms, account_id, heapq.heappop(replies))
        crisis = self._in_crisis(account_id, now_ms)
        cumulative = self._crisis_type_cum if crisis else self._type_cum
        kind = self._types[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
        ts = now_ms - int(rng.random() * MAX_LATENESS_MS) if rng.random() < LATE_SHARE else now_ms
        event = {"event_id": f"{self._id_prefix}{next(self._sequence)}", "type": kind, "ts": ts,
                 "platform": self._platform[account_id], "account_id": account_id}
        if kind not in ACCOUNT_TYPES:
            post = bisect.bisect_right(self._post_cum, rng.random() * self._post_cum[-1])
            event["post_id"] = f"{account_id}-post-{post + 1:04d}"
            event["user_id"] = self._user_id()
        if kind == "dwell":
            event["dwell_ms"] = min(600_000, round(rng.lognormvariate(math.log(DWELL_MEDIAN_MS), DWELL_SIGMA)))
        elif kind == "comment":
            event["sentiment"] = self._sentiment(COMMENT_NEGATIVE_SHARE)
        elif kind in ("follow", "unfollow"):
            event["user_id"] = self._user_id()
            self._net_follows[account_id] += 1 if kind == "follow" else -1
        elif kind == "mention":
            event["user_id"] = self._user_id()
            event["sentiment"] = self._sentiment(CRISIS_NEGATIVE_SHARE if crisis else MENTION_NEGATIVE_SHARE)
            self._plan_reply(event, crisis)
        if kind in ENGAGED_TYPES and self._collapsed(account_id, event["ts"]):
            event["type"] = "impression"
            event.pop("sentiment", None)
        return event

    def _plan_reply(self, mention: dict, crisis: bool) -> None:
        """The team answers the usual number of mentions an hour: in a crisis, a smaller share."""
        rng = self._rng
        if rng.random() >= (REPLY_SHARE / CRISIS_MENTION_FACTOR if crisis else REPLY_SHARE):
            return
        delay = rng.lognormvariate(math.log(self._reply_delay_median_ms), REPLY_DELAY_SIGMA)
        heapq.heappush(self._replies[mention["account_id"]],
                       (mention["ts"] + int(delay), mention["event_id"], mention["ts"]))

    def _reply(self, now_ms: int, account_id: str, planned: tuple[int, str, int]) -> dict:
        _, mention_id, mention_ts = planned
        return {"event_id": f"{self._id_prefix}{next(self._sequence)}", "type": "reply",
                "ts": max(now_ms, mention_ts), "platform": self._platform[account_id], "account_id": account_id,
                "user_id": account_id, "in_reply_to": mention_id}

    def _in_crisis(self, account_id: str, now_ms: int) -> bool:
        return account_id == self._crisis_account and now_ms >= self._crisis_at_ms

    def _collapsed(self, account_id: str, ts: int) -> bool:
        return (account_id == self._collapse_account and ts >= self._collapse_at_ms
                and self._collapse_rng.random() >= COLLAPSE_RESIDUAL)

    def _user_id(self) -> str:
        return f"user-{int(self._rng.random() * USER_POOL):06d}"  # faster than randrange

    def _sentiment(self, negative_share: float) -> float:
        if self._rng.random() < negative_share:
            return round(self._rng.uniform(-1.0, -0.2), 3)
        return round(min(1.0, max(-0.2, self._rng.gauss(0.5, 0.3))), 3)
