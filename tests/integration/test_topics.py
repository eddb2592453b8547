"""Topics made before the service ran: the checks on what the broker describes (pure), and on the
real broker, topics made beforehand with another partition count, cleanup policy or timestamp type."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.kafka.topics import TopicMismatch, ensure_topics, topic_specs
from streams.settings import Settings
from tests.fixtures.kafka import isolated_settings, run, wait_for

# -- on the broker: topics made beforehand -----------------------------------------------------------


async def _make(settings: Settings, topics: dict[str, tuple[int, dict[str, str]]]) -> None:
    """Topics made the way an operator or another team would, before the service runs."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs=configs) for name, (partitions, configs) in topics.items()]
        )
        assert [code for _, code, *_ in response.topic_errors] == [0] * len(topics)
    finally:
        await admin.close()


async def _existing(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def _refused(settings: Settings) -> list[str]:
    with pytest.raises(TopicMismatch) as refused:
        run(ensure_topics(settings))
    return refused.value.problems


def _co_partitioned(s: Settings) -> str:
    return (
        f"(every co-partitioned topic must have the same count: {s.topic_interactions}, {s.topic_state}, "
        f"{s.topic_snapshots}, {s.topic_mentions})"
    )


def _alter(s: Settings, topic: str, config: str) -> str:
    return (
        f"kafka-configs.sh --bootstrap-server {s.kafka_bootstrap_servers} --alter --entity-type topics "
        f"--entity-name {topic} --add-config {config}"
    )


@pytest.mark.integration
def test_an_input_made_with_another_partition_count_is_refused_before_anything_is_made(kafka_bootstrap):
    s = isolated_settings(kafka_bootstrap, topic_partitions=2)
    run(_make(s, {s.topic_interactions: (3, {"message.timestamp.type": "LogAppendTime"})}))
    assert _refused(s) == [
        f"topic {s.topic_interactions} has 3 partitions but ENGAGEMENT_TOPIC_PARTITIONS=2: "
        f"set ENGAGEMENT_TOPIC_PARTITIONS=3 {_co_partitioned(s)}"
    ]
    # Nothing made with the count refused: with the setting fixed, the engine's topics get the input's.
    assert {t for t in topic_specs(s) if t in run(_existing(s))} == {s.topic_interactions}


@pytest.mark.integration
def test_a_compacted_topic_made_with_delete_is_refused_on_the_broker(kafka_bootstrap):
    s = isolated_settings(kafka_bootstrap, topic_partitions=2)
    run(_make(s, {s.topic_snapshots: (2, {"cleanup.policy": "delete"})}))
    assert _refused(s) == [
        f"topic {s.topic_snapshots} has cleanup.policy=delete but must be compacted (the service "
        f"reads the latest record of each key from it): "
        f"{_alter(s, s.topic_snapshots, 'cleanup.policy=compact')}"
    ]


@pytest.mark.integration
def test_a_journal_made_compacted_is_refused_on_the_broker(kafka_bootstrap):
    s = isolated_settings(kafka_bootstrap, topic_partitions=2)
    run(_make(s, {s.topic_state: (2, {"cleanup.policy": "compact", "retention.ms": "-1"})}))
    assert _refused(s) == [
        f"topic {s.topic_state} has cleanup.policy=compact but must not be compacted (the engine "
        f"writes records without a key to it, which a compacted topic refuses): "
        f"{_alter(s, s.topic_state, 'cleanup.policy=delete')}"
    ]


@pytest.mark.integration
def test_a_journal_made_with_a_retention_time_is_refused_on_the_broker(kafka_bootstrap):
    s = isolated_settings(kafka_bootstrap, topic_partitions=2)
    run(_make(s, {s.topic_state: (2, {"retention.ms": "604800000"})}))  # Kafka's default: 7 days
    assert _refused(s) == [
        f"topic {s.topic_state} has retention.ms=604800000 but must keep everything (the engine "
        f"deletes its entries once a snapshot covers them; a restore after a longer outage would "
        f"lose state): {_alter(s, s.topic_state, 'retention.ms=-1')}"
    ]


@pytest.mark.integration
def test_an_input_made_with_create_time_is_refused_on_the_broker(kafka_bootstrap):
    s = isolated_settings(kafka_bootstrap, topic_partitions=2)
    run(_make(s, {s.topic_interactions: (2, {"message.timestamp.type": "CreateTime"})}))
    assert _refused(s) == [
        f"topic {s.topic_interactions} has message.timestamp.type=CreateTime but must have "
        f"LogAppendTime (the engine closes windows by the broker's arrival time of the input it "
        f"reads, not by a producer's clock): "
        f"{_alter(s, s.topic_interactions, 'message.timestamp.type=LogAppendTime')}"
    ]


@pytest.mark.integration
def test_a_topic_another_worker_made_a_moment_ago_is_checked_too(kafka_bootstrap, monkeypatch):
    """Listed as missing, then refused as existing by create_topics: made by someone else, so checked."""
    s = isolated_settings(kafka_bootstrap, topic_partitions=2)
    run(_make(s, {s.topic_mentions: (3, {"cleanup.policy": "compact"})}))

    async def nothing_yet(self):
        return []

    monkeypatch.setattr(AIOKafkaAdminClient, "list_topics", nothing_yet)
    assert _refused(s) == [
        f"topic {s.topic_mentions} has 3 partitions but ENGAGEMENT_TOPIC_PARTITIONS=2: "
        f"set ENGAGEMENT_TOPIC_PARTITIONS=3 {_co_partitioned(s)}"
    ]


@pytest.mark.integration
def test_topics_made_beforehand_as_the_service_needs_are_accepted_and_checked_again(kafka_bootstrap):
    s = isolated_settings(kafka_bootstrap, topic_partitions=2)
    run(
        _make(
            s,
            {
                s.topic_interactions: (2, {"message.timestamp.type": "LogAppendTime"}),
                s.topic_accounts: (1, {"cleanup.policy": "compact"}),
                s.topic_posts: (3, {"cleanup.policy": "compact,delete"}),
                s.topic_state: (2, {"retention.ms": "-1"}),
                s.topic_post_metrics: (5, {}),
            },
        )
    )
    run(ensure_topics(s))
    wait_for(lambda: set(topic_specs(s)) <= run(_existing(s)), 30, "the topics made to be listed")
    run(ensure_topics(s))  # the service's own topics, now all existing, pass the checks
