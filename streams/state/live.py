"""Live reads of one partition's state for the HTTP query API: the open windows of a post or an
account, committed state and the uncommitted delta summed (what is not published as final yet)."""

from __future__ import annotations

from ..model.records import window_record
from .partition import FollowersOf, PartitionState


def live_post(state: PartitionState, post_id: str, now_ms: int, followers_of: FollowersOf) -> list[dict]:
    cfg = state.config
    windows = []
    for start in sorted(set(state.posts) | set(state.delta_posts)):
        combined = _combine(e.get(post_id) for e in (state.posts.get(start, {}), state.delta_posts.get(start, {})))
        if combined is not None:
            account_id, platform, agg = combined
            windows.append(window_record(cfg.engaged_types, "post", "tumbling", start, start + cfg.window_ms, agg,
                                         account_id, platform, followers_of(account_id), now_ms, post_id=post_id))
    return windows


def live_account(state: PartitionState, account_id: str, rolling: bool, now_ms: int,
                 followers_of: FollowersOf) -> list[dict]:
    cfg = state.config
    if rolling:
        end = now_ms - now_ms % cfg.window_ms + cfg.window_ms
        slot = state.rolling(end - cfg.rolling_ms, end, include_delta=True).get(account_id)
        if slot is None:
            return []
        return [window_record(cfg.engaged_types, "account", "rolling", end - cfg.rolling_ms, end, slot[1],
                              account_id, slot[0], followers_of(account_id), now_ms)]
    windows = []
    for start in sorted(set(state.accounts) | set(state.delta_accounts)):
        if start + cfg.window_ms <= state.closed_through:
            continue  # kept for the rolling window only; its tumbling record is out already
        combined = _combine(e.get(account_id) for e in (state.accounts.get(start, {}),
                                                         state.delta_accounts.get(start, {})))
        if combined is not None:
            platform, agg = combined
            windows.append(window_record(cfg.engaged_types, "account", "tumbling", start, start + cfg.window_ms,
                                         agg, account_id, platform, followers_of(account_id), now_ms))
    return windows


def _combine(entries) -> list | None:
    """Sum of the (state, delta) entries of one key, as a fresh entry; None when neither exists."""
    combined = None
    for entry in entries:
        if entry is None:
            continue
        if combined is None:
            combined = [*entry[:-1], entry[-1].copy()]
        else:
            combined[-1].merge(entry[-1])
    return combined
