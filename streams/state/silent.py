"""Silent posts (DOMAIN.md, "Benchmarks: what the number means"): a post known from its record that
gathers no event at all has a life all the same, so that its post ER of 0 at maturity counts in its
account's mean (a collapse to zero is the worst case, not a missing one).

The partition that owns the post's account (the interactions topic is keyed by account) starts the
life from the record at the first commit whose close mark passes the publication, unless an event
started it before. It goes into that commit's journal entry like a life an event starts, so a replay
or a snapshot restores it and a restart gives the same records. Only posts published after the
partition's first input arrived (the others never count in the benchmark) and still within their
lifetime get one.

Cost: the post book lists its records in the order they arrived, each with its account's partition
and its publication (``PostArrivals``); at each commit a partition reads what arrived since its last
read (once all of it, after a restore) and keeps its own posts by publication time until its close
mark passes them, then looks up the record only of those that have no life yet.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from .lifetimes import PostLifetimes
from .post_life import FROM_RECORD, LifeDelta, PostLife, PostOf

# (partition, cursor) -> ((published_at, post id) of the records of the partition's accounts that
# arrived from ``cursor`` on, the next cursor)
PostArrivals = Callable[[int, int], "tuple[list[tuple[int | float, str]], int]"]


class SilentStarts:
    def __init__(self, partition: int, arrivals: PostArrivals | None):
        self.partition = partition
        self.arrivals = arrivals
        self.cursor = 0  # read from the book's arrivals up to here (not journaled: the book is re-read too)
        self.due: list[tuple[int | float, str]] = []  # (published_at, post_id), a heap: posts not passed yet

    def start(self, lifetimes: PostLifetimes, post_of: PostOf, mark: int, input_since: int | None) -> None:
        """Start the lives of the posts the close ``mark`` passes whose life no event has started."""
        if self.arrivals is None:
            return
        arrived, self.cursor = self.arrivals(self.partition, self.cursor)
        due = self.due
        if arrived:  # after a restore, every post of the book: one heapify, not a push each
            due.extend(arrived)
            heapq.heapify(due)
        while due and due[0][0] <= mark:
            published, post_id = heapq.heappop(due)
            # The checks without a lookup first: after a restore nearly every post has a life already.
            if (
                input_since is None  # no input yet: the first comes after this publication
                or published < input_since
                or published + lifetimes.lifetime <= mark
                or lifetimes.knows(post_id)
            ):
                continue
            record = post_of(post_id)
            if record is None or record["published_at"] != published:  # removed, or replaced: its new
                continue  # record has its own entry
            life = PostLife(
                record["account_id"],
                record["platform"],
                record["published_at"],
                record["content_type"],
                FROM_RECORD,
                True,
            )
            lifetimes.lives[post_id] = life
            lifetimes.delta[post_id] = LifeDelta(life.meta())
