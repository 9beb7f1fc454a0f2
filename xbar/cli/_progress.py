"""A dependency-free progress bar for the CLI (stderr, only on a terminal or when forced)."""

from __future__ import annotations

import sys
import time

_open_line: list = []  # the bar whose line is drawn and not yet ended (at most one)


def end_open_line() -> None:
    """End a progress bar's unfinished line, so that a message starts on its own line."""
    while _open_line:
        _open_line.pop().finish()


class ProgressBar:
    """Callable ``(done, total)`` progress reporter drawing one line on stderr.

    Library functions accept ``progress=None`` or a callable like this one; the
    library itself never prints.
    """

    def __init__(
        self, label: str = "", *, stream=None, enabled: bool | None = None, width: int = 30
    ):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = enabled
        self.width = width
        self.start = time.perf_counter()
        self._last = 0.0
        self._first: int | None = None  # work already done at the first call (resumed)
        self._stage = ""
        self._ended = True  # nothing drawn yet, or the line already ended

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        if self._first is None:
            self._first = done
        frac = min(1.0, max(0.0, done / total)) if total else 1.0
        filled = int(round(frac * self.width))
        elapsed = now - self.start
        bar = "#" * filled + "-" * (self.width - filled)
        eta = self._eta(done, total, elapsed)
        stage = f" {self._stage}" if self._stage else ""
        self.stream.write(
            f"\r{self.label} [{bar}] {done}/{total} {elapsed:6.1f}s eta {eta}{stage}\033[K"
        )
        if done >= total:
            self.stream.write("\n")
            self._ended = True
        else:
            self._ended = False
            _open_line[:] = [self]
        self.stream.flush()

    def _eta(self, done: int, total: int, elapsed: float) -> str:
        """Time left from the rate of this run's own work (``"    --"`` until it is known)."""
        new = done - (self._first or 0)
        if done >= total:
            return f"{0.0:6.1f}s"
        if new <= 0 or elapsed <= 0:
            return "    --"
        return f"{elapsed / new * (total - done):6.1f}s"

    def stage(self, text: str) -> None:
        """Name the step now running (shown after the ETA)."""
        self._stage = text

    def finish(self) -> None:
        """End the line if a bar was drawn and not finished (an error, an interruption)."""
        if self.enabled and not self._ended:
            self.stream.write("\n")
            self.stream.flush()
            self._ended = True

    def close(self) -> None:
        """End the line if the bar was drawn."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
