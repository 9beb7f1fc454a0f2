"""Kernels of the input-switched array: one two-line ladder per column and bit pattern.

A column of an input-switched array is two parallel wires, the source line (SL)
and the bit line (BL), with one node each per row, coupled at row ``i`` by the
active cell's conductance ``g_i`` (0 when the row's input bit is 0).  The gate
(word) lines draw no current, so columns are independent.

Both kernels sweep the column from its *start* end (the end opposite the BL's
sense end) to the sense end, carrying the affine relation that everything already
swept imposes on the voltages ``v = (v_SL, v_BL)`` of the current cut and the
currents ``J = (J_SL, J_BL)`` flowing from the cut back into the swept part::

    A v + B J = c        (2 equations, [A B] kept orthonormal)

* start end: a line held at the source voltage gives ``v = v_read``, an open one ``J = 0``;
* crossing a segment of resistances ``R = diag(r_SL, r_BL)`` to the next cut:
  ``B <- B - A R`` (no division: zero resistances are exact);
* a cell ``g`` between the two nodes: ``A <- A - g B K`` with ``K = [[1, -1], [-1, 1]]``;
* the sense end: ``v_BL = 0`` (virtual ground) and either ``v_SL = v_read`` (source at
  this end) or ``J_SL = 0``; a 2 x 2 solve gives the rest, and the sense current is
  ``-J_BL``.

Node voltages (optional, numpy twin only) come from a back substitution: from the
sense end towards the start, node ``i``'s stored relation plus the segment law
``v_i + R_(i+1) J'_i = v_(i+1)`` to the node below (already known) is a 4 x 4 solve;
only voltages travel back, so round-off is not amplified by the ladder's growing
modes (walking the segment and cell laws back from the sense end is: measured
6e-7 relative error with r g_max = 0.1 on 96 rows).  Segment arrays include the end
resistances: segment 0 joins the start end to node 0, segment ``M`` joins node ``M - 1``
to the sense end.

``ladder_numpy`` is the readable twin (vectorised over patterns and columns, loop
over rows, re-orthonormalised after every row); ``ladder_numba`` runs the same
arithmetic per (pattern, column), summing the segments between active rows
(series resistors) and re-orthonormalising every ``GS_EVERY`` active rows.
"""

from __future__ import annotations

import os

# OpenMP threads wait asleep (set before numba starts its threads; as xbar.crossbar.kernels,
# which may now be imported after this module's parallel kernel first ran)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
import numpy as np  # noqa: E402

from ..threads import numba_caps  # noqa: E402

numba_caps()  # the thread caps of --threads / XBAR_THREADS, now that numba runs

__all__ = ["ladder_numpy", "ladder_numba"]


def _orthonormalise(R: np.ndarray, c: np.ndarray) -> None:
    """Gram-Schmidt on the two rows of R (..., 2, 4), same row operations on c (..., 2)."""
    n0 = np.sqrt(np.sum(R[..., 0, :] ** 2, axis=-1))
    R[..., 0, :] /= n0[..., None]
    c[..., 0] /= n0
    d = np.sum(R[..., 0, :] * R[..., 1, :], axis=-1)
    R[..., 1, :] -= d[..., None] * R[..., 0, :]
    c[..., 1] -= d * c[..., 0]
    n1 = np.sqrt(np.sum(R[..., 1, :] ** 2, axis=-1))
    R[..., 1, :] /= n1[..., None]
    c[..., 1] /= n1


def ladder_numpy(
    g: np.ndarray,
    bits: np.ndarray,
    seg_s: np.ndarray,
    seg_b: np.ndarray,
    source_at_start: bool,
    v_read: float = 1.0,
    nodes: bool = False,
):
    """Sense currents of every column for every bit pattern (numpy reference).

    Parameters
    ----------
    g : ndarray (M, N)
        Conductance of each active cell [S] (memory cell in series with the access
        transistor), rows in sweep order (row 0 at the start end).
    bits : ndarray (P, M) of bool
        Input bit of each row per pattern, same row order.
    seg_s, seg_b : ndarray (N, M + 1)
        Source-line and bit-line segment resistances [ohm], end resistances included.
    source_at_start : bool
        The source line is driven at the start end (else at the sense end).
    v_read : float
        Source voltage [V].
    nodes : bool
        Also return the node voltages.

    Returns
    -------
    out : ndarray (P, N)
        Current into each column's sense node [A].
    v_sl, v_bl : ndarray (P, M, N)
        Source- and bit-line node voltages [V] (only with ``nodes=True``).
    """
    M, N = g.shape
    P = bits.shape[0]
    R = np.zeros((P, N, 2, 4))
    c = np.zeros((P, N, 2))
    if source_at_start:
        R[..., 0, 0] = 1.0
        c[..., 0] = v_read
    else:
        R[..., 0, 2] = 1.0
    R[..., 1, 3] = 1.0
    gg = bits[:, :, None] * g[None, :, :]  # (P, M, N)
    saved = []  # relation at each node (after its cell), for the back substitution
    for i in range(M + 1):
        # cross segment i: B <- B - A diag(r_s, r_b)
        R[..., 2] -= R[..., 0] * seg_s[None, :, i, None]
        R[..., 3] -= R[..., 1] * seg_b[None, :, i, None]
        if i < M:
            # cell i: A <- A - g B K, (B K)[:, 0] = B0 - B1 = -(B K)[:, 1]
            bk = (R[..., 2] - R[..., 3]) * gg[:, i, :, None]
            R[..., 0] -= bk
            R[..., 1] += bk
        _orthonormalise(R, c)
        if nodes and i < M:
            saved.append((R.copy(), c.copy()))
    # sense end: v_b = 0 and (v_s = v_read or J_s = 0); unknowns (x, J_b)
    if source_at_start:  # unknowns v_s, J_b; J_s = 0
        a11, a12, a21, a22 = R[..., 0, 0], R[..., 0, 3], R[..., 1, 0], R[..., 1, 3]
        r1, r2 = c[..., 0], c[..., 1]
    else:  # v_s = v_read known; unknowns J_s, J_b
        a11, a12, a21, a22 = R[..., 0, 2], R[..., 0, 3], R[..., 1, 2], R[..., 1, 3]
        r1 = c[..., 0] - R[..., 0, 0] * v_read
        r2 = c[..., 1] - R[..., 1, 0] * v_read
    det = a11 * a22 - a12 * a21
    x = (r1 * a22 - r2 * a12) / det
    jb = (a11 * r2 - a21 * r1) / det
    out = 0.0 - jb  # no negative zeros
    if not nodes:
        return out
    # back substitution: node i's relation plus the segment law to the (known) node below,
    # v_i + R_{i+1} J'_i = v_{i+1}: a 4 x 4 solve per node (only voltages travel back)
    v_next = np.stack(
        [x if source_at_start else np.full((P, N), float(v_read)), np.zeros((P, N))], axis=-1
    )
    v_sl = np.empty((P, M, N))
    v_bl = np.empty((P, M, N))
    S = np.zeros((P, N, 4, 4))
    for i in range(M - 1, -1, -1):
        Ri, ci = saved[i]
        S[..., :2, :] = Ri
        S[..., 2, 0] = S[..., 3, 1] = 1.0
        S[..., 2, 2] = seg_s[None, :, i + 1]
        S[..., 3, 3] = seg_b[None, :, i + 1]
        rhs = np.concatenate([ci, v_next], axis=-1)
        v_next = np.linalg.solve(S, rhs[..., None])[..., :2, 0]
        v_sl[:, i], v_bl[:, i] = v_next[..., 0], v_next[..., 1]
    return out, v_sl, v_bl


#: active rows between two re-orthonormalisations of the relation in the compiled kernel
GS_EVERY = 8


@numba.njit(cache=True, nogil=True)
def _gram_schmidt(R, c):
    n0 = np.sqrt(R[0, 0] ** 2 + R[0, 1] ** 2 + R[0, 2] ** 2 + R[0, 3] ** 2)
    for q in range(4):
        R[0, q] /= n0
    c[0] /= n0
    d = R[0, 0] * R[1, 0] + R[0, 1] * R[1, 1] + R[0, 2] * R[1, 2] + R[0, 3] * R[1, 3]
    for q in range(4):
        R[1, q] -= d * R[0, q]
    c[1] -= d * c[0]
    n1 = np.sqrt(R[1, 0] ** 2 + R[1, 1] ** 2 + R[1, 2] ** 2 + R[1, 3] ** 2)
    for q in range(4):
        R[1, q] /= n1
    c[1] /= n1


@numba.njit(cache=True, nogil=True)
def _column(g_j, bits_p, seg_s_j, seg_b_j, source_at_start, v_read, R, c):
    """One column of one pattern; returns (x, J_b) as :func:`ladder_numpy`'s end solve.

    Segments between active rows are summed (series resistors, exact) and applied
    once; the relation is re-orthonormalised every ``GS_EVERY`` active rows.
    """
    M = g_j.shape[0]
    R[:] = 0.0
    c[:] = 0.0
    if source_at_start:
        R[0, 0] = 1.0
        c[0] = v_read
    else:
        R[0, 2] = 1.0
    R[1, 3] = 1.0
    rs = 0.0
    rb = 0.0
    since = 0
    for i in range(M + 1):
        rs += seg_s_j[i]
        rb += seg_b_j[i]
        if i < M and not (bits_p[i] and g_j[i] > 0.0):
            continue
        for k in range(2):
            R[k, 2] -= R[k, 0] * rs
            R[k, 3] -= R[k, 1] * rb
        rs = 0.0
        rb = 0.0
        if i < M:
            gi = g_j[i]
            for k in range(2):
                bk = (R[k, 2] - R[k, 3]) * gi
                R[k, 0] -= bk
                R[k, 1] += bk
        since += 1
        if since >= GS_EVERY or i == M:
            _gram_schmidt(R, c)
            since = 0
    if source_at_start:
        a11, a12, a21, a22 = R[0, 0], R[0, 3], R[1, 0], R[1, 3]
        r1, r2 = c[0], c[1]
    else:
        a11, a12, a21, a22 = R[0, 2], R[0, 3], R[1, 2], R[1, 3]
        r1 = c[0] - R[0, 0] * v_read
        r2 = c[1] - R[1, 0] * v_read
    det = a11 * a22 - a12 * a21
    return (r1 * a22 - r2 * a12) / det, (a11 * r2 - a21 * r1) / det


@numba.njit(cache=True, parallel=True, nogil=True)
def _ladder_kernel(gT, bits, seg_s, seg_b, source_at_start, v_read, out):
    P = bits.shape[0]
    N = gT.shape[0]
    for t in numba.prange(P * N):
        p = t // N
        j = t % N
        R = np.empty((2, 4))
        c = np.empty(2)
        _, jb = _column(gT[j], bits[p], seg_s[j], seg_b[j], source_at_start, v_read, R, c)
        out[p, j] = 0.0 - jb  # no negative zeros


def ladder_numba(
    g: np.ndarray,
    bits: np.ndarray,
    seg_s: np.ndarray,
    seg_b: np.ndarray,
    source_at_start: bool,
    v_read: float = 1.0,
) -> np.ndarray:
    """Sense currents (P, N) [A]: the compiled twin of :func:`ladder_numpy` (no node voltages).

    Arguments as :func:`ladder_numpy`; arrays are made contiguous float64 / bool here.
    """
    gT = np.ascontiguousarray(np.asarray(g, dtype=np.float64).T)
    bits = np.ascontiguousarray(bits, dtype=np.bool_)
    seg_s = np.ascontiguousarray(seg_s, dtype=np.float64)
    seg_b = np.ascontiguousarray(seg_b, dtype=np.float64)
    out = np.empty((bits.shape[0], gT.shape[0]))
    _ladder_kernel(gT, bits, seg_s, seg_b, bool(source_at_start), float(v_read), out)
    return out
