"""The final window record (schemas/post-metrics.schema.json, account-metrics.schema.json) of one
aggregate: counts, engaged, sums and rates. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .aggregates import WindowAggregate
from .rates import engaged_count, rates, ratio

if TYPE_CHECKING:
    from ..state.post_life import PostLife


def window_record(
    engaged_types: tuple[str, ...],
    scope: str,
    kind: str,
    start: int,
    end: int,
    agg: WindowAggregate,
    account_id: str,
    platform: str,
    followers: int | None,
    now_ms: int,
    post_id: str | None = None,
) -> dict:
    """A post record when ``post_id`` is given, else an account record (with its active posts)."""
    engaged = engaged_count(agg, engaged_types)
    record = {
        "scope": scope,
        "window_kind": kind,
        "window_start": start,
        "window_end": end,
        "account_id": account_id,
        "platform": platform,
        "followers": followers,
        "counts": agg.counts_by_type(),
        "engaged": engaged,
        "dwell_ms_sum": agg.dwell_ms_sum,
        "dwell_count": agg.dwell_count,
        "sentiment_sum": agg.sentiment_sum,
        "sentiment_count": agg.sentiment_count,
        "sentiment_negative": agg.sentiment_negative,
        "rates": rates(agg, followers, engaged_types, engaged),
        "emitted_at": now_ms,
    }
    if post_id is not None:
        record = {"post_id": post_id, **record}
    else:
        assert agg.posts is not None  # an account's aggregate tracks its posts
        record["active_posts"] = len(agg.posts)
        record["responses"] = responses(agg)
    return record


def responses(agg: WindowAggregate) -> dict:
    """The mentions the account answered in the window, and how fast, and those it resolved
    (schemas/account-metrics)."""
    answered, total_ms, longest_ms, within, resolved, closed_without_answer = agg.responses or (0,) * 6
    return {
        "answered": answered,
        "response_ms_sum": total_ms,
        "response_ms_max": longest_ms if answered else None,
        "within_acknowledge_sla": within,
        "mean_ms": ratio(total_ms, answered),
        "within_acknowledge_sla_share": ratio(within, answered),
        "resolved": resolved,
        "closed_without_answer": closed_without_answer,
    }


def lifetime_record(
    engaged_types: tuple[str, ...],
    post_id: str,
    life: PostLife,
    age_ms: int,
    final: bool,
    followers: int | None,
    now_ms: int,
) -> dict:
    """A post's aggregates from its publication to publication + age (schemas/post-lifetime.schema.json);
    ``life``: a streams.state.post_life.PostLife whose ``total`` holds exactly that span."""
    agg = life.total or WindowAggregate()
    engaged = engaged_count(agg, engaged_types)
    return {
        "post_id": post_id,
        "account_id": life.account_id,
        "platform": life.platform,
        "content_type": life.content_type,
        "published_at": life.published_at,
        "published_at_source": life.source,
        "complete": life.complete,
        "age_ms": age_ms,
        "final": final,
        "window_start": life.published_at,
        "window_end": life.published_at + age_ms,
        "followers": followers,
        "counts": agg.counts_by_type(),
        "engaged": engaged,
        "dwell_ms_sum": agg.dwell_ms_sum,
        "dwell_count": agg.dwell_count,
        "sentiment_sum": agg.sentiment_sum,
        "sentiment_count": agg.sentiment_count,
        "sentiment_negative": agg.sentiment_negative,
        "rates": rates(agg, followers, engaged_types, engaged),
        "emitted_at": now_ms,
    }
