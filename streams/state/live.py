"""Live reads of one partition's state for the HTTP query API: the open windows of a post or an
account, and a post's lifetime so far; committed state and the uncommitted delta summed (what is not
published as final yet)."""

from __future__ import annotations

from ..model.rates import engaged_count, rates
from ..model.records import window_record
from .partition import FollowersOf, PartitionState


def live_post(state: PartitionState, post_id: str, now_ms: int, followers_of: FollowersOf) -> list[dict]:
    cfg = state.config
    return [
        window_record(
            cfg.engaged_types,
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
        for start, e in _open(state.posts, state.delta_posts, post_id, 0)
    ]


def post_lifetime(state: PartitionState, post_id: str, now_ms: int, followers_of: FollowersOf) -> dict | None:
    """The post's lifetime so far (committed and uncommitted), or None when the partition holds none;
    ``ages_published``: the record ages already on the lifetime topic."""
    life = state.lifetimes.find(post_id)
    if life is None:
        return None
    cfg = state.config
    agg = life.so_far()
    delta = state.lifetimes.delta.get(post_id)
    for segment in delta.segments.values() if delta is not None else ():
        agg.merge(segment)
    ended = life.done >= len(cfg.post_ages_ms)
    followers = followers_of(life.account_id)
    engaged = engaged_count(agg, cfg.engaged_types)
    return {
        "account_id": life.account_id,
        "platform": life.platform,
        "content_type": life.content_type,
        "published_at": life.published_at,
        "published_at_source": life.source,
        "complete": life.complete,
        "age_ms": now_ms - life.published_at,
        "lifetime_ms": cfg.lifetime_ms,
        "ended": ended,
        "ages_published_ms": list(cfg.post_ages_ms[: life.done]),
        "followers": followers,
        "counts": None if ended else agg.counts_by_type(),
        "engaged": None if ended else engaged,
        "rates": None if ended else rates(agg, followers, cfg.engaged_types, engaged),
    }


def live_account(
    state: PartitionState, account_id: str, rolling: bool, now_ms: int, followers_of: FollowersOf
) -> list[dict]:
    cfg = state.config
    if rolling:
        end = now_ms - now_ms % cfg.window_ms + cfg.window_ms
        entry = state.rolling(end - cfg.rolling_ms, end, include_delta=True, account_id=account_id).get(account_id)
        if entry is None:
            return []
        return [
            window_record(
                cfg.engaged_types,
                "account",
                "rolling",
                end - cfg.rolling_ms,
                end,
                entry.agg,
                account_id,
                entry.platform,
                followers_of(account_id),
                now_ms,
            )
        ]
    # Buckets ending by the close mark are kept for the rolling window only: their records are out.
    return [
        window_record(
            cfg.engaged_types,
            "account",
            "tumbling",
            start,
            start + cfg.window_ms,
            e.agg,
            account_id,
            e.platform,
            followers_of(account_id),
            now_ms,
        )
        for start, e in _open(
            state.accounts, state.delta_accounts, account_id, state.closed_through - cfg.window_ms + 1
        )
    ]


def _open(buckets, delta, key: str, first_start: int):
    """(window start, committed + delta entry of ``key``) for each window starting at first_start or later."""
    for start in sorted(set(buckets) | set(delta)):
        if start >= first_start:
            combined = _combine(b.get(start, {}).get(key) for b in (buckets, delta))
            if combined is not None:
                yield start, combined


def _combine(entries):
    """Sum of the (state, delta) entries of one key, as a fresh entry; None when neither exists."""
    combined = None
    for entry in entries:
        if entry is None:
            continue
        if combined is None:
            combined = entry.copy()
        else:
            combined.agg.merge(entry.agg)
    return combined
