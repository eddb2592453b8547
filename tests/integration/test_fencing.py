"""Zombie fencing on the real broker: a transaction whose offsets name a member that is not current is
refused by the group coordinator and aborted on the broker; the current member's commits."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.aiokafka_internals import group_membership
from streams.kafka.clients import reader, transactional_producer
from streams.kafka.fencing import GroupFenced, Membership
from tests.fixtures.kafka import isolated_settings, read_all, run


async def _member(settings, group: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        settings.topic_interactions,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        group_instance_id=f"{group}-a",
        enable_auto_commit=False,
    )
    await consumer.start()
    deadline = time.monotonic() + 30
    while not consumer.assignment():
        assert time.monotonic() < deadline, "the consumer never joined"
        await consumer.getmany(timeout_ms=200)
    return consumer


async def _stable_end_lags(settings, tp: TopicPartition) -> int:
    """Written end minus read_committed end: > 0 while a transaction on tp is undecided."""
    ends = {}
    for isolation in ("read_uncommitted", "read_committed"):
        consumer = reader(settings, {}, isolation)
        await consumer.start()
        try:
            ends[isolation] = (await consumer.end_offsets([tp]))[tp]
        finally:
            await consumer.stop()
    return ends["read_uncommitted"] - ends["read_committed"]


@pytest.mark.integration
def test_offsets_of_a_stale_member_are_refused_and_its_transaction_aborted(kafka_bootstrap, topics_ready):
    settings = topics_ready(isolated_settings(kafka_bootstrap))
    group = f"{settings.app_id}-fence"
    out = TopicPartition(settings.topic_post_metrics, 0)
    source = TopicPartition(settings.topic_interactions, 0)

    async def scenario():
        consumer = await _member(settings, group)
        current = group_membership(consumer)
        assert current.generation_id >= 1 and current.member_id and current.group_instance_id == f"{group}-a"
        member = {"as": current}
        producer = transactional_producer(settings, {}, f"{group}-txn", lambda: member["as"])
        await producer.start()
        try:
            refused = []
            for stale in (
                Membership(current.generation_id - 1, current.member_id, current.group_instance_id),
                Membership(current.generation_id, "someone-else", current.group_instance_id),
                Membership(-1, "", None),
            ):
                member["as"] = stale
                with pytest.raises(GroupFenced):
                    async with producer.transaction():
                        await producer.send_and_wait(out.topic, b"zombie", partition=0)
                        await producer.send_offsets_to_transaction({source: 5}, group)
                # the abort reached the coordinator: nothing is left undecided (no 15 s transaction timeout)
                for _ in range(50):
                    if await _stable_end_lags(settings, out) == 0:
                        break
                    await asyncio.sleep(0.1)
                refused.append(await _stable_end_lags(settings, out))
            assert refused == [0, 0, 0]
            assert await consumer.committed(source) is None
            member["as"] = current
            async with producer.transaction():
                await producer.send_and_wait(out.topic, b"owner", partition=0)
                await producer.send_offsets_to_transaction({source: 7}, group)
            for _ in range(50):  # visible once the commit's markers are written
                if await consumer.committed(source) == 7:
                    break
                await asyncio.sleep(0.1)
            assert await consumer.committed(source) == 7
        finally:
            await producer.stop()
            await consumer.stop()

    run(scenario())
    assert [m.value for m in run(read_all(settings, out.topic))] == [b"owner"]
