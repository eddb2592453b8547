"""The refresh loop of `engagement top`: full screen on a terminal (q or Ctrl-C exits), or plain status
lines (``--plain``), or one frame (``--once``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Callable

from rich.console import Console
from rich.live import Live

from ..settings import Settings
from .figures import Figures, History, figures, status_line
from .sources import read_monitoring, read_worker
from .view import screen

QUIT_KEYS = ("q", "Q")
STOP_POLL_SECONDS = 0.5


class Top:
    """Reads every source once per ``refresh``; rates are over the time since the previous refresh."""

    def __init__(self, workers: list[str], prometheus: str | None = None, alertmanager: str | None = None):
        self.workers, self.prometheus, self.alertmanager = workers, prometheus, alertmanager
        self.history = History()
        self._previous: dict = {}
        self._at: float | None = None
        self.started = time.monotonic()

    def refresh(self) -> Figures:
        readings = [read_worker(url) for url in self.workers]
        monitoring = read_monitoring(self.prometheus, self.alertmanager)
        now = time.monotonic()
        seconds = 0.0 if self._at is None else now - self._at
        result = figures(readings, self._previous, seconds, monitoring, self.history)
        self._previous = {r.url: r for r in readings if r.metrics is not None}
        self._at = now
        return result

    def title(self) -> str:
        return f"{len(self.workers)} worker(s) · {time.strftime('%H:%M:%S')} · q quits"


@contextlib.contextmanager
def _keys():
    """Single key presses from the terminal (cbreak: no Enter needed; Ctrl-C still interrupts)."""
    fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
    saved = termios.tcgetattr(fd) if fd is not None else None
    if fd is not None:
        tty.setcbreak(fd)

    def quit_pressed(timeout: float) -> bool:
        if fd is None:
            time.sleep(timeout)
            return False
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([fd], [], [], left)
            if ready and os.read(fd, 32).decode(errors="replace").strip() in QUIT_KEYS:
                return True
        return False

    try:
        yield quit_pressed
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def run_screen(top: Top, interval: float = 1.0, stop: Callable[[], bool] = lambda: False) -> None:
    """Full screen until q, Ctrl-C or ``stop()``."""
    show_alerts = top.alertmanager is not None
    with _keys() as quit_pressed, Live(console=Console(), screen=True, auto_refresh=False) as live:
        try:
            while not stop():
                live.update(screen(top.refresh(), top.title(), show_alerts), refresh=True)
                if quit_pressed(interval):
                    return
        except KeyboardInterrupt:
            return


def run_plain(top: Top, interval: float = 10.0, stop: Callable[[], bool] = lambda: False, out=print) -> None:
    """A status line every ``interval`` seconds until ``stop()`` (checked every STOP_POLL_SECONDS)."""
    top.refresh()
    due = time.monotonic() + interval
    while not stop():
        if time.monotonic() >= due:
            out(status_line(top.refresh(), time.monotonic() - top.started), flush=True)
            due += interval
        time.sleep(min(STOP_POLL_SECONDS, max(0.0, due - time.monotonic())))


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="engagement top", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--worker",
        action="append",
        metavar="URL",
        help=f"a worker's HTTP API, repeatable (default {settings.worker_url})",
    )
    parser.add_argument(
        "--prometheus", metavar="URL", help="Prometheus, for each account's ER per post and its benchmark band"
    )
    parser.add_argument("--alertmanager", metavar="URL", help="Alertmanager, for the alerts firing")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    parser.add_argument("--once", action="store_true", help="print one frame (two readings apart) and exit")
    parser.add_argument("--plain", action="store_true", help="status lines instead of the full screen")
    parser.add_argument("--width", type=int, help="columns of --once's frame (default: the terminal's)")
    args = parser.parse_args(argv)
    top = Top(args.worker or [settings.worker_url], args.prometheus, args.alertmanager)
    try:
        if args.once:
            top.refresh()
            time.sleep(args.interval)
            Console(width=args.width).print(screen(top.refresh(), top.title(), args.alertmanager is not None))
        elif args.plain or not sys.stdout.isatty():
            run_plain(top, args.interval)
        else:
            run_screen(top, args.interval)
    except KeyboardInterrupt:
        pass
    return 0
