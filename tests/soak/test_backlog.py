"""A backlog read after an outage, sent by a producer nobody here wrote that places keys with its own
partitioner (librdkafka's default, crc32, puts most accounts in another partition than murmur2), so
most events reach their account's partition only when the worker forwards them there. Every event
reached Kafka within its window + grace: none may be late, and the final records equal the ground
truth the test reads back from the input topic."""

from __future__ import annotations

import base64
import random
import signal
import time

import orjson

from streams.devtools.kafka_tools import console_produce
from tests.fixtures.groundtruth import ts_ms
from tests.fixtures.kafka import read_all, run, wait_for
from tests.fixtures.reliability import (
    GRACE_S,
    WINDOW_S,
    assert_final_records_exact,
    events_in,
    run_settings,
    wait_for_the_last_close,
)

ROUND_ROBIN = "org.apache.kafka.clients.producer.RoundRobinPartitioner"
ACCOUNTS, POSTS_PER_ACCOUNT, ROUNDS = 6, 10, 5
TYPES = ("impression", "like", "comment", "share", "save", "click")


def round_of(n: int, rng: random.Random, prefix: str) -> list[tuple[bytes, bytes]]:
    """n events of the 6 accounts' 60 posts, stamped now (they reach Kafka at once: on time)."""
    now = int(time.time() * 1000)
    lines = []
    for i in range(n):
        account = f"{prefix}-acct-{rng.randrange(ACCOUNTS)}"
        event = {
            "event_id": f"{prefix}-{now}-{i}",
            "type": rng.choice(TYPES),
            "ts": now,
            "platform": "instagram",
            "account_id": account,
            "post_id": f"{account}-p{rng.randrange(POSTS_PER_ACCOUNT)}",
        }
        lines.append((account.encode(), orjson.dumps(event)))
    return lines


def test_a_misrouted_backlog_after_an_idle_spell_and_an_outage_is_never_late(
    kafka_bootstrap, workers, topics_ready, tmp_path
):
    settings = run_settings(kafka_bootstrap, topics_ready)
    worker = workers(settings).start()
    # Idle long enough that every partition closes windows by the wall clock before the outage.
    time.sleep(WINDOW_S + GRACE_S + 2)
    worker.stop(sig=signal.SIGKILL)
    rng = random.Random(8)
    for r in range(ROUNDS):  # a window apart: the outage spans several windows, each past its grace
        started = time.monotonic()
        console_produce(kafka_bootstrap, settings.topic_interactions, round_of(200, rng, "b"), partitioner=ROUND_ROBIN)
        if r < ROUNDS - 1:
            time.sleep(max(0.0, WINDOW_S - (time.monotonic() - started)))
    time.sleep(WINDOW_S + GRACE_S)  # the last round's window closes by the wall clock too
    worker.start()

    produced = events_in(run(read_all(settings, settings.topic_interactions)))
    sent = ROUNDS * 200
    assert len({e["event_id"] for e in produced}) == sent
    wait_for(
        lambda: worker.metrics().get("engagement_events_consumed_total") == sent,
        60,
        f"the worker to read all {sent} events",
    )
    wait_for_the_last_close(produced)
    dlq = [orjson.loads(m.value) for m in run(read_all(settings, settings.topic_dlq))]
    assert dlq == [], f"{len(dlq)} of {sent} on-time events went to the DLQ, e.g. " + "; ".join(
        f"{r['reason']} {r['error']} (ts {ts_ms(orjson.loads(base64.b64decode(r['original_b64'])))})" for r in dlq[:3]
    )
    assert_final_records_exact(settings, produced, "instagram")
