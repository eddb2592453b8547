"""When a run is done (the pipeline's and every peer's): its consumer group's committed offsets
against the input topic's end offsets, read with aiokafka (the end offsets once, the committed ones
at every poll)."""

from __future__ import annotations

from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code


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
