"""The live part of the long benchmarks (``make bench-scale``, ``make bench-week``): one worker and the
simulator as child processes, the worker's RSS and /metrics sampled every few seconds, SIGKILL
restarts timed from spawn to /health answering, to counting again and to caught up."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from ...settings import Settings, topics_named
from ..broker import EmbeddedKafka, free_port
from ..paths import REPO, RUN_DIR
from ..processes import http_get, scrape, spawn, stop

SAMPLE_SECONDS = 5.0
RESTART_POLL_SECONDS = 0.1
CAUGHT_UP_SECONDS_OF_TRAFFIC = 1.0  # caught up: the consumer lag is under this much traffic
RESTART_TIMEOUT_SECONDS = 180.0


# What every sample holds of /metrics, beside the RSS: name in the sample -> the gauge.
GAUGES = {
    "counted": "engagement_events_counted_total",
    "dedup_ids": "engagement_dedup_remembered_ids",
    "open_windows": "engagement_open_windows",
}


def log(message: str, tag: str = "scale") -> None:
    print(f"[{tag} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def bench_stack(kind: str, **overrides) -> Iterator[tuple[Path, Settings]]:
    """A run directory, and the settings of a run with topics and a group of its own (``<kind>-<tag>``)
    on the cluster KAFKA_BOOTSTRAP_SERVERS names, else on an embedded broker stopped on exit."""
    run_dir = RUN_DIR / f"bench-{kind}" / time.strftime("%Y%m%dT%H%M%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    broker = None
    bootstrap = Settings.from_env().kafka_bootstrap_servers
    if not bootstrap:
        broker = EmbeddedKafka().start()
        bootstrap = broker.bootstrap
    name = f"{kind}-{uuid.uuid4().hex[:8]}"
    try:
        yield (
            run_dir,
            Settings.from_env(
                kafka_bootstrap_servers=bootstrap,
                app_id=name,
                web_port=free_port(),
                log_level="info",
                **topics_named(name),  # type: ignore[arg-type]  # topic names only, never "env"
                **overrides,
            ),
        )
    finally:
        if broker is not None:
            broker.stop()


def write_result(kind: str, result: dict) -> Path:
    """bench/results/<kind>-<UTC time>.json"""
    out = REPO / "bench" / "results" / f"{kind}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    return out


def rss_mb(pid: int, field: str = "VmRSS") -> float | None:
    """The process's resident memory (``VmHWM``: its peak so far), MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def lag_messages(samples: dict[str, float]) -> float | None:
    lags = [v for k, v in samples.items() if k.startswith("engagement_consumer_lag_messages{")]
    return sum(lags) if lags else None


class LiveRun:
    """``gauges``: what each sample holds of /metrics beside GAUGES (name -> gauge)."""

    def __init__(
        self, settings: Settings, rate: float, accounts: int, run_dir: Path, gauges: dict[str, str] | None = None
    ):
        self.settings, self.rate, self.accounts, self.run_dir = settings, rate, accounts, run_dir
        self.gauges = {**GAUGES, **(gauges or {})}
        self.url = f"http://127.0.0.1:{settings.web_port}"
        self.worker: subprocess.Popen = None  # type: ignore[assignment]  # spawned by start()
        self.simulator: subprocess.Popen = None  # type: ignore[assignment]  # spawned by start()
        self.started = time.monotonic()
        self.samples: list[dict] = []
        self.restarts: list[dict] = []

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def spawn_worker(self) -> None:
        self.worker = spawn(
            [sys.executable, "-m", "streams.cli", "worker"],
            self.settings.as_env(),
            self.run_dir / f"worker-{len(self.restarts)}.log",
        )

    def start(self, simulator_at: float | None = None) -> None:
        """Spawn the worker, and once it answers the simulator (at ``simulator_at``, epoch s, if given)."""
        self.spawn_worker()
        self._wait_for_health()
        if simulator_at is not None:
            time.sleep(max(0.0, simulator_at - time.time()))
        self.simulator = spawn(
            [
                sys.executable,
                "-m",
                "streams.cli",
                "simulate",
                "--rate",
                str(self.rate),
                "--accounts",
                str(self.accounts),
            ],
            self.settings.as_env(),
            self.run_dir / "simulator.log",
        )
        self.started = time.monotonic()

    def metrics(self) -> dict[str, float] | None:
        try:
            return scrape(f"{self.url}/metrics")
        except (OSError, ValueError):  # not answering yet, or 503 while the engine starts
            return None

    def wait_until(self, ready, what: str, timeout: float = RESTART_TIMEOUT_SECONDS) -> float:
        begun = time.monotonic()
        while time.monotonic() - begun < timeout:
            if self.worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({self.worker.returncode}) waiting for {what}")
            if ready(self.metrics()):
                return round(time.monotonic() - begun, 2)
            time.sleep(RESTART_POLL_SECONDS)
        raise TimeoutError(f"{what}: not within {timeout:.0f} s")

    def sample(self) -> None:
        m = self.metrics() or {}
        self.samples.append(
            {
                "t": self.elapsed(),
                "rss_mb": rss_mb(self.worker.pid),
                "rss_peak_mb": rss_mb(self.worker.pid, "VmHWM"),
                "lag_messages": lag_messages(m),
                "dedup_mb": round(m.get("engagement_dedup_memory_bytes", 0) / 2**20, 1),
                **{name: m.get(gauge) for name, gauge in self.gauges.items()},
            }
        )

    def sample_until(self, ready: Callable[[dict], bool], timeout_s: float) -> dict:
        """Sample every second until ``ready(sample)`` or ``timeout_s``: the last sample."""
        deadline = time.monotonic() + timeout_s
        self.sample()
        while not ready(self.samples[-1]) and time.monotonic() < deadline:
            time.sleep(1.0)
            self.sample()
        return dict(self.samples[-1])

    def run_until(self, t: float) -> None:
        while self.elapsed() < t:
            if self.simulator.poll() is not None:
                raise RuntimeError(f"the simulator exited ({self.simulator.returncode})")
            self.sample()
            time.sleep(max(0.0, min(SAMPLE_SECONDS, t - self.elapsed())))

    def restart(self) -> dict:
        """SIGKILL the worker, spawn another; seconds from spawn to each milestone."""
        uptime = self.elapsed()
        log(f"SIGKILL after {uptime / 60:.1f} min; spawning a new worker")
        stop(self.worker, sig=9)
        spawned = time.monotonic()
        self.spawn_worker()
        # From spawn, not after /health: a partition counts once it is restored, /health is ok once
        # every one of them is.
        self.wait_until(lambda m: m and m.get("engagement_events_counted_total", 0) > 0, "counting again")
        counting = time.monotonic() - spawned
        partitions = self.settings.topic_partitions
        self.wait_until(lambda m: m and m.get("engagement_partitions_assigned", 0) >= partitions, "all partitions")
        all_partitions = time.monotonic() - spawned
        self._wait_for_health()
        health = time.monotonic() - spawned
        threshold = self.rate * CAUGHT_UP_SECONDS_OF_TRAFFIC
        self.wait_until(
            lambda m: (
                m
                and m.get("engagement_events_counted_total", 0) > 0
                and lag_messages(m) is not None
                and lag_messages(m) < threshold  # type: ignore[operator]  # not None
            ),
            "caught up",
        )
        caught_up = time.monotonic() - spawned
        # Set once the restore's readers have stopped, which can be after every partition counts.
        self.wait_until(lambda m: m and m.get("engagement_last_restore_duration_seconds", 0) > 0, "restore time", 30)
        restore = (self.metrics() or {}).get("engagement_last_restore_duration_seconds")
        result = {
            "at_uptime_s": uptime,
            "restore_peak_rss_mb": rss_mb(self.worker.pid, "VmHWM"),  # the new worker's peak: its restore
            "health_s": round(health, 2),
            "counting_again_s": round(counting, 2),
            "all_partitions_s": round(all_partitions, 2),
            "caught_up_s": round(caught_up, 2),
            "restore_s": restore,
        }
        log(
            f"restart: /health {health:.2f} s, counting {counting:.2f} s, all {partitions} partitions "
            f"{all_partitions:.2f} s, caught up {caught_up:.2f} s "
            f"after spawn (restore {restore} s)"
        )
        self.restarts.append(result)
        return result

    def _wait_for_health(self) -> None:
        begun = time.monotonic()
        while time.monotonic() - begun < RESTART_TIMEOUT_SECONDS:
            try:
                status, body = http_get(f"{self.url}/health", timeout=1)
                if status == 200 and json.loads(body)["partitions"]:
                    return
            except OSError:
                pass
            time.sleep(RESTART_POLL_SECONDS)
        raise TimeoutError("/health")

    def stop(self) -> None:
        stop(self.simulator)
        stop(self.worker)
