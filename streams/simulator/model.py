"""The traffic model: a pure, deterministic model of accounts, the posts they publish and the events
those posts and accounts get (no Kafka, no wall clock); ``streams.simulator.producer`` paces it into
Kafka in real time.

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

Time is the model's own: it decides when every event happens (a heap merge of per-post schedules, the
accounts' publication schedules, their account-level streams and the replies to come), so the total
rate follows the posting cycles; follower counts are scaled so that its long-run mean is ``rate``.
``day_seconds`` is the length of a model day on the run's clock (86,400 s; a test that shortens the
post maturity shortens the day too): posting intervals, decay, maturity, post life and the backfill
scale with it, reply delays keep their own ``reply_delay_scale``. The stream starts in a steady state:
each account already has the posts it published in the last 7 model days (their records come out at
the start), and their events from the start on are produced.

Follower counts: a log-uniform *shape* over ``FOLLOWER_SPREAD`` (100x), scaled for the rate. At 200
events/s over 25 accounts that is about 20,000 .. 2,000,000 followers; the counts scale with ``rate /
n_accounts`` and with ``day_seconds`` (a shorter day packs a post's engagement into less time).

A collapsed account keeps its traffic, but its posts published from the collapse on lose their
engagement: their engaged events become impressions (all but ``COLLAPSE_RESIDUAL`` of them). Posts
published before keep theirs, so the account's hourly ER falls over hours, its per-post ER with the
first collapsed posts that mature. A *silent* collapse goes further: the account's posts published
from it on get no event at all (their records still come out), so each counts at a post ER of 0.

Collapsing posts (the early warning's case, DOMAIN.md): a healthy account's post that collapses the
same way from its publication, each post with the probability ``Scenario.collapsing_posts`` (of one
account, or of every account), a draw of its own (``collapses``: a test knows which posts): the other
posts and events stay as they were.

Mentions, replies and resolves (DOMAIN.md, listening and response): each account's team replies to
what needs an answer and closes every mention, answered or not (``streams.simulator.teams``: the
shares and delays, and where they come from). In a crisis the account's mentions jump
``CRISIS_MENTION_FACTOR``-fold, mostly negative, while its team works at its usual pace: it handles as
many mentions an hour as before, so most of the crisis waits, neither answered nor closed. A team that
stops closing (``Scenario.stop_closing_account``) still replies, but closes nothing from then on.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass

from ..contract import CONTENT_TYPES
from ..model.bands import DEFAULT_BENCHMARKS
from ..settings import DEFAULT_ENGAGED_TYPES
from .teams import ANSWERED_OTHER_SHARE, Team

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

BATCH_SIZES = (2, 20)
BUCKET_EVENTS = 256  # the agenda's buckets hold about this many events
MAX_LOOKAHEAD = 10_000  # next_message: events looked at to fill one batch of one account
EVENTS_STEP_MS = 1_000  # TrafficModel.events: messages_until every second of the run's clock
RUN_STEP_MS = 60_000  # TrafficModel.run: every minute (the batches of a tick of that length)

_POST, _PUBLISH, _ACCOUNT, _REPLY, _RESOLVE = range(5)  # what an agenda entry is


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


@dataclass(frozen=True)
class Scenario:
    """What happens to whom in a run (times on the run's clock, in ms); by default nothing."""

    collapse_account: str | None = None
    collapse_at_ms: int | None = None  # None: from the start
    silent_account: str | None = None  # a silent collapse: its new posts get no event at all
    silent_at_ms: int | None = None  # None: from the start
    crisis_account: str | None = None
    crisis_at_ms: int | None = None  # None: from the start
    reply_delay_scale: float = 1.0  # a test with SLAs shortened by this factor keeps their proportion
    stop_closing_account: str | None = None  # its team replies but closes no mention ...
    stop_closing_at_ms: int | None = None  # ... from then on (None: from the start)
    # False: no posts, only the accounts' own events and their teams' (a listening test at full volume
    # without the post-level events, 97 % of the traffic, that do not change them).
    posts: bool = True
    collapsing_posts: float = 0.0  # probability that a post collapses from its publication
    collapsing_account: str | None = None  # whose posts may collapse; None: every account's


class TrafficModel:
    """Accounts, their posts and their traffic, fully determined by (seed, n_accounts, rate, day_seconds)."""

    def __init__(self, seed: int, n_accounts: int, *, rate: float = 200.0, day_seconds: float = 86400.0):
        if n_accounts < 1 or rate <= 0 or day_seconds <= 0:
            raise ValueError("n_accounts must be >= 1, rate and day_seconds > 0")
        self.seed = seed
        self.rate = rate
        self.day_seconds = day_seconds
        rng = random.Random(f"{seed}:accounts")
        # Stratified log-uniform shape: account k gets the k-th slice of the log range, shuffled, so
        # the spread is the same whatever the seed.
        slices = [(k + rng.random()) / n_accounts for k in range(n_accounts)]
        rng.shuffle(slices)
        rates = posts_per_day_values(n_accounts)
        random.Random(f"{seed}:posting").shuffle(rates)
        self._accounts: list[dict] = []
        self.posts_per_day: dict[str, float] = {}
        shape: dict[str, float] = {}
        for index, position in enumerate(slices):
            account_id = f"acct-{index + 1:04d}"
            self.posts_per_day[account_id] = rates[index]
            shape[account_id] = FOLLOWER_SPREAD**position
            self._accounts.append(
                {
                    "account_id": account_id,
                    "platform": PLATFORMS[index % len(PLATFORMS)],
                    "followers": 0,
                    "industry": rng.choice(INDUSTRIES),
                    "name": f"{rng.choice(NAME_WORDS[0])} {rng.choice(NAME_WORDS[1])}",
                }
            )
        # Post-level events/s of an account per follower; then the scale that makes the mean total rate.
        per_follower = {
            r["account_id"]: self.posts_per_day[r["account_id"]] / day_seconds * events_per_post_follower(r["platform"])
            for r in self._accounts
        }
        total_per_post_level = 1 + ACCOUNT_RATIO + TEAM_RATIO
        scale = rate / sum(shape[a] * per_follower[a] * total_per_post_level for a in shape)
        for record in self._accounts:
            record["followers"] = max(1, round(shape[record["account_id"]] * scale))
        # Long-run mean post-level events/s of each account (its account-level stream is proportional).
        self.post_event_rate: dict[str, float] = {
            r["account_id"]: r["followers"] * per_follower[r["account_id"]] for r in self._accounts
        }

    @property
    def account_ids(self) -> list[str]:
        return [record["account_id"] for record in self._accounts]

    def accounts(self) -> list[dict]:
        """The account reference records (schemas/account.schema.json)."""
        return [dict(record) for record in self._accounts]

    def stream(self, start_ms: int, scenario: Scenario = Scenario()) -> EventStream:
        """A stateful source of posts and events from ``start_ms`` (the run's start, part of every
        event_id) on, in a steady state: the posts of the last 7 model days are already out."""
        if scenario.reply_delay_scale <= 0:
            raise ValueError(f"the reply delay scale must be > 0, not {scenario.reply_delay_scale}")
        for role, account in (
            ("collapse", scenario.collapse_account),
            ("silent collapse", scenario.silent_account),
            ("crisis", scenario.crisis_account),
            ("stop-closing", scenario.stop_closing_account),
            ("collapsing posts", scenario.collapsing_account),
        ):
            if account is not None and account not in self.posts_per_day:
                raise ValueError(
                    f"unknown {role} account {account!r} "
                    f"(the simulator has {self.account_ids[0]} .. {self.account_ids[-1]})"
                )
        return EventStream(self, start_ms, scenario)

    def events(
        self, start_ms: int, count: int, *, batch_share: float = 0.0, scenario: Scenario = Scenario()
    ) -> Iterator[dict]:
        """The first ``count`` events from ``start_ms`` on, in model time order, each ``ts`` on the
        model's clock; batched as ``messages_until`` batches them, called every EVENTS_STEP_MS."""
        stream = self.stream(start_ms, scenario)
        produced = 0
        now_ms = start_ms
        while True:
            now_ms += EVENTS_STEP_MS
            for message in stream.messages_until(now_ms, batch_share):
                for event in message:
                    yield event
                    produced += 1
                    if produced == count:
                        return

    def run(
        self, start_ms: int, until_ms: int, *, batch_share: float = 0.0, scenario: Scenario = Scenario()
    ) -> tuple[list[dict], list[dict]]:
        """(posts, events) of a run from ``start_ms`` to ``until_ms``: the post records published by
        then (the backfill of the last 7 model days first) and the events due by then, in time order
        (a batch's events together: ``messages_until`` every RUN_STEP_MS)."""
        stream = self.stream(start_ms, scenario)
        posts, events = [], []
        now_ms = start_ms
        while now_ms < until_ms:
            now_ms = min(until_ms, now_ms + RUN_STEP_MS)
            events += [event for message in stream.messages_until(now_ms, batch_share) for event in message]
            posts += stream.posts_until(now_ms)
        return posts, events


class _Account:
    __slots__ = (
        "account_id",
        "platform",
        "followers",
        "interval_ms",
        "posts",
        "collapse_at",
        "silent_at",
        "crisis_at",
        "stop_closing_at",
        "collapsing",
        "rate",
        "crisis_rate",
        "contents",
        "content_cum",
        "er_low",
        "er_width",
    )
    account_id: str
    platform: str
    followers: int
    interval_ms: float
    posts: int
    collapse_at: float | None
    silent_at: float | None
    crisis_at: float | None
    stop_closing_at: float | None
    collapsing: bool  # its posts may collapse (Scenario.collapsing_posts)
    rate: float
    crisis_rate: float
    contents: list[str]
    content_cum: list[float]
    er_low: float
    er_width: float


class _Post:
    __slots__ = (
        "post_id",
        "account",
        "published_at",
        "content_type",
        "er",
        "followers",
        "collapsed",
        "silent",
        "span",
        "k",
        "n",
        "a",
        "bdn",
        "engaged_left",
        "other_left",
    )
    post_id: str
    account: _Account
    published_at: int
    content_type: str
    er: float
    followers: int
    collapsed: bool
    silent: bool
    span: int
    k: int
    n: int
    a: float
    bdn: float
    engaged_left: int
    other_left: int

    def record(self) -> dict:
        return {
            "post_id": self.post_id,
            "account_id": self.account.account_id,
            "platform": self.account.platform,
            "published_at": self.published_at,
            "content_type": self.content_type,
        }


class EventStream:
    """The posts and events of one run: the agenda of what happens next (each live post's next event,
    each account's next publication and next account-level event, the replies to come)."""

    def __init__(self, model: TrafficModel, start_ms: int, scenario: Scenario):
        self._model = model
        self.start_ms = start_ms
        self._id_prefix = f"sim{model.seed}-{start_ms}-"
        self._day_ms = model.day_seconds * 1000.0
        self._tau_ms = DECAY_TAU_DAYS * self._day_ms
        self._rng = random.Random(f"{model.seed}:events")
        self._team = Team(random.Random(f"{model.seed}:teams"), scenario.reply_delay_scale)
        # Their own generators, so that a collapse or a batching leaves every other draw unchanged.
        self._collapse_rng = random.Random(f"{model.seed}:collapse")
        self._collapsing = scenario.collapsing_posts
        self._batch_rng = random.Random(f"{model.seed}:batches")
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._net_follows: Counter[str] = Counter()
        self._published: deque[_Post] = deque()  # published, record not returned yet
        self._ahead: deque[list] = deque()  # generated, not returned yet (below: the merge)
        self._ahead_of: dict[str, deque[list]] = {}
        self._last: tuple = (start_ms - 1, 0, None)  # the last event generated
        collapse_at = start_ms if scenario.collapse_at_ms is None else scenario.collapse_at_ms
        crisis_at = start_ms if scenario.crisis_at_ms is None else scenario.crisis_at_ms
        stop_closing_at = start_ms if scenario.stop_closing_at_ms is None else scenario.stop_closing_at_ms
        silent_at = start_ms if scenario.silent_at_ms is None else scenario.silent_at_ms
        rng = self._rng
        entries: list = []  # the agenda at the start: each account's next publication and event, each post's
        backfill: list[_Post] = []
        life_ms = POST_LIFE_DAYS * self._day_ms
        for record in model.accounts():
            account = _Account()
            account.account_id = account_id = record["account_id"]
            account.platform = platform = record["platform"]
            account.followers = record["followers"]
            account.interval_ms = self._day_ms / model.posts_per_day[account_id]
            account.posts = 0
            account.collapse_at = collapse_at if account_id == scenario.collapse_account else None
            account.silent_at = silent_at if account_id == scenario.silent_account else None
            account.crisis_at = crisis_at if account_id == scenario.crisis_account else None
            account.stop_closing_at = stop_closing_at if account_id == scenario.stop_closing_account else None
            account.collapsing = scenario.collapsing_account in (None, account_id)
            mix = CONTENT_MIX[platform]
            account.contents = list(mix)
            account.content_cum = list(itertools.accumulate(mix.values()))
            low, high = BENCHMARK_BANDS[platform]
            account.er_low = low + ER_BAND_MARGIN * (high - low)
            account.er_width = (1 - 2 * ER_BAND_MARGIN) * (high - low)
            # Account-level events per ms; a crisis multiplies the mentions.
            account.rate = model.post_event_rate[account_id] * ACCOUNT_RATIO / 1000.0
            account.crisis_rate = account.rate * (
                1 + (CRISIS_MENTION_FACTOR - 1) * ACCOUNT_MIX["mention"] / sum(ACCOUNT_MIX.values())
            )
            # The posts of the last 7 days, at the account's pace from a random phase.
            t = start_ms - life_ms + rng.random() * account.interval_ms
            while t < start_ms and scenario.posts:
                backfill.append(self._new_post(account, int(t), account.followers))
                t += self._interval(account)
            if scenario.posts:
                entries.append((t, next(self._seq), _PUBLISH, account))
            entries.append((start_ms + self._account_gap(account, start_ms), next(self._seq), _ACCOUNT, account))
        backfill.sort(key=lambda post: post.published_at)
        for post in backfill:
            self._published.append(post)
            first = self._schedule(post, start_ms)
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
        self._generator = self._generate()

    # -- what the callers use --------------------------------------------------------------------------
    def accounts(self) -> list[dict]:
        """The account records as of now: followers drift by the follows and unfollows produced."""
        records = self._model.accounts()
        for record in records:
            record["followers"] = max(0, record["followers"] + self._net_follows[record["account_id"]])
        return records

    def posts_until(self, now_ms: int) -> list[dict]:
        """The post records (schemas/post.schema.json) published by ``now_ms`` and not returned yet;
        the first call returns the backfill of the last 7 model days."""
        self._fill_until(now_ms)
        published = self._published
        out = []
        while published and published[0].published_at <= now_ms:
            out.append(published.popleft().record())
        return out

    def messages_until(self, now_ms: int, batch_share: float = 0.0) -> list[list[dict]]:
        """Every message due by ``now_ms`` (its events' model times), in time order: one event, or
        (with probability ``batch_share``) a batch of 2-20 consecutive due events of one account."""
        ahead, ahead_of = self._ahead, self._ahead_of
        due = []
        while ahead and (ahead[0][3] or ahead[0][0] <= now_ms):
            entry = ahead.popleft()
            if not entry[3]:
                ahead_of[entry[2]["account_id"]].popleft()  # the account's first one left
                due.append(entry[2])
        if not ahead and self._last[0] <= now_ms:
            for generated in self._generator:
                self._last = generated
                if generated[0] > now_ms:
                    self._keep(generated)
                    break
                due.append(generated[2])
        if not batch_share:
            return [[event] for event in due]
        rng = self._batch_rng
        by_account: dict[str, deque[int]] = {}
        for index, event in enumerate(due):
            by_account.setdefault(event["account_id"], deque()).append(index)
        taken = bytearray(len(due))
        messages = []
        for index, event in enumerate(due):
            if taken[index]:
                continue
            queue = by_account[event["account_id"]]
            queue.popleft()  # this one: every earlier event of the account is taken already
            message = [event]
            if rng.random() < batch_share:
                for _ in range(rng.randint(*BATCH_SIZES) - 1):
                    if not queue:
                        break
                    other = queue.popleft()
                    taken[other] = 1
                    message.append(due[other])
            messages.append(message)
        return messages

    def next_message(self, now_ms: int, batch_share: float = 0.0) -> list[dict]:
        """The next message in model order, whenever it is due, every ``ts`` re-stamped to ``now_ms``
        (less the event's out-of-order lateness): a realistic mix of events, fast, on the wall clock."""
        if not batch_share and not self._ahead:  # the benchmark's path
            due, late, event = self._last = next(self._generator)
            event["ts"] = now_ms - late
            return [event]
        entries = self._message_entries(batch_share)
        for entry in entries:
            entry[2]["ts"] = now_ms - entry[1]
        return [entry[2] for entry in entries]

    # -- the merge -------------------------------------------------------------------------------------
    # Events generated but not returned yet wait in ``_ahead`` in model order, as [due, late, event,
    # taken], and in ``_ahead_of`` by account; a batch takes the account's next ones out of turn.
    def _message_entries(self, batch_share: float) -> list:
        first = self._next_entry()
        if not batch_share or self._batch_rng.random() >= batch_share:
            return [first]
        size = self._batch_rng.randint(*BATCH_SIZES)
        account_id = first[2]["account_id"]
        entries = [first]
        queue = self._ahead_of.get(account_id)
        while queue and len(entries) < size:
            entry = queue.popleft()
            entry[3] = True
            entries.append(entry)
        generator = self._generator
        for _ in range(MAX_LOOKAHEAD if len(entries) < size else 0):
            generated = self._last = next(generator)
            if generated[2]["account_id"] == account_id:
                entries.append(generated)
                if len(entries) == size:
                    break
            else:
                self._keep(generated)
        return entries

    def _next_entry(self):
        ahead = self._ahead
        while ahead:
            entry = ahead.popleft()
            if not entry[3]:
                self._ahead_of[entry[2]["account_id"]].popleft()  # the account's first one left
                return entry
        entry = self._last = next(self._generator)
        return entry

    def _keep(self, generated: tuple) -> None:
        entry = [*generated, False]
        self._ahead.append(entry)
        queue = self._ahead_of.get(entry[2]["account_id"])
        if queue is None:
            self._ahead_of[entry[2]["account_id"]] = deque((entry,))
        else:
            queue.append(entry)

    def _fill_until(self, now_ms: int) -> None:
        """Generate every event due by ``now_ms`` (and the first one after it), so that every post
        published by then is out."""
        if self._last[0] > now_ms:
            return
        for entry in self._generator:
            self._last = entry
            self._keep(entry)
            if entry[0] > now_ms:
                return

    def _generate(self) -> Iterator[tuple[int, int, dict]]:
        """(due ms, lateness ms, event) in model order, forever."""
        rnd = self._rng.random
        collapse_rnd = self._collapse_rng.random
        heappush, heappop, insort = heapq.heappush, heapq.heappop, bisect.insort
        log, bisect_right = math.log, bisect.bisect_right
        seq, ids, prefix = self._seq, self._ids, self._id_prefix
        tau = self._tau_ms
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
        net_follows = self._net_follows
        published = self._published
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
                    following = self._schedule(post, t)
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
                nexts = [(t + self._account_gap(account, t), next(seq), _ACCOUNT, account)]
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
                post = self._new_post(account, due, followers)
                published.append(post)
                nexts = [(t + self._interval(account), next(seq), _PUBLISH, account)]
                first = self._schedule(post, due)
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

    # -- posts ------------------------------------------------------------------------------------------
    def _new_post(self, account: _Account, published_at: int, followers: int) -> _Post:
        rng = self._rng
        account.posts += 1
        post = _Post()
        post.post_id = f"{account.account_id}-p{account.posts:06d}"
        post.account = account
        post.published_at = published_at
        post.content_type = account.contents[
            bisect.bisect_right(account.content_cum, rng.random() * account.content_cum[-1])
        ]
        post.er = account.er_low + account.er_width * rng.random()
        post.followers = followers
        post.collapsed = account.collapse_at is not None and published_at >= account.collapse_at
        if account.collapsing and collapses(self._model.seed, post.post_id, self._collapsing):
            post.collapsed = True
        post.silent = account.silent_at is not None and published_at >= account.silent_at
        post.span = 0
        return post

    def _schedule(self, post: _Post, not_before: float) -> float | None:
        """Move ``post`` to its first event at or after ``not_before`` (from its current span on) and
        return that event's time; None when it has no event left."""
        rnd = self._rng.random
        spans = STORY_SPANS if post.content_type == "story" else SPANS
        t0 = post.published_at
        tau = self._tau_ms
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
                if age > start_days * self._day_ms:
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

    def _interval(self, account: _Account) -> float:
        return account.interval_ms * (1 - POSTING_JITTER + 2 * POSTING_JITTER * self._rng.random())

    def _account_gap(self, account: _Account, t: float) -> float:
        """Time to the account's next account-level event (Poisson); a crisis starting meanwhile
        restarts the wait at its start with the crisis rate (the process is memoryless)."""
        crisis_at = account.crisis_at
        in_crisis = crisis_at is not None and t >= crisis_at
        gap = -math.log(1.0 - self._rng.random()) / (account.crisis_rate if in_crisis else account.rate)
        if crisis_at is not None and not in_crisis and t + gap >= crisis_at:
            gap = crisis_at - t - math.log(1.0 - self._rng.random()) / account.crisis_rate
        return gap

    def _sentiment(self, negative_share: float) -> float:
        if self._rng.random() < negative_share:
            return round(self._rng.uniform(-1.0, -0.2), 3)
        return round(min(1.0, max(-0.2, self._rng.gauss(0.5, 0.3))), 3)
