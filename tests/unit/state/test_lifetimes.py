"""Post lifetimes and the account ER per post (no Kafka), against DOMAIN.md's definitions:

    post ER at age A       engaged interactions on the post from its publication to publication + A, / followers
    account ER per post    mean of post ER at the maturity age (24 h) over the account's posts published in
                           the benchmark period (7 days) that have reached that age

The expected values are worked out here from the events the test makes, never from the engine."""

from __future__ import annotations

import json

import orjson
import pytest
from jsonschema import Draft202012Validator
from prometheus_client import CollectorRegistry

from streams.metrics.posts import PostRateGauges
from streams.model.bands import band_for, load_benchmarks
from streams.state import PartitionState, WindowConfig
from streams.state.live import post_lifetime
from streams.state.replay import apply_journal, load_snapshot
from streams.state.snapshot import SnapshotReader
from streams.validation.structs import event_from
from tests.fixtures.paths import REPO

SCHEMAS = REPO / "schemas"
LIFETIME_VALIDATOR = Draft202012Validator(json.loads((SCHEMAS / "post-lifetime.schema.json").read_text()))

H, DAY = 3_600_000, 86_400_000
W, G = 60_000, 300_000
ENGAGED = ("like", "reaction", "comment", "share", "save", "click")
CFG = WindowConfig(window_ms=W, grace_ms=G, rolling_ms=H, dedup_ms=900_000, engaged_types=ENGAGED)
T0 = 1_700_000_040_000  # a window start
FOLLOWERS = {"brand": 10_000, "other": 5_000}


def followers_of(account_id):
    return FOLLOWERS.get(account_id)


class Feed:
    """A partition fed in event-time order, committing as the engine does (every few minutes here)."""

    def __init__(self, posts: dict, cfg: WindowConfig = CFG, platform: str = "instagram", arrivals=None):
        self.posts = posts
        self.arrivals = arrivals  # the reference book's records in their order of arrival (silent posts)
        self.state = PartitionState(0, cfg, post_of=posts.get, post_arrivals=arrivals)
        self.state.start_at(T0)  # as the engine does at the first input, which arrived at T0
        self.state.input_from(T0)
        self.platform = platform
        self.lifetime_records: list[dict] = []
        self.journal: list[dict] = []  # the entries after the latest snapshot, as the engine keeps them
        self.snapshot_topic: list[tuple[bytes, bytes | None]] = []
        self.now = T0
        self.n = 0

    def event(self, post_id: str, ts: int, type_: str = "like", account: str = "brand") -> None:
        self.advance(ts)
        self.n += 1
        self.state.add(
            event_from(
                {
                    "event_id": f"e{self.n}",
                    "type": type_,
                    "ts": ts,
                    "platform": self.platform,
                    "account_id": account,
                    "post_id": post_id,
                }
            ),
            self.now,
        )

    def advance(self, to: int) -> None:
        while self.now + 10 * W <= to:  # commits every 10 minutes of the clock
            self.now += 10 * W
            self.commit()
        self.now = max(self.now, to)

    def finish(self, at: int) -> None:
        """Commit at ``at`` (after the events so far): what has closed by then is published."""
        self.advance(at)
        self.commit()

    def commit(self, take_snapshot: bool = False) -> None:
        result = self.state.commit(self.now, followers_of, take_snapshot=take_snapshot)
        for record in result.lifetime_records:
            LIFETIME_VALIDATOR.validate(record)
        self.lifetime_records += result.lifetime_records
        if take_snapshot:
            self.journal = []
        if result.journal is not None:
            self.journal.append(orjson.loads(orjson.dumps(result.journal)))  # serialized, as the engine does
        self.snapshot_topic += result.snapshot_records

    def restart(self) -> None:
        """A new worker's state, restored as the engine restores it: the latest snapshot, then the
        journal after it."""
        reader = SnapshotReader()
        for key, value in self.snapshot_topic:
            reader.add(key, value)
        self.state = PartitionState(0, self.state.config, post_of=self.posts.get, post_arrivals=self.arrivals)
        load_snapshot(self.state, reader.snapshot())
        for entry in self.journal:
            if entry["q"] > self.state.seq:
                apply_journal(self.state, entry)

    def records(self, post_id: str) -> dict[int, dict]:
        return {r["age_ms"]: r for r in self.lifetime_records if r["post_id"] == post_id}


def post(published_at: int, content_type: str = "image", account: str = "brand") -> dict:
    return {"account_id": account, "platform": "instagram", "published_at": published_at, "content_type": content_type}


def test_domain_worked_example_three_posts_at_24_hours():
    """DOMAIN.md: followers 10,000; three posts reach 24 h with 120, 200 and 70 engaged interactions:
    post ERs 1.2 %, 2.0 %, 0.7 %, account ER per post 1.3 %; below instagram's band, inside facebook's."""
    published = {"p1": T0 + H, "p2": T0 + 2 * H, "p3": T0 + 3 * H}
    feed = Feed({p: post(ts, "reel" if p == "p2" else "image") for p, ts in published.items()})
    engaged = {"p1": 120, "p2": 200, "p3": 70}
    # Engaged interactions spread over each post's first day, impressions too (not engaged); after
    # 24 h more engagement comes, which the 24 h ER must not count.
    events = []
    for p, n in engaged.items():
        events += [(published[p] + k * (DAY - 1) // n, p, "like" if k % 2 else "comment") for k in range(n)]
        events += [(published[p] + k * 997, p, "impression") for k in range(500)]
        events += [(published[p] + DAY + k * W, p, "share") for k in range(30)]
    for ts, p, type_ in sorted(events):
        feed.event(p, ts, type_)
    feed.finish(feed.now + G + 20 * W)
    for p, n in engaged.items():
        at_day = feed.records(p)[DAY]
        assert at_day["engaged"] == n and at_day["counts"]["impression"] == 500
        assert at_day["rates"]["er_followers"] == n / 10_000
        assert at_day["window_start"] == published[p] and at_day["window_end"] == published[p] + DAY
        assert at_day["complete"] and at_day["published_at_source"] == "post_record" and not at_day["final"]
    samples = feed.state.lifetimes.samples["brand"]
    assert sorted((s[0], s[4]) for s in samples) == [("p1", 0.012), ("p2", 0.02), ("p3", 0.007)]

    gauges = PostRateGauges(CollectorRegistry(), cap=10, benchmarks=load_benchmarks(None), window_share=1 / 168)
    gauges.update(feed.state.lifetimes.samples, feed.state.lifetimes.published, lambda a: "")
    assert gauges.cadence.series[("brand", "instagram")] == 3 / 168  # 3 posts in 7 days of hours
    rates = gauges.rate.series
    assert abs(rates[("brand", "instagram", "", "all")] - 0.013) < 1e-12
    assert rates[("brand", "instagram", "", "reel")] == 0.02
    assert gauges.posts.series[("brand", "instagram", "", "all")] == 3
    table = load_benchmarks(None)
    assert 0.013 < band_for(table, "instagram", "")[0]  # below benchmark on instagram
    low, high = band_for(table, "facebook", "")
    assert low <= 0.013 <= high  # inside the band on facebook


def test_each_age_holds_exactly_the_events_before_publication_plus_that_age():
    published = T0 + 10 * W
    feed = Feed({"p": post(published)})
    # Ages in ms: before publication (clock skew), just under and at each age boundary, past the lifetime.
    ages = [-5_000, 0, H - 1, H, H + 1, DAY - 1, DAY, 3 * DAY, 7 * DAY - 1, 7 * DAY, 7 * DAY + W]
    for age in ages:
        feed.event("p", published + age, "like")
    feed.finish(published + 7 * DAY + 2 * W + G)
    expected = {a: sum(1 for age in ages if age < a and age < 7 * DAY) for a in (H, DAY, 7 * DAY)}
    assert {a: r["engaged"] for a, r in feed.records("p").items()} == expected == {H: 3, DAY: 6, 7 * DAY: 9}
    assert [r["final"] for r in sorted(feed.records("p").values(), key=lambda r: r["age_ms"])] == [False, False, True]
    assert feed.records("p")[DAY]["rates"]["er_followers"] == 6 / 10_000
    # A benchmark period (7 days) after its publication, the post is out of its account's ER per post.
    assert feed.state.lifetimes.samples == {}


def test_a_post_without_a_record_starts_at_its_first_event_and_takes_its_record_while_it_can():
    posts: dict = {}
    feed = Feed(posts)
    first = T0 + 2 * DAY
    feed.event("late-record", first, "like")
    feed.event("never", first, "like")
    feed.commit()
    posts["late-record"] = post(first - 30 * W, "video")  # 30 min before its first event: adopted
    feed.event("late-record", first + 5 * W, "like")
    feed.event("never", first + 5 * W, "like")
    feed.finish(first + 2 * DAY)
    adopted, standing_in = feed.records("late-record")[H], feed.records("never")[H]
    assert (adopted["published_at"], adopted["content_type"], adopted["published_at_source"], adopted["complete"]) == (
        first - 30 * W,
        "video",
        "post_record",
        True,
    )
    assert (standing_in["published_at"], standing_in["content_type"], standing_in["published_at_source"]) == (
        first,
        "unknown",
        "first_event",
    )
    assert adopted["engaged"] == standing_in["engaged"] == 2


@pytest.mark.parametrize("snapshot", [False, True], ids=["journal", "snapshot"])
def test_a_record_that_comes_after_a_restart_is_adopted_as_without_the_restart(snapshot):
    """The reference book polls its topic every second, so a post's record often comes after its
    first events; a restart or a rebalance may come in between. The output must not depend on it."""

    def run(restart: bool) -> dict[int, dict]:
        posts: dict = {}
        feed = Feed(posts)
        first = T0 + 2 * DAY
        feed.event("p", first, "like")
        feed.event("p", first + W, "comment")
        feed.commit(take_snapshot=snapshot)
        if restart:
            feed.restart()
        posts["p"] = post(first - 30 * W, "video")  # 30 min before its first event: to be adopted
        feed.event("p", first + 5 * W, "like")
        feed.finish(first + 2 * DAY)
        return feed.records("p")

    restarted, uninterrupted = run(restart=True), run(restart=False)
    assert restarted == uninterrupted
    at_hour = restarted[H]
    assert (at_hour["published_at"], at_hour["content_type"], at_hour["published_at_source"], at_hour["complete"]) == (
        T0 + 2 * DAY - 30 * W,
        "video",
        "post_record",
        True,
    )
    assert at_hour["engaged"] == 3


def test_a_record_too_late_to_adopt_is_not_taken():
    """Once an event lies past the first age under the record's publication time, the events counted
    so far would be in the wrong segments: the post keeps its first event's time."""
    posts: dict = {}
    feed = Feed(posts)
    first = T0 + 2 * DAY
    feed.event("p", first)
    feed.commit()
    posts["p"] = post(first - 2 * H, "video")
    feed.event("p", first + W)
    feed.finish(first + DAY + H)
    assert feed.records("p")[H]["published_at"] == first and feed.records("p")[H]["content_type"] == "unknown"


def test_only_posts_counted_from_their_publication_are_in_the_benchmark():
    # Published before the partition's first input arrived (its early engagement may never have been
    # sent): records, but no sample. A post without a record seen right after the start: the same.
    feed = Feed({"old": post(T0 - 2 * H), "new": post(T0 + H)})
    for p in ("old", "new", "no-record"):
        feed.event(p, T0 + H + W)
    feed.finish(T0 + 2 * DAY)
    assert not feed.records("old")[DAY]["complete"] and not feed.records("no-record")[DAY]["complete"]
    assert feed.records("new")[DAY]["complete"]
    assert [s[0] for s in feed.state.lifetimes.samples["brand"]] == ["new"]


def test_state_is_bounded_by_the_lifetime_and_the_benchmark_period():
    feed = Feed({f"p{i}": post(T0 + i * H) for i in range(24)})
    for i in range(24):
        feed.event(f"p{i}", T0 + i * H + W)
    feed.finish(T0 + 8 * DAY)
    lifetimes = feed.state.lifetimes
    assert lifetimes.count() == 24 and lifetimes.lives == {}  # lives over, kept as sealed tombstones
    assert lifetimes.sealed.nbytes < 24 * 1000  # the columns, not 24 PostLife objects
    assert all(lifetimes.find(f"p{i}").done == 3 and lifetimes.find(f"p{i}").total is None for i in range(24))
    # A trickle of engagement after a post's life: counted in windows, not in its lifetime.
    feed.event("p0", T0 + 8 * DAY, "like")
    assert feed.state.lifetimes.delta == {}
    feed.finish(T0 + 15 * DAY)  # a lifetime and a benchmark period after the last publication
    assert feed.state.lifetimes.count() == 0 and feed.state.lifetimes.samples == {}


def test_the_live_view_sums_what_is_committed_and_what_is_not():
    published = T0 + H
    feed = Feed({"p": post(published, "story")})
    for k in range(5):
        feed.event("p", published + k * W)
    feed.commit()
    feed.event("p", published + 6 * W, "share")  # not committed yet
    live = post_lifetime(feed.state, "p", published + 7 * W, followers_of)
    assert live["engaged"] == 6 and live["counts"]["share"] == 1 and live["content_type"] == "story"
    assert live["age_ms"] == 7 * W and live["ages_published_ms"] == [] and not live["ended"]
    assert post_lifetime(feed.state, "nope", published, followers_of) is None


def test_content_type_bands_fall_back_to_the_platform_only_for_the_account(tmp_path):
    path = tmp_path / "bands.yml"
    path.write_text(
        "instagram:\n  content_types:\n    reel: {low: 0.03, high: 0.06}\n"
        "  industries:\n    education:\n      low: 0.02\n      high: 0.05\n"
        "      content_types:\n        story: {low: 0.005}\n"
    )
    table = load_benchmarks(str(path))
    assert band_for(table, "instagram", "retail", "reel") == (0.03, 0.06)
    assert band_for(table, "instagram", "education", "reel") == (0.03, 0.06)
    assert band_for(table, "instagram", "education", "story") == (0.005, 0.05)  # high from its industry row
    assert band_for(table, "instagram", "retail", "story") is None  # no band of its own: not compared
    assert band_for(table, "instagram", "education") == (0.02, 0.05)
    assert band_for(table, "instagram", "retail") == (0.0173, 0.0354)
    assert band_for(table, "youtube", "") is None
