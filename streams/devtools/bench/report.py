"""The report: the machine's description (cores, CPU, memory, Python, Kafka, the commit measured) that
goes with a result, the result's JSON file under bench/results/, the plot of throughput, freshness and
the peers (docs/performance.png), and the Markdown table of the peers for docs/performance.md
(`python -m streams.devtools.bench.report --table RESULT.json`)."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
from pathlib import Path

import orjson

from ..broker import KAFKA_VERSION
from ..paths import REPO
from .figures import TARGETS
from .workload import BATCH_EVENTS

RESULTS_DIR = REPO / "bench" / "results"
PLOT_PATH = REPO / "docs" / "performance.png"
PIPELINE_WHAT = (
    "exactly-once (a Kafka transaction per commit): validation, dedup, per-post and per-account "
    "windowed metrics, closed windows only to output topics"
)
CEILING_WHAT = "bare aiokafka getmany + orjson.loads + a per-key dict count: no state, no output"
# the figure's colours of the ceiling and the pipeline (as in the throughput panel); every peer in PEER_COLOR
SYSTEM_COLORS = {"ceiling": "C0", "this pipeline, 1 worker": "C1", "this pipeline, 2 workers": "C2"}
PEER_COLOR = "C4"


# -- the report -----------------------------------------------------------------------------------------
def machine() -> dict:
    cpu = ""
    try:
        cpu = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "",
        )
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
    except (OSError, StopIteration):
        mem_kb = 0
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
        "kafka_version": KAFKA_VERSION,
        "code": _code_version(),
    }


def _code_version() -> str | None:
    """The commit measured, '+modified' when streams/ differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "streams", ":!streams/devtools/bench"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + (" +modified" if dirty else "")) or None


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if result.get("peers"):
        fig = plt.figure(figsize=(12, 9.6))
        grid = fig.add_gridspec(2, 4)
        left, right = fig.add_subplot(grid[0, :2]), fig.add_subplot(grid[0, 2:])
        _plot_single_systems(result, fig.add_subplot(grid[1, :3]), fig.add_subplot(grid[1, 3]))
    else:  # a result from before the peers: the figure it always had
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    modes = [m for m in ("single", "batch") if m in result.get("pipeline", {}) or m in result.get("ceiling", {})]
    labels = {"single": "1 event / message", "batch": f"{BATCH_EVENTS} events / message"}
    series = [
        ("ceiling (bare aiokafka + orjson)", lambda m: (result.get("ceiling", {}).get(m) or {}).get("events_per_s")),
        ("1 worker", lambda m: (result["pipeline"].get(m) or {}).get("1", {}).get("events_per_s")),
        ("2 workers", lambda m: (result["pipeline"].get(m) or {}).get("2", {}).get("events_per_s")),
    ]
    width = 0.26
    for i, (name, value_of) in enumerate(series):
        values = [value_of(m) or 0 for m in modes]
        bars = left.bar([x + (i - 1) * width for x in range(len(modes))], values, width, label=name)
        left.bar_label(bars, labels=[f"{v / 1000:.0f}k" if v else "-" for v in values], fontsize=8)
    for i, workers in ((1, "1"), (2, "2")):
        steady = [(result["pipeline"].get(m) or {}).get(workers, {}).get("steady_events_per_s") for m in modes]
        left.scatter(
            [x + (i - 1) * width for x, v in zip(range(len(modes)), steady) if v],
            [v for v in steady if v],
            marker="_",
            s=300,
            color="black",
            zorder=3,
            label="steady rate (first to last counted)" if i == 1 else None,
        )
    left.axhline(20_000, color="grey", linestyle="--", linewidth=0.8)
    left.text(-0.45, 20_000 * 1.08, "target 1 event/msg, 1 worker: 20k", fontsize=7, color="grey")
    left.set_yscale("log")
    left.set_xticks(range(len(modes)), [labels[m] for m in modes])
    left.set_ylabel("events/s (log scale; pipeline from worker spawn)")
    left.set_title(f"Throughput, {result['workload']['events']:,} events")
    left.legend(fontsize=8, loc="upper left")

    fresh = result.get("freshness") or {}
    quantiles = (fresh.get("cdf_ms") or {}).get("quantiles", [])
    for key, name in (
        ("api", "produce -> query API"),
        ("metrics", "produce -> /metrics"),
        ("final_received", "window end + grace -> final record"),
    ):
        values = (fresh.get("cdf_ms") or {}).get(key) or []
        if values:
            right.plot([max(v, 1) for v in values], quantiles, marker=".", label=name)
    for target, style in (("freshness_api_p99_s", "--"), ("final_record_max_s", ":")):
        seconds = TARGETS[target][2]
        right.axvline(seconds * 1000, color="grey", linestyle=style, linewidth=0.8)
        right.annotate(
            f"target {target.replace('_s', '')}: {seconds:g} s",
            (seconds * 1000, 50),
            rotation=90,
            fontsize=7,
            color="grey",
            ha="right",
            va="center",
        )
    right.set_xscale("log")
    right.set_xlabel("delay, ms (log scale)")
    right.set_ylabel("percentile")
    right.set_title(f"Freshness at {fresh.get('rate_target', 0):g} events/s (1 worker)")
    right.legend(fontsize=8, loc="lower right")
    right.grid(True, which="both", alpha=0.3)
    fig.suptitle(
        f"engagement-streams on {result['machine']['cores']} cores, Python {result['machine']['python']}, "
        f"Kafka {result['machine']['kafka_version']} ({result['started_at']})",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def single_systems(result: dict) -> list[tuple[str, str, dict]]:
    """(name, what it does, run) of everything that read the single topic (one event per message), in the
    table's and the figure's order: this pipeline with 1 and 2 workers, each peer, the ceiling."""
    single = (result.get("pipeline") or {}).get("single") or {}
    systems = [
        ("this pipeline, 1 worker", PIPELINE_WHAT, single.get("1")),
        ("this pipeline, 2 workers", PIPELINE_WHAT, single.get("2")),
    ]
    # the peer's engine, version and guarantee; the full line (what all of them compute) stays in the JSON
    systems += [(peer, run.get("what", "").split(":", 1)[0], run) for peer, run in (result.get("peers") or {}).items()]
    systems.append(("ceiling", CEILING_WHAT, (result.get("ceiling") or {}).get("single")))
    return [(name, what, run) for name, what, run in systems if run]


def _other_events(result: dict, run: dict) -> str:
    """' (N events)' when a run read another number of events than our 1 worker (faust may read a shorter
    topic of the same stream): its events/s is then of a shorter run."""
    ours = (((result.get("pipeline") or {}).get("single") or {}).get("1") or {}).get("events")
    return f" ({run['events']:,} events)" if ours and run.get("events") and run["events"] != ours else ""


def _figure(value, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def peer_table(result: dict) -> str:
    """The Markdown table of the systems that read the single topic, for docs/performance.md."""
    ours = (((result.get("pipeline") or {}).get("single") or {}).get("1") or {}).get("events_per_s")
    rows = [
        "| system | what it does | events/s from spawn (median; repeats) | steady events/s | CPU µs / event "
        "| peak RSS MB | ours ÷ it |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, what, run in single_systems(result):
        rate, repeats = run.get("events_per_s"), run.get("repeats_events_per_s") or []
        rss = run.get("peak_rss_mb")
        cells = [
            name,
            (what + _other_events(result, run)).replace("|", "\\|"),
            _figure(rate) + (f" ({'; '.join(_figure(r) for r in repeats)})" if len(repeats) > 1 else ""),
            _figure(run.get("steady_events_per_s")),
            _figure(run.get("cpu_us_per_event"), 1),
            # the pipeline's is one per worker process
            " + ".join(_figure(r, 1) for r in rss) if isinstance(rss, list) else _figure(rss, 1),
            f"{ours / rate:.2f}" if ours and rate else "–",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def _plot_single_systems(result: dict, rates, cpu) -> None:
    """The peers beside the pipeline and the ceiling on the single topic: events/s from spawn (dark bar)
    and steady (light bar) on the left, CPU µs per event on the right."""
    from matplotlib.patches import Patch

    systems = single_systems(result)
    names = [name + _other_events(result, run).replace(" (", "\n(") for name, _, run in systems]
    colors = [SYSTEM_COLORS.get(name, PEER_COLOR) for name, _, _ in systems]
    rows = range(len(systems))
    spawn = [run.get("events_per_s") for _, _, run in systems]
    steady = [run.get("steady_events_per_s") for _, _, run in systems]
    for offset, values, alpha in ((-0.2, spawn, 1.0), (0.2, steady, 0.4)):
        bars = rates.barh([y + offset for y in rows], [v or 0 for v in values], 0.4, color=colors, alpha=alpha)
        rates.bar_label(bars, labels=[_figure(v) if v else "" for v in values], fontsize=7, padding=2)
    measured = [v for v in spawn + steady if v]
    rates.set_xscale("log")
    if measured:  # room on the right for the largest bar's label; the left edge below the smallest bar
        rates.set_xlim(min(measured) / 3, max(measured) * 4)
    rates.set_yticks(rows, names, fontsize=8)
    rates.invert_yaxis()
    rates.set_xlabel("events/s (log scale)")
    rates.set_title(f"1 event / message: this pipeline and its peers, {result['workload']['events']:,} events")
    rates.legend(
        handles=[
            Patch(color="grey", label="from spawn"),
            Patch(color="grey", alpha=0.4, label="steady (first to last counted)"),
        ],
        fontsize=8,
        loc="upper right",
    )  # the ceiling's long bars are at the bottom
    rates.grid(True, axis="x", which="both", alpha=0.3)

    per_event = [run.get("cpu_us_per_event") for _, _, run in systems]
    bars = cpu.barh(rows, [v or 0 for v in per_event], 0.6, color=colors)
    cpu.bar_label(bars, labels=[_figure(v, 1) if v else "not measured" for v in per_event], fontsize=7, padding=2)
    cpu.set_xlim(0, max([v for v in per_event if v] or [1]) * 1.45)
    cpu.set_yticks(rows, [])
    cpu.invert_yaxis()
    cpu.set_xlabel("µs (all its processes)")
    cpu.set_title("CPU per event")


def write_result(result: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{result['started_at'].replace(':', '').replace('-', '')}.json"
    partial = path.with_name(path.name + ".tmp")
    partial.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    os.replace(partial, path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m streams.devtools.bench.report", description="print the Markdown table of the peers of a result"
    )
    parser.add_argument("--table", type=Path, required=True, metavar="RESULT.json", help="a bench result file")
    print(peer_table(orjson.loads(parser.parse_args().table.read_bytes())), end="")
