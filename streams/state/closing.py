"""Closing a partition's windows: the final records of what a close mark made final, and dropping it.

A tumbling window [start, end) is final once the close mark reaches its end (the mark is end + grace
behind the partition's clock). The rolling per-account window is the merge of the tumbling account
buckets of its span; one rolling record per step (= tumbling window length) per account with traffic
in the span. A post's lifetime record is due when the mark passes its publication + a record age.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ..model.records import lifetime_record, window_record
from .entries import Buckets
from .lifetimes import PostLifetimes
from .post_life import PostLife
from .rolling_merge import rolling
from .sealed_accounts import SealedAccounts
from .window import WindowConfig

FollowersOf = Callable[[str], "int | None"]


class ClosingState(Protocol):
    """What closing reads and changes of a partition's state (``PartitionState`` has it)."""

    config: WindowConfig
    posts: Buckets
    accounts: Buckets
    sealed: SealedAccounts
    closed_through: int
    counting_since: int | None
    lifetimes: PostLifetimes


def close_windows(
    state: ClosingState,
    mark: int,
    now_ms: int,
    followers_of: FollowersOf,
    post_records: list[dict],
    account_records: list[dict],
) -> None:
    """The final records of the post, account and rolling windows ``mark`` closes; then drop them."""
    cfg = state.config
    types = cfg.engaged_types
    for start in sorted(s for s in state.posts if s + cfg.window_ms <= mark):
        for post_id, e in state.posts.pop(start).items():
            post_records.append(
                window_record(
                    types,
                    "post",
                    "tumbling",
                    start,
                    start + cfg.window_ms,
                    e.agg,
                    e.account_id,
                    e.platform,
                    followers_of(e.account_id),
                    now_ms,
                    post_id=post_id,
                )
            )
    for start in sorted(state.accounts):
        end = start + cfg.window_ms
        if state.closed_through < end <= mark:
            for account_id, e in state.accounts[start].items():
                account_records.append(
                    window_record(
                        types,
                        "account",
                        "tumbling",
                        start,
                        end,
                        e.agg,
                        account_id,
                        e.platform,
                        followers_of(account_id),
                        now_ms,
                    )
                )
    ends = rolling_ends(state, mark)
    seal_closed(state, mark)  # every bucket a rolling window ending by the mark spans is closed
    for end in ends:
        for account_id, e in rolling(state.sealed, [state.accounts], end - cfg.rolling_ms, end).items():
            account_records.append(
                window_record(
                    types,
                    "account",
                    "rolling",
                    end - cfg.rolling_ms,
                    end,
                    e.agg,
                    account_id,
                    e.platform,
                    followers_of(account_id),
                    now_ms,
                )
            )
    drop_closed(state, mark)


def rolling_ends(state: ClosingState, mark: int) -> list[int]:
    """Ends of the rolling windows that become final between the previous close mark and ``mark``
    and hold traffic (a window ending at E spans the buckets starting in [E - rolling, E))."""
    cfg = state.config
    ends: set[int] = set()
    for start in [*state.accounts, *state.sealed.starts()]:
        first = max(start + cfg.window_ms, state.closed_through + cfg.window_ms)
        last = min(start + cfg.rolling_ms, mark)
        ends.update(range(first, last + 1, cfg.window_ms))
    return sorted(ends)


def drop_closed(state: ClosingState, mark: int) -> None:
    """Drop what ``mark`` made final: post windows, and account buckets no rolling window needs."""
    cfg = state.config
    for start in [s for s in state.posts if s + cfg.window_ms <= mark]:
        del state.posts[start]
    seal_closed(state, mark)
    state.sealed.drop_before(mark - cfg.rolling_ms + 1)
    state.closed_through = mark
    if state.counting_since is None:
        state.counting_since = mark


def seal_closed(state: ClosingState, mark: int) -> None:
    """Seal the account buckets ``mark`` closed (in window order): they are kept for the rolling window
    only, and no event can change them any more."""
    window_ms = state.config.window_ms
    for start in sorted(s for s in state.accounts if s + window_ms <= mark):
        state.sealed.seal(start, state.accounts.pop(start))


def close_lives(state: ClosingState, mark: int, now_ms: int, followers_of: FollowersOf, records: list[dict]) -> list:
    """The lifetime records of the posts that reached an age by ``mark``, and the benchmark samples
    of those that reached maturity (as journalled: [account_id, post_id, platform, content_type,
    published_at, er, early], ``early``: its ER at each age before maturity, for its account's curve)."""
    cfg, lifetimes = state.config, state.lifetimes
    samples = []

    def on_age(post_id: str, life: PostLife, index: int) -> None:
        followers = followers_of(life.account_id)
        record = lifetime_record(
            cfg.engaged_types,
            post_id,
            life,
            cfg.post_ages_ms[index],
            index == len(cfg.post_ages_ms) - 1,
            followers,
            now_ms,
        )
        records.append(record)
        if (
            index == lifetimes.maturity_index
            and life.complete
            and followers
            and record["rates"]["er_followers"] is not None
        ):
            sample = [
                life.account_id,
                post_id,
                life.platform,
                life.content_type,
                life.published_at,
                record["rates"]["er_followers"],
                [engaged / followers for engaged in life.reached],
            ]
            samples.append(sample)
            lifetimes.add_sample(life.account_id, sample[1:])

    lifetimes.advance(mark, on_age)
    return samples
