"""`make run` as a new user meets it (make soak): in a terminal (tmux), on its compressed day, within
five minutes the marketing half of `engagement top` shows accounts' ER per post against their band,
an off-track post (one the simulator collapsed), and through Alertmanager the collapsed account's
benchmark alert and the crisis account's listening page; `q` stops everything it started."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from streams.devtools.compressed_day import CompressedDay
from streams.devtools.paths import REPO
from streams.settings import Settings
from streams.simulator.profile import collapses

pytestmark = pytest.mark.skipif(not shutil.which("tmux"), reason="tmux is not installed")

SESSION = "engagement-make-run-test"
# A row of the marketing half: an account, its ER per post and its band, e.g.
# "acct-0013 (instagram)   2.99 %   1.73 % .. 3.54 %" (a narrow table cuts the platform: "(inst…").
ER_PER_POST_ROW = re.compile(r"acct-\d{4} \([^)\s]*\)?\s+\d+\.\d\d %\s+\d+\.\d\d % \.\. \d+\.\d\d %")
# What `make run` starts: the broker, Prometheus and Alertmanager by their data directories under .run;
# the worker and the simulator by their command, run from the checkout.
CHILDREN = re.compile(r"\.run/compressed-day/|streams\.cli (worker|simulate)")


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def _pane() -> str:
    return _tmux("capture-pane", "-p", "-t", SESSION)


def _leftovers() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout.splitlines()
    found = []
    for line in ps:
        pid, args = line.strip().split(" ", 1)
        if CHILDREN.search(args) and (str(REPO) in args or _cwd(pid) == REPO):
            found.append(args)
    return found


def _cwd(pid: str):
    try:
        return Path(f"/proc/{pid}/cwd").resolve()
    except OSError:
        return None


def test_make_run_shows_er_per_post_an_off_track_post_and_the_pages_within_five_minutes():
    real = Settings()
    day = dataclasses.replace(real, **CompressedDay().settings(real))
    collapsed, crisis = day.simulate_collapse_account, day.simulate_crisis_account
    wanted = {"ER per post", "benchmark alert", "off-track post", "crisis page"}
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    # The tmux server inherits pytest's environment, whose COLUMNS and LINES (80 x 24) would override the
    # pane's size for the screen; without a client attached, tmux may size the window to its 80-column
    # default. Either way the marketing half's rows would be cut and its alerts panel not drawn.
    run = f"cd {REPO} && env -u COLUMNS -u LINES make run; sleep 60"
    _tmux("new-session", "-d", "-s", SESSION, "-x", "220", "-y", "140", run)
    _tmux("set-option", "-t", SESSION, "window-size", "manual")
    _tmux("resize-window", "-t", SESSION, "-x", "220", "-y", "140")
    seen: dict[str, float] = {}
    started = time.monotonic()
    try:
        while time.monotonic() - started < 300 and seen.keys() != wanted:
            time.sleep(5)
            pane = _pane()
            alerts = pane.split("alerts (Alertmanager)")[-1]
            off_track = re.findall(r"(acct-\d{4}-p\d+) of acct-\d{4} \([^)]*\) projected", pane)
            share = day.simulate_collapsing_posts
            found = {
                "ER per post": bool(ER_PER_POST_ROW.search(pane)),
                "benchmark alert": bool(re.search(rf"EngagementRateBelowBenchmark .*account_id={collapsed}\b", alerts)),
                "off-track post": any(collapses(real.simulate_seed, p, share) for p in off_track),
                "crisis page": bool(re.search(rf"EngagementMentionUnanswered .*account_id={crisis}, sla=res", alerts)),
            }
            for what in found.keys() - seen.keys():
                if found[what]:
                    seen[what] = round(time.monotonic() - started)
        print(f"\nmake run, seconds after start: {seen}\n{pane}")
        assert seen.keys() == wanted, pane
        _tmux("send-keys", "-t", SESSION, "q")
        deadline = time.monotonic() + 60
        while "summary {" not in (pane := _pane()) and time.monotonic() < deadline:
            time.sleep(1)
        assert "summary {" in pane, pane
        # Once the screen is gone, the banner shows again: it says what runs and how to run real time.
        assert "a compressed day" in pane and "make run REAL_TIME=1" in pane.replace("\n", ""), pane
        time.sleep(2)
        assert _leftovers() == []
    finally:
        subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
