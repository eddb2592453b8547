"""The simulator's traffic model (pure, deterministic) and its Kafka half against a fake producer.

Ground truth comes from the generated input: the post records and the events, counted here (a post's
engaged events in its first day, its account's followers at its publication from the follows and
unfollows before it, posts per account and day), against DOMAIN.md's numbers."""

from __future__ import annotations

import bisect
import re
import statistics
from collections import Counter, defaultdict

import pytest

from streams.simulator import TrafficModel, producer as simulate
from streams.simulator.profile import collapses
from streams.simulator.scenario import Scenario
from tests.fixtures.groundtruth import schema
from tests.fixtures.paths import REPO

SCHEMAS = REPO / "schemas"
START_MS = 1_700_000_000_000
RATE = 200.0
ENGAGED = {"like", "reaction", "comment", "share", "save", "click"}
ACCOUNT_LEVEL = {"follow", "unfollow", "mention", "reply", "resolve"}
# DOMAIN.md, Benchmarks: average ER per post by platform (low, high), as ratios.
BANDS = {
    "tiktok": (0.0006, 0.0152),
    "facebook": (0.0083, 0.0165),
    "instagram": (0.0173, 0.0354),
    "x": (0.0104, 0.0148),
    "linkedin": (0.0121, 0.0240),
}
# DOMAIN.md: a post's ER at maturity (24 h) is what the band is about; stories expire after 24 h.
MATURITY_DAYS = 1
POST_LIFE_DAYS = 7  # the model's post life: its backfill covers the posts published this recently


class Run:
    """One run's posts and events, and what the tests count from them."""

    def __init__(self, model: TrafficModel, days: float, **kw):
        self.model = model
        self.day_ms = model.day_seconds * 1000
        self.end_ms = START_MS + int(days * self.day_ms)
        self.days = days
        self.posts, self.events = model.run(START_MS, self.end_ms, **kw)
        self.post = {p["post_id"]: p for p in self.posts}
        self.by_post: dict[str, list[dict]] = defaultdict(list)
        net: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for event in self.events:
            if "post_id" in event:
                self.by_post[event["post_id"]].append(event)
            elif event["type"] in ("follow", "unfollow"):
                net[event["account_id"]].append((event["ts"], 1 if event["type"] == "follow" else -1))
        base = {a["account_id"]: a["followers"] for a in model.accounts()}
        self._follows = {}
        for account, changes in net.items():
            changes.sort()
            running = [0]
            for _, change in changes:
                running.append(running[-1] + change)
            self._follows[account] = ([ts for ts, _ in changes], running)
        self._base = base

    def followers_at(self, account: str, ts: int) -> int:
        """The account's followers at ``ts``: its record's count plus the follows less the unfollows before."""
        times, running = self._follows.get(account, ([], [0]))
        return self._base[account] + running[bisect.bisect_left(times, ts)]

    def age_days(self, event: dict) -> float:
        return (event["ts"] - self.post[event["post_id"]]["published_at"]) / self.day_ms

    def published_in_run(self, before_ms: int | None = None) -> list[dict]:
        return [p for p in self.posts if START_MS <= p["published_at"] < (before_ms or self.end_ms)]


@pytest.fixture(scope="module")
def model() -> TrafficModel:
    return TrafficModel(seed=7, n_accounts=25, rate=RATE)


@pytest.fixture(scope="module")
def sample(model) -> list[dict]:
    return list(model.events(START_MS, 20_000, batch_share=0.1))


@pytest.fixture(scope="module")
def matured() -> Run:
    """Five accounts (one per platform) over 2.5 model days of 5 minutes: every post published in the
    first 1.5 days reaches maturity; the smallest account has hundreds of followers, enough for a
    count rounded to the nearest event to stay in the band."""
    return Run(TrafficModel(seed=7, n_accounts=5, rate=500.0, day_seconds=300.0), 2.5)


@pytest.fixture(scope="module")
def lifetime() -> Run:
    """Nine model days of a minute: the posts of the first two days live their whole life in the run."""
    return Run(TrafficModel(seed=7, n_accounts=5, rate=200.0, day_seconds=60.0), 9)


# -- accounts -------------------------------------------------------------------------------------------
def test_accounts_are_valid_and_spread_over_the_benchmark_platforms(model):
    accounts = model.accounts()
    check = schema("account.schema.json")
    for record in accounts:
        check.validate(record)
        assert set(record) == {"account_id", "platform", "followers", "industry", "name"}
    assert [a["account_id"] for a in accounts] == [f"acct-{i:04d}" for i in range(1, 26)]
    assert Counter(a["platform"] for a in accounts) == {p: 5 for p in BANDS}
    assert {a["platform"] for a in TrafficModel(1, 5).accounts()} == set(BANDS)
    followers = [a["followers"] for a in accounts]
    assert 5_000 < min(followers) and max(followers) < 10_000_000 and max(followers) > 20 * min(followers)


def test_follower_counts_scale_with_the_rate_and_the_day(model):
    """A mean rate twice as high needs twice the followers; a day half as long packs a post's
    engagement into half the time, so half the followers give the same rate."""
    doubled = TrafficModel(seed=7, n_accounts=25, rate=2 * RATE).accounts()
    half_day = TrafficModel(seed=7, n_accounts=25, rate=RATE, day_seconds=43200.0).accounts()
    for base, double, half in zip(model.accounts(), doubled, half_day):
        assert double["followers"] == pytest.approx(2 * base["followers"], abs=2)
        assert half["followers"] == pytest.approx(base["followers"] / 2, abs=2)


def test_posting_rates_run_from_once_a_day_to_three_times_an_hour():
    for n in (2, 5, 25, 2000):
        rates = TrafficModel(seed=3, n_accounts=n).posts_per_day
        assert min(rates.values()) == 1.0 and max(rates.values()) == pytest.approx(72.0, rel=1e-12)
        ranked = sorted(rates.values())  # log-uniform: a constant ratio between neighbours
        ratios = [b / a for a, b in zip(ranked, ranked[1:])]
        assert max(ratios) == pytest.approx(min(ratios), rel=1e-9)
    assert TrafficModel(seed=3, n_accounts=1).posts_per_day == {"acct-0001": 1.0}
    # Shuffled by the seed, not by account number.
    assert list(TrafficModel(seed=3, n_accounts=25).posts_per_day.values()) != list(
        TrafficModel(seed=4, n_accounts=25).posts_per_day.values()
    )


def test_accounts_publish_at_their_pace(lifetime):
    """Posts published in the run, per account and model day: the once-a-day account about 9 in 9
    days (intervals jitter +-30 %), the 72-a-day one about 648."""
    rates = lifetime.model.posts_per_day
    published = Counter(p["account_id"] for p in lifetime.published_in_run())
    slowest, fastest = min(rates, key=rates.get), max(rates, key=rates.get)
    assert 7 <= published[slowest] <= 11
    assert published[fastest] / lifetime.days == pytest.approx(72, rel=0.05)
    for account, count in published.items():
        assert count / lifetime.days == pytest.approx(rates[account], rel=0.25, abs=0.3), account


# -- posts ----------------------------------------------------------------------------------------------
def test_post_records_are_valid_and_their_content_types_mixed(lifetime):
    check = schema("post.schema.json")
    accounts = {a["account_id"]: a for a in lifetime.model.accounts()}
    numbers: dict[str, list[int]] = defaultdict(list)
    for record in lifetime.posts:
        check.validate(record)
        assert set(record) == {"post_id", "account_id", "platform", "published_at", "content_type"}
        assert record["platform"] == accounts[record["account_id"]]["platform"]
        match = re.fullmatch(r"(acct-\d{4})-p(\d{6})", record["post_id"])
        assert match and match.group(1) == record["account_id"]
        numbers[record["account_id"]].append(int(match.group(2)))
    assert len(lifetime.post) == len(lifetime.posts)  # each record once
    for account, seen in numbers.items():  # numbered in publication order
        assert seen == sorted(seen) == list(range(1, len(seen) + 1)), account
    kinds = defaultdict(Counter)
    for record in lifetime.posts:
        kinds[record["platform"]][record["content_type"]] += 1
    assert set(kinds) == set(BANDS)
    assert all(len(mix) >= 2 for mix in kinds.values()), kinds
    assert len({kind for mix in kinds.values() for kind in mix}) >= 6
    assert kinds["instagram"]["story"] > 0


def test_the_run_starts_in_a_steady_state(lifetime):
    """The posts of the last 7 model days are out at the start, and their engagement from the start on
    is produced, so the first hours already run at about the mean rate."""
    backfill = [p for p in lifetime.posts if p["published_at"] < START_MS]
    assert min(p["published_at"] for p in backfill) >= START_MS - POST_LIFE_DAYS * lifetime.day_ms
    assert max(p["published_at"] for p in backfill) < START_MS
    rates = lifetime.model.posts_per_day
    for account, count in Counter(p["account_id"] for p in backfill).items():
        assert count == pytest.approx(POST_LIFE_DAYS * rates[account], rel=0.3, abs=2)
    assert lifetime.posts[: len(backfill)] == sorted(backfill, key=lambda p: p["published_at"])
    assert min(e["ts"] for e in lifetime.events) >= START_MS - 2_000  # out of order, by < 2 s
    first_hours = [e for e in lifetime.events if e["ts"] < START_MS + lifetime.day_ms / 8]
    assert len(first_hours) / (lifetime.model.day_seconds / 8) == pytest.approx(lifetime.model.rate, rel=0.3)
    of_backfill = sum(
        lifetime.post.get(e.get("post_id"), {}).get("published_at", START_MS) < START_MS for e in first_hours
    )
    assert of_backfill > 0.5 * len(first_hours)


def test_each_post_er_at_maturity_lies_in_its_platform_band(matured):
    """Engaged events in a post's first day over its account's followers at publication: inside the
    band for every post published in the run that reached maturity; so is each account's mean."""
    mature = matured.published_in_run(before_ms=matured.end_ms - matured.day_ms)
    assert {p["platform"] for p in mature} == set(BANDS) and len(mature) > 100
    per_account = defaultdict(list)
    for post in mature:
        engaged = sum(
            e["type"] in ENGAGED and matured.age_days(e) < MATURITY_DAYS for e in matured.by_post[post["post_id"]]
        )
        er = engaged / matured.followers_at(post["account_id"], post["published_at"])
        low, high = BANDS[post["platform"]]
        assert low <= er <= high, (post, engaged, er)
        per_account[post["account_id"]].append(er)
    for account, ers in per_account.items():
        low, high = BANDS[matured.post[next(p for p in matured.post if p.startswith(account))]["platform"]]
        assert low <= statistics.fmean(ers) <= high
    # ... while the posts' ERs spread over the band (drawn per post, not one per account).
    spread = [max(ers) - min(ers) for ers in per_account.values() if len(ers) >= 10]
    assert spread and all(s > 0.002 for s in spread)


def test_most_of_a_posts_engagement_comes_in_its_first_day(lifetime):
    """Posts published in the run's first two days live their whole 7 days in it: each gets more than
    90 % of its engaged events in its first day, and together more than half in its first 6 hours."""
    whole_life = lifetime.published_in_run(before_ms=START_MS + 2 * int(lifetime.day_ms))
    assert len(whole_life) > 100
    total = first_quarter = 0
    for post in whole_life:
        ages = [lifetime.age_days(e) for e in lifetime.by_post[post["post_id"]] if e["type"] in ENGAGED]
        if not ages:
            continue
        assert sum(age < MATURITY_DAYS for age in ages) / len(ages) > 0.9, post
        assert max(ages) < POST_LIFE_DAYS
        total += len(ages)
        first_quarter += sum(age < 0.25 for age in ages)
    assert first_quarter / total > 0.5


def test_stories_get_nothing_after_a_day(lifetime):
    stories = [p for p in lifetime.posts if p["content_type"] == "story"]
    with_events = [p for p in stories if lifetime.by_post[p["post_id"]]]
    assert len(with_events) >= 5
    for story in stories:
        assert all(lifetime.age_days(e) < 1 for e in lifetime.by_post[story["post_id"]]), story
    # Other posts do get engagement after their first day.
    assert any(
        lifetime.age_days(e) >= 1
        for p in lifetime.posts
        if p["content_type"] != "story"
        for e in lifetime.by_post[p["post_id"]]
    )


def test_the_mean_rate_over_several_days_is_the_rate():
    """The rate follows the posting cycles; over three model days its mean is the model's rate (within
    the spread of the posts' drawn ERs and the followers' drift)."""
    rate, day_seconds, days = 400.0, 60.0, 3
    model = TrafficModel(seed=11, n_accounts=25, rate=rate, day_seconds=day_seconds)
    _, events = model.run(START_MS, START_MS + int(days * day_seconds * 1000))
    assert len(events) / (days * day_seconds) == pytest.approx(rate, rel=0.1)
    per_hour = Counter((e["ts"] - START_MS) // int(day_seconds * 1000 / 24) for e in events)
    assert max(per_hour.values()) > 1.05 * min(per_hour.values())  # not a constant rate


def test_every_post_level_event_belongs_to_a_published_post_of_its_account(lifetime):
    for event in lifetime.events:
        if event["type"] in ACCOUNT_LEVEL:
            assert "post_id" not in event
            continue
        post = lifetime.post[event["post_id"]]
        assert (post["account_id"], post["platform"]) == (event["account_id"], event["platform"])
        assert event["ts"] >= post["published_at"]
        assert event["ts"] <= lifetime.end_ms


def test_collapse_removes_the_engagement_of_the_posts_published_after_it():
    """The collapsed account's posts published from the collapse on keep 1 % of their engaged events
    (the others become impressions); its earlier posts and every other account are unchanged."""
    model = TrafficModel(seed=7, n_accounts=5, rate=100.0, day_seconds=3600.0)
    rates = model.posts_per_day
    account = max(rates, key=rates.get)  # posts every 50 s here
    collapse_at = START_MS + 300_000
    end = START_MS + 1_200_000
    normal_posts, normal = model.run(START_MS, end, batch_share=0.1)
    collapsed_posts, collapsed = model.run(
        START_MS, end, batch_share=0.1, scenario=Scenario(collapse_account=account, collapse_at_ms=collapse_at)
    )
    assert collapsed_posts == normal_posts
    published = {p["post_id"]: p["published_at"] for p in normal_posts}

    def counts(events, after: bool) -> Counter:
        return Counter(
            e["type"]
            for e in events
            if e["account_id"] == account and "post_id" in e and (published[e["post_id"]] >= collapse_at) == after
        )

    engaged_normal = sum(counts(normal, True)[k] for k in ENGAGED)
    engaged_collapsed = sum(counts(collapsed, True)[k] for k in ENGAGED)
    assert sum(p >= collapse_at for p in published.values()) >= 10 and engaged_normal > 1000
    assert engaged_collapsed <= 0.03 * engaged_normal
    assert (
        counts(collapsed, True)["impression"] == counts(normal, True)["impression"] + engaged_normal - engaged_collapsed
    )
    assert counts(collapsed, False) == counts(normal, False)
    assert [e for e in collapsed if e["account_id"] != account] == [e for e in normal if e["account_id"] != account]


def test_collapsing_posts_lose_their_engagement_one_by_one_and_leave_the_rest_unchanged():
    """About the given share of the account's posts keep ~1 % of their engaged events; its other posts
    and every other account are event for event the run without them."""
    model = TrafficModel(seed=7, n_accounts=5, rate=100.0, day_seconds=3600.0)
    rates = model.posts_per_day
    account = max(rates, key=rates.get)
    end = START_MS + 1_200_000
    normal_posts, normal = model.run(START_MS, end, batch_share=0.1)
    scenario = Scenario(collapsing_posts=0.3, collapsing_account=account)
    posts, events = model.run(START_MS, end, batch_share=0.1, scenario=scenario)
    assert posts == normal_posts

    def engaged(run) -> Counter:
        return Counter(e["post_id"] for e in run if e["account_id"] == account and e["type"] in ENGAGED)

    before, after = engaged(normal), engaged(events)
    lost = {p for p, n in before.items() if n >= 50 and after[p] <= 0.05 * n}
    kept = {p for p, n in before.items() if after[p] == n}
    assert all(after[p] == n or after[p] <= 0.05 * n for p, n in before.items() if n >= 50)
    assert lost == {p for p, n in before.items() if n >= 50 and collapses(7, p, 0.3)}
    eligible = [p for p, n in before.items() if n >= 50]
    assert 0.15 <= len(lost) / len(eligible) <= 0.45, (len(lost), len(eligible))
    unchanged = [e for e in events if e["account_id"] != account or e.get("post_id") in kept]
    assert unchanged == [e for e in normal if e["account_id"] != account or e.get("post_id") in kept]
    with pytest.raises(ValueError, match="collapsing posts"):
        model.stream(START_MS, Scenario(collapsing_posts=0.1, collapsing_account="acct-9999"))


# -- events ---------------------------------------------------------------------------------------------
def test_same_seed_and_arguments_give_the_same_posts_and_events(sample):
    assert list(TrafficModel(7, 25, rate=RATE).events(START_MS, 20_000, batch_share=0.1)) == sample
    assert list(TrafficModel(8, 25, rate=RATE).events(START_MS, 200)) != sample[:200]
    small = TrafficModel(7, 5, rate=200.0, day_seconds=60.0)
    assert small.run(START_MS, START_MS + 30_000) == small.run(START_MS, START_MS + 30_000)


def test_every_event_matches_the_schema(sample):
    check = schema("interaction-event.schema.json")
    for event in sample[:10_000]:  # every type many times over; jsonschema is slow
        check.validate(event)
    assert min(e["ts"] for e in sample) >= START_MS - 2_000
    in_time_order = list(TrafficModel(seed=7, n_accounts=25, rate=RATE).events(START_MS, 20_000))
    latest = START_MS - 2_000
    lateness = []
    for event in in_time_order:
        latest = max(latest, event["ts"])
        lateness.append(latest - event["ts"])
    assert 0.03 < sum(late > 0 for late in lateness) / len(lateness) < 0.2  # out of order ...
    assert max(lateness) < 2_000  # ... by less than 2 s


def test_type_mix_is_realistic(sample):
    share = {kind: n / len(sample) for kind, n in Counter(e["type"] for e in sample).items()}
    assert 0.60 <= share["impression"] <= 0.70
    assert 0.10 <= share["like"] <= 0.14
    assert 0.20 <= sum(share[k] for k in ENGAGED) <= 0.30
    for kind in ("reaction", "dwell", "click"):
        assert 0.02 <= share[kind] <= 0.09, kind
    for kind in ("comment", "share", "save", "follow", "unfollow", "mention"):  # replies: below
        assert 0.001 <= share[kind] <= 0.04, kind
    assert share["follow"] > share["unfollow"]


def test_dwell_and_sentiment_values(sample):
    dwell = [e["dwell_ms"] for e in sample if e["type"] == "dwell"]
    assert all(isinstance(d, int) and d > 0 for d in dwell)
    assert 5_000 <= statistics.median(dwell) <= 60_000
    for kind in ("comment", "mention"):
        sentiment = [e["sentiment"] for e in sample if e["type"] == kind]
        assert all(isinstance(s, float) and -1 <= s <= 1 and round(s, 3) == s for s in sentiment)
        assert statistics.mean(sentiment) > 0.1
        assert 0.05 < sum(s < -0.2 for s in sentiment) / len(sentiment) < 0.4


def test_event_ids_are_unique(model):
    ids = [e["event_id"] for e in model.events(START_MS, 100_000, batch_share=0.1)]
    assert len(set(ids)) == len(ids)


def test_messages_until_returns_what_is_due_in_order_and_posts_until_each_post_once(model):
    stream = model.stream(START_MS)
    backfill = stream.posts_until(START_MS)
    assert backfill and all(p["published_at"] <= START_MS for p in backfill)
    assert stream.posts_until(START_MS) == []
    seen_posts = {p["post_id"] for p in backfill}
    previous_end, events = START_MS, []
    for tick in range(1, 41):
        now = START_MS + tick * 250
        posts = stream.posts_until(now)
        assert all(previous_end < p["published_at"] <= now for p in posts)
        seen_posts.update(p["post_id"] for p in posts)
        messages = stream.messages_until(now, batch_share=0.3)
        for message in messages:
            assert 1 <= len(message) <= 20 and len({e["account_id"] for e in message}) == 1
            assert all(e["ts"] <= now for e in message)
        events += [e for message in messages for e in message]
        previous_end = now
    assert sum(len(m) > 1 for m in messages) > 0
    assert len(events) == pytest.approx(RATE * 10, rel=0.5)
    assert {e["post_id"] for e in events if "post_id" in e} <= seen_posts
    # The same events, unbatched and in one go, in time order.
    unbatched = [m[0] for m in model.stream(START_MS).messages_until(previous_end)]
    assert sorted(e["event_id"] for e in unbatched) == sorted(e["event_id"] for e in events)


def test_next_message_restamps_the_model_order_to_the_wall_clock(model):
    stream, reference = model.stream(START_MS), model.stream(START_MS)
    in_model_order = [m[0] for m in reference.messages_until(START_MS + 5_000)]
    now = 1_800_000_000_000
    restamped = [stream.next_message(now)[0] for _ in range(len(in_model_order))]
    assert [e["event_id"] for e in restamped] == [e["event_id"] for e in in_model_order]
    assert all(now - 2_000 < e["ts"] <= now for e in restamped)
    assert 0.03 < sum(e["ts"] < now for e in restamped) / len(restamped) < 0.2
    batches = [stream.next_message(now, batch_share=0.5) for _ in range(200)]
    assert all(len({e["account_id"] for e in b}) == 1 and len(b) <= 20 for b in batches)
    assert sum(len(b) > 1 for b in batches) > 50


def _mentions_and_replies(events) -> tuple[dict, dict]:
    mentions, replies = {}, {}
    for event in events:
        if event["type"] == "mention":
            mentions[event["event_id"]] = event
        elif event["type"] == "reply":
            assert event["in_reply_to"] not in replies, "a mention answered twice"
            replies[event["in_reply_to"]] = event
    return mentions, replies


def _resolves(events) -> dict:
    resolves = {}
    for event in events:
        if event["type"] == "resolve":
            assert event["resolves"] not in resolves, "a mention closed twice"
            resolves[event["resolves"]] = event
    return resolves


def test_teams_answer_what_needs_an_answer_and_close_every_mention_within_hours():
    """Twelve hours: replies and resolves point at earlier mentions of their own account; negative
    mentions are all answered, half of the others (streams.simulator.teams); every mention is closed,
    an answered one after its reply; the delays are lognormal around an hour."""
    model = TrafficModel(seed=7, n_accounts=5, rate=10.0)
    _, events = model.run(START_MS, START_MS + 12 * 3_600_000)
    mentions, replies = _mentions_and_replies(events)
    resolves = _resolves(events)
    for mention_id, action in [*replies.items(), *resolves.items()]:
        mention = mentions[mention_id]
        assert action["account_id"] == mention["account_id"] and action["ts"] >= mention["ts"]
    # Mentions of the first two hours: what the team does about them is due within the run (10 h on).
    early = [m for m in mentions.values() if m["ts"] < START_MS + 2 * 3_600_000]
    assert len(early) > 500
    assert sum(m["event_id"] in resolves for m in early) / len(early) > 0.99  # the rest within the day
    negative = [m for m in early if m["sentiment"] < -0.2]
    others = [m for m in early if m["sentiment"] >= -0.2]
    assert all(m["event_id"] in replies for m in negative)
    answered_others = sum(m["event_id"] in replies for m in others) / len(others)
    assert answered_others == pytest.approx(0.5, abs=3 * (0.25 / len(others)) ** 0.5)
    for m in early:
        if m["event_id"] in replies and m["event_id"] in resolves:
            assert resolves[m["event_id"]]["ts"] >= replies[m["event_id"]]["ts"]
    reply_h = sorted((replies[m["event_id"]]["ts"] - m["ts"]) / 3_600_000 for m in early if m["event_id"] in replies)
    closed_unanswered_h = [
        (resolves[m["event_id"]]["ts"] - m["ts"]) / 3_600_000
        for m in others
        if m["event_id"] not in replies and m["event_id"] in resolves
    ]
    for delays in (reply_h, closed_unanswered_h):
        assert statistics.median(delays) == pytest.approx(1.0, rel=0.15)
    assert 2.0 < reply_h[int(0.9 * len(reply_h))] < 4.0  # most within hours


def test_a_team_that_stops_closing_still_replies_and_the_others_are_unchanged():
    model = TrafficModel(seed=7, n_accounts=5, rate=10.0)
    account, stop_at = "acct-0002", START_MS + 3_600_000
    _, usual = model.run(START_MS, START_MS + 6 * 3_600_000)
    _, stopped = model.run(
        START_MS, START_MS + 6 * 3_600_000, scenario=Scenario(stop_closing_account=account, stop_closing_at_ms=stop_at)
    )

    def others(events: list[dict]) -> list[dict]:  # ids aside: they number every account's events
        ids = ("event_id", "in_reply_to", "resolves")
        return [{k: v for k, v in e.items() if k not in ids} for e in events if e["account_id"] != account]

    assert others(stopped) == others(usual)
    mine = [e for e in stopped if e["account_id"] == account]
    mentions, replies = _mentions_and_replies(mine)
    resolves = _resolves(mine)
    after = [m for m in mentions.values() if m["ts"] >= stop_at]
    assert after and not any(m["event_id"] in resolves for m in after)
    # Those of its first hour had their reply due within the run (4 h on): 60 % are answered.
    first_hour = [m for m in after if m["ts"] < stop_at + 3_600_000]
    assert sum(m["event_id"] in replies for m in first_hour) > len(first_hour) / 2
    assert any(m["event_id"] in resolves for m in mentions.values() if m["ts"] < stop_at)


def test_reply_delays_scale_for_shortened_slas(model):
    scaled = Scenario(reply_delay_scale=1 / 3600)  # an hour becomes a second
    mentions, replies = _mentions_and_replies(model.events(START_MS, int(RATE * 240), scenario=scaled))
    delays_s = [(r["ts"] - mentions[m]["ts"]) / 1000 for m, r in replies.items()]
    assert statistics.median(delays_s) == pytest.approx(1.0, rel=0.15)


def test_a_crisis_multiplies_one_accounts_mentions_mostly_negative_and_leaves_them_unanswered():
    model = TrafficModel(seed=7, n_accounts=5, rate=50.0)
    crisis_at = START_MS + 1_800_000
    account = "acct-0004"
    _, events = model.run(
        START_MS,
        START_MS + 3_600_000,
        scenario=Scenario(crisis_account=account, crisis_at_ms=crisis_at, reply_delay_scale=1 / 60),
    )  # replies within minutes

    def of(who, after: bool) -> list[dict]:
        return [
            e for e in events if (e["account_id"] == account) == (who == account) and (e["ts"] >= crisis_at) == after
        ]

    mentions_before = [e for e in of(account, False) if e["type"] == "mention"]
    mentions_after = [e for e in of(account, True) if e["type"] == "mention"]
    assert len(mentions_after) > 5 * len(mentions_before) > 100
    assert sum(e["sentiment"] < -0.2 for e in mentions_after) / len(mentions_after) > 0.7
    assert sum(e["sentiment"] < -0.2 for e in mentions_before) / len(mentions_before) < 0.4
    # The team keeps its pace: about as many mentions closed an hour as before, so most wait.
    closed_before = sum(e["type"] == "resolve" for e in of(account, False))
    closed_after = sum(e["type"] == "resolve" for e in of(account, True))
    assert closed_after < 1.5 * closed_before
    # The other accounts' mentions are unchanged in volume.
    others = [sum(e["type"] == "mention" for e in of("other", after)) for after in (False, True)]
    assert others[1] == pytest.approx(others[0], rel=0.15)


def test_follower_counts_drift_with_follows_and_unfollows(model):
    stream = model.stream(START_MS)
    net = Counter()
    for _ in range(20_000):
        for event in stream.next_message(START_MS):
            net[event["account_id"]] += {"follow": 1, "unfollow": -1}.get(event["type"], 0)
    for base, now in zip(model.accounts(), stream.accounts()):
        assert now["followers"] == base["followers"] + net[base["account_id"]]
    assert any(net.values())


def test_unknown_collapse_crisis_or_stop_closing_account_is_refused(model):
    with pytest.raises(ValueError, match="collapse account 'acct-0099'"):
        model.stream(START_MS, Scenario(collapse_account="acct-0099"))
    with pytest.raises(ValueError, match="crisis account 'acct-0098'"):
        model.stream(START_MS, Scenario(crisis_account="acct-0098"))
    with pytest.raises(ValueError, match="stop-closing account 'acct-0097'"):
        model.stream(START_MS, Scenario(stop_closing_account="acct-0097"))


# -- the Kafka half ---------------------------------------------------------------------------------------
def test_main_without_kafka_address_exits_2(monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "")
    assert simulate.main(["--duration", "1"]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err


def test_main_refuses_an_unknown_collapse_account(monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "unused:9092")  # refused before connecting
    assert simulate.main(["--collapse-account", "acct-0099", "--accounts", "10"]) == 2
    assert "acct-0099" in capsys.readouterr().err
