"""The simulator's traffic model (pure, deterministic) and its Kafka half against a fake producer."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from streams.simulator import producer as simulate
from streams.settings import Settings
from streams.simulator import TrafficModel
from streams.simulator.model import Scenario

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
START_MS = 1_700_000_000_000
RATE = 200.0
ENGAGED = {"like", "reaction", "comment", "share", "save", "click"}
# DOMAIN.md, Benchmarks: average ER per post by platform (low, high), as ratios.
BANDS = {"tiktok": (0.0006, 0.0152), "facebook": (0.0083, 0.0165), "instagram": (0.0173, 0.0354),
         "x": (0.0104, 0.0148), "linkedin": (0.0121, 0.0240)}


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.fixture(scope="module")
def model() -> TrafficModel:
    return TrafficModel(seed=7, n_accounts=25, rate=RATE)


@pytest.fixture(scope="module")
def sample(model) -> list[dict]:
    return list(model.events(START_MS, 20_000, batch_share=0.1))


def test_accounts_are_valid_and_spread_over_the_benchmark_platforms(model):
    accounts = model.accounts()
    check = validator("account.schema.json")
    for record in accounts:
        check.validate(record)
        assert set(record) == {"account_id", "platform", "followers", "industry", "name"}
    assert [a["account_id"] for a in accounts] == [f"acct-{i:04d}" for i in range(1, 26)]
    assert Counter(a["platform"] for a in accounts) == {p: 5 for p in BANDS}
    assert {a["platform"] for a in TrafficModel(1, 5).accounts()} == set(BANDS)
    followers = [a["followers"] for a in accounts]
    assert 5_000 < min(followers) and max(followers) < 5_000_000 and max(followers) > 20 * min(followers)


def test_follower_counts_scale_with_the_rate(model):
    doubled = TrafficModel(seed=7, n_accounts=25, rate=2 * RATE).accounts()
    for base, double in zip(model.accounts(), doubled):
        assert double["followers"] == pytest.approx(2 * base["followers"], abs=2)


def test_same_seed_and_arguments_give_the_same_events(model, sample):
    assert list(TrafficModel(7, 25, rate=RATE).events(START_MS, 20_000, batch_share=0.1)) == sample
    assert list(TrafficModel(8, 25, rate=RATE).events(START_MS, 200)) != sample[:200]


def test_every_event_matches_the_schema(sample):
    check = validator("interaction-event.schema.json")
    for event in sample[:10_000]:  # every type many times over; jsonschema is slow
        check.validate(event)
    end_ms = START_MS + len(sample) / RATE * 1000
    assert all(START_MS - 2_000 < e["ts"] <= end_ms for e in sample)
    assert sum(e["ts"] < START_MS + i * 1000 / RATE - 1 for i, e in enumerate(sample)) > 0.03 * len(sample)


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


def test_post_ids_belong_to_the_account_and_popularity_is_skewed(sample):
    posts = Counter(e["post_id"] for e in sample if "post_id" in e)
    assert all(post.startswith(account + "-post-") for post, account in
               ((e["post_id"], e["account_id"]) for e in sample if "post_id" in e))
    by_number = Counter(post.rsplit("-", 1)[1] for post in posts.elements())
    assert by_number["0001"] > 3 * by_number["0012"]


def test_event_ids_are_unique(model):
    ids = [e["event_id"] for e in model.events(START_MS, 100_000, batch_share=0.1)]
    assert len(set(ids)) == len(ids)


def _mentions_and_replies(events) -> tuple[dict, dict]:
    mentions, replies = {}, {}
    for event in events:
        if event["type"] == "mention":
            mentions[event["event_id"]] = event
        elif event["type"] == "reply":
            assert event["in_reply_to"] not in replies, "a mention answered twice"
            replies[event["in_reply_to"]] = event
    return mentions, replies


def test_teams_answer_most_mentions_within_hours_and_some_never():
    """Twelve simulated hours: replies answer earlier mentions of their own account, the delays are
    lognormal around an hour (the model's stated median and spread), about 1 in 20 never comes."""
    rate = 20.0
    events = TrafficModel(seed=7, n_accounts=5, rate=rate).events(START_MS, int(rate * 3600 * 12))
    mentions, replies = _mentions_and_replies(events)
    for mention_id, reply in replies.items():
        mention = mentions[mention_id]
        assert reply["account_id"] == mention["account_id"] and reply["ts"] >= mention["ts"]
    # Mentions of the first two hours: a reply to come would be due within the run (10 h on).
    early = [m for m in mentions.values() if m["ts"] < START_MS + 2 * 3_600_000]
    answered = [m for m in early if m["event_id"] in replies]
    assert 1 - len(answered) / len(early) == pytest.approx(0.05, abs=0.015)
    delays_h = sorted((replies[m["event_id"]]["ts"] - m["ts"]) / 3_600_000 for m in answered)
    assert statistics.median(delays_h) == pytest.approx(1.0, rel=0.1)
    assert 2.0 < delays_h[int(0.9 * len(delays_h))] < 4.0  # most within hours
    assert delays_h[-1] < 12  # virtually all within the 12 h acknowledge SLA


def test_reply_delays_scale_for_shortened_slas(model):
    scaled = Scenario(reply_delay_scale=1 / 3600)  # an hour becomes a second
    mentions, replies = _mentions_and_replies(model.events(START_MS, int(RATE * 120), scenario=scaled))
    delays_s = [(r["ts"] - mentions[m]["ts"]) / 1000 for m, r in replies.items()]
    assert statistics.median(delays_s) == pytest.approx(1.0, rel=0.15)


def test_a_crisis_multiplies_one_accounts_mentions_mostly_negative_and_leaves_them_unanswered(model):
    crisis_at = START_MS + 1_800_000
    account = "acct-0004"
    events = list(model.events(START_MS, int(RATE * 3600), scenario=Scenario(
        crisis_account=account, crisis_at_ms=crisis_at, reply_delay_scale=1 / 60)))  # replies within minutes

    def of(who, after: bool) -> list[dict]:
        return [e for e in events if (e["account_id"] == account) == (who == account)
                and (e["ts"] >= crisis_at) == after]

    mentions_before = [e for e in of(account, False) if e["type"] == "mention"]
    mentions_after = [e for e in of(account, True) if e["type"] == "mention"]
    assert len(mentions_after) > 5 * len(mentions_before) > 0
    assert sum(e["sentiment"] < -0.2 for e in mentions_after) / len(mentions_after) > 0.7
    assert sum(e["sentiment"] < -0.2 for e in mentions_before) / len(mentions_before) < 0.4
    # The team keeps its pace: about as many replies an hour as before, so most go unanswered.
    replies_before = sum(e["type"] == "reply" for e in of(account, False))
    replies_after = sum(e["type"] == "reply" for e in of(account, True))
    assert replies_after < 1.5 * replies_before
    # The other accounts' mentions are unchanged in volume.
    others = [sum(e["type"] == "mention" for e in of("other", after)) for after in (False, True)]
    assert others[1] == pytest.approx(others[0], rel=0.15)


def test_collapse_removes_the_engagement_of_one_account_only(model):
    count = 120_000  # ten simulated minutes
    collapse_at = START_MS + 300_000
    victim = max(model.accounts(), key=lambda a: a["followers"])
    account = victim["account_id"]
    normal = list(model.events(START_MS, count, batch_share=0.1))
    collapsed = list(model.events(START_MS, count, batch_share=0.1,
                                  scenario=Scenario(collapse_account=account, collapse_at_ms=collapse_at)))

    def counts(events, after):
        return Counter(e["type"] for e in events
                       if e["account_id"] == account and (e["ts"] >= collapse_at) == after)

    before, after = counts(collapsed, False), counts(collapsed, True)
    engaged_before, engaged_after = (sum(c[k] for k in ENGAGED) for c in (before, after))
    assert engaged_before > 500
    assert engaged_after <= 0.03 * engaged_before
    assert after["impression"] > 1000
    hourly_er_after = engaged_after * 12 / victim["followers"]  # five minutes after the collapse
    assert hourly_er_after < BANDS[victim["platform"]][0]
    assert counts(normal, False) == before
    assert [e for e in collapsed if e["account_id"] != account] == \
           [e for e in normal if e["account_id"] != account]


def test_hourly_er_by_followers_lies_in_the_platform_band(model):
    engaged = Counter()
    for event in model.events(START_MS, int(RATE * 3600), batch_share=0.1):
        if event["type"] in ENGAGED:
            engaged[event["account_id"]] += 1
    for account in model.accounts():
        low, high = BANDS[account["platform"]]
        er = engaged[account["account_id"]] / account["followers"]
        assert low <= er <= high, (account, er)


def test_follower_counts_drift_with_follows_and_unfollows(model):
    stream = model.stream(START_MS)
    net = Counter()
    for i in range(20_000):
        for event in stream.next_message(START_MS + i * 5):
            net[event["account_id"]] += {"follow": 1, "unfollow": -1}.get(event["type"], 0)
    for base, now in zip(model.accounts(), stream.accounts()):
        assert now["followers"] == base["followers"] + net[base["account_id"]]
    assert any(net.values())


def test_unknown_collapse_or_crisis_account_is_refused(model):
    with pytest.raises(ValueError, match="collapse account 'acct-0099'"):
        model.stream(START_MS, Scenario(collapse_account="acct-0099"))
    with pytest.raises(ValueError, match="crisis account 'acct-0098'"):
        model.stream(START_MS, Scenario(crisis_account="acct-0098"))


def test_main_without_kafka_address_exits_2(monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "")
    assert simulate.main(["--duration", "1"]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err


def test_main_refuses_an_unknown_collapse_account(monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "unused:9092")  # refused before connecting
    assert simulate.main(["--collapse-account", "acct-0099", "--accounts", "10"]) == 2
    assert "acct-0099" in capsys.readouterr().err


class FakeProducer:
    """Records what would go to Kafka; every send is acknowledged at once."""
    instances: list[FakeProducer] = []

    def __init__(self, **config):
        self.config = config
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.stopped = False
        FakeProducer.instances.append(self)

    async def start(self):
        pass

    async def stop(self):
        self.stopped = True

    async def send(self, topic, value, key=None):
        self.sent.append((topic, key, value))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


@pytest.fixture
def fake_kafka(monkeypatch):
    async def no_topics(settings, kafka_config=None):
        pass
    FakeProducer.instances.clear()
    monkeypatch.setattr(simulate, "AIOKafkaProducer", FakeProducer)
    monkeypatch.setattr(simulate, "ensure_topics", no_topics)
    return FakeProducer.instances


def test_run_simulator_keys_every_message_by_its_single_account(fake_kafka):
    settings = Settings(kafka_bootstrap_servers="fake:9092")
    stats = asyncio.run(simulate.run_simulator(settings, rate=20_000, max_events=3_000, batch_share=0.2))
    wall_ms = time.time_ns() // 1_000_000
    [producer] = fake_kafka
    assert producer.stopped
    assert producer.config["acks"] == "all" and producer.config["enable_idempotence"] is True
    accounts = [(key, orjson.loads(value)) for topic, key, value in producer.sent if topic == settings.topic_accounts]
    assert [key for key, _ in accounts] == [record["account_id"].encode() for _, record in accounts]
    assert len(accounts) == stats["accounts"] == 25 == stats["account_records_produced"]
    assert producer.sent[0][0] == settings.topic_accounts
    messages = [(key, orjson.loads(value)) for topic, key, value in producer.sent
                if topic == settings.topic_interactions]
    events = 0
    for key, value in messages:
        batch = value if isinstance(value, list) else [value]
        assert isinstance(value, dict) or 2 <= len(value) <= 20
        assert {e["account_id"].encode() for e in batch} == {key}
        assert all(e["ts"] <= wall_ms for e in batch)
        events += len(batch)
    assert stats["events_produced"] == events == 3_000
    assert stats["messages_produced"] == len(messages)
    assert 0.1 < sum(isinstance(value, list) for _, value in messages) / len(messages) < 0.3


def test_run_simulator_stops_when_asked(fake_kafka):
    async def run():
        stop = asyncio.Event()
        task = asyncio.create_task(simulate.run_simulator(Settings(kafka_bootstrap_servers="fake:9092"),
                                                          rate=1_000, stop_event=stop))
        await asyncio.sleep(0.3)
        stop.set()
        return await asyncio.wait_for(task, 2)

    stats = asyncio.run(run())
    assert 100 <= stats["events_produced"] <= 600
    assert fake_kafka[0].stopped
