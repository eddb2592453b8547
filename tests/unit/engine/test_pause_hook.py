"""streams.engine.pause_hook: the test-only freeze between a transaction's offsets and its end (used
by tests/soak/test_takeover.py): off unless its variable names a file; once per file."""

from __future__ import annotations

import signal

from streams.engine import pause_hook


def test_the_hook_stops_the_process_once_when_its_file_is_there(monkeypatch, tmp_path):
    signals = []
    monkeypatch.setattr(pause_hook.os, "kill", lambda pid, sig: signals.append(sig))
    monkeypatch.setattr(pause_hook, "PAUSE_FILE", None)
    pause_hook.maybe_pause_before_end_txn()  # production: no variable, no pause
    pause = tmp_path / "pause"
    monkeypatch.setattr(pause_hook, "PAUSE_FILE", str(pause))
    pause_hook.maybe_pause_before_end_txn()  # no file yet
    assert signals == []
    pause.touch()
    pause_hook.maybe_pause_before_end_txn()
    pause_hook.maybe_pause_before_end_txn()
    assert signals == [signal.SIGSTOP] and not pause.exists()
