"""Topic declarations: one place that says which topics exist, with what partitions and configs."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from ..settings import Settings

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # input and DLQ accept oversized messages so they reach the DLQ
SNAPSHOT_SEGMENT_MS = 10 * 60 * 1000  # compaction works on closed segments: roll them every 10 minutes


def topic_specs(settings: Settings) -> dict[str, dict[str, str]]:
    """Topic name -> topic configs. All topics have settings.topic_partitions partitions; the state
    journal and snapshots must match the input partition for partition, which is why they are created
    here too. The journal keeps everything (retention.ms -1) until the engine deletes what precedes
    a committed snapshot (DeleteRecords), so no retention setting can remove what a restore needs;
    the snapshot topic is compacted (latest value per key), its segments rolled often so that the
    cleaner keeps the part a restore reads short."""
    return {
        # The broker stamps arrival: a worker catching up closes windows by it (streams/engine/).
        settings.topic_interactions: {"max.message.bytes": str(MAX_MESSAGE_BYTES),
                                      "message.timestamp.type": "LogAppendTime"},
        settings.topic_accounts: {"cleanup.policy": "compact"},
        # A post record matters while its post may still start a lifetime; kept a benchmark period more.
        settings.topic_posts: {"cleanup.policy": "compact,delete", "retention.ms": str(int(
            (settings.post_lifetime_seconds + settings.benchmark_period_seconds) * 1000))},
        settings.topic_post_metrics: {},
        settings.topic_post_lifetime: {},
        settings.topic_account_metrics: {},
        settings.topic_dlq: {"max.message.bytes": str(MAX_MESSAGE_BYTES * 2)},
        settings.topic_mentions: {"cleanup.policy": "compact"},
        settings.topic_state: {"retention.ms": "-1", "max.message.bytes": str(MAX_MESSAGE_BYTES)},
        settings.topic_snapshots: {"cleanup.policy": "compact", "max.message.bytes": str(MAX_MESSAGE_BYTES),
                                   "segment.ms": str(SNAPSHOT_SEGMENT_MS), "min.cleanable.dirty.ratio": "0.1",
                                   "delete.retention.ms": str(SNAPSHOT_SEGMENT_MS)},
    }


async def ensure_topics(settings: Settings, admin_config: dict | None = None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, **(admin_config or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, settings.topic_partitions, settings.topic_replication, topic_configs=configs)
                   for name, configs in topic_specs(settings).items() if name not in existing]
        if missing:
            response = await admin.create_topics(missing)
            for topic, code, *_ in response.topic_errors:
                # Another worker (or the simulator) may have created it a moment ago.
                if code and for_code(code) is not TopicAlreadyExistsError:
                    raise for_code(code)(f"creating topic {topic}")
            log.info("created topics %s", [t.name for t in missing])
    finally:
        await admin.close()
