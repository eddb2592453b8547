"""The window aggregate: a small mergeable value type, the only state the engine keeps per window.

``add`` folds one event in, ``merge`` folds another aggregate in (``a.merge(b)`` equals adding b's
events to a, in any order), ``to_state``/``from_state`` give the compact list the state changelog
stores. Rates are computed from aggregates by the pure functions of ``streams.model.rates``.
"""

from __future__ import annotations

from ..contract import TYPE_INDEX, TYPES

NEGATIVE_SENTIMENT = -0.2  # DOMAIN.md: a sentiment below -0.2 is negative.

IMPRESSION = TYPE_INDEX["impression"]
LIKE, REACTION = TYPE_INDEX["like"], TYPE_INDEX["reaction"]
COMMENT, SHARE, CLICK = TYPE_INDEX["comment"], TYPE_INDEX["share"], TYPE_INDEX["click"]
FOLLOW, UNFOLLOW = TYPE_INDEX["follow"], TYPE_INDEX["unfollow"]


RESPONSE_FIELDS = 6  # the length of WindowAggregate.responses
_TYPE_COUNT = len(TYPES)


def _padded(values: list, length: int) -> list:
    return list(values) + [0] * (length - len(values))


class WindowAggregate:
    """Counts per type, dwell sum and count, sentiment sum/count/negatives, and (account level) the
    distinct posts seen and the mentions answered and resolved. ``posts`` is None for post-level
    aggregates, where it would always be 1. ``responses``: [answered, response ms sum, max, within the
    acknowledge SLA, resolved, closed without answer]; a state written before resolve events holds the
    first four, and a count list written before a type was added is short: both read as zeros."""

    __slots__ = (
        "counts",
        "dwell_ms_sum",
        "dwell_count",
        "sentiment_sum",
        "sentiment_count",
        "sentiment_negative",
        "posts",
        "responses",
    )

    def __init__(self, track_posts: bool = False):
        self.counts = [0] * len(TYPES)
        self.dwell_ms_sum = 0.0
        self.dwell_count = 0
        self.sentiment_sum = 0.0
        self.sentiment_count = 0
        self.sentiment_negative = 0
        self.posts: set[str] | None = set() if track_posts else None
        self.responses: list[int] | None = None  # most windows answer no mention

    def add(
        self, type_index: int, dwell_ms: float | None = None, sentiment: float | None = None, post_id: str | None = None
    ) -> None:
        self.counts[type_index] += 1
        if dwell_ms is not None:
            self.dwell_ms_sum += dwell_ms
            self.dwell_count += 1
        if sentiment is not None:
            self.sentiment_sum += sentiment
            self.sentiment_count += 1
            if sentiment < NEGATIVE_SENTIMENT:
                self.sentiment_negative += 1
        if post_id is not None and self.posts is not None:
            self.posts.add(post_id)

    def add_response(self, response_ms: int, within_sla: bool) -> None:
        mine = self.responses
        if mine is None:
            mine = self.responses = [0] * RESPONSE_FIELDS
        mine[0] += 1
        mine[1] += response_ms
        if response_ms > mine[2]:
            mine[2] = response_ms
        mine[3] += within_sla

    def add_resolved(self, answered: bool) -> None:
        mine = self.responses
        if mine is None:
            mine = self.responses = [0] * RESPONSE_FIELDS
        mine[4] += 1
        mine[5] += not answered

    def merge(self, other: WindowAggregate) -> WindowAggregate:
        counts = self.counts
        for i, n in enumerate(other.counts):
            counts[i] += n
        self.dwell_ms_sum += other.dwell_ms_sum
        self.dwell_count += other.dwell_count
        self.sentiment_sum += other.sentiment_sum
        self.sentiment_count += other.sentiment_count
        self.sentiment_negative += other.sentiment_negative
        if self.posts is not None and other.posts:
            self.posts |= other.posts
        theirs = other.responses
        if theirs is not None:
            mine = self.responses
            if mine is None:
                self.responses = list(theirs)
            else:
                mine[0] += theirs[0]
                mine[1] += theirs[1]
                mine[2] = max(mine[2], theirs[2])
                mine[3] += theirs[3]
                mine[4] += theirs[4]
                mine[5] += theirs[5]
        return self

    def copy(self) -> WindowAggregate:
        return WindowAggregate(self.posts is not None).merge(self)

    @property
    def total(self) -> int:
        return sum(self.counts)

    def count(self, type_name: str) -> int:
        return self.counts[TYPE_INDEX[type_name]]

    def counts_by_type(self) -> dict[str, int]:
        return dict(zip(TYPES, self.counts))

    def to_state(self) -> list:
        state = [
            list(self.counts),
            self.dwell_ms_sum,
            self.dwell_count,
            self.sentiment_sum,
            self.sentiment_count,
            self.sentiment_negative,
            None if self.posts is None else sorted(self.posts),
        ]
        if self.responses is not None:
            state.append(list(self.responses))
        return state

    @classmethod
    def from_state(cls, state: list) -> WindowAggregate:
        """Without ``__init__``'s defaults, each replaced at once: a restore makes hundreds of thousands."""
        agg = cls.__new__(cls)
        counts = state[0]
        agg.counts = counts[:] if len(counts) == _TYPE_COUNT else _padded(counts, _TYPE_COUNT)
        (agg.dwell_ms_sum, agg.dwell_count, agg.sentiment_sum, agg.sentiment_count, agg.sentiment_negative) = state[1:6]
        agg.posts = None if state[6] is None else set(state[6])
        agg.responses = _padded(state[7], RESPONSE_FIELDS) if len(state) > 7 else None
        return agg

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WindowAggregate) and self.to_state() == other.to_state()

    def __repr__(self) -> str:
        nonzero = {t: n for t, n in zip(TYPES, self.counts) if n}
        return f"WindowAggregate({nonzero}, dwell={self.dwell_ms_sum}/{self.dwell_count})"
