"""The traffic model: a pure, deterministic model of accounts, the posts they publish and the events
those posts and accounts get (no Kafka, no wall clock); ``streams.simulator.producer`` paces it into
Kafka in real time. What the accounts, posts and events look like is ``streams.simulator.profile``,
what happens to whom ``streams.simulator.scenario``, the events of a run ``streams.simulator.stream``.

Follower counts: a log-uniform *shape* over ``FOLLOWER_SPREAD`` (100x), scaled for the rate. At 200
events/s over 25 accounts that is about 20,000 .. 2,000,000 followers; the counts scale with ``rate /
n_accounts`` and with ``day_seconds`` (a shorter day packs a post's engagement into less time).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from .profile import (
    ACCOUNT_RATIO,
    FOLLOWER_SPREAD,
    INDUSTRIES,
    NAME_WORDS,
    PLATFORMS,
    TEAM_RATIO,
    events_per_post_follower,
    posts_per_day_values,
)
from .scenario import Scenario
from .stream import EventStream

EVENTS_STEP_MS = 1_000  # TrafficModel.events: messages_until every second of the run's clock
RUN_STEP_MS = 60_000  # TrafficModel.run: every minute (the batches of a tick of that length)


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
