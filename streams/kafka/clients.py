"""The Kafka clients of the service, built in one place: the engine's consumer and transactional
producer, and the group-less readers of the restore and the account book."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from ..settings import Settings
from .aiokafka_fetch import guard_fetched_batches
from .aiokafka_internals import fence_offset_commits, know_topics
from .fencing import Membership
from .topics import MAX_MESSAGE_BYTES

FETCH_MAX_WAIT_MS = 100  # the fetch long-poll: an idle partition's fetch clock is about this old at most

TRANSACTION_TIMEOUT_MS = 15_000  # the broker aborts an engine transaction open longer (a dead worker's)
# How often a broker looks for transactions past their timeout (transaction.abort.timed.out.transaction.
# cleanup.interval.ms, 10 s by default): a dead worker's transaction is decided within the sum.
TRANSACTION_ABORT_CHECK_MS = 10_000


def engine_consumer(
    settings: Settings, kafka_config: dict, group_id: str, assignor, instance_id: str
) -> AIOKafkaConsumer:
    """The input consumer: manual commits (in the transaction), read_committed, our routing assignor.
    Static membership (KIP-345): a worker restarted under the same instance id takes its partitions
    back at once, instead of waiting out its dead predecessor's session timeout. A record batch it
    cannot decode becomes one record for the DLQ instead of an exception (``undecodable``)."""
    guard_fetched_batches()
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id,
        group_instance_id=instance_id,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        partition_assignment_strategy=(assignor,),
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 4096,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        session_timeout_ms=int(settings.session_timeout_seconds * 1000),
        heartbeat_interval_ms=int(settings.heartbeat_interval_seconds * 1000),
        fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
        **kafka_config,
    )


def transactional_producer(
    settings: Settings, kafka_config: dict, transactional_id: str, membership: Callable[[], Membership]
) -> AIOKafkaProducer:
    """The engine's producer. Its offset commits carry ``membership()`` (the engine consumer's group
    generation), so that a worker whose partitions were taken over cannot commit for them (fencing)."""
    return fence_offset_commits(
        AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            transactional_id=transactional_id,
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=1024 * 1024,
            max_request_size=4 * MAX_MESSAGE_BYTES,
            # Kafka 4 answers a produce that races the previous commit's markers with a retriable
            # NOT_ENOUGH_REPLICAS (KIP-890); each retry waits this backoff (aiokafka's default: 100 ms).
            retry_backoff_ms=20,
            transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
            **kafka_config,
        ),
        membership,
    )


def admin(settings: Settings, kafka_config: dict) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, **kafka_config)


def reader(
    settings: Settings, kafka_config: dict, isolation_level: str = "read_committed", **overrides
) -> AIOKafkaConsumer:
    """A consumer outside any group, for assign() and seek(): restores and reference data."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        isolation_level=isolation_level,
        **overrides,
        **kafka_config,
    )


@asynccontextmanager
async def end_readers(
    settings: Settings, kafka_config: dict, topics: tuple[str, ...]
) -> AsyncIterator[tuple[AIOKafkaConsumer, AIOKafkaConsumer]]:
    """(written, committed): two readers whose ``end_offsets`` are the high watermarks and the last
    stable offsets of these topics' partitions; the two differ while a transaction is open there or
    its markers have not landed."""
    written, committed = (
        reader(settings, kafka_config, isolation) for isolation in ("read_uncommitted", "read_committed")
    )
    try:
        await asyncio.gather(written.start(), committed.start())
        await asyncio.gather(know_topics(written, topics), know_topics(committed, topics))
        yield written, committed
    finally:
        await written.stop()
        await committed.stop()
