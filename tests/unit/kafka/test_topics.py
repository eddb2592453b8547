"""streams.kafka.topics.ensure_topics_once_reachable: a worker started before its brokers retries with
backoff while the cluster cannot be reached, and fails at once on anything else. The broker test (the
worker first, the broker 20 s later): tests/integration/test_reliability.py."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiokafka.errors import KafkaConnectionError

from streams.kafka import topics
from streams.settings import Settings

SETTINGS = Settings.from_env({}, kafka_bootstrap_servers="127.0.0.1:1")


def attempts(monkeypatch, outcomes: list) -> tuple[list[float], list]:
    """ensure_topics fails with each of ``outcomes`` in turn, then succeeds: (the waits, the calls)."""
    calls, waits = [], []

    async def ensure_topics(settings, admin_config=None):
        calls.append(settings)
        if len(calls) <= len(outcomes):
            raise outcomes[len(calls) - 1]

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(topics, "ensure_topics", ensure_topics)
    asyncio.run(topics.ensure_topics_once_reachable(SETTINGS, sleep=sleep))
    return waits, calls


def test_an_unreachable_cluster_is_retried_with_backoff_until_it_answers(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    unreachable = [KafkaConnectionError("Unable to bootstrap from 127.0.0.1:1")] * 7
    waits, calls = attempts(monkeypatch, unreachable)
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert len(calls) == 8
    assert (
        "Kafka at 127.0.0.1:1 unreachable (KafkaConnectionError: Unable to bootstrap from 127.0.0.1:1); "
        "attempt 1, retrying in 0.5 s"
    ) in caplog.text
    assert "reachable after 8 attempts" in caplog.text


def test_a_refused_start_is_not_retried(monkeypatch):
    with pytest.raises(topics.TopicMismatch):
        attempts(monkeypatch, [topics.TopicMismatch(["the input topic has 4 partitions, not 8"])])
