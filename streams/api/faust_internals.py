"""Every use of faust's private internals by the service, each with why no public setting does it.
On a faust upgrade, run ``tests/unit/api/test_faust_internals.py``: each test names the internal it checks.

- ``TableManager.on_start`` sleeps 1 s so that tables can register, then starts the table channels
  (``_update_channels``) and the recovery service (``recovery``). This app declares no table, and the
  engine, started after it, would wait for nothing: half of a worker's start-up.
"""

from __future__ import annotations

from faust.tables import TableManager


class TablelessManager(TableManager):
    """Faust's table manager without the 1 s wait, for an app that declares no table."""

    async def on_start(self) -> None:
        if self:
            raise RuntimeError("this app declares no Faust tables; use faust.tables.TableManager for tables")
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()
