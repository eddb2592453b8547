"""The aiokafka internals the service uses (streams/kafka/aiokafka_internals.py), one test each: on an
aiokafka upgrade, a failure names the internal that moved. No broker: the classes are looked at, or
built without connecting (test_fencing.py runs them against the real broker)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect

import aiokafka.codec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.consumer import fetcher
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.producer.sender import Sender, TxnOffsetCommitHandler
from aiokafka.producer.transaction_manager import TransactionManager, TransactionState
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords

from streams.kafka import aiokafka_fetch, aiokafka_internals

TP = TopicPartition("t", 0)


def _names_in(function) -> str:
    return inspect.getsource(function)


def test_the_group_coordinator_keeps_generation_member_and_instance_id():
    source = _names_in(GroupCoordinator.__init__)
    for name in ("self.generation", "self.member_id", "self._group_instance_id"):
        assert name in source, f"aiokafka's GroupCoordinator no longer sets {name} (group_membership)"


def test_the_group_coordinator_has_request_rejoin():
    assert callable(getattr(GroupCoordinator, "request_rejoin", None)), (
        "aiokafka's GroupCoordinator.request_rejoin is gone (request_rejoin)"
    )


def test_the_consumer_keeps_its_coordinator_and_client():
    async def build():
        consumer = AIOKafkaConsumer(group_id="g", bootstrap_servers="127.0.0.1:1")
        source = _names_in(AIOKafkaConsumer.start)
        assert hasattr(consumer, "_client") and callable(getattr(consumer._client, "fetch_all_metadata", None)), (
            "aiokafka's AIOKafkaConsumer._client.fetch_all_metadata is gone (cluster_metadata)"
        )
        assert callable(getattr(consumer._client, "_wait_on_metadata", None)), (
            "aiokafka's AIOKafkaConsumer._client._wait_on_metadata is gone (know_topics)"
        )
        assert "self._coordinator" in source, (
            "aiokafka's AIOKafkaConsumer.start no longer sets self._coordinator (group_membership, request_rejoin)"
        )

    asyncio.run(build())


def test_the_admin_client_sends_a_request_to_one_node():
    parameters = list(inspect.signature(AIOKafkaAdminClient._send_request_to_node).parameters)
    assert parameters[:3] == ["self", "node_id", "request"], (
        f"aiokafka's AIOKafkaAdminClient._send_request_to_node takes {parameters} (send_to_node)"
    )


def test_the_producer_builds_its_sender_in_its_constructor():
    async def build():
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", transactional_id="x")
        assert type(producer._sender) is Sender, (
            "aiokafka's AIOKafkaProducer._sender is not a Sender (fence_offset_commits)"
        )
        aiokafka_internals.fence_offset_commits(producer, lambda: None)
        assert isinstance(producer._sender, aiokafka_internals.MemberFencedSender)

    asyncio.run(build())


def test_the_sender_commits_a_transactions_offsets_through_one_method():
    parameters = list(inspect.signature(Sender._do_txn_offset_commit).parameters)
    assert parameters == ["self", "offsets", "group_id"], (
        f"aiokafka's Sender._do_txn_offset_commit takes {parameters} (MemberFencedSender)"
    )
    for name in ("_find_coordinator",):
        assert callable(getattr(Sender, name, None)), f"aiokafka's Sender.{name} is gone (MemberFencedSender)"
    assert "self._txn_manager" in _names_in(Sender.__init__), "aiokafka's Sender._txn_manager is gone"


def test_the_offset_commit_handler_takes_sender_offsets_and_group():
    parameters = list(inspect.signature(TxnOffsetCommitHandler.__init__).parameters)
    assert parameters == ["self", "sender", "offsets", "group_id"], (
        f"aiokafka's TxnOffsetCommitHandler takes {parameters} (MemberTxnOffsetCommitHandler)"
    )
    source = _names_in(TxnOffsetCommitHandler.handle_response)
    assert "resp.errors" in source, "aiokafka's TxnOffsetCommitHandler.handle_response no longer reads resp.errors"


def test_the_transaction_manager_can_be_made_abortable_keeping_its_partitions():
    async def build():
        manager = TransactionManager("x", 60000)
        for name in ("_transition_to", "error_transaction"):
            assert callable(getattr(manager, name, None)), f"aiokafka's TransactionManager.{name} is gone"
        for name in ("_pending_txn_offsets", "_transaction_waiter"):
            assert hasattr(manager, name), f"aiokafka's TransactionManager.{name} is gone (abort_transaction_with)"

    asyncio.run(build())
    assert TransactionState.ABORTABLE_ERROR, "aiokafka's TransactionState.ABORTABLE_ERROR is gone"


def batch(codec: int, values: list[bytes], base_offset: int) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for i, value in enumerate(values):
        builder.append(i, timestamp=1_700_000_000_000, key=None, value=value, headers=[])
    buffer = bytearray(builder.build())
    buffer[0:8] = base_offset.to_bytes(8, "big")  # the broker assigns offsets; the CRC does not cover them
    return bytes(buffer)


def test_the_fetchers_partition_records_go_past_an_undecodable_batch(monkeypatch):
    """The fetcher's module global PartitionRecords, its constructor's arguments, and its iteration of
    next_batch(): after the stand-in, the next batch's records come, and the position is past both."""
    assert aiokafka_fetch.UNGUARDED_PARTITION_RECORDS.__name__ == "PartitionRecords", (
        "aiokafka.consumer.fetcher.PartitionRecords is gone (guard_fetched_batches)"
    )
    fetch = batch(4, [b'{"a":1}'] * 4, 0) + batch(1, [b'{"b":2}'], 4)
    monkeypatch.setattr(aiokafka.codec, "has_zstd", lambda: False)
    records = aiokafka_fetch.GuardedPartitionRecords(
        TP, MemoryRecords(fetch), [], 0, None, None, True, fetcher.READ_COMMITTED
    )
    out = list(records)
    assert [(r.offset, type(r.value).__name__) for r in out] == [(3, "UndecodableBatch"), (4, "bytes")]
    assert out[1].value == b'{"b":2}' and records.next_fetch_offset == 5


@pytest.fixture
def unguarded_fetcher():
    yield
    fetcher.PartitionRecords = aiokafka_fetch.UNGUARDED_PARTITION_RECORDS


def test_guard_fetched_batches_replaces_the_fetchers_partition_records(unguarded_fetcher):
    aiokafka_fetch.guard_fetched_batches()
    assert fetcher.PartitionRecords is aiokafka_fetch.GuardedPartitionRecords, (
        "aiokafka.consumer.fetcher.PartitionRecords is not read from the module (guard_fetched_batches)"
    )
    assert "PartitionRecords(" in inspect.getsource(fetcher.Fetcher._proc_fetch_request), (
        "aiokafka's Fetcher._proc_fetch_request no longer builds PartitionRecords (guard_fetched_batches)"
    )


MIRRORED = {  # aiokafka's methods that getmany_raw mirrors, and the digest of their source it mirrors
    "AIOKafkaConsumer.getmany": (AIOKafkaConsumer.getmany, "afb0125a4ae4"),
    "Fetcher.fetched_records": (fetcher.Fetcher.fetched_records, "484d07c52b41"),
    "FetchResult.getall": (fetcher.FetchResult.getall, "f3e53579949a"),
    "PartitionRecords._unpack_records": (fetcher.PartitionRecords._unpack_records, "5b877f8b149e"),
}


@pytest.mark.parametrize("name", MIRRORED)
def test_the_fetch_path_getmany_raw_mirrors_is_unchanged(name):
    """streams.kafka.aiokafka_fetch copies these methods' logic (tests/unit/kafka/test_aiokafka_fetch.py
    compares the two paths): a new aiokafka that changes one needs the copy checked, then the digest."""
    method, digest = MIRRORED[name]
    assert hashlib.sha1(inspect.getsource(method).encode()).hexdigest()[:12] == digest, (
        f"aiokafka's {name} changed (getmany_raw in streams/kafka/aiokafka_fetch.py mirrors it)"
    )
