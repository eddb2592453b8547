"""The freshness phase (phase 4): a steady load into a fresh worker, probe events on accounts of their
own timed until they show in the query API and on /metrics, and a child process reading the output
topics (read_committed) for how long after window end + grace each window's final record arrives."""

from __future__ import annotations

import asyncio
import collections
import multiprocessing
import re
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ...kafka.partitioner import partition_for
from ...kafka.topics import ensure_topics
from ...settings import Settings
from ...state import WindowConfig
from .figures import CDF_QUANTILES, accounting, cdf, summarize
from .harness import Bench, log, machine_busy_seconds, own_cpu_seconds, proc_cpu_seconds, wall_ms
from .workload import model, new_producer

FRESHNESS_GRACE_SECONDS = 5.0  # windows close within the phase (the model's events are <= 2 s late)
FRESHNESS_RATE = 5000.0
# Probe interactions: platforms in the schema but not in the load, so each probe account's counter on
# /metrics (engagement_interactions_total{platform,type}) is its own.
PROBE_KINDS = tuple(
    (platform, kind) for kind in ("impression", "like", "click", "share") for platform in ("youtube", "web")
)
PROBE_ACCOUNTS = 8
PROBE_INTERVAL_SECONDS = 0.1  # a probe every 100 ms, on schedule
API_POLL_SECONDS = 0.02
METRICS_POLL_SECONDS = 0.05
PROBE_TIMEOUT_SECONDS = 30.0


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


def _output_reader(
    bootstrap: str, topics: list[str], partitions: int, out_path: str, ready, stop_flag, max_end
) -> None:
    """Child process: read the output topics (read_committed) and note each record's receive time."""
    asyncio.run(_read_outputs(bootstrap, topics, partitions, Path(out_path), ready, stop_flag, max_end))


async def _read_outputs(bootstrap, topics, partitions, out_path: Path, ready, stop_flag, max_end) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
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
            received = wall_ms()
            for messages in batch.values():
                for message in messages:
                    record = orjson.loads(message.value)
                    rows.append(
                        (record["scope"], record["window_kind"], record["window_end"], record["emitted_at"], received)
                    )
                    if record["window_end"] > max_end.value:
                        max_end.value = record["window_end"]
    finally:
        await consumer.stop()
        out_path.write_bytes(orjson.dumps(rows))


async def _load(
    producer: AIOKafkaProducer, topic: str, stream, rate: float, stop_event: asyncio.Event, stats: dict
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    pending: collections.deque = collections.deque()
    while not stop_event.is_set():
        due = int((loop.time() - started) * rate)
        while stats["load_events"] < due:
            event = stream.next_message(wall_ms())[0]
            pending.append(await producer.send(topic, orjson.dumps(event), key=event["account_id"].encode()))
            stats["load_events"] += 1
        while pending and pending[0].done():
            pending.popleft().result()
        await asyncio.sleep(0.005)
    await asyncio.gather(*pending)
    stats["load_seconds"] = loop.time() - started


async def _probe(
    session, producer: AIOKafkaProducer, settings: Settings, url: str, stop_event: asyncio.Event, stats: dict
) -> None:
    """Probe events on a fixed schedule (PROBE_INTERVAL_SECONDS, whether or not the last one showed
    yet: a stall delays every probe sent during it, as it delays every event), round-robin over
    accounts of their own, each with an interaction (platform, type) no other event has, so that its
    counter on /metrics is that account's. One poller asks the query API for the accounts with a probe
    outstanding, and /metrics, until each probe shows in both."""
    import aiohttp

    cfg = WindowConfig.from_settings(settings)
    accounts = _probe_accounts(settings.topic_partitions)
    kind_of = {account: PROBE_KINDS[i % len(PROBE_KINDS)] for i, account in enumerate(accounts)}
    counter_of = {
        f'engagement_interactions_total{{platform="{platform}",type="{kind}"}}'.encode(): account
        for account, (platform, kind) in kind_of.items()
    }
    pattern = re.compile(rb"^(" + b"|".join(re.escape(name) for name in counter_of) + rb") ([0-9.e+]+)$", re.MULTILINE)
    sent: collections.Counter = collections.Counter()  # account -> probes sent
    in_window: collections.Counter = collections.Counter()  # (account, window start) -> probes sent
    outstanding: dict[str, list] = {a: [] for a in accounts}  # [n, window_start, n_in_window, sent, api, metrics]
    tag = uuid.uuid4().hex[:6]

    async def fetch(path: str):
        try:
            async with session.get(url + path) as response:
                return response.status, await response.read()
        except (TimeoutError, aiohttp.ClientError):
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
            ts = wall_ms()
            window_start = ts - ts % cfg.window_ms
            sent[account] += 1
            in_window[(account, window_start)] += 1
            event = {
                "event_id": f"probe-{tag}-{n}",
                "type": kind,
                "ts": ts,
                "platform": platform,
                "account_id": account,
                "post_id": f"{account}-post",
            }
            outstanding[account].append(
                [sent[account], window_start, in_window[(account, window_start)], time.perf_counter(), None, None]
            )
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
                    e[5] is None for a in busy for e in outstanding[a]
                ):
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

    settings = bench.settings(
        "fresh",
        window_grace_seconds=FRESHNESS_GRACE_SECONDS,
        window_seconds=window_seconds,
        rolling_window_seconds=rolling_seconds,
    )
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
    reader = mp.Process(
        target=_output_reader,
        daemon=True,
        args=(
            bench.bootstrap,
            [settings.topic_post_metrics, settings.topic_account_metrics],
            settings.topic_partitions,
            str(rows_path),
            ready,
            stop_flag,
            max_end,
        ),
    )
    reader.start()
    if not await asyncio.get_running_loop().run_in_executor(None, ready.wait, 60):
        raise RuntimeError("the output reader did not start")

    producer = new_producer(bench.bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    cpu_at_start = (
        machine_busy_seconds(),
        own_cpu_seconds(),
        bench.broker_cpu() or 0.0,
        worker.cpu_seconds() or 0.0,
        proc_cpu_seconds(reader.pid) or 0.0,
    )
    stats: dict[str, Any] = {
        "load_events": 0,
        "probes": 0,
        "api_ms": [],
        "metrics_ms": [],
        "api_timeouts": 0,
        "metrics_timeouts": 0,
        "scrape_ms": [],
        "scrape_bytes": 0,
    }
    stop_event = asyncio.Event()
    started_ms = wall_ms()
    # Measure at least one window that had traffic for two thirds of its length, through its close.
    first_end = started_ms + (2 * cfg.window_ms) // 3
    target_end = first_end - first_end % cfg.window_ms + cfg.window_ms
    target_close = target_end + cfg.grace_ms
    stream = model(rate=rate).stream(started_ms)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        tasks = [
            asyncio.create_task(_load(producer, settings.topic_interactions, stream, rate, stop_event, stats)),
            asyncio.create_task(_probe(session, producer, settings, worker.url, stop_event, stats)),
        ]
        try:
            while max_end.value < target_end and wall_ms() < target_close + 30_000:
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
    cpu_at_end = (
        machine_busy_seconds(),
        own_cpu_seconds(),
        bench.broker_cpu() or 0.0,
        worker.cpu_seconds() or 0.0,
        proc_cpu_seconds(reader.pid) or 0.0,
    )
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
        per_close[str(end)] = {
            "records": {f"{scope}/{kind}": n for (e, scope, kind), n in closes.items() if e == end},
            "received_max_ms": max(late),
        }
    result = {
        "rate_target": rate,
        "rate_achieved": round(stats["load_events"] / stats["load_seconds"]),
        "seconds": round(stats["load_seconds"], 1),
        "events": stats["load_events"],
        "probes": stats["probes"],
        "window_seconds": window_seconds,
        "grace_seconds": FRESHNESS_GRACE_SECONDS,
        "api_ms": summarize(stats["api_ms"]),
        "metrics_ms": summarize(stats["metrics_ms"]),
        "probe_timeouts": {"api": stats["api_timeouts"], "metrics": stats["metrics_timeouts"]},
        "metrics_scrape_ms": summarize(stats["scrape_ms"]),
        "metrics_scrape_max_bytes": stats["scrape_bytes"],
        "final_records": len(rows),
        "closes": per_close,
        "final_emitted_ms": summarize(emitted, 0),
        "final_received_ms": summarize(received, 0),
        "counted": final["counted"],
        "duplicate": final["duplicate"],
        "rejected": final["rejected"],
        "peak_rss_mb": rss,
        "worker_cpu_seconds": round(ours[2], 1),
        "machine_cpu_seconds": round(machine_cpu, 1),
        "other_cpu_seconds": round(max(0.0, machine_cpu - sum(ours)), 1),
        "cdf_ms": {
            "quantiles": list(CDF_QUANTILES),
            "api": cdf(stats["api_ms"]),
            "metrics": cdf(stats["metrics_ms"]),
            "final_received": cdf(received, 0),
        },
    }
    log(
        f"freshness: API p50/p99 {result['api_ms']['p50']}/{result['api_ms']['p99']} ms, /metrics "
        f"{result['metrics_ms']['p50']}/{result['metrics_ms']['p99']} ms, final record received "
        f"p99/max {result['final_received_ms']['p99']}/{result['final_received_ms']['max']} ms after close, "
        f"RSS {rss} MB"
    )
    return result
