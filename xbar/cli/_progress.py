"""A dependency-free progress bar for the CLI (stderr, only on a terminal or when forced)."""

from __future__ import annotations

import sys
import time


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
        self._stage = ""
        self._ended = True  # nothing drawn yet, or the line already ended

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        frac = min(1.0, max(0.0, done / total)) if total else 1.0
        filled = int(round(frac * self.width))
        elapsed = now - self.start
        bar = "#" * filled + "-" * (self.width - filled)
        stage = f" {self._stage}" if self._stage else ""
        self.stream.write(
            f"\r{self.label} [{bar}] {done}/{total} {elapsed:6.1f}s eta "
            f"{format_eta(elapsed, frac)}{stage}\033[K"
        )
        if done >= total:
            self.stream.write("\n")
            self._ended = True
        else:
            self._ended = False
        self.stream.flush()

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


def format_eta(elapsed: float, frac: float) -> str:
    """Remaining time from the elapsed time and the fraction done: ``"  12.3s"``, never nan.

    >>> format_eta(10.0, 0.5), format_eta(3.0, 0.0), format_eta(float("nan"), 0.5)
    ('  10.0s', '     ?', '     ?')
    """
    if not (frac > 0 and elapsed == elapsed) or elapsed < 0:
        return "     ?"
    eta = elapsed / frac - elapsed
    return f"{eta:6.1f}s" if eta == eta and eta < float("inf") else "     ?"
