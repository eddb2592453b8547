"""The state of a run's accounts and posts (``streams.simulator.stream``): mutable records with slots,
read and written for every event."""

from __future__ import annotations

import itertools

from .profile import ACCOUNT_MIX, ACCOUNT_RATIO, BENCHMARK_BANDS, CONTENT_MIX, CRISIS_MENTION_FACTOR, ER_BAND_MARGIN
from .scenario import Scenario


class Account:
    """An account in a run: its pace, its scenario times, its mixes."""

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


class Post:
    """A post in a run: its drawn content and ER, and where its schedule is (span, k of n)."""

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
    account: Account
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


def new_account(record: dict, interval_ms: float, post_event_rate: float, scenario: Scenario, start_ms: int) -> Account:
    """The state of the account of ``record`` in a run from ``start_ms`` (the scenario's times
    default to it), posting every ``interval_ms`` on average; no random draw."""
    account = Account()
    account.account_id = account_id = record["account_id"]
    account.platform = platform = record["platform"]
    account.followers = record["followers"]
    account.interval_ms = interval_ms
    account.posts = 0
    collapse_at = start_ms if scenario.collapse_at_ms is None else scenario.collapse_at_ms
    crisis_at = start_ms if scenario.crisis_at_ms is None else scenario.crisis_at_ms
    stop_closing_at = start_ms if scenario.stop_closing_at_ms is None else scenario.stop_closing_at_ms
    silent_at = start_ms if scenario.silent_at_ms is None else scenario.silent_at_ms
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
    account.rate = post_event_rate * ACCOUNT_RATIO / 1000.0
    account.crisis_rate = account.rate * (
        1 + (CRISIS_MENTION_FACTOR - 1) * ACCOUNT_MIX["mention"] / sum(ACCOUNT_MIX.values())
    )
    return account
