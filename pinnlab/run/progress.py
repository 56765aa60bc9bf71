"""Progress of a run: a tqdm bar on a terminal, otherwise a status line at a steady interval."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from typing import IO

from tqdm.auto import tqdm


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


#: narrower terminals (a zero-size pseudo-terminal, ``COLUMNS=0``) get status lines instead of a bar
MIN_BAR_WIDTH = 20


def terminal_width(stream: IO[str]) -> int:
    """Columns of the terminal ``stream`` writes to; 0 when it is not a terminal or reports no size.

    ``COLUMNS``, when set to a whole number, is taken as the width the user asked for.
    """
    try:
        if not stream.isatty():
            return 0
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return 0
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.lstrip("-").isdigit():
        return max(int(columns), 0)
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 0


class Progress:
    """Reports step, loss, errors, elapsed and estimated remaining time.

    On a terminal this is a tqdm bar; when the stream is not a terminal (a log file, CI, a pipe) or is
    narrower than ``MIN_BAR_WIDTH`` columns, one line is printed every ``interval`` seconds of wall time,
    and at the end.
    """

    def __init__(self, total: int, initial: int, name: str, enabled: bool = True, stream: IO[str] | None = None,
                 interval: float = 30.0):
        self.total, self.name, self.enabled = total, name, enabled
        self.stream = stream or sys.stderr
        self.interval = float(interval)
        width = terminal_width(self.stream)
        self.interactive = enabled and width >= MIN_BAR_WIDTH
        self.postfix: dict[str, str] = {}
        self.step, self.first_step = initial, initial
        self.started = time.perf_counter()
        self.last_line = self.started
        self.bar = None
        if self.interactive:
            fixed = "COLUMNS" in os.environ  # the width asked for, else the terminal's as it changes
            self.bar = tqdm(total=total, initial=initial, file=self.stream, dynamic_ncols=not fixed,
                            ncols=width if fixed else None, desc=name)

    def describe(self, text: str) -> None:
        self.name = text
        if self.bar is not None:
            self.bar.set_description(text)

    def report(self, loss: float, errors: Mapping[str, float], parameters: Mapping[str, float] | None = None) -> None:
        """Loss, relative L2 errors and learned parameter values for the postfix."""
        self.postfix = {"loss": f"{loss:.3e}", **{f"L2({k})": f"{v:.2e}" for k, v in errors.items()},
                        **{k: f"{v:.6g}" for k, v in (parameters or {}).items()}}
        if self.bar is not None:
            self.bar.set_postfix(self.postfix, refresh=False)

    def update(self, step: int, wall_time: float | None = None) -> None:
        done, self.step = step - self.step, step
        if self.bar is not None:
            self.bar.update(done)
            return
        now = time.perf_counter()
        if self.enabled and (now - self.last_line >= self.interval):
            self._line(now)

    def _line(self, now: float) -> None:
        self.last_line = now
        elapsed = now - self.started
        made = self.step - self.first_step
        eta = _duration(elapsed / made * (self.total - self.step)) if made > 0 else "?"
        extra = "".join(f", {k} {v}" for k, v in self.postfix.items())
        print(f"{self.name}: step {self.step}/{self.total}{extra}, elapsed {_duration(elapsed)}, remaining {eta}",
              file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.step > self.first_step:
            self._line(time.perf_counter())


__all__ = ["Progress"]
