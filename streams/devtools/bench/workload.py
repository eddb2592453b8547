"""The workload (phase 1): the TrafficModel the benchmark draws its events from (accounts, seed, rate),
the account records, and the pre-fill of an input topic with one event per message or batches of one
account's events. The events come in the model's order (its posts' decay and publication cycles, from
the steady state of its start), each stamped with the wall clock when it is made."""

from __future__ import annotations

import asyncio
import collections
import itertools
import statistics
import time

import orjson
from aiokafka import AIOKafkaProducer

from ...kafka.topics import ensure_topics
from ...progress import Progress
from ...settings import Settings
from ...simulator import TrafficModel
from ...simulator.profile import POST_LIFE_DAYS, posts_per_day_values
from .harness import Bench, wall_ms

ACCOUNTS = 2000
# Posts an account has live at a time, on average (those of the last 7 model days): 2,000 x 116.
POSTS_PER_ACCOUNT = round(POST_LIFE_DAYS * statistics.fmean(posts_per_day_values(ACCOUNTS)))
BATCH_EVENTS = 100
SEED = 7
MODEL_RATE = 5000.0  # the rate the model's follower counts are scaled for
PROGRESS_EVERY_MESSAGES = 1000  # not each message: an update costs about 1 µs, in the pre-fill rate reported


# -- phase 1: pre-fill ---------------------------------------------------------------------------------
def model(rate: float = MODEL_RATE) -> TrafficModel:
    return TrafficModel(SEED, ACCOUNTS, rate=rate)


def _events(stream):
    """The model's events one by one, each stamped with the wall clock when it is made (``ts`` is
    now, or up to 2 s earlier for the model's out-of-order share)."""
    while True:
        yield from stream.next_message(wall_ms())


def batch_by_account(events, size: int):
    """Group an event stream into messages of ``size`` events of one account; when the stream ends,
    each account's remainder (fewer than ``size``) is one last message, so every event is sent."""
    buffers: dict[str, list] = {}
    for event in events:
        buffer = buffers.setdefault(event["account_id"], [])
        buffer.append(event)
        if len(buffer) == size:
            yield buffer
            buffers[event["account_id"]] = []
    for buffer in buffers.values():
        if buffer:
            yield buffer


def new_producer(bootstrap: str, **kw) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024, **kw)


async def send_accounts(bench: Bench, settings: Settings) -> int:
    await ensure_topics(settings)
    producer = new_producer(bench.bootstrap, acks="all")
    await producer.start()
    try:
        records = model().accounts()
        futures = [
            await producer.send(bench.accounts_topic, orjson.dumps(r), key=r["account_id"].encode()) for r in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(records)


async def prefill(bench: Bench, settings: Settings, events: int, per_message: int) -> dict:
    """Produce ``events`` model events into settings.topic_interactions, ``per_message`` per message."""
    await ensure_topics(settings)
    producer = new_producer(bench.bootstrap, linger_ms=20, max_batch_size=1024 * 1024, acks=1)
    await producer.start()
    stream = model().stream(wall_ms())
    types: collections.Counter = collections.Counter()
    platforms: collections.Counter = collections.Counter()
    posts: set = set()
    accounts: set = set()
    messages = size = produced = full = 0
    futures: list = []
    started = time.monotonic()
    topic = settings.topic_interactions
    try:
        source = itertools.islice(_events(stream), events)
        with Progress(f"pre-fill {topic}", total=events) as progress:
            for item in source if per_message == 1 else batch_by_account(source, per_message):
                group = [item] if per_message == 1 else item
                for event in group:
                    types[event["type"]] += 1
                    platforms[event["platform"]] += 1
                    accounts.add(event["account_id"])
                    if "post_id" in event:
                        posts.add(event["post_id"])
                value = orjson.dumps(item)
                futures.append(await producer.send(topic, value, key=group[0]["account_id"].encode()))
                messages += 1
                full += len(group) == per_message
                size += len(value)
                produced += len(group)
                if messages % PROGRESS_EVERY_MESSAGES == 0:
                    progress.update(produced)
                if len(futures) >= 20_000:
                    await asyncio.gather(*futures)
                    futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    seconds = time.monotonic() - started
    return {
        "topic": topic,
        "events": produced,
        "messages": messages,
        "events_per_message": per_message,
        "mean_events_per_message": round(produced / messages, 1),
        "full_messages": messages if per_message == 1 else full,
        "bytes": size,
        "mean_event_bytes": round(size / produced),
        "prefill_seconds": round(seconds, 1),
        "prefill_events_per_s": round(produced / seconds),
        "accounts": len(accounts),
        "posts": len(posts),
        "types": dict(types.most_common()),
        "platforms": dict(platforms.most_common()),
    }
