"""How many CPU threads xbar's work may use: BLAS/LAPACK (OpenBLAS, MKL) and numba.

xbar's heavy steps are many small dense LAPACK calls (the tiles' transfer
matrices), dense matmuls (network inference) and numba kernels (crossbar
solves).  A multithreaded BLAS and numba's thread pool each start one thread per
core; together, and beside other processes, they fight for the cores, and small
LAPACK calls become 10-50x slower (measured on a shared 2-core machine:
``xbar infer --config examples/rram_128.toml`` 0.8 s setup with one BLAS thread
against 3-6 s with OpenBLAS's default while two other processes ran).  One
setting caps both pools:

* ``threads = N > 0``: at most N BLAS threads and at most N numba threads;
* ``threads = 0`` (automatic, the default): the environment variable
  ``XBAR_THREADS`` when set, else **one BLAS thread** (fastest for the small
  LAPACK calls of transfer matrices and for inference matmuls on a loaded
  machine) and numba threads up to the available cores, which the crossbar
  kernels use only for large solves (about a million cell-inputs and more).

Where it applies: the CLI calls :func:`set_threads` once (flag ``--threads``,
field ``threads`` of a configuration file, ``XBAR_THREADS``);
:func:`xbar.network.evaluate` runs under :func:`limit` with its configuration's
``threads`` and restores the previous limits when it returns; sweep worker
processes and Dask workers get one thread each unless told otherwise
(``threads`` or ``XBAR_THREADS``).  Importing xbar changes nothing.

>>> plan(1)
ThreadPlan(blas=1, numba=1)
>>> plan(0).blas  # automatic (XBAR_THREADS unset): one BLAS thread
1
>>> with limit(1) as caps:
...     caps.blas, current() == caps
(1, True)
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["ENV_VAR", "ThreadPlan", "available_cores", "plan", "limit", "set_threads", "current"]

#: environment variable giving the thread count when no explicit value is set
ENV_VAR = "XBAR_THREADS"

_lock = threading.Lock()
_controller = None  # threadpoolctl.ThreadpoolController, made on first use
_controller_key = False  # whether scipy.linalg was imported when it was made
_current: ThreadPlan | None = None


@dataclass(frozen=True)
class ThreadPlan:
    """Thread caps in force: ``blas`` (BLAS/LAPACK) and ``numba`` (numba kernels)."""

    blas: int
    numba: int


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: Largest thread count accepted; BLAS libraries take a C int and no machine has more.
MAX_THREADS = 4096


def _check(threads, where: str) -> int:
    if isinstance(threads, bool):
        raise ConfigError(f"{where}={threads!r}: expected a thread count (0 = automatic)")
    try:
        n = int(threads)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}={threads!r}: expected a thread count (0 = automatic)",
            hint="a non-negative integer, e.g. 1",
        ) from None
    if n != threads and not isinstance(threads, str):
        raise ConfigError(f"{where}={threads!r}: expected a whole number of threads")
    if n < 0:
        raise ConfigError(f"{where}={n}: must not be negative (0 = automatic)")
    if n > MAX_THREADS:
        raise ConfigError(
            f"{where}={n}: more threads than xbar can use (at most {MAX_THREADS})",
            hint="0 picks the fastest setting for this machine",
        )
    return n


def from_env() -> int:
    """The thread count of ``XBAR_THREADS`` (0 when unset or empty)."""
    value = os.environ.get(ENV_VAR, "").strip()
    return _check(value, ENV_VAR) if value else 0


def plan(threads: int | None = 0) -> ThreadPlan:
    """The caps that ``threads`` means (see the module docs).

    ``0`` or ``None`` is automatic: the caps already in force (inside :func:`limit`
    or after :func:`set_threads`) if any, else ``XBAR_THREADS``, else one BLAS
    thread and numba threads up to the available cores.

    Raises
    ------
    ConfigError
        For a negative or non-integer count (naming ``threads`` or ``XBAR_THREADS``).
    """
    n = _check(0 if threads is None else threads, "threads")
    if n == 0 and _current is not None:
        return _current
    return _caps(n or from_env())


def _caps(n: int) -> ThreadPlan:
    cores = available_cores()
    if n == 0:
        return ThreadPlan(blas=1, numba=cores)
    return ThreadPlan(blas=n, numba=min(n, cores))


def current() -> ThreadPlan | None:
    """The caps in force from :func:`limit` or :func:`set_threads` (None: never set)."""
    return _current


def _preload_scipy_blas() -> None:
    """Load scipy's bundled BLAS library (without importing scipy.linalg, ~0.5 s).

    threadpoolctl limits the libraries loaded when it looks; scipy's wheels bundle
    their own OpenBLAS, which a later ``import scipy.linalg`` maps from the same
    file, so the limit set now holds for it.  Without such a file (other builds),
    scipy.linalg is imported.
    """
    import ctypes
    import glob
    import importlib.util

    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.origin:
        return
    site = os.path.dirname(os.path.dirname(spec.origin))
    libs = glob.glob(os.path.join(site, "scipy.libs", "*blas*.so*"))
    if not libs:
        import scipy.linalg  # noqa: F401

        return
    for path in libs:
        try:
            ctypes.CDLL(path)
        except OSError:  # pragma: no cover - an unloadable file: let scipy load its BLAS
            import scipy.linalg  # noqa: F401

            return


def _blas_controller():
    global _controller, _controller_key
    key = "scipy.linalg" in sys.modules
    if _controller is None or key != _controller_key:
        if not key:
            _preload_scipy_blas()
        from threadpoolctl import ThreadpoolController

        _controller, _controller_key = ThreadpoolController(), key
    return _controller


def _numba_threads(n: int | None) -> int | None:
    """Set numba's thread count for this thread (if numba is usable); returns the old one."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return None
    old = numba.get_num_threads()
    if n is not None:
        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    return old


_caps_thread: int | None = None  # the thread that applied the plan in force (for numba_caps)


def _apply(p: ThreadPlan):
    """Apply ``p``; returns what restores the previous state."""
    global _current, _caps_thread
    blas = _blas_controller().limit(limits=p.blas, user_api="blas")
    saved_numba = None
    if "numba" in sys.modules:  # else numba_caps() applies p when a kernel module imports it
        saved_numba = _numba_threads(p.numba)
    saved_current, _current = _current, p
    saved_thread, _caps_thread = _caps_thread, threading.get_ident()
    return blas, saved_numba, saved_current, saved_thread


def _restore(saved) -> None:
    global _current, _caps_thread
    blas, saved_numba, saved_current, saved_thread = saved
    blas.restore_original_limits()
    if saved_numba is not None:
        _numba_threads(saved_numba)
    elif "numba" in sys.modules:  # imported (and capped) inside the block: the caps before
        numba = sys.modules["numba"]
        outer = saved_current.numba if saved_current is not None else None
        _numba_threads(outer or numba.config.NUMBA_NUM_THREADS)
    _current, _caps_thread = saved_current, saved_thread


def numba_caps() -> None:
    """Apply the caps in force (:func:`set_threads`, :func:`limit`) to numba in this thread.

    The caps leave numba alone while it is not imported (importing it just to cap it cost
    0.12-0.15 s in every run that never starts it: a small ``xbar solve --threads 1``); the
    modules that import numba to run kernels call this right after.
    """
    p = _current
    if p is not None and _caps_thread == threading.get_ident():
        _numba_threads(p.numba)  # (numba's count is per thread: the one that set the caps)


@contextmanager
def limit(threads: int | None = 0) -> Iterator[ThreadPlan]:
    """Run a block under the thread caps of ``threads``; the previous caps come back after.

    Parameters
    ----------
    threads : int, optional
        Thread count, 0 or None = automatic (see :func:`plan`).

    Yields
    ------
    ThreadPlan
        The caps in force inside the block.
    """
    p = plan(threads)
    with _lock:
        saved = _apply(p)
    try:
        yield p
    finally:
        with _lock:
            _restore(saved)


def set_threads(threads: int | None = 0) -> ThreadPlan:
    """Cap BLAS and numba threads for the rest of the process (what the CLI does).

    Parameters
    ----------
    threads : int, optional
        Thread count, 0 or None = automatic (``XBAR_THREADS``, else one BLAS thread
        and numba up to the available cores).  Later automatic requests
        (``evaluate`` with ``threads = 0``) keep these caps.

    Returns
    -------
    ThreadPlan
        The caps now in force.
    """
    global _current
    p = _caps(_check(0 if threads is None else threads, "threads") or from_env())
    with _lock:
        _apply(p)
        _current = p
    return p
