"""One post's life as the post lifetimes hold it (``lifetimes``), and a commit's change to it."""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from sys import intern

from ..model.aggregates import WindowAggregate
from .aggregate_rows import merged, packed, packed_state, unpacked

FROM_RECORD, FROM_FIRST_EVENT = "post_record", "first_event"

PostOf = Callable[[str], "dict | None"]  # post_id -> its post record, if known


class PostLife:
    """One post: who and what it is, the ages published so far, and its aggregates by segment.

    A young post holds its total and a segment or two for a day or more, and changes them once per
    commit at most (the events go into the commit's ``LifeDelta``): so they are held packed
    (``aggregate_rows.packed``, 93 B where an aggregate takes ~300) and the segments as a flat tuple
    (index, value, ...) where a dict took 224 B. Reads give new aggregates; changes go through
    ``add_segment``, ``pop_segment`` and the setters."""

    __slots__ = (
        "account_id",
        "platform",
        "published_at",
        "content_type",
        "source",
        "complete",
        "max_ts",
        "done",
        "_total",
        "_segments",
        "reached",
    )

    def __init__(
        self,
        account_id: str,
        platform: str,
        published_at: int,
        content_type: str,
        source: str,
        complete: bool,
        max_ts: int = 0,
    ):
        # one string each, however many lives hold it: a restore's JSON gives each life its own (~200 B)
        self.account_id, self.platform, self.published_at = intern(account_id), intern(platform), published_at
        self.content_type, self.source, self.complete = intern(content_type), intern(source), complete
        self.max_ts = max_ts  # the latest event ts counted: whether a late post record can be adopted
        self.done = 0  # ages published
        self._total: bytes | WindowAggregate | None = None  # the segments of the ages published, merged
        self._segments: tuple = ()  # segment index, its aggregate (packed), ... in the order they came
        self.reached: list[int] = []  # engaged at each age before maturity: the curve (model/early.py)

    def meta(self) -> list:
        return [self.account_id, self.platform, self.published_at, self.content_type, self.source, self.complete]

    @property
    def total(self) -> WindowAggregate | None:
        return None if self._total is None else unpacked(self._total)

    @total.setter
    def total(self, agg: WindowAggregate | None) -> None:
        self._total = None if agg is None else packed(agg)

    def set_total_state(self, state: list | None) -> None:
        """The total from its ``to_state`` state (a restore's)."""
        self._total = None if state is None else packed_state(state)

    @property
    def segments(self) -> dict[int, WindowAggregate]:
        """The segments not yet published, by index."""
        held = self._segments
        return {held[j]: unpacked(held[j + 1]) for j in range(0, len(held), 2)}

    @segments.setter
    def segments(self, segments: dict[int, WindowAggregate]) -> None:
        self._segments = tuple(chain.from_iterable((i, packed(agg)) for i, agg in segments.items()))

    def set_segment_states(self, states) -> None:
        """The segments from [[index, ``to_state`` state], ...] (a restore's)."""
        self._segments = tuple(chain.from_iterable((i, packed_state(state)) for i, state in states))

    def merge_total(self, agg: WindowAggregate) -> None:
        """Merge ``agg`` (an age's segment, published) into the total (or start it)."""
        self._total = packed(agg) if self._total is None else merged(self._total, agg)

    def segment(self, index: int) -> WindowAggregate | None:
        j = self._at(index)
        return None if j is None else unpacked(self._segments[j + 1])

    def add_segment(self, index: int, agg: WindowAggregate) -> None:
        """Merge ``agg`` into the segment ``index`` (or start it with ``agg``'s values)."""
        held, j = self._segments, self._at(index)
        if j is None:
            self._segments = (*held, index, packed(agg))
        else:
            self._segments = (*held[: j + 1], merged(held[j + 1], agg), *held[j + 2 :])

    def pop_segment(self, index: int) -> WindowAggregate | None:
        held, j = self._segments, self._at(index)
        if j is None:
            return None
        self._segments = held[:j] + held[j + 2 :]
        return unpacked(held[j + 1])

    def _at(self, index: int) -> int | None:
        """Where segment ``index`` is in the flat tuple (a young life holds one or two)."""
        held = self._segments
        for j in range(0, len(held), 2):
            if held[j] == index:
                return j
        return None

    def held(self) -> tuple[int, int]:
        """(aggregates held packed, aggregates kept whole): for the memory estimate."""
        values = [self._total, *self._segments[1::2]] if self._total is not None else self._segments[1::2]
        whole = sum(type(value) is not bytes for value in values)
        return len(values) - whole, whole

    def so_far(self) -> WindowAggregate:
        """Everything counted for the post (the live view)."""
        agg = self.total
        if agg is None:
            agg = WindowAggregate()
        for segment in self.segments.values():
            agg.merge(segment)
        return agg


class LifeDelta:
    """A commit's change to one post's life: its segments' new events, the latest ts, and the life's
    meta when the commit started it or gave it its record."""

    __slots__ = ("meta", "max_ts", "segments")

    def __init__(self, meta: list | None = None, max_ts: int = 0):
        self.meta, self.max_ts = meta, max_ts
        self.segments: dict[int, WindowAggregate] = {}
