"""Nothing lost, nothing counted twice: worker crashes, graceful restarts, a rebalance, a broker
restart and hostile input, each on the real broker with the simulator as the producer.

The ground truth is what the interactions topic holds (read back by the test, duplicates removed by
event_id), so it does not depend on the engine; the final records must equal it exactly."""

from __future__ import annotations

import os
import signal
import time

import orjson
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from tests.fixtures.groundtruth import schema
from tests.fixtures.kafka import isolated_settings, produce, read_all, run, wait_for
from tests.fixtures.reliability import (
    crash_run,
    exactness_run,
    outage_settings,
    owned_partitions,
    restart,
    run_settings,
    sharing,
)


@pytest.mark.integration
def test_sigkill_three_times_loses_and_doubles_nothing(kafka_bootstrap, workers, topics_ready, tmp_path):
    crash_run(kafka_bootstrap, workers, topics_ready, tmp_path, events=30_000, rate=1500, seed=1)


@pytest.mark.integration
def test_sigterm_mid_run_then_restart_is_exact(kafka_bootstrap, workers, topics_ready, tmp_path):
    settings = run_settings(kafka_bootstrap, topics_ready)
    worker = workers(settings).start()
    exactness_run(
        settings, [worker], tmp_path, events=20_000, rate=1500, disruptions=[(6, restart(worker, signal.SIGTERM))]
    )


@pytest.mark.integration
def test_rebalance_after_a_worker_dies_is_exact(kafka_bootstrap, workers, topics_ready, tmp_path):
    settings = run_settings(kafka_bootstrap, topics_ready)
    survivor, victim = workers(settings, "survivor").start(), workers(settings, "victim").start()
    wait_for(lambda: sharing(victim, survivor), 60, "two workers sharing the partitions")
    takeover = {}

    def kill_victim():
        killed = time.monotonic()
        victim.stop(sig=signal.SIGKILL)
        wait_for(lambda: owned_partitions(survivor) == 8, 90, "the survivor to own every partition", 0.1)
        takeover["seconds"] = time.monotonic() - killed

    exactness_run(settings, [survivor], tmp_path, events=20_000, rate=1500, disruptions=[(5, kill_victim)])
    print(
        f"\ntakeover after SIGKILL of one of two workers: {takeover['seconds']:.1f} s "
        "(consumer session timeout, rebalance, state restore)"
    )


@pytest.mark.integration
def test_a_restarted_worker_resumes_at_once_and_a_stopped_one_hands_over_at_once(
    kafka_bootstrap, workers, topics_ready
):
    """Static membership: a worker SIGKILLed and restarted under its id gets its partitions back
    without waiting for its dead predecessor's session to time out; a worker stopped gracefully
    leaves the group, so the other takes its partitions at once. The session timeout is long (30 s)
    so that any wait for it shows."""
    settings = run_settings(kafka_bootstrap, topics_ready, session_timeout_seconds=30)
    a, b = workers(settings, "a").start(), workers(settings, "b").start()
    wait_for(lambda: sharing(a, b), 90, "two workers sharing the partitions")
    a.stop(sig=signal.SIGKILL)
    spawned = time.monotonic()
    a.start(timeout=60)
    restarted = time.monotonic() - spawned
    stopped = time.monotonic()
    b.stop()
    wait_for(lambda: owned_partitions(a) == 8, 60, "the survivor to own every partition", 0.1)
    handed_over = time.monotonic() - stopped
    print(
        f"\nrestart to /health with partitions: {restarted:.1f} s; graceful handover: {handed_over:.1f} s "
        "(session timeout 30 s)"
    )
    assert restarted < 15 and handed_over < 15


@pytest.mark.integration
def test_a_first_start_counts_the_backlog_already_in_kafka(kafka_bootstrap, workers, topics_ready, tmp_path):
    """No state at all (a new deployment, or state topics lost): the input already in Kafka is
    counted from the committed offset (here the beginning) on, not called late."""
    settings = outage_settings(kafka_bootstrap, topics_ready)
    worker = workers(settings)
    exactness_run(settings, [worker], tmp_path, events=9_000, rate=300, disruptions=[(25, worker.start)])


# -- hostile input ----------------------------------------------------------------------------------

MAX_MESSAGE_BYTES, MAX_BATCH = 1_048_576, 1000
VALID_TEMPLATE = {
    "event_id": "",
    "type": "like",
    "ts": 0,
    "platform": "x",
    "account_id": "acct-h",
    "post_id": "acct-h-p1",
}
REQUIRED = ("event_id", "type", "ts", "platform", "account_id")
json_values_st = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=10,
)


def _event(**changes) -> dict:
    return {**VALID_TEMPLATE, "ts": int(time.time() * 1000), **changes}


def hostile_messages():
    """Messages of which each must give exactly one DLQ record (none is a batch under the limit)."""
    not_an_array = st.binary(max_size=300).filter(lambda b: not b.lstrip().startswith(b"["))
    wrong_type = st.tuples(
        st.sampled_from(REQUIRED),
        st.lists(json_values_st, max_size=2)
        | st.dictionaries(st.text(max_size=3), json_values_st, max_size=2)
        | st.booleans()
        | st.none(),
    ).map(lambda kv: orjson.dumps(_event(**{kv[0]: kv[1]})))
    fixed = st.sampled_from(
        [
            b"\xff\xfe\xfd",
            b"",
            b"   ",
            b"[" * 100_000,
            b'{"a": NaN}',
            b'{"dwell_ms": Infinity}',
            orjson.dumps(_event(type="dwell", dwell_ms=-1)),
            orjson.dumps(_event(ts=4_102_444_800_000)),
            orjson.dumps(_event(ts=631_152_000_000)),
            orjson.dumps(_event(platform="myspace")),
            orjson.dumps(_event(type="poke")),
            b'{"event_id": "' + b"x" * (10 * 1024 * 1024) + b'"}',
            orjson.dumps([_event(event_id=f"big-{i}") for i in range(MAX_BATCH + 1)]),
            b'{"dwell_ms": 1e999, "type": "dwell"}',
            orjson.dumps(_event(ts="2026-13-45T99:99:99Z")),
        ]
    )
    return st.lists(st.one_of(not_an_array, wrong_type, fixed), min_size=5, max_size=25)


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.integration
def test_hostile_input_lands_in_the_dlq_and_never_stalls_the_worker(kafka_bootstrap, workers, topics_ready):
    settings = topics_ready(
        isolated_settings(kafka_bootstrap, max_message_bytes=MAX_MESSAGE_BYTES, max_batch_events=MAX_BATCH)
    )
    worker = workers(settings).start()
    totals = {"hostile": 0, "valid": 0}
    dlq_schema = schema("dlq.schema.json")

    @hsettings(max_examples=8, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(hostile=hostile_messages(), valid=st.integers(1, 20))
    def one_round(hostile, valid):
        round_id = totals["hostile"] + totals["valid"]
        good = [orjson.dumps(_event(event_id=f"ok-{round_id}-{i}")) for i in range(valid)]
        run(produce(settings, settings.topic_interactions, [(b"acct-h", message) for message in hostile + good]))
        totals["hostile"] += len(hostile)
        totals["valid"] += valid
        metrics = wait_for(
            lambda: (m := worker.metrics()).get("engagement_events_counted_total", 0) >= totals["valid"] and m,
            60,
            "the worker to count the valid events",
        )
        rejected = sum(v for k, v in metrics.items() if k.startswith("engagement_events_rejected_total{"))
        assert worker.proc.poll() is None, "the worker crashed"
        assert metrics["engagement_events_counted_total"] == totals["valid"]
        assert metrics["engagement_events_consumed_total"] == (
            metrics["engagement_events_counted_total"] + metrics["engagement_events_duplicate_total"] + rejected
        )

    one_round()
    dlq = wait_for(
        lambda: (d := run(read_all(settings, settings.topic_dlq))) and len(d) >= totals["hostile"] and d,
        60,
        "every hostile message in the DLQ",
    )
    assert len(dlq) == totals["hostile"]
    for message in dlq:
        dlq_schema.validate(orjson.loads(message.value))
    assert _rss_mb(worker.proc.pid) < 400, "memory is not bounded"
    assert os.path.exists(f"/proc/{worker.proc.pid}")
