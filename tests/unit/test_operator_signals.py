"""What operators read of a worker: /metrics with the process, the garbage collector and the build and
without `_created` series, JSON log lines with the engine's partitions and commit, and a port that
serves the documented endpoints only (no broker: the worker's app is loaded, its web routes built and
asked in-process, and a fresh interpreter shows what loading it changes)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import platform
import re
import subprocess
import sys
from importlib.metadata import version

import pytest
from aiohttp.test_utils import TestClient, TestServer

from streams.engine.parts import OwnedPartitions
from streams.engine.recovery import Recovery
from streams.logs import JsonFormatter, faust_logging_config
from streams.metrics import Metrics
from streams.settings import Settings, SettingsError

# -- /metrics ---------------------------------------------------------------------------------------------


def families(exposition: bytes) -> set[str]:
    return {line.split()[2] for line in exposition.decode().splitlines() if line.startswith("# TYPE ")}


def test_metrics_carry_the_process_the_garbage_collector_and_the_build():
    text = Metrics().exposition()
    assert {f for f in families(text) if f.startswith(("process_", "python_"))} == {
        "process_virtual_memory_bytes",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "python_gc_objects_collected_total",
        "python_gc_objects_uncollectable_total",
        "python_gc_collections_total",
    }
    lines = text.decode().splitlines()
    build = f'python="{platform.python_version()}",version="{version("engagement-streams")}"'
    assert f"engagement_build_info{{{build}}} 1.0" in lines
    rss = next(float(line.split()[1]) for line in lines if line.startswith("process_resident_memory_bytes "))
    assert rss > 10e6  # this interpreter, numpy and prometheus_client loaded: tens of MB


# What a worker's interpreter does once Faust has loaded the app (`-A streams.api.app:app`) and set up
# its logging (Faust's worker hands app.conf.logging_config to mode's setup_logging), then an engine
# line and the exposition its /metrics serves.
WORKER = """
import logging, sys
from mode.utils.logging import setup_logging
import streams.api.app as api
setup_logging(loglevel="info", logging_config=dict(api.app.conf.logging_config or {}) or None)
logging.getLogger("streams.engine.checkpoint").info("commit of %d records", 12, extra={
    "partitions": [0, 3], "commit": {0: 818, 3: 802}})
from streams.metrics import Metrics
sys.stdout.write(Metrics().exposition().decode())
"""
ONLY_METRICS = "import sys; from streams.metrics import Metrics; sys.stdout.write(Metrics().exposition().decode())"


def python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ENGAGEMENT_")}
    return subprocess.run(
        [sys.executable, "-c", code], env={**environ, **env}, capture_output=True, text=True, timeout=120, check=True
    )


@pytest.fixture(scope="module")
def json_worker() -> subprocess.CompletedProcess:
    return python(WORKER, ENGAGEMENT_LOG_FORMAT="json")


def test_the_worker_exports_no_created_series(json_worker):
    without_the_app = python(ONLY_METRICS).stdout
    assert "engagement_events_consumed_created" in without_the_app  # prometheus_client's default
    assert "engagement_events_consumed_total 0.0" in json_worker.stdout
    assert [line for line in json_worker.stdout.splitlines() if "_created" in line] == []


# -- logs -------------------------------------------------------------------------------------------------
def test_json_logs_are_one_object_per_line_with_the_engine_fields(json_worker):
    [line] = json_worker.stderr.splitlines()
    record = json.loads(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", record.pop("time"))
    assert record == {
        "level": "info",
        "logger": "streams.engine.checkpoint",
        "message": "commit of 12 records",
        "partitions": [0, 3],
        "commit": {"0": 818, "3": 802},
    }


def test_text_logs_are_fausts_own():
    assert faust_logging_config("text") is None
    assert re.fullmatch(
        r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] \[\d+\] \[INFO\] commit of 12 records \n",
        python(WORKER, ENGAGEMENT_LOG_FORMAT="text").stderr,
    )


def test_the_formatter_keeps_the_traceback_and_leaves_out_other_attributes():
    try:
        raise OSError("cluster unreachable")
    except OSError:
        record = logging.LogRecord(
            "streams.engine.recovery",
            logging.WARNING,
            __file__,
            1,
            "recovery failed; retrying in %.1f s",
            (0.5,),
            sys.exc_info(),
        )
    record.created, record.partitions, record.taskName = 1767225600.25, [1], "loop"
    line = json.loads(JsonFormatter().format(record))
    assert line.pop("exception").splitlines()[-1] == "OSError: cluster unreachable"
    assert line == {
        "time": "2026-01-01T00:00:00.250+00:00",
        "level": "warning",
        "logger": "streams.engine.recovery",
        "message": "recovery failed; retrying in 0.5 s",
        "partitions": [1],
    }


def test_an_engine_line_carries_its_partitions(monkeypatch, caplog):
    owned = OwnedPartitions()
    owned.states.update({3: None, 0: None})
    recovery = Recovery(Settings.from_env({}), None, {}, None, None, owned, None, None)

    async def recovered() -> None:
        pass

    monkeypatch.setattr(recovery, "_recover", recovered)
    with caplog.at_level(logging.INFO, logger="streams.engine.recovery"):
        asyncio.run(recovery.recover_with_retries())
    [record] = [r for r in caplog.records if r.getMessage() == "recovered: 2 partitions restored"]
    assert json.loads(JsonFormatter().format(record))["partitions"] == [0, 3]


def test_the_log_format_is_a_checked_setting():
    assert Settings.from_env({"ENGAGEMENT_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({"ENGAGEMENT_LOG_FORMAT": "xml"})
    assert str(exc.value) == "ENGAGEMENT_LOG_FORMAT='xml': must be one of text, json"


# -- the HTTP port ----------------------------------------------------------------------------------------
def test_the_port_serves_the_documented_endpoints_only():
    from streams.api import app as api
    from streams.api.views import ROUTES

    web = api.app.web
    if not web.blueprints.applied:
        web.init_server()  # what the worker does when its web server starts: Faust's blueprints, then ours
    # Faust's index at / is the one of its pages without a setting: the app's middleware answers 404.
    assert {route.resource.canonical for route in web.web_app.router.routes()} == set(ROUTES) | {"/"}

    async def statuses(paths: list[str]) -> dict[str, tuple[int, dict]]:
        async with TestClient(TestServer(web.web_app)) as client:
            answers = {}
            for path in paths:
                response = await client.get(path)
                answers[path] = (response.status, await response.json())
            return answers

    faust_pages = ["/", "/table/", "/router/", "/assignment/", "/graph/", "/stats/", "/performance/"]
    documented = ["/posts/p-1/metrics", "/accounts/a-1/metrics", "/metrics", "/live", "/ready", "/health"]
    answers = asyncio.run(statuses(faust_pages + documented))
    assert [answers[path] for path in faust_pages] == [(404, {"error": "Not Found"})] * len(faust_pages)
    # The engine is not started here: each documented endpoint answers as it does before the engine runs.
    assert {path: status for path, (status, _) in answers.items() if path in documented} == {
        "/posts/p-1/metrics": 503,
        "/accounts/a-1/metrics": 503,
        "/metrics": 503,
        "/live": 200,
        "/ready": 503,
        "/health": 503,
    }
