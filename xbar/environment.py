"""The process environment xbar's compiled kernels and figures need, made workable.

Three things outside xbar can stop a run that has nothing wrong with its input:

* **numba's cache.**  Every kernel is compiled with ``cache=True``; numba writes the
  compiled code to ``__pycache__`` beside the installed source, else to
  ``~/.cache/numba``, and raises ``RuntimeError: cannot cache function ...: no locator
  available`` when neither can be written (a read-only install with ``HOME`` unset or
  read-only: containers, shared clusters).  :func:`ensure_numba_cache` then points
  ``NUMBA_CACHE_DIR`` at a private folder under the temporary directory.
* **matplotlib's configuration folder.**  Without a writable ``~/.config/matplotlib``
  matplotlib prints a multi-line warning on every import; :func:`ensure_matplotlib_dir`
  gives it a private temporary folder instead (the CLI calls it).
* **Thread-count variables.**  ``NUMBA_NUM_THREADS=abc`` makes numba print a traceback
  (as a warning) and ``NUMBA_NUM_THREADS=0`` makes it raise; a value far above the cores
  starts that many threads (100000 took 15 s here).  :func:`check_thread_variables`
  drops values that are not positive integers (with a note the CLI prints) and lowers
  ``NUMBA_NUM_THREADS`` to the available cores, which is all xbar ever uses
  (:mod:`xbar.threads`).

Nothing here overrides a setting that works: a writable cache, a valid variable and an
explicit ``NUMBA_CACHE_DIR``/``MPLCONFIGDIR`` are left alone.  ``import xbar`` calls
:func:`ensure_numba_cache` (a few ``stat`` calls; the kernels are compiled later, in
modules that import numba); the ``xbar`` command calls :func:`prepare` first.

>>> isinstance(check_thread_variables({}), list)
True
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

__all__ = [
    "THREAD_VARIABLES",
    "check_thread_variables",
    "ensure_matplotlib_dir",
    "ensure_numba_cache",
    "prepare",
    "writable_dir",
]

#: environment variables holding thread counts that numba, OpenMP and BLAS read at start
THREAD_VARIABLES = (
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
)

#: the package folders holding numba kernels (each caches into its own __pycache__)
_KERNEL_DIRS = ("crossbar", "spice")


def writable_dir(path: str | os.PathLike) -> bool:
    """Whether files can be created in folder ``path``, or the folder can be made.

    The nearest existing ancestor decides: it must be a folder this process may write
    (``os.access`` also reports a read-only file system; for root it says yes to every
    other folder, including ones such as ``/proc`` that cannot hold files).

    >>> writable_dir(__file__ + "/x")  # inside a file: never
    False
    """
    p = Path(path)
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    return p.is_dir() and os.access(p, os.W_OK | os.X_OK)


def _private_temp_dir(name: str) -> str | None:
    """A folder ``<tmp>/<name>-<uid>`` owned by this user (made 0700), or None."""
    import tempfile

    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = Path(tempfile.gettempdir()) / f"{name}-{uid}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.stat()
        if path.is_symlink() or (hasattr(os, "getuid") and st.st_uid != uid):
            path = Path(tempfile.mkdtemp(prefix=f"{name}-"))  # someone else's folder
    except OSError:
        return None
    return str(path) if writable_dir(path) else None


def _numba_can_use(path: Path) -> bool:
    """numba's own test of a cache folder: make it, then a temporary file in it (``access``
    alone says yes to root for folders such as ``/proc`` that cannot hold files)."""
    import tempfile

    if not writable_dir(path):
        return False
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _user_base(environ: MutableMapping[str, str], xdg: str, dot: str) -> Path | None:
    """The user's base folder ``$xdg``, else ``$HOME/dot``, else ``~/dot`` (None without
    a home directory): ``XDG_CACHE_HOME``/``.cache`` for numba, ``XDG_CONFIG_HOME``/
    ``.config`` for matplotlib."""
    base = environ.get(xdg) or (os.path.join(environ["HOME"], dot) if environ.get("HOME") else "")
    if not base:
        try:
            base = os.path.join(os.path.expanduser("~"), dot)
        except (KeyError, RuntimeError):  # no home directory at all
            return None
    return Path(base)


def ensure_numba_cache(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Point ``NUMBA_CACHE_DIR`` at a temporary folder when numba could not cache otherwise.

    Returns the folder set, or None when nothing needed changing (or no temporary
    folder could be made: numba's own error is then reported by the CLI).
    """
    environ = os.environ if environ is None else environ
    if environ.get("NUMBA_CACHE_DIR"):
        return None
    here = Path(__file__).resolve().parent
    if all(writable_dir(here / d / "__pycache__") for d in _KERNEL_DIRS):
        return None
    base = _user_base(environ, "XDG_CACHE_HOME", ".cache")
    if base is not None and _numba_can_use(base / "numba"):
        return None
    path = _private_temp_dir("xbar-numba-cache")
    if path is None:
        return None
    environ["NUMBA_CACHE_DIR"] = path
    numba = sys.modules.get("numba")
    if numba is not None:  # imported already: its configuration was read at import
        numba.config.CACHE_DIR = path
    return path


def ensure_matplotlib_dir(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Give matplotlib a private temporary configuration folder when its own is not writable.

    Returns the folder set, or None when nothing needed changing.
    """
    environ = os.environ if environ is None else environ
    if environ.get("MPLCONFIGDIR") or "matplotlib" in sys.modules:
        return None
    base = _user_base(environ, "XDG_CONFIG_HOME", ".config")
    if base is not None and writable_dir(base / "matplotlib"):
        return None
    path = _private_temp_dir("xbar-matplotlib")
    if path is not None:
        environ["MPLCONFIGDIR"] = path
    return path


def _positive_ints(value: str, *, lists: bool) -> bool:
    parts = value.split(",") if lists else [value]
    return all(p.strip().isdigit() and int(p) > 0 for p in parts)


def check_thread_variables(
    environ: MutableMapping[str, str] | None = None, cores: int | None = None
) -> list[str]:
    """Drop thread-count variables that are not positive integers; cap NUMBA_NUM_THREADS.

    Parameters
    ----------
    environ : mapping, optional
        The environment to check and change (default ``os.environ``).
    cores : int, optional
        Cores this process may use (default: :func:`xbar.threads.available_cores`).

    Returns
    -------
    list of str
        One note per variable removed, naming it and its value.

    Examples
    --------
    >>> env = {"NUMBA_NUM_THREADS": "abc", "OMP_NUM_THREADS": "2,1"}
    >>> check_thread_variables(env, cores=2)
    ["ignoring NUMBA_NUM_THREADS='abc': not a positive integer"]
    >>> env
    {'OMP_NUM_THREADS': '2,1'}
    """
    environ = os.environ if environ is None else environ
    notes = []
    for name in THREAD_VARIABLES:
        value = environ.get(name)
        if value is None or value.strip() == "":
            continue
        if not _positive_ints(value, lists=name == "OMP_NUM_THREADS"):  # OpenMP: per level
            del environ[name]
            notes.append(f"ignoring {name}={value!r}: not a positive integer")
    value = environ.get("NUMBA_NUM_THREADS")
    if value is not None and value.strip():
        if cores is None:
            from .threads import available_cores

            cores = available_cores()
        if int(value) > cores:  # numba would start them all; xbar uses at most `cores`
            environ["NUMBA_NUM_THREADS"] = str(cores)
    return notes


def prepare() -> list[str]:
    """What the ``xbar`` command does first: the three checks above; returns the notes."""
    notes = check_thread_variables()
    ensure_numba_cache()
    ensure_matplotlib_dir()
    return notes
