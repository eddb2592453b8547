"""A broker restart in the middle of a run (make soak): the worker reconnects, and the final records
equal the ground truth read back from the input topic."""

from __future__ import annotations

import time

from streams.devtools.broker import EmbeddedKafka
from tests.fixtures.reliability import exactness_run, run_settings


def test_broker_restart_mid_run_is_exact(workers, topics_ready, tmp_path):
    data_dir = tmp_path / "kafka"
    broker = EmbeddedKafka(data_dir=data_dir).start()
    try:
        settings = run_settings(broker.bootstrap, topics_ready, grace_s=30)
        worker = workers(settings).start()

        def bounce():
            nonlocal broker
            port = broker.port
            broker.stop()
            time.sleep(3)
            broker = EmbeddedKafka(port=port, data_dir=data_dir).start()

        exactness_run(settings, [worker], tmp_path, events=15_000, rate=1000, disruptions=[(5, bounce)], grace_s=30)
        assert worker.proc.poll() is None, "the worker died instead of reconnecting"
        worker.stop()  # while its broker is still there to say goodbye to
    finally:
        broker.stop()
