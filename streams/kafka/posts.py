"""Post reference data: every worker holds the records of the posts that may still start a lifetime
(published within ENGAGEMENT_POST_LIFETIME_SECONDS); older ones are dropped from memory, and the topic
deletes them after the lifetime and a benchmark period (streams/kafka/topics.py), so neither memory
nor the read at start grows with uptime.

The book also lists its records in the order they arrive, each with the partition of its account (the
partition its events go to): each partition state reads its own from there, once, to start the lives
of posts that get no event (``arrived``, streams.state.silent)."""

from __future__ import annotations

import time

from ..settings import Settings
from ..validation import decode_post, validate_post
from .post_records import PostRecords
from .reference import ReferenceBook

PRUNE_EVERY_SECONDS = 60.0


class PostBook(ReferenceBook):
    name = "posts"
    records: PostRecords

    def __init__(self, settings: Settings, kafka_config: dict | None = None):
        # The records and their arrivals, compactly: a week's 232,000 records in ~25 MB, not ~130.
        records = PostRecords(settings.topic_partitions)
        super().__init__(settings, settings.topic_posts, self._validate_current, "post_id", kafka_config, records)
        self.lifetime_ms = int(settings.post_lifetime_seconds * 1000)
        self._pruned_at = 0.0
        self.partitions = settings.topic_partitions

    def _validate_current(self, value: bytes | None):
        """A record past the lifetime is nothing to hold (the topic keeps a benchmark period more, half
        of what a start reads): not validated, and it removes the record of its post it replaces."""
        return validate_post(value, published_since=int(time.time() * 1000) - self.lifetime_ms)

    def apply(self, keys: list[bytes | None], values: list[bytes | None]) -> None:
        """The runs of current records the struct decodes are added in bulk (a start reads ~500,000);
        a tombstone, a record past the lifetime, and one the struct refuses go one by one."""
        since = int(time.time() * 1000) - self.lifetime_ms
        run: list = []
        for key, value in zip(keys, values):
            post = decode_post(value)
            if post is not None and post.published_at >= since:
                run.append(post)
                continue
            if run:
                self.records.add_posts(run)
                run = []
            self._apply(key, value)
        if run:
            self.records.add_posts(run)

    def arrived(self, partition: int, cursor: int) -> tuple[list[tuple[int | float, str]], int]:
        """(published_at, post id) of the records of ``partition``'s accounts that arrived from
        ``cursor`` on (a cursor is an arrival number), and the cursor to read on from."""
        return self.records.arrived(partition, cursor)

    def post_of(self, post_id: str) -> dict | None:
        return self.records.get(post_id)

    def after_batch(self) -> None:
        now = time.time()
        if now - self._pruned_at < PRUNE_EVERY_SECONDS:
            return
        self._pruned_at = now
        # A record past the lifetime leaves, and with it its post's arrivals (a removed one's too).
        self.records.prune(int(now * 1000) - self.lifetime_ms)
