"""The throughput phases: the ceiling (phase 2, a bare aiokafka read, decode and count of an input
topic) and the pipeline (phase 3, `engagement worker` processes timed from spawn until their group's
committed offsets reach the input's end, as the peers are, with their CPU, peak RSS and a py-spy
profile; then their /metrics counters must say every event was counted once)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ...engine.loop import FETCH_MAX_RECORDS
from ...kafka.topics import MAX_MESSAGE_BYTES, ensure_topics
from .figures import add_accounting, rates_from_samples
from .harness import Bench, BenchWorker, log, machine_busy_seconds, own_cpu_seconds, proc_cpu_seconds
from .offsets import GroupOffsets, end_offsets, until_committed
from .profile import start_profiler, stop_profiler

THROUGHPUT_GRACE_SECONDS = 3600.0  # no pre-filled event may turn late while the runs read it


# -- phase 2: the ceiling -------------------------------------------------------------------------------
async def ceiling(bench: Bench, topic: str, partitions: int, events: int) -> dict:
    """Bare aiokafka getmany + orjson decode + a per-key dict count: what the engine could reach if it
    did nothing but read. Same fetch settings and isolation level as the engine, no consumer group."""
    started = time.monotonic()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bench.bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 4096,
        fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
    )
    await consumer.start()
    counts: dict[str, int] = {}
    seen = 0
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        first = None
        deadline = time.monotonic() + 60 + events / 20_000
        while seen < events:
            if time.monotonic() > deadline:
                raise RuntimeError(f"ceiling read only {seen} of {events} events of {topic}")
            batch = await consumer.getmany(timeout_ms=1000, max_records=FETCH_MAX_RECORDS)
            if batch and first is None:
                first = time.monotonic()
            for messages in batch.values():
                for message in messages:
                    data = orjson.loads(message.value)
                    for event in data if isinstance(data, list) else (data,):
                        key = event["account_id"]
                        counts[key] = counts.get(key, 0) + 1
                        seen += 1
        done = time.monotonic()
    finally:
        await consumer.stop()
    bench.check(seen == events, f"ceiling over {topic}: read {seen} events, produced {events}")
    return {
        "events": seen,
        "keys": len(counts),
        "seconds": round(done - started, 2),
        "events_per_s": round(seen / (done - started)),
        "steady_events_per_s": round(seen / (done - first)) if first and done > first else None,
    }


# -- phase 3: the pipeline ------------------------------------------------------------------------------
def _settled_accounting(workers: list[BenchWorker], timeout: float = 20.0) -> dict:
    """Every worker's counters, read until two reads a second apart agree (nothing still counting)."""
    deadline = time.monotonic() + timeout
    previous = None
    while True:
        time.sleep(1.0)
        parts = [worker.accounting() for worker in workers]
        if all(part is not None for part in parts):
            total = add_accounting(parts)  # type: ignore[arg-type]  # all answered: no None
            if total == previous or time.monotonic() > deadline:
                return total
            previous = total
        elif time.monotonic() > deadline:
            raise RuntimeError("a worker's /metrics did not answer")


async def _until_committed(
    bench: Bench,
    group: str,
    topic: str,
    partitions: int,
    events: int,
    started: float,
    timeout: float,
    workers: list[BenchWorker],
    profile_to: Path | None,
    label: str,
):
    """``until_committed`` for the engine's group: (its samples, the time it ended, the profiler
    started on the first worker once it answered /health, or None)."""
    ends = await end_offsets(bench.bootstrap, topic, partitions)
    admin = AIOKafkaAdminClient(bootstrap_servers=bench.bootstrap)
    await admin.start()
    profiler = None

    async def on_poll() -> None:
        nonlocal profiler
        for worker in workers:
            worker.check_alive()
        if profile_to is not None and profiler is None and await asyncio.to_thread(workers[0].healthy):
            profiler = start_profiler(workers[0], profile_to)

    try:
        samples, done_at = await until_committed(
            GroupOffsets(admin, group, topic, partitions),
            ends,
            events,
            started,
            timeout,
            on_poll,
            lambda: f"pipeline on {topic}",
            f"pipeline {label}",
        )
        return samples, done_at, profiler
    except BaseException:
        stop_profiler(profiler, profile_to)
        raise
    finally:
        await admin.close()


def pipeline(
    bench: Bench, mode: str, topic: str, events: int, n_workers: int, profile_to: Path | None, repeat: int = 0
) -> dict:
    """Workers from spawn until their group's committed offsets reach the input's end (as the peers
    are timed; /metrics is read once at the end, for the correctness check), on a fresh consumer group
    and fresh output and state topics in every run."""
    phase = f"{mode}-{n_workers}w" + (f"-r{repeat + 1}" if repeat else "")
    settings = bench.settings(phase, topic_interactions=topic, window_grace_seconds=THROUGHPUT_GRACE_SECONDS)
    asyncio.run(ensure_topics(settings))
    workers = [bench.new_worker(settings, f"{phase}-{i}") for i in range(n_workers)]
    log(f"pipeline {phase}: {n_workers} worker(s) on {events:,} events")
    broker_cpu, machine_cpu, own_cpu = bench.broker_cpu(), machine_busy_seconds(), own_cpu_seconds()
    profiler = None
    timeout = 60 + events / 4000
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        samples, done_at, profiler = asyncio.run(
            _until_committed(
                bench,
                f"{settings.app_id}-engine",
                topic,
                settings.topic_partitions,
                events,
                started,
                timeout,
                workers,
                profile_to,
                phase,
            )
        )
        rss = [worker.peak_rss_mb() for worker in workers]
        cpu = [worker.cpu_seconds() for worker in workers]
        broker_cpu = None if broker_cpu is None else bench.broker_cpu() - broker_cpu  # type: ignore[operator]  # read at the start: readable
        machine_cpu = machine_busy_seconds() - machine_cpu
        ours = (
            sum(c or 0 for c in cpu)
            + (broker_cpu or 0)
            + own_cpu_seconds()
            - own_cpu
            + (proc_cpu_seconds(profiler.pid) or 0 if profiler else 0)
        )
        final = _settled_accounting(workers)  # nothing may be counted after the last event
    finally:
        profile = stop_profiler(profiler, profile_to)
        for worker in workers:
            worker.stop()
    bench.check(final["counted"] == events, f"pipeline {phase}: counted {final['counted']} != produced {events}")
    bench.check(final["duplicate"] == 0, f"pipeline {phase}: {final['duplicate']} duplicates")
    bench.check(final["rejected"] == 0, f"pipeline {phase}: rejected {final['rejected_by_reason']}")
    result = {
        "workers": n_workers,
        "events": events,
        **rates_from_samples(samples, events, done_at),
        "counted": final["counted"],
        "duplicate": final["duplicate"],
        "rejected": final["rejected"],
        "forwarded": final["forwarded"],
        "peak_rss_mb": rss,
        "worker_cpu_seconds": [round(c, 1) if c is not None else None for c in cpu],
        "cpu_us_per_event": round(1e6 * sum(c or 0 for c in cpu) / events, 1),
        "broker_cpu_seconds": None if broker_cpu is None else round(broker_cpu, 1),
        # CPU the machine spent on anything but this benchmark meanwhile (other jobs on the host)
        "machine_cpu_seconds": round(machine_cpu, 1),
        "other_cpu_seconds": round(max(0.0, machine_cpu - ours), 1),
    }
    if profile is not None:
        result["profile"] = profile
    log(
        f"pipeline {phase}: {result['events_per_s']:,} events/s from spawn ({result['seconds']} s), "
        f"steady {result['steady_events_per_s']}, RSS {rss} MB, CPU {result['worker_cpu_seconds']} s, "
        f"other processes {result['other_cpu_seconds']} CPU s"
    )
    return result
