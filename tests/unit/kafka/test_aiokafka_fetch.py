"""The columnar fetch (streams/kafka/aiokafka_fetch.py) against aiokafka's own path, over one fetch of
real encoded record batches: uncompressed and gzip, a fetch offset inside a compressed batch, an
aborted transaction and its abort marker, a committed one and its commit marker, a compacted batch
whose last offsets are gone, and a batch that cannot be decoded. No broker (test_raw_fetch.py has it)."""

from __future__ import annotations

import asyncio

import aiokafka.codec
import pytest
from aiokafka import TopicPartition
from aiokafka.consumer import fetcher
from aiokafka.consumer.subscription_state import SubscriptionState
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.record.util import calc_crc32c

from streams.kafka import aiokafka_fetch
from streams.kafka.fetched import Fetched

TP = TopicPartition("t", 0)
GZIP, ZSTD, CONTROL = 1, 4, 0x20
ABORT, COMMIT = b"\x00\x00\x00\x00", b"\x00\x00\x00\x01"
FETCH_OFFSET = 7


def batch(base_offset: int, deltas: list[int], codec=0, producer_id=-1, control_key=None, last_delta=None) -> bytes:
    """A v2 record batch as a broker returns it: the broker sets the base offset, a control batch's
    flag is the producer's (set here), and compaction leaves the last offset delta past the records."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=producer_id >= 0,
        producer_id=producer_id,
        producer_epoch=0 if producer_id >= 0 else -1,
        base_sequence=0 if producer_id >= 0 else -1,
        batch_size=1 << 20,
    )
    for delta in deltas:
        key = control_key if control_key else f"k{base_offset + delta}".encode()
        value = None if control_key else f'{{"n":{base_offset + delta}}}'.encode()
        builder.append(delta, timestamp=1_700_000_000_000 + base_offset + delta, key=key, value=value, headers=[])
    buffer = bytearray(builder.build())
    buffer[0:8] = base_offset.to_bytes(8, "big")
    if control_key:
        buffer[22] |= CONTROL
    if last_delta is not None:
        buffer[23:27] = last_delta.to_bytes(4, "big")
    buffer[17:21] = calc_crc32c(bytes(buffer[21:])).to_bytes(4, "big")  # the CRC covers attributes onwards
    return bytes(buffer)


FETCH = b"".join(
    [
        batch(5, [0, 1, 2, 3, 4], GZIP),  # 5, 6: before the fetch offset, the broker sends the whole batch
        batch(10, [0, 1, 2], GZIP, producer_id=7),  # aborted
        batch(13, [0], producer_id=7, control_key=ABORT),
        batch(14, [0, 1, 2], GZIP, producer_id=8),
        batch(17, [0], producer_id=8, control_key=COMMIT),
        batch(18, [0, 2], last_delta=4),  # compacted: 19, 21, 22 gone
        batch(23, [0, 1]),
        batch(25, [0, 1, 2], ZSTD),  # undecodable here: one stand-in at 27
    ]
)
OFFSETS = [7, 8, 9, 14, 15, 16, 18, 20, 23, 24, 27]  # the ground truth: what a read_committed reader reads
END = 28


@pytest.fixture(autouse=True)
def no_zstd(monkeypatch):
    monkeypatch.setattr(aiokafka.codec, "has_zstd", lambda: False)


def partition_records(isolation=fetcher.READ_COMMITTED):
    return aiokafka_fetch.GuardedPartitionRecords(
        TP, MemoryRecords(FETCH), [(7, 10)], FETCH_OFFSET, None, None, True, isolation
    )


def columns(messages: list) -> Fetched:
    return Fetched(
        [m.key for m in messages],
        [m.value for m in messages],
        [m.offset for m in messages],
        [m.timestamp for m in messages],
    )


def test_take_reads_what_a_read_committed_reader_reads():
    records = partition_records()
    fetched, done = records.take(1000)
    assert fetched.offsets == OFFSETS and done and records.next_fetch_offset == END
    assert fetched.keys[:-1] == [f"k{o}".encode() for o in OFFSETS[:-1]] and fetched.keys[-1] is None
    assert fetched.values[:-1] == [f'{{"n":{o}}}'.encode() for o in OFFSETS[:-1]]
    assert fetched.timestamps[:-1] == [1_700_000_000_000 + o for o in OFFSETS[:-1]]
    stand_in = fetched.values[-1]
    assert type(stand_in).__name__ == "UndecodableBatch" and (stand_in.first_offset, stand_in.last_offset) == (25, 27)


@pytest.mark.parametrize("isolation", [fetcher.READ_COMMITTED, fetcher.READ_UNCOMMITTED])
@pytest.mark.parametrize("max_records", [1, 2, 3, 4, 5, 7, 10, 11, 1000])
def test_take_is_aiokafkas_iteration_in_runs_of_max_records(max_records, isolation):
    """Each run: its messages, the position after it, and whether the fetch is done, as getall sees them."""
    public, raw = partition_records(isolation), partition_records(isolation)
    public_runs, raw_runs = [], []
    done = False
    while not done:
        run, done = [], True
        for message in public:
            run.append(message)
            if len(run) >= max_records:
                done = False
                break
        public_runs.append((columns(run), public.next_fetch_offset, done))
        taken, taken_all = raw.take(max_records)
        raw_runs.append((taken, raw.next_fetch_offset, taken_all))
    assert raw_runs == public_runs
    assert [o for run, _, _ in raw_runs for o in run.offsets] == (
        OFFSETS if isolation == fetcher.READ_COMMITTED else [7, 8, 9, 10, 11, 12, 14, 15, 16, 18, 20, 23, 24, 27]
    )


def fetch_result(subscription: SubscriptionState) -> fetcher.FetchResult:
    return fetcher.FetchResult(
        TP, assignment=subscription.subscription.assignment, partition_records=partition_records(), backoff=0
    )


@pytest.mark.parametrize("max_records", [1, 4, 1000])
def test_getall_moves_the_consumers_position_as_aiokafkas(max_records):
    async def read() -> None:
        runs = {}
        for path in ("public", "raw"):
            subscription = SubscriptionState()
            subscription.assign_from_user({TP})
            subscription.seek(TP, FETCH_OFFSET)
            result, runs[path] = fetch_result(subscription), []
            while result.has_more():
                if path == "public":
                    run = columns(result.getall(max_records))
                else:
                    run = aiokafka_fetch._getall(result, max_records) or Fetched([], [], [], [])
                runs[path].append((run, subscription.subscription.assignment.state_value(TP).position))
        assert runs["raw"] == runs["public"] and runs["raw"][-1][1] == END

    asyncio.run(read())


@pytest.mark.parametrize("change", ["pause", "seek"])
def test_getall_returns_nothing_of_a_paused_or_sought_partition(change):
    async def read() -> None:
        subscription = SubscriptionState()
        subscription.assign_from_user({TP})
        subscription.seek(TP, FETCH_OFFSET)
        result = fetch_result(subscription)
        subscription.pause(TP) if change == "pause" else subscription.seek(TP, 3)
        assert aiokafka_fetch._getall(result, 1000) is None and not result.has_more()
        assert subscription.subscription.assignment.state_value(TP).position == (
            FETCH_OFFSET if change == "pause" else 3
        )

    asyncio.run(read())
