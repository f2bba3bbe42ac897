"""Terminal output for the CLI: a progress bar, tables, durations and times.

The bar draws one redrawn line on a terminal and plain lines in a log.
It is a ``ProgressFn`` (``bar(fraction, message)``), so a job can report to it directly. Redraws
are throttled (a job may report thousands of times per second; the terminal must not be the
bottleneck), and when stderr is a file or a pipe it writes a line only when the message changes
or another tenth of the work is done, so logs stay readable.
"""
from __future__ import annotations

import datetime
import math
import shutil
import sys
import threading
import time
from typing import Callable, Sequence, TextIO


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    return format_elapsed(seconds)


def format_time(timestamp: float | None) -> str:
    """Local time of a Unix timestamp, to the second."""
    if timestamp is None:
        return "-"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                 max_width: int = 60) -> str:
    """A left-aligned plain-text table; cells longer than ``max_width`` are cut with '...'."""
    def cell(value: object) -> str:
        text = "-" if value is None else str(value)
        return text if len(text) <= max_width else text[: max_width - 3] + "..."

    table = [[cell(h) for h in headers]] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table]
    return "\n".join(lines)


def format_elapsed(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, *, label: str = "", width: int = 28,
                 min_interval: float = 0.1, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.label = label
        self.width = width
        self.min_interval = min_interval  # 0.1 s: at most 10 redraws per second
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self._clock = clock
        self._start = clock()
        self._last_draw = -math.inf
        self._last_line = ("", -1)  # (message, tenth) of the last plain line
        self._drawn_len = 0
        self._fraction = 0.0
        self._message = ""
        self._lock = threading.Lock()  # jobs may report from a worker thread
        self.closed = False

    def __call__(self, fraction: float, message: str = "", detail: dict | None = None) -> None:
        self.update(fraction, message)

    def update(self, fraction: float, message: str = "", *, force: bool = False) -> None:
        if not math.isfinite(fraction):
            fraction = 0.0
        with self._lock:
            if self.closed:
                return
            self._fraction = min(1.0, max(0.0, float(fraction)))
            self._message = str(message)
            now = self._clock()
            if not force and now - self._last_draw < self.min_interval:
                return
            if self.tty:
                self._draw(now)
            else:
                self._line(now, force)

    def line(self, now: float | None = None) -> str:
        """The bar's text: ``label [#####.....]  45%  message  00:12``."""
        now = self._clock() if now is None else now
        filled = int(round(self._fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        parts = [p for p in (self.label, f"[{bar}]", f"{self._fraction * 100:5.1f}%",
                             self._message, format_elapsed(now - self._start)) if p]
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        text = self.line(now)
        columns = shutil.get_terminal_size((100, 20)).columns
        text = text[: max(10, columns - 1)]  # a wrapped line cannot be redrawn with \r
        pad = " " * max(0, self._drawn_len - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._drawn_len = len(text)
        self._last_draw = now

    def _line(self, now: float, force: bool) -> None:
        tenth = int(self._fraction * 10)
        if not force and (self._message, tenth) == self._last_line:
            return
        self.stream.write(self.line(now) + "\n")
        self.stream.flush()
        self._last_line = (self._message, tenth)
        self._last_draw = now

    def close(self, message: str | None = None) -> None:
        """Draw the final state (if anything was drawn) and end the line."""
        with self._lock:
            if self.closed:
                return
            drew = self._drawn_len > 0 or self._last_line != ("", -1)
            if message is not None:
                self._message = message
            if self.tty and drew:
                self._draw(self._clock())
                self.stream.write("\n")
                self.stream.flush()
            elif drew and message is not None:
                self._line(self._clock(), True)
            self.closed = True

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
