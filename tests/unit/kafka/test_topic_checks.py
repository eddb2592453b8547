"""Topics made before the service ran: the checks on what the broker describes (pure), and on the
real broker, topics made beforehand with another partition count, cleanup policy or timestamp type."""

from __future__ import annotations

import pytest

from streams.kafka.topic_checks import Described, problems
from streams.kafka.topics import TopicMismatch, topic_specs
from streams.settings import Settings

SETTINGS = Settings.from_env({}, kafka_bootstrap_servers="kafka:9092")
SPECS = topic_specs(SETTINGS)
ALL = (
    "(every co-partitioned topic must have the same count: engagement.interactions, engagement.engine-state, "
    "engagement.engine-snapshots, engagement.engine-mentions)"
)


def as_made(settings: Settings = SETTINGS, **changes: Described) -> dict[str, Described]:
    """Every topic as the service makes it, but the ``changes`` (topic field name -> Described)."""
    made = {
        topic: Described(
            settings.topic_partitions,
            spec.get("cleanup.policy", "delete"),
            spec.get("message.timestamp.type", "CreateTime"),
            spec.get("retention.ms", "604800000"),
        )
        for topic, spec in topic_specs(settings).items()
    }
    made.update({getattr(settings, field): described for field, described in changes.items()})
    return made


def alter(topic: str, config: str) -> str:
    return (
        f"kafka-configs.sh --bootstrap-server kafka:9092 --alter --entity-type topics --entity-name {topic} "
        f"--add-config {config}"
    )


# -- the checks ------------------------------------------------------------------------------------


def test_topics_as_the_service_makes_them_pass():
    assert problems(SETTINGS, SPECS, as_made()) == []


def test_an_input_with_another_partition_count_is_refused_with_the_count_that_fits():
    found = problems(SETTINGS, SPECS, {"engagement.interactions": Described(12, "delete", "LogAppendTime")})
    assert found == [
        "topic engagement.interactions has 12 partitions but ENGAGEMENT_TOPIC_PARTITIONS=8: "
        f"set ENGAGEMENT_TOPIC_PARTITIONS=12 {ALL}"
    ]


def test_co_partitioned_topics_that_differ_are_each_named_with_every_count():
    found = problems(
        SETTINGS,
        SPECS,
        as_made(
            topic_interactions=Described(12, "delete", "LogAppendTime"),
            topic_mentions=Described(4, "compact", "CreateTime"),
        ),
    )
    counts = (
        "they have engagement.interactions 12, engagement.engine-state 8, engagement.engine-snapshots 8, "
        "engagement.engine-mentions 4: give them one count and set ENGAGEMENT_TOPIC_PARTITIONS to it"
    )
    assert found == [
        f"topic {topic} has {n} partitions but ENGAGEMENT_TOPIC_PARTITIONS=8: {counts} {ALL}"
        for topic, n in [("engagement.interactions", 12), ("engagement.engine-mentions", 4)]
    ]


def test_outputs_and_reference_topics_may_have_any_partition_count():
    others = {
        field: Described(n, policy, "CreateTime")
        for n, (field, policy) in enumerate(
            [
                ("topic_accounts", "compact"),
                ("topic_posts", "compact,delete"),
                ("topic_post_metrics", "delete"),
                ("topic_post_lifetime", "delete"),
                ("topic_account_metrics", "delete"),
                ("topic_dlq", "delete"),
            ],
            start=1,
        )
    }
    assert problems(SETTINGS, SPECS, as_made(**others)) == []


@pytest.mark.parametrize("field", ["topic_accounts", "topic_posts", "topic_mentions", "topic_snapshots"])
def test_a_compacted_topic_made_with_delete_is_refused(field):
    topic, wanted = getattr(SETTINGS, field), SPECS[getattr(SETTINGS, field)]["cleanup.policy"]
    fix = alter(topic, "cleanup.policy=[compact,delete]" if wanted == "compact,delete" else "cleanup.policy=compact")
    assert problems(SETTINGS, SPECS, as_made(**{field: Described(8, "delete", "CreateTime")})) == [
        f"topic {topic} has cleanup.policy=delete but must be compacted (the service reads the latest record of "
        f"each key from it): {fix}"
    ]


def test_a_compacted_topic_with_deletion_too_is_accepted():
    assert problems(SETTINGS, SPECS, as_made(topic_snapshots=Described(8, "compact,delete", "CreateTime"))) == []


@pytest.mark.parametrize("policy", ["compact", "delete,compact"])
@pytest.mark.parametrize("field", ["topic_state", "topic_dlq"])
def test_the_journal_and_the_dlq_made_compacted_are_refused(field, policy):
    topic = getattr(SETTINGS, field)
    assert problems(SETTINGS, SPECS, as_made(**{field: Described(8, policy, "CreateTime")})) == [
        f"topic {topic} has cleanup.policy={policy} but must not be compacted (the engine writes records without "
        f"a key to it, which a compacted topic refuses): {alter(topic, 'cleanup.policy=delete')}"
    ]


def test_an_input_stamped_by_its_producers_is_refused():
    found = problems(SETTINGS, SPECS, as_made(topic_interactions=Described(8, "delete", "CreateTime")))
    assert found == [
        "topic engagement.interactions has message.timestamp.type=CreateTime but must have "
        "LogAppendTime (the engine closes windows by the broker's arrival time of the input it reads, "
        "not by a producer's clock): "
        f"{alter('engagement.interactions', 'message.timestamp.type=LogAppendTime')}"
    ]


def test_a_journal_that_deletes_by_age_is_refused():
    found = problems(SETTINGS, SPECS, as_made(topic_state=Described(8, "delete", "CreateTime", "604800000")))
    assert found == [
        "topic engagement.engine-state has retention.ms=604800000 but must keep everything (the engine "
        "deletes its entries once a snapshot covers them; a restore after a longer outage would lose "
        f"state): {alter('engagement.engine-state', 'retention.ms=-1')}"
    ]


def test_the_refusal_lists_every_problem_on_its_own_line():
    found = problems(
        SETTINGS,
        SPECS,
        as_made(
            topic_interactions=Described(12, "delete", "CreateTime"),
            topic_state=Described(12, "compact", "CreateTime"),
            topic_accounts=Described(1, "delete", "CreateTime"),
        ),
    )
    starts = [
        "topic engagement.interactions has 12 partitions",
        "topic engagement.engine-state has 12 partitions",
        "topic engagement.interactions has message.timestamp.type=CreateTime",
        "topic engagement.accounts has cleanup.policy=delete",
        "topic engagement.engine-state has cleanup.policy=compact",
    ]
    assert [line[: len(start)] for line, start in zip(found, starts)] == starts and len(found) == len(starts)
    assert str(TopicMismatch(found)).splitlines() == [
        "the Kafka topics do not fit the service:",
        *(f"  {line}" for line in found),
    ]
