"""Shared fixtures: the real Kafka broker (embedded unless KAFKA_BOOTSTRAP_SERVERS is set), isolated
topic names per test, and worker processes started the way production starts them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.devtools.broker import EmbeddedKafka, free_port
from streams.devtools.processes import scrape, spawn, stop, wait_http
from streams.kafka.security import kafka_client_config
from streams.kafka.topics import ensure_topics
from streams.settings import Settings, topics_named

REPO = Path(__file__).resolve().parent.parent


# Fixtures that make a test an integration test: the broker, and a live Prometheus (tests/test_deploy.py)
# whose rules the test waits on in real time (about 12 s per module).
INTEGRATION_FIXTURES = frozenset({"kafka_bootstrap", "live_prometheus"})


def pytest_collection_modifyitems(config, items):
    """Every test that uses the broker (the kafka_bootstrap fixture, directly or through another fixture) or a
    live Prometheus is an integration test, so `-m "not integration"` (make check's unit tier) starts neither."""
    for item in items:
        if INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_bootstrap():
    """A real broker for the whole session: the embedded one, or the cluster the environment names."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    with EmbeddedKafka() as broker:
        yield broker.bootstrap


def isolated_settings(bootstrap: str, **overrides) -> Settings:
    """Settings whose topics and consumer groups belong to one test only."""
    tag = uuid.uuid4().hex[:8]
    names = topics_named(f"t{tag}")
    return Settings.from_env(
        {}, kafka_bootstrap_servers=bootstrap, app_id=f"test-{tag}", log_level="info", **{**names, **overrides}
    )


class Worker:
    """`engagement worker` as a child process, with its own web port."""

    def __init__(
        self,
        settings: Settings,
        log_dir: Path,
        name: str = "worker",
        command: tuple[str, ...] = (sys.executable, "-m", "streams.cli", "worker"),
    ):
        self.command = list(command)
        self.port = free_port()
        self.settings = Settings.from_env({}, **{**_fields(settings), "web_port": self.port})
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{name}-{self.port}.log"
        self.proc = None

    def launch(self) -> Worker:
        """The process, without waiting for it to serve."""
        self.proc = spawn(self.command, self.settings.as_env(), self.log)
        return self

    def start(self, timeout: float = 90.0) -> Worker:
        """The process, once it is ready with partitions (all of them restored)."""
        self.launch()
        try:
            wait_http(
                f"{self.url}/ready",
                timeout=timeout,
                proc=self.proc,
                ready=lambda status, body: status == 200 and json.loads(body)["assigned"],
            )
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"worker did not start; log:\n{self.log.read_text()[-4000:]}") from exc
        return self

    def metrics(self) -> dict[str, float]:
        return scrape(f"{self.url}/metrics")

    def stop(self, sig=None) -> int | None:
        import signal

        return stop(self.proc, sig=sig or signal.SIGTERM)


def _fields(settings: Settings) -> dict:
    import dataclasses

    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def make(settings: Settings, name: str = "worker", **options) -> Worker:
        worker = Worker(settings, tmp_path, name, **options)
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()


def run(coro):
    return asyncio.run(coro)


async def produce(settings: Settings, topic: str, messages: list[tuple[bytes | None, bytes]]) -> list:
    """Send and wait for the broker's acknowledgement; returns each message's RecordMetadata."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_idempotence=True,
        max_request_size=32 * 1024 * 1024,
        **kafka_client_config(settings),
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


async def read_all(settings: Settings, topic: str, idle_ms: int = 1500) -> list:
    """Every committed message of a topic, read until it stays quiet for idle_ms."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=64 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        **kafka_client_config(settings),
    )
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        messages = []
        while True:
            batch = await consumer.getmany(timeout_ms=idle_ms)
            if not batch:
                return messages
            for part in batch.values():
                messages.extend(part)
    finally:
        await consumer.stop()


def json_values(messages) -> list[dict]:
    return [orjson.loads(m.value) for m in messages]


@pytest.fixture
def topics_ready():
    def make(settings: Settings) -> Settings:
        run(ensure_topics(settings, kafka_client_config(settings)))
        return settings

    return make


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    """The predicate's first truthy value, polled until timeout; else fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def keyed_events(count: int, *, type_: str, platform: str, accounts: int, posts: int, prefix: str) -> list:
    """(key, value) messages of `count` simple valid events, now, keyed by their account."""
    now = int(time.time() * 1000)
    messages = []
    for i in range(count):
        account = f"acct-{i % accounts}"
        event = {
            "event_id": f"{prefix}-{i}",
            "type": type_,
            "ts": now,
            "platform": platform,
            "account_id": account,
            "post_id": f"{account}-p{i % posts}",
        }
        messages.append((account.encode(), orjson.dumps(event)))
    return messages
