"""Post lifetimes for real (Kafka, a worker, SIGKILL): the simulator's posts and their events, paced in
real time with the post ages, the maturity and the benchmark period shortened by settings (and the
simulator's day to the maturity). Every expected value is worked out here from the generated posts and
events and the broker's timestamps: the lifetime records at each age, exactly one each across the
SIGKILL, and each account's ER per post."""

from __future__ import annotations

import asyncio
import signal
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.contract import POST_LEVEL_TYPES
from streams.devtools.processes import http_get
from streams.kafka.partitioner import partition_for
from streams.settings import DEFAULT_ENGAGED_TYPES
from streams.simulator import TrafficModel
from tests.fixtures.kafka import BackgroundSender, isolated_settings, json_values, produce, read_all, run, wait_for

WINDOW_S, GRACE_S = 2, 3
AGES_S, MATURITY_S, LIFETIME_S = (3, 8), 8, 16
RUN_S = 24  # events for this long; the worker is killed and restarted half way
ENGAGED = frozenset(DEFAULT_ENGAGED_TYPES)


class PacedProducer(BackgroundSender):
    """Sends each message once its latest event is due, so that no event reaches Kafka late; it keeps
    sending while the worker is down."""

    def __init__(self, settings, messages: list[list[dict]]):
        super().__init__(settings)
        self.messages = messages

    async def send(self):
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, linger_ms=5, enable_idempotence=True
        )
        await producer.start()
        try:
            futures = []
            for message in self.messages:
                due = max(e["ts"] for e in message) / 1000
                if due > time.time():
                    await asyncio.sleep(due - time.time())
                value = orjson.dumps(message if len(message) > 1 else message[0])
                futures.append(
                    await producer.send(self.settings.topic_interactions, value, key=message[0]["account_id"].encode())
                )
            await asyncio.gather(*futures)
        finally:
            await producer.stop()


def close_mark(ms: int) -> int:
    edge = ms - GRACE_S * 1000
    return edge - edge % (WINDOW_S * 1000)


@pytest.mark.integration
def test_lifetime_records_and_er_per_post_are_exact_across_a_sigkill(kafka_bootstrap, workers, topics_ready):
    settings = topics_ready(
        isolated_settings(
            kafka_bootstrap,
            window_seconds=WINDOW_S,
            window_grace_seconds=GRACE_S,
            rolling_window_seconds=10,
            commit_interval_seconds=0.3,
            snapshot_interval_seconds=5,
            post_lifetime_ages_seconds=tuple(str(a) for a in AGES_S),
            post_maturity_seconds=MATURITY_S,
            post_lifetime_seconds=LIFETIME_S,
            benchmark_period_seconds=600,
        )
    )
    worker = workers(settings).start()
    model = TrafficModel(11, 4, rate=400, day_seconds=MATURITY_S)
    start_ms = int(time.time() * 1000) + 3000
    stream = model.stream(start_ms)
    end_ms = start_ms + RUN_S * 1000
    # As the simulator's producer takes them: the messages due at each tick of 50 ms (a batch holds
    # one account's events of one tick).
    messages = [m for tick in range(start_ms, end_ms + 1, 50) for m in stream.messages_until(tick, batch_share=0.1)]
    posts = {p["post_id"]: p for p in stream.posts_until(end_ms)}
    accounts = {a["account_id"]: a for a in model.accounts()}
    # Posts that get no event at all (issue 27): each account's, one early and one around the SIGKILL.
    for account_id, account in accounts.items():
        for n, after_s in enumerate((4, RUN_S // 2 + 1)):
            posts[f"{account_id}-silent{n}"] = {
                "post_id": f"{account_id}-silent{n}",
                "account_id": account_id,
                "platform": account["platform"],
                "published_at": start_ms + after_s * 1000,
                "content_type": "image",
            }
    # Every post record and account record is in Kafka seconds before the first event: no event comes
    # before its post's record (that race is the unit tests' business).
    run(produce(settings, settings.topic_accounts, [(a.encode(), orjson.dumps(r)) for a, r in accounts.items()]))
    run(produce(settings, settings.topic_posts, [(p.encode(), orjson.dumps(r)) for p, r in posts.items()]))
    sender = PacedProducer(settings, messages)
    sender.start()
    time.sleep(max(0.0, (start_ms - time.time() * 1000) / 1000) + RUN_S / 2)
    worker.stop(sig=signal.SIGKILL)
    worker.start(timeout=60)
    sender.join(timeout=RUN_S + 30)
    assert sender.error is None and not sender.is_alive()

    # The ground truth. A post is complete (counted from its publication) when published once its
    # partition's first input had reached Kafka: the broker's time of the partition's first message.
    events = [e for message in messages for e in message]
    assert len({e["event_id"] for e in events}) == len(events)
    first_arrival: dict[int, int] = {}
    for message in run(read_all(settings, settings.topic_interactions)):
        first_arrival[message.partition] = min(
            first_arrival.get(message.partition, message.timestamp), message.timestamp
        )
    input_since = {a: first_arrival[partition_for(a, settings.topic_partitions)] for a in accounts}
    by_post: dict[str, list[dict]] = {}
    for event in events:
        if event["type"] in POST_LEVEL_TYPES:
            by_post.setdefault(event["post_id"], []).append(event)
    ages_ms = [a * 1000 for a in (*AGES_S, LIFETIME_S)]
    mark_at_end = close_mark(end_ms + (LIFETIME_S + 6) * 1000)
    expected: dict[tuple[str, int], dict] = {}
    for post_id, post in posts.items():
        published = post["published_at"]
        life = [e for e in by_post.get(post_id, []) if e["ts"] - published < LIFETIME_S * 1000]
        complete = published >= input_since[post["account_id"]]
        if not life and not complete:
            continue  # no event in its lifetime, and published before its partition's first input: no life
        # A complete post with no event in its lifetime has its life all the same (silent, at 0).
        for age in ages_ms:
            if published + age > mark_at_end:
                continue
            within = [e for e in life if e["ts"] - published < age]
            counts = {t: sum(1 for e in within if e["type"] == t) for t in {e["type"] for e in within}}
            engaged = sum(n for t, n in counts.items() if t in ENGAGED)
            expected[(post_id, age)] = {
                "counts": counts,
                "engaged": engaged,
                "published_at": published,
                "content_type": post["content_type"],
                "account_id": post["account_id"],
                "complete": complete,
                "er_followers": engaged / accounts[post["account_id"]]["followers"],
            }
    assert len({p for p, _ in expected}) >= 30 and any(v["complete"] for v in expected.values())
    # The silent posts are among those with no event (a simulated post published late in the run may be too).
    assert {f"{a}-silent{n}" for a in accounts for n in (0, 1)} <= {p for p, _ in expected if p not in by_post}

    def lifetime_records():
        return json_values(run(read_all(settings, settings.topic_post_lifetime, idle_ms=1000)))

    wait_time = (end_ms - time.time() * 1000) / 1000 + LIFETIME_S + GRACE_S + 30
    records = wait_for(
        lambda: (r := lifetime_records()) and len(r) >= len(expected) and r,
        wait_time,
        f"{len(expected)} lifetime records",
    )
    dlq = json_values(run(read_all(settings, settings.topic_dlq, idle_ms=500)))
    assert [(r["reason"], r["error"]) for r in dlq] == []  # every event on time: the truth is every event
    got = {}
    for record in records:
        key = (record["post_id"], record["age_ms"])
        assert key not in got, f"two lifetime records for {key}"
        got[key] = record
    assert expected.keys() <= got.keys()
    assert all(got[key]["window_end"] > mark_at_end for key in got.keys() - expected.keys())
    for key, want in expected.items():
        record = got[key]
        assert {t: n for t, n in record["counts"].items() if n} == want["counts"], key
        assert (
            record["engaged"],
            record["published_at"],
            record["content_type"],
            record["account_id"],
            record["complete"],
            record["published_at_source"],
            record["final"],
        ) == (
            want["engaged"],
            want["published_at"],
            want["content_type"],
            want["account_id"],
            want["complete"],
            "post_record",
            key[1] == LIFETIME_S * 1000,
        ), key
        assert record["rates"]["er_followers"] == pytest.approx(want["er_followers"], rel=1e-12)

    # The API's lifetime view of a post: every age published, its life over.
    post_id = max((p for p, age in expected if age == LIFETIME_S * 1000), key=lambda p: posts[p]["published_at"])
    status, body = http_get(f"{worker.url}/posts/{post_id}/metrics")
    assert status == 200, body
    lifetime = orjson.loads(body)["lifetime"]
    assert (lifetime["published_at"], lifetime["content_type"], lifetime["ages_published_ms"], lifetime["ended"]) == (
        posts[post_id]["published_at"],
        posts[post_id]["content_type"],
        ages_ms,
        True,
    )

    # Each account's ER per post: the mean of its complete posts' ER at maturity.
    matured: dict[str, list[float]] = {}
    for (_post_id, age), want in expected.items():
        if age == MATURITY_S * 1000 and want["complete"]:
            matured.setdefault(want["account_id"], []).append(want["er_followers"])
    assert len(matured) == len(accounts)
    metrics = worker.metrics()
    for account_id, ers in matured.items():
        platform = accounts[account_id]["platform"]
        industry = accounts[account_id].get("industry", "")
        labels = f'account_id="{account_id}",content_type="all",industry="{industry}",platform="{platform}"'
        assert metrics[f"engagement_account_post_rate_ratio{{{labels}}}"] == pytest.approx(
            sum(ers) / len(ers), rel=1e-9
        )
        assert metrics[f"engagement_account_matured_posts{{{labels}}}"] == len(ers)
