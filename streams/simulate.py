"""`engagement simulate`: synthetic but realistic interaction traffic into the interactions topic.

Two halves: ``TrafficModel``, a pure, deterministic model of accounts and their events (no Kafka, no
wall clock), and ``run_simulator``/``main``, which pace the model's events into Kafka in real time.

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
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import heapq
import itertools
import logging
import math
import os
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.benchmarks import DEFAULT_BENCHMARKS
from streams.security import kafka_client_config
from streams.settings import DEFAULT_ENGAGED_TYPES, Settings
from streams.topics import ensure_topics

log = logging.getLogger(__name__)

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
    "share": 0.015, "save": 0.01, "follow": 0.012, "unfollow": 0.004, "mention": 0.01, "reply": 0.006,
}
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
MAX_OPEN_MENTIONS = 500         # per account; older unanswered mentions are never answered
COLLAPSE_RESIDUAL = 0.01        # share of engaged events a collapsed account keeps

BATCH_SIZES = (2, 20)
ACCOUNTS_RESEND_SECONDS = 60.0
TICK_SECONDS = 0.05


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

    def stream(self, start_ms: int, *, collapse_account: str | None = None,
               collapse_at_ms: int | None = None) -> EventStream:
        """A stateful source of events; ``start_ms`` (the run's start) is part of every event_id.
        A collapse account without ``collapse_at_ms`` collapses from the start."""
        if collapse_account is not None and collapse_account not in self.traffic_share:
            raise ValueError(f"unknown collapse account {collapse_account!r} "
                             f"(the simulator has {self.account_ids[0]} .. {self.account_ids[-1]})")
        return EventStream(self, start_ms, collapse_account,
                           start_ms if collapse_at_ms is None else collapse_at_ms)

    def events(self, start_ms: int, count: int, *, batch_share: float = 0.0,
               collapse_account: str | None = None, collapse_at_ms: int | None = None) -> Iterator[dict]:
        """``count`` events on a simulated clock that starts at ``start_ms`` and runs at ``rate``."""
        stream = self.stream(start_ms, collapse_account=collapse_account, collapse_at_ms=collapse_at_ms)
        produced = 0
        while produced < count:
            now_ms = start_ms + int(produced * 1000 / self.rate)
            for event in stream.next_message(now_ms, batch_share)[:count - produced]:
                yield event
                produced += 1


class EventStream:
    """The event sequence of one run: sequence numbers, whose turn it is, unanswered mentions."""

    def __init__(self, model: TrafficModel, start_ms: int, collapse_account: str | None,
                 collapse_at_ms: int):
        self._model = model
        self._id_prefix = f"sim{model.seed}-{start_ms}-"
        self._collapse_account = collapse_account
        self._collapse_at_ms = collapse_at_ms
        self._rng = random.Random(f"{model.seed}:events")
        # Its own generator, so that a collapse leaves every other draw (and account) unchanged.
        self._collapse_rng = random.Random(f"{model.seed}:collapse")
        self._sequence = itertools.count(1)
        self._platform = {r["account_id"]: r["platform"] for r in model.accounts()}
        self._types = list(TYPE_MIX)
        self._type_cum = list(itertools.accumulate(TYPE_MIX.values()))
        popularity = [1 / (k + 1) ** POST_POPULARITY_EXPONENT for k in range(model.posts_per_account)]
        self._post_cum = list(itertools.accumulate(popularity))
        # Stride scheduling: (next turn, account id); random phases so accounts do not start in lockstep.
        self._turns = [(self._rng.random() / share, account_id)
                       for account_id, share in model.traffic_share.items()]
        heapq.heapify(self._turns)
        self._open_mentions: dict[str, list[tuple[str, int]]] = {a: [] for a in model.traffic_share}
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
        kind = self._types[bisect.bisect_right(self._type_cum, rng.random() * self._type_cum[-1])]
        ts = now_ms - int(rng.random() * MAX_LATENESS_MS) if rng.random() < LATE_SHARE else now_ms
        open_mentions = self._open_mentions[account_id]
        if kind == "reply" and not open_mentions:
            kind = "impression"  # a brand can only answer mentions it has received
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
            event["sentiment"] = self._sentiment(MENTION_NEGATIVE_SHARE)
            open_mentions.append((event["event_id"], ts))
            del open_mentions[:-MAX_OPEN_MENTIONS]
        elif kind == "reply":
            mention_id, mention_ts = open_mentions.pop(rng.randrange(len(open_mentions)))
            event["ts"] = max(ts, mention_ts)  # lateness must not put an answer before its mention
            event["user_id"] = account_id
            event["in_reply_to"] = mention_id
        if kind in ENGAGED_TYPES and self._collapsed(account_id, event["ts"]):
            event["type"] = "impression"
            event.pop("sentiment", None)
        return event

    def _collapsed(self, account_id: str, ts: int) -> bool:
        return (account_id == self._collapse_account and ts >= self._collapse_at_ms
                and self._collapse_rng.random() >= COLLAPSE_RESIDUAL)

    def _user_id(self) -> str:
        return f"user-{int(self._rng.random() * USER_POOL):06d}"  # faster than randrange

    def _sentiment(self, negative_share: float) -> float:
        if self._rng.random() < negative_share:
            return round(self._rng.uniform(-1.0, -0.2), 3)
        return round(min(1.0, max(-0.2, self._rng.gauss(0.5, 0.3))), 3)


async def run_simulator(settings: Settings, *, rate: float, n_accounts: int | None = None,
                        seed: int | None = None, duration: float | None = None,
                        max_events: int | None = None, collapse_account: str | None = None,
                        collapse_after: float = 60.0, batch_share: float = 0.1,
                        stop_event: asyncio.Event | None = None) -> dict:
    """Produce the model's events at ``rate`` events/s until ``duration`` seconds, ``max_events``
    events or ``stop_event``; returns what the broker acknowledged. Cancelling it flushes and stops
    the producer before the cancellation propagates."""
    seed = settings.simulate_seed if seed is None else seed
    model = TrafficModel(seed, n_accounts or settings.simulate_accounts, rate=rate,
                         rolling_seconds=settings.rolling_window_seconds)
    start_ms = _wall_ms()
    collapse_at_ms = start_ms + int(collapse_after * 1000) if collapse_account else None
    stream = model.stream(start_ms, collapse_account=collapse_account, collapse_at_ms=collapse_at_ms)
    stop_event = stop_event or asyncio.Event()
    stats = {"events_produced": 0, "messages_produced": 0, "accounts": len(model.account_ids),
             "account_records_produced": 0, "send_errors": 0, "rate": rate, "seed": seed,
             "started_at_ms": start_ms, "collapse_account": collapse_account, "collapse_at_ms": collapse_at_ms}

    kafka_config = kafka_client_config(settings)
    await ensure_topics(settings, kafka_config)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all",
                                enable_idempotence=True, linger_ms=5, client_id="engagement-simulate",
                                **kafka_config)
    await producer.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await _send_accounts(producer, settings, stream, stats)
        accounts_sent = loop.time()
        generated = 0
        while True:
            due = int((loop.time() - started) * rate)
            if max_events is not None:
                due = min(due, max_events)
            pending = []
            while generated < due:  # a batch may overshoot `due`; the next tick makes up for it
                events = stream.next_message(_wall_ms(), batch_share)
                if max_events is not None:
                    events = events[:max_events - generated]
                generated += len(events)
                value = orjson.dumps(events if len(events) > 1 else events[0])
                key = events[0]["account_id"].encode()
                pending.append((len(events), await producer.send(settings.topic_interactions, value, key=key)))
            results = await asyncio.gather(*(future for _, future in pending), return_exceptions=True)
            for (size, _), result in zip(pending, results):
                _count(stats, result, events_produced=size, messages_produced=1)
            if (max_events is not None and generated >= max_events) or stop_event.is_set() or \
                    (duration is not None and loop.time() - started >= duration):
                break
            if loop.time() - accounts_sent >= ACCOUNTS_RESEND_SECONDS:
                await _send_accounts(producer, settings, stream, stats)
                accounts_sent = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), TICK_SECONDS)
    finally:
        await producer.stop()  # flushes what is still buffered
        stats["duration_seconds"] = round(loop.time() - started, 3)
    return stats


async def _send_accounts(producer: AIOKafkaProducer, settings: Settings, stream: EventStream,
                         stats: dict) -> None:
    futures = [await producer.send(settings.topic_accounts, orjson.dumps(record),
                                   key=record["account_id"].encode())
               for record in stream.accounts()]
    for result in await asyncio.gather(*futures, return_exceptions=True):
        _count(stats, result, account_records_produced=1)


def _count(stats: dict, send_result, **increments: int) -> None:
    if isinstance(send_result, BaseException):
        stats["send_errors"] += 1
        log.warning("send failed: %r", send_result)
        return
    for name, amount in increments.items():
        stats[name] += amount


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0: {text}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="engagement simulate",
                                     description="Produce synthetic interaction events into Kafka.")
    parser.add_argument("--rate", type=_positive(float), default=settings.simulate_rate,
                        help="events per second (default %(default)s)")
    parser.add_argument("--duration", type=_positive(float), help="stop after this many seconds")
    parser.add_argument("--max-events", type=_positive(int), help="stop after this many events")
    parser.add_argument("--seed", type=int, default=settings.simulate_seed, help="default %(default)s")
    parser.add_argument("--accounts", type=_positive(int), default=settings.simulate_accounts,
                        help="number of accounts (default %(default)s)")
    parser.add_argument("--collapse-account", default=settings.simulate_collapse_account or None,
                        help="account whose engagement collapses, e.g. acct-0003 (default: none)")
    parser.add_argument("--collapse-after", type=float, default=settings.simulate_collapse_after_seconds,
                        help="seconds after start when the collapse begins (default %(default)s)")
    parser.add_argument("--stats-file", type=Path, help="also write the final stats (JSON) here")
    args = parser.parse_args(argv)

    if not settings.kafka_bootstrap_servers:
        print("engagement simulate: KAFKA_BOOTSTRAP_SERVERS is not set; set it to your broker's address "
              "or use `make run`, which starts a broker and the simulator.", file=sys.stderr)
        return 2
    try:
        stats = asyncio.run(_run_until_signalled(settings, args))
    except ValueError as exc:  # e.g. an unknown --collapse-account, found before connecting
        print(f"engagement simulate: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        print(f"engagement simulate: Kafka at {settings.kafka_bootstrap_servers}: {exc!r}", file=sys.stderr)
        return 1
    line = orjson.dumps(stats).decode()
    print(line, flush=True)
    if args.stats_file:
        partial = args.stats_file.with_name(args.stats_file.name + ".tmp")
        partial.write_text(line + "\n")
        os.replace(partial, args.stats_file)  # readers never see a half-written file
    return 0


async def _run_until_signalled(settings: Settings, args: argparse.Namespace) -> dict:
    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop_event.set)
    return await run_simulator(settings, rate=args.rate, n_accounts=args.accounts, seed=args.seed,
                               duration=args.duration, max_events=args.max_events,
                               collapse_account=args.collapse_account, collapse_after=args.collapse_after,
                               stop_event=stop_event)
