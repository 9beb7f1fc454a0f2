"""Exact transfer matrices by block elimination (two orientations) and their cost model.

:meth:`xbar.Crossbar.transfer_matrix` needs ``W`` (M, N) with ``output = V @ W``.
Two exact direct eliminations of the nodal system exist:

* **column sweep** (``Crossbar._transfer_blocks``): eliminate the column lines
  exactly, leaving a block-tridiagonal system on the row nodes with one dense
  (M, M) block per column; sweep along the columns.  Cost about ``N M^3`` per
  driven row end.  Needs uncollapsed rows.
* **row sweep** (:func:`row_sweep`, here): eliminate the row lines exactly
  (one tridiagonal system per row, on its super-nodes), leaving a
  block-tridiagonal system on the column nodes with one dense (N, N) block per
  row; sweep down the rows carrying all M unit inputs at once (input ``i``
  enters at block ``i``).  Cost about ``M N^3 + M^2 N^2 / 2`` per sensed column
  end.  Needs uncollapsed columns with finite end segments.

``Crossbar._transfer_order`` picks the cheaper one from the shape with the cost model
measured in ``benchmarks/bench_crossbar.py`` (single-threaded BLAS).
"""

from __future__ import annotations

import numpy as np

# Measured with OPENBLAS_NUM_THREADS=1 on the 2-core development machine under load
# (benchmarks/bench_crossbar.py prints both orientations): seconds per unit of the
# counts below.  Only their ratios matter for the choice; near the break-even line
# the two differ by less than the timing noise.
COST_COLUMN = 3.3e-10  # per N * M^3 (one sweep)
COST_ROW = 4.5e-10  # per (M * N^3 + M^2 * N^2 / 2) (one sweep)
COST_ROW_FIXED = 2.2e-5  # per row block (LAPACK calls, python overhead)
COST_COLUMN_FIXED = 6e-5  # per column block (banded solve, LAPACK calls, python overhead)


def column_cost(M: int, N: int, sweeps: int) -> float:
    """Modelled seconds of the column sweep (``sweeps`` driven row ends)."""
    return sweeps * (COST_COLUMN * N * M**3 + COST_COLUMN_FIXED * N)


def row_cost(M: int, N: int, sweeps: int) -> float:
    """Modelled seconds of the row sweep (``sweeps`` sensed column ends)."""
    return sweeps * (COST_ROW * (M * N**3 + 0.5 * M**2 * N**2) + COST_ROW_FIXED * M)


def row_sweep(st, g: np.ndarray, M: int, N: int) -> np.ndarray | None:
    """Exact W [S] (M, N) by eliminating the rows and sweeping down the column nodes.

    Parameters
    ----------
    st : xbar.crossbar.array._Struct
        Collapsed structure of the array.
    g : array (M*N,)
        Cell conductances [S] (row-major).

    Returns None when the structure does not allow this orientation (collapsed
    columns, zero-resistance sensed ends) or a block is not positive definite;
    the caller then falls back to another method.
    """
    from scipy.linalg import lapack

    rows, cols = st.rows, st.cols
    if not cols.uncollapsed:
        return None
    sweeps = [e for e in (0, 1) if np.any(st.sensed[:, e])]
    for e in sweeps:
        if not np.all(np.isfinite(cols.seg_g[st.sensed[:, e], 0 if e == 0 else M])):
            return None
    nrow = np.diff(rows.ptr)
    nmax = int(nrow.max()) if M else 0
    if M * (nmax * nmax + 2 * N * N) * 8 > 1.5e9:
        return None
    G = g.reshape(M, N)
    cell_r = st.cell_r.reshape(M, N)
    cell_rsrc = st.cell_rsrc.reshape(M, N)
    # ---- eliminate every row line: column-node blocks K_i (N, N) and inputs h_i (N,)
    # column node (i, j) is super-node cols.ptr[j] + i (uncollapsed)
    dc = (cols.dfix.reshape(N, M).T + G)  # (M, N) column-node diagonals
    K = np.zeros((M, N, N))
    idx = np.arange(N)
    K[:, idx, idx] = dc
    h = np.where(cell_rsrc == 1 + np.arange(M)[:, None], G, 0.0)  # known row nodes at V_i
    if nmax:
        # dense row systems padded to nmax (identity on the padding)
        T = np.zeros((M, nmax, nmax))
        dr = rows.dfix.copy()
        m = st.cell_r >= 0
        dr += np.bincount(st.cell_r[m], g[m], minlength=rows.nS)
        loc = np.arange(rows.nS) - np.repeat(rows.ptr[:-1], nrow)
        line = np.repeat(np.arange(M), nrow)
        T[line, loc, loc] = dr
        inner = loc < np.repeat(nrow, nrow) - 1  # super-node s couples to s + 1
        s = np.nonzero(inner)[0]
        T[line[s], loc[s], loc[s] + 1] = -rows.off[s]
        T[line[s], loc[s] + 1, loc[s]] = -rows.off[s]
        pad = np.arange(nmax)[None, :] >= nrow[:, None]
        pi, pj = np.nonzero(pad)
        T[pi, pj, pj] = 1.0
        # P_i (nmax, N): cell (i, j) couples row super-node cell_r[i, j] to column node (i, j)
        P = np.zeros((M, nmax, N))
        ci, cj = np.nonzero(cell_r >= 0)
        P[ci, cell_r[ci, cj] - rows.ptr[ci], cj] = G[ci, cj]
        # b_i (nmax,): the row's couplings to its own input source V_i
        b = np.zeros((M, nmax))
        ext_line = np.searchsorted(rows.ptr, rows.ext_sup, side="right") - 1
        own = rows.ext_src == 1 + ext_line
        np.add.at(b, (ext_line[own], rows.ext_sup[own] - rows.ptr[ext_line[own]]),
                  rows.ext_g[own])
        try:
            Tinv = np.linalg.inv(T)
        except np.linalg.LinAlgError:
            return None
        if rows.uncollapsed:  # P_i = diag(G_i)
            K -= G[:, :, None] * Tinv * G[:, None, :]
            h += G * np.matmul(Tinv, b[:, :, None])[:, :, 0]
        else:
            TP = np.matmul(Tinv, P)  # (M, nmax, N)
            K -= np.matmul(np.swapaxes(P, 1, 2), TP)
            h += np.matmul(np.swapaxes(TP, 1, 2), b[:, :, None])[:, :, 0]
    # ---- block sweep over the rows towards each sensed end
    gc = cols.off.reshape(N, M).T  # gc[i, j]: column node (i, j) to (i + 1, j)
    W = np.zeros((M, N))
    for e in sweeps:
        order = list(range(M)) if e == 1 else list(range(M - 1, -1, -1))
        # column t of Y (N, M) holds the reduced right-hand side of input order[t], which
        # enters at step t (so only the first t + 1 columns are non-zero at step t)
        Y = np.zeros((N, M))
        Y[:, 0] = h[order[0]]
        D = K[order[0]].copy()
        for t in range(1, M + 1):
            cf, info = lapack.dpotrf(D, lower=1)
            if info != 0:
                return None
            if t == M:
                Z, _ = lapack.dpotrs(cf, Y, lower=1)
                break
            Dinv, info = lapack.dpotri(cf, lower=1)
            Dinv = np.tril(Dinv) + np.tril(Dinv, -1).T
            i = order[t]
            cpl = gc[min(i, order[t - 1])]  # coupling between the previous block and this one
            D = K[i] - cpl[:, None] * Dinv * cpl[None, :]
            Y[:, :t] = cpl[:, None] * (Dinv @ Y[:, :t])
            Y[:, t] = h[i]
        gend = np.where(st.sensed[:, e], cols.seg_g[:, 0 if e == 0 else M], 0.0)
        W[order, :] += Z.T * gend[None, :]
    return W
