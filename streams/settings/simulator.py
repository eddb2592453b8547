"""What `engagement simulate` produces: fields of ``Settings`` (``model``), which inherits them. The
simulator is dev tooling; its knobs are settings so that `make run` and the tests pass them like the
others (``Settings.as_env``)."""

from __future__ import annotations

from dataclasses import dataclass

from .checks import AT_LEAST_1, NON_NEGATIVE, POSITIVE, doc


@dataclass(frozen=True)
class SimulatorSettings:
    simulate_rate: float = doc("Events per second that `engagement simulate` produces.", default=200.0, check=POSITIVE)
    simulate_accounts: int = doc("Accounts the simulator invents.", default=25, check=AT_LEAST_1)
    simulate_seed: int = doc("Seed of the simulator (same seed, same traffic).", default=7)
    simulate_collapse_account: str = doc("Account whose engagement the simulator collapses (empty: none).", default="")
    simulate_collapse_after_seconds: float = doc(
        "Seconds after start when the collapse begins.", default=60.0, check=NON_NEGATIVE
    )
    simulate_silent_account: str = doc(
        "Account whose new posts the simulator leaves without any event, their records still published "
        "(a silent collapse; empty: none).",
        default="",
    )
    simulate_silent_after_seconds: float = doc(
        "Seconds after start when the silent collapse begins.", default=60.0, check=NON_NEGATIVE
    )
    simulate_crisis_account: str = doc(
        "Account whose mentions the simulator turns into a PR crisis: several "
        "times the volume, mostly negative (empty: none).",
        default="",
    )
    simulate_crisis_after_seconds: float = doc(
        "Seconds after start when the crisis begins.", default=60.0, check=NON_NEGATIVE
    )
    simulate_stop_closing_account: str = doc(
        "Account whose team stops closing mentions: it still replies, but its mentions stay unresolved (empty: none).",
        default="",
    )
    simulate_stop_closing_after_seconds: float = doc(
        "Seconds after start when the team stops closing.", default=60.0, check=NON_NEGATIVE
    )
    simulate_collapsing_posts: float = doc(
        "Probability that a post the simulator publishes collapses from its publication (the early warning's case).",
        default=0.0,
        check=NON_NEGATIVE,
    )
    simulate_collapsing_account: str = doc(
        "The one account whose posts may collapse (empty: every account).", default=""
    )
    simulate_reply_delay_scale: float = doc(
        "Factor on the simulated teams' reply and resolve delays (hours at 1; a test "
        "with SLAs shortened by the same factor keeps their proportion).",
        default=1.0,
        check=POSITIVE,
    )
    simulate_day_seconds: float = doc(
        "Length of the simulator's day in seconds: posting intervals and engagement "
        "decay scale with it (tests with shortened post maturity shorten it too).",
        default=86400.0,
        check=POSITIVE,
    )
