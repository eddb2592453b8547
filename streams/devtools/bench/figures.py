"""The benchmark's figures, pure numbers and no I/O: percentiles, summaries and CDFs of delays, the
accounting counters read from a worker's /metrics exposition, rates from the polls of a pipeline run,
the median of repeated runs, the ratios and headline figures of a result and their evaluation against
the performance TARGETS."""

from __future__ import annotations

import math
from typing import Any

CDF_QUANTILES = (0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 99.9, 100)

# name -> (what it measures, comparison, threshold); reported, never lowered to pass.
TARGETS = {
    "single_1w_events_per_s": ("one event per message, 1 worker, events/s from spawn", ">=", 20_000),
    "single_1w_vs_kafka_streams_parsed": (
        "one event per message, 1 worker / Kafka Streams with the value parsed (same run), events/s from spawn",
        ">=",
        1.0,
    ),
    "single_1w_vs_kafka_streams_unparsed": ("stretch: the same / Kafka Streams on the value's bytes", ">=", 1.0),
    "batch_1w_vs_ceiling": ("batches of 100, 1 worker / ceiling (same run), events/s", ">=", 0.25),
    "single_2w_vs_1w": ("one event per message: 2 workers / 1 worker", ">=", 1.6),
    "batch_2w_vs_1w": ("batches of 100: 2 workers / 1 worker", ">=", 1.6),
    "freshness_api_p99_s": ("produce -> visible in the query API, p99, s", "<=", 2.0),
    "freshness_metrics_p99_s": ("produce -> visible on /metrics, p99, s", "<=", 2.0),
    "final_record_max_s": ("window end + grace -> final record received (read_committed), max, s", "<=", 1.0),
    "peak_rss_mb": ("peak RSS (VmHWM) of any worker of the pipeline runs, MB", "<=", 400),
}


# -- pure helpers (tests/unit/devtools/test_bench.py) ---------------------------------------------------------------
def percentile(values, q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; None if empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values, digits: int = 1) -> dict:
    values = list(values)
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    p50, p99 = percentile(values, 50), percentile(values, 99)
    assert p50 is not None and p99 is not None  # values is not empty
    return {"n": len(values), "p50": round(p50, digits), "p99": round(p99, digits), "max": round(max(values), digits)}


def cdf(values, digits: int = 1) -> list:
    return [round(percentile(values, q), digits) for q in CDF_QUANTILES] if values else []  # type: ignore[arg-type]  # not empty


def parse_exposition(body: bytes) -> dict[str, float]:
    """Prometheus text exposition -> {'name{labels}': value} (as streams.devtools.processes.scrape)."""
    samples = {}
    for line in body.decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                samples[name] = float(value)
            except ValueError:
                continue
    return samples


def accounting(samples: dict[str, float]) -> dict:
    """The accounting counters of one worker's (or several workers' summed) /metrics."""
    rejected = {
        k[k.index('"') + 1 : k.rindex('"')]: int(v)
        for k, v in samples.items()
        if k.startswith("engagement_events_rejected_total{") and v
    }
    return {
        "consumed": int(samples.get("engagement_events_consumed_total", 0)),
        "counted": int(samples.get("engagement_events_counted_total", 0)),
        "duplicate": int(samples.get("engagement_events_duplicate_total", 0)),
        "rejected": sum(rejected.values()),
        "rejected_by_reason": rejected,
        "forwarded": int(samples.get("engagement_events_forwarded_total", 0)),
        "partitions": int(samples.get("engagement_partitions_assigned", 0)),
    }


def add_accounting(parts: list[dict]) -> dict:
    total: dict[str, Any] = {
        "consumed": 0,
        "counted": 0,
        "duplicate": 0,
        "rejected": 0,
        "forwarded": 0,
        "partitions": 0,
        "rejected_by_reason": {},
    }
    for part in parts:
        for key in ("consumed", "counted", "duplicate", "rejected", "forwarded", "partitions"):
            total[key] += part[key]
        for reason, n in part["rejected_by_reason"].items():
            total["rejected_by_reason"][reason] = total["rejected_by_reason"].get(reason, 0) + n
    return total


def rates_from_samples(samples: list[tuple[float, int]], events: int, done_at: float) -> dict:
    """From (seconds since spawn, counted) polls: the rate from spawn, and the steady rate from the
    first poll that saw a counted event to the poll that saw the last one."""
    first = next(((t, n) for t, n in samples if n > 0), None)
    out = {
        "seconds": round(done_at, 2),
        "events_per_s": round(events / done_at) if done_at > 0 else None,
        "startup_seconds": None,
        "steady_seconds": None,
        "steady_events_per_s": None,
    }
    if first is not None:
        t_first, n_first = first
        out["startup_seconds"] = round(t_first, 2)
        if done_at > t_first and events > n_first:
            out["steady_seconds"] = round(done_at - t_first, 2)
            out["steady_events_per_s"] = round((events - n_first) / (done_at - t_first))
    return out


def evaluate_targets(figures: dict) -> dict:
    out = {}
    for name, (what, op, threshold) in TARGETS.items():
        value = figures.get(name)
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        out[name] = {"what": what, "target": f"{op} {threshold}", "value": value, "met": met}
    return out


def median_run(results: list[dict]) -> dict:
    """The run with the median events/s (the lower middle one of an even count), with every run's
    events/s and steady events/s beside it; a profile taken in any run is kept."""
    ordered = sorted(results, key=lambda r: r["events_per_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["repeats_events_per_s"] = [r["events_per_s"] for r in results]
    chosen["repeats_steady_events_per_s"] = [r.get("steady_events_per_s") for r in results]
    if "peak_rss_mb" in chosen:  # memory: the worst run counts, not the median one (a list: per worker)
        chosen["repeats_peak_rss_mb"] = [
            max((m for m in r["peak_rss_mb"] if m), default=None)
            if isinstance(r["peak_rss_mb"], list)
            else r["peak_rss_mb"]
            for r in results
        ]
    profile = next((r["profile"] for r in results if r.get("profile")), None)
    if profile is not None:
        chosen["profile"] = profile
    return chosen


def _ratio(a, b, digits: int = 3):
    return round(a / b, digits) if a and b else None


def figures_of(result: dict) -> dict:
    p = result.get("pipeline", {})
    fresh = result.get("freshness") or {}

    def get(mode, workers, key="events_per_s"):
        return (p.get(mode) or {}).get(str(workers), {}).get(key)

    rss = [
        r
        for mode in p.values()
        for run in mode.values()
        for r in run.get("repeats_peak_rss_mb", run.get("peak_rss_mb", []))
        if r
    ]
    seconds = lambda ms: None if ms is None else round(ms / 1000, 3)  # noqa: E731
    return {
        "single_1w_events_per_s": get("single", 1),
        "single_1w_vs_kafka_streams_parsed": result.get("ratios", {}).get("single_1w_vs_kafka-streams-parsed"),
        "single_1w_vs_kafka_streams_unparsed": result.get("ratios", {}).get("single_1w_vs_kafka-streams-unparsed"),
        "batch_1w_vs_ceiling": result.get("ratios", {}).get("batch_1w_vs_ceiling"),
        "single_2w_vs_1w": result.get("ratios", {}).get("single_2w_vs_1w"),
        "batch_2w_vs_1w": result.get("ratios", {}).get("batch_2w_vs_1w"),
        "freshness_api_p99_s": seconds((fresh.get("api_ms") or {}).get("p99")),
        "freshness_metrics_p99_s": seconds((fresh.get("metrics_ms") or {}).get("p99")),
        "final_record_max_s": seconds((fresh.get("final_received_ms") or {}).get("max")),
        "peak_rss_mb": max(rss) if rss else None,
    }


def ratios_of(result: dict) -> dict:
    p, c = result.get("pipeline", {}), result.get("ceiling", {})
    out = {}
    for mode in ("single", "batch"):
        runs, ceil = p.get(mode) or {}, c.get(mode) or {}
        one, two = runs.get("1", {}), runs.get("2", {})
        out[f"{mode}_1w_vs_ceiling"] = _ratio(one.get("events_per_s"), ceil.get("events_per_s"))
        out[f"{mode}_1w_vs_ceiling_steady"] = _ratio(one.get("steady_events_per_s"), ceil.get("steady_events_per_s"))
        out[f"{mode}_2w_vs_ceiling"] = _ratio(two.get("events_per_s"), ceil.get("events_per_s"))
        out[f"{mode}_2w_vs_1w"] = _ratio(two.get("events_per_s"), one.get("events_per_s"))
        out[f"{mode}_2w_vs_1w_steady"] = _ratio(two.get("steady_events_per_s"), one.get("steady_events_per_s"))
    one = (p.get("single") or {}).get("1", {})
    for peer, run in (result.get("peers") or {}).items():  # each peer read the single topic
        out[f"single_1w_vs_{peer}"] = _ratio(one.get("events_per_s"), run.get("events_per_s"))
        out[f"single_1w_vs_{peer}_steady"] = _ratio(one.get("steady_events_per_s"), run.get("steady_events_per_s"))
        # CPU per event: a peer may have read fewer events (faust: a shorter topic of the same stream)
        out[f"{peer}_vs_single_1w_cpu_per_event"] = _ratio(run.get("cpu_us_per_event"), one.get("cpu_us_per_event"))
    return out
