"""Keep freed memory for reuse: the process setting the CLI applies (glibc malloc).

Network inference allocates and frees the same large arrays batch after batch
(im2col matrices, layer outputs, tile reads).  glibc's allocator returns freed
memory at the top of its heap to the system once more than its trim threshold is
free, and serves large arrays from fresh ``mmap`` pages; the next batch then
page-faults on all of it again.  After programming a chip (which frees a lot) the
first batch paid this in full: measured on a 2-core machine, ResNet-20 on one
batch of 4 images with cached exact matrices, analog per image 1.8-2.7x the
digital forward by default against 1.13-1.15x with this setting.

:func:`keep_freed_memory` raises the trim threshold (freed memory up to
``trim_mib`` at the heap top stays mapped for reuse) and fixes the ``mmap``
threshold (arrays above ``mmap_mib`` still come from ``mmap`` and go back to the
system when freed, so one huge array does not stay resident).  The peak memory of
a run is what it was; what changes is that up to ``trim_mib`` of freed memory is
kept instead of returned.

Where it applies: the ``xbar`` command calls :func:`apply` once per process (set
``XBAR_KEEP_MEMORY=0`` to leave the allocator alone), and so do sweep worker
processes.  Importing xbar changes nothing; a program using the library calls
it itself if it wants it.  Elsewhere than glibc (macOS, Windows, musl) it does
nothing and returns False.

>>> wanted()  # XBAR_KEEP_MEMORY unset
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import threading

from .checks import positive_int
from .errors import ValueRangeError

__all__ = ["ENV_VAR", "apply", "keep_freed_memory", "wanted"]

#: environment variable: ``0`` (or ``no``, ``false``, ``off``) leaves the allocator alone
ENV_VAR = "XBAR_KEEP_MEMORY"

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
_lock = threading.Lock()
_applied: tuple[int, int] | None = None


def wanted() -> bool:
    """False when ``XBAR_KEEP_MEMORY`` asks to leave the allocator alone."""
    return os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "no", "false", "off")


def keep_freed_memory(trim_mib: int = 128, mmap_mib: int = 16) -> bool:
    """Keep up to ``trim_mib`` MiB of freed memory for reuse (glibc only).

    Parameters
    ----------
    trim_mib : int
        Freed memory [MiB] the heap may keep at its top before it returns any to the
        system (glibc's ``M_TRIM_THRESHOLD``; its default adapts between 128 KiB and
        64 MiB).
    mmap_mib : int
        Arrays above this size [MiB] are mapped on their own and returned when freed
        (``M_MMAP_THRESHOLD``).

    Returns
    -------
    bool
        True when the allocator took both settings (glibc), else False.
    """
    global _applied
    trim = positive_int("trim_mib", trim_mib)
    mmap = positive_int("mmap_mib", mmap_mib)
    if max(trim, mmap) > 2047:  # mallopt takes a C int of bytes
        raise ValueRangeError(f"trim_mib={trim}, mmap_mib={mmap}: each must be at most 2047")
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    with _lock:
        if _applied == (trim, mmap):
            return True
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        mallopt.restype = ctypes.c_int
        ok = bool(mallopt(_M_MMAP_THRESHOLD, mmap << 20)) and bool(
            mallopt(_M_TRIM_THRESHOLD, trim << 20)
        )
        if ok:
            _applied = (trim, mmap)
        return ok


def apply() -> bool:
    """What the ``xbar`` command does at start: :func:`keep_freed_memory` unless
    ``XBAR_KEEP_MEMORY`` says no; True when the setting is in force."""
    return wanted() and keep_freed_memory()
