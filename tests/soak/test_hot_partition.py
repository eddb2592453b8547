"""One hot partition (make soak): one account at 25,000 events/s for 80 s, in real time, through many
10 s snapshot intervals, a SIGKILL at 65 s and a restart. A 60 s dedup bucket then holds about 1.5
million ids (24 MB), which one snapshot record cannot carry (16 MiB): every snapshot failed, nothing
looked at the sends' results, and the journal was never truncated. Now the restore must find a
snapshot, replay a journal bounded by the interval, remember every id it had counted (10,000 of them
sent again are all duplicates), and the final records must equal the test's own tally."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import Counter

import orjson
from aiokafka import AIOKafkaProducer

from tests.fixtures.kafka import BackgroundSender, isolated_settings, json_values, produce, read_all, run, wait_for

RATE, RUN_S, KILL_AT_S = 25_000, 80, 65
BATCH = 100  # events per message
TICK_S = 0.1
WINDOW_S, GRACE_S, SNAPSHOT_S = 5, 6, 10
ACCOUNT, POSTS = "acct-hot", 40
TYPES = ("impression", "impression", "impression", "like", "comment", "share", "save", "click")
RESENT = 10_000


class RealTimeSender(BackgroundSender):
    """RATE events/s of ACCOUNT, stamped when sent, for RUN_S s; it keeps sending while the worker is
    down. ``truth``: (post, window start, type) -> events sent."""

    def __init__(self, settings):
        super().__init__(settings)
        self.truth: Counter = Counter()
        self.sent = 0

    async def send(self):
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, linger_ms=20, enable_idempotence=True
        )
        await producer.start()
        try:
            futures = []
            started = time.monotonic()
            per_tick = int(RATE * TICK_S)
            tick = 0
            while time.monotonic() - started < RUN_S:
                now = int(time.time() * 1000)
                window = now - now % (WINDOW_S * 1000)
                for _ in range(per_tick // BATCH):
                    events = []
                    for _ in range(BATCH):
                        i = self.sent
                        post, type_ = f"{ACCOUNT}-p{i % POSTS}", TYPES[i % len(TYPES)]
                        events.append(
                            {
                                "event_id": f"hot-{i}",
                                "type": type_,
                                "ts": now,
                                "platform": "instagram",
                                "account_id": ACCOUNT,
                                "post_id": post,
                            }
                        )
                        self.truth[post, window, type_] += 1
                        self.sent += 1
                    futures.append(
                        await producer.send(
                            self.settings.topic_interactions, orjson.dumps(events), key=ACCOUNT.encode()
                        )
                    )
                tick += 1
                await asyncio.sleep(max(0.0, started + tick * TICK_S - time.monotonic()))
            await asyncio.gather(*futures)
        finally:
            await producer.stop()


def test_one_partition_at_25000_events_per_second_snapshots_and_restores_exactly(
    kafka_bootstrap, workers, topics_ready
):
    settings = topics_ready(
        isolated_settings(
            kafka_bootstrap,
            window_seconds=WINDOW_S,
            window_grace_seconds=GRACE_S,
            rolling_window_seconds=15,
            snapshot_interval_seconds=SNAPSHOT_S,
        )
    )
    worker = workers(settings).start()
    sender = RealTimeSender(settings)
    sender.start()
    time.sleep(KILL_AT_S)
    worker.stop(sig=signal.SIGKILL)
    worker.start()
    sender.join(RUN_S + 60)
    assert sender.error is None and not sender.is_alive()
    assert sender.sent >= RATE * RUN_S * 0.95

    restored = re.findall(r"restored from (\d+) snapshots and (\d+) journal entries", worker.log.read_text())
    assert restored, "no restore logged"
    snapshots, entries = map(int, restored[-1])
    print(f"\nsent {sender.sent:,} events; restored from {snapshots} snapshot(s) and {entries} journal entries")
    assert snapshots == settings.topic_partitions, "a partition's snapshot (the hot one's) did not land"
    log = worker.log.read_text()
    for trouble in ("Future exception was never retrieved", "MessageSizeTooLarge", "OutOfOrderSequenceNumber"):
        assert trouble not in log, trouble  # both runs: the log file is appended to

    # The restored dedup memory knows every id counted before the kill (the run's first 10,000).
    resent = [
        {
            "event_id": f"hot-{i}",
            "type": "like",
            "ts": int(time.time() * 1000),
            "platform": "instagram",
            "account_id": ACCOUNT,
            "post_id": f"{ACCOUNT}-p0",
        }
        for i in range(RESENT)
    ]
    run(
        produce(
            settings,
            settings.topic_interactions,
            [(ACCOUNT.encode(), orjson.dumps(resent[i : i + BATCH])) for i in range(0, RESENT, BATCH)],
        )
    )
    wait_for(lambda: worker.metrics().get("engagement_events_duplicate_total") == RESENT, 60, f"{RESENT} duplicates")

    last_window = max(w for _, w, _ in sender.truth)
    wait_for(lambda: time.time() * 1000 > last_window + (WINDOW_S + GRACE_S + 3) * 1000, 60, "the last window to close")
    time.sleep(2)
    got: Counter = Counter()
    seen = set()
    for record in json_values(run(read_all(settings, settings.topic_post_metrics))):
        key = (record["post_id"], record["window_start"])
        assert key not in seen, f"post window {key} published twice"
        seen.add(key)
        for type_, n in record["counts"].items():
            if n:
                got[record["post_id"], record["window_start"], type_] += n
    assert got == sender.truth
    assert not json_values(run(read_all(settings, settings.topic_dlq))), "nothing here is invalid or late"
