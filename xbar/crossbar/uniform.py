"""Exact transfer matrices of many small arrays with uniform wires, computed together.

Network tiles are many small arrays (9x16, 72x32, 128x20 for the default CNN)
of one topology: rows driven at the left end through ``r_driver`` and one wire
segment, columns sensed at the bottom through one segment and ``r_sense`` into
virtual ground, ``r_row`` / ``r_col`` per segment.  For them
:func:`transfer_matrices` solves one recursion per array in a handful of numpy
calls per row (all row lines inverted in one call), which at these sizes is
3-10x cheaper than :meth:`xbar.Crossbar.transfer_matrix` (general topologies,
several LAPACK and Python steps per row), and needs no numba.
It gives the same matrix as :meth:`~xbar.Crossbar.transfer_matrix` (the tests
compare them to 1e-11).  Stacking several arrays into one batched numpy call was
measured slower (numpy's stacked small matmuls do not use BLAS), and a numba
version, 2-3x faster per array, costs about 0.5 s of JIT start-up per process,
more than a whole network's tiles take here.

Derivation.  Eliminate each row line exactly: with ``T_t`` the row's
tridiagonal nodal matrix (``G_t`` plus its wire segments, the driver end
``g_d = 1 / (r_driver + r_row)``), the column nodes of row ``t`` see
``K_t = diag(G_t) - diag(G_t) T_t^-1 diag(G_t)`` and the input ``V_t`` enters as
``h_t = g_d G_t * (T_t^-1 e_0)``.  The column nodes form a block-tridiagonal
system (blocks ``K_t + c_t I``, couplings ``-g_c I``); the output of input ``t``
is ``g_s`` times the last block of its solution, which by symmetry is
``X_t^T h_t`` with ``X = A^-1 E_last``: one block LDL^T sweep down the rows
(``D_t = K_t + c_t I - g_c^2 D_{t-1}^-1``) and one back up
(``X_t = g_c D_t^-1 X_{t+1}``).  About ``2 M N^3`` flops per array.

>>> import numpy as np
>>> G = np.full((3, 2), 1e-4)
>>> W = transfer_matrices([G], r_row=1.0, r_col=1.0, r_driver=10.0, r_sense=10.0)[0]
>>> bool(np.all(W < G)) and W.shape
(3, 2)
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ..errors import SingularCircuitError, ValueRangeError
from .sweep import tile_solve

__all__ = ["transfer_matrices", "applies"]


def applies(r_row: float, r_col: float) -> bool:
    """True when wires are resistive in both directions (no collapsed lines)."""
    return r_row > 0 and r_col > 0


def _conductances(r_row, r_col, r_driver, r_sense):
    if not applies(r_row, r_col):
        raise ValueRangeError(
            f"uniform transfer matrices need r_row > 0 and r_col > 0, got "
            f"r_row={r_row:g}, r_col={r_col:g}",
            hint="use xbar.Crossbar(...).transfer_matrix() for ideal wires",
        )
    if r_driver < 0 or r_sense < 0:
        raise ValueRangeError(f"r_driver={r_driver:g}, r_sense={r_sense:g}: must not be negative")
    return 1.0 / r_row, 1.0 / r_col, 1.0 / (r_driver + r_row), 1.0 / (r_col + r_sense)


def transfer_matrices(
    Gs,
    r_row: float,
    r_col: float,
    r_driver: float = 0.0,
    r_sense: float = 0.0,
    used: list[tuple[int, int] | None] | None = None,
) -> list[np.ndarray]:
    """Exact ``W`` [S] (``output = V @ W``) of every array in ``Gs``.

    Parameters
    ----------
    Gs : sequence of ndarray
        Cell conductances [S] of each array, shape (rows, columns) each; shapes may differ.
    r_row, r_col : float
        Wire resistance per segment along rows / columns [ohm], both > 0.
    r_driver, r_sense : float
        Row driver and column sense resistance [ohm] (default topology: drive left,
        sense bottom).
    used : list of (rows, columns) or None, optional
        Per array, the leading block of ``W`` that is wanted (a partly used array
        whose other cells are padding, driven at 0 V and not read); None: all of it.

    Returns
    -------
    list of ndarray
        ``W`` (rows, columns) per array, or its ``used`` block.

    Raises
    ------
    ValueRangeError
        For zero wire resistance, negative resistances, or negative or non-finite
        conductances (naming the array).
    """
    g = _conductances(r_row, r_col, r_driver, r_sense)
    arrays = [np.asarray(G, dtype=np.float64) for G in Gs]
    for k, G in enumerate(arrays):
        if G.ndim != 2 or 0 in G.shape:
            raise ValueRangeError(
                f"array {k}: expected a non-empty 2-D conductance matrix, got shape {G.shape}"
            )
        if not np.all(np.isfinite(G)) or G.min() < 0:
            raise ValueRangeError(f"array {k}: conductances must be finite and >= 0")
    used = [None] * len(arrays) if used is None else list(used)
    out = []
    for G, block in zip(arrays, used, strict=True):
        m, n = G.shape if block is None else block
        got = tile_solve(G, r_row, r_col, r_driver, r_sense, (m, n), forms=False)
        if got is not None:  # numpy only, uniform padding in closed form
            out.append(got[0])
            continue
        if G.shape[1] <= NARROW_COLS and (m, n) == G.shape:
            out.append(_transfer(G, *g))
            continue
        W = _padded_block(G, *g, m, n) if n < G.shape[1] else None
        out.append(_transfer_block(G, *g, m, n) if W is None else W)
    return out


#: arrays of at most this many columns whose whole ``W`` is wanted take :func:`_transfer`
#: (every row line inverted in one batched call); wider ones :func:`_transfer_block`
NARROW_COLS = 64


def _transfer(G: np.ndarray, g_r: float, g_c: float, g_d: float, g_s: float) -> np.ndarray:
    """The recursion of the module docs for one array (numpy; every row at once where possible)."""
    M, N = G.shape
    idx = np.arange(N)
    # every row line's tridiagonal matrix T_t, inverted together
    T = np.zeros((M, N, N))
    T[:, idx, idx] = G + g_r * ((idx > 0).astype(float) + (idx < N - 1))
    T[:, 0, 0] += g_d
    T[:, idx[:-1], idx[1:]] = -g_r
    T[:, idx[1:], idx[:-1]] = -g_r
    Tinv = np.linalg.inv(T)
    # column-node blocks K_t + c_t I and the inputs h_t
    rows = np.arange(M)
    c = g_c * ((rows > 0).astype(float) + (rows < M - 1)) + np.where(rows == M - 1, g_s, 0.0)
    A = -G[:, :, None] * Tinv * G[:, None, :]
    A[:, idx, idx] += G + c[:, None]
    H = g_d * G * Tinv[:, :, 0]
    # block LDL^T sweep down the rows, then X_t = g_c D_t^-1 X_{t+1} back up; each D_t is
    # SPD (a Schur complement of the SPD nodal matrix): one LAPACK dposv per row gives its
    # inverse (half the call overhead of np.linalg.inv, which dominates at these sizes)
    from scipy.linalg import lapack

    eye = np.eye(N)
    Dinv = np.empty((M, N, N))
    g2 = g_c * g_c
    for t in range(M):
        D = A[t] if t == 0 else A[t] - g2 * Dinv[t - 1]
        _, Dinv[t], info = lapack.dposv(D, eye)
        if info != 0:
            raise SingularCircuitError(
                f"row {t} block of the column-node system is not positive definite (info {info})"
            )
    W = np.empty((M, N))
    X = Dinv[M - 1]
    W[M - 1] = H[M - 1] @ X
    for t in range(M - 2, -1, -1):
        X = (g_c * Dinv[t]) @ X
        W[t] = H[t] @ X
    W *= g_s
    return W


def _row_lines(G: np.ndarray, g_r: float, g_d: float):
    """Every row line eliminated in O(N^2): the lower triangles of ``K_t`` and ``h_t``.

    The inverse of a row's tridiagonal ``T`` is ``T^-1_ij = d_i P_j / P_i`` (j >= i) with
    ``d`` its diagonal (from the forward and backward pivots ``l``, ``r``) and ``P`` the
    running product of ``g_r / r``; so ``K_t``'s lower triangle is an outer product.
    Returns None when ``P`` underflows (very conductive cells on long rows).
    """
    M, N = G.shape
    idx = np.arange(N)
    a = G + g_r * ((idx > 0).astype(float) + (idx < N - 1))
    a[:, 0] += g_d
    g2 = g_r * g_r
    lp = np.empty_like(a)
    rp = np.empty_like(a)
    lp[:, 0] = a[:, 0]
    for i in range(1, N):
        lp[:, i] = a[:, i] - g2 / lp[:, i - 1]
    rp[:, N - 1] = a[:, N - 1]
    for i in range(N - 2, -1, -1):
        rp[:, i] = a[:, i] - g2 / rp[:, i + 1]
    d = 1.0 / (lp + rp - a)
    rho = g_r / rp
    rho[:, 0] = 1.0
    P = np.cumprod(rho, axis=1)
    if not P[:, -1].min() > 1e-280:
        return None
    K = (G * P)[:, :, None] * (-(G * d) / P)[:, None, :]  # lower triangle: K_ij, i >= j
    K[:, idx, idx] += G
    H = (g_d * d[:, :1]) * G * P
    return K, H


def _transfer_block(
    G: np.ndarray, g_r: float, g_c: float, g_d: float, g_s: float, m: int, n: int
) -> np.ndarray:
    """``W[:m, :n]`` of one array (wide arrays, padded tiles): the recursion of the module
    docs with O(N^2) row lines, a Cholesky inverse per row (``dpotrf`` + ``dpotri``, lower
    triangles only) and the back sweep only for the wanted block: about ``M N^3`` flops for
    the sweep plus ``2 M N^2 min(m, n)`` for the outputs."""
    from scipy.linalg import blas, lapack

    M, N = G.shape
    lines = _row_lines(G, g_r, g_d)
    if lines is None:  # fall back to the batched inverses
        return _transfer(G, g_r, g_c, g_d, g_s)[:m, :n]
    K, H = lines
    idx = np.arange(N)
    g2 = g_c * g_c
    forward = m <= n  # carry the m input rows down, else the n output columns back up
    Z = np.zeros((0, N))
    lower: list[np.ndarray] = []
    prev = None
    for t in range(M):
        D = K[t]
        D[idx, idx] += g_c * ((t > 0) + (t < M - 1)) + (g_s if t == M - 1 else 0.0)
        if prev is not None:
            D -= g2 * prev
        L, info = lapack.dpotrf(D, lower=1, overwrite_a=1, clean=0)
        if info == 0:
            prev, info = lapack.dpotri(L, lower=1, overwrite_c=1)
        if info != 0:
            raise SingularCircuitError(
                f"row {t} block of the column-node system is not positive definite (info {info})"
            )
        if forward:
            if t < m:
                Z = np.vstack([Z, H[t : t + 1]])
            # Z @ Dinv = (Dinv @ Z^T)^T with the symmetric lower-stored inverse
            Z = blas.dsymm(1.0 if t == M - 1 else g_c, prev, Z.T, lower=1).T
        else:
            lower.append(prev)
    if forward:
        return g_s * Z[:, :n]
    W = np.empty((m, n))
    X = blas.dsymm(1.0, lower[M - 1], np.eye(N)[:, :n], lower=1)
    if M - 1 < m:
        W[M - 1] = H[M - 1] @ X
    for t in range(M - 2, -1, -1):
        X = blas.dsymm(g_c, lower[t], X, lower=1)
        if t < m:
            W[t] = H[t] @ X
    return g_s * W


def _padded_block(
    G: np.ndarray, g_r: float, g_c: float, g_d: float, g_s: float, m: int, n: int
) -> np.ndarray | None:
    """``W[:m, :n]`` of an array whose columns ``n:`` all hold one conductance (a padded
    tile's unused columns), in ``n`` block steps instead of ``M``; None when they do not.

    By reciprocity, ``W[i, j] = W'[N-1-j, M-1-i]`` where ``W'`` is the transfer matrix of the
    array turned over (``G[::-1, ::-1].T``: drivers and senses, rows and columns swap).
    Turned over, the padding columns are the first ``N - n`` rows of the sweep: identical
    rows whose Schur complement (:func:`_uniform_prefix`) does not depend on the used cells,
    so it is computed once per process and reused by every tile and chip; the sweep then
    runs over the ``n`` used rows only, carrying all of them as inputs.
    """
    from scipy.linalg import blas

    M, N = G.shape
    pad = N - n
    v = float(G[0, n])
    if not np.all(G[:, n:] == v):
        return None
    gr, gc, gd, gs = g_c, g_r, g_s, g_d  # the turned-over array's conductances
    lines = _row_lines(np.ascontiguousarray(G[::-1, n - 1 :: -1].T), gr, gd)
    prev = _uniform_prefix(M, pad, v, gr, gc, gd)
    if lines is None or prev is None:
        return None
    K, H = lines
    Z = np.zeros((0, M))
    for k in range(n):
        t = pad + k
        D = K[k]
        D.flat[:: M + 1] += gc * ((t > 0) + (t < N - 1)) + (gs if t == N - 1 else 0.0)
        D -= (gc * gc) * prev
        prev = _spd_inverse(D, t)
        Z = np.vstack([Z, H[k : k + 1]])
        Z = blas.dsymm(1.0 if t == N - 1 else gc, prev, Z.T, lower=1).T
    return (gs * Z)[::-1, ::-1].T[:m, :n].copy()


def _spd_inverse(D: np.ndarray, t: int) -> np.ndarray:
    """The inverse (lower triangle) of the SPD block ``D`` of sweep row ``t`` (D overwritten)."""
    from scipy.linalg import lapack

    L, info = lapack.dpotrf(D, lower=1, overwrite_a=1, clean=0)
    if info == 0:
        inv, info = lapack.dpotri(L, lower=1, overwrite_c=1)
    if info != 0:
        raise SingularCircuitError(
            f"row {t} block of the column-node system is not positive definite (info {info})"
        )
    return inv


#: sweeps over identical padding rows, by (block size, conductance, wires): the lower
#: triangles of D_t^-1 for t = 0, 1, ... (at most 128 KiB each at 128 rows)
_PREFIXES: OrderedDict = OrderedDict()
_PREFIX_LOCK = threading.Lock()
_PREFIX_KEYS = 4


def _uniform_prefix(M: int, steps: int, v: float, g_r: float, g_c: float, g_d: float):
    """``D^-1`` (lower triangle) after ``steps`` identical rows of ``M`` cells ``v`` at the
    start of a sweep (the rows after them are not the last one); None if the row lines
    underflow.  Cached: the sequence does not depend on what follows."""
    key = (M, v, g_r, g_c, g_d)
    with _PREFIX_LOCK:
        seq = _PREFIXES.get(key)
        if seq is not None:
            _PREFIXES.move_to_end(key)
    if seq is None or len(seq) < steps:
        lines = _row_lines(np.full((1, M), v), g_r, g_d)
        if lines is None:
            return None
        K0 = lines[0][0]
        seq = list(seq or [])
        for t in range(len(seq), steps):
            D = K0.copy()
            D.flat[:: M + 1] += g_c * ((t > 0) + 1.0)
            if t > 0:
                D -= (g_c * g_c) * seq[t - 1]
            seq.append(_spd_inverse(D, t))
        with _PREFIX_LOCK:
            _PREFIXES[key] = seq
            _PREFIXES.move_to_end(key)
            while len(_PREFIXES) > _PREFIX_KEYS:
                _PREFIXES.popitem(last=False)
    return seq[steps - 1]
