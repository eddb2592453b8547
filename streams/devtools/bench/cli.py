"""`engagement bench`: the command line (argparse), and the run of every phase in turn (pre-fill,
ceiling, pipeline and peer runs repeated and interleaved, freshness) on the embedded broker or
KAFKA_BOOTSTRAP_SERVERS, then the result printed, written and plotted."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import orjson

from ...settings import Settings
from ...simulator import PLATFORMS
from ..broker import EmbeddedKafka
from ..paths import REPO
from .early import main as early_warning
from .figures import evaluate_targets, figures_of, median_run, ratios_of
from .freshness import FRESHNESS_RATE, freshness
from .harness import Bench, log
from .peers import PEERS, build_peers, run_peer
from .report import PLOT_PATH, RESULTS_DIR, machine, plot, write_result
from .throughput import ceiling, pipeline
from .workload import ACCOUNTS, BATCH_EVENTS, POSTS_PER_ACCOUNT, SEED, prefill, send_accounts

RUN_DIR = REPO / ".run" / "bench"


# -- main -----------------------------------------------------------------------------------------------
def run(bench: Bench, args) -> dict:
    result: dict = {
        "workload": {
            "events": args.events,
            "accounts": ACCOUNTS,
            "posts": ACCOUNTS * POSTS_PER_ACCOUNT,
            "platforms": list(PLATFORMS),
            "seed": SEED,
        },
        "ceiling": {},
        "pipeline": {},
        "freshness": None,
    }
    modes = {"single": 1, "batch": BATCH_EVENTS}
    modes = {m: modes[m] for m in args.modes}
    partitions, commit_interval = Settings().topic_partitions, Settings().commit_interval_seconds
    if args.peers:
        build_peers(bench)
    asyncio.run(send_accounts(bench, bench.settings("accounts")))
    inputs = {}
    for mode, per_message in modes.items():
        settings = bench.settings(f"input-{mode}")
        log(f"pre-fill {mode}: {args.events:,} events, {per_message} per message -> {settings.topic_interactions}")
        info = asyncio.run(prefill(bench, settings, args.events, per_message))
        log(f"pre-fill {mode}: {info['messages']:,} messages in {info['prefill_seconds']} s")
        result["workload"][mode] = info
        inputs[mode] = settings.topic_interactions
    # The peers read the single topic; faust, at about 300 us per event, a shorter one of the same stream.
    peer_inputs = {peer: (inputs.get("single"), args.events) for peer in args.peers}
    if "faust-agent" in args.peers and args.faust_events < args.events:
        settings = bench.settings("input-faust")
        info = asyncio.run(prefill(bench, settings, args.faust_events, 1))
        log(f"pre-fill for faust: {info['messages']:,} messages in {info['prefill_seconds']} s")
        result["workload"]["faust"] = info
        peer_inputs["faust-agent"] = (settings.topic_interactions, args.faust_events)
    # Each measurement is repeated, interleaved (1 worker, 2 workers, 1 worker, ...) so that a slow
    # moment of the machine does not land on one side of a ratio only; the median run is reported.
    ceilings: dict[str, list] = {mode: [] for mode in inputs}
    runs: dict[tuple[str, int], list] = {(mode, n): [] for mode in inputs for n in args.workers}
    peer_runs: dict[str, list] = {peer: [] for peer in args.peers}
    for repeat in range(args.repeat):
        for mode, topic in inputs.items():
            ceilings[mode].append(asyncio.run(ceiling(bench, topic, partitions, args.events)))
            log(f"ceiling {mode}: {ceilings[mode][-1]['events_per_s']:,} events/s")
        for mode, topic in inputs.items():
            for n in args.workers:
                profile_to = None
                if n == 1 and repeat == 0 and not args.no_profile:
                    profile_to = bench.run_dir / f"profile-{mode}-1w.txt"
                try:
                    runs[(mode, n)].append(pipeline(bench, mode, topic, args.events, n, profile_to, repeat))
                except RuntimeError as exc:
                    bench.check(False, str(exc).splitlines()[0])
                    log(str(exc))
        for peer, (topic, events) in peer_inputs.items():  # type: ignore[assignment]  # peers need the single mode
            try:
                peer_runs[peer].append(peer_run(bench, peer, topic, events, partitions, commit_interval, repeat))
            except RuntimeError as exc:
                bench.check(False, str(exc).splitlines()[0])
                log(str(exc))
    for mode in inputs:
        result["ceiling"][mode] = median_run(ceilings[mode])
        result["pipeline"][mode] = {str(n): median_run(runs[(mode, n)]) for n in args.workers if runs[(mode, n)]}
    result["peers"] = {peer: median_run(done) for peer, done in peer_runs.items() if done}
    if not args.skip_freshness:
        result["freshness"] = asyncio.run(
            freshness(bench, args.freshness_rate, args.freshness_window, args.freshness_rolling)
        )
    return result


def peer_run(
    bench: Bench, peer: str, topic: str, events: int, partitions: int, commit_interval: float, repeat: int
) -> dict:
    result = run_peer(bench, peer, topic, events, partitions, commit_interval, repeat)
    if result.get("cpu_seconds") is not None:
        result["cpu_us_per_event"] = round(1e6 * result["cpu_seconds"] / events, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["early-warning"]:  # in process, no broker: its own command line
        return early_warning(argv[1:])
    parser = argparse.ArgumentParser(
        prog="engagement bench",
        description="Throughput, freshness and memory of the pipeline on a real Kafka broker (docs/performance.md).",
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events per input topic (default %(default)s)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 50,000 events, 10 s windows in the freshness phase"
    )
    parser.add_argument("--modes", default="single,batch", help="single,batch (default %(default)s)")
    parser.add_argument("--workers", default="1,2", help="worker counts of the pipeline runs (default %(default)s)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each ceiling and pipeline measurement; the median is reported (default %(default)s)",
    )
    parser.add_argument(
        "--peers",
        default=",".join(PEERS),
        help="peer systems run on the same topic, comma-separated, '' for none (default %(default)s)",
    )
    parser.add_argument(
        "--faust-events", type=int, default=100_000, help="events of the faust peer's own topic (default %(default)s)"
    )
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument("--freshness-rate", type=float, default=FRESHNESS_RATE)
    parser.add_argument("--freshness-window", type=int, default=60, help="window seconds in the freshness phase")
    parser.add_argument("--freshness-rolling", type=int, default=3600, help="rolling window seconds, idem")
    parser.add_argument("--no-profile", action="store_true", help="no py-spy on the 1-worker runs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--plot", type=Path, default=PLOT_PATH, help="PNG to draw (default %(default)s)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--plot-from", type=Path, help="only draw the plot from a results JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # aiokafka's retry warnings on topics created a moment ago
    if args.plot_from:
        plot(orjson.loads(args.plot_from.read_bytes()), args.plot)
        print(args.plot)
        return 0
    if args.quick:
        args.events, args.freshness_window, args.freshness_rolling, args.repeat = 50_000, 10, 60, 1
    if args.repeat < 1:
        parser.error("--repeat takes 1 or more")
    args.modes = [m for m in args.modes.split(",") if m]
    args.workers = [int(n) for n in args.workers.split(",") if n]
    args.peers = [p for p in args.peers.split(",") if p]
    if set(args.peers) - set(PEERS) or (args.peers and "single" not in args.modes):
        parser.error(f"--peers takes some of {','.join(PEERS)}, and needs the single mode")
    args.faust_events = min(args.faust_events, args.events)
    if set(args.modes) - {"single", "batch"} or args.events < BATCH_EVENTS:
        parser.error("--modes takes single and/or batch; --events at least 100")
    args.events -= args.events % BATCH_EVENTS  # whole batches, the same count in both topics

    started_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = time.monotonic()
    run_dir = RUN_DIR / started_at.replace(":", "")
    run_dir.mkdir(parents=True, exist_ok=True)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    broker = None
    bench = None
    errors: list[str] = []
    result: dict = {}
    try:
        if not bootstrap:
            log("starting the embedded Apache Kafka broker")
            broker = EmbeddedKafka(data_dir=run_dir / "kafka").start()  # its log stays: kafka.log
            bootstrap = broker.bootstrap
        bench = Bench(bootstrap, broker, run_dir)
        result = run(bench, args)
    except Exception as exc:  # still report what was measured
        errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
        log(f"bench failed: {exc!r}")
    finally:
        if bench is not None:
            bench.stop_all()
            errors = bench.errors + errors
        if broker is not None:
            broker.stop()
            shutil.rmtree(broker.data_dir, ignore_errors=True)  # type: ignore[arg-type]  # set once started
    result = {
        "bench": "engagement-streams",
        "started_at": started_at,
        "wall_seconds": round(time.monotonic() - started, 1),
        "machine": {**machine(), "broker": "embedded" if broker is not None else bootstrap},
        **result,
    }
    result["ratios"] = ratios_of(result)
    result["targets"] = evaluate_targets(figures_of(result))
    result["correct"] = not errors
    result["errors"] = errors
    print(orjson.dumps(result).decode(), flush=True)
    path = write_result(result, args.results_dir)
    log(f"results: {path}")
    if not args.no_plot and result.get("pipeline"):
        try:
            plot(result, args.plot)
            log(f"plot: {args.plot}")
        except ImportError:
            log("matplotlib is not installed (pip install -e '.[bench]'): no plot")
    for name, target in result["targets"].items():
        log(
            f"target {name}: {target['value']} {target['target']}: "
            f"{'met' if target['met'] else 'NOT met' if target['met'] is False else 'not measured'}"
        )
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
