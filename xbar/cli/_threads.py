"""The CLI's thread setting: ``--threads N`` (or ``XBAR_THREADS``) applied once per process."""

from __future__ import annotations

import argparse

HELP = (
    "CPU threads of BLAS and numba (0 = automatic: $XBAR_THREADS if set, else one BLAS "
    "thread and numba threads only for large solves)"
)


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads N`` (dest ``threads``) to a sub-command without configuration fields."""
    parser.add_argument("--threads", type=int, default=0, metavar="N", help=HELP)


def apply_threads(threads: int | None) -> None:
    """Cap BLAS and numba threads for this process (:func:`xbar.threads.set_threads`)."""
    from ..threads import set_threads

    set_threads(threads or 0)
