"""The command line of `engagement simulate`: its options, each defaulting to its setting."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import Settings


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0: {text}")
        return value

    return parse


def simulate_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="engagement simulate", description="Produce synthetic posts and interaction events into Kafka."
    )
    parser.add_argument(
        "--rate",
        type=_positive(float),
        default=settings.simulate_rate,
        help="mean events per second (default %(default)s)",
    )
    parser.add_argument("--duration", type=_positive(float), help="stop after this many seconds")
    parser.add_argument("--max-events", type=_positive(int), help="stop after this many events")
    parser.add_argument("--seed", type=int, default=settings.simulate_seed, help="default %(default)s")
    parser.add_argument(
        "--accounts",
        type=_positive(int),
        default=settings.simulate_accounts,
        help="number of accounts (default %(default)s)",
    )
    parser.add_argument(
        "--collapse-account",
        default=settings.simulate_collapse_account or None,
        help="account whose engagement collapses, e.g. acct-0003 (default: none)",
    )
    parser.add_argument(
        "--collapse-after",
        type=float,
        default=settings.simulate_collapse_after_seconds,
        help="seconds after start when the collapse begins (default %(default)s)",
    )
    parser.add_argument(
        "--silent-account",
        default=settings.simulate_silent_account or None,
        help="account whose new posts get no event at all, their records still published (default: none)",
    )
    parser.add_argument(
        "--silent-after",
        type=float,
        default=settings.simulate_silent_after_seconds,
        help="seconds after start when the silent collapse begins (default %(default)s)",
    )
    parser.add_argument(
        "--crisis-account",
        default=settings.simulate_crisis_account or None,
        help="account whose mentions turn into a PR crisis, e.g. acct-0004 (default: none)",
    )
    parser.add_argument(
        "--crisis-after",
        type=float,
        default=settings.simulate_crisis_after_seconds,
        help="seconds after start when the crisis begins (default %(default)s)",
    )
    parser.add_argument(
        "--reply-delay-scale",
        type=_positive(float),
        default=settings.simulate_reply_delay_scale,
        help="factor on the teams' reply delays, median 1 h at 1 (default %(default)s)",
    )
    parser.add_argument(
        "--day-seconds",
        type=_positive(float),
        default=settings.simulate_day_seconds,
        help="length of the model's day: posting intervals and engagement decay scale with it (default %(default)s)",
    )
    parser.add_argument("--stats-file", type=Path, help="also write the final stats (JSON) here")
    return parser
