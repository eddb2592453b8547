"""A deadline on stopping. A graceful stop commits what was read and leaves the group; with the
brokers gone, each of those steps waits out its own Kafka timeouts (a worker stopped together with its
broker took over 40 s), past the orchestrator's grace period, which then kills it anyway. So once a
stop begins, the worker exits after ``ENGAGEMENT_SHUTDOWN_TIMEOUT_SECONDS`` whatever it is waiting for:
nothing is lost, the next owner redoes what was not committed (exactly once, docs/reliability.md)."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable

import faust

log = logging.getLogger(__name__)

FORCED_EXIT_STATUS = 1


def arm_deadline(seconds: float, exit_now: Callable[[int], object] = os._exit) -> threading.Timer:
    """Exit the process (``exit_now``, os._exit: no cleanup left to hang) ``seconds`` from now,
    unless it has ended first (a daemon timer does not keep it alive)."""

    def expire() -> None:
        log.error(
            "stopping took longer than the shutdown timeout (ENGAGEMENT_SHUTDOWN_TIMEOUT_SECONDS=%g): exiting "
            "now; what was not committed is redone by the partitions' next owner",
            seconds,
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stderr.flush()
        exit_now(FORCED_EXIT_STATUS)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer


def deadline_worker(shutdown_timeout_seconds: float) -> type[faust.Worker]:
    """Faust's worker class (the app's ``Worker``), its stop bounded: the deadline is armed as the stop
    begins (a service's ``on_stop`` runs before its children, the app and the engine, are stopped)."""

    class DeadlineWorker(faust.Worker):
        async def on_stop(self) -> None:
            arm_deadline(shutdown_timeout_seconds)
            await super().on_stop()

    return DeadlineWorker
