"""One post's life as the post lifetimes hold it (``lifetimes``), and a commit's change to it."""

from __future__ import annotations

from collections.abc import Callable

from ..model.aggregates import WindowAggregate

FROM_RECORD, FROM_FIRST_EVENT = "post_record", "first_event"

PostOf = Callable[[str], "dict | None"]  # post_id -> its post record, if known


class PostLife:
    """One post: who and what it is, the ages published so far, and its aggregates by segment."""

    __slots__ = (
        "account_id",
        "platform",
        "published_at",
        "content_type",
        "source",
        "complete",
        "max_ts",
        "done",
        "total",
        "segments",
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
        self.account_id, self.platform, self.published_at = account_id, platform, published_at
        self.content_type, self.source, self.complete = content_type, source, complete
        self.max_ts = max_ts  # the latest event ts counted: whether a late post record can be adopted
        self.done = 0  # ages published
        self.total: WindowAggregate | None = None  # the segments of the ages published, merged
        self.segments: dict[int, WindowAggregate] = {}
        self.reached: list[int] = []  # engaged at each age before maturity: the curve (model/early.py)

    def meta(self) -> list:
        return [self.account_id, self.platform, self.published_at, self.content_type, self.source, self.complete]

    def so_far(self) -> WindowAggregate:
        """Everything counted for the post (the live view)."""
        agg = self.total.copy() if self.total is not None else WindowAggregate()
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
