"""The post book's records held compactly (streams.kafka.post_records): what ``post_of``, ``records``
and ``arrived`` give is what the book gave when it held a dict per record and a list of arrivals
(the model here, computed as that code did), through re-sent records, tombstones and prunes; and a
record costs a few tens of bytes beyond its post id."""

from __future__ import annotations

import gc
import math
import random
import sys
import time
import tracemalloc

import orjson
import pytest

from streams.contract import CONTENT_TYPES
from streams.kafka.partitioner import partition_for
from streams.kafka.post_records import PLATFORMS
from streams.kafka.posts import PostBook
from streams.settings import Settings
from streams.validation.structs import PostRecord

PARTITIONS = 4
DAY = 86_400_000
T0 = int(time.time() * 1000) - DAY  # the book holds no record older than its lifetime (7 days) before now


def message(key: str | None, record: dict | None) -> tuple[bytes | None, bytes | None]:
    return None if key is None else key.encode(), None if record is None else orjson.dumps(record)


def feed(book: PostBook, *messages: tuple[bytes | None, bytes | None]) -> None:
    """The messages as one fetch of a partition hands them to the book."""
    book.apply([key for key, _ in messages], [value for _, value in messages])


class Model:
    """The book as it was: post_id -> record, and [(arrival number, partition, post_id, published_at)]."""

    def __init__(self):
        self.records: dict[str, dict] = {}
        self.arrivals: list[tuple[int, int, str, int | float]] = []
        self.arrived_count = 0

    def apply(self, key: str | None, record: dict | None) -> None:
        if record is None:
            self.records.pop(key, None)  # type: ignore[arg-type]
            return
        self.records[record["post_id"]] = record
        owner = partition_for(record["account_id"], PARTITIONS)
        self.arrivals.append((self.arrived_count, owner, record["post_id"], record["published_at"]))
        self.arrived_count += 1

    def prune(self, horizon: int) -> None:
        for post_id in [p for p, r in self.records.items() if r["published_at"] < horizon]:
            del self.records[post_id]
        self.arrivals = [a for a in self.arrivals if a[2] in self.records]

    def arrived(self, partition: int, cursor: int) -> list[tuple[int | float, str]]:
        """The arrivals' (published_at, post id): the record's own for the latest arrival of a post
        held; an earlier one's, or a removed post's, to the millisecond (floored, within 64 bits)."""
        latest = {p: n for n, _, p, _ in self.arrivals}
        return [
            (at if p in self.records and latest[p] == n else max(-(2**63), min(2**63 - 1, math.floor(at))), p)
            for n, owner, p, at in self.arrivals
            if n >= cursor and owner == partition
        ]


def a_record(rng: random.Random, post_id: str) -> dict:
    record = {
        "post_id": post_id,
        "account_id": f"acct-{rng.randrange(40):04d}",
        "platform": rng.choice(PLATFORMS),
        "published_at": T0 + rng.randrange(7 * DAY),
        "content_type": rng.choice(CONTENT_TYPES),
    }
    odd = rng.random()
    if odd < 0.03:
        record["campaign"] = {"name": "spring", "tags": [1, 2]}  # a field the contract does not name
    elif odd < 0.05:
        record["published_at"] = float(record["published_at"])  # valid: an integral float is an integer
    elif odd < 0.06:
        record["published_at"] = 2**63 + 7  # valid, past a signed 64-bit column
    if rng.random() < 0.5:
        record = dict(reversed(list(record.items())))  # another field order
    return record


def assert_same(book: PostBook, model: Model, seen: set[str]) -> None:
    for post_id in seen:
        assert book.post_of(post_id) == model.records.get(post_id), post_id
        assert (post_id in book.records) == (post_id in model.records)
    assert len(book.records) == len(model.records)
    assert sorted(book.records) == sorted(model.records)
    assert dict(book.records.items()) == model.records and sorted(book.records.keys()) == sorted(model.records)
    last = model.arrived_count
    for partition in range(PARTITIONS):
        for cursor in {0, 1, last // 3, last // 2, last - 1, last, last + 5}:
            arrived, next_cursor = book.arrived(partition, cursor)
            assert arrived == model.arrived(partition, cursor), (partition, cursor)
            assert next_cursor == last


@pytest.mark.parametrize("seed", range(6))
def test_records_and_arrivals_are_those_of_a_dict_and_a_list_through_resends_tombstones_and_prunes(seed):
    rng = random.Random(seed)
    book, model = PostBook(Settings(topic_partitions=PARTITIONS)), Model()
    book.records.index.seal_at = rng.choice([1, 3, 16, 1000])  # the ids merged into the sorted index early or late
    seen: set[str] = set()
    ids = [f"acct-{i % 40:04d}-p{i:06d}" for i in range(300)]
    fetch: list[tuple[bytes | None, bytes | None]] = []  # messages not yet handed to the book

    def deliver() -> None:
        feed(book, *fetch)
        fetch.clear()

    for step in range(900):
        roll = rng.random()
        if roll < 0.6:  # a new post, or a record re-sent (latest wins; each arrival listed)
            post_id = rng.choice(ids) if rng.random() < 0.25 else ids[rng.randrange(len(ids))] + "n"
            key, record = post_id, a_record(rng, post_id)
            if rng.random() < 0.05:  # published before the lifetime: not held, removes the post's record
                record["published_at"] = T0 - 7 * DAY - rng.randrange(DAY)
                fetch.append(message(key, record))
                model.apply(key, None)
                continue
        elif roll < 0.75:  # a tombstone: a held post, a removed one, an unknown one, or no key
            key = rng.choice(sorted(seen)) if seen and rng.random() < 0.8 else rng.choice([f"gone-{step}", None])
            record = None
        elif roll < 0.78:  # an invalid record: nothing held, no arrival
            fetch.append((b"bad", b'{"post_id": "bad"}'))
            continue
        elif roll < 0.82:
            deliver()
            horizon = T0 + rng.randrange(-DAY, 8 * DAY) if rng.random() < 0.7 else T0 - DAY  # nothing old
            book.records.prune(horizon)
            model.prune(horizon)
            assert_same(book, model, seen)
            continue
        else:
            continue
        if key is not None:
            seen.add(key)
        fetch.append(message(key, record))
        model.apply(key, record)
        if rng.random() < 0.2:  # fetches of 1 to ~15 messages
            deliver()
        if step % 50 == 0:
            deliver()
            assert_same(book, model, seen)
    deliver()
    assert_same(book, model, seen)
    book.records.prune(T0 + 8 * DAY)
    model.prune(T0 + 8 * DAY)
    assert_same(book, model, seen)
    # What is left: the records published past 64 bits (never old), and just their arrivals' rows.
    assert all(r["published_at"] > 2**63 for r in model.records.values())
    assert len(book.records.ids) == len(model.arrivals) and len(book.records.whole) == len(model.records)


def test_a_resent_record_is_listed_at_each_arrival_and_a_removed_one_until_the_prune():
    book = PostBook(Settings(topic_partitions=PARTITIONS))
    book.records.index.seal_at = 2
    first = {"post_id": "p", "account_id": "a1", "platform": "x", "published_at": T0, "content_type": "text"}
    feed(book, message("p", first))
    feed(book, message("q", {**first, "post_id": "q"}))
    feed(book, message("r", {**first, "post_id": "r"}))
    moved = {**first, "account_id": "a2", "published_at": T0 + 5, "content_type": "reel"}  # another partition maybe
    feed(book, message("p", moved))
    assert book.post_of("p") == moved
    listed = [(p, [post_id for _, post_id in book.arrived(p, 0)[0]]) for p in range(PARTITIONS)]
    home1, home2 = partition_for("a1", PARTITIONS), partition_for("a2", PARTITIONS)
    assert sorted(post_id for _, ids in listed for post_id in ids) == ["p", "p", "q", "r"]
    assert (T0, "p") in book.arrived(home1, 0)[0] and (T0 + 5, "p") in book.arrived(home2, 3)[0]
    feed(book, message("q", None))
    assert book.post_of("q") is None and (T0, "q") in book.arrived(home1, 0)[0]  # listed until the prune
    book.records.prune(T0 + 1)  # p's latest record is kept: both its arrivals stay; r's is older: gone
    assert book.post_of("r") is None and book.post_of("p") == moved
    assert sorted(post_id for p in range(PARTITIONS) for _, post_id in book.arrived(p, 0)[0]) == ["p", "p"]
    assert book.arrived(home2, 3) == ([(T0 + 5, "p")], 4)  # arrival numbers survive the prune


class Colliding(str):
    """A post id whose hash every other one shares."""

    def __hash__(self) -> int:
        return 42


@pytest.mark.parametrize("run", [1, 4])
def test_ids_of_equal_hash_are_different_posts(run):
    """One record at a time, or in runs (``add_posts``: the sorted part searched for a run at once)."""
    book = PostBook(Settings(topic_partitions=PARTITIONS))
    book.records.index.seal_at = 3
    ids = [Colliding(f"post-{i}") for i in range(10)]
    records = {
        post_id: {
            "post_id": post_id,
            "account_id": "a",
            "platform": "x",
            "published_at": T0 + i,
            "content_type": "text",
        }
        for i, post_id in enumerate(ids)
    }
    resent = {**records[ids[4]], "content_type": "reel"}
    added = [*records.values(), resent, records[ids[7]]]
    for at in range(0, len(added), run):
        book.records.add_posts([PostRecord(**record) for record in added[at : at + run]])
    records[ids[4]] = resent
    del book.records[ids[6]], records[ids[6]]
    book.records.prune(T0 + 2)
    del records[ids[0]], records[ids[1]]
    assert {p: book.post_of(p) for p in ids} == {p: records.get(p) for p in ids}
    assert book.post_of(Colliding("post-x")) is None and len(book.records) == 7


def test_a_week_of_records_costs_a_few_tens_of_bytes_each_beyond_the_post_id():
    """Beyond the id string (the book hands ids out), a record holds 24 bytes of columns, 8 of the
    id list and 12 of the index (~44), plus the arrays' growth and the pending ids (at most 4,095,
    ~100 bytes each: <= 9 bytes a record here): 64 is the bound. A dict per record with its own
    account, platform and content type strings and a tuple per arrival took ~520."""
    n = 50_000
    rng = random.Random(7)
    records = [
        {
            "post_id": f"acct-{i % 2000:04d}-p{i // 2000:06d}",
            "account_id": f"acct-{i % 2000:04d}",
            "platform": PLATFORMS[i % 2000 % len(PLATFORMS)],
            "published_at": T0 + i * 2_600,
            "content_type": rng.choice(CONTENT_TYPES),
        }
        for i in range(n)
    ]
    messages = [message(r["post_id"], r) for r in records]
    id_bytes = sum(sys.getsizeof(r["post_id"]) for r in records)
    del records
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        book = PostBook(Settings(topic_partitions=PARTITIONS))
        for at in range(0, n, 2000):  # fetches of 2,000 messages
            feed(book, *messages[at : at + 2000])
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(book.records) == n
    assert (held - id_bytes) / n <= 64, (held - id_bytes) / n
