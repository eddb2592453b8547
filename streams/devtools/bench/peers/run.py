"""One run of one peer: its own OS process on a fresh consumer group, timed from spawn until the
group's committed offsets reach the input topic's end offsets, then stopped (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from ...processes import spawn, stop
from ..figures import rates_from_samples
from ..harness import Bench, log, peak_rss_mb_of
from ..offsets import GroupOffsets, create_topic, end_offsets, until_committed
from .commands import KAFKA_STREAMS_VARIANTS, PEERS, PeerRun, peer_command, what
from .kafka_streams import ensure_built
from .proctree import tree_cpu_seconds

STOP_SECONDS = 20.0  # SIGTERM, then SIGKILL: a clean close commits and leaves the group


def timeout_seconds(events: int) -> float:
    return 60 + events / 2000


def _log_tail(run_log: Path, size: int = 3000) -> str:
    return run_log.read_text(errors="replace")[-size:] if run_log.exists() else ""


def _kill_group(proc: subprocess.Popen) -> None:
    """Whatever the peer forked is in its process group (spawn makes one per child): gone with it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_peer(
    bench: Bench, peer: str, topic: str, events: int, partitions: int, commit_interval_s: float, repeat: int = 0
) -> dict:
    if peer not in PEERS:
        raise ValueError(f"unknown peer {peer!r}: one of {', '.join(PEERS)}")
    build = ensure_built() if peer in KAFKA_STREAMS_VARIANTS else None
    # A group of its own in every call, even a repeated one: offsets committed before would end it at once.
    name = f"peer-{peer}-r{repeat}-{uuid.uuid4().hex[:4]}"
    run = PeerRun(
        peer=peer,
        bootstrap=bench.bootstrap,
        group=f"bench{bench.tag}-{name}",
        input_topic=topic,
        output_topic=f"bench{bench.tag}.{name}.counts",
        partitions=partitions,
        commit_interval_s=commit_interval_s,
        state_dir=bench.run_dir / f"{name}-state",
    )
    run_log = bench.run_dir / f"peer-{peer}-r{repeat}.log"
    replication = bench.settings("peers").topic_replication
    log(f"peer {peer} (repeat {repeat}): {events:,} events of {topic}, group {run.group}")
    try:
        result = asyncio.run(_timed_run(run, peer_command(run, build), run_log, events, replication))
    finally:
        shutil.rmtree(run.state_dir, ignore_errors=True)
    result = {
        "peer": peer,
        "events": events,
        **result,
        "what": what(peer),
        "group": run.group,
        "output_topic": run.output_topic,
        "log": str(run_log),
    }
    log(
        f"peer {peer}: {result['events_per_s']:,} events/s from spawn ({result['seconds']} s), "
        f"steady {result['steady_events_per_s']}, CPU {result['cpu_seconds']} s, RSS {result['peak_rss_mb']} MB"
    )
    return result


async def _timed_run(run: PeerRun, cmd: list[str], run_log: Path, events: int, replication: int) -> dict:
    admin = AIOKafkaAdminClient(bootstrap_servers=run.bootstrap)
    await admin.start()
    proc = None
    try:
        # Before the clock starts: what "done" means, and the output topic (a peer creating its own
        # would get the broker's default partitions, or none at all: Kafka Streams does not create sinks).
        ends = await end_offsets(run.bootstrap, run.input_topic, run.partitions)
        await create_topic(admin, run.output_topic, run.partitions, replication)
        group = GroupOffsets(admin, run.group, run.input_topic, run.partitions)
        run.state_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        proc = spawn(cmd, {"PYTHONUNBUFFERED": "1"}, run_log)

        async def on_poll() -> None:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"peer {run.peer} exited with {proc.returncode} before committing every "
                    f"offset; log {run_log}:\n{_log_tail(run_log)}"
                )

        samples, now = await until_committed(
            group,
            ends,
            events,
            started,
            timeout_seconds(events),
            on_poll,
            lambda: f"peer {run.peer}; log {run_log}:\n{_log_tail(run_log)}",
            f"peer {run.peer}",
        )
        # Read before the stop, so that the shutdown's work is not counted.
        cpu, rss = tree_cpu_seconds(proc.pid), peak_rss_mb_of(proc.pid)
    finally:
        if proc is not None:
            await asyncio.to_thread(stop, proc, STOP_SECONDS)
            _kill_group(proc)
        await admin.close()
    rates = rates_from_samples(samples, events, now)
    return {**rates, "cpu_seconds": None if cpu is None else round(cpu, 1), "peak_rss_mb": rss}
