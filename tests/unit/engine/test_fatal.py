"""streams.engine.fatal.exit_worker: the worker ends itself at once (status 70) when it can no longer
count, after logging why and setting its up gauge to 0."""

from __future__ import annotations

import logging
import os

import pytest

from streams.engine import fatal
from streams.metrics import Metrics


class Exited(BaseException):
    def __init__(self, status: int):
        self.status = status


def fake_exit(status: int):
    raise Exited(status)  # os._exit never returns: neither may the fake


def test_exit_worker_logs_critical_sets_up_to_0_and_exits_70(monkeypatch, caplog):
    monkeypatch.setattr(os, "_exit", fake_exit)
    metrics = Metrics()
    assert metrics.registry.get_sample_value("engagement_worker_up") == 1.0
    error = RuntimeError("journal unreadable")
    with caplog.at_level(logging.CRITICAL, logger=fatal.__name__), pytest.raises(Exited) as exited:
        fatal.exit_worker("restoring partitions [3] failed", error, metrics.up)
    assert exited.value.status == 70
    assert metrics.registry.get_sample_value("engagement_worker_up") == 0.0
    [record] = [r for r in caplog.records if r.name == fatal.__name__]
    assert record.levelno == logging.CRITICAL
    assert record.getMessage() == "restoring partitions [3] failed: exiting for a restart"
    assert record.exc_info[1] is error


def test_the_gauge_is_0_before_the_process_exits(monkeypatch):
    """A scrape racing the exit must not see the worker up: the gauge is set before os._exit."""
    metrics = Metrics()
    seen = []
    monkeypatch.setattr(os, "_exit", lambda status: seen.append((status, metrics.up._value.get())))
    fatal.exit_worker("engine loop died", ValueError("x"), metrics.up)
    assert seen == [(70, 0.0)]
