"""The faust internals the service uses (streams/api/faust_internals.py), one test each: on a faust
upgrade, a failure names the internal that moved."""

from __future__ import annotations

import inspect

from faust.tables import TableManager

from streams.api.faust_internals import TablelessManager


def test_the_table_manager_starts_its_channels_and_recovery_after_a_wait():
    source = inspect.getsource(TableManager.on_start)
    for name in ("self._update_channels()", "self.recovery.start()", "self.should_stop"):
        assert name in source, f"faust's TableManager.on_start no longer calls {name} (TablelessManager)"
    assert "self.sleep(" in source, "faust's TableManager.on_start no longer waits: TablelessManager is not needed"


def test_the_tableless_manager_replaces_only_on_start():
    overridden = {name for name, value in vars(TablelessManager).items() if callable(value)}
    assert overridden == {"on_start"}
