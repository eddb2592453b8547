"""Post reference data: every worker holds the records of the posts that may still start a lifetime
(published within ENGAGEMENT_POST_LIFETIME_SECONDS); older ones are dropped from memory, and the topic
deletes them after the lifetime and a benchmark period (streams/kafka/topics.py), so neither memory
nor the read at start grows with uptime."""

from __future__ import annotations

import time

from ..settings import Settings
from ..validation import validate_post
from .reference import ReferenceBook

PRUNE_EVERY_SECONDS = 60.0


class PostBook(ReferenceBook):
    name = "posts"

    def __init__(self, settings: Settings, kafka_config: dict | None = None):
        super().__init__(settings, settings.topic_posts, validate_post, "post_id", kafka_config)
        self.lifetime_ms = int(settings.post_lifetime_seconds * 1000)
        self._pruned_at = 0.0

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
