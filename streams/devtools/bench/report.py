"""The report: the machine's description (cores, CPU, memory, Python, Kafka, the commit measured) that
goes with a result, the result's JSON file under bench/results/, and the plot of throughput and
freshness (docs/performance.png)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import orjson

from ..broker import KAFKA_VERSION
from ..paths import REPO
from .workload import BATCH_EVENTS

RESULTS_DIR = REPO / "bench" / "results"
PLOT_PATH = REPO / "docs" / "performance.png"


# -- the report -----------------------------------------------------------------------------------------
def machine() -> dict:
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:"))
    except (OSError, StopIteration):
        mem_kb = 0
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem_kb / 1024 / 1024, 1),
            "python": platform.python_version(), "os": platform.platform(terse=True),
            "kafka_version": KAFKA_VERSION, "code": _code_version()}


def _code_version() -> str | None:
    """The commit measured, '+modified' when streams/ differs from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "streams", ":!streams/devtools/bench"],
                               cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + (" +modified" if dirty else "")) or None


def plot(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    modes = [m for m in ("single", "batch") if m in result.get("pipeline", {}) or m in result.get("ceiling", {})]
    labels = {"single": "1 event / message", "batch": f"{BATCH_EVENTS} events / message"}
    series = [("ceiling (bare aiokafka + orjson)",
               lambda m: (result.get("ceiling", {}).get(m) or {}).get("events_per_s")),
              ("1 worker", lambda m: (result["pipeline"].get(m) or {}).get("1", {}).get("events_per_s")),
              ("2 workers", lambda m: (result["pipeline"].get(m) or {}).get("2", {}).get("events_per_s"))]
    width = 0.26
    for i, (name, value_of) in enumerate(series):
        values = [value_of(m) or 0 for m in modes]
        bars = left.bar([x + (i - 1) * width for x in range(len(modes))], values, width, label=name)
        left.bar_label(bars, labels=[f"{v / 1000:.0f}k" if v else "-" for v in values], fontsize=8)
    for i, workers in ((1, "1"), (2, "2")):
        steady = [(result["pipeline"].get(m) or {}).get(workers, {}).get("steady_events_per_s") for m in modes]
        left.scatter([x + (i - 1) * width for x, v in zip(range(len(modes)), steady) if v],
                     [v for v in steady if v], marker="_", s=300, color="black", zorder=3,
                     label="steady rate (first to last counted)" if i == 1 else None)
    left.axhline(20_000, color="grey", linestyle="--", linewidth=0.8)
    left.text(-0.45, 20_000 * 1.08, "target 1 event/msg, 1 worker: 20k", fontsize=7, color="grey")
    left.set_yscale("log")
    left.set_xticks(range(len(modes)), [labels[m] for m in modes])
    left.set_ylabel("events/s (log scale; pipeline from worker spawn)")
    left.set_title(f"Throughput, {result['workload']['events']:,} events")
    left.legend(fontsize=8, loc="upper left")

    fresh = result.get("freshness") or {}
    quantiles = (fresh.get("cdf_ms") or {}).get("quantiles", [])
    for key, name in (("api", "produce -> query API"), ("metrics", "produce -> /metrics"),
                      ("final_received", "window end + grace -> final record")):
        values = (fresh.get("cdf_ms") or {}).get(key) or []
        if values:
            right.plot([max(v, 1) for v in values], quantiles, marker=".", label=name)
    right.axvline(2000, color="grey", linestyle="--", linewidth=0.8)
    right.set_xscale("log")
    right.set_xlabel("delay, ms (log scale)")
    right.set_ylabel("percentile")
    right.set_title(f"Freshness at {fresh.get('rate_target', 0):g} events/s (1 worker)")
    right.legend(fontsize=8, loc="lower right")
    right.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"engagement-streams on {result['machine']['cores']} cores, Python {result['machine']['python']}, "
                 f"Kafka {result['machine']['kafka_version']} ({result['started_at']})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_result(result: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result['started_at'].replace(':', '').replace('-', '')}.json"
    partial = path.with_name(path.name + ".tmp")
    partial.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(partial, path)
    return path
