"""Routine rebalances under load (make soak): a worker joining, then leaving, while the simulator
sends; the final records must equal the ground truth read back from the input topic."""

from __future__ import annotations

from tests.fixtures.kafka import wait_for
from tests.fixtures.reliability import exactness_run, owned_partitions, run_settings, sharing


def test_a_worker_joining_then_leaving_keeps_the_partitions_that_stay_and_is_exact(
    kafka_bootstrap, workers, topics_ready, tmp_path
):
    """Routine rebalances under load: each revokes all of a worker's partitions (aiokafka's eager
    protocol) and gives most back; those nobody wrote to meanwhile are kept, not restored, and the
    final records stay exact."""
    settings = run_settings(kafka_bootstrap, topics_ready)
    steady, joiner = workers(settings, "steady").start(), workers(settings, "joiner")

    def join():
        joiner.start()
        wait_for(lambda: sharing(steady, joiner), 60, "the joiner to take partitions")

    def leave():
        joiner.stop()
        wait_for(lambda: owned_partitions(steady) == 8, 60, "the steady worker to own every partition again")

    exactness_run(settings, [steady, joiner], tmp_path, events=15_000, rate=1000, disruptions=[(4, join), (10, leave)])
    metrics = steady.metrics()
    kept, restored = (
        metrics.get(f'engagement_rebalance_partitions_total{{outcome="{o}"}}', 0) for o in ("kept", "restored")
    )
    print(f"\nthe steady worker over a join and a leave: {kept:.0f} partitions kept, {restored:.0f} restored")
    # The join gives it about half of its 8 back, the leave its own half again and the joiner's half.
    assert kept >= 6, f"kept {kept}, restored {restored}: {steady.log.read_text()[-3000:]}"
