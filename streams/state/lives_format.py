"""The format of post lives in the journal (``l``: a commit's life deltas, ``b``: its new samples)
and in the snapshots (``L``: the young lives, ``F``: the final segments of sealed ones, ``b``: every
sample; the sealed groups in records of their own), its encoders beside its decoders."""

from __future__ import annotations

import base64

import numpy as np
import orjson

from .. import json_bytes
from ..contract import TYPE_INDEX, TYPES
from ..model.aggregates import WindowAggregate
from .aggregate_rows import POST_TYPE_INDEXES
from .lifetimes import PostLifetimes
from .post_life import LifeDelta, PostLife
from .sealed_lives import SealedGroup, SealedLives


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
        life.set_total_state(total)
        life.set_segment_states(segments)
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


# -- sealed lives (streams.state.sealed_lives): one group in records of its own, written once ----------
GROUP_PART_POSTS = 5000  # posts per record of a group: about 0.6 MB, far under the message limit
_COLUMNS = (("fps", "<u8"), ("published", "<u4"), ("accounts", "<u4"), ("kinds", "<u2"))
_TOTALS = (("counts", "<u4"), ("sums", "<f8"), ("tallies", "<u4"))


def encode_group(sealed: SealedLives, group: SealedGroup) -> list[bytes]:
    """A group as records of at most GROUP_PART_POSTS posts: {"s" start, "t" the count types, "a"
    [[account_id, platform]], "k" [[platform, content_type, source, complete]] (the tables its
    columns index), "i" post ids, and base64 little-endian columns: fps, published (ms after the
    start), accounts, kinds, and, unless every post ended ("e"), counts, sums, tallies}."""
    accounts = sorted(set(group.accounts.tolist()))
    kinds = sorted(set(group.kinds.tolist()))
    local_account = np.zeros(len(sealed.accounts), np.uint32)
    local_account[accounts] = np.arange(len(accounts), dtype=np.uint32)
    local_kind = np.zeros(len(sealed.kinds), np.uint16)
    local_kind[kinds] = np.arange(len(kinds), dtype=np.uint16)
    columns: dict[str, np.ndarray | None] = {
        "fps": group.fps,
        "published": group.published,
        "accounts": local_account[group.accounts],
        "kinds": local_kind[group.kinds],
    }
    if not group.ended:
        columns.update(counts=group.counts, sums=group.sums, tallies=group.tallies)
    parts = []
    for lo in range(0, max(len(group), 1), GROUP_PART_POSTS):
        hi = min(lo + GROUP_PART_POSTS, len(group))
        part = {
            "s": group.start,
            "t": [TYPES[i] for i in POST_TYPE_INDEXES],
            "a": [[sealed.accounts[a], sealed.platforms[a]] for a in accounts],
            "k": [list(sealed.kinds[k]) for k in kinds],
            "e": group.ended,
            **{
                name: _b64(column[lo:hi], dtype)
                for name, dtype in _COLUMNS + _TOTALS
                if (column := columns.get(name)) is not None
            },
        }
        if not group.ended:
            part["i"] = [group.post_id(i) for i in range(lo, hi)]
        parts.append(json_bytes.dumps(part))
    return parts


def decode_group(sealed: SealedLives, parts: list[bytes]) -> SealedGroup:
    """A group from its records (in part order), its tables mapped into ``sealed``'s."""
    loaded = [orjson.loads(p) for p in parts]
    first = loaded[0]
    accounts = np.array([sealed.account(a, platform) for a, platform in first["a"]] or [0], np.uint32)
    kinds = np.array([sealed.kind(tuple(k)) for k in first["k"]] or [0], np.uint16)

    def column(name: str, dtype: str) -> np.ndarray:
        return np.concatenate([np.frombuffer(base64.b64decode(p[name]), dtype) for p in loaded])

    fps, published = column("fps", "<u8"), column("published", "<u4")
    group_accounts, group_kinds = accounts[column("accounts", "<u4")], kinds[column("kinds", "<u2")]
    if first["e"]:
        return SealedGroup(first["s"], fps, published, group_accounts, group_kinds)
    counts = column("counts", "<u4").reshape(len(fps), len(first["t"]))
    mine = np.zeros((len(fps), len(POST_TYPE_INDEXES)), np.uint32)
    for j, name in enumerate(first["t"]):  # by name: the contract's types may have changed since
        if TYPE_INDEX.get(name) in POST_TYPE_INDEXES:
            mine[:, POST_TYPE_INDEXES.index(TYPE_INDEX[name])] = counts[:, j]
    group = SealedGroup(
        first["s"], fps, published, group_accounts, group_kinds, mine, column("sums", "<f8"), column("tallies", "<u4")
    )
    group.set_ids([post_id for p in loaded for post_id in p["i"]])
    return group


def encode_finals(group: SealedGroup, finals: list[tuple[int, list]]) -> list:
    """``F`` (snapshots): [[post_id, aggregate], ...]: final segments of the sealed lives of ``group``,
    ``finals`` being (position, aggregate state) pairs as ``FinalSegments.by_group`` gives them."""
    return [[group.post_id(i), state] for i, state in finals]


def load_sealed(lifetimes: PostLifetimes, groups: dict[int, list[bytes]], finals, mark: int) -> None:
    """Start the sealed lives from a snapshot's group records, ``F`` and marks."""
    sealed = lifetimes.sealed
    for start in sorted(groups):
        group = decode_group(sealed, groups[start])
        sealed.groups[group.start] = group
    sealed.add_many([])
    lifetimes.mark = mark
    finals = list(finals)
    found = [
        (at, state)
        for (_, state), at in zip(finals, sealed.positions([post_id for post_id, _ in finals]))
        if at is not None
    ]
    sealed.finals.set_states([at for at, _ in found], [state for _, state in found])
    sealed.end_and_expire(mark, lifetimes.lifetime, lifetimes.period)


def _b64(column: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(column, dtype).tobytes()).decode()
