"""streams.api.shutdown: once a stop begins, the process exits after the shutdown timeout whatever it
is waiting for (a broker gone), saying why. The worker stopped with its broker gone:
tests/soak/test_broker_absent.py."""

from __future__ import annotations

import logging
import threading

import faust

from streams.api.shutdown import FORCED_EXIT_STATUS, arm_deadline, deadline_worker


def test_the_deadline_exits_with_a_reason(caplog):
    caplog.set_level(logging.ERROR)
    exited: list[int] = []
    done = threading.Event()

    def exit_now(status: int) -> None:
        exited.append(status)
        done.set()

    timer = arm_deadline(0.0, exit_now)
    assert done.wait(10)
    timer.join()
    assert exited == [FORCED_EXIT_STATUS]
    assert "stopping took longer than the shutdown timeout (ENGAGEMENT_SHUTDOWN_TIMEOUT_SECONDS=0)" in caplog.text
    assert timer.daemon  # a stop that ends first is not held up by it


def test_the_deadline_does_not_fire_when_cancelled_by_the_process_ending():
    exited: list[int] = []
    timer = arm_deadline(3600.0, exited.append)
    timer.cancel()
    timer.join()
    assert exited == []


def test_the_worker_class_is_faust_s_with_the_deadline_armed_as_its_stop_begins():
    worker = deadline_worker(12.5)
    assert issubclass(worker, faust.Worker)
    assert worker.on_stop is not faust.Worker.on_stop
