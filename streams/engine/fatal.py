"""The one way the worker ends itself: when it can no longer count (its loop died, a restore failed),
it must not look alive. It exits with status 70 (EX_SOFTWARE) at once, for its supervisor to restart
it; a restart redoes exactly the uncommitted work."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

EXIT_STATUS = 70


def exit_worker(what: str, exc: BaseException, up_gauge) -> None:
    log.critical("%s: exiting for a restart", what, exc_info=exc)
    up_gauge.set(0)
    os._exit(EXIT_STATUS)
