"""`engagement simulate`: the traffic model paced into Kafka by its own clock: each tick, the post
records published by now into the posts topic (the last 7 model days' at the start), then the events
due by now into the interactions topic; the account reference records re-sent every minute."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ..kafka.security import kafka_client_config
from ..kafka.topics import ensure_topics
from ..progress import Progress
from ..settings import Settings
from .arguments import simulate_parser
from .model import TrafficModel
from .scenario import Scenario
from .stream import EventStream

log = logging.getLogger(__name__)

ACCOUNTS_RESEND_SECONDS = 60.0
# The scenario's roles: --ROLE-account and --ROLE-after (settings simulate_ROLE_account, _after_seconds).
TICK_SECONDS = 0.05


async def run_simulator(
    settings: Settings,
    *,
    rate: float,
    n_accounts: int | None = None,
    seed: int | None = None,
    duration: float | None = None,
    max_events: int | None = None,
    collapse_account: str | None = None,
    collapse_after: float = 60.0,
    silent_account: str | None = None,
    silent_after: float = 60.0,
    crisis_account: str | None = None,
    crisis_after: float = 60.0,
    stop_closing_account: str | None = None,
    stop_closing_after: float = 60.0,
    collapsing: tuple[float, str | None] = (0.0, None),  # Scenario.collapsing_posts, collapsing_account
    reply_delay_scale: float | None = None,
    day_seconds: float | None = None,
    batch_share: float = 0.1,
    stop_event: asyncio.Event | None = None,
    progress: Progress | None = None,
) -> dict:
    """Produce the model's posts and events as they happen (a mean of ``rate`` events/s) until
    ``duration`` seconds, ``max_events`` events or ``stop_event``; returns what the broker
    acknowledged, and tells ``progress`` the events produced at each tick. Cancelling it flushes
    and stops the producer before the cancellation propagates."""
    seed = settings.simulate_seed if seed is None else seed
    day_seconds = settings.simulate_day_seconds if day_seconds is None else day_seconds
    model = TrafficModel(seed, n_accounts or settings.simulate_accounts, rate=rate, day_seconds=day_seconds)
    start_ms = _wall_ms()
    scenario = Scenario(
        collapse_account=collapse_account,
        collapse_at_ms=start_ms + int(collapse_after * 1000) if collapse_account else None,
        silent_account=silent_account,
        silent_at_ms=start_ms + int(silent_after * 1000) if silent_account else None,
        crisis_account=crisis_account,
        crisis_at_ms=start_ms + int(crisis_after * 1000) if crisis_account else None,
        stop_closing_account=stop_closing_account,
        stop_closing_at_ms=start_ms + int(stop_closing_after * 1000) if stop_closing_account else None,
        reply_delay_scale=settings.simulate_reply_delay_scale if reply_delay_scale is None else reply_delay_scale,
        collapsing_posts=collapsing[0],
        collapsing_account=collapsing[1],
    )
    stream = model.stream(start_ms, scenario)
    stop_event = stop_event or asyncio.Event()
    stats: dict[str, Any] = {
        "events_produced": 0,
        "messages_produced": 0,
        "accounts": len(model.account_ids),
        "account_records_produced": 0,
        "post_records_produced": 0,
        "send_errors": 0,
        "rate": rate,
        "day_seconds": day_seconds,
        "seed": seed,
        "started_at_ms": start_ms,
        "collapse_account": collapse_account,
        "collapse_at_ms": scenario.collapse_at_ms,
        "silent_account": silent_account,
        "silent_at_ms": scenario.silent_at_ms,
        "crisis_account": crisis_account,
        "crisis_at_ms": scenario.crisis_at_ms,
        "stop_closing_account": stop_closing_account,
        "stop_closing_at_ms": scenario.stop_closing_at_ms,
    }

    kafka_config = kafka_client_config(settings)
    await ensure_topics(settings, kafka_config)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        client_id="engagement-simulate",
        **kafka_config,
    )
    await producer.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await _send_accounts(producer, settings, stream, stats)
        accounts_sent = loop.time()
        generated = 0
        while True:
            now_ms = _wall_ms()
            pending = []
            for record in stream.posts_until(now_ms):  # before the events of the posts
                pending.append(
                    (
                        "post_records_produced",
                        1,
                        await producer.send(settings.topic_posts, orjson.dumps(record), key=record["post_id"].encode()),
                    )
                )
            for events in stream.messages_until(now_ms, batch_share):
                if max_events is not None:
                    events = events[: max_events - generated]
                    if not events:
                        break
                generated += len(events)
                value = orjson.dumps(events if len(events) > 1 else events[0])
                key = events[0]["account_id"].encode()
                pending.append(
                    ("events_produced", len(events), await producer.send(settings.topic_interactions, value, key=key))
                )
            results = await asyncio.gather(*(future for *_, future in pending), return_exceptions=True)
            for (counter, size, _), result in zip(pending, results):
                if counter == "events_produced":
                    _count(stats, result, events_produced=size, messages_produced=1)
                else:
                    _count(stats, result, post_records_produced=size)
            if progress is not None:
                progress.update(stats["events_produced"])
            if (
                (max_events is not None and generated >= max_events)
                or stop_event.is_set()
                or (duration is not None and loop.time() - started >= duration)
            ):
                break
            if loop.time() - accounts_sent >= ACCOUNTS_RESEND_SECONDS:
                await _send_accounts(producer, settings, stream, stats)
                accounts_sent = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), TICK_SECONDS)
    finally:
        await producer.stop()  # flushes what is still buffered
        stats["duration_seconds"] = round(loop.time() - started, 3)
    return stats


async def _send_accounts(producer: AIOKafkaProducer, settings: Settings, stream: EventStream, stats: dict) -> None:
    futures = [
        await producer.send(settings.topic_accounts, orjson.dumps(record), key=record["account_id"].encode())
        for record in stream.accounts()
    ]
    for result in await asyncio.gather(*futures, return_exceptions=True):
        _count(stats, result, account_records_produced=1)


def _count(stats: dict, send_result, **increments: int) -> None:
    if isinstance(send_result, BaseException):
        stats["send_errors"] += 1
        log.warning("send failed: %r", send_result)
        return
    for name, amount in increments.items():
        stats[name] += amount


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    args = simulate_parser(settings).parse_args(argv)

    if not settings.kafka_bootstrap_servers:
        print(
            "engagement simulate: KAFKA_BOOTSTRAP_SERVERS is not set; set it to your broker's address "
            "or use `make run`, which starts a broker and the simulator.",
            file=sys.stderr,
        )
        return 2
    try:
        stats = asyncio.run(_run_until_signalled(settings, args))
    except ValueError as exc:  # e.g. an unknown --collapse-account, found before connecting
        print(f"engagement simulate: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        print(f"engagement simulate: Kafka at {settings.kafka_bootstrap_servers}: {exc!r}", file=sys.stderr)
        return 1
    line = orjson.dumps(stats).decode()
    print(line, flush=True)
    if args.stats_file:
        partial = args.stats_file.with_name(args.stats_file.name + ".tmp")
        partial.write_text(line + "\n")
        os.replace(partial, args.stats_file)  # readers never see a half-written file
    return 0


async def _run_until_signalled(settings: Settings, args: argparse.Namespace) -> dict:
    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop_event.set)
    # On stderr: stdout is the final stats line.
    with Progress("simulate", total=args.max_events, seconds=args.duration) as progress:
        return await run_simulator(
            settings,
            rate=args.rate,
            n_accounts=args.accounts,
            seed=args.seed,
            duration=args.duration,
            max_events=args.max_events,
            collapse_account=args.collapse_account,
            collapse_after=args.collapse_after,
            silent_account=args.silent_account,
            silent_after=args.silent_after,
            crisis_account=args.crisis_account,
            crisis_after=args.crisis_after,
            stop_closing_account=args.stop_closing_account,
            stop_closing_after=args.stop_closing_after,
            collapsing=(args.collapsing_posts, args.collapsing_account),
            reply_delay_scale=args.reply_delay_scale,
            day_seconds=args.day_seconds,
            stop_event=stop_event,
            progress=progress,
        )
