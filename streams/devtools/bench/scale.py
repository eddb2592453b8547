"""`make bench-scale`: one worker at a steady rate with default settings for longer than the dedup
horizon. Is memory bounded, and does a restart stay fast whatever the uptime?

The simulator produces at --rate events/s over --accounts accounts the whole run. The worker's RSS,
counters, consumer lag and dedup memory are sampled every few seconds. At --first-restart minutes
the worker is SIGKILLed and a new one spawned; at twice that uptime again. For each restart:
seconds from spawn to /health answering, to counting again (its counted_total above 0), and to
caught up (consumer lag under one second of traffic). Writes bench/results/scale-<time>.json and
docs/scale.png (RSS and dedup memory over time, restarts marked) and prints a summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
from pathlib import Path

from ...kafka.security import kafka_client_config
from ...kafka.topics import ensure_topics
from ..paths import REPO
from .live_run import LiveRun, bench_stack, log, write_result

TARGETS = {"rss_plateau_mb": 250, "counting_again_s": 5, "caught_up_s": 15, "restart_ratio": 1.2}


def summarize(run: LiveRun) -> dict:
    """Figures against the targets: the RSS plateau is the largest RSS over the last quarter of the
    run (the dedup memory full: the run is longer than the horizon)."""
    tail = [x["rss_mb"] for x in run.samples if x["rss_mb"] and x["t"] >= 0.75 * run.samples[-1]["t"]]
    first, second = run.restarts
    figures = {
        "rss_plateau_mb": max(tail),
        "rss_peak_mb": max(x["rss_mb"] or 0 for x in run.samples),
        "counting_again_s": second["counting_again_s"],
        "caught_up_s": second["caught_up_s"],
        "restart_ratio": round(second["caught_up_s"] / first["caught_up_s"], 3),
        "dedup_bytes_per_id": _bytes_per_id(run.samples),
    }
    met = {
        "rss_plateau_mb": figures["rss_plateau_mb"] <= TARGETS["rss_plateau_mb"],
        "counting_again_s": figures["counting_again_s"] <= TARGETS["counting_again_s"],
        "caught_up_s": figures["caught_up_s"] <= TARGETS["caught_up_s"],
        "restart_ratio": figures["restart_ratio"] <= TARGETS["restart_ratio"],
    }
    return {"figures": figures, "targets": TARGETS, "met": met}


def _bytes_per_id(samples: list[dict]) -> float | None:
    full = [x for x in samples if x["dedup_ids"]]
    if not full:
        return None
    last = full[-1]
    return round(last["dedup_mb"] * 2**20 / last["dedup_ids"], 1)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    minutes = [x["t"] / 60 for x in samples]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(minutes, [x["rss_mb"] for x in samples], label="worker RSS (MB)")
    ax.plot(minutes, [x["dedup_mb"] for x in samples], label="dedup memory (MB)")
    ax.axhline(TARGETS["rss_plateau_mb"], color="grey", linestyle="--", linewidth=0.8)
    ax.text(0, TARGETS["rss_plateau_mb"] * 1.02, "target RSS plateau", fontsize=7, color="grey")
    for restart in result["restarts"]:
        ax.axvline(restart["at_uptime_s"] / 60, color="red", linewidth=0.8)
        ax.text(
            restart["at_uptime_s"] / 60,
            5,
            f" SIGKILL: counting again {restart['counting_again_s']} s, caught up {restart['caught_up_s']} s",
            fontsize=7,
            color="red",
            rotation=90,
            va="bottom",
        )
    ax.axvline(result["workload"]["dedup_horizon_s"] / 60, color="black", linestyle=":", linewidth=0.8)
    ax.set_xlabel("minutes of traffic")
    ax.set_ylabel("MB")
    ax.set_title(f"One worker at {result['workload']['rate']:.0f} events/s, default settings")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engagement bench-scale", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s (default %(default)s)")
    parser.add_argument("--accounts", type=int, default=500, help="default %(default)s")
    parser.add_argument(
        "--first-restart",
        type=float,
        default=10.0,
        help="minutes of traffic before the first restart; the second comes at twice that "
        "(default %(default)s: 10 and 20 minutes, 20 minutes being past the 15-minute "
        "dedup horizon)",
    )
    parser.add_argument("--tail", type=float, default=1.0, help="minutes of traffic after the last restart")
    args = parser.parse_args(argv)
    with bench_stack("scale") as (run_dir, settings):
        run = LiveRun(settings, args.rate, args.accounts, run_dir)
        first = args.first_restart * 60
        try:
            asyncio.run(ensure_topics(settings, kafka_client_config(settings)))
            run.start()
            log(
                f"{args.rate:.0f} events/s over {args.accounts} accounts; restarts at {first / 60:.1f} and "
                f"{2 * first / 60:.1f} min; logs in {run_dir}"
            )
            run.run_until(first)
            run.restart()
            run.run_until(2 * first)
            run.restart()
            run.run_until(2 * first + args.tail * 60)
        finally:
            run.stop()
    result = {
        "kind": "scale",
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "workload": {
            "rate": args.rate,
            "accounts": args.accounts,
            "first_restart_s": first,
            "dedup_horizon_s": settings.dedup_horizon_seconds,
            "snapshot_interval_s": settings.snapshot_interval_seconds,
        },
        "restarts": run.restarts,
        "samples": run.samples,
    }
    result.update(summarize(run))
    out = write_result("scale", result)
    plot(result, REPO / "docs" / "scale.png")
    print(
        json.dumps(
            {
                "scale": result["figures"],
                "met": result["met"],
                "restarts": run.restarts,
                "file": str(out.relative_to(REPO)),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
