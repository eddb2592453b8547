"""The post book reading what Kafka's own console producer wrote (zstd batches, the Java client's
partitioning): records of the lifetime are held, one past it is neither held nor an arrival, and a
record re-dated past the lifetime removes the one it replaces. Expected ids are the test's own. (The
skip at read and the prune after a batch give the same outcome; the test fails without both.)"""

from __future__ import annotations

import time

import orjson
import pytest

from streams.devtools.kafka_tools import console_produce
from streams.kafka.posts import PostBook
from streams.kafka.security import kafka_client_config
from tests.fixtures.kafka import isolated_settings, run

pytestmark = pytest.mark.integration

HOUR = 3_600_000


def post(post_id: str, published_at: int) -> tuple[bytes, bytes]:
    record = {
        "post_id": post_id,
        "account_id": f"acct-{post_id}",
        "platform": "instagram",
        "published_at": published_at,
        "content_type": "image",
    }
    return post_id.encode(), orjson.dumps(record)


def test_the_post_book_holds_what_the_console_producer_sent_within_the_lifetime(kafka_bootstrap, topics_ready):
    settings = topics_ready(isolated_settings(kafka_bootstrap))
    lifetime = int(settings.post_lifetime_seconds * 1000)
    now = int(time.time() * 1000)
    young = [post(f"young-{i}", now - i * HOUR) for i in range(20)]
    old = [post(f"old-{i}", now - lifetime - (1 + i) * HOUR) for i in range(20)]
    redated = [post("redated", now - HOUR), post("redated", now - lifetime - HOUR)]  # its latest: past the lifetime
    console_produce(kafka_bootstrap, settings.topic_posts, young + old + redated, codec="zstd")

    async def held() -> tuple[set[str], set[str]]:
        book = PostBook(settings, kafka_client_config(settings))
        await book.start(60)
        try:
            arrivals = {pid for p in range(settings.topic_partitions) for _, pid in book.arrived(p, 0)[0]}
            return set(book.records), arrivals
        finally:
            await book.stop()

    records, arrivals = run(held())
    assert records == {f"young-{i}" for i in range(20)}
    assert not any(pid.startswith("old-") for pid in arrivals)
