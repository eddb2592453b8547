"""`engagement run` (what `make run` calls): the live service on embedded defaults.

Starts the embedded Kafka broker (unless KAFKA_BOOTSTRAP_SERVERS is set), one worker, the traffic
simulator, and Prometheus and Alertmanager when installed; prints what runs where; runs until Ctrl-C
or for --duration seconds, showing `engagement top` on a terminal (plain status lines otherwise);
stops everything it started and prints a summary.

By default it runs a compressed day (``compressed_day``: a model day in two minutes, every horizon
with it), so that ER per post and the alerts show within minutes; ``--real-time`` runs the service's
own defaults, and keeps the embedded broker's data and Prometheus's between runs. A compressed day
starts from nothing each time (``COMPRESSED_DIR``): the simulator does not carry on the posts of an
earlier run, so their lives in a kept state would mature with their engagement cut short (a pause of
ten minutes is five model days) and page as collapses that never happened.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..kafka.security import kafka_client_config
from ..kafka.topics import ensure_topics
from ..settings import Settings
from ..top import Top, run_plain, run_screen
from .broker import EmbeddedKafka, free_port, port_is_free
from .compressed_day import DEFAULT_DAY_SECONDS, SCRAPE_INTERVAL, CompressedDay
from .paths import RUN_DIR
from .processes import scrape, spawn, stop, wait_http

STATUS_EVERY_SECONDS = 10.0  # the plain status lines (no terminal, or --duration)
COMPRESSED_DIR = RUN_DIR / "compressed-day"  # the broker's, Prometheus's and Alertmanager's data


def _port(preferred: int) -> int:
    return preferred if port_is_free(preferred) else free_port()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engagement run", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=None, help="seconds to run (default: until Ctrl-C)")
    parser.add_argument(
        "--real-time", action="store_true", help="the service's own defaults (24 h maturity), not a compressed day"
    )
    parser.add_argument(
        "--day-seconds",
        type=float,
        default=DEFAULT_DAY_SECONDS,
        help=f"length of the compressed day (default {DEFAULT_DAY_SECONDS:g})",
    )
    args = parser.parse_args(argv)
    day = None if args.real_time else CompressedDay(args.day_seconds)
    stop_signal: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop_signal.append(signum))

    settings = Settings.from_env()
    if day is not None:
        settings = dataclasses.replace(settings, **day.settings(settings))
    data = RUN_DIR if day is None else COMPRESSED_DIR
    if day is not None:
        shutil.rmtree(COMPRESSED_DIR, ignore_errors=True)
    logs = RUN_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    broker = None
    children: list[tuple[str, subprocess.Popen]] = []  # (name, Popen), stopped in reverse order
    started = time.monotonic()
    summary: dict = {}
    try:
        if not settings.kafka_bootstrap_servers:
            print("starting the embedded Apache Kafka broker ...", flush=True)
            broker = EmbeddedKafka(data_dir=data / "kafka").start()
            settings = dataclasses.replace(settings, kafka_bootstrap_servers=broker.bootstrap)
        settings = dataclasses.replace(settings, web_port=_port(settings.web_port))
        web_port = settings.web_port
        asyncio.run(ensure_topics(settings, kafka_client_config(settings)))
        env = settings.as_env()
        worker_url = f"http://{settings.web_host}:{web_port}"
        worker = spawn([sys.executable, "-m", "streams.cli", "worker"], env, logs / "worker.log")
        children.append(("worker", worker))
        wait_http(
            f"{worker_url}/health",
            timeout=120,
            proc=worker,
            ready=lambda status, body: status == 200 and json.loads(body)["partitions"],
        )
        stats_file = RUN_DIR / "simulator-stats.json"
        stats_file.unlink(missing_ok=True)
        simulator = spawn(
            [sys.executable, "-m", "streams.cli", "simulate", "--stats-file", str(stats_file)],
            env,
            logs / "simulator.log",
        )
        children.append(("simulator", simulator))
        monitoring = _start_monitoring(worker_url, data, logs, children, day)

        print(
            f"\nKafka         {settings.kafka_bootstrap_servers}"
            f"{' (embedded, data in ' + str(broker.data_dir) + ')' if broker else ''}"
        )
        print(
            f"worker        {worker_url}  (/metrics, /health, /accounts/<id>/metrics?window=1m|1h, /posts/<id>/metrics)"
        )
        print(f"simulator     {settings.simulate_rate:g} events/s over {settings.simulate_accounts} accounts")
        print(f"time          {'real time' if day is None else day.describe(settings)}")
        for name, url in monitoring.items():
            print(f"{name:<13} {url}")
        print(f"logs          {logs}")
        print(f"running {f'for {args.duration:g}s' if args.duration else 'until Ctrl-C'} ...\n", flush=True)

        deadline = None if args.duration is None else time.monotonic() + args.duration

        def stopped() -> bool:
            for name, proc in children:
                if proc.poll() is not None and name != "simulator":
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {logs / (name + '.log')}")
            return bool(stop_signal) or (deadline is not None and time.monotonic() >= deadline)

        view = Top([worker_url], monitoring.get("prometheus"), monitoring.get("alertmanager"))
        if sys.stdout.isatty() and sys.stdin.isatty() and deadline is None:
            run_screen(view, stop=stopped)  # q or Ctrl-C: on to the summary
        else:
            run_plain(view, STATUS_EVERY_SECONDS, stop=stopped)

        stop(simulator)
        produced = json.loads(stats_file.read_text()) if stats_file.exists() else {}
        summary = {"events_produced": produced.get("events_produced", 0), **_drain(worker_url, produced)}
    finally:
        for _name, proc in reversed(children):
            stop(proc)
        if broker is not None:
            broker.stop()
    summary["seconds"] = round(time.monotonic() - started, 1)
    print("summary " + json.dumps(summary), flush=True)
    return 0


def _drain(worker_url: str, produced: dict, timeout: float = 15.0) -> dict:
    """Let the worker finish what the simulator sent, then read its accounting counters."""
    deadline = time.monotonic() + timeout
    target = produced.get("events_produced", 0)
    while True:
        metrics = scrape(f"{worker_url}/metrics")
        consumed = int(metrics.get("engagement_events_consumed_total", 0))
        if consumed >= target or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    rejected = sum(v for k, v in metrics.items() if k.startswith("engagement_events_rejected_total{"))
    return {
        "events_consumed_by_worker": consumed,
        "events_counted": int(metrics.get("engagement_events_counted_total", 0)),
        "events_duplicate": int(metrics.get("engagement_events_duplicate_total", 0)),
        "events_rejected": int(rejected),
    }


def _start_monitoring(
    worker_url: str, data: Path, logs: Path, children: list, day: CompressedDay | None
) -> dict[str, str]:
    """Prometheus and Alertmanager (Debian packages) with the project's config, when installed; on a
    compressed day, scraping every second with the rules' durations compressed too."""
    from .prometheus import start_prometheus_stack  # noqa: PLC0415 (optional part of the stack)

    if not shutil.which("prometheus"):
        print("prometheus is not installed (make bootstrap installs it): running without it")
        return {}
    target = [worker_url.removeprefix("http://")]
    if day is None:
        return start_prometheus_stack(target, data, logs, children)
    return start_prometheus_stack(target, data, logs, children, SCRAPE_INTERVAL, day.rules)
