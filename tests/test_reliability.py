"""Nothing lost, nothing counted twice: worker crashes, graceful restarts, a rebalance, a broker
restart and hostile input, each on the real broker with the simulator as the producer.

The ground truth is what the interactions topic holds (read back by the test, duplicates removed by
event_id), so it does not depend on the engine; the final records must equal it exactly."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import sys
import time

import orjson
import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from streams.devtools.broker import EmbeddedKafka
from streams.devtools.processes import http_get, spawn

from .conftest import isolated_settings, json_values, produce, read_all, run, wait_for
from .groundtruth import assert_records_equal_truth, schema, ts_ms

WINDOW_S, GRACE_S, ROLLING_S = 5, 6, 15


def _events_in(messages) -> list[dict]:
    """The distinct events of the input topic (first copy of each event_id)."""
    seen, events = set(), []
    for message in messages:
        data = orjson.loads(message.value)
        for event in data if isinstance(data, list) else [data]:
            if event["event_id"] not in seen:
                seen.add(event["event_id"])
                events.append(event)
    return events


def _owned_partitions(worker) -> int:
    try:
        status, body = http_get(f"{worker.url}/health", timeout=1)
    except OSError:
        return 0
    return len(json.loads(body)["partitions"]) if status == 200 else 0


def _sharing(worker, other) -> bool:
    """Both workers own partitions, all 8 of them between them."""
    mine = _owned_partitions(worker)
    return mine > 0 and mine + _owned_partitions(other) == 8


def exactness_run(settings, group, tmp_path, *, events: int, rate: float, disruptions=(), grace_s=GRACE_S):
    """Run the simulator for `events` events while the disruptions happen at their times (seconds after
    the simulator starts), then check every final record against the input topic."""
    simulator = spawn(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "simulate",
            "--rate",
            str(rate),
            "--max-events",
            str(events),
            "--accounts",
            "20",
            "--stats-file",
            str(tmp_path / "sim.json"),
        ],
        settings.as_env(),
        tmp_path / "simulator.log",
    )
    started = time.monotonic()
    try:
        for at, action in sorted(disruptions, key=lambda d: d[0]):
            while time.monotonic() - started < at:
                time.sleep(0.05)
            action()
        assert simulator.wait(events / rate + 180) == 0, (tmp_path / "simulator.log").read_text()[-2000:]
    finally:
        if simulator.poll() is None:
            simulator.kill()
    stats = json.loads((tmp_path / "sim.json").read_text())
    assert stats["send_errors"] == 0
    produced = _events_in(run(read_all(settings, settings.topic_interactions)))
    assert len(produced) == stats["events_produced"] == events, "the producer lost or invented events"

    last_start = max(ts_ms(e) for e in produced) // (WINDOW_S * 1000) * WINDOW_S * 1000
    wait_for(
        lambda: time.time() * 1000 > last_start + (ROLLING_S + grace_s + 3) * 1000,
        120 + ROLLING_S + grace_s,
        "the last window to close",
    )
    time.sleep(2)
    dlq = [orjson.loads(m.value) for m in run(read_all(settings, settings.topic_dlq))]
    assert dlq == [], "nothing here is invalid or late, yet: " + "; ".join(
        f"{r['reason']} {r['error']} arrived {r['source']['timestamp']} = ts + "
        f"{r['source']['timestamp'] - ts_ms(orjson.loads(base64.b64decode(r['original_b64'])))} ms"
        for r in dlq[:3]
    )
    accounts = {}
    for record in json_values(run(read_all(settings, settings.topic_accounts))):
        accounts.setdefault(record["account_id"], (record["platform"], set()))[1].add(record["followers"])
    post_records = json_values(run(read_all(settings, settings.topic_post_metrics)))
    account_records = json_values(run(read_all(settings, settings.topic_account_metrics)))
    assert_records_equal_truth(
        post_records,
        account_records,
        produced,
        WINDOW_S * 1000,
        ROLLING_S * 1000,
        platform_of=lambda a: accounts[a][0],
        followers_ok=lambda a, followers: followers in accounts[a][1],
    )
    return len(post_records), len(account_records)


def _settings(kafka_bootstrap, topics_ready, **overrides):
    return topics_ready(
        isolated_settings(
            kafka_bootstrap,
            window_seconds=WINDOW_S,
            window_grace_seconds=overrides.pop("grace_s", GRACE_S),
            rolling_window_seconds=ROLLING_S,
            commit_interval_seconds=0.3,
            **{"session_timeout_seconds": 6, **overrides},
        )
    )


def _restart(worker, sig):
    def action():
        worker.stop(sig=sig)
        worker.start()

    return action


def crash_run(kafka_bootstrap, workers, topics_ready, tmp_path, events: int, rate: float, seed: int):
    settings = _settings(kafka_bootstrap, topics_ready)
    worker = workers(settings).start()
    rng = random.Random(seed)
    moments = sorted(rng.uniform(2, events / rate - 2) for _ in range(3))
    exactness_run(
        settings,
        [worker],
        tmp_path,
        events=events,
        rate=rate,
        disruptions=[(t, _restart(worker, signal.SIGKILL)) for t in moments],
    )


@pytest.mark.integration
def test_sigkill_three_times_loses_and_doubles_nothing(kafka_bootstrap, workers, topics_ready, tmp_path):
    crash_run(kafka_bootstrap, workers, topics_ready, tmp_path, events=30_000, rate=1500, seed=1)


@pytest.mark.soak
def test_sigkill_three_times_during_200k_events(kafka_bootstrap, workers, topics_ready, tmp_path):
    crash_run(kafka_bootstrap, workers, topics_ready, tmp_path, events=200_000, rate=2500, seed=2)


@pytest.mark.integration
def test_sigterm_mid_run_then_restart_is_exact(kafka_bootstrap, workers, topics_ready, tmp_path):
    settings = _settings(kafka_bootstrap, topics_ready)
    worker = workers(settings).start()
    exactness_run(
        settings, [worker], tmp_path, events=20_000, rate=1500, disruptions=[(6, _restart(worker, signal.SIGTERM))]
    )


@pytest.mark.integration
def test_rebalance_after_a_worker_dies_is_exact(kafka_bootstrap, workers, topics_ready, tmp_path):
    settings = _settings(kafka_bootstrap, topics_ready)
    survivor, victim = workers(settings, "survivor").start(), workers(settings, "victim").start()
    wait_for(lambda: _sharing(victim, survivor), 60, "two workers sharing the partitions")
    takeover = {}

    def kill_victim():
        killed = time.monotonic()
        victim.stop(sig=signal.SIGKILL)
        wait_for(lambda: _owned_partitions(survivor) == 8, 90, "the survivor to own every partition", 0.1)
        takeover["seconds"] = time.monotonic() - killed

    exactness_run(settings, [survivor], tmp_path, events=20_000, rate=1500, disruptions=[(5, kill_victim)])
    print(
        f"\ntakeover after SIGKILL of one of two workers: {takeover['seconds']:.1f} s "
        "(consumer session timeout, rebalance, state restore)"
    )


def _pause_past_the_session_then_resume_after_a_close(paused, other, settings, seen: dict):
    """SIGSTOP `paused` for more than two session timeouts, so that `other` takes all its partitions
    and restores them, and SIGCONT it 0.3 s after a window close: the first thing the paused worker
    does is close that window, for partitions that are no longer its own."""

    def action():
        window, grace = settings.window_seconds, settings.window_grace_seconds
        earliest = time.time() + 2 * settings.session_timeout_seconds + 2
        closes_at = (earliest - grace) // window * window + window + grace  # a window end + grace
        resume_at = closes_at + 0.3
        os.kill(paused.proc.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: _owned_partitions(other) == 8, 60, "the other worker to own every partition", 0.1)
            while time.time() < resume_at:
                time.sleep(0.01)
        finally:
            os.kill(paused.proc.pid, signal.SIGCONT)
        seen["resumed_at"] = time.time()
        # the paused worker learns it lost its partitions, rejoins, and a rebalance restores them
        wait_for(lambda: _sharing(paused, other), 60, "the resumed worker to own partitions again")
        seen["rejoined_s"] = time.time() - seen["resumed_at"]

    return action


@pytest.mark.soak
def test_a_paused_worker_publishes_nothing_for_the_partitions_it_lost(kafka_bootstrap, workers, topics_ready, tmp_path):
    """A worker paused past its session timeout (a long GC pause, a frozen VM) is a zombie when it
    resumes: the others own its partitions. Whatever it had collected (final records of a window that
    closed while it slept, journal entries, offsets) must not become visible: records stay exact and
    single, and the rebalance that gives it partitions back restores exact state."""
    settings = _settings(kafka_bootstrap, topics_ready)
    paused, other = workers(settings, "paused").start(), workers(settings, "other").start()
    wait_for(lambda: _sharing(paused, other), 60, "two workers sharing the partitions")
    seen: dict = {}
    exactness_run(
        settings,
        [paused, other],
        tmp_path,
        events=30_000,
        rate=1000,
        disruptions=[(4, _pause_past_the_session_then_resume_after_a_close(paused, other, settings, seen))],
    )
    print(
        f"\npaused past the session timeout, resumed 0.3 s after a window close; rejoined with partitions "
        f"{seen['rejoined_s']:.1f} s later"
    )


@pytest.mark.integration
def test_a_restarted_worker_resumes_at_once_and_a_stopped_one_hands_over_at_once(
    kafka_bootstrap, workers, topics_ready
):
    """Static membership: a worker SIGKILLed and restarted under its id gets its partitions back
    without waiting for its dead predecessor's session to time out; a worker stopped gracefully
    leaves the group, so the other takes its partitions at once. The session timeout is long (30 s)
    so that any wait for it shows."""
    settings = _settings(kafka_bootstrap, topics_ready, session_timeout_seconds=30)
    a, b = workers(settings, "a").start(), workers(settings, "b").start()
    wait_for(lambda: _sharing(a, b), 90, "two workers sharing the partitions")
    a.stop(sig=signal.SIGKILL)
    spawned = time.monotonic()
    a.start(timeout=60)
    restarted = time.monotonic() - spawned
    stopped = time.monotonic()
    b.stop()
    wait_for(lambda: _owned_partitions(a) == 8, 60, "the survivor to own every partition", 0.1)
    handed_over = time.monotonic() - stopped
    print(
        f"\nrestart to /health with partitions: {restarted:.1f} s; graceful handover: {handed_over:.1f} s "
        "(session timeout 30 s)"
    )
    assert restarted < 15 and handed_over < 15


# Short horizons, so that an outage can outlast them by far in a test: before snapshots, a restore read
# the journal of the last 2 x (rolling + window + grace + dedup) only (62 s here) and lost the rest.
OUTAGE_DEDUP_S, OUTAGE_S = 5, 80


def _outage_settings(kafka_bootstrap, topics_ready):
    return _settings(kafka_bootstrap, topics_ready, dedup_horizon_seconds=OUTAGE_DEDUP_S, snapshot_interval_seconds=2)


@pytest.mark.soak  # two minutes of waiting out the outage: `make soak`
def test_an_outage_longer_than_every_horizon_loses_nothing(kafka_bootstrap, workers, topics_ready, tmp_path):
    """The worker is killed, the input keeps arriving for longer than every window and horizon, and the
    restarted worker counts the whole backlog (it reached Kafka on time) into exact final records."""
    settings = _outage_settings(kafka_bootstrap, topics_ready)
    worker = workers(settings).start()
    exactness_run(
        settings,
        [worker],
        tmp_path,
        events=22_000,
        rate=250,
        disruptions=[(8, lambda: worker.stop(sig=signal.SIGKILL)), (8 + OUTAGE_S, worker.start)],
    )


@pytest.mark.integration
def test_a_first_start_counts_the_backlog_already_in_kafka(kafka_bootstrap, workers, topics_ready, tmp_path):
    """No state at all (a new deployment, or state topics lost): the input already in Kafka is
    counted from the committed offset (here the beginning) on, not called late."""
    settings = _outage_settings(kafka_bootstrap, topics_ready)
    worker = workers(settings)
    exactness_run(settings, [worker], tmp_path, events=9_000, rate=300, disruptions=[(25, worker.start)])


@pytest.mark.integration
def test_broker_restart_mid_run_is_exact(workers, topics_ready, tmp_path):
    data_dir = tmp_path / "kafka"
    broker = EmbeddedKafka(data_dir=data_dir).start()
    try:
        settings = _settings(broker.bootstrap, topics_ready, grace_s=30)
        worker = workers(settings).start()

        def bounce():
            nonlocal broker
            port = broker.port
            broker.stop()
            time.sleep(3)
            broker = EmbeddedKafka(port=port, data_dir=data_dir).start()

        exactness_run(settings, [worker], tmp_path, events=15_000, rate=1000, disruptions=[(5, bounce)], grace_s=30)
        assert worker.proc.poll() is None, "the worker died instead of reconnecting"
        worker.stop()  # while its broker is still there to say goodbye to
    finally:
        broker.stop()


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
