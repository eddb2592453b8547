"""What a topic made before the service ran must have for the service to work on it. Pure: the checks
take what the broker describes of the topics and return the problems, one line each, with the fix."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings, env_name

PARTITIONS_SETTING = env_name("topic_partitions")


@dataclass(frozen=True)
class Described:
    """What the broker says of an existing topic: its partition count and its effective configs."""

    partitions: int
    cleanup_policy: str
    timestamp_type: str
    retention_ms: str = "-1"


def co_partitioned(settings: Settings) -> tuple[str, ...]:
    """Topics read partition for partition with the input: the state of input partition p is in
    partition p of the engine's topics (streams/engine/recovery.py), and an account's partition is
    partition_for(account, ENGAGEMENT_TOPIC_PARTITIONS) (the fold's routing, the API's owner lookup).
    The other topics may have any count: outputs and the DLQ are sent by the key's partition among
    the topic's real ones (streams/engine/outbox.py), reference topics are read whole
    (streams/kafka/reference.py)."""
    return (settings.topic_interactions, settings.topic_state, settings.topic_snapshots, settings.topic_mentions)


def keyless(settings: Settings) -> tuple[str, ...]:
    """Topics the engine writes records without a key to, which a compacted topic refuses (the whole
    transaction would fail, again at each retry): the journal's entries, and DLQ records of keyless input."""
    return (settings.topic_state, settings.topic_dlq)


def problems(settings: Settings, specs: dict[str, dict[str, str]], described: dict[str, Described]) -> list[str]:
    """Every problem of the described topics; ``specs``: what the service makes (topics.topic_specs)."""
    found = partition_problems(settings, described)
    for topic, actual in described.items():
        found += policy_problems(settings, topic, specs[topic], actual)
        found += timestamp_problems(settings, topic, specs[topic], actual)
        found += retention_problems(settings, topic, specs[topic], actual)
    return found


def partition_problems(settings: Settings, described: dict[str, Described]) -> list[str]:
    counts = {topic: described[topic].partitions for topic in co_partitioned(settings) if topic in described}
    wrong = {topic: n for topic, n in counts.items() if n != settings.topic_partitions}
    if not wrong:
        return []
    if len(set(counts.values())) == 1:
        fix = f"set {PARTITIONS_SETTING}={next(iter(counts.values()))}"
    else:
        fix = (
            f"they have {', '.join(f'{t} {n}' for t, n in counts.items())}: give them one count and set "
            f"{PARTITIONS_SETTING} to it"
        )
    return [
        f"topic {topic} has {n} partitions but {PARTITIONS_SETTING}={settings.topic_partitions}: {fix} "
        f"(every co-partitioned topic must have the same count: {', '.join(co_partitioned(settings))})"
        for topic, n in wrong.items()
    ]


def policy_problems(settings: Settings, topic: str, spec: dict[str, str], actual: Described) -> list[str]:
    wanted = spec.get("cleanup.policy", "delete")
    if _compacts(wanted) and not _compacts(actual.cleanup_policy):
        why = "the service reads the latest record of each key from it"
    elif topic in keyless(settings) and _compacts(actual.cleanup_policy):
        why = "the engine writes records without a key to it, which a compacted topic refuses"
    else:
        return []
    must = "be compacted" if _compacts(wanted) else "not be compacted"
    return [
        f"topic {topic} has cleanup.policy={actual.cleanup_policy} but must {must} ({why}): "
        f"{_alter(settings, topic, 'cleanup.policy', wanted)}"
    ]


def timestamp_problems(settings: Settings, topic: str, spec: dict[str, str], actual: Described) -> list[str]:
    wanted = spec.get("message.timestamp.type")
    if wanted is None or actual.timestamp_type == wanted:
        return []
    # Only the input sets it: a worker catching up closes windows by the arrival time of what it read,
    # which a producer's own timestamp (CreateTime) is not (streams/engine/clock.py).
    return [
        f"topic {topic} has message.timestamp.type={actual.timestamp_type} but must have {wanted} (the engine "
        f"closes windows by the broker's arrival time of the input it reads, not by a producer's clock): "
        f"{_alter(settings, topic, 'message.timestamp.type', wanted)}"
    ]


def retention_problems(settings: Settings, topic: str, spec: dict[str, str], actual: Described) -> list[str]:
    if spec.get("retention.ms") != "-1" or actual.retention_ms == "-1":
        return []
    # Only the journal keeps everything: the engine deletes what a snapshot made redundant, and what
    # follows the latest snapshot is needed by the next restore however long an outage lasts.
    return [
        f"topic {topic} has retention.ms={actual.retention_ms} but must keep everything (the engine deletes "
        f"its entries once a snapshot covers them; a restore after a longer outage would lose state): "
        f"{_alter(settings, topic, 'retention.ms', '-1')}"
    ]


def _compacts(policy: str) -> bool:
    return "compact" in (part.strip() for part in policy.split(","))


def _alter(settings: Settings, topic: str, name: str, value: str) -> str:
    value = f"[{value}]" if "," in value else value  # kafka-configs.sh takes a list value in brackets
    return (
        f"kafka-configs.sh --bootstrap-server {settings.kafka_bootstrap_servers} --alter --entity-type topics "
        f"--entity-name {topic} --add-config {name}={value}"
    )
