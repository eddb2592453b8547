"""The progress of long commands (streams/progress.py): the figures and both displays with a fake clock
and stream (no sleep), then its use by `engagement simulate` and the bench's runs (no broker)."""

from __future__ import annotations

import asyncio
import io
import time

import pytest

from streams.devtools.bench import offsets
from streams.progress import Progress
from streams.settings import Settings
from streams.simulator import producer as simulate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(progress: Progress, clock: Clock, steps: list[tuple[float, int]]) -> None:
    for at, done in steps:
        clock.now = 1000.0 + at
        progress.update(done)


def test_a_log_gets_a_line_every_interval_with_the_rate_and_eta_then_a_summary():
    clock, stream = Clock(), io.StringIO()
    progress = Progress("pre-fill t", total=50_000, stream=stream, clock=clock)
    run(progress, clock, [(t, 1000 * t) for t in range(1, 26)])  # 1,000 events/s
    clock.now += 0.5
    progress.close()
    assert stream.getvalue().splitlines() == [
        "pre-fill t: 10,000/50,000 events  20%  1,000 events/s  ETA 0:00:40",
        "pre-fill t: 20,000/50,000 events  40%  1,000 events/s  ETA 0:00:30",
        "pre-fill t: 25,000 events in 26 s, 980 events/s",
    ]


def test_the_rate_is_that_of_the_last_ten_seconds_and_the_eta_follows_it():
    clock = Clock()
    progress = Progress("run", total=100_000, stream=io.StringIO(), clock=clock)
    run(progress, clock, [(t, 100 * t) for t in range(1, 21)] + [(t, 2000 + 5000 * (t - 20)) for t in range(21, 31)])
    assert progress.rate() == 5000.0  # the first 20 s at 100 events/s are out of the window
    assert progress.status() == "52,000/100,000 events  52%  5,000 events/s  ETA 0:00:10"


def test_a_duration_gives_the_fraction_and_eta_from_the_clock_and_the_sooner_end_wins():
    clock = Clock()
    timed = Progress("simulate", seconds=60, stream=io.StringIO(), clock=clock)
    run(timed, clock, [(15, 3000)])
    assert timed.status() == "3,000 events  25%  200 events/s  ETA 0:00:45"
    both = Progress("simulate", seconds=60, total=4000, stream=io.StringIO(), clock=clock)
    run(both, clock, [(15 + 15, 3000)])  # 75 % of the events, 25 % of the time
    assert both.status() == "3,000/4,000 events  75%  200 events/s  ETA 0:00:05"


def test_without_an_end_only_the_count_and_the_rate():
    clock, stream = Clock(), io.StringIO()
    progress = Progress("simulate", stream=stream, clock=clock)
    assert progress.status() == "0 events"
    run(progress, clock, [(t, 200 * t) for t in range(1, 11)])
    assert stream.getvalue() == "simulate: 2,000 events  200 events/s\n"


def test_the_eta_is_unknown_until_something_is_done():
    clock = Clock()
    progress = Progress("run", total=10, stream=io.StringIO(), clock=clock)
    run(progress, clock, [(1, 0)])
    assert progress.status() == "0/10 events  0%  0 events/s  ETA --:--:--"


def test_a_terminal_gets_a_bar_redrawn_in_place_and_no_plain_line():
    clock, stream = Clock(), Terminal()
    with Progress("pipeline single-1w", total=1000, stream=stream, clock=clock) as progress:
        run(progress, clock, [(t / 4, 25 * t) for t in range(1, 41)])  # 100 events/s, each update redrawn
    out = stream.getvalue()
    frames = out.split("\r")
    assert len(frames) > 40 and "━" in out and "\x1b[2K" in out  # a bar, each frame erasing the last
    assert "pipeline single-1w" in frames[-1] and "1,000/1,000 events  100%  100 events/s  ETA 0:00:00" in frames[-1]
    assert "500/1,000 events  50%  100 events/s  ETA 0:00:05" in out
    assert "events in" not in out  # the plain summary is the log's


def test_a_stream_that_is_not_a_terminal_gets_plain_lines():
    clock, stream = Clock(), io.StringIO()
    with Progress("run", total=100, stream=stream, clock=clock) as progress:
        run(progress, clock, [(10, 50)])
    assert stream.getvalue() == "run: 50/100 events  50%  5 events/s  ETA 0:00:10\nrun: 50 events in 10 s, 5 events/s\n"


def test_no_summary_after_a_failure():
    stream = io.StringIO()
    with pytest.raises(ValueError):
        with Progress("simulate", stream=stream, clock=Clock()):
            raise ValueError("unknown account")
    assert stream.getvalue() == ""


# -- its users ------------------------------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.updates: list[int] = []

    def update(self, done: int) -> None:
        self.updates.append(done)


def test_the_simulator_reports_the_events_produced_at_each_tick(fake_kafka):
    progress = Recorder()
    stats = asyncio.run(
        simulate.run_simulator(
            Settings(kafka_bootstrap_servers="fake:9092"), rate=20_000, max_events=3_000, progress=progress
        )
    )
    assert stats["events_produced"] == 3_000 and progress.updates[-1] == 3_000
    assert progress.updates == sorted(progress.updates) and len(progress.updates) > 1


def test_simulate_shows_its_progress_on_stderr_and_keeps_stdout_for_the_stats(fake_kafka, monkeypatch, capsys):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "fake:9092")
    assert simulate.main(["--max-events", "300", "--rate", "20000"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith('{"events_produced":300,') and err.startswith("simulate: 300 events in ")


class Offsets:
    """A consumer group that commits half of each partition, then all of it."""

    group = "g"

    def __init__(self) -> None:
        self.reads = iter([{0: 5, 1: 5}, {0: 10, 1: 10}])

    async def read(self):
        return next(self.reads)


def test_a_bench_run_shows_the_events_its_group_committed(monkeypatch, capsys):
    monkeypatch.setattr(offsets, "POLL_SECONDS", 0.0)
    last = []
    close = Progress.close
    monkeypatch.setattr(Progress, "close", lambda self, **kw: (last.append(self.status()), close(self, **kw)))

    async def nothing() -> None:
        pass

    samples, _ = asyncio.run(
        offsets.until_committed(
            Offsets(), {0: 10, 1: 10}, 1000, time.monotonic(), 60, nothing, lambda: "", "pipeline single-1w"
        )
    )
    assert [done for _, done in samples] == [500, 1000]
    assert last[0].startswith("1,000/1,000 events  100%  ")
    assert capsys.readouterr().err.startswith("pipeline single-1w: 1,000 events in 0 s, ")
