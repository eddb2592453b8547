"""The long reliability runs (make soak): three SIGKILLs during 200,000 events, a worker paused past its
session, and an outage longer than every horizon; each on the real broker with the simulator as the
producer.

The ground truth is what the interactions topic holds (read back by the test, duplicates removed by
event_id), so it does not depend on the engine; the final records must equal it exactly."""

from __future__ import annotations

import os
import signal
import time

from tests.fixtures.kafka import wait_for
from tests.fixtures.reliability import (
    OUTAGE_S,
    crash_run,
    exactness_run,
    outage_settings,
    owned_partitions,
    run_settings,
    sharing,
)


def test_sigkill_three_times_during_200k_events(kafka_bootstrap, workers, topics_ready, tmp_path):
    crash_run(kafka_bootstrap, workers, topics_ready, tmp_path, events=200_000, rate=2500, seed=2)


def _pause_past_the_session_then_resume_after_a_close(paused, other, settings, seen: dict):
    """SIGSTOP `paused` for more than two session timeouts, so that `other` takes all its partitions
    and restores them, and SIGCONT it 0.3 s after a window close: the first thing the paused worker
    does is close that window, for partitions that are no longer its own."""

    def action():
        window, grace = settings.window_seconds, settings.window_grace_seconds
        earliest = time.time() + 2 * settings.session_timeout_seconds + 2
        closes_at = (earliest - grace) // window * window + window + grace  # a window end + grace
        resume_at = closes_at + 0.3
        os.kill(paused.proc.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: owned_partitions(other) == 8, 60, "the other worker to own every partition", 0.1)
            while time.time() < resume_at:
                time.sleep(0.01)
        finally:
            os.kill(paused.proc.pid, signal.SIGCONT)
        seen["resumed_at"] = time.time()
        # the paused worker learns it lost its partitions, rejoins, and a rebalance restores them
        wait_for(lambda: sharing(paused, other), 60, "the resumed worker to own partitions again")
        seen["rejoined_s"] = time.time() - seen["resumed_at"]

    return action


def test_a_paused_worker_publishes_nothing_for_the_partitions_it_lost(kafka_bootstrap, workers, topics_ready, tmp_path):
    """A worker paused past its session timeout (a long GC pause, a frozen VM) is a zombie when it
    resumes: the others own its partitions. Whatever it had collected (final records of a window that
    closed while it slept, journal entries, offsets) must not become visible: records stay exact and
    single, and the rebalance that gives it partitions back restores exact state."""
    settings = run_settings(kafka_bootstrap, topics_ready)
    paused, other = workers(settings, "paused").start(), workers(settings, "other").start()
    wait_for(lambda: sharing(paused, other), 60, "two workers sharing the partitions")
    seen: dict = {}
    exactness_run(
        settings,
        [paused, other],
        tmp_path,
        events=30_000,
        rate=1000,
        disruptions=[(4, _pause_past_the_session_then_resume_after_a_close(paused, other, settings, seen))],
    )
    print(
        f"\npaused past the session timeout, resumed 0.3 s after a window close; rejoined with partitions "
        f"{seen['rejoined_s']:.1f} s later"
    )


# two minutes of waiting out the outage
def test_an_outage_longer_than_every_horizon_loses_nothing(kafka_bootstrap, workers, topics_ready, tmp_path):
    """The worker is killed, the input keeps arriving for longer than every window and horizon, and the
    restarted worker counts the whole backlog (it reached Kafka on time) into exact final records."""
    settings = outage_settings(kafka_bootstrap, topics_ready)
    worker = workers(settings).start()
    exactness_run(
        settings,
        [worker],
        tmp_path,
        events=22_000,
        rate=250,
        disruptions=[(8, lambda: worker.stop(sig=signal.SIGKILL)), (8 + OUTAGE_S, worker.start)],
    )
