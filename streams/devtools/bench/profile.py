"""The py-spy profile of a pipeline worker: starting and stopping `py-spy record` on a worker's process,
and summarizing its raw (collapsed) output into the top functions by own and by inclusive samples
and the busy share of each package."""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from ..paths import REPO
from .harness import BenchWorker, log

PROFILE_RATE = 100  # py-spy samples per second


def _frame_name(frame: str) -> str:
    """'func (/path/site-packages/pkg/mod.py:12)' -> 'func (pkg/mod.py:12)'."""
    match = re.match(r"^(.*) \((.*)\)$", frame)
    if not match:
        return frame
    function, where = match.groups()
    path, _, line = where.rpartition(":")
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif path.startswith(str(REPO) + "/"):
        path = path[len(str(REPO)) + 1 :]
    elif "/lib/python" in path:
        path = path.split("/lib/python", 1)[1].split("/", 1)[-1]
    return f"{function} ({path}:{line})" if line else f"{function} ({path})"


def _package(frame: str) -> str:
    where = frame.rsplit("(", 1)[-1]
    for prefix, name in (
        ("streams/", "streams (engine, state, events, metrics)"),
        ("aiokafka/", "aiokafka"),
        ("kafka/", "aiokafka"),
        ("faust/", "faust/mode"),
        ("mode/", "faust/mode"),
        ("prometheus_client/", "prometheus_client"),
        ("aiohttp/", "aiohttp"),
        ("asyncio/", "asyncio"),
        ("<string>", "fastjsonschema (generated validator)"),
        ("fastjsonschema/", "fastjsonschema (generated validator)"),
    ):
        if where.startswith(prefix):
            return name
    return "other"


IDLE_LEAVES = ("EpollSelector.select (", "select (", "Condition.wait (", "Event.wait (", "_worker (concurrent")
# Frames that hold everything (the event loop, the CLI): left out of the inclusive ranking.
WRAPPER_FILES = (
    "asyncio/base_events.py",
    "asyncio/events.py",
    "<frozen runpy>",
    "click/",
    "faust/cli/",
    "mode/worker.py",
    "streams/cli.py",
    "asyncio/runners.py",
)


def summarize_profile(raw: str, top: int = 12) -> dict:
    """py-spy's raw (collapsed) output -> the top functions by own and by inclusive samples, as shares
    of the samples where the worker was busy (idle = waiting in select/epoll or on a lock)."""
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    packages: collections.Counter = collections.Counter()
    total = idle = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame_name(f) for f in stack.split(";")]
        total += n
        if frames[-1].startswith(IDLE_LEAVES):
            idle += n
            continue
        own[frames[-1]] += n
        packages[_package(frames[-1])] += n
        for frame in set(frames):
            if not any(f"({w}" in frame for w in WRAPPER_FILES) and not frame.startswith("<module>"):
                inclusive[frame] += n
    busy = total - idle
    if not busy:
        return {"samples": total, "idle_pct": 100.0 if total else None, "self": [], "inclusive": [], "by_package": {}}

    def pct(n: int) -> float:
        return round(100 * n / busy, 1)

    return {
        "samples": total,
        "idle_pct": round(100 * idle / total, 1),
        "self": [[name, pct(n)] for name, n in own.most_common(top)],
        "inclusive": [[name, pct(n)] for name, n in inclusive.most_common(top)],
        "by_package": {name: pct(n) for name, n in packages.most_common()},
    }


def start_profiler(worker: BenchWorker, out: Path) -> subprocess.Popen | None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        log("py-spy not installed (pip install -e '.[bench]'): no profile")
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    assert worker.proc is not None  # profiled once started
    log(f"py-spy record --pid {worker.proc.pid} -> {out}")
    with open(out.with_suffix(".log"), "ab") as log_file:
        return subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                str(worker.proc.pid),
                "--rate",
                str(PROFILE_RATE),
                "--function",
                "--full-filenames",
                "--format",
                "raw",
                "-o",
                str(out),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_profiler(profiler: subprocess.Popen | None, out: Path | None) -> dict | None:
    if profiler is None or out is None:
        return None
    profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    try:
        profiler.wait(60)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait()
    if not out.exists():
        log(f"py-spy wrote no profile; see {out.with_suffix('.log')}")
        return None
    summary = summarize_profile(out.read_text(errors="replace"))
    summary["file"] = str(out.relative_to(REPO)) if out.is_relative_to(REPO) else str(out)
    summary["rate_hz"] = PROFILE_RATE
    return summary
