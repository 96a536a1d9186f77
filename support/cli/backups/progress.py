"""What a backup or a restore shows while it runs.

On a terminal, one line rewritten in place a few times a second: the stage, how far, how
fast. Elsewhere (cron, a log) a plain line every ``QUIET_EVERY`` seconds, so a log shows it
was moving without a line per document. ``--quiet`` shows only the summary.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

TERMINAL_EVERY = 0.2
QUIET_EVERY = 30.0


def size(count: int) -> str:
    """Bytes in the unit that reads best: 512 B, 3.4 MB, 1.2 GB."""
    amount = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    raise AssertionError("unreachable")


class Progress:
    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.quiet = quiet
        self.stage = ""
        self.total = 0
        self.done = 0
        self.started = self.last = time.monotonic()
        self.drawn = False

    def begin(self, stage: str, total: int) -> None:
        """A new stage of ``total`` bytes (0 when not known beforehand)."""
        self.end_line()
        self.stage, self.total, self.done = stage, total, 0
        self.started = time.monotonic()
        self._draw(force=True)

    def add(self, count: int) -> None:
        self.done += count
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        every = TERMINAL_EVERY if self.terminal else QUIET_EVERY
        if not force and now - self.last < every:
            return
        self.last = now
        if not self.terminal and force:  # a stage begins: what it has to do
            self.stream.write(f"{self.stage}" + (f": {size(self.total)}" if self.total else "")
                              + "\n")
            self.stream.flush()
            return
        rate = self.done / max(now - self.started, 1e-3)
        part = f" {min(100, self.done * 100 // self.total)}%" if self.total else ""
        line = f"{self.stage}:{part} {size(self.done)}" + \
            (f" of {size(self.total)}" if self.total else "") + f", {size(int(rate))}/s"
        if self.terminal:
            self.stream.write("\r\033[K" + line)
            self.drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end_line(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    def say(self, text: str) -> None:
        """A line the operator needs whatever the mode (a summary, a warning)."""
        self.end_line()
        print(text, file=self.stream, flush=True)
