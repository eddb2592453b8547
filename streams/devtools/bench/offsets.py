"""When a run is done (the pipeline's and every peer's): its consumer group's committed offsets
against the input topic's end offsets, read with aiokafka (the end offsets once, the committed ones
at every poll)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from ...progress import Progress


def is_complete(committed: Mapping[int, int], ends: Mapping[int, int]) -> bool:
    """Every partition's committed offset has reached its end offset (an empty partition needs none)."""
    return all(committed.get(partition, 0) >= end for partition, end in ends.items())


def committed_messages(committed: Mapping[int, int], ends: Mapping[int, int]) -> int:
    """Messages the group has committed, over the input's partitions (offsets count from 0: the topic
    is pre-filled and never truncated, so a committed offset is the count of messages before it)."""
    return sum(min(max(committed.get(partition, 0), 0), end) for partition, end in ends.items())


async def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def create_topic(admin: AIOKafkaAdminClient, name: str, partitions: int, replication: int) -> None:
    response = await admin.create_topics([NewTopic(name, partitions, replication)])
    for topic, code, *_ in response.topic_errors:
        if code and for_code(code) is not TopicAlreadyExistsError:
            raise for_code(code)(f"creating topic {topic}")


class GroupOffsets:
    """The committed offsets of one consumer group on one topic, through an admin client the caller
    started; the group's coordinator is looked up once, again after an error."""

    def __init__(self, admin: AIOKafkaAdminClient, group: str, topic: str, partitions: int):
        self.admin = admin
        self.group = group
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]
        self.coordinator: int | None = None

    async def read(self) -> dict[int, int] | None:
        """{partition: committed offset}, or None while the broker cannot tell yet (no coordinator)."""
        try:
            if self.coordinator is None:
                self.coordinator = await self.admin.find_coordinator(self.group)
            answer = await self.admin.list_consumer_group_offsets(self.group, self.coordinator, self.tps)
        except KafkaError:
            self.coordinator = None
            return None
        return {tp.partition: meta.offset for tp, meta in answer.items() if meta.offset >= 0}


POLL_SECONDS = 0.5  # the committed offsets of a run
STALL_SECONDS = 60.0  # a run whose committed offsets stand still this long has failed


async def until_committed(
    offsets: GroupOffsets,
    ends: Mapping[int, int],
    events: int,
    started: float,
    timeout: float,
    on_poll: Callable[[], Awaitable[None]],
    failure: Callable[[], str],
    label: str,
) -> tuple[list[tuple[float, int]], float]:
    """Polls the group's committed offsets every POLL_SECONDS from ``started`` (time.monotonic) until
    they reach ``ends``: (samples of (seconds since started, events committed), the time it ended).
    ``on_poll`` runs at every poll (it raises to end the run: a process that died); a run past
    ``timeout`` seconds, or committing nothing new for STALL_SECONDS, raises with ``failure()`` added.
    The events committed so far are shown as the progress of ``label``."""
    total = sum(ends.values())
    samples: list[tuple[float, int]] = []
    tick, last_change = 0, 0.0
    with Progress(label, total=events) as progress:
        while True:
            tick += 1
            await asyncio.sleep(max(0.0, started + tick * POLL_SECONDS - time.monotonic()))
            await on_poll()
            committed = await offsets.read()
            now = time.monotonic() - started
            if committed is not None:
                # Offsets count messages; a batch message holds many events: the same share of them.
                done = round(events * committed_messages(committed, ends) / max(total, 1))
                progress.update(done)
                if not samples or done != samples[-1][1]:
                    last_change = now
                samples.append((now, done))
                if is_complete(committed, ends):
                    return samples, now
            if now > timeout or (samples and samples[-1][1] and now - last_change > STALL_SECONDS):
                raise RuntimeError(
                    f"offsets of {offsets.group} not all committed after {now:.0f} s "
                    f"({samples[-1][1] if samples else 0} of {events} events); {failure()}"
                )
