"""The format of post lives in the journal (``l``: a commit's life deltas, ``b``: its new samples)
and in the snapshots (``L``: every life, ``b``: every sample), its encoders beside its decoders."""

from __future__ import annotations

from ..model.aggregates import WindowAggregate
from .lifetimes import LifeDelta, PostLife, PostLifetimes


def encode_delta(delta: dict[str, LifeDelta]) -> list:
    """``l``: [[post_id, meta or None, max_ts, [[segment, aggregate], ...]], ...]."""
    return [
        [post_id, change.meta, change.max_ts, _encode_segments(change.segments)] for post_id, change in delta.items()
    ]


def decode_delta(items) -> dict[str, LifeDelta]:
    delta = {}
    for post_id, meta, max_ts, segments in items:
        change = delta[post_id] = LifeDelta(meta, max_ts)
        change.segments = _decode_segments(segments)
    return delta


def encode_lives(lives: dict[str, PostLife]) -> list:
    """``L``: [[post_id, meta, max_ts, done, total or None, [[segment, aggregate], ...], reached], ...]."""
    return [
        [
            post_id,
            life.meta(),
            life.max_ts,
            life.done,
            None if life.total is None else life.total.to_state(),
            _encode_segments(life.segments),
            life.reached,
        ]
        for post_id, life in lives.items()
    ]


def decode_lives(items) -> dict[str, PostLife]:
    lives = {}
    for post_id, meta, max_ts, done, total, segments, *reached in items:  # before the curves: no reached
        life = lives[post_id] = PostLife(*meta, max_ts)  # type: ignore[call-arg]  # meta: the six fields before max_ts
        life.done = done
        life.reached = reached[0] if reached else []
        life.total = None if total is None else WindowAggregate.from_state(total)
        life.segments = _decode_segments(segments)
    return lives


def _encode_segments(segments: dict[int, WindowAggregate]) -> list:
    return [[segment, agg.to_state()] for segment, agg in segments.items()]


def _decode_segments(items) -> dict[int, WindowAggregate]:
    return {segment: WindowAggregate.from_state(state) for segment, state in items}


def encode_samples(samples: dict[str, list[list]]) -> list:
    """``b``: [[account_id, post_id, platform, content_type, published_at, er, early ERs], ...] (before
    the curves, without early ERs: streams/model/early.py)."""
    return [[account_id, *sample] for account_id, items in samples.items() for sample in items]


def add_samples(lifetimes: PostLifetimes, items) -> None:
    for account_id, *sample in items:
        lifetimes.add_sample(account_id, sample)
