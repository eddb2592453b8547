"""`engagement bench` (what `make bench` runs): throughput, freshness and memory of the pipeline, on a
real Kafka broker (the embedded one, or KAFKA_BOOTSTRAP_SERVERS), in one run.

Phases, each on topics and consumer groups of its own:

1. pre-fill: the TrafficModel's events (2,000 accounts x 25 posts on the five benchmark platforms, the
   simulator's type mix, ``ts`` = the wall clock at production) into two input topics, once one event
   per message and once 100 events of one account per message;
2. ceiling: a bare aiokafka ``getmany`` + orjson decode + per-key dict count over each input topic;
3. pipeline: 1 and 2 ``engagement worker`` processes from spawn until the accounting counters on their
   /metrics say every event is counted (counted == produced, no duplicate, no reject: checked);
   py-spy samples the single worker of the one-event-per-message run;
4. freshness: a steady 5,000 events/s into a fresh worker; probe events on accounts of their own say
   when an event shows in the query API and in /metrics, and the final records on the output topics
   (read_committed) say how long after window end + grace a window is published;
5. the worker's peak RSS (VmHWM) in every run.

It prints one JSON line (progress goes to stderr), writes it with the machine's description to
``bench/results/<UTC time>.json`` and draws ``docs/performance.png``. Exit status 1 when a correctness
check failed (the performance targets are reported, not enforced).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import datetime
import itertools
import logging
import math
import multiprocessing
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import uuid
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ...engine.loop import FETCH_MAX_RECORDS
from ...kafka.partitioner import partition_for
from ...kafka.topics import MAX_MESSAGE_BYTES, ensure_topics
from ...settings import Settings
from ...simulator import PLATFORMS, TrafficModel
from ...state import WindowConfig
from ..broker import KAFKA_VERSION, EmbeddedKafka, free_port
from ..paths import REPO
from ..processes import http_get, spawn, stop

ACCOUNTS = 2000
POSTS_PER_ACCOUNT = 25            # 2,000 x 25 = 50,000 posts
BATCH_EVENTS = 100
SEED = 7
MODEL_RATE = 5000.0               # the rate the model's follower counts are scaled for
THROUGHPUT_GRACE_SECONDS = 3600.0  # no pre-filled event may turn late while the runs read it
FRESHNESS_GRACE_SECONDS = 5.0     # windows close within the phase (the model's events are <= 2 s late)
FRESHNESS_RATE = 5000.0
POLL_SECONDS = 0.5                # /metrics of the pipeline workers
STALL_SECONDS = 60.0              # a pipeline run whose count stands still this long has failed
# Probe interactions: platforms in the schema but not in the load, so each probe account's counter on
# /metrics (engagement_interactions_total{platform,type}) is its own.
PROBE_KINDS = tuple((platform, kind) for kind in ("impression", "like", "click", "share")
                    for platform in ("youtube", "web"))
PROBE_ACCOUNTS = 8
PROBE_INTERVAL_SECONDS = 0.1      # a probe every 100 ms, on schedule
API_POLL_SECONDS = 0.02
METRICS_POLL_SECONDS = 0.05
PROBE_TIMEOUT_SECONDS = 30.0
PROFILE_RATE = 100                # py-spy samples per second
CDF_QUANTILES = (0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 100)

RESULTS_DIR = REPO / "bench" / "results"
PLOT_PATH = REPO / "docs" / "performance.png"
RUN_DIR = REPO / ".run" / "bench"

# name -> (what it measures, comparison, threshold); reported, never lowered to pass.
TARGETS = {
    "single_1w_events_per_s": ("one event per message, 1 worker, events/s from spawn", ">=", 20_000),
    "batch_1w_vs_ceiling": ("batches of 100, 1 worker / ceiling (same run), events/s", ">=", 0.25),
    "single_2w_vs_1w": ("one event per message: 2 workers / 1 worker", ">=", 1.6),
    "batch_2w_vs_1w": ("batches of 100: 2 workers / 1 worker", ">=", 1.6),
    "freshness_api_p99_s": ("produce -> visible in the query API, p99, s", "<=", 2.0),
    "freshness_metrics_p99_s": ("produce -> visible on /metrics, p99, s", "<=", 2.0),
    "final_record_max_s": ("window end + grace -> final record received (read_committed), max, s", "<=", 2.0),
    "peak_rss_mb": ("peak RSS (VmHWM) of any worker of the pipeline runs, MB", "<=", 400),
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


# -- pure helpers (tests/test_bench.py) ---------------------------------------------------------------
def percentile(values, q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; None if empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values, digits: int = 1) -> dict:
    values = list(values)
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    return {"n": len(values), "p50": round(percentile(values, 50), digits),
            "p99": round(percentile(values, 99), digits), "max": round(max(values), digits)}


def cdf(values, digits: int = 1) -> list:
    return [round(percentile(values, q), digits) for q in CDF_QUANTILES] if values else []


def parse_exposition(body: bytes) -> dict[str, float]:
    """Prometheus text exposition -> {'name{labels}': value} (as streams.processes.scrape)."""
    samples = {}
    for line in body.decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                samples[name] = float(value)
            except ValueError:
                continue
    return samples


def accounting(samples: dict[str, float]) -> dict:
    """The accounting counters of one worker's (or several workers' summed) /metrics."""
    rejected = {k[k.index('"') + 1:k.rindex('"')]: int(v) for k, v in samples.items()
                if k.startswith("engagement_events_rejected_total{") and v}
    return {"consumed": int(samples.get("engagement_events_consumed_total", 0)),
            "counted": int(samples.get("engagement_events_counted_total", 0)),
            "duplicate": int(samples.get("engagement_events_duplicate_total", 0)),
            "rejected": sum(rejected.values()), "rejected_by_reason": rejected,
            "forwarded": int(samples.get("engagement_events_forwarded_total", 0)),
            "partitions": int(samples.get("engagement_partitions_assigned", 0))}


def add_accounting(parts: list[dict]) -> dict:
    total = {"consumed": 0, "counted": 0, "duplicate": 0, "rejected": 0, "forwarded": 0, "partitions": 0,
             "rejected_by_reason": {}}
    for part in parts:
        for key in ("consumed", "counted", "duplicate", "rejected", "forwarded", "partitions"):
            total[key] += part[key]
        for reason, n in part["rejected_by_reason"].items():
            total["rejected_by_reason"][reason] = total["rejected_by_reason"].get(reason, 0) + n
    return total


def rates_from_samples(samples: list[tuple[float, int]], events: int, done_at: float) -> dict:
    """From (seconds since spawn, counted) polls: the rate from spawn, and the steady rate from the
    first poll that saw a counted event to the poll that saw the last one."""
    first = next(((t, n) for t, n in samples if n > 0), None)
    out = {"seconds": round(done_at, 2), "events_per_s": round(events / done_at) if done_at > 0 else None,
           "startup_seconds": None, "steady_seconds": None, "steady_events_per_s": None}
    if first is not None:
        t_first, n_first = first
        out["startup_seconds"] = round(t_first, 2)
        if done_at > t_first and events > n_first:
            out["steady_seconds"] = round(done_at - t_first, 2)
            out["steady_events_per_s"] = round((events - n_first) / (done_at - t_first))
    return out


def batch_by_account(events, size: int):
    """Group an event stream into messages of ``size`` events of one account; when the stream ends,
    each account's remainder (fewer than ``size``) is one last message, so every event is sent."""
    buffers: dict[str, list] = {}
    for event in events:
        buffer = buffers.setdefault(event["account_id"], [])
        buffer.append(event)
        if len(buffer) == size:
            yield buffer
            buffers[event["account_id"]] = []
    for buffer in buffers.values():
        if buffer:
            yield buffer


def _frame_name(frame: str) -> str:
    """'func (/path/site-packages/pkg/mod.py:12)' -> 'func (pkg/mod.py:12)'."""
    match = re.match(r"^(.*) \((.*)\)$", frame)
    if not match:
        return frame
    function, where = match.groups()
    path, _, line = where.rpartition(":")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif path.startswith(str(REPO) + "/"):
        path = path[len(str(REPO)) + 1:]
    elif "/lib/python" in path:
        path = path.split("/lib/python", 1)[1].split("/", 1)[-1]
    return f"{function} ({path}:{line})" if line else f"{function} ({path})"


def _package(frame: str) -> str:
    where = frame.rsplit("(", 1)[-1]
    for prefix, name in (("streams/", "streams (engine, state, events, metrics)"), ("aiokafka/", "aiokafka"),
                         ("kafka/", "aiokafka"), ("faust/", "faust/mode"), ("mode/", "faust/mode"),
                         ("prometheus_client/", "prometheus_client"), ("aiohttp/", "aiohttp"),
                         ("asyncio/", "asyncio"), ("<string>", "fastjsonschema (generated validator)"),
                         ("fastjsonschema/", "fastjsonschema (generated validator)")):
        if where.startswith(prefix):
            return name
    return "other"


IDLE_LEAVES = ("EpollSelector.select (", "select (", "Condition.wait (", "Event.wait (", "_worker (concurrent")
# Frames that hold everything (the event loop, the CLI): left out of the inclusive ranking.
WRAPPER_FILES = ("asyncio/base_events.py", "asyncio/events.py", "<frozen runpy>", "click/", "faust/cli/",
                 "mode/worker.py", "streams/cli.py", "asyncio/runners.py")


def summarize_profile(raw: str, top: int = 12) -> dict:
    """py-spy's raw (collapsed) output -> the top functions by own and by inclusive samples, as shares
    of the samples where the worker was busy (idle = waiting in select/epoll or on a lock)."""
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    packages: collections.Counter = collections.Counter()
    total = idle = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame_name(f) for f in stack.split(";")]
        total += n
        if frames[-1].startswith(IDLE_LEAVES):
            idle += n
            continue
        own[frames[-1]] += n
        packages[_package(frames[-1])] += n
        for frame in set(frames):
            if not any(f"({w}" in frame for w in WRAPPER_FILES) and not frame.startswith("<module>"):
                inclusive[frame] += n
    busy = total - idle
    if not busy:
        return {"samples": total, "idle_pct": 100.0 if total else None, "self": [], "inclusive": [],
                "by_package": {}}

    def pct(n: int) -> float:
        return round(100 * n / busy, 1)
    return {"samples": total, "idle_pct": round(100 * idle / total, 1),
            "self": [[name, pct(n)] for name, n in own.most_common(top)],
            "inclusive": [[name, pct(n)] for name, n in inclusive.most_common(top)],
            "by_package": {name: pct(n) for name, n in packages.most_common()}}


def evaluate_targets(figures: dict) -> dict:
    out = {}
    for name, (what, op, threshold) in TARGETS.items():
        value = figures.get(name)
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        out[name] = {"what": what, "target": f"{op} {threshold}", "value": value, "met": met}
    return out


# -- processes ---------------------------------------------------------------------------------------
def _proc_cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB -> MiB
    except OSError:
        return None
    return None


class BenchWorker:
    """`python -m streams.cli worker` with its own web port, as the tests and `make run` start it."""

    def __init__(self, settings: Settings, log_dir: Path, name: str):
        self.port = free_port()
        self.settings = dataclasses.replace(settings, web_port=self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "BenchWorker":
        self.proc = spawn([sys.executable, "-m", "streams.cli", "worker"], self.settings.as_env(), self.log)
        return self

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"worker {self.url} exited with {self.proc.returncode}; log {self.log}:\n{tail}")

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes] | None:
        try:
            return http_get(self.url + path, timeout=timeout)
        except (OSError, urllib.error.URLError):
            return None

    def accounting(self) -> dict | None:
        answer = self.get("/metrics")
        if answer is None or answer[0] != 200:
            return None
        return accounting(parse_exposition(answer[1]))

    def healthy(self, partitions: int | None = None) -> bool:
        answer = self.get("/health", timeout=1.0)
        if answer is None or answer[0] != 200:
            return False
        return partitions is None or len(orjson.loads(answer[1]).get("partitions", [])) >= partitions

    def peak_rss_mb(self) -> float | None:
        return _vm_hwm_mb(self.proc.pid) if self.proc else None

    def cpu_seconds(self) -> float | None:
        return _proc_cpu_seconds(self.proc.pid) if self.proc else None

    def stop(self) -> None:
        stop(self.proc, sig=signal.SIGTERM)


class Bench:
    """One benchmark run: the broker, the topics' name space, the phases' results."""

    def __init__(self, bootstrap: str, broker: EmbeddedKafka | None, run_dir: Path):
        self.bootstrap = bootstrap
        self.broker = broker
        self.tag = uuid.uuid4().hex[:6]
        self.run_dir = run_dir
        self.accounts_topic = f"bench{self.tag}.accounts"
        self.workers: list[BenchWorker] = []  # every worker started, stopped again at the end
        self.errors: list[str] = []

    def settings(self, phase: str, **overrides) -> Settings:
        names = {f"topic_{n}": f"bench{self.tag}.{phase}.{n}" for n in
                 ("interactions", "post_metrics", "account_metrics", "dlq", "state", "mentions", "snapshots")}
        return Settings.from_env({}, kafka_bootstrap_servers=self.bootstrap, app_id=f"bench{self.tag}-{phase}",
                                 topic_accounts=self.accounts_topic, log_level="info", **{**names, **overrides})

    def broker_cpu(self) -> float | None:
        return _proc_cpu_seconds(self.broker.process.pid) if self.broker and self.broker.process else None

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.errors.append(message)
            log(f"CHECK FAILED: {message}")

    def new_worker(self, settings: Settings, name: str) -> BenchWorker:
        worker = BenchWorker(settings, self.run_dir, name)
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


# -- phase 1: pre-fill ---------------------------------------------------------------------------------
def _model(rolling_seconds: float = 3600.0, rate: float = MODEL_RATE) -> TrafficModel:
    return TrafficModel(SEED, ACCOUNTS, rate=rate, posts_per_account=POSTS_PER_ACCOUNT,
                        rolling_seconds=rolling_seconds)


def _events(stream):
    """The model's events one by one, each stamped with the wall clock when it is made (``ts`` is
    now, or up to 2 s earlier for the model's out-of-order share)."""
    while True:
        yield from stream.next_message(_wall_ms())


def _new_producer(bootstrap: str, **kw) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024, **kw)


async def send_accounts(bench: Bench, settings: Settings) -> int:
    await ensure_topics(settings)
    producer = _new_producer(bench.bootstrap, acks="all")
    await producer.start()
    try:
        records = _model().accounts()
        futures = [await producer.send(bench.accounts_topic, orjson.dumps(r), key=r["account_id"].encode())
                   for r in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(records)


async def prefill(bench: Bench, settings: Settings, events: int, per_message: int) -> dict:
    """Produce ``events`` model events into settings.topic_interactions, ``per_message`` per message."""
    await ensure_topics(settings)
    producer = _new_producer(bench.bootstrap, linger_ms=20, max_batch_size=1024 * 1024, acks=1)
    await producer.start()
    stream = _model().stream(_wall_ms())
    types: collections.Counter = collections.Counter()
    platforms: collections.Counter = collections.Counter()
    posts: set = set()
    accounts: set = set()
    messages = size = produced = full = 0
    futures: list = []
    started = time.monotonic()
    topic = settings.topic_interactions
    try:
        source = itertools.islice(_events(stream), events)
        for item in source if per_message == 1 else batch_by_account(source, per_message):
            group = [item] if per_message == 1 else item
            for event in group:
                types[event["type"]] += 1
                platforms[event["platform"]] += 1
                accounts.add(event["account_id"])
                if "post_id" in event:
                    posts.add(event["post_id"])
            value = orjson.dumps(item)
            futures.append(await producer.send(topic, value, key=group[0]["account_id"].encode()))
            messages += 1
            full += len(group) == per_message
            size += len(value)
            produced += len(group)
            if len(futures) >= 20_000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    seconds = time.monotonic() - started
    return {"topic": topic, "events": produced, "messages": messages, "events_per_message": per_message,
            "mean_events_per_message": round(produced / messages, 1),
            "full_messages": messages if per_message == 1 else full,
            "bytes": size, "mean_event_bytes": round(size / produced), "prefill_seconds": round(seconds, 1),
            "prefill_events_per_s": round(produced / seconds), "accounts": len(accounts),
            "posts": len(posts), "types": dict(types.most_common()), "platforms": dict(platforms.most_common())}


# -- phase 2: the ceiling -------------------------------------------------------------------------------
async def ceiling(bench: Bench, topic: str, partitions: int, events: int) -> dict:
    """Bare aiokafka getmany + orjson decode + a per-key dict count: what the engine could reach if it
    did nothing but read. Same fetch settings and isolation level as the engine, no consumer group."""
    started = time.monotonic()
    consumer = AIOKafkaConsumer(bootstrap_servers=bench.bootstrap, enable_auto_commit=False,
                                isolation_level="read_committed", auto_offset_reset="earliest",
                                max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 4096,
                                fetch_max_bytes=4 * MAX_MESSAGE_BYTES)
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
                    for event in (data if isinstance(data, list) else (data,)):
                        key = event["account_id"]
                        counts[key] = counts.get(key, 0) + 1
                        seen += 1
        done = time.monotonic()
    finally:
        await consumer.stop()
    bench.check(seen == events, f"ceiling over {topic}: read {seen} events, produced {events}")
    return {"events": seen, "keys": len(counts), "seconds": round(done - started, 2),
            "events_per_s": round(seen / (done - started)),
            "steady_events_per_s": round(seen / (done - first)) if first and done > first else None}


# -- phase 3: the pipeline ------------------------------------------------------------------------------
def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _settled_accounting(workers: list[BenchWorker], timeout: float = 20.0) -> dict:
    """Every worker's counters, read until two reads a second apart agree (nothing still counting)."""
    deadline = time.monotonic() + timeout
    previous = None
    while True:
        time.sleep(1.0)
        parts = [worker.accounting() for worker in workers]
        if all(part is not None for part in parts):
            total = add_accounting(parts)
            if total == previous or time.monotonic() > deadline:
                return total
            previous = total
        elif time.monotonic() > deadline:
            raise RuntimeError("a worker's /metrics did not answer")


def pipeline(bench: Bench, mode: str, topic: str, events: int, n_workers: int, profile_to: Path | None,
             repeat: int = 0) -> dict:
    """Workers from spawn until their counters say every event is counted (a fresh consumer group and
    fresh output and state topics in every run)."""
    phase = f"{mode}-{n_workers}w" + (f"-r{repeat + 1}" if repeat else "")
    settings = bench.settings(phase, topic_interactions=topic, window_grace_seconds=THROUGHPUT_GRACE_SECONDS)
    asyncio.run(ensure_topics(settings))
    workers = [bench.new_worker(settings, f"{phase}-{i}") for i in range(n_workers)]
    log(f"pipeline {phase}: {n_workers} worker(s) on {events:,} events")
    broker_cpu, machine_cpu, own_cpu = bench.broker_cpu(), _machine_busy_seconds(), _own_cpu_seconds()
    profiler = None
    samples: list[tuple[float, int]] = []
    timeout = 60 + events / 4000
    started = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        tick = 0
        last_counted, last_change = -1, 0.0
        while True:
            tick += 1
            for worker in workers:
                worker.check_alive()
            if profile_to is not None and profiler is None and workers[0].healthy():
                profiler = _start_profiler(workers[0], profile_to)
            parts = [worker.accounting() for worker in workers]
            now = time.monotonic() - started
            if all(part is not None for part in parts):
                total = add_accounting(parts)
                samples.append((now, total["counted"]))
                if total["counted"] != last_counted:
                    last_counted, last_change = total["counted"], now
                if total["counted"] + total["duplicate"] + total["rejected"] >= events:
                    done_at = now
                    break
            if now > timeout or (last_counted > 0 and now - last_change > STALL_SECONDS):
                raise RuntimeError(f"pipeline {phase}: not every event counted after {now:.0f} s "
                                   f"(last: {samples[-1:] or 'no /metrics'})")
            time.sleep(max(0.0, started + tick * POLL_SECONDS - time.monotonic()))
        rss = [worker.peak_rss_mb() for worker in workers]
        cpu = [worker.cpu_seconds() for worker in workers]
        broker_cpu = None if broker_cpu is None else bench.broker_cpu() - broker_cpu
        machine_cpu = _machine_busy_seconds() - machine_cpu
        ours = sum(c or 0 for c in cpu) + (broker_cpu or 0) + _own_cpu_seconds() - own_cpu \
            + (_proc_cpu_seconds(profiler.pid) or 0 if profiler else 0)
        final = _settled_accounting(workers)  # nothing may be counted after the last event
    finally:
        profile = _stop_profiler(profiler, profile_to)
        for worker in workers:
            worker.stop()
    bench.check(final["counted"] == events, f"pipeline {phase}: counted {final['counted']} != produced {events}")
    bench.check(final["duplicate"] == 0, f"pipeline {phase}: {final['duplicate']} duplicates")
    bench.check(final["rejected"] == 0, f"pipeline {phase}: rejected {final['rejected_by_reason']}")
    result = {"workers": n_workers, "events": events, **rates_from_samples(samples, events, done_at),
              "counted": final["counted"], "duplicate": final["duplicate"], "rejected": final["rejected"],
              "forwarded": final["forwarded"], "peak_rss_mb": rss,
              "worker_cpu_seconds": [round(c, 1) if c is not None else None for c in cpu],
              "cpu_us_per_event": round(1e6 * sum(c or 0 for c in cpu) / events, 1),
              "broker_cpu_seconds": None if broker_cpu is None else round(broker_cpu, 1),
              # CPU the machine spent on anything but this benchmark meanwhile (other jobs on the host)
              "machine_cpu_seconds": round(machine_cpu, 1), "other_cpu_seconds": round(max(0.0, machine_cpu - ours), 1)}
    if profile is not None:
        result["profile"] = profile
    log(f"pipeline {phase}: {result['events_per_s']:,} events/s from spawn ({result['seconds']} s), "
        f"steady {result['steady_events_per_s']}, RSS {rss} MB, CPU {result['worker_cpu_seconds']} s, "
        f"other processes {result['other_cpu_seconds']} CPU s")
    return result


def _start_profiler(worker: BenchWorker, out: Path) -> subprocess.Popen | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        log("py-spy not installed (pip install -e '.[bench]'): no profile")
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    log(f"py-spy record --pid {worker.proc.pid} -> {out}")
    with open(out.with_suffix(".log"), "ab") as log_file:
        return subprocess.Popen([py_spy, "record", "--pid", str(worker.proc.pid), "--rate", str(PROFILE_RATE),
                                 "--function", "--full-filenames", "--format", "raw", "-o", str(out)],
                                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _stop_profiler(profiler: subprocess.Popen | None, out: Path | None) -> dict | None:
    if profiler is None or out is None:
        return None
    profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        profiler.wait(60)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait()
    if not out.exists():
        log(f"py-spy wrote no profile; see {out.with_suffix('.log')}")
        return None
    summary = summarize_profile(out.read_text(errors="replace"))
    summary["file"] = str(out.relative_to(REPO)) if out.is_relative_to(REPO) else str(out)
    summary["rate_hz"] = PROFILE_RATE
    return summary


# -- phase 4: freshness ---------------------------------------------------------------------------------
def _probe_accounts(partitions: int) -> list[str]:
    """Accounts no model event uses, one per partition (up to PROBE_ACCOUNTS)."""
    chosen: dict[int, str] = {}
    i = 0
    while len(chosen) < min(PROBE_ACCOUNTS, partitions):
        account = f"bench-probe-{i:03d}"
        chosen.setdefault(partition_for(account, partitions), account)
        i += 1
    return list(chosen.values())


def _output_reader(bootstrap: str, topics: list[str], partitions: int, out_path: str, ready, stop_flag,
                   max_end) -> None:
    """Child process: read the output topics (read_committed) and note each record's receive time."""
    asyncio.run(_read_outputs(bootstrap, topics, partitions, Path(out_path), ready, stop_flag, max_end))


async def _read_outputs(bootstrap, topics, partitions, out_path: Path, ready, stop_flag, max_end) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                isolation_level="read_committed", auto_offset_reset="earliest",
                                max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    rows = []
    try:
        tps = [TopicPartition(topic, p) for topic in topics for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        for tp in tps:
            await consumer.position(tp)
        ready.set()
        while not stop_flag.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            received = _wall_ms()
            for messages in batch.values():
                for message in messages:
                    record = orjson.loads(message.value)
                    rows.append((record["scope"], record["window_kind"], record["window_end"],
                                 record["emitted_at"], received))
                    if record["window_end"] > max_end.value:
                        max_end.value = record["window_end"]
    finally:
        await consumer.stop()
        out_path.write_bytes(orjson.dumps(rows))


async def _load(producer: AIOKafkaProducer, topic: str, stream, rate: float, stop_event: asyncio.Event,
                stats: dict) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    pending: collections.deque = collections.deque()
    while not stop_event.is_set():
        due = int((loop.time() - started) * rate)
        while stats["load_events"] < due:
            event = stream.next_message(_wall_ms())[0]
            pending.append(await producer.send(topic, orjson.dumps(event), key=event["account_id"].encode()))
            stats["load_events"] += 1
        while pending and pending[0].done():
            pending.popleft().result()
        await asyncio.sleep(0.005)
    await asyncio.gather(*pending)
    stats["load_seconds"] = loop.time() - started


async def _probe(session, producer: AIOKafkaProducer, settings: Settings, url: str, stop_event: asyncio.Event,
                 stats: dict) -> None:
    """Probe events on a fixed schedule (PROBE_INTERVAL_SECONDS, whether or not the last one showed
    yet: a stall delays every probe sent during it, as it delays every event), round-robin over
    accounts of their own, each with an interaction (platform, type) no other event has, so that its
    counter on /metrics is that account's. One poller asks the query API for the accounts with a probe
    outstanding, and /metrics, until each probe shows in both."""
    import aiohttp
    cfg = WindowConfig.from_settings(settings)
    accounts = _probe_accounts(settings.topic_partitions)
    kind_of = {account: PROBE_KINDS[i % len(PROBE_KINDS)] for i, account in enumerate(accounts)}
    counter_of = {f'engagement_interactions_total{{platform="{platform}",type="{kind}"}}'.encode(): account
                  for account, (platform, kind) in kind_of.items()}
    pattern = re.compile(rb"^(" + b"|".join(re.escape(name) for name in counter_of) + rb") ([0-9.e+]+)$",
                         re.MULTILINE)
    sent: collections.Counter = collections.Counter()          # account -> probes sent
    in_window: collections.Counter = collections.Counter()     # (account, window start) -> probes sent
    outstanding: dict[str, list] = {a: [] for a in accounts}   # [n, window_start, n_in_window, sent, api, metrics]
    tag = uuid.uuid4().hex[:6]

    async def fetch(path: str):
        try:
            async with session.get(url + path) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return None, b""

    async def api_totals(account: str) -> dict[int, int]:
        status, body = await fetch(f"/accounts/{account}/metrics?window={cfg.window_label}")
        if status != 200:
            return {}
        return {w["window_start"]: sum(w["counts"].values()) for w in orjson.loads(body)["windows"]}

    async def send_probes() -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        n = 0
        while not stop_event.is_set():
            account = accounts[n % len(accounts)]
            n += 1
            platform, kind = kind_of[account]
            ts = _wall_ms()
            window_start = ts - ts % cfg.window_ms
            sent[account] += 1
            in_window[(account, window_start)] += 1
            event = {"event_id": f"probe-{tag}-{n}", "type": kind, "ts": ts, "platform": platform,
                     "account_id": account, "post_id": f"{account}-post"}
            outstanding[account].append([sent[account], window_start, in_window[(account, window_start)],
                                         time.perf_counter(), None, None])
            await producer.send(settings.topic_interactions, orjson.dumps(event), key=account.encode())
            stats["probes"] += 1
            await asyncio.sleep(max(0.0, started + n * PROBE_INTERVAL_SECONDS - loop.time()))

    sender = asyncio.create_task(send_probes())
    last_scrape = 0.0
    try:
        while not (stop_event.is_set() and not any(outstanding.values())):
            busy = [a for a, entries in outstanding.items() if entries]
            if busy:
                asked = time.perf_counter()
                totals = dict(zip(busy, await asyncio.gather(*(api_totals(a) for a in busy))))
                seen_at = time.perf_counter()
                for account in busy:
                    for entry in outstanding[account]:
                        if entry[4] is None and totals[account].get(entry[1], 0) >= entry[2]:
                            entry[4] = seen_at - entry[3]
                if seen_at - last_scrape >= METRICS_POLL_SECONDS and any(
                        e[5] is None for a in busy for e in outstanding[a]):
                    asked = last_scrape = time.perf_counter()
                    status, body = await fetch("/metrics")
                    seen_at = time.perf_counter()
                    stats["scrape_ms"].append(1000 * (seen_at - asked))
                    stats["scrape_bytes"] = max(stats["scrape_bytes"], len(body))
                    if status == 200:
                        counts = {counter_of[m.group(1)]: float(m.group(2)) for m in pattern.finditer(body)}
                        for account in busy:
                            for entry in outstanding[account]:
                                if entry[5] is None and counts.get(account, 0) >= entry[0]:
                                    entry[5] = seen_at - entry[3]
                now = time.perf_counter()
                for account in busy:
                    keep = []
                    for entry in outstanding[account]:
                        timed_out = now - entry[3] > PROBE_TIMEOUT_SECONDS
                        if (entry[4] is not None and entry[5] is not None) or timed_out:
                            for name, value in (("api", entry[4]), ("metrics", entry[5])):
                                if value is None:
                                    stats[f"{name}_timeouts"] += 1
                                    value = PROBE_TIMEOUT_SECONDS
                                stats[f"{name}_ms"].append(1000 * value)
                        else:
                            keep.append(entry)
                    outstanding[account] = keep
            await asyncio.sleep(API_POLL_SECONDS)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)


async def freshness(bench: Bench, rate: float, window_seconds: int, rolling_seconds: int) -> dict:
    import aiohttp
    settings = bench.settings("fresh", window_grace_seconds=FRESHNESS_GRACE_SECONDS,
                              window_seconds=window_seconds, rolling_window_seconds=rolling_seconds)
    await ensure_topics(settings)
    cfg = WindowConfig.from_settings(settings)
    worker = bench.new_worker(settings, "fresh-1w").start()
    log(f"freshness: 1 worker, {rate:g} events/s, {window_seconds} s windows, grace {FRESHNESS_GRACE_SECONDS:g} s")
    deadline = time.monotonic() + 120
    while not worker.healthy(settings.topic_partitions):
        worker.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"freshness worker not ready; log {worker.log}")
        await asyncio.sleep(0.2)

    mp = multiprocessing.get_context("spawn")
    ready, stop_flag, max_end = mp.Event(), mp.Event(), mp.Value("q", 0)
    rows_path = bench.run_dir / "fresh-outputs.json"
    reader = mp.Process(target=_output_reader, daemon=True,
                        args=(bench.bootstrap, [settings.topic_post_metrics, settings.topic_account_metrics],
                              settings.topic_partitions, str(rows_path), ready, stop_flag, max_end))
    reader.start()
    if not await asyncio.get_running_loop().run_in_executor(None, ready.wait, 60):
        raise RuntimeError("the output reader did not start")

    producer = _new_producer(bench.bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    cpu_at_start = (_machine_busy_seconds(), _own_cpu_seconds(), bench.broker_cpu() or 0.0,
                    worker.cpu_seconds() or 0.0, _proc_cpu_seconds(reader.pid) or 0.0)
    stats = {"load_events": 0, "probes": 0, "api_ms": [], "metrics_ms": [], "api_timeouts": 0,
             "metrics_timeouts": 0, "scrape_ms": [], "scrape_bytes": 0}
    stop_event = asyncio.Event()
    started_ms = _wall_ms()
    # Measure at least one window that had traffic for two thirds of its length, through its close.
    first_end = started_ms + (2 * cfg.window_ms) // 3
    target_end = first_end - first_end % cfg.window_ms + cfg.window_ms
    target_close = target_end + cfg.grace_ms
    stream = _model(rolling_seconds=rolling_seconds, rate=rate).stream(started_ms)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        tasks = [asyncio.create_task(_load(producer, settings.topic_interactions, stream, rate, stop_event, stats)),
                 asyncio.create_task(_probe(session, producer, settings, worker.url, stop_event, stats))]
        try:
            while max_end.value < target_end and _wall_ms() < target_close + 30_000:
                for task in tasks:
                    if task.done():
                        task.result()
                await asyncio.sleep(0.2)
            await asyncio.sleep(3.0)  # the rest of that close's transaction, and traffic after it
        finally:
            stop_event.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await producer.stop()
    for task in tasks:
        task.result()
    cpu_at_end = (_machine_busy_seconds(), _own_cpu_seconds(), bench.broker_cpu() or 0.0,
                  worker.cpu_seconds() or 0.0, _proc_cpu_seconds(reader.pid) or 0.0)
    machine_cpu, *ours = (end - start for end, start in zip(cpu_at_end, cpu_at_start))
    produced = stats["load_events"] + stats["probes"]
    final = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        final = worker.accounting()
        if final is not None and final["consumed"] >= produced:
            break
        await asyncio.sleep(0.5)
    rss = worker.peak_rss_mb()
    worker.stop()
    stop_flag.set()
    reader.join(30)
    rows = orjson.loads(rows_path.read_bytes()) if rows_path.exists() else []
    final = final or accounting({})
    bench.check(final["counted"] == produced, f"freshness: counted {final['counted']} != produced {produced}")
    bench.check(final["duplicate"] == 0, f"freshness: {final['duplicate']} duplicates")
    bench.check(final["rejected"] == 0, f"freshness: rejected {final['rejected_by_reason']}")
    bench.check(max_end.value >= target_end, f"freshness: no final record of the window ending {target_end}")
    grace = cfg.grace_ms
    emitted = [emitted_at - (end + grace) for _, _, end, emitted_at, _ in rows]
    received = [got - (end + grace) for _, _, end, _, got in rows]
    closes = collections.Counter((end, scope, kind) for scope, kind, end, _, _ in rows)
    per_close = {}
    for end in sorted({end for end, _, _ in closes}):
        late = [got - (e + grace) for _, _, e, _, got in rows if e == end]
        per_close[str(end)] = {"records": {f"{scope}/{kind}": n for (e, scope, kind), n in closes.items() if e == end},
                               "received_max_ms": max(late)}
    result = {
        "rate_target": rate, "rate_achieved": round(stats["load_events"] / stats["load_seconds"]),
        "seconds": round(stats["load_seconds"], 1), "events": stats["load_events"], "probes": stats["probes"],
        "window_seconds": window_seconds, "grace_seconds": FRESHNESS_GRACE_SECONDS,
        "api_ms": summarize(stats["api_ms"]), "metrics_ms": summarize(stats["metrics_ms"]),
        "probe_timeouts": {"api": stats["api_timeouts"], "metrics": stats["metrics_timeouts"]},
        "metrics_scrape_ms": summarize(stats["scrape_ms"]), "metrics_scrape_max_bytes": stats["scrape_bytes"],
        "final_records": len(rows), "closes": per_close,
        "final_emitted_ms": summarize(emitted, 0), "final_received_ms": summarize(received, 0),
        "counted": final["counted"], "duplicate": final["duplicate"], "rejected": final["rejected"],
        "peak_rss_mb": rss, "worker_cpu_seconds": round(ours[2], 1),
        "machine_cpu_seconds": round(machine_cpu, 1), "other_cpu_seconds": round(max(0.0, machine_cpu - sum(ours)), 1),
        "cdf_ms": {"quantiles": list(CDF_QUANTILES), "api": cdf(stats["api_ms"]),
                   "metrics": cdf(stats["metrics_ms"]), "final_received": cdf(received, 0)},
    }
    log(f"freshness: API p50/p99 {result['api_ms']['p50']}/{result['api_ms']['p99']} ms, /metrics "
        f"{result['metrics_ms']['p50']}/{result['metrics_ms']['p99']} ms, final record received "
        f"p99/max {result['final_received_ms']['p99']}/{result['final_received_ms']['max']} ms after close, "
        f"RSS {rss} MB")
    return result


# -- the report -----------------------------------------------------------------------------------------
def machine() -> dict:
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
    except (OSError, StopIteration):
        mem_kb = 0
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "os": platform.platform(terse=True),
            "kafka_version": KAFKA_VERSION, "code": _code_version()}


def _code_version() -> str | None:
    """The commit measured, '+modified' when streams/ differs from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "streams", ":!streams/bench.py"],
                               cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + (" +modified" if dirty else "")) or None


def median_run(results: list[dict]) -> dict:
    """The run with the median events/s (the lower middle one of an even count), with every run's
    events/s and steady events/s beside it; a profile taken in any run is kept."""
    ordered = sorted(results, key=lambda r: r["events_per_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["repeats_events_per_s"] = [r["events_per_s"] for r in results]
    chosen["repeats_steady_events_per_s"] = [r.get("steady_events_per_s") for r in results]
    if "peak_rss_mb" in chosen:  # memory: the worst run counts, not the median one
        chosen["repeats_peak_rss_mb"] = [max((m for m in r["peak_rss_mb"] if m), default=None) for r in results]
    profile = next((r["profile"] for r in results if r.get("profile")), None)
    if profile is not None:
        chosen["profile"] = profile
    return chosen


def _ratio(a, b, digits: int = 3):
    return round(a / b, digits) if a and b else None


def figures_of(result: dict) -> dict:
    p = result.get("pipeline", {})
    fresh = result.get("freshness") or {}

    def get(mode, workers, key="events_per_s"):
        return (p.get(mode) or {}).get(str(workers), {}).get(key)
    rss = [r for mode in p.values() for run in mode.values()
           for r in run.get("repeats_peak_rss_mb", run.get("peak_rss_mb", [])) if r]
    seconds = lambda ms: None if ms is None else round(ms / 1000, 3)  # noqa: E731
    return {
        "single_1w_events_per_s": get("single", 1),
        "batch_1w_vs_ceiling": result.get("ratios", {}).get("batch_1w_vs_ceiling"),
        "single_2w_vs_1w": result.get("ratios", {}).get("single_2w_vs_1w"),
        "batch_2w_vs_1w": result.get("ratios", {}).get("batch_2w_vs_1w"),
        "freshness_api_p99_s": seconds((fresh.get("api_ms") or {}).get("p99")),
        "freshness_metrics_p99_s": seconds((fresh.get("metrics_ms") or {}).get("p99")),
        "final_record_max_s": seconds((fresh.get("final_received_ms") or {}).get("max")),
        "peak_rss_mb": max(rss) if rss else None,
    }


def ratios_of(result: dict) -> dict:
    p, c = result.get("pipeline", {}), result.get("ceiling", {})
    out = {}
    for mode in ("single", "batch"):
        runs, ceil = p.get(mode) or {}, c.get(mode) or {}
        one, two = runs.get("1", {}), runs.get("2", {})
        out[f"{mode}_1w_vs_ceiling"] = _ratio(one.get("events_per_s"), ceil.get("events_per_s"))
        out[f"{mode}_1w_vs_ceiling_steady"] = _ratio(one.get("steady_events_per_s"), ceil.get("steady_events_per_s"))
        out[f"{mode}_2w_vs_ceiling"] = _ratio(two.get("events_per_s"), ceil.get("events_per_s"))
        out[f"{mode}_2w_vs_1w"] = _ratio(two.get("events_per_s"), one.get("events_per_s"))
        out[f"{mode}_2w_vs_1w_steady"] = _ratio(two.get("steady_events_per_s"), one.get("steady_events_per_s"))
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    modes = [m for m in ("single", "batch") if m in result.get("pipeline", {}) or m in result.get("ceiling", {})]
    labels = {"single": "1 event / message", "batch": f"{BATCH_EVENTS} events / message"}
    series = [("ceiling (bare aiokafka + orjson)",
               lambda m: (result.get("ceiling", {}).get(m) or {}).get("events_per_s")),
              ("1 worker", lambda m: (result["pipeline"].get(m) or {}).get("1", {}).get("events_per_s")),
              ("2 workers", lambda m: (result["pipeline"].get(m) or {}).get("2", {}).get("events_per_s"))]
    width = 0.26
    for i, (name, value_of) in enumerate(series):
        values = [value_of(m) or 0 for m in modes]
        bars = left.bar([x + (i - 1) * width for x in range(len(modes))], values, width, label=name)
        left.bar_label(bars, labels=[f"{v / 1000:.0f}k" if v else "-" for v in values], fontsize=8)
    for i, workers in ((1, "1"), (2, "2")):
        steady = [(result["pipeline"].get(m) or {}).get(workers, {}).get("steady_events_per_s") for m in modes]
        left.scatter([x + (i - 1) * width for x, v in zip(range(len(modes)), steady) if v],
                     [v for v in steady if v], marker="_", s=300, color="black", zorder=3,
                     label="steady rate (first to last counted)" if i == 1 else None)
    left.axhline(20_000, color="grey", linestyle="--", linewidth=0.8)
    left.text(-0.45, 20_000 * 1.08, "target 1 event/msg, 1 worker: 20k", fontsize=7, color="grey")
    left.set_yscale("log")
    left.set_xticks(range(len(modes)), [labels[m] for m in modes])
    left.set_ylabel("events/s (log scale; pipeline from worker spawn)")
    left.set_title(f"Throughput, {result['workload']['events']:,} events")
    left.legend(fontsize=8, loc="upper left")

    fresh = result.get("freshness") or {}
    quantiles = (fresh.get("cdf_ms") or {}).get("quantiles", [])
    for key, name in (("api", "produce -> query API"), ("metrics", "produce -> /metrics"),
                      ("final_received", "window end + grace -> final record")):
        values = (fresh.get("cdf_ms") or {}).get(key) or []
        if values:
            right.plot([max(v, 1) for v in values], quantiles, marker=".", label=name)
    right.axvline(2000, color="grey", linestyle="--", linewidth=0.8)
    right.set_xscale("log")
    right.set_xlabel("delay, ms (log scale)")
    right.set_ylabel("percentile")
    right.set_title(f"Freshness at {fresh.get('rate_target', 0):g} events/s (1 worker)")
    right.legend(fontsize=8, loc="lower right")
    right.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"engagement-streams on {result['machine']['cores']} cores, Python {result['machine']['python']}, "
                 f"Kafka {result['machine']['kafka_version']} ({result['started_at']})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_result(result: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result['started_at'].replace(':', '').replace('-', '')}.json"
    partial = path.with_name(path.name + ".tmp")
    partial.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(partial, path)
    return path


# -- main -----------------------------------------------------------------------------------------------
def run(bench: Bench, args) -> dict:
    result: dict = {"workload": {"events": args.events, "accounts": ACCOUNTS, "posts": ACCOUNTS * POSTS_PER_ACCOUNT,
                                 "platforms": list(PLATFORMS), "seed": SEED},
                    "ceiling": {}, "pipeline": {}, "freshness": None}
    modes = {"single": 1, "batch": BATCH_EVENTS}
    modes = {m: modes[m] for m in args.modes}
    partitions = Settings().topic_partitions
    asyncio.run(send_accounts(bench, bench.settings("accounts")))
    inputs = {}
    for mode, per_message in modes.items():
        settings = bench.settings(f"input-{mode}")
        log(f"pre-fill {mode}: {args.events:,} events, {per_message} per message -> {settings.topic_interactions}")
        info = asyncio.run(prefill(bench, settings, args.events, per_message))
        log(f"pre-fill {mode}: {info['messages']:,} messages in {info['prefill_seconds']} s")
        result["workload"][mode] = info
        inputs[mode] = settings.topic_interactions
    # Each measurement is repeated, interleaved (1 worker, 2 workers, 1 worker, ...) so that a slow
    # moment of the machine does not land on one side of a ratio only; the median run is reported.
    ceilings: dict[str, list] = {mode: [] for mode in inputs}
    runs: dict[tuple[str, int], list] = {(mode, n): [] for mode in inputs for n in args.workers}
    for repeat in range(args.repeat):
        for mode, topic in inputs.items():
            ceilings[mode].append(asyncio.run(ceiling(bench, topic, partitions, args.events)))
            log(f"ceiling {mode}: {ceilings[mode][-1]['events_per_s']:,} events/s")
        for mode, topic in inputs.items():
            for n in args.workers:
                profile_to = None
                if n == 1 and repeat == 0 and not args.no_profile:
                    profile_to = bench.run_dir / f"profile-{mode}-1w.txt"
                try:
                    runs[(mode, n)].append(pipeline(bench, mode, topic, args.events, n, profile_to, repeat))
                except RuntimeError as exc:
                    bench.check(False, str(exc).splitlines()[0])
                    log(str(exc))
    for mode in inputs:
        result["ceiling"][mode] = median_run(ceilings[mode])
        result["pipeline"][mode] = {str(n): median_run(runs[(mode, n)]) for n in args.workers if runs[(mode, n)]}
    if not args.skip_freshness:
        result["freshness"] = asyncio.run(freshness(bench, args.freshness_rate, args.freshness_window,
                                                    args.freshness_rolling))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engagement bench", description="Throughput, freshness and memory of "
                                     "the pipeline on a real Kafka broker (docs/performance.md).")
    parser.add_argument("--events", type=int, default=1_000_000, help="events per input topic (default %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 50,000 events, 10 s windows in the freshness phase")
    parser.add_argument("--modes", default="single,batch", help="single,batch (default %(default)s)")
    parser.add_argument("--workers", default="1,2", help="worker counts of the pipeline runs (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each ceiling and pipeline measurement; the median is reported (default %(default)s)")
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument("--freshness-rate", type=float, default=FRESHNESS_RATE)
    parser.add_argument("--freshness-window", type=int, default=60, help="window seconds in the freshness phase")
    parser.add_argument("--freshness-rolling", type=int, default=3600, help="rolling window seconds, idem")
    parser.add_argument("--no-profile", action="store_true", help="no py-spy on the 1-worker runs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--plot", type=Path, default=PLOT_PATH, help="PNG to draw (default %(default)s)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--plot-from", type=Path, help="only draw the plot from a results JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # aiokafka's retry warnings on topics created a moment ago
    if args.plot_from:
        plot(orjson.loads(args.plot_from.read_bytes()), args.plot)
        print(args.plot)
        return 0
    if args.quick:
        args.events, args.freshness_window, args.freshness_rolling, args.repeat = 50_000, 10, 60, 1
    if args.repeat < 1:
        parser.error("--repeat takes 1 or more")
    args.modes = [m for m in args.modes.split(",") if m]
    args.workers = [int(n) for n in args.workers.split(",") if n]
    if set(args.modes) - {"single", "batch"} or args.events < BATCH_EVENTS:
        parser.error("--modes takes single and/or batch; --events at least 100")
    args.events -= args.events % BATCH_EVENTS  # whole batches, the same count in both topics

    started_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = time.monotonic()
    run_dir = RUN_DIR / started_at.replace(":", "")
    run_dir.mkdir(parents=True, exist_ok=True)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    broker = None
    bench = None
    errors: list[str] = []
    result: dict = {}
    try:
        if not bootstrap:
            log("starting the embedded Apache Kafka broker")
            broker = EmbeddedKafka(data_dir=run_dir / "kafka").start()  # its log stays: kafka.log
            bootstrap = broker.bootstrap
        bench = Bench(bootstrap, broker, run_dir)
        result = run(bench, args)
    except Exception as exc:  # still report what was measured
        errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
        log(f"bench failed: {exc!r}")
    finally:
        if bench is not None:
            bench.stop_all()
            errors = bench.errors + errors
        if broker is not None:
            broker.stop()
            shutil.rmtree(broker.data_dir, ignore_errors=True)
    result = {"bench": "engagement-streams", "started_at": started_at,
              "wall_seconds": round(time.monotonic() - started, 1),
              "machine": {**machine(), "broker": "embedded" if broker is not None else bootstrap},
              **result}
    result["ratios"] = ratios_of(result)
    result["targets"] = evaluate_targets(figures_of(result))
    result["correct"] = not errors
    result["errors"] = errors
    print(orjson.dumps(result).decode(), flush=True)
    path = write_result(result, args.results_dir)
    log(f"results: {path}")
    if not args.no_plot and result.get("pipeline"):
        try:
            plot(result, args.plot)
            log(f"plot: {args.plot}")
        except ImportError:
            log("matplotlib is not installed (pip install -e '.[bench]'): no plot")
    for name, target in result["targets"].items():
        log(f"target {name}: {target['value']} {target['target']}: "
            f"{'met' if target['met'] else 'NOT met' if target['met'] is False else 'not measured'}")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
