"""``make bench-week``'s figures against its targets (reported, not asserted), its table and its plot."""

from __future__ import annotations

from pathlib import Path

# What each sample holds of /metrics beside live_run.GAUGES: the states' sizes.
STATE_GAUGES = {
    "tracked_posts": "engagement_posts_tracked",  # live posts and tombstones
    "post_state_bytes": "engagement_post_state_memory_bytes",  # lives, aggregates, samples (estimate)
    "mentions_open": "engagement_mentions_open",
    "mentions_acknowledged": "engagement_mentions_acknowledged",
}
TARGETS = {"rss_peak_mb": 300, "snapshot_mb_per_interval": 10, "counting_again_s": 5, "post_state_bytes_per_post": 150}


def summarize(result: dict) -> dict:
    samples, restarts = result["samples"], result["restarts"]
    peaks = [x["rss_peak_mb"] or 0 for x in samples] + [r["restore_peak_rss_mb"] or 0 for r in restarts]
    intervals = [x["bytes"] for x in result["snapshot_bytes"]]
    last = next((x for x in reversed(samples) if x.get("tracked_posts")), samples[-1] if samples else {})
    tracked, post_bytes = last.get("tracked_posts"), last.get("post_state_bytes")
    figures = {
        "rss_plateau_mb": max((x["rss_mb"] or 0 for x in samples[-max(1, len(samples) // 4) :]), default=None),
        "rss_peak_mb": max(peaks, default=None),
        "snapshot_mb_per_interval": round(max(intervals) / 2**20, 2) if intervals else None,
        "counting_again_s": max((r["counting_again_s"] for r in restarts), default=None),
        # not a target's figure: the first partition counts again once restored, the last after all
        "all_partitions_again_s": max((r.get("all_partitions_s") or 0 for r in restarts), default=None),
        "post_state_bytes_per_post": round(post_bytes / tracked, 1) if tracked and post_bytes else None,
    }
    met = {k: _within(figures[k], v) for k, v in TARGETS.items()}
    return {"figures": figures, "targets": TARGETS, "met": met}


def _within(value: float | None, target: float) -> bool:
    return value is not None and value <= target


def table(result: dict) -> str:
    """The summary: the targets, the states after the restore and at the end, the restarts."""
    rows = [f"{'figure':32} {'measured':>12} {'target':>10}  met"]
    for name, target in TARGETS.items():
        value = result["figures"][name]
        rows.append(f"{name:32} {value!s:>12} {target:>10}  {'yes' if result['met'][name] else 'NO'}")
    rows.append(f"{'state':32} {'restored':>12} {'end':>10}")
    end = result["samples"][-1] if result["samples"] else {}
    for name in ("tracked_posts", "open_windows", "mentions_open", "mentions_acknowledged", "dedup_ids"):
        rows.append(f"{name:32} {result['restored'].get(name)!s:>12} {end.get(name)!s:>10}")
    expected = result["prefill"]["expected"]
    rows.append("pre-filled (from the model): " + ", ".join(f"{k} {v}" for k, v in expected.items()))
    if result["snapshot_bytes"]:
        largest = max(result["snapshot_bytes"], key=lambda x: x["bytes"])
        kinds = sorted(largest.get("kinds", {}).items(), key=lambda kv: -kv[1])
        rows.append(
            "largest snapshot interval, MiB by record kind: " + ", ".join(f"{k} {v / 2**20:.2f}" for k, v in kinds)
        )
        if "plain" in largest:  # the runs before the parts were compressed have no such figure
            rows.append(f"the same interval with the parts' JSON uncompressed: {largest['plain'] / 2**20:.2f} MiB")
    for r in result["restarts"]:
        rows.append(
            f"restart at {r['at_uptime_s'] / 60:.1f} min: counting again {r['counting_again_s']} s, every "
            f"partition {r.get('all_partitions_s')} s, caught up "
            f"{r['caught_up_s']} s, restore {r['restore_s']} s, restore peak RSS {r['restore_peak_rss_mb']} MB"
        )
    return "\n".join(rows)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    minutes = [x["t"] / 60 for x in samples]
    fig, (rss, sizes, snap) = plt.subplots(3, 1, figsize=(10, 10), sharex=True)
    rss.plot(minutes, [x["rss_mb"] for x in samples], label="worker RSS (MB)")
    rss.plot(minutes, [x["rss_peak_mb"] for x in samples], label="its peak so far (restore peaks)", linestyle=":")
    rss.axhline(TARGETS["rss_peak_mb"], color="grey", linestyle="--", linewidth=0.8)
    for ax in (rss, sizes, snap):
        for r in result["restarts"]:
            ax.axvline(r["at_uptime_s"] / 60, color="red", linewidth=0.8)
    for r in result["restarts"]:
        rss.text(
            r["at_uptime_s"] / 60, 5, f" SIGKILL: counting again {r['counting_again_s']} s", fontsize=7, color="red"
        )
    rss.set_ylabel("MB")
    rss.legend(fontsize=8, loc="upper left")
    for name in ("tracked_posts", "open_windows", "mentions_open", "dedup_ids"):
        sizes.plot(minutes, [x.get(name) for x in samples], label=name)
    sizes.set_yscale("log")
    sizes.set_ylabel("entries")
    sizes.legend(fontsize=8, loc="lower right")
    start = (result["snapshot_bytes"] or [{"start_ms": 0}])[0]["start_ms"]
    intervals = result["snapshot_bytes"]
    offset = samples[0]["t"] / 60 if samples else 0
    snap.bar(
        [offset + (x["start_ms"] - start) / 60_000 for x in intervals],
        [x["bytes"] / 2**20 for x in intervals],
        width=result["workload"]["snapshot_interval_s"] / 60 * 0.8,
        align="edge",
        label="snapshot bytes per interval (MB)",
    )
    snap.axhline(TARGETS["snapshot_mb_per_interval"], color="grey", linestyle="--", linewidth=0.8)
    snap.set_ylabel("MB")
    snap.set_xlabel("minutes of live traffic")
    snap.legend(fontsize=8, loc="upper left")
    w = result["workload"]
    fig.suptitle(
        f"A week's state: {w['accounts']} accounts at {w['rate']:.0f} events/s, {w['prefill_days']:g} days pre-filled"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
