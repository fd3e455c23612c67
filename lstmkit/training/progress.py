"""The progress display of `fit`, `evaluate` and `predict`: one bar per epoch, Keras-style.

On a terminal the bar is redrawn in place (at most ten times a second):

     412/1875 ━━━━━━━━━━━━━━━━━━━━ 12s 29ms/step - ETA 42s - accuracy: 0.8312 - loss: 0.5275

and the finished line keeps the elapsed time, time per step and the epoch's figures. When the
output is not a terminal (a log file, a pipe, CI) nothing is redrawn: a plain line is written
every `plain_interval` seconds and once at the end, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Mapping


def format_duration(seconds: float) -> str:
    """`42s`, `3:07`, `1:02:09`.

    >>> format_duration(42.4), format_duration(187), format_duration(3729)
    ('42s', '3:07', '1:02:09')
    """
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def format_step_time(seconds: float) -> str:
    """`24ms/step`, `850us/step`, `2s/step`."""
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def format_values(values: Mapping[str, float]) -> str:
    """` - accuracy: 0.9812 - loss: 0.0612`, names sorted as Keras 3 shows them."""
    parts = []
    for name in sorted(values):
        value = values[name]
        parts.append(f"{name}: {value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{name}: {value:.4e}")
    return "".join(f" - {p}" for p in parts)


class Progbar:
    """A progress bar over `target` steps (None when the count is unknown).

    Args:
        target: The number of steps, or None.
        width: Characters of the bar itself.
        stream: Where to write (standard output by default).
        interactive: Redraw in place; by default, whether `stream` is a terminal.
        plain_interval: Seconds between plain lines when not interactive.
    """

    def __init__(
        self,
        target: int | None,
        width: int = 20,
        stream: IO[str] | None = None,
        interactive: bool | None = None,
        plain_interval: float = 30.0,
    ) -> None:
        self.target = target
        self.width = width
        self.stream = stream if stream is not None else sys.stdout
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(isatty and isatty()) if interactive is None else interactive
        self.plain_interval = plain_interval
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_plain = self.start
        self._drawn_width = 0

    def bar(self, current: int) -> str:
        if not self.target:
            return f"{current}/Unknown"
        digits = len(str(self.target))
        filled = int(self.width * min(current, self.target) / self.target)
        return f"{current:>{digits}}/{self.target} " + "━" * filled + "─" * (self.width - filled)

    def update(self, current: int, values: Mapping[str, float] | None = None, finalize: bool | None = None) -> None:
        """Shows `current` steps done with the running `values`; `finalize` ends the line."""
        values = values or {}
        now = time.perf_counter()
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        elapsed = now - self.start
        per_step = elapsed / current if current else 0.0
        if finalize:
            line = f"{self.bar(current)} {format_duration(elapsed)} {format_step_time(per_step)}{format_values(values)}"
            self._write(line, end=True)
            return
        if self.interactive:
            if now - self._last_draw < 0.1 and current > 1:
                return
            self._last_draw = now
        elif now - self._last_plain < self.plain_interval:
            return
        else:
            self._last_plain = now
        eta = f" - ETA {format_duration(per_step * (self.target - current))}" if self.target else ""
        line = f"{self.bar(current)} {format_duration(elapsed)} {format_step_time(per_step)}{eta}{format_values(values)}"
        self._write(line, end=not self.interactive)

    def _write(self, line: str, end: bool) -> None:
        if self.interactive:
            padding = " " * max(self._drawn_width - len(line), 0)
            self.stream.write("\r" + line + padding + ("\n" if end else ""))
            self._drawn_width = 0 if end else len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
