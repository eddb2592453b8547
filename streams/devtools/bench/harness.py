"""What every phase runs on: progress logging and the wall clock, CPU seconds (of a process, of this
one, of the whole machine) and peak RSS from /proc, BenchWorker (an `engagement worker` process with
its own web port, its /metrics accounting and /health) and Bench (one benchmark run: the broker, the
topics' name space, the correctness checks and every worker started)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.error
import uuid
from pathlib import Path

import orjson

from ...settings import Settings, topics_named
from ..broker import EmbeddedKafka, free_port
from ..processes import http_get, spawn, stop
from .figures import accounting, parse_exposition


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


# -- processes ---------------------------------------------------------------------------------------
def stat_fields(stat: str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses):
    [0] is the state, [1] the parent pid, [11..14] utime, stime, cutime, cstime in clock ticks."""
    return stat.rsplit(")", 1)[1].split()


def proc_cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = stat_fields(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def peak_rss_mb_of(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB -> MiB
    except OSError:
        return None
    return None


class BenchWorker:
    """`python -m streams.cli worker` with its own web port, as the tests and `make run` start it."""

    def __init__(self, settings: Settings, log_dir: Path, name: str):
        self.port = free_port()
        self.settings = dataclasses.replace(settings, web_port=self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> BenchWorker:
        self.proc = spawn([sys.executable, "-m", "streams.cli", "worker"], self.settings.as_env(), self.log)
        return self

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"worker {self.url} exited with {self.proc.returncode}; log {self.log}:\n{tail}")

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, bytes] | None:
        try:
            return http_get(self.url + path, timeout=timeout)
        except (OSError, urllib.error.URLError):
            return None

    def accounting(self) -> dict | None:
        answer = self.get("/metrics")
        if answer is None or answer[0] != 200:
            return None
        return accounting(parse_exposition(answer[1]))

    def healthy(self, partitions: int | None = None) -> bool:
        answer = self.get("/health", timeout=1.0)
        if answer is None or answer[0] != 200:
            return False
        return partitions is None or len(orjson.loads(answer[1]).get("partitions", [])) >= partitions

    def peak_rss_mb(self) -> float | None:
        return peak_rss_mb_of(self.proc.pid) if self.proc else None

    def cpu_seconds(self) -> float | None:
        return proc_cpu_seconds(self.proc.pid) if self.proc else None

    def stop(self) -> None:
        stop(self.proc, sig=signal.SIGTERM)


class Bench:
    """One benchmark run: the broker, the topics' name space, the phases' results."""

    def __init__(self, bootstrap: str, broker: EmbeddedKafka | None, run_dir: Path):
        self.bootstrap = bootstrap
        self.broker = broker
        self.tag = uuid.uuid4().hex[:6]
        self.run_dir = run_dir
        self.accounts_topic = f"bench{self.tag}.accounts"
        self.workers: list[BenchWorker] = []  # every worker started, stopped again at the end
        self.errors: list[str] = []

    def settings(self, phase: str, **overrides) -> Settings:
        names = topics_named(f"bench{self.tag}.{phase}", keep=("topic_accounts",))
        return Settings.from_env(
            {},
            kafka_bootstrap_servers=self.bootstrap,
            app_id=f"bench{self.tag}-{phase}",
            topic_accounts=self.accounts_topic,
            log_level="info",
            **{**names, **overrides},
        )

    def broker_cpu(self) -> float | None:
        return proc_cpu_seconds(self.broker.process.pid) if self.broker and self.broker.process else None

    def check(self, condition: bool, message: str) -> None:
        if not condition:
            self.errors.append(message)
            log(f"CHECK FAILED: {message}")

    def new_worker(self, settings: Settings, name: str) -> BenchWorker:
        worker = BenchWorker(settings, self.run_dir, name)
        self.workers.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system
