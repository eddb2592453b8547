"""Post reference data: every worker holds the records of the posts that may still start a lifetime
(published within ENGAGEMENT_POST_LIFETIME_SECONDS); older ones are dropped from memory, and the topic
deletes them after the lifetime and a benchmark period (streams/kafka/topics.py), so neither memory
nor the read at start grows with uptime.

The book also lists its records in the order they arrive, each with the partition of its account (the
partition its events go to): each partition state reads its own from there, once, to start the lives
of posts that get no event (``arrived``, streams.state.silent)."""

from __future__ import annotations

import bisect
import time

from ..settings import Settings
from ..validation import validate_post
from .partitioner import partition_for
from .reference import ReferenceBook

PRUNE_EVERY_SECONDS = 60.0


class PostBook(ReferenceBook):
    name = "posts"

    def __init__(self, settings: Settings, kafka_config: dict | None = None):
        super().__init__(settings, settings.topic_posts, validate_post, "post_id", kafka_config)
        self.lifetime_ms = int(settings.post_lifetime_seconds * 1000)
        self._pruned_at = 0.0
        self.partitions = settings.topic_partitions
        # [arrival number, the account's partition, post_id] in order of arrival; a cursor is a number
        self._arrivals: list[tuple[int, int, str]] = []
        self._arrived = 0

    def added(self, record: dict) -> None:
        self._arrivals.append((self._arrived, partition_for(record["account_id"], self.partitions), record["post_id"]))
        self._arrived += 1

    def arrived(self, partition: int, cursor: int) -> tuple[list[str], int]:
        """The post ids of ``partition``'s accounts whose records arrived from ``cursor`` on, and the
        cursor to read on from."""
        arrivals = self._arrivals
        start = bisect.bisect_left(arrivals, (cursor,))
        return [post_id for _, owner, post_id in arrivals[start:] if owner == partition], self._arrived

    def post_of(self, post_id: str) -> dict | None:
        return self.records.get(post_id)

    def after_batch(self) -> None:
        now = time.time()
        if now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        horizon = int(now * 1000) - self.lifetime_ms
        for post_id in [p for p, r in self.records.items() if r["published_at"] < horizon]:
            del self.records[post_id]
        self._arrivals = [arrival for arrival in self._arrivals if arrival[2] in self.records]
