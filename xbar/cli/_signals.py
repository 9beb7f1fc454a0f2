"""Signals while a command runs: SIGTERM and SIGHUP unwind like Ctrl-C, and a stop is prompt.

Python's default action for SIGTERM and SIGHUP ends the process without unwinding (no
``finally``: temporary files stay, worker processes are left to their parent watch), so
:func:`unwind_signals` makes them raise :class:`Terminated` in the main thread instead.

A Python signal handler runs only when the main thread is back in Python code.  A long
compiled kernel (a 2048x2048 solve runs one for minutes) or, at exit, the joining of its
worker threads would hold a SIGTERM or Ctrl-C back until the work is done: measured, a
SIGTERM'd ``xbar crossbar --rows 2048 --cols 2048 --device sinh`` was still running 30 s
later.  In the ``xbar`` process the signal also wakes a watchdog thread (the kernels release
the GIL), which ends the process ``GRACE`` seconds later with the same one line and exit
status if the clean-up has not ended it by then.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

__all__ = ["GRACE", "Terminated", "unwind_signals"]

#: seconds between a stop signal and the watchdog's exit (the clean-up's time)
GRACE = 5.0

_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Terminated(SystemExit):
    """Raised in the main thread by SIGTERM or SIGHUP while a command runs, so that
    clean-up code (temporary files, worker processes) runs as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


class _Watchdog:
    """Reads the signal numbers Python writes to its wakeup file descriptor; after a stop
    signal, waits ``GRACE`` seconds and ends the process (message unless already said)."""

    def __init__(self, message: Callable[[int], str]) -> None:
        self.message = message
        self.said = threading.Event()  # the main thread printed the message itself
        self.read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        self.previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self.write_fd = write_fd
        threading.Thread(target=self._watch, name="xbar-signal-watchdog", daemon=True).start()

    def _watch(self) -> None:
        while True:
            try:
                data = os.read(self.read_fd, 1)
            except OSError:
                return
            if not data:
                return
            signum = data[0]
            if signum in _STOP_SIGNALS:
                threading.Event().wait(GRACE)
                if not self.said.is_set():
                    with contextlib.suppress(OSError, ValueError):
                        sys.stderr.write(self.message(signum) + "\n")
                        sys.stderr.flush()
                os._exit(128 + signum)

    def close(self) -> None:
        signal.set_wakeup_fd(self.previous)
        os.close(self.write_fd)  # the thread's read then ends


@contextlib.contextmanager
def unwind_signals(
    *, watchdog: bool = False, message: Callable[[int], str] = str
) -> Iterator[_Watchdog | None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` inside the block (main thread only).

    Parameters
    ----------
    watchdog : bool
        Also end the process ``GRACE`` seconds after a stop signal (SIGINT, SIGTERM,
        SIGHUP) that the main thread could not act on; only for a whole ``xbar`` process,
        never inside a program that called the CLI.
    message : callable
        The line printed for a signal number when the watchdog ends the process.

    Yields
    ------
    watchdog or None
        Call ``.said.set()`` on it once the message is printed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    previous = {}
    dog = None
    try:
        for s in _STOP_SIGNALS:
            if s != signal.SIGINT:
                previous[s] = signal.signal(s, _raise_terminated)
        if watchdog:
            with contextlib.suppress(OSError, ValueError):
                dog = _Watchdog(message)
        yield dog
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if dog is not None:  # a stop signal already written to the pipe is still read
            dog.close()
