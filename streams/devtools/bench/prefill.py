"""The pre-fill of ``make bench-week``: the 8 partitions' state after a week, built in-process through
the engine's own code paths and written where a worker restores it from.

Each partition's ``PartitionState`` is constructed as the engine's recovery constructs it (the
settings' ``WindowConfig``, the post records as ``post_of``, the accounts' followers), started at the
week's beginning as a partition's first input starts it, and fed the synthetic week
(``week_traffic``) with ``add`` and ``commit`` at each step's end (the partition's clock). The last
commit takes the snapshot. What the engine would produce of the commits goes where it would: the
snapshot records (the sealed dedup buckets on the way, the whole state at the end) to the snapshot
topic, the mention changes to the mentions topic, each in its partition; the post records of the
lifetime to the posts topic. The window and lifetime records the closes make are dropped (nobody
reads them in the benchmark). Run as a child process (``python -m streams.devtools.bench.prefill``)
so that its memory is gone when the worker starts; it prints a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import orjson
from aiokafka import AIOKafkaProducer

from ...kafka.partitioner import partition_for
from ...kafka.security import kafka_client_config
from ...kafka.topics import MAX_MESSAGE_BYTES, ensure_topics
from ...settings import Settings
from ...simulator.model import TrafficModel
from ...state import PartitionState, WindowConfig
from ...state.dedup import fingerprints
from ...validation import decode_slice
from .week_posts import DAY_MS, WeekPlan
from .week_traffic import MINUTE_MS, PastWeek

FAR_STEP_MS = 6 * 3_600_000  # a commit per 6 hours before the last stretch: a close walks every life
NEAR_STEP_MS = 5 * MINUTE_MS  # and per 5 minutes in it
FOLD_EVENTS = 20_000  # events folded at once (a slice's worth, decoded together)


def week_plan(config: WindowConfig, now_ms: int, live_start_ms: int, days: float) -> WeekPlan:
    return WeekPlan(
        now_ms=now_ms,
        live_start_ms=live_start_ms,
        days=days,
        ages_ms=config.post_ages_ms,
        retention_ms=min(config.mention_retention_ms, int(days * DAY_MS)),
        stretch_ms=config.rolling_ms + config.grace_ms + config.window_ms,
    )


class Prefill:
    """The states of every partition fed the week; what the engine would have produced of them."""

    def __init__(self, settings: Settings, week: PastWeek):
        self.settings, self.week = settings, week
        self.config = WindowConfig.from_settings(settings)
        self.records = {post.post_id: post.record() for post in week.posts}
        self.followers = {a["account_id"]: a["followers"] for a in week.model.accounts()}
        since = week.plan.since_ms
        self.states = {}
        for p in range(settings.topic_partitions):
            state = PartitionState(p, self.config, post_of=self.records.get)
            state.start_at(since)  # as the engine starts a partition with no state at its first input
            state.input_from(since)
            self.states[p] = state
        self.snapshots: dict[int, dict[bytes, bytes]] = {p: {} for p in self.states}
        self.mentions: dict[int, dict[str, list]] = {p: {} for p in self.states}
        self.partition_of: dict[str, int] = {}
        self.counted = 0
        self.limits = {
            "max_message_bytes": settings.max_message_bytes,
            "max_batch_events": settings.max_batch_events,
            "max_future_ms": self.config.grace_ms,
        }

    def run(self) -> None:
        """Each step's events folded as the engine folds a slice (decoded at once, ``add_many``), then
        a commit at the step's end; the snapshot at the last."""
        plan, partitions = self.week.plan, self.settings.topic_partitions
        for end, events, last in self.week.steps(FAR_STEP_MS, NEAR_STEP_MS, FOLD_EVENTS):
            by_partition: dict[int, list[bytes]] = {}
            for data in events:
                account_id = data["account_id"]
                p = self.partition_of.get(account_id)
                if p is None:
                    p = self.partition_of[account_id] = partition_for(account_id, partitions)
                by_partition.setdefault(p, []).append(orjson.dumps(data))
            for p, values in by_partition.items():
                decoded = decode_slice(values, end, **self.limits)
                if decoded is None:
                    raise ValueError(f"the week's events of a step to {end} do not decode")
                fps = fingerprints(event.event_id for event in decoded)
                # Every id of the week is new (made unique): no dedup lookup to make.
                counted, _, _ = self.states[p].add_many(decoded, end, end, fps, [False] * len(fps))
                self.counted += len(counted)
            if last:
                self._commit(end, take_snapshot=end >= plan.now_ms)

    def _commit(self, now_ms: int, take_snapshot: bool) -> None:
        for p, state in self.states.items():
            result = state.commit(now_ms, self.followers.get, take_snapshot=take_snapshot)
            for key, value in result.snapshot_records:
                if value is None:
                    self.snapshots[p].pop(key, None)
                else:
                    self.snapshots[p][key] = value
            for mention_id, value in result.mention_changes.items():
                if value is None:
                    self.mentions[p].pop(mention_id, None)
                else:
                    self.mentions[p][mention_id] = value

    def live_posts(self) -> list[dict]:
        """The post records a worker keeps (published within the lifetime before the live start)."""
        since = self.week.plan.live_start_ms - self.config.lifetime_ms
        return [r for r in self.records.values() if r["published_at"] >= since]

    async def write(self) -> dict:
        s = self.settings
        kafka_config = kafka_client_config(s)
        await ensure_topics(s, kafka_config)
        producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            linger_ms=20,
            max_batch_size=1024 * 1024,
            max_request_size=4 * MAX_MESSAGE_BYTES,
            **kafka_config,
        )
        await producer.start()
        written = {"snapshot_bytes": 0, "snapshot_records": 0, "mention_records": 0, "post_records": 0}
        try:
            for p, records in self.snapshots.items():
                for key, value in records.items():
                    await producer.send(s.topic_snapshots, value, key=key, partition=p)
                    written["snapshot_bytes"] += len(key) + len(value)
                    written["snapshot_records"] += 1
            for p, mentions in self.mentions.items():
                for mention_id, mention in mentions.items():
                    await producer.send(s.topic_mentions, orjson.dumps(mention), key=mention_id.encode(), partition=p)
                    written["mention_records"] += 1
            for record in self.live_posts():
                await producer.send(s.topic_posts, orjson.dumps(record), key=record["post_id"].encode())
                written["post_records"] += 1
            await producer.flush()
        finally:
            await producer.stop()
        return written


def plan_counts(week: PastWeek, config: WindowConfig) -> dict:
    """What the real week holds at E, from the posts' publications: lives, tombstones, samples."""
    now = week.plan.now_ms
    ages = [now - post.published_at for post in week.posts if post.published_at < now]
    lifetime, period, maturity = config.lifetime_ms, config.benchmark_period_ms, config.maturity_ms
    return {
        "posts_live": sum(1 for a in ages if a < lifetime),
        "posts_tombstones": sum(1 for a in ages if lifetime <= a < lifetime + period),
        "samples": sum(1 for a in ages if maturity <= a < period),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench-week prefill", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--accounts", type=int, required=True)
    parser.add_argument("--days", type=float, required=True)
    parser.add_argument("--now-ms", type=int, required=True)
    parser.add_argument("--live-start-ms", type=int, required=True)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    started = time.monotonic()
    model = TrafficModel(settings.simulate_seed, args.accounts, rate=args.rate)
    config = WindowConfig.from_settings(settings)
    week = PastWeek(model, week_plan(config, args.now_ms, args.live_start_ms, args.days))
    prefill = Prefill(settings, week)
    prefill.run()
    built = time.monotonic() - started
    written = asyncio.run(prefill.write())
    summary = {
        "built_s": round(built, 1),
        "written_s": round(time.monotonic() - started - built, 1),
        "events": week.counts,
        "counted": prefill.counted,
        "expected": plan_counts(week, config),
        "written": written,
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
