"""The command line of `engagement simulate`: its options, each defaulting to its setting."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import Settings

# (option, example, the account ..., seconds after start when ...): a scenario's --X-account and --X-after
SCENARIO_ROLES = (
    ("collapse", "acct-0003", "whose engagement collapses", "the collapse begins"),
    (
        "silent",
        "acct-0003",
        "whose new posts get no event at all, their records still published",
        "the silent collapse begins",
    ),
    ("crisis", "acct-0004", "whose mentions turn into a PR crisis", "the crisis begins"),
    ("stop-closing", "acct-0005", "whose team stops closing mentions (it still replies)", "the team stops closing"),
)


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
    for role, example, what, when in SCENARIO_ROLES:
        name = role.replace("-", "_")
        parser.add_argument(
            f"--{role}-account",
            default=getattr(settings, f"simulate_{name}_account") or None,
            help=f"account {what}, e.g. {example} (default: none)",
        )
        parser.add_argument(
            f"--{role}-after",
            type=float,
            default=getattr(settings, f"simulate_{name}_after_seconds"),
            help=f"seconds after start when {when} (default %(default)s)",
        )
    parser.add_argument(
        "--collapsing-posts",
        type=float,
        default=settings.simulate_collapsing_posts,
        help="probability that a post collapses from its publication (default %(default)s)",
    )
    parser.add_argument(
        "--collapsing-account",
        default=settings.simulate_collapsing_account or None,
        help="the one account whose posts may collapse (default: every account)",
    )
    parser.add_argument(
        "--reply-delay-scale",
        type=_positive(float),
        default=settings.simulate_reply_delay_scale,
        help="factor on the teams' reply and resolve delays, median 1 h at 1 (default %(default)s)",
    )
    parser.add_argument(
        "--day-seconds",
        type=_positive(float),
        default=settings.simulate_day_seconds,
        help="length of the model's day: posting intervals and engagement decay scale with it (default %(default)s)",
    )
    parser.add_argument("--stats-file", type=Path, help="also write the final stats (JSON) here")
    return parser
