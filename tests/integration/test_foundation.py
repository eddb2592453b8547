"""The foundation: a real broker the project starts itself, and a worker that consumes from it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import orjson
import pytest

from tests.fixtures.kafka import isolated_settings, keyed_events, produce, read_all, run


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) is gone for our purpose.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split()[2] != "Z"


def _start_broker_cli() -> tuple[subprocess.Popen, str, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "broker"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return proc


def _read_broker_banner(proc: subprocess.Popen) -> tuple[str, int]:
    bootstrap = java_pid = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (bootstrap is None or java_pid is None):
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("KAFKA_BOOTSTRAP_SERVERS="):
            bootstrap = line.strip().split("=", 1)[1]
        match = re.search(r"\bpid (\d+)", line)
        if match:
            java_pid = int(match.group(1))
    assert bootstrap and java_pid, f"broker did not print its address and pid (exit {proc.poll()})"
    return bootstrap, java_pid


@pytest.mark.integration  # starts `engagement broker` itself (the Kafka jars), not through kafka_bootstrap
def test_two_brokers_at_once_get_different_ports_and_sigterm_leaves_no_java():
    first, second = _start_broker_cli(), _start_broker_cli()
    try:
        (addr1, java1), (addr2, java2) = _read_broker_banner(first), _read_broker_banner(second)
        assert addr1 != addr2
        assert _alive(java1) and _alive(java2)
        first.send_signal(signal.SIGTERM)
        second.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0 and second.wait(60) == 0
        assert not _alive(java1) and not _alive(java2)
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()


@pytest.mark.integration  # starts `engagement broker` itself (the Kafka jars)
def test_killing_the_parent_outright_still_leaves_no_java():
    proc = _start_broker_cli()
    try:
        _, java_pid = _read_broker_banner(proc)
        proc.send_signal(signal.SIGKILL)  # no chance to clean up: the kernel's parent-death signal must
        proc.wait(10)
        deadline = time.monotonic() + 10
        while _alive(java_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(java_pid)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_worker_on_the_real_broker_consumes_the_exact_count(kafka_bootstrap, workers, topics_ready):
    settings = topics_ready(isolated_settings(kafka_bootstrap))
    sent = 2500
    messages = keyed_events(sent, type_="impression", platform="instagram", accounts=17, posts=5, prefix="e")
    run(produce(settings, settings.topic_interactions, messages))
    worker = workers(settings).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        metrics = worker.metrics()
        if metrics.get("engagement_events_consumed_total", 0) >= sent:
            break
        time.sleep(0.5)
    time.sleep(1)  # anything beyond the count would show now
    metrics = worker.metrics()
    assert metrics["engagement_events_consumed_total"] == sent
    assert metrics["engagement_events_counted_total"] == sent
    assert metrics['engagement_interactions_total{platform="instagram",type="impression"}'] == sent


def test_reference_agents_consume_every_record_and_reject_the_invalid(kafka_bootstrap, workers, topics_ready):
    """The Faust app's agents on the accounts and posts topics: exact counts, and each invalid record
    in the DLQ with its reason and source topic."""
    settings = topics_ready(isolated_settings(kafka_bootstrap))
    accounts = [
        (f"acct-{i}".encode(), orjson.dumps({"account_id": f"acct-{i}", "platform": "x", "followers": i}))
        for i in range(40)
    ]
    bad_accounts = {
        b"{not json": "malformed_json",
        orjson.dumps({"account_id": "a", "platform": "x"}): "schema:followers",
        orjson.dumps({"account_id": "a", "platform": "x", "followers": -5}): "schema:followers",
        orjson.dumps({"account_id": "a", "platform": "myspace", "followers": 5}): "schema:platform",
        orjson.dumps([1, 2]): "schema:event",
    }
    post = {
        "post_id": "p",
        "account_id": "a",
        "platform": "x",
        "published_at": 1_760_000_000_000,
        "content_type": "video",
    }
    posts = [(f"p-{i}".encode(), orjson.dumps({**post, "post_id": f"p-{i}"})) for i in range(30)]
    bad_posts = {
        orjson.dumps({**post, "content_type": "hologram"}): "schema:content_type",
        orjson.dumps({k: v for k, v in post.items() if k != "published_at"}): "schema:published_at",
        orjson.dumps({**post, "published_at": "yesterday"}): "schema:published_at",
        b"[": "malformed_json",
    }
    run(produce(settings, settings.topic_accounts, accounts + [(b"bad", value) for value in bad_accounts]))
    run(produce(settings, settings.topic_posts, posts + [(b"bad", value) for value in bad_posts]))
    worker = workers(settings).start()
    expected = {
        ("account", "valid"): len(accounts),
        ("account", "rejected"): len(bad_accounts),
        ("post", "valid"): len(posts),
        ("post", "rejected"): len(bad_posts),
    }
    key = 'engagement_reference_records_total{kind="%s",outcome="%s"}'
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        metrics = worker.metrics()
        if sum(metrics.get(key % k, 0) for k in expected) >= sum(expected.values()):
            break
        time.sleep(0.5)
    time.sleep(1)  # anything beyond the count would show now
    metrics = worker.metrics()
    assert {k: metrics.get(key % k) for k in expected} == expected
    dlq = [orjson.loads(m.value) for m in run(read_all(settings, settings.topic_dlq))]
    for topic, invalid in ((settings.topic_accounts, bad_accounts), (settings.topic_posts, bad_posts)):
        assert sorted(r["reason"] for r in dlq if r["source"]["topic"] == topic) == sorted(invalid.values())
    assert len(dlq) == len(bad_accounts) + len(bad_posts)
