"""`make bench-week`: one worker holding all 8 partitions at the state a week of uptime gives it.

A child process pre-fills every partition's state with a synthetic past week of the simulator's model
(``prefill``, ``week_traffic``; why each state's size is the real week's: docs/performance.md), then
a worker restores it and the live simulator continues the week at --rate events/s over --accounts
accounts for --minutes, the worker SIGKILLed at a third and two thirds of it. Samples the worker's
RSS (and its peak: the restores'), the states' sizes from /metrics and the snapshot bytes per
interval; writes bench/results/week-<time>.json and docs/week.png, prints a summary table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

from ...kafka.security import kafka_client_config
from ...settings import Settings
from ..paths import REPO
from .live_run import LiveRun, bench_stack, log, write_result
from .snapshot_meter import SnapshotMeter
from .week_report import STATE_GAUGES, plot, summarize, table


def prefill(settings: Settings, args: argparse.Namespace, now_ms: int, live_start_ms: int) -> dict:
    """Run the pre-fill as a child (its memory gone before the worker starts): its summary."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.devtools.bench.prefill",
            f"--rate={args.rate}",
            f"--accounts={args.accounts}",
            f"--days={args.prefill_days}",
            f"--now-ms={now_ms}",
            f"--live-start-ms={live_start_ms}",
        ],
        env={**os.environ, **settings.as_env()},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(f"the pre-fill failed ({out.returncode}): {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


RESTORED_GAUGES_SECONDS = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engagement bench-week", description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s (default %(default)s)")
    parser.add_argument("--accounts", type=int, default=2000, help="default %(default)s")
    parser.add_argument("--minutes", type=float, default=21.0, help="of live traffic (default %(default)s)")
    parser.add_argument(
        "--prefill-days",
        type=float,
        default=14.0,
        help="days of past posts pre-filled (default %(default)s: the lifetime and a benchmark period, "
        "every tombstone)",
    )
    parser.add_argument(
        "--prefill-budget",
        type=float,
        default=600.0,
        help="seconds allowed for the pre-fill and the restore: the live simulator starts that long "
        "after the pre-filled week ends, its backfill posts being the pre-fill's (default %(default)s)",
    )
    args = parser.parse_args(argv)
    with bench_stack("week", simulate_accounts=args.accounts) as (run_dir, settings):
        run = LiveRun(settings, args.rate, args.accounts, run_dir, STATE_GAUGES)
        meter = SnapshotMeter(settings, kafka_client_config(settings), settings.snapshot_interval_seconds)
        third = args.minutes * 60 / 3
        now_ms = int(time.time() * 1000)
        live_start_ms = now_ms + int(args.prefill_budget * 1000)
        try:
            log(f"pre-filling {args.prefill_days:g} days of {args.accounts} accounts at {args.rate:.0f}/s", "week")
            filled = prefill(settings, args, now_ms, live_start_ms)
            log(f"pre-filled: {json.dumps(filled)}", "week")
            late = time.time() * 1000 - live_start_ms
            if late > 0:
                log(
                    f"the pre-fill took {late / 1000:.0f} s past its budget: the live posts' publications differ",
                    "week",
                )
            meter.start()
            run.start(simulator_at=live_start_ms / 1000)
            # The state gauges are set by the worker's first scan after its restore, not at /health.
            restored = run.sample_until(lambda sample: bool(sample.get("tracked_posts")), RESTORED_GAUGES_SECONDS)
            log(f"restored: {json.dumps(restored)}; live for {args.minutes:g} min; logs in {run_dir}", "week")
            run.run_until(third)
            run.restart()
            run.run_until(2 * third)
            run.restart()
            run.run_until(3 * third)
        finally:
            meter.stop()
            run.stop()
    result = {
        "kind": "week",
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "workload": {
            "rate": args.rate,
            "accounts": args.accounts,
            "minutes": args.minutes,
            "prefill_days": args.prefill_days,
            "dedup_horizon_s": settings.dedup_horizon_seconds,
            "snapshot_interval_s": settings.snapshot_interval_seconds,
            "simulator_late_s": max(0.0, round(late / 1000, 1)),
        },
        "prefill": filled,
        "restored": restored,
        "restarts": run.restarts,
        "samples": run.samples,
        "snapshot_bytes": meter.per_interval(),
    }
    result.update(summarize(result))
    out = write_result("week", result)
    plot(result, REPO / "docs" / "week.png")
    print(table(result), flush=True)
    print(f"results: {out.relative_to(REPO)}; figure: docs/week.png", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
