"""Topic declarations: one place that says which topics exist, with what partitions and configs."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    TopicAlreadyExistsError,
    for_code,
)

from ..settings import Settings
from .topic_checks import Described, problems

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # input and DLQ accept oversized messages so they reach the DLQ
SNAPSHOT_SEGMENT_MS = 10 * 60 * 1000  # compaction works on closed segments: roll them every 10 minutes
UNREACHABLE = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, OSError)  # a cluster not up (yet)
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.5, 10.0


def topic_specs(settings: Settings) -> dict[str, dict[str, str]]:
    """Topic name -> topic configs. All topics have settings.topic_partitions partitions; the state
    journal and snapshots must match the input partition for partition, which is why they are created
    here too. The journal keeps everything (retention.ms -1) until the engine deletes what precedes
    a committed snapshot (DeleteRecords), so no retention setting can remove what a restore needs;
    the snapshot topic is compacted (latest value per key), its segments rolled often so that the
    cleaner keeps the part a restore reads short."""
    return {
        # The broker stamps arrival: a worker catching up closes windows by it (streams/engine/).
        settings.topic_interactions: {
            "max.message.bytes": str(MAX_MESSAGE_BYTES),
            "message.timestamp.type": "LogAppendTime",
        },
        settings.topic_accounts: {"cleanup.policy": "compact"},
        # A post record matters while its post may still start a lifetime; kept a benchmark period more.
        settings.topic_posts: {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(int((settings.post_lifetime_seconds + settings.benchmark_period_seconds) * 1000)),
        },
        settings.topic_post_metrics: {},
        settings.topic_post_lifetime: {},
        settings.topic_account_metrics: {},
        settings.topic_dlq: {"max.message.bytes": str(MAX_MESSAGE_BYTES * 2)},
        settings.topic_mentions: {"cleanup.policy": "compact"},
        settings.topic_state: {"retention.ms": "-1", "max.message.bytes": str(MAX_MESSAGE_BYTES)},
        settings.topic_snapshots: {
            "cleanup.policy": "compact",
            "max.message.bytes": str(MAX_MESSAGE_BYTES),
            "segment.ms": str(SNAPSHOT_SEGMENT_MS),
            "min.cleanable.dirty.ratio": "0.1",
            "delete.retention.ms": str(SNAPSHOT_SEGMENT_MS),
        },
    }


class TopicMismatch(Exception):
    """Existing topics the service cannot work on; its message has every problem, one a line, with its fix."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("the Kafka topics do not fit the service:\n" + "\n".join(f"  {p}" for p in problems))


async def ensure_topics_once_reachable(
    settings: Settings, admin_config: dict | None = None, sleep=asyncio.sleep
) -> None:
    """``ensure_topics``, retried with backoff (0.5 s doubling to 10 s) for as long as the cluster
    cannot be reached: a worker started before its brokers (a fleet starting together, a cluster
    restarting) waits for them, saying why, instead of exiting into its supervisor's backoff. Anything
    else (refused credentials, topics that do not fit) raises at once."""
    delay, attempt = RETRY_FIRST_SECONDS, 1
    while True:
        try:
            await ensure_topics(settings, admin_config)
        except UNREACHABLE as exc:
            log.warning(
                "Kafka at %s unreachable (%s: %s); attempt %d, retrying in %.1f s",
                settings.kafka_bootstrap_servers,
                type(exc).__name__,
                str(exc).removeprefix(f"{type(exc).__name__}: "),  # aiokafka's errors name themselves
                attempt,
                delay,
            )
            await sleep(delay)
            delay, attempt = min(delay * 2, RETRY_MAX_SECONDS), attempt + 1
        else:
            if attempt > 1:
                log.info("Kafka at %s reachable after %d attempts", settings.kafka_bootstrap_servers, attempt)
            return


async def ensure_topics(settings: Settings, admin_config: dict | None = None) -> None:
    """Check the service's topics that exist, then create the missing ones: a start refused
    (TopicMismatch) leaves no topic made with the count it refused."""
    specs = topic_specs(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, **(admin_config or {}))
    try:
        await admin.start()  # inside: a start that fails still closes its connections
        existing = set(await admin.list_topics())
        await _check(admin, settings, specs, [name for name in specs if name in existing])
        missing = [
            NewTopic(name, settings.topic_partitions, settings.topic_replication, topic_configs=configs)
            for name, configs in specs.items()
            if name not in existing
        ]
        if missing:
            response = await admin.create_topics(missing)
            raced = []
            for topic, code, *_ in response.topic_errors:
                if code and for_code(code) is TopicAlreadyExistsError:
                    raced.append(topic)  # another worker (or the simulator) created it a moment ago
                elif code:
                    raise for_code(code)(f"creating topic {topic}")
            log.info("created topics %s", [t.name for t in missing if t.name not in raced])
            await _check(admin, settings, specs, raced)
    finally:
        await admin.close()


async def _check(admin: AIOKafkaAdminClient, settings: Settings, specs: dict, topics: list[str]) -> None:
    found = problems(settings, specs, await _describe(admin, topics)) if topics else []
    if found:
        raise TopicMismatch(found)


async def _describe(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, Described]:
    """Partition counts and the effective configs the checks read (set on the topic or the broker's defaults)."""
    wanted = {"cleanup.policy": None, "message.timestamp.type": None, "retention.ms": None}
    for _ in range(50):  # a topic created a moment ago takes a while to show in the metadata
        metadata = await admin.describe_topics(topics)
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t, wanted) for t in topics])
        resources = [r for response in responses for r in response.to_object()["resources"]]
        errors = [(t["topic"], t["error_code"]) for t in metadata if t["error_code"]] + [
            (r["resource_name"], r["error_code"]) for r in resources if r["error_code"]
        ]
        if not errors:
            configs = {
                r["resource_name"]: {e["config_names"]: e["config_value"] for e in r["config_entries"]}
                for r in resources
            }
            return {
                t["topic"]: Described(len(t["partitions"]), *(configs[t["topic"]][name] for name in wanted))
                for t in metadata
            }
        await asyncio.sleep(0.2)
    topic, code = errors[0]
    raise for_code(code)(f"describing topic {topic}")
