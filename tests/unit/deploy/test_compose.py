"""docker-compose.yml against the compose specification, the worker's healthcheck, the delivery of
Alertmanager's notifications inside compose, and the Dockerfile's layer order. Docker does not run
here: the healthcheck command and the webhook receiver are run on this machine instead, and the
real Alertmanager (Debian's prometheus-alertmanager, when installed) delivers to the receiver.

The schema is the compose specification's JSON schema as check-jsonschema ships it (its
`vendor.compose-spec` built-in schema, from the compose-spec project).
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest
import yaml

from streams.devtools.prometheus import alertmanager_binary, write_alertmanager_config
from streams.settings import Settings
from tests.fixtures.paths import REPO

COMPOSE = REPO / "docker-compose.yml"
RECEIVER = REPO / "deploy" / "alertmanager" / "webhook_receiver.py"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def compose_spec() -> dict:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text())


def spec_problems(document: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(compose_spec())
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


# ------------------------------------------------------------------------------------------------
# The compose specification


def test_compose_file_follows_the_compose_specification():
    assert compose_spec()["title"] == "Compose Specification"
    assert spec_problems(compose()) == []


@pytest.mark.parametrize(
    "breakage", ["misspelt healthcheck key", "unknown depends_on condition", "unknown service key", "ports not a list"]
)
def test_compose_specification_check_catches_breakage(breakage):
    document = copy.deepcopy(compose())
    worker = document["services"]["worker"]
    if breakage == "misspelt healthcheck key":
        worker["healthcheck"]["start-period"] = worker["healthcheck"].pop("start_period")
    elif breakage == "unknown depends_on condition":
        document["services"]["simulator"]["depends_on"]["worker"]["condition"] = "service_ready"
    elif breakage == "unknown service key":
        worker["replicas"] = 2
    elif breakage == "ports not a list":
        document["services"]["grafana"]["ports"] = "3000:3000"
    assert spec_problems(document)


# ------------------------------------------------------------------------------------------------
# The worker's healthcheck: readiness


def _worker_env() -> dict[str, str]:
    return {k: str(v) for k, v in compose()["services"]["worker"]["environment"].items()}


def test_worker_healthcheck_is_its_readiness():
    services = compose()["services"]
    check = services["worker"]["healthcheck"]
    kind, program, flag, code = check["test"]
    assert (kind, program, flag) == ("CMD", "python", "-c")  # python:3.11-slim has no curl or wget
    urls = re.findall(r"'(http://[^']+)'", code)
    assert urls == [f"http://127.0.0.1:{_worker_env()['ENGAGEMENT_WEB_PORT']}/ready"]
    assert services["simulator"]["depends_on"]["worker"] == {"condition": "service_healthy"}
    # A restore may take a while: failures during the start period do not count.
    assert check["start_period"] == "120s"


class _StandIn(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802
        self.send_response(self.status if self.path == "/ready" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


def _run_healthcheck(port: int) -> int:
    kind, program, flag, code = compose()["services"]["worker"]["healthcheck"]["test"]
    code = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", code)
    return subprocess.run([sys.executable, flag, code], capture_output=True, timeout=30).returncode


def test_worker_healthcheck_command_fails_unless_ready():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _StandIn.status = 200
        assert _run_healthcheck(port) == 0
        _StandIn.status = 503  # /ready while restoring
        assert _run_healthcheck(port) != 0
    finally:
        server.shutdown()
        server.server_close()
    assert _run_healthcheck(port) != 0  # nothing listening


# ------------------------------------------------------------------------------------------------
# Alertmanager's notifications reach a receiver inside compose


def _mounted_config(service: dict, container_path: str) -> Path:
    for volume in service["volumes"]:
        host, target = volume.split(":")[:2]
        target = target.rstrip("/")
        if container_path == target:
            return (REPO / host).resolve()
        if container_path.startswith(target + "/"):
            return (REPO / host / container_path[len(target) + 1 :]).resolve()
    raise AssertionError(f"{container_path} is not mounted from the repo")


def _webhook_addresses(config: dict) -> set[str]:
    return {
        re.match(r"http://([^/]+)/", hook["url"]).group(1)
        for receiver in config["receivers"]
        for hook in receiver.get("webhook_configs", [])
    }


def test_alertmanager_webhooks_reach_the_receiver():
    services = compose()["services"]
    alertmanager = services["alertmanager"]
    flag = next(a for a in alertmanager["command"] if a.startswith("--config.file="))
    config = _mounted_config(alertmanager, flag.split("=", 1)[1])
    assert config == REPO / "deploy" / "alertmanager" / "alertmanager.yml"  # the one the tests use
    addresses = _webhook_addresses(yaml.safe_load(config.read_text()))
    # 127.0.0.1 inside the Alertmanager container: a service sharing its network namespace.
    receivers = {name: s for name, s in services.items() if s.get("network_mode") == "service:alertmanager"}
    assert list(receivers) == ["alert-receiver"]
    receiver = receivers["alert-receiver"]
    command = receiver["command"]
    assert addresses == {command[command.index("--listen") + 1]} == {"127.0.0.1:9095"}
    assert _mounted_config(receiver, command[1]) == RECEIVER
    assert receiver["image"] == "python:3.11-slim"  # the Dockerfile's base: nothing else to pull


class _Receiver:
    """deploy/alertmanager/webhook_receiver.py on a free port; its output lines in a queue."""

    def __enter__(self):
        self.proc = subprocess.Popen(
            [sys.executable, str(RECEIVER), "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True
        )
        first = self.proc.stdout.readline()
        self.port = int(re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", first).group(1))
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout], daemon=True).start()
        return self

    def next_line(self, timeout: float) -> dict:
        return json.loads(self.lines.get(timeout=timeout))

    def __exit__(self, *exc):
        self.proc.terminate()
        assert self.proc.wait(timeout=10) == 0  # SIGTERM: a clean exit (a container's first process)


def test_receiver_logs_each_alert():
    notification = {
        "version": "4",
        "receiver": "platform-oncall",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "EngagementWorkerDown", "team": "platform"},
                "annotations": {"summary": "down"},
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
            },
            {
                "status": "resolved",
                "labels": {"alertname": "EngagementRejectRateHigh"},
                "annotations": {},
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "2026-01-01T00:05:00Z",
            },
        ],
    }
    with _Receiver() as receiver:
        request = urllib.request.Request(
            f"http://127.0.0.1:{receiver.port}/hook/platform",
            data=json.dumps(notification).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        assert [receiver.next_line(5), receiver.next_line(5)] == [
            {
                "receiver": "platform",
                "status": "firing",
                "alertname": "EngagementWorkerDown",
                "labels": {"alertname": "EngagementWorkerDown", "team": "platform"},
                "summary": "down",
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
            },
            {
                "receiver": "platform",
                "status": "resolved",
                "alertname": "EngagementRejectRateHigh",
                "labels": {"alertname": "EngagementRejectRateHigh"},
                "summary": None,
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "2026-01-01T00:05:00Z",
            },
        ]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_alertmanager_delivers_to_the_receiver(tmp_path):
    """The real Alertmanager on the project's config, its webhook address moved from 127.0.0.1:9095
    (where compose's receiver listens) to the receiver's free port: a posted alert is logged."""
    binary = alertmanager_binary()
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed (Debian: apt-get install prometheus-alertmanager)")
    with _Receiver() as receiver:
        config = write_alertmanager_config(tmp_path / "am", f"127.0.0.1:{receiver.port}", group_wait="1s")
        port = _free_port()
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline and proc.poll() is None, "alertmanager did not start"
                    time.sleep(0.2)
            alert = [
                {
                    "labels": {
                        "alertname": "EngagementWorkerDown",
                        "team": "platform",
                        "service": "engagement",
                        "severity": "critical",
                    },
                    "startsAt": datetime.now(UTC).isoformat(),
                }
            ]
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v2/alerts",
                data=json.dumps(alert).encode(),
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=5).close()
            line = receiver.next_line(30)
            assert (line["receiver"], line["status"], line["alertname"]) == (
                "platform",
                "firing",
                "EngagementWorkerDown",
            )
        finally:
            proc.terminate()
            proc.wait(timeout=10)


# ------------------------------------------------------------------------------------------------
# The image


def test_dockerfile_installs_dependencies_before_the_code():
    """In the image's stage, only pyproject.toml is copied before the dependencies are installed, and
    the service (the wheel) after: a code change does not reinstall them."""
    final_stage = re.split(r"^FROM ", (REPO / "Dockerfile").read_text(), flags=re.M)[-1]
    instructions = [
        line.split()[0] + " " + " ".join(line.split()[1:3])
        for line in re.sub(r"\\\n", " ", final_stage).splitlines()
        if line.split() and line.split()[0] in ("COPY", "RUN")
    ]
    assert instructions == ["COPY pyproject.toml ./", "RUN python -c", "COPY --from=wheel /wheels", "RUN pip install"]
    assert "pip install -r requirements.txt" in final_stage
    assert "pip install --no-deps /wheels/" in final_stage


def test_workers_and_simulator_share_the_built_image():
    services = compose()["services"]
    assert services["worker"]["image"] == services["simulator"]["image"]
    assert services["worker"]["build"] == services["simulator"]["build"] == "."
    # deploy/k8s runs the same name:tag (tests/unit/deploy/test_k8s.py, test_image_is_the_one_compose_builds).


def test_the_worker_s_stop_grace_period_outlasts_its_own_shutdown_deadline():
    """Compose kills a container 10 s after SIGTERM unless told otherwise; the worker's own deadline
    (streams/api/shutdown.py) must come first."""
    settings = Settings.from_env({k: v for k, v in _worker_env().items() if k.startswith("ENGAGEMENT_")})
    grace = compose()["services"]["worker"]["stop_grace_period"]
    assert re.fullmatch(r"\d+s", grace), grace
    assert int(grace[:-1]) >= settings.shutdown_timeout_seconds + 10
