"""Cholesky inverses and symmetric products of small SPD blocks through the LAPACK and
BLAS that numpy has already loaded (ctypes), with numpy fallbacks.

The tile sweep (:mod:`xbar.crossbar.sweep`) inverts one SPD block per line.  numpy
only offers ``np.linalg.inv`` (an LU solve against the identity, about ``8/3 N^3``
flops); LAPACK's Cholesky inverse (``dpotrf`` + ``dpotri``, ``N^3`` flops, lower
triangle only) is about 2x faster at 128 x 128.  Importing scipy for it would cost
0.1-0.2 s per process, more than a network's tiles take, so this module calls the
same routines in the OpenBLAS (or other LAPACK) that numpy itself uses, found by
name in numpy's bundled libraries or among the libraries the process has loaded:
``scipy_dpotrf_64_`` (numpy's wheels), ``dpotrf_64_`` or ``dpotrf_``.

Integers are passed as zero-initialised 64-bit values: a 32-bit LAPACK reads their
low halves, which on little-endian machines hold the same numbers; big-endian
machines take the numpy fallback.  The routines found are checked once against
numpy on a small matrix; any mismatch or failure selects the fallback.

Convention (C order): a block's *lower* triangle (``i >= j``) is what is read and
written; the strict upper triangle is scratch.

>>> import numpy as np
>>> A = np.array([[4.0, 1.0], [1.0, 3.0]])
>>> S = cholesky_inverse(A.copy())
>>> bool(np.allclose(full(S), np.linalg.inv(A)))
True
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import sys
import threading

import numpy as np

__all__ = ["available", "cholesky_inverse", "symmetric_product", "symmetric_chain", "full"]

_LOCK = threading.Lock()
#: the routines found: None until looked up, False when there are none
_ROUTINES: dict = {"found": None}
_NAMES = (("scipy_", "_64_"), ("", "_64_"), ("scipy_", "_"), ("", "_"))
_LIB_PATTERN = re.compile(r"(blas|lapack|mkl_rt|flexiblas)", re.IGNORECASE)


def _candidates():
    """Shared libraries that may hold LAPACK: numpy's bundled ones first, then the
    loaded ones (read from ``/proc/self/maps`` only when those fail)."""
    base = os.path.dirname(np.__file__)
    seen = set()
    for folder in (os.path.join(base, os.pardir, "numpy.libs"), os.path.join(base, ".dylibs")):
        for p in sorted(glob.glob(os.path.join(os.path.realpath(folder), "*"))):
            if _LIB_PATTERN.search(os.path.basename(p)) and p not in seen:
                seen.add(p)
                yield p
    try:
        with open("/proc/self/maps") as maps:
            loaded = {line.split()[-1] for line in maps if ".so" in line}
    except OSError:
        return
    for p in sorted(loaded):
        if _LIB_PATTERN.search(os.path.basename(p)) and os.path.realpath(p) not in seen:
            seen.add(os.path.realpath(p))
            yield p


def _lookup():
    """``(potrf, potri, symm)`` of the first library that has all three, checked."""
    if sys.byteorder != "little":
        return None
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in _NAMES:
            try:
                got = tuple(
                    getattr(lib, f"{prefix}{n}{suffix}") for n in ("dpotrf", "dpotri", "dsymm")
                )
            except AttributeError:
                continue
            for f in got:
                f.restype = None
            if _check(got):
                return got
    return None


def _routines():
    found = _ROUTINES["found"]
    if found is None:
        with _LOCK:
            if _ROUTINES["found"] is None:
                _ROUTINES["found"] = _lookup() or False
            found = _ROUTINES["found"]
    return found or None


def available() -> bool:
    """Whether LAPACK's routines were found (else the numpy fallbacks run)."""
    return _routines() is not None


_I64 = ctypes.c_int64
_CHAR = ctypes.c_char


def _int(value: int):
    return ctypes.byref(_I64(value))


def _ptr(a: np.ndarray):
    return ctypes.c_void_p(a.ctypes.data)


_UP = ctypes.byref(_CHAR(b"U"))  # Fortran's upper triangle is C's lower one
_RIGHT = ctypes.byref(_CHAR(b"R"))
_ONE = _I64(1)  # the hidden length of a character argument


def _potri(routines, D: np.ndarray) -> int:
    potrf, potri, _ = routines
    n = _int(D.shape[0])
    info = _I64(0)
    ptr, p_info = _ptr(D), ctypes.byref(info)
    potrf(_UP, n, ptr, n, p_info, _ONE)
    if info.value == 0:
        potri(_UP, n, ptr, n, p_info, _ONE)
    return info.value


def _symm(routines, S, X, alpha, out, left) -> None:
    symm = routines[2]
    P = S.shape[0]
    k = X.shape[1] if left else X.shape[0]
    # in Fortran's view C-ordered X is X^T: alpha S X -> (X^T S) = side R; alpha X S -> side L
    side = ctypes.byref(_CHAR(b"R" if left else b"L"))
    rows, cols, ld = (k, P, k) if left else (P, k, P)
    symm(
        side,
        ctypes.byref(_CHAR(b"U")),
        _int(rows),
        _int(cols),
        ctypes.byref(ctypes.c_double(alpha)),
        _ptr(S),
        _int(P),
        _ptr(X),
        _int(ld),
        ctypes.byref(ctypes.c_double(0.0)),
        _ptr(out),
        _int(ld),
        _I64(1),
        _I64(1),
    )


def _check(routines) -> bool:
    """The routines agree with numpy on a small SPD matrix and reject an indefinite one."""
    i, j = np.indices((7, 7))
    A = 1.0 / (1.0 + np.abs(i - j) + 0.3 * i * j) + 7.0 * np.eye(7)  # diagonally dominant
    X = np.cos(np.arange(21.0)).reshape(7, 3)
    try:
        S = A.copy()
        if _potri(routines, S) != 0:
            return False
        ref = np.linalg.inv(A)
        left, right = np.empty((7, 3)), np.empty((3, 7))
        _symm(routines, S, X, 2.0, left, True)
        _symm(routines, S, np.ascontiguousarray(X.T), 2.0, right, False)
        bad = np.array([[1.0, 2.0], [2.0, 1.0]])
    except Exception:  # noqa: BLE001 - any failure of a foreign library: the fallback
        return False
    scale = np.abs(ref).max()
    return bool(
        np.abs(full(S) - ref).max() <= 1e-12 * scale
        and np.abs(left - 2.0 * ref @ X).max() <= 1e-12 * scale * np.abs(X).max() * 7
        and np.abs(right - 2.0 * X.T @ ref).max() <= 1e-12 * scale * np.abs(X).max() * 7
        and _potri(routines, bad) > 0
    )


def symmetric_chain(S: np.ndarray, X: np.ndarray, alpha: float) -> np.ndarray:
    """Back substitution down a chain of symmetric blocks, in place: ``X[:, k] = alpha
    S[k] X[:, k + 1]`` for ``k = n - 2, ..., 0``.

    Parameters
    ----------
    S : ndarray
        Blocks (n, P, P), C-contiguous float64; each the symmetric matrix of its lower
        triangle (the strict upper triangles are not read).
    X : ndarray
        (P, n, m), C-contiguous float64: block k is the (P, m) matrix ``X[:, k]``; the
        last one is given, the others are overwritten.
    alpha : float
        The factor of every step.

    Returns
    -------
    ndarray
        ``X``.

    One BLAS ``dsymm`` per step on the strided blocks (no copies; the call's constant
    arguments built once), or numpy's product of :func:`full` without LAPACK.

    >>> import numpy as np
    >>> S = np.array([[[2.0, 9.0], [1.0, 3.0]], [[1.0, 0.0], [0.0, 1.0]]])
    >>> X = np.zeros((2, 2, 1))
    >>> X[:, 1, 0] = [1.0, 1.0]
    >>> symmetric_chain(S, X, 0.5)[:, 0, 0].tolist()
    [1.5, 2.0]
    """
    n, P, _ = S.shape
    m = X.shape[2]
    routines = _routines()
    if routines is None or not (S.flags.c_contiguous and X.flags.c_contiguous):
        for k in range(n - 2, -1, -1):
            np.matmul(full(S[k]), X[:, k + 1], out=X[:, k])
            X[:, k] *= alpha
        return X
    symm = routines[2]
    # C-ordered block (P, m) with row stride n m is Fortran's (m, P) with ld n m: X S
    rows, cols, ld, lds = _int(m), _int(P), _int(n * m), _int(P)
    a, beta = ctypes.byref(ctypes.c_double(alpha)), ctypes.byref(ctypes.c_double(0.0))
    s0, x0, step = S.ctypes.data, X.ctypes.data, 8 * m
    for k in range(n - 2, -1, -1):
        symm(
            _RIGHT,
            _UP,
            rows,
            cols,
            a,
            ctypes.c_void_p(s0 + 8 * P * P * k),
            lds,
            ctypes.c_void_p(x0 + step * (k + 1)),
            ld,
            beta,
            ctypes.c_void_p(x0 + step * k),
            ld,
            _ONE,
            _ONE,
        )
    return X


def full(S: np.ndarray) -> np.ndarray:
    """The symmetric matrix (a new array) whose lower triangle is ``S``'s."""
    return np.where(np.tri(S.shape[0], dtype=bool), S, S.T)


def cholesky_inverse(D: np.ndarray) -> np.ndarray | None:
    """Inverse of the SPD matrix whose lower triangle is ``D``'s (C-contiguous float64,
    square; overwritten): the inverse's lower triangle (in ``D`` itself when LAPACK
    was found; the upper triangle then holds scratch), or None when ``D`` is not
    positive definite.

    >>> import numpy as np
    >>> S = cholesky_inverse(np.array([[2.0, 0.0], [1.0, 2.0]]))
    >>> bool(np.allclose(full(S), np.linalg.inv([[2.0, 1.0], [1.0, 2.0]])))
    True
    """
    routines = _routines()
    if routines is not None:
        return D if _potri(routines, D) == 0 else None
    A = full(D)
    try:
        np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return None
    return np.linalg.inv(A)


def symmetric_product(
    S: np.ndarray, X: np.ndarray, alpha: float, out: np.ndarray, left: bool = True
) -> np.ndarray:
    """``out = alpha S X`` (``left``) or ``out = alpha X S``, ``S`` (P, P) the symmetric
    matrix of ``S``'s lower triangle and X (P, k) or (k, P); all C-contiguous float64,
    ``out`` not overlapping the inputs.

    >>> import numpy as np
    >>> S = np.array([[2.0, 9.0], [1.0, 3.0]])  # the 9 is ignored
    >>> symmetric_product(S, np.eye(2), 1.0, np.empty((2, 2)))
    array([[2., 1.],
           [1., 3.]])
    """
    routines = _routines()
    if routines is not None:
        _symm(routines, S, X, alpha, out, left)
        return out
    A = full(S)
    np.matmul(A, X, out=out) if left else np.matmul(X, A, out=out)
    if alpha != 1.0:
        out *= alpha
    return out
