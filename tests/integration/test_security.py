"""Authenticated connections (SASL/SCRAM-SHA-512 on a broker of the test's own) and the hardened,
read-only HTTP API."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from streams.devtools.broker import EmbeddedKafka
from streams.devtools.processes import http_get
from streams.kafka.security import kafka_client_config
from streams.kafka.topics import ensure_topics
from streams.settings import Settings
from tests.fixtures.kafka import SASL_PASSWORD, SASL_USER, isolated_settings, keyed_events, run


def sasl_settings(bootstrap: str, **overrides) -> Settings:
    return isolated_settings(
        bootstrap,
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=SASL_USER,
        kafka_sasl_password=SASL_PASSWORD,
        **overrides,
    )


@pytest.fixture(scope="module")
def sasl_broker():
    """A fresh broker with a SCRAM-SHA-512 listener and one user (not the session's broker)."""
    with EmbeddedKafka(sasl_users={SASL_USER: SASL_PASSWORD}) as broker:
        yield broker


# --- SASL on a real broker ----------------------------------------------------------------------------


async def _produce_over_sasl(settings: Settings, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, enable_idempotence=True, **kafka_client_config(settings)
    )
    await producer.start()
    try:
        futures = [await producer.send(settings.topic_interactions, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@pytest.mark.integration
def test_worker_counts_exactly_over_sasl_and_never_shows_the_password(sasl_broker, workers):
    settings = sasl_settings(sasl_broker.sasl_bootstrap)
    run(asyncio.wait_for(ensure_topics(settings, kafka_client_config(settings)), 60))
    sent = 300
    messages = keyed_events(sent, type_="like", platform="linkedin", accounts=7, posts=3, prefix="s")
    run(asyncio.wait_for(_produce_over_sasl(settings, messages), 60))

    worker = workers(settings).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and worker.metrics().get("engagement_events_counted_total", 0) < sent:
        time.sleep(0.5)
    time.sleep(1)  # anything beyond the count would show now
    metrics = worker.metrics()
    assert metrics["engagement_events_counted_total"] == sent
    assert metrics["engagement_events_consumed_total"] == sent

    _, exposition = http_get(f"{worker.url}/metrics")
    _, health = http_get(f"{worker.url}/health")
    assert b"engagement_events_counted_total" in exposition
    assert SASL_PASSWORD.encode() not in exposition and SASL_PASSWORD.encode() not in health
    log = worker.log.read_text(errors="replace")
    assert "engine started" in log  # the log is the worker's, written at level info
    assert SASL_PASSWORD not in log
    assert SASL_PASSWORD not in repr(worker.settings)
    assert SASL_PASSWORD not in sasl_broker.log_tail(10_000_000)
    assert SASL_PASSWORD not in (sasl_broker.data_dir / "server.properties").read_text()


@pytest.mark.integration
def test_simulator_produces_over_sasl(sasl_broker):
    from streams.simulator import run_simulator

    settings = sasl_settings(sasl_broker.sasl_bootstrap)
    stats = run(asyncio.wait_for(run_simulator(settings, rate=1000, n_accounts=3, max_events=100), 90))
    assert stats["events_produced"] == 100 and stats["send_errors"] == 0


async def _try_producing(bootstrap: str, config: dict) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **config)
    try:
        await producer.start()
        await producer.send_and_wait("security-probe", b"x")
    finally:
        await producer.stop()


@pytest.mark.integration
@pytest.mark.parametrize("case", ["no credentials", "wrong password", "unknown user", "plaintext listener"])
def test_sasl_listener_refuses_clients_without_valid_credentials(sasl_broker, case):
    good = kafka_client_config(sasl_settings(sasl_broker.sasl_bootstrap))
    # The control: the right credentials are accepted, so a refusal below is about the credentials.
    run(asyncio.wait_for(_try_producing(sasl_broker.sasl_bootstrap, good), 60))
    config = {
        "no credentials": {},
        "wrong password": {**good, "sasl_plain_password": SASL_PASSWORD + "x"},
        "unknown user": {**good, "sasl_plain_username": "mallory"},
        # SASL credentials offered to a listener that speaks no SASL fail as well.
        "plaintext listener": good,
    }[case]
    bootstrap = sasl_broker.bootstrap if case == "plaintext listener" else sasl_broker.sasl_bootstrap
    with pytest.raises(KafkaError):
        run(asyncio.wait_for(_try_producing(bootstrap, config), 60))


# --- the HTTP API ---------------------------------------------------------------------------------------


def _request(url: str, method: str, path: str) -> tuple[int, dict, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=b"{}" if method in ("POST", "PUT", "PATCH") else None)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _raw_status(url: str, data: bytes) -> int:
    """Send raw bytes, return the status code of the answer (0: the server closed without one)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except ConnectionResetError:
            pass
    status_line = answer.split(b"\r\n", 1)[0].split()
    return int(status_line[1]) if len(status_line) >= 2 and status_line[0].startswith(b"HTTP/") else 0


@pytest.mark.integration
def test_http_api_is_read_only_bounded_and_never_5xx(sasl_broker, workers):
    worker = workers(sasl_settings(sasl_broker.sasl_bootstrap)).start()
    statuses = []

    for path in ("/posts/p1/metrics", "/accounts/a1/metrics", "/metrics", "/health"):
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            status, headers, body = _request(worker.url, method, path)
            statuses.append(status)
            assert status == 405, (method, path, status, body)
            assert "GET" in headers.get("allow", ""), headers
            assert "error" in json.loads(body)

    for name in ("posts", "accounts"):
        status, _, body = _request(worker.url, "GET", f"/{name}/{'x' * 201}/metrics")
        statuses.append(status)
        assert status == 400 and "longer than 200" in json.loads(body)["error"], (status, body)
        status, _, body = _request(worker.url, "GET", f"/{name}/{'%41' * 201}/metrics")  # 201 once decoded
        statuses.append(status)
        assert status == 400, (status, body)
        status, _, body = _request(worker.url, "GET", f"/{name}/{'x' * 200}/metrics")  # the limit itself
        statuses.append(status)
        assert status == 404 and "error" in json.loads(body), (status, body)

    status, _, body = _request(worker.url, "GET", "/accounts/a1/metrics?window=garbage")
    statuses.append(status)
    assert status == 400 and "window" in json.loads(body)["error"]
    status, _, body = _request(worker.url, "GET", "/nowhere")
    statuses.append(status)
    assert status == 404 and "error" in json.loads(body)

    huge_line = b"GET /posts/" + b"y" * 100_000 + b"/metrics HTTP/1.1\r\nHost: x\r\n\r\n"
    huge_header = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"z" * 100_000 + b"\r\n\r\n"
    many_headers = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(500)) + b"\r\n"
    garbage = b"\x00\x01\x02 nonsense \xff\r\n\r\n"
    for data in (huge_line, huge_header, many_headers, garbage):
        status = _raw_status(worker.url, data)
        statuses.append(status)
        assert 400 <= status < 500, (data[:60], status)

    # The worker is still fine and nothing above was a server error.
    assert http_get(f"{worker.url}/health")[0] == 200
    assert not [s for s in statuses if s >= 500]
    assert worker.proc.poll() is None
