"""Exact transfer matrices by block elimination (two orientations) and their cost model.

:meth:`xbar.Crossbar.transfer_matrix` needs ``W`` (M, N) with ``output = V @ W``.
Two exact direct eliminations of the nodal system exist:

* **column sweep** (:func:`column_sweep`): eliminate the column lines
  exactly, leaving a block-tridiagonal system on the row nodes with one dense
  (M, M) block per column; sweep along the columns.  Cost about ``N M^3`` per
  driven row end.  Needs uncollapsed rows.
* **row sweep** (:func:`row_sweep`, here): eliminate the row lines exactly
  (one tridiagonal system per row, on its super-nodes), leaving a
  block-tridiagonal system on the column nodes with one dense (N, N) block per
  row; sweep down the rows carrying all M unit inputs at once (input ``i``
  enters at block ``i``).  Cost about ``M N^3 + M^2 N^2 / 2`` per sensed column
  end.  Needs uncollapsed columns with finite end segments.

:func:`transfer_order` picks the cheaper one from the shape with the cost model
measured in ``benchmarks/bench_crossbar.py`` (single-threaded BLAS).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, SingularCircuitError
from .solver import assemble_solution, linear_solve
from .system import CrossbarSystem, cell_voltages, line_diagonals, rhs

__all__ = [
    "METHODS",
    "transfer_matrix",
    "transfer_order",
    "column_sweep",
    "row_sweep",
    "column_cost",
    "row_cost",
]

METHODS = ("auto", "columns", "rows", "cg")

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


def row_sweep(st: CrossbarSystem, g: np.ndarray) -> np.ndarray | None:
    """Exact W [S] (M, N) by eliminating the rows and sweeping down the column nodes.

    Parameters
    ----------
    st : CrossbarSystem
        The array.
    g : array (M*N,)
        Cell conductances [S] (row-major).

    Returns None when the structure does not allow this orientation (collapsed
    columns, zero-resistance sensed ends) or a block is not positive definite;
    the caller then falls back to another method.
    """
    cols = st.cols
    M, N = st.M, st.N
    if not cols.uncollapsed:
        return None
    sweeps = [e for e in (0, 1) if np.any(st.sensed[:, e])]
    for e in sweeps:
        if not np.all(np.isfinite(cols.seg_g[st.sensed[:, e], 0 if e == 0 else M])):
            return None
    nmax = int(np.diff(st.rows.ptr).max()) if M else 0
    if M * (nmax * nmax + 2 * N * N) * 8 > 1.5e9:
        return None
    blocks = _row_blocks(st, g)
    if blocks is None:
        return None
    K, h = blocks
    W = np.zeros((M, N))
    for e in sweeps:
        order = list(range(M)) if e == 1 else list(range(M - 1, -1, -1))
        Z = _sweep_rows(st, K, h, order)
        if Z is None:
            return None
        gend = np.where(st.sensed[:, e], cols.seg_g[:, 0 if e == 0 else M], 0.0)
        W[order, :] += Z.T * gend[None, :]
    return W


def _row_blocks(st: CrossbarSystem, g: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Eliminate every row line: column-node blocks K_i (M, N, N) [S] and inputs h_i (M, N) [S].

    Column node (i, j) is super-node ``cols.ptr[j] + i`` (uncollapsed columns).
    None when a row's line matrix is singular.
    """
    rows, cols = st.rows, st.cols
    M, N = st.M, st.N
    nrow = np.diff(rows.ptr)
    nmax = int(nrow.max()) if M else 0
    G = g.reshape(M, N)
    K = np.zeros((M, N, N))
    idx = np.arange(N)
    K[:, idx, idx] = cols.dfix.reshape(N, M).T + G  # (M, N) column-node diagonals
    h = np.where(st.cell_rsrc.reshape(M, N) == 1 + np.arange(M)[:, None], G, 0.0)
    if not nmax:
        return K, h
    # dense row systems padded to nmax (identity on the padding)
    T = np.zeros((M, nmax, nmax))
    dr = line_diagonals(st, g[None, :])[0][0]
    loc = np.arange(rows.nS) - np.repeat(rows.ptr[:-1], nrow)
    line = np.repeat(np.arange(M), nrow)
    T[line, loc, loc] = dr
    s = np.nonzero(loc < np.repeat(nrow, nrow) - 1)[0]  # super-node s couples to s + 1
    T[line[s], loc[s], loc[s] + 1] = -rows.off[s]
    T[line[s], loc[s] + 1, loc[s]] = -rows.off[s]
    pi, pj = np.nonzero(np.arange(nmax)[None, :] >= nrow[:, None])
    T[pi, pj, pj] = 1.0
    # P_i (nmax, N): cell (i, j) couples row super-node cell_r[i, j] to column node (i, j)
    cell_r = st.cell_r.reshape(M, N)
    P = np.zeros((M, nmax, N))
    ci, cj = np.nonzero(cell_r >= 0)
    P[ci, cell_r[ci, cj] - rows.ptr[ci], cj] = G[ci, cj]
    # b_i (nmax,): the row's couplings to its own input source V_i
    b = np.zeros((M, nmax))
    ext_line = np.searchsorted(rows.ptr, rows.ext_sup, side="right") - 1
    own = rows.ext_src == 1 + ext_line
    np.add.at(b, (ext_line[own], rows.ext_sup[own] - rows.ptr[ext_line[own]]), rows.ext_g[own])
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
    return K, h


def _sweep_rows(
    st: CrossbarSystem, K: np.ndarray, h: np.ndarray, order: list[int]
) -> np.ndarray | None:
    """Block sweep over the rows in ``order`` towards a sensed end: Z (N, M), None if not SPD.

    Column t of Y (N, M) holds the reduced right-hand side of input order[t],
    which enters at step t (so only the first t + 1 columns are non-zero at step t).
    """
    from scipy.linalg import lapack

    M, N = st.M, st.N
    gc = st.cols.off.reshape(N, M).T  # gc[i, j]: column node (i, j) to (i + 1, j)
    Y = np.zeros((N, M))
    Y[:, 0] = h[order[0]]
    D = K[order[0]].copy()
    for t in range(1, M + 1):
        cf, info = lapack.dpotrf(D, lower=1)
        if info != 0:
            return None
        if t == M:
            return lapack.dpotrs(cf, Y, lower=1)[0]
        Dinv, info = lapack.dpotri(cf, lower=1)
        Dinv = np.tril(Dinv) + np.tril(Dinv, -1).T
        i = order[t]
        cpl = gc[min(i, order[t - 1])]  # coupling between the previous block and this one
        D = K[i] - cpl[:, None] * Dinv * cpl[None, :]
        Y[:, :t] = cpl[:, None] * (Dinv @ Y[:, :t])
        Y[:, t] = h[i]
    return None


# ----------------------------------------------------------------------------- column sweep
def column_sweep(st: CrossbarSystem, g: np.ndarray) -> np.ndarray | None:
    """Exact W [S] (M, N) by block elimination along the columns, None when it does not apply.

    Unknowns are the row nodes after the columns are eliminated exactly
    (Schur complement): a block-tridiagonal matrix whose block ``j`` is the
    dense (M, M) coupling of the row nodes in column ``j`` and whose
    off-diagonal blocks are the (diagonal) row-wire conductances.  Inputs
    enter only at the first (last) block, and column ``j``'s output is a
    linear functional ``a_j . x_j`` of block ``j``, so only the first (last)
    block row of the inverse is needed.  By symmetry, ``W[:, j] = g_in * (S^-1 y_j)_0``
    with ``y_j`` = ``a_j`` placed in block ``j``: one elimination sweep from the far
    end (Schur complements ``R_t``, all N right-hand sides carried along, only the
    columns already reached are nonzero) and ``Y_0 = R_0^-1 yhat_0``; no back
    substitution.  Cost ``2 N M^3`` (BLAS), memory ``O(M N)``.

    Parameters
    ----------
    g : array (M*N,)
        Cell conductances [S] (row-major).
    """
    rows, cols = st.rows, st.cols
    M, N = st.M, st.N
    if not rows.uncollapsed or M < 2 or N * M * M * 8 > 1.5e9:
        return None
    # every connected column end must be a sensed end (output = total cell current)
    if np.any((cols.end_src >= 0) & ~st.sensed):
        return None
    gL = np.where(st.driven[:, 0], rows.seg_g[:, 0], 0.0)
    gR = np.where(st.driven[:, 1], rows.seg_g[:, N], 0.0)
    if not (np.all(np.isfinite(gL)) and np.all(np.isfinite(gR))):
        return None
    dr, dc = line_diagonals(st, g[None, :])
    blocks = _ColumnBlocks(st, g.reshape(M, N), dr[0].reshape(M, N), dc[0])
    e = rows.off.reshape(M, N)  # coupling (i, j) - (i, j+1)
    W = np.zeros((M, N))
    for order, gin in ((range(N), gL), (range(N - 1, -1, -1), gR)):
        if not np.any(gin):
            continue
        js = list(order)  # near end first; eliminate from the far end towards it
        yh = np.zeros((M, N))  # rhs columns in elimination order: column t <-> js[t]
        Rinv = None
        for t in range(N - 1, -1, -1):
            j = js[t]
            S, a = blocks.block(j)
            if Rinv is not None:
                ec = e[:, min(j, js[t + 1])]
                S -= ec[:, None] * Rinv * ec[None, :]
                yh[:, t + 1 :] = ec[:, None] * (Rinv @ yh[:, t + 1 :])
            yh[:, t] = a
            Rinv = _inv_spd(S, j)
        W[:, js] += gin[:, None] * (Rinv @ yh)  # block 0 of S^-1 on every output functional
    return W


class _ColumnBlocks:
    """The Schur blocks of the row nodes, one column line eliminated at a time."""

    def __init__(self, st: CrossbarSystem, G: np.ndarray, dr: np.ndarray, dc: np.ndarray) -> None:
        self.st, self.G, self.dr, self.dc = st, G, dr, dc
        self.cell_c = st.cell_c.reshape(st.M, st.N)

    def block(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Schur block S_jj (M, M) [S] and output functional a_j (M,) [S] of column ``j``."""
        from scipy.linalg import solveh_banded

        cols, dc = self.st.cols, self.dc
        S = np.diag(self.dr[:, j])
        gj = self.G[:, j]
        a = gj.copy()
        s0, s1 = cols.ptr[j], cols.ptr[j + 1]
        m = s1 - s0
        if m:
            ab = np.zeros((2, m))
            ab[0, 1:] = -cols.off[s0 : s1 - 1]
            ab[1] = dc[s0:s1]
            if m == 1:  # scipy's banded solver rejects a 1 x 1 system
                Tinv = np.array([[1.0 / dc[s0]]])
            else:
                Tinv = solveh_banded(ab, np.eye(m), check_finite=False)
            idx = self.cell_c[:, j]
            ii = np.nonzero(idx >= 0)[0]
            loc = idx[ii] - s0
            P = Tinv[np.ix_(loc, loc)] * gj[ii][:, None] * gj[ii][None, :]
            S[np.ix_(ii, ii)] -= P
            a[ii] -= P.sum(axis=1)
        return S, a


def _inv_spd(S: np.ndarray, j: int) -> np.ndarray:
    """Inverse of an SPD block by Cholesky; :class:`SingularCircuitError` if not SPD."""
    from scipy.linalg import lapack

    c, info = lapack.dpotrf(S, lower=0)
    if info != 0:
        raise SingularCircuitError(f"block elimination failed at column {j} (info {info})")
    Ci, info = lapack.dpotri(c, lower=0)
    return np.triu(Ci) + np.triu(Ci, 1).T


# ----------------------------------------------------------------------------- choice
def transfer_order(st: CrossbarSystem) -> list[str]:
    """Exact eliminations to try, cheapest first by the measured cost model."""
    col_sweeps = max(1, int(np.any(st.driven[:, 0])) + int(np.any(st.driven[:, 1])))
    row_sweeps = max(1, int(np.any(st.sensed[:, 0])) + int(np.any(st.sensed[:, 1])))
    c_col = column_cost(st.M, st.N, col_sweeps)
    c_row = row_cost(st.M, st.N, row_sweeps)
    return ["columns", "rows"] if c_col <= c_row else ["rows", "columns"]


def transfer_matrix(
    st: CrossbarSystem,
    g: np.ndarray | None = None,
    method: str = "auto",
    *,
    maxiter: int = 20000,
    kernel: str = "auto",
) -> tuple[np.ndarray, str]:
    """``W`` [S] (M, N), ``d output / d V`` for cell conductances ``g``, and the method used.

    Parameters
    ----------
    g : array (M*N,), optional
        Cell conductances [S]; default the small-signal ``st.g``.
    method : {"auto", "columns", "rows", "cg"}
        See :meth:`xbar.Crossbar.transfer_matrix`.
    maxiter, kernel
        CG limit and kernel of the ``"cg"`` fallback.

    Raises
    ------
    ConfigError
        An unknown method, or a forced method that does not apply to this topology.
    """
    if method not in METHODS:
        raise ConfigError(
            f"transfer_matrix(method={method!r}); expected 'auto', 'columns', 'rows' or 'cg'"
        )
    g = st.g if g is None else np.asarray(g, dtype=float).ravel()
    for how in transfer_order(st) if method == "auto" else [method]:
        if how == "cg":
            break
        W = column_sweep(st, g) if how == "columns" else row_sweep(st, g)
        if W is not None:
            return W, how
        if method != "auto":
            raise ConfigError(
                f"transfer_matrix(method={method!r}) does not apply to this array "
                "(zero-resistance segments or unsensed ends along the swept lines)",
                hint="use method='auto'",
            )
    return _krylov_transfer(st, g, maxiter, kernel), "cg"


def _krylov_transfer(st: CrossbarSystem, g: np.ndarray, maxiter: int, kernel: str) -> np.ndarray:
    """W by one batched CG solve per unit input (tol 1e-12)."""
    M = st.M
    g = g[None, :]
    Vs = np.zeros((M, st.nsrc))
    Vs[:, 1 : M + 1] = np.eye(M)
    rhs_r, rhs_c = rhs(st, Vs, g)
    xr, xc, _, _ = linear_solve(st, g, rhs_r, rhs_c, None, 1e-12, maxiter, kernel)
    icell = g * cell_voltages(st, Vs, xr, xc).reshape(M, -1)
    sol = assemble_solution(
        st, Vs, np.eye(M), xr, xc, icell, np.zeros(M, int), np.zeros(M), False, None
    )
    return sol.output
