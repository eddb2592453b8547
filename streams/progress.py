"""Progress of a long command (`engagement simulate`, `engagement bench`) on stderr, where stdout keeps
the command's result: on a terminal a bar with the count, the rate and the ETA (rich), redrawn in
place; otherwise (a log file, CI) the same figures as a plain line every PLAIN_EVERY_SECONDS, so that
a log is not flooded with redraws.

The end is known from a total (units to do), a duration (seconds to run), both (whichever comes
first), or neither: then only the running count and rate are shown.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress as Bar, TextColumn

PLAIN_EVERY_SECONDS = 10.0
REDRAW_SECONDS = 0.1  # the bar is redrawn at most this often
RATE_WINDOW_SECONDS = 10.0  # the rate, and so the ETA, is that of the last this-many seconds


class Progress:
    def __init__(
        self,
        label: str,
        *,
        unit: str = "events",
        total: int | None = None,
        seconds: float | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label, self.unit, self.total, self.seconds = label, unit, total, seconds
        self.stream = sys.stderr if stream is None else stream
        self.clock = clock
        self.started = clock()
        self.done = 0
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)])
        self._shown_at = self.started  # the last plain line, or the last redraw
        self._bar: Bar | None = None
        if self.stream.isatty():
            self._bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[status]}"),
                console=Console(file=self.stream, force_terminal=True),
                get_time=clock,
                auto_refresh=False,
            )
            self._task = self._bar.add_task(label, total=None if self.fraction() is None else 1.0, status=self.status())
            self._bar.start()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, failure, *_) -> None:
        self.close(summary=failure is None)

    def update(self, done: int) -> None:
        """``done`` units so far; shown when a redraw or a plain line is due."""
        now = self.clock()
        self.done = done
        self._samples.append((now, done))
        while len(self._samples) > 2 and self._samples[1][0] <= now - RATE_WINDOW_SECONDS:
            self._samples.popleft()
        if now - self._shown_at >= (REDRAW_SECONDS if self._bar else PLAIN_EVERY_SECONDS):
            self._shown_at = now
            self._show()

    def close(self, summary: bool = True) -> None:
        """The last figures: the bar's final state, or a plain summary line (``summary``: not after a failure)."""
        if self._bar is not None:
            self._show()
            self._bar.stop()
        elif summary:
            elapsed = self.clock() - self.started
            rate = f", {self.done / elapsed:,.0f} {self.unit}/s" if elapsed > 0 else ""
            print(f"{self.label}: {self.done:,} {self.unit} in {elapsed:,.0f} s{rate}", file=self.stream, flush=True)

    def _show(self) -> None:
        if self._bar is None:
            print(f"{self.label}: {self.status()}", file=self.stream, flush=True)
            return
        fraction = self.fraction()
        self._bar.update(self._task, completed=fraction or 0.0, status=self.status())
        self._bar.refresh()

    # -- the figures ------------------------------------------------------------------------------------
    def fraction(self) -> float | None:
        """Of the run done (0..1), or None without an end."""
        known = []
        if self.total:
            known.append(self.done / self.total)
        if self.seconds:
            known.append((self.clock() - self.started) / self.seconds)
        return min(1.0, max(known)) if known else None

    def rate(self) -> float | None:
        """Units per second over the last RATE_WINDOW_SECONDS (None before any time has passed)."""
        (since, first), (now, last) = self._samples[0], self._samples[-1]
        return (last - first) / (now - since) if now > since else None

    def eta(self) -> float | None:
        """Seconds until the end: the sooner of the total's at the current rate and the duration's."""
        rate = self.rate()
        left = []
        if self.total and rate:
            left.append(max(0, self.total - self.done) / rate)
        if self.seconds:
            left.append(max(0.0, self.seconds - (self.clock() - self.started)))
        return min(left) if left else None

    def status(self) -> str:
        """e.g. ``12,000/50,000 events  24%  1,000 events/s  ETA 0:00:38``."""
        parts = [f"{self.done:,}/{self.total:,} {self.unit}" if self.total else f"{self.done:,} {self.unit}"]
        fraction, rate, eta = self.fraction(), self.rate(), self.eta()
        if fraction is not None:
            parts.append(f"{fraction:.0%}")
        if rate is not None:
            parts.append(f"{rate:,.0f} {self.unit}/s")
        if fraction is not None:
            parts.append(f"ETA {_clock(eta)}")
        return "  ".join(parts)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--:--"
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
