"""Input from a producer nobody here wrote: Kafka's own console producer (the Java client), its batches
compressed with each codec, some values in Schema Registry's wire format, into a running worker.
Counts are checked against the test's own tally of what it sent."""

from __future__ import annotations

import random
import struct
import sys
import time
from collections import Counter

import aiokafka.codec
import orjson
import pytest
from aiokafka.consumer import fetcher

from streams.devtools.kafka_tools import console_produce
from streams.kafka import aiokafka_fetch, undecodable
from tests.fixtures.kafka import isolated_settings, json_values, read_all, run, wait_for

pytestmark = pytest.mark.integration

TYPES = ("impression", "like", "comment", "share", "save", "click")
PLATFORMS = ("instagram", "tiktok", "linkedin")
# The worker exactly as production starts it, but in a process whose aiokafka has no lz4 library
# (as the virtualenv was before cramjam was declared): its lz4 batches cannot be decoded.
WORKER_WITHOUT_LZ4 = (
    sys.executable,
    "-c",
    "import sys, aiokafka.codec as codec; codec.has_lz4 = lambda: False; "
    "from streams.cli import main; sys.exit(main(['worker']))",
)


def generate(count: int, prefix: str, seed: int) -> tuple[list[tuple[bytes, bytes]], Counter]:
    """(key, value) lines of valid events keyed by account, and their count per (platform, type)."""
    rng = random.Random(seed)
    lines, truth = [], Counter()
    for i in range(count):
        n, type_ = rng.randrange(40), rng.choice(TYPES)
        account, platform = f"{prefix}-acct-{n}", PLATFORMS[n % len(PLATFORMS)]
        event = {
            "event_id": f"{prefix}-{i}",
            "type": type_,
            "ts": "NOW",
            "platform": platform,
            "account_id": account,
            "post_id": f"{account}-p{rng.randrange(5)}",
        }
        lines.append((account.encode(), orjson.dumps(event)))
        truth[platform, type_] += 1
    return lines, truth


def stamped(lines, now_ms: int):
    """The events' time: now, when they are sent (an earlier one could fall in a closed window)."""
    return [(key, value.replace(b'"NOW"', str(now_ms).encode())) for key, value in lines]


def counted_by_type(worker) -> Counter:
    out = Counter()
    for name, value in worker.metrics().items():
        if name.startswith("engagement_interactions_total{"):
            labels = dict(part.split("=") for part in name[name.index("{") + 1 : -1].split(","))
            out[labels["platform"].strip('"'), labels["type"].strip('"')] = int(value)
    return out


def now_ms() -> int:
    return int(time.time() * 1000)


def test_every_codec_from_the_console_producer_counts_exactly(kafka_bootstrap, workers, topics_ready, monkeypatch):
    settings = topics_ready(isolated_settings(kafka_bootstrap))
    worker = workers(settings).start()
    truth, sent = Counter(), 0
    for seed, codec in enumerate(("gzip", "snappy", "lz4", "zstd")):
        lines, tally = generate(500, codec, seed)
        console_produce(kafka_bootstrap, settings.topic_interactions, stamped(lines, now_ms()), codec)
        truth += tally
        sent += len(lines)
    wait_for(
        lambda: worker.metrics().get("engagement_events_counted_total") == sent,
        60,
        f"the worker to count all {sent} events",
    )
    metrics = worker.metrics()
    assert metrics["engagement_events_consumed_total"] == sent
    assert not any(name.startswith("engagement_events_rejected_total") and value for name, value in metrics.items())
    assert counted_by_type(worker) == truth
    assert worker.proc.poll() is None

    # The batches really were compressed, each with its codec: read without the codecs, every batch is a
    # stand-in naming its codec, and together they span every record sent with it.
    for name in ("has_gzip", "has_snappy", "has_lz4", "has_zstd"):
        monkeypatch.setattr(aiokafka.codec, name, lambda: False)
    monkeypatch.setattr(fetcher, "PartitionRecords", aiokafka_fetch.GuardedPartitionRecords)
    spans = Counter()
    for message in run(read_all(settings, settings.topic_interactions)):
        assert type(message.value) is undecodable.UndecodableBatch
        spans[message.value.codec] += message.value.offsets
    assert spans == {"gzip": 500, "snappy": 500, "lz4": 500, "zstd": 500}


def test_a_worker_that_cannot_decode_a_batch_sends_it_to_the_dlq_and_goes_on(kafka_bootstrap, workers, topics_ready):
    settings = topics_ready(isolated_settings(kafka_bootstrap))
    worker = workers(settings, command=WORKER_WITHOUT_LZ4).start()
    undecodable_lines, _ = generate(300, "lz4", 1)
    lines, truth = generate(300, "gzip", 2)
    console_produce(kafka_bootstrap, settings.topic_interactions, stamped(undecodable_lines, now_ms()), "lz4")
    console_produce(kafka_bootstrap, settings.topic_interactions, stamped(lines, now_ms()), "gzip")
    wait_for(
        lambda: worker.metrics().get("engagement_events_counted_total") == 300,
        60,
        "the worker to count the 300 gzip events after the lz4 batches",
    )
    assert worker.proc.poll() is None, "the worker died"
    metrics = worker.metrics()
    assert counted_by_type(worker) == truth
    assert metrics['engagement_input_undecodable_records_total{codec="lz4"}'] == 300
    dlq = json_values(run(read_all(settings, settings.topic_dlq)))
    assert {record["reason"] for record in dlq} == {"undecodable_batch"}
    assert metrics['engagement_events_rejected_total{reason="undecodable_batch"}'] == len(dlq)
    spans = [
        (r["source"]["partition"], r["source"]["offset"], int(r["error"].split("..")[1].split(" ")[0])) for r in dlq
    ]
    assert sum(last - first + 1 for _, first, last in spans) == 300
    assert all("lz4" in r["error"] and "UnsupportedCodecError" in r["error"] for r in dlq)
    # Committed past them: a restart of the same worker neither dies on them nor counts anything twice.
    worker.stop()
    worker.start()
    wait_for(
        lambda: worker.metrics().get("engagement_partitions_assigned") == settings.topic_partitions,
        30,
        "the restarted worker to own every partition",
    )
    assert worker.metrics().get("engagement_events_consumed_total", 0) == 0
    assert worker.proc.poll() is None


def test_framed_and_unframed_events_mixed_from_the_console_producer(kafka_bootstrap, workers, topics_ready):
    """Confluent's JSON Schema serializer frames each value with a magic byte 0 and a big-endian schema
    id (ids here whose bytes the console producer passes as text: no tab, newline or byte over 0x7f)."""
    settings = topics_ready(isolated_settings(kafka_bootstrap))
    worker = workers(settings).start()
    lines, truth = generate(600, "sr", 3)
    mixed = [
        (key, b"\x00" + struct.pack(">I", 0x01020300 + i % 7) + value if i % 3 else value)
        for i, (key, value) in enumerate(stamped(lines, now_ms()))
    ]
    console_produce(kafka_bootstrap, settings.topic_interactions, mixed, "zstd")
    wait_for(
        lambda: worker.metrics().get("engagement_events_counted_total") == 600, 60, "the worker to count the 600 events"
    )
    assert counted_by_type(worker) == truth
    assert worker.metrics()["engagement_input_framed_messages_total"] == 400
    assert run(read_all(settings, settings.topic_dlq)) == []
