"""Silent posts (DOMAIN.md, "Benchmarks: what the number means"): a post known from its record that
gathers no event at all has a post ER of 0 at maturity and belongs in its account's mean. Expected
values are worked out here from the records and events the test makes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from streams.state.silent import SilentStarts
from tests.unit.state.test_lifetimes import DAY, FOLLOWERS, T0, Feed, H, W, post

AGES = (H, DAY, 7 * DAY)  # the default record ages; the last is the lifetime


class Book:
    """The reference book's side: post records by id, and the order they arrived in, each with its
    account's partition."""

    def __init__(self):
        self.records: dict[str, dict] = {}
        self.order: list[tuple[int, int, str]] = []

    def put(self, post_id: str, record: dict, partition: int = 0) -> None:
        self.records[post_id] = record
        self.order.append((partition, record["published_at"], post_id))

    def arrived(self, partition: int, cursor: int) -> tuple[list[tuple[int, str]], int]:
        return [(at, p) for owner, at, p in self.order[cursor:] if owner == partition], len(self.order)


def test_a_post_without_events_matures_at_zero_and_counts_in_its_accounts_mean():
    book = Book()
    feed = Feed(book.records, arrivals=book.arrived)
    book.put("silent", post(T0 + H))
    book.put("loud", post(T0 + H + 30 * W))
    book.put("before-input", post(T0 - H))  # published before the partition's first input: incomplete
    book.put("elsewhere", post(T0 + H, account="other"), partition=1)  # another partition's account
    feed.event("loud", T0 + H + 31 * W, "like")
    feed.event("loud", T0 + H + 32 * W, "comment")
    feed.advance(T0 + 5 * H)
    book.put("late-record", post(T0 + 3 * H))  # its record comes after its publication: still a post
    feed.finish(T0 + 2 * DAY)

    silent = feed.records("silent")
    assert sorted(silent) == [H, DAY]
    assert all(r["engaged"] == 0 and r["complete"] and r["published_at"] == T0 + H for r in silent.values())
    assert silent[DAY]["rates"]["er_followers"] == 0.0
    assert feed.records("late-record")[DAY]["rates"]["er_followers"] == 0.0
    assert feed.records("before-input") == {} and feed.records("elsewhere") == {}
    samples = {s[0]: s[4] for s in feed.state.lifetimes.samples["brand"]}
    assert samples == {"silent": 0.0, "loud": 2 / FOLLOWERS["brand"], "late-record": 0.0}

    feed.advance(T0 + 8 * DAY)
    book.put("past-lifetime", post(T0 + 4 * H))  # known only once its lifetime is over: no life
    feed.finish(T0 + 8 * DAY + H)
    assert [r["age_ms"] for r in feed.lifetime_records if r["post_id"] == "silent"] == list(AGES)
    assert feed.records("past-lifetime") == {}


@pytest.mark.parametrize("snapshot", [False, True])
@pytest.mark.parametrize("restart_at", [T0 + H - W, T0 + 3 * H])  # before its publication; after its first age
def test_a_restart_gives_a_silent_post_the_same_records(snapshot, restart_at):
    def run(restart: bool) -> list[tuple]:
        book = Book()
        feed = Feed(book.records, arrivals=book.arrived)
        book.put("silent", post(T0 + H))
        feed.event("loud", T0 + 10 * W)
        feed.advance(restart_at)
        feed.commit(take_snapshot=snapshot)
        if restart:
            feed.restart()
        feed.finish(T0 + 2 * DAY)
        return [(r["post_id"], r["age_ms"], r["engaged"], r["complete"]) for r in feed.lifetime_records]

    restarted = run(restart=True)
    assert restarted == run(restart=False)
    assert [r for r in restarted if r[0] == "silent"] == [("silent", H, 0, True), ("silent", DAY, 0, True)]


def test_after_a_restore_the_posts_with_a_life_are_not_looked_up():
    """A restore re-reads the whole book (a week: 232,000 posts); each post_of is a few µs, on the way
    to counting again. Only posts with no life yet need their record."""
    book = Book()
    for i in range(1000):
        book.put(f"p{i}", {"published_at": T0 + i, "account_id": "a1", "platform": "x", "content_type": "text"})
    lives = SimpleNamespace(lifetime=7 * DAY, knows=lambda post_id: post_id != "p7", lives={}, delta={})
    looked_up = []

    def post_of(post_id):
        looked_up.append(post_id)
        return book.records.get(post_id)

    SilentStarts(0, book.arrived).start(lives, post_of, T0 + 2000, T0)
    assert looked_up == ["p7"] and list(lives.lives) == ["p7"]
