"""A worker frozen between its offsets accepted and its end of transaction (a GC pause, a frozen VM;
make soak), while another takes its partitions over: when it resumes it can still commit that transaction (it is
younger than the transaction timeout), so the new owner must not restore before it is decided, or the
input it carries counts twice. The test-only hook streams/engine/pause_hook.py freezes the worker at
that exact point; the final records must equal the ground truth read back from the input topic."""

from __future__ import annotations

import os
import signal
import sys
import time

from tests.fixtures.kafka import keyed_events, produce, read_all, run, wait_for
from tests.fixtures.reliability import (
    assert_final_records_exact,
    events_in,
    owned_partitions,
    run_settings,
    sharing,
)

# After the other worker took over (session timeout 6 s) and a restore that waited 5 s for open
# transactions had ended; before the transaction times out (15 s).
RESUME_AFTER_S = 14


def test_a_worker_frozen_before_its_end_of_transaction_counts_nothing_twice(
    kafka_bootstrap, workers, topics_ready, tmp_path
):
    settings = run_settings(kafka_bootstrap, topics_ready)
    pause = tmp_path / "pause-before-end-txn"
    command = ("env", f"STREAMS_TEST_PAUSE_BEFORE_END_TXN={pause}", sys.executable, "-m", "streams.cli", "worker")
    frozen = workers(settings, "frozen", command=command).start()
    other = workers(settings, "other").start()
    wait_for(lambda: sharing(frozen, other), 60, "two workers sharing the partitions")

    run(
        produce(
            settings,
            settings.topic_interactions,
            keyed_events(3_000, type_="like", platform="x", accounts=20, posts=3, prefix="before"),
        )
    )
    pause.touch()  # the frozen worker's next commit that carries offsets stops itself there
    run(
        produce(
            settings,
            settings.topic_interactions,
            keyed_events(3_000, type_="comment", platform="x", accounts=20, posts=3, prefix="during"),
        )
    )
    wait_for(lambda: not pause.exists(), 30, "the worker to freeze before its end of transaction", interval=0.01)
    frozen_at = time.monotonic()
    try:
        wait_for(lambda: owned_partitions(other) == 8, 30, "the other worker to take every partition over", 0.1)
        while time.monotonic() - frozen_at < RESUME_AFTER_S:
            time.sleep(0.05)
    finally:
        os.kill(frozen.proc.pid, signal.SIGCONT)
    # The resumed worker learns it lost its partitions, rejoins, and they are restored again from the
    # journal, which holds what both committed.
    wait_for(lambda: sharing(frozen, other), 90, "the resumed worker to own partitions again")
    run(
        produce(
            settings,
            settings.topic_interactions,
            keyed_events(1_000, type_="share", platform="x", accounts=20, posts=3, prefix="after"),
        )
    )

    assert_final_records_exact(settings, events_in(run(read_all(settings, settings.topic_interactions))), "x")
