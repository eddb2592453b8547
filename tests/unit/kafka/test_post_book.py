"""The post book's arrivals: each partition learns the records of its own accounts' posts, each once
per record, in the order they came (streams.state.silent starts the lives of those with no event)."""

from __future__ import annotations

import time

import orjson

from streams.kafka.partitioner import partition_for
from streams.kafka.posts import PostBook
from streams.settings import Settings

PARTITIONS = 4


def message(post_id: str, account_id: str, published_at: int):
    record = {
        "post_id": post_id,
        "account_id": account_id,
        "platform": "instagram",
        "published_at": published_at,
        "content_type": "image",
    }
    return [post_id.encode()], [orjson.dumps(record)]


def test_each_partition_reads_its_accounts_posts_once_and_old_ones_leave():
    book = PostBook(Settings(topic_partitions=PARTITIONS))
    now = int(time.time() * 1000)
    accounts = [f"acct-{i}" for i in range(12)]
    for i, account in enumerate(accounts):
        book.apply(*message(f"p{i}", account, now - 1000 * i))
    book.apply([b"bad"], [b"{}"])  # invalid: no record, no arrival
    # The partition events of an account go to (the interactions topic is keyed by account_id).
    expected = {p: [f"p{i}" for i, a in enumerate(accounts) if partition_for(a, PARTITIONS) == p] for p in range(4)}
    cursors = {}
    for p in range(PARTITIONS):
        got, cursors[p] = book.arrived(p, 0)
        assert got == [(now - 1000 * int(post_id[1:]), post_id) for post_id in expected[p]]
    assert sum(len(ids) for ids in expected.values()) == len(accounts)
    book.apply(*message("p-new", accounts[0], now))
    home = partition_for(accounts[0], PARTITIONS)
    for p in range(PARTITIONS):
        assert book.arrived(p, cursors[p])[0] == ([(now, "p-new")] if p == home else [])

    # Records past the lifetime leave the book, and their arrivals with them.
    book.lifetime_ms = 5500
    book.after_batch()
    assert set(book.records) == {"p0", "p1", "p2", "p3", "p4", "p5", "p-new"}
    left = sorted(post_id for p in range(PARTITIONS) for _, post_id in book.arrived(p, 0)[0])
    assert left == ["p-new", "p0", "p1", "p2", "p3", "p4", "p5"]
    assert all(book.arrived(p, cursors[p])[0] == ([(now, "p-new")] if p == home else []) for p in range(PARTITIONS))


def test_a_record_past_the_lifetime_is_not_held_and_removes_the_one_it_replaces():
    """A start reads the posts topic's lifetime and benchmark period: half of it past the lifetime,
    which the book would only drop at its next prune (validated and inserted first)."""
    book = PostBook(Settings(topic_partitions=PARTITIONS, post_lifetime_seconds=3600))
    now = int(time.time() * 1000)
    book.apply(*message("young", "acct-1", now - 60_000))
    book.apply(*message("old", "acct-1", now - 3_601_000))
    book.apply(*message("redated", "acct-2", now - 60_000))
    book.apply(*message("redated", "acct-2", now - 7_200_000))  # its latest record: past the lifetime
    assert set(book.records) == {"young"}
    assert "old" not in [post_id for p in range(PARTITIONS) for _, post_id in book.arrived(p, 0)[0]]
