"""A test-only hook: the exact moment a worker can be frozen between its offsets accepted and its end
of transaction (a GC pause, a frozen VM), which a signal from outside cannot hit. With
``STREAMS_TEST_PAUSE_BEFORE_END_TXN`` naming a file, a commit that finds the file there removes it and
stops its own process (SIGSTOP) at that point, for the test to continue it (SIGCONT) when it chooses
(tests/soak/test_takeover.py). Unset, as in production, it costs one attribute read a commit."""

from __future__ import annotations

import os
import signal

PAUSE_FILE = os.environ.get("STREAMS_TEST_PAUSE_BEFORE_END_TXN")


def maybe_pause_before_end_txn() -> None:
    if PAUSE_FILE is None:
        return
    try:
        os.remove(PAUSE_FILE)
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGSTOP)
