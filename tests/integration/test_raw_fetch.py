"""getmany_raw against aiokafka's getmany on a real broker: gzip and uncompressed batches, committed and
aborted transactions (their markers), read_committed, fetches cut by max_records. The same messages,
offsets and timestamps, and the same positions after; and the produced values, no aborted one."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.consumer import fetcher

from streams.kafka import aiokafka_fetch
from tests.fixtures.kafka import isolated_settings, run

PARTITIONS = 2
MAX_RECORDS = 7  # cuts batches, as the engine's 1000 does on a busy partition


async def produce(bootstrap: str, topic: str) -> dict[int, list[bytes]]:
    """Per partition, the values a read_committed reader reads, in order."""
    committed: dict[int, list[bytes]] = {p: [] for p in range(PARTITIONS)}
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip", linger_ms=50)
    txn = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"{topic}-txn", linger_ms=50)
    await plain.start()
    await txn.start()
    try:
        for round_ in range(3):
            futures = [
                await plain.send(topic, f"plain-{round_}-{i}".encode(), key=b"k", partition=i % PARTITIONS)
                for i in range(40)
            ]
            for i, future in enumerate(futures):
                await future
                committed[i % PARTITIONS].append(f"plain-{round_}-{i}".encode())
            for outcome in ("commit", "abort"):
                await txn.begin_transaction()
                sent = [
                    await txn.send(topic, f"{outcome}-{round_}-{i}".encode(), partition=i % PARTITIONS)
                    for i in range(25)
                ]
                await asyncio.gather(*sent)  # in the log, then aborted: batches a read_committed reader skips
                if outcome == "commit":
                    await txn.commit_transaction()
                    for i in range(25):
                        committed[i % PARTITIONS].append(f"commit-{round_}-{i}".encode())
                else:
                    await txn.abort_transaction()
    finally:
        await plain.stop()
        await txn.stop()
    return committed


async def read(bootstrap: str, topic: str, raw: bool) -> tuple[dict, dict]:
    """Per partition: (key, value, offset, timestamp) of each message read, and the position after."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    rows: dict[int, list] = {p: [] for p in range(PARTITIONS)}
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while True:
            if raw:
                batch = await aiokafka_fetch.getmany_raw(consumer, 2000, MAX_RECORDS)
                got = {tp: fetched.rows() for tp, fetched in batch.items()}
            else:
                batch = await consumer.getmany(timeout_ms=2000, max_records=MAX_RECORDS)
                got = {tp: [(m.key, m.value, m.offset, m.timestamp) for m in ms] for tp, ms in batch.items()}
            if not got:
                return rows, {tp.partition: await consumer.position(tp) for tp in tps}
            for tp, part in got.items():
                assert len(part) <= MAX_RECORDS
                rows[tp.partition].extend(part)
    finally:
        await consumer.stop()


@pytest.fixture
def guarded(monkeypatch):
    monkeypatch.setattr(fetcher, "PartitionRecords", aiokafka_fetch.GuardedPartitionRecords)


def test_getmany_raw_reads_what_getmany_reads(kafka_bootstrap, guarded):
    topic = isolated_settings(kafka_bootstrap).topic_interactions

    async def scenario():
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        finally:
            await admin.close()
        committed = await produce(kafka_bootstrap, topic)
        public, public_positions = await read(kafka_bootstrap, topic, raw=False)
        raw, raw_positions = await read(kafka_bootstrap, topic, raw=True)
        assert raw == public and raw_positions == public_positions
        assert {p: [value for _, value, _, _ in rows] for p, rows in raw.items()} == committed
        for p, rows in raw.items():  # the markers and aborted batches took offsets: the position is past them
            assert raw_positions[p] > rows[-1][2] + 1

    run(scenario())
