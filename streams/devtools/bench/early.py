"""`engagement bench early-warning`: how well PostOffTrack foresees a post's ER at maturity, over a
simulated week of the simulator's accounts with some collapsing posts (DOMAIN.md, early warning).

A week over Kafka in real time is out of reach, so the week runs in process, in model time and at
the model's own 24 h day: the simulator's events go through the engine's partition state (post
lifetimes, samples, curves) and the worker's early-warning gauges (``EarlyWarningGauges``), closing
every ``STEP_MS`` of event time; then PostOffTrack's rule is applied to what the gauges export, with the
thresholds the rule files hold (the drop fraction, the hold). The learned shares come from the
events only. Apart, from the same raw events and never from the engine: each post's actual ER at
maturity; actually off track = below its band's low bound.

Scored: the posts published from the second model day (the curves need matured posts; the simulator's
backlog of posts published before the start is never complete) that mature before the end.
Precision and recall of the alert against "actually off track"; minutes from publication to the
alert (its first off-track evaluation plus the hold), the median and the 90th percentile. Written to
bench/results/early-warning-<time>.json.
"""

from __future__ import annotations

import argparse
import datetime
import re
import statistics
import sys
import time
from pathlib import Path

import orjson
import yaml
from prometheus_client import CollectorRegistry

from ...metrics.early import EarlyWarningGauges
from ...model.bands import band_for, load_benchmarks
from ...model.early import STORY, STORY_LIFE_MS, EarlyWarning, off_track
from ...settings import DEFAULT_ENGAGED_TYPES, Settings
from ...simulator import TrafficModel
from ...simulator.scenario import Scenario
from ...state import PartitionState
from ...state.dedup import fingerprints
from ...state.window import WindowConfig
from ...validation.structs import event_from
from ..paths import REPO
from .harness import log
from .report import RESULTS_DIR

DAY_MS = 86_400_000
STEP_MS = 300_000  # a close (and an evaluation of the rule) every 5 model minutes
START_MS = 1_700_000_000_000
RULES = REPO / "deploy" / "prometheus" / "rules"


def rule_thresholds() -> tuple[float, int]:
    """The drop fraction and PostOffTrack's hold (ms), as the rule files hold them."""
    recording = yaml.safe_load((RULES / "engagement-recording.yml").read_text())
    rules = [r for g in recording["groups"] for r in g["rules"]]
    expr = next(r["expr"] for r in rules if r.get("record") == "engagement:config:baseline_drop_fraction")
    drop = float(re.fullmatch(r"vector\(([\d.]+)\)", expr.strip()).group(1))  # type: ignore[union-attr]
    alerts = yaml.safe_load((RULES / "engagement-alerts.yml").read_text())
    hold = next(r["for"] for g in alerts["groups"] for r in g["rules"] if r.get("alert") == "PostOffTrack")
    value, unit = re.fullmatch(r"(\d+)([smh])", hold).groups()  # type: ignore[union-attr]
    return drop, int(value) * {"s": 1000, "m": 60_000, "h": 3_600_000}[unit]


def flagged_posts(registry: CollectorRegistry, drop: float) -> tuple[set[str], set[str]]:
    """PostOffTrack's expression over the gauges of one worker: the posts it holds, and the posts
    projected at all."""
    series: dict[str, dict] = {}
    for family in registry.collect():
        for s in family.samples:
            series.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    min_posts = series.get("engagement_early_warning_min_matured_posts", {}).get((), 0)

    def per_account(name: str) -> dict:
        return {
            (labels["account_id"], labels["content_type"]): value
            for labels, value in ((dict(k), v) for k, v in series.get(name, {}).items())
        }

    curve_posts = per_account("engagement_account_curve_posts")
    medians = per_account("engagement_account_curve_median_rate_ratio")
    lows = series.get("engagement_post_benchmark_low_ratio", {})
    checked = series.get("engagement_post_checked_age_seconds", {})
    flagged, projected_posts = set(), set()
    for key, projected in series.get("engagement_post_projected_rate_ratio", {}).items():
        labels = dict(key)
        projected_posts.add(labels["post_id"])
        account = (labels["account_id"], labels["content_type"])
        if curve_posts.get(account, 0) < min_posts:
            continue
        if labels["content_type"] == STORY and checked[key] * 1000 >= STORY_LIFE_MS:
            continue
        if off_track(projected, lows[key], medians.get(account), drop):
            flagged.add(labels["post_id"])
    return flagged, projected_posts


def measure(accounts: int, rate: float, days: int, collapsing: float, seed: int) -> dict:
    settings = Settings()
    config = WindowConfig(
        window_ms=STEP_MS, grace_ms=5_000, rolling_ms=3_600_000, dedup_ms=60_000, engaged_types=DEFAULT_ENGAGED_TYPES
    )
    early = EarlyWarning.of(settings, config)
    drop, hold_ms = rule_thresholds()
    benchmarks = load_benchmarks(None)
    registry = CollectorRegistry()
    gauges = EarlyWarningGauges(registry, accounts, benchmarks, early, config.post_ages_ms)
    model = TrafficModel(seed, accounts, rate=rate)
    stream = model.stream(START_MS, Scenario(collapsing_posts=collapsing))
    industry = {a["account_id"]: a["industry"] for a in model.accounts()}
    posts: dict[str, dict] = {}
    state = PartitionState(0, config, post_of=posts.get)
    state.start_at(START_MS)
    state.input_from(START_MS)
    engaged_by_maturity: dict[str, int] = {}
    actual: dict[str, float] = {}  # post -> its ER at maturity, from the raw events
    since: dict[str, int] = {}  # post -> start of its current off-track run
    alerted: dict[str, int] = {}
    projected: set[str] = set()  # posts projected at least once (a curve, enough to tell)
    end, events, now = START_MS + days * DAY_MS, 0, START_MS
    started = time.monotonic()
    while now < end:
        now += STEP_MS
        for record in stream.posts_until(now):
            posts[record["post_id"]] = record
        batch = []
        for message in stream.messages_until(now):
            for raw in message:
                post_id = raw.get("post_id")
                if post_id is not None and raw["type"] in DEFAULT_ENGAGED_TYPES:
                    post = posts.get(post_id)
                    if post is not None and raw["ts"] < post["published_at"] + DAY_MS:
                        engaged_by_maturity[post_id] = engaged_by_maturity.get(post_id, 0) + 1
                batch.append(event_from(raw))
        # As the engine folds a slice: the dedup memory asked once for all of it.
        ids = fingerprints(e.event_id for e in batch)
        state.add_many(batch, now, now, ids, state.dedup.seen_before(ids))
        events += len(batch)
        followers = {a["account_id"]: a["followers"] for a in stream.accounts()}
        state.commit(now, followers.get)
        gauges.update([state], state.closed_through, followers.get, industry.get)
        flagged, projected_now = flagged_posts(registry, drop)
        projected |= projected_now
        for post_id in list(since):
            if post_id not in flagged:
                del since[post_id]
        for post_id in flagged:
            start = since.setdefault(post_id, state.closed_through)
            if post_id not in alerted and state.closed_through - start >= hold_ms:
                alerted[post_id] = start + hold_ms
        for post_id, post in posts.items():
            if post_id not in actual and post["published_at"] + DAY_MS <= now - STEP_MS:
                actual[post_id] = engaged_by_maturity.get(post_id, 0) / followers[post["account_id"]]
        if (now - START_MS) % DAY_MS < STEP_MS:
            log(f"early warning: day {(now - START_MS) / DAY_MS:.0f}, {events:,} events, {len(alerted)} alerts")
    scored = [p for p in posts.values() if p["published_at"] >= START_MS + DAY_MS and p["post_id"] in actual]
    result = score(scored, actual, alerted, benchmarks, industry, projected)
    result["workload"] = {
        "accounts": accounts,
        "rate": rate,
        "days": days,
        "collapsing_posts": collapsing,
        "seed": seed,
        "events": events,
        "seconds": round(time.monotonic() - started, 1),
        "first_check_seconds": settings.early_warning_first_check_seconds,
        "min_matured_posts": settings.early_warning_min_posts,
        "min_expected_engaged": settings.early_warning_min_expected_engaged,
        "drop_fraction": drop,
        "hold_seconds": hold_ms / 1000,
        "close_step_seconds": STEP_MS / 1000,
    }
    return result


def score(
    scored: list[dict],
    actual: dict,
    alerted: dict,
    benchmarks,
    industry: dict,
    projected: set | frozenset = frozenset(),
) -> dict:
    """Precision and recall of the alert against each post's actual ER at maturity below its band;
    ``projected``: the posts ever projected, for the recall among them (the rule's part, apart from
    the curves and counts a projection needs)."""
    truly_off = set()
    for post in scored:
        band = band_for(benchmarks, post["platform"], industry[post["account_id"]], post["content_type"]) or band_for(
            benchmarks, post["platform"], industry[post["account_id"]]
        )
        if band is not None and actual[post["post_id"]] < band[0]:
            truly_off.add(post["post_id"])
    ids = {p["post_id"] for p in scored}
    paged = ids & alerted.keys()
    hits = paged & truly_off
    minutes = sorted((alerted[p["post_id"]] - p["published_at"]) / 60_000 for p in scored if p["post_id"] in hits)
    return {
        "posts_scored": len(ids),
        "actually_off_track": len(truly_off),
        "alerts": len(paged),
        "true_alerts": len(hits),
        "precision": round(len(hits) / len(paged), 4) if paged else None,
        "recall": round(len(hits) / len(truly_off), 4) if truly_off else None,
        "actually_off_track_projected": len(truly_off & projected),
        "recall_among_projected": round(len(hits) / len(truly_off & projected), 4) if truly_off & projected else None,
        "minutes_to_alert_median": round(statistics.median(minutes), 1) if minutes else None,
        "minutes_to_alert_p90": round(minutes[int(0.9 * (len(minutes) - 1))], 1) if minutes else None,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="engagement bench early-warning",
        description="Precision, recall and minutes to alert of PostOffTrack over a simulated week, in process.",
    )
    parser.add_argument("--accounts", type=int, default=25)
    parser.add_argument("--rate", type=float, default=20.0, help="events per model second (default %(default)s)")
    parser.add_argument("--days", type=int, default=8, help="model days: a warm-up day and a week (default 8)")
    parser.add_argument("--collapsing-posts", type=float, default=0.05, help="share of posts that collapse")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    started_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    figures = measure(args.accounts, args.rate, args.days, args.collapsing_posts, args.seed)
    result = {"bench": "engagement-early-warning", "started_at": started_at, "early_warning": figures}
    print(orjson.dumps(result).decode(), flush=True)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"early-warning-{started_at.replace(':', '').replace('-', '')}.json"
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    log(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
