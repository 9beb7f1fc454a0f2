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

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        frac = done / total if total else 1.0
        filled = int(round(frac * self.width))
        elapsed = now - self.start
        eta = elapsed / frac - elapsed if frac > 0 else float("nan")
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {done}/{total} {elapsed:6.1f}s eta {eta:6.1f}s"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line if the bar was drawn."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
