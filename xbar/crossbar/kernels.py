"""Numba kernels of the structured crossbar solver: one preconditioned CG driver.

The nodal system of a crossbar has two families of unknowns, each a set of
independent tridiagonal *chains* (lines, after zero-resistance segments are
collapsed): family ``a`` (solved by CG) and family ``b`` (eliminated exactly
by tridiagonal solves).  They couple only through cell conductances::

    [ Ta   -B ] [xa]   [fa]
    [ -B^T  Tb] [xb] = [fb]

CG runs on the Schur complement ``S = Ta - B Tb^-1 B^T`` (SPD) with the chain
preconditioner ``Ta^-1``, for a batch of right-hand sides ``k``.

One driver, :func:`pcg`, holds the CG iteration (restarts from the true
residual, per-input convergence, iteration counts).  What differs is passed in
as an *operator*, a named tuple whose type selects its parts at compile time
(``apply_schur``: ``q = S p``; ``update``: the CG update fused with the line
preconditioner ``z = Ta^-1 r``; ``direction``; ``eliminate``: ``xb`` from ``xa``):

* :class:`ChainSchur` -- general collapsed chains (:class:`Lines`, :class:`Cells`),
  every step parallel over (input, line);
* :class:`GridSchur` -- no node collapsed: rows and columns on the (M, N) grid
  (:class:`Grid`), parallel over lines, columns in lockstep chunks;
* :class:`InputSchur` -- the grid for one input, serial.

The batch layout is the entry point: :func:`chain_pcg` and :func:`grid_pcg`
run all inputs in lockstep in one driver call; :func:`inputs_pcg` runs one
serial driver per input, the inputs in parallel (:func:`input_pcg_serial`: on
the calling thread).

Arguments shared by the kernels below (K inputs, n unknowns of the CG family,
L lines of it, Kg = 1 for shared conductances or K):

* ``p``, ``q``, ``r``, ``z``, ``x`` -- float (K, n): search direction, ``S p``,
  residual, preconditioned residual ``Ta^-1 r``, solution [V];
* ``part``, ``part_rz``, ``part_rr`` -- float (K, L): per-line partial sums of
  ``p.q``, ``r.z`` and ``r.r`` (summed serially, so results do not depend on threads);
* ``alpha``, ``beta`` -- float (K,): CG step and direction coefficients;
* ``active`` -- bool (K,): inputs still iterating (the others are left untouched);
* ``add`` -- float (K, nB), or 0 rows for none: an addend to ``B^T p`` before
  the eliminated family's solve (the right-hand side ``fb``);
* ``kg`` -- the conductance row of input ``k`` (``k`` or 0).

The readable twin is :mod:`xbar.crossbar.reference` (the
full sparse nodal matrix solved with ``splu``) and scipy's ``cg`` with
:func:`xbar.crossbar.system.line_preconditioner`; tests compare them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange
from numba.extending import overload

__all__ = [
    "Lines", "Cells", "Grid", "ChainSchur", "GridSchur", "InputSchur",
    "tri_factor", "tri_solve", "apply_lines", "pcg",
    "chain_pcg", "grid_pcg", "inputs_pcg", "input_pcg_serial",
]  # fmt: skip

_FAST = dict(cache=True, parallel=True, error_model="numpy", fastmath=True)
_SERIAL = dict(cache=True, error_model="numpy", fastmath=True)


# ----------------------------------------------------------------------------- data
class Lines(NamedTuple):
    """One family of chains (all rows or all columns, collapsed).

    Attributes
    ----------
    ptr : int64 array (L + 1,)
        Line ``l`` owns super-nodes ``ptr[l]:ptr[l+1]``.
    off : float array (nS,)
        Conductance [S] from super-node ``s`` to ``s + 1`` of the same chain (0 at a chain end).
    diag : float array (Kg, nS)
        Full diagonal [S] (wires and cells), shared (Kg = 1) or one row per input.
    """

    ptr: np.ndarray
    off: np.ndarray
    diag: np.ndarray


class Cells(NamedTuple):
    """The cells grouped by the lines of one family.

    Attributes
    ----------
    ptr : int64 array (L + 1,)
        Line ``l`` owns cells ``ptr[l]:ptr[l+1]`` of this grouping.
    own : int64 array (M*N,)
        Super-node of each cell's terminal on this family, -1 when that node is known.
    other : int64 array (M*N,)
        Super-node of the cell's terminal on the other family, -1 when known.
    g : float array (Kg, M*N)
        Cell conductance [S] in this grouping, shared (Kg = 1) or per input.
    """

    ptr: np.ndarray
    own: np.ndarray
    other: np.ndarray
    g: np.ndarray


class Grid(NamedTuple):
    """An array with no collapsed node: both families on the (M, N) grid, row-major.

    Node ``(i, j)`` of either family is index ``s = i * N + j``.

    Attributes
    ----------
    M, N : int
        Rows and columns.
    offr : float array (M*N,)
        Row wire conductance [S] from node ``s`` to ``s + 1`` (0 at the row's end).
    dr : float array (Kg, M*N)
        Row-node diagonal [S] (wires and cells), shared (Kg = 1) or per input.
    offc : float array (M*N,)
        Column wire conductance [S] from node ``s`` to ``s + N`` (0 at the column's end).
    dc : float array (Kg, M*N)
        Column-node diagonal [S].
    g : float array (Kg, M*N)
        Cell conductance [S].
    """

    M: int
    N: int
    offr: np.ndarray
    dr: np.ndarray
    offc: np.ndarray
    dc: np.ndarray
    g: np.ndarray


class ChainSchur(NamedTuple):
    """Schur operator on collapsed chains (family ``a`` by CG, ``b`` eliminated).

    Attributes
    ----------
    a, b : Lines
        The CG family and the eliminated family.
    a_cells, b_cells : Cells
        The cells grouped by ``a`` lines and by ``b`` lines.
    inv_ua, inv_ub : float arrays (Kg, nA), (Kg, nB)
        Inverse LDL^T pivots of every chain (:func:`tri_factor`).
    yb, wb : float arrays (K, nB)
        Work arrays: ``B^T p`` (plus any addend) and ``Tb^-1`` of it.
    """

    a: Lines
    b: Lines
    a_cells: Cells
    b_cells: Cells
    inv_ua: np.ndarray
    inv_ub: np.ndarray
    yb: np.ndarray
    wb: np.ndarray


class GridSchur(NamedTuple):
    """Schur operator on the grid (rows by CG, columns eliminated), for a batch.

    Attributes
    ----------
    grid : Grid
        The array.
    inv_ur, inv_uc : float arrays (Kg, M*N)
        Inverse pivots of the row chains and of the column chains.
    wb : float array (K, M*N)
        Work array: ``Tc^-1 (g * p)`` (plus any addend).
    chunk : int
        Adjacent columns solved in lockstep by one thread.
    """

    grid: Grid
    inv_ur: np.ndarray
    inv_uc: np.ndarray
    wb: np.ndarray
    chunk: int


class InputSchur(NamedTuple):
    """Schur operator on the grid for one input (the driver's arrays are (1, M*N)).

    Attributes
    ----------
    M, N : int
        Rows and columns.
    offr, offc : float arrays (M*N,)
        Row and column wire couplings [S] (as in :class:`Grid`).
    dr, dc, g : float arrays (M*N,)
        Row and column diagonals and cell conductances [S] of this input.
    inv_ur, inv_uc : float arrays (M*N,)
        Inverse pivots of the row and column chains.
    wb : float array (M*N,)
        Work array: ``Tc^-1 (g * p)``.
    """

    M: int
    N: int
    offr: np.ndarray
    offc: np.ndarray
    dr: np.ndarray
    dc: np.ndarray
    g: np.ndarray
    inv_ur: np.ndarray
    inv_uc: np.ndarray
    wb: np.ndarray


# ----------------------------------------------------------------------------- chains
@njit(**_FAST)
def tri_factor(ptr, off, dg, inv_u):
    """Pivots of the LDL^T factorisation of every chain; ``dg``/``inv_u``: (Kg, nS)."""
    L = ptr.shape[0] - 1
    Kg = dg.shape[0]
    for t in prange(Kg * L):
        k = t // L
        line = t % L
        s0 = ptr[line]
        s1 = ptr[line + 1]
        prev = 0.0
        for s in range(s0, s1):
            u = dg[k, s]
            if s > s0:
                u -= off[s - 1] * off[s - 1] * prev
            prev = 1.0 / u
            inv_u[k, s] = prev


@njit(cache=True, inline="always", error_model="numpy")
def _tri_solve_line(ptr, off, inv_u, kg, line, b, k, x):
    s0 = ptr[line]
    s1 = ptr[line + 1]
    if s1 <= s0:
        return
    # forward: y_s = b_s + off_{s-1} y_{s-1} / u_{s-1}   (stored in x)
    y = b[k, s0]
    x[k, s0] = y
    for s in range(s0 + 1, s1):
        y = b[k, s] + off[s - 1] * y * inv_u[kg, s - 1]
        x[k, s] = y
    # back: x_s = (y_s + off_s x_{s+1}) / u_s
    xs = x[k, s1 - 1] * inv_u[kg, s1 - 1]
    x[k, s1 - 1] = xs
    for s in range(s1 - 2, s0 - 1, -1):
        xs = (x[k, s] + off[s] * xs) * inv_u[kg, s]
        x[k, s] = xs


@njit(**_FAST)
def tri_solve(ptr, off, inv_u, b, x):
    """Solve every chain for every batch row: ``x[k] = T^-1 b[k]`` (pivots ``inv_u`` (Kg, nS))."""
    L = ptr.shape[0] - 1
    K = b.shape[0]
    Kg = inv_u.shape[0]
    for t in prange(K * L):
        k = t // L
        line = t % L
        kg = k if Kg > 1 else 0
        _tri_solve_line(ptr, off, inv_u, kg, line, b, k, x)


@njit(**_FAST)
def _bt_solve(b: Lines, inv_ub, cells: Cells, p, add, yb, wb, active):
    """wb = Tb^-1 (add + B^T p) per b line (``add`` may have 0 rows: none)."""
    L = b.ptr.shape[0] - 1
    K = p.shape[0]
    Kg = cells.g.shape[0]
    has_add = add.shape[0] > 0
    for t in prange(K * L):
        k = t // L
        if not active[k]:
            continue
        line = t % L
        kg = k if Kg > 1 else 0
        for s in range(b.ptr[line], b.ptr[line + 1]):
            yb[k, s] = add[k, s] if has_add else 0.0
        for c in range(cells.ptr[line], cells.ptr[line + 1]):
            ib = cells.own[c]
            ia = cells.other[c]
            if ia >= 0 and ib >= 0:
                yb[k, ib] += cells.g[kg, c] * p[k, ia]
        _tri_solve_line(b.ptr, b.off, inv_ub, kg, line, yb, k, wb)


@njit(**_FAST)
def apply_lines(a: Lines, cells: Cells, p, wb, q, part, active):
    """``q = Ta p - B wb`` per ``a`` line; ``part[k, line] = p . q`` over the line.

    With ``wb`` the other family's unknowns this is the ``a`` half of ``A x``.
    """
    L = a.ptr.shape[0] - 1
    K = p.shape[0]
    Kg = cells.g.shape[0]
    for t in prange(K * L):
        k = t // L
        if not active[k]:
            continue
        line = t % L
        kg = k if Kg > 1 else 0
        s0 = a.ptr[line]
        s1 = a.ptr[line + 1]
        for s in range(s0, s1):
            v = a.diag[kg, s] * p[k, s]
            if s > s0:
                v -= a.off[s - 1] * p[k, s - 1]
            if s < s1 - 1:
                v -= a.off[s] * p[k, s + 1]
            q[k, s] = v
        for c in range(cells.ptr[line], cells.ptr[line + 1]):
            ia = cells.own[c]
            ib = cells.other[c]
            if ia >= 0 and ib >= 0:
                q[k, ia] -= cells.g[kg, c] * wb[k, ib]
        acc = 0.0
        for s in range(s0, s1):
            acc += p[k, s] * q[k, s]
        part[k, line] = acc


@njit(**_FAST)
def _chain_update(a: Lines, inv_ua, alpha, x, r, p, q, z, part_rz, part_rr, active):
    """x += alpha p; r -= alpha q; z = Ta^-1 r; partial r.z and r.r per line."""
    L = a.ptr.shape[0] - 1
    K = x.shape[0]
    Kg = inv_ua.shape[0]
    for t in prange(K * L):
        k = t // L
        if not active[k]:
            continue
        line = t % L
        kg = k if Kg > 1 else 0
        al = alpha[k]
        for s in range(a.ptr[line], a.ptr[line + 1]):
            x[k, s] += al * p[k, s]
            r[k, s] -= al * q[k, s]
        _tri_solve_line(a.ptr, a.off, inv_ua, kg, line, r, k, z)
        rz = 0.0
        rr = 0.0
        for s in range(a.ptr[line], a.ptr[line + 1]):
            rz += r[k, s] * z[k, s]
            rr += r[k, s] * r[k, s]
        part_rz[k, line] = rz
        part_rr[k, line] = rr


@njit(**_FAST)
def _chain_direction(ptr, beta, z, p, active):
    """p = z + beta p per line."""
    L = ptr.shape[0] - 1
    K = z.shape[0]
    for t in prange(K * L):
        k = t // L
        if not active[k]:
            continue
        line = t % L
        be = beta[k]
        for s in range(ptr[line], ptr[line + 1]):
            p[k, s] = z[k, s] + be * p[k, s]


# ----------------------------------------------------------------------------- grid, batch
# Rows are solved line by line, columns in lockstep over chunks of adjacent columns, so
# every inner loop is contiguous; the batch loop sits just outside the innermost loop so a
# row's (or chunk's) coefficients stay in cache for the whole batch.
@njit(**_FAST)
def _grid_factor(grid: Grid, inv_ur, inv_uc, chunk):
    M, N, offr, offc, dr, dc = grid.M, grid.N, grid.offr, grid.offc, grid.dr, grid.dc
    Kg = dr.shape[0]
    for t in prange(Kg * M):
        k = t // M
        base = (t % M) * N
        inv_ur[k, base] = 1.0 / dr[k, base]
        for j in range(1, N):
            e = offr[base + j - 1]
            inv_ur[k, base + j] = 1.0 / (dr[k, base + j] - e * e * inv_ur[k, base + j - 1])
    nch = (N + chunk - 1) // chunk
    for t in prange(Kg * nch):
        k = t // nch
        j0 = (t % nch) * chunk
        j1 = min(N, j0 + chunk)
        for j in range(j0, j1):
            inv_uc[k, j] = 1.0 / dc[k, j]
        for i in range(1, M):
            b = i * N
            for j in range(j0, j1):
                e = offc[b + j - N]
                inv_uc[k, b + j] = 1.0 / (dc[k, b + j] - e * e * inv_uc[k, b + j - N])


@njit(**_FAST)
def _grid_cols(grid: Grid, inv_uc, p, add, out, chunk, active):
    """out = Tc^-1 (add + g * p) for active inputs (``add`` may have 0 rows: none)."""
    M, N, offc, g = grid.M, grid.N, grid.offc, grid.g
    K = p.shape[0]
    Kg = g.shape[0]
    use_add = add.shape[0] > 0
    nch = (N + chunk - 1) // chunk
    for t in prange(K * nch):
        k = t // nch
        if not active[k]:
            continue
        kg = k if Kg > 1 else 0
        j0 = (t % nch) * chunk
        j1 = min(N, j0 + chunk)
        for j in range(j0, j1):
            y = g[kg, j] * p[k, j]
            if use_add:
                y += add[k, j]
            out[k, j] = y
        for i in range(1, M):
            b = i * N
            if use_add:
                for j in range(j0, j1):
                    s = b + j
                    out[k, s] = (
                        g[kg, s] * p[k, s]
                        + add[k, s]
                        + offc[s - N] * out[k, s - N] * inv_uc[kg, s - N]
                    )
            else:
                for j in range(j0, j1):
                    s = b + j
                    out[k, s] = g[kg, s] * p[k, s] + offc[s - N] * out[k, s - N] * inv_uc[kg, s - N]
        b = (M - 1) * N
        for j in range(j0, j1):
            out[k, b + j] = out[k, b + j] * inv_uc[kg, b + j]
        for i in range(M - 2, -1, -1):
            b = i * N
            for j in range(j0, j1):
                s = b + j
                out[k, s] = (out[k, s] + offc[s] * out[k, s + N]) * inv_uc[kg, s]


@njit(**_FAST)
def _grid_rows_apply(grid: Grid, p, wb, q, part, active):
    """q = Tr p - g * wb; part[k, i] = sum_j p q over row i."""
    M, N, offr, dr, g = grid.M, grid.N, grid.offr, grid.dr, grid.g
    K = p.shape[0]
    Kg = g.shape[0]
    for t in prange(K * M):
        k = t // M
        if not active[k]:
            continue
        i = t % M
        kg = k if Kg > 1 else 0
        base = i * N
        acc = 0.0
        for j in range(N):
            s = base + j
            v = dr[kg, s] * p[k, s] - g[kg, s] * wb[k, s]
            if j > 0:
                v -= offr[s - 1] * p[k, s - 1]
            if j < N - 1:
                v -= offr[s] * p[k, s + 1]
            q[k, s] = v
            acc += p[k, s] * v
        part[k, i] = acc


@njit(**_FAST)
def _grid_update(grid: Grid, inv_ur, alpha, x, r, p, q, z, part_rz, part_rr, active):
    """x += alpha p; r -= alpha q; z = Tr^-1 r; partial r.z and r.r per row."""
    M, N, offr = grid.M, grid.N, grid.offr
    K = x.shape[0]
    Kg = inv_ur.shape[0]
    for t in prange(K * M):
        k = t // M
        if not active[k]:
            continue
        i = t % M
        kg = k if Kg > 1 else 0
        base = i * N
        al = alpha[k]
        y = 0.0
        for j in range(N):
            s = base + j
            x[k, s] += al * p[k, s]
            rv = r[k, s] - al * q[k, s]
            r[k, s] = rv
            y = rv + offr[s - 1] * y * inv_ur[kg, s - 1] if j > 0 else rv
            z[k, s] = y
        rz = 0.0
        rr = 0.0
        zv = 0.0
        for j in range(N - 1, -1, -1):
            s = base + j
            zv = z[k, s] * inv_ur[kg, s] if j == N - 1 else (z[k, s] + offr[s] * zv) * inv_ur[kg, s]
            z[k, s] = zv
            rz += r[k, s] * zv
            rr += r[k, s] * r[k, s]
        part_rz[k, i] = rz
        part_rr[k, i] = rr


@njit(**_FAST)
def _grid_direction(M, N, beta, z, p, active):
    """p = z + beta p per row."""
    K = z.shape[0]
    for t in prange(K * M):
        k = t // M
        if not active[k]:
            continue
        i = t % M
        be = beta[k]
        for s in range(i * N, (i + 1) * N):
            p[k, s] = z[k, s] + be * p[k, s]


# ----------------------------------------------------------------------------- grid, one input
@njit(**_SERIAL)
def _one_factor(op: InputSchur):
    M, N, offr, offc, dr, dc = op.M, op.N, op.offr, op.offc, op.dr, op.dc
    inv_ur, inv_uc = op.inv_ur, op.inv_uc
    for i in range(M):
        base = i * N
        inv_ur[base] = 1.0 / dr[base]
        for j in range(1, N):
            e = offr[base + j - 1]
            inv_ur[base + j] = 1.0 / (dr[base + j] - e * e * inv_ur[base + j - 1])
    for j in range(N):
        inv_uc[j] = 1.0 / dc[j]
    for i in range(1, M):
        b = i * N
        for j in range(N):
            e = offc[b + j - N]
            inv_uc[b + j] = 1.0 / (dc[b + j] - e * e * inv_uc[b + j - N])


@njit(**_SERIAL)
def _one_cols(op: InputSchur, p, add, out):
    """out = Tc^-1 (add[0] + g * p) for one input (``add`` (1, n), or 0 rows: none)."""
    M, N, offc, g, inv_uc = op.M, op.N, op.offc, op.g, op.inv_uc
    use_add = add.shape[0] > 0
    for j in range(N):
        y = g[j] * p[j]
        if use_add:
            y += add[0, j]
        out[j] = y
    for i in range(1, M):
        b = i * N
        if use_add:
            for j in range(N):
                s = b + j
                out[s] = g[s] * p[s] + add[0, s] + offc[s - N] * out[s - N] * inv_uc[s - N]
        else:
            for j in range(N):
                s = b + j
                out[s] = g[s] * p[s] + offc[s - N] * out[s - N] * inv_uc[s - N]
    b = (M - 1) * N
    for j in range(N):
        out[b + j] *= inv_uc[b + j]
    for i in range(M - 2, -1, -1):
        b = i * N
        for j in range(N):
            s = b + j
            out[s] = (out[s] + offc[s] * out[s + N]) * inv_uc[s]


@njit(**_SERIAL)
def _one_rows_apply(op: InputSchur, p, wb, q):
    """q = Tr p - g * wb for one input; returns p . q."""
    M, N, offr, dr, g = op.M, op.N, op.offr, op.dr, op.g
    acc = 0.0
    for i in range(M):
        base = i * N
        for j in range(N):
            s = base + j
            v = dr[s] * p[s] - g[s] * wb[s]
            if j > 0:
                v -= offr[s - 1] * p[s - 1]
            if j < N - 1:
                v -= offr[s] * p[s + 1]
            q[s] = v
            acc += p[s] * v
    return acc


@njit(**_SERIAL)
def _one_update(op: InputSchur, al, x, r, p, q, z):
    """x += al p; r -= al q; z = Tr^-1 r for one input; returns (r.z, r.r)."""
    M, N, offr, inv_ur = op.M, op.N, op.offr, op.inv_ur
    rz = 0.0
    rr = 0.0
    for i in range(M):
        base = i * N
        y = 0.0
        for j in range(N):
            s = base + j
            x[s] += al * p[s]
            rv = r[s] - al * q[s]
            r[s] = rv
            y = rv + offr[s - 1] * y * inv_ur[s - 1] if j > 0 else rv
            z[s] = y
        zv = 0.0
        for j in range(N - 1, -1, -1):
            s = base + j
            zv = z[s] * inv_ur[s] if j == N - 1 else (z[s] + offr[s] * zv) * inv_ur[s]
            z[s] = zv
            rz += r[s] * zv
            rr += r[s] * r[s]
    return rz, rr


# ----------------------------------------------------------------------------- operator parts
# Each part is a plain function (never called from Python) whose numba implementation is
# chosen by the operator's type; the driver is compiled once per operator type.
def apply_schur(op, p, add, q, part, active):
    """``q = Ta p - B Tb^-1 (add + B^T p)``, ``part[k, l]`` partial ``p . q`` (0-row add: none)."""
    raise NotImplementedError("numba only")


def update(op, alpha, x, r, p, q, z, part_rz, part_rr, active):
    """``x += alpha p``, ``r -= alpha q``, ``z = Ta^-1 r``; partial ``r.z`` and ``r.r``."""
    raise NotImplementedError("numba only")


def direction(op, beta, z, p, active):
    """``p = z + beta p`` for active inputs."""
    raise NotImplementedError("numba only")


def eliminate(op, x, add, xb):
    """``xb = Tb^-1 (add + B^T x)`` for every input."""
    raise NotImplementedError("numba only")


def n_parts(op):
    """Number of partial sums per input of the dot products (lines of family ``a``)."""
    raise NotImplementedError("numba only")


@overload(apply_schur, jit_options=_SERIAL)
def _apply_schur(op, p, add, q, part, active):
    if op.instance_class is ChainSchur:

        def chain(op, p, add, q, part, active):
            _bt_solve(op.b, op.inv_ub, op.b_cells, p, add, op.yb, op.wb, active)
            apply_lines(op.a, op.a_cells, p, op.wb, q, part, active)

        return chain
    if op.instance_class is GridSchur:

        def grid(op, p, add, q, part, active):
            _grid_cols(op.grid, op.inv_uc, p, add, op.wb, op.chunk, active)
            _grid_rows_apply(op.grid, p, op.wb, q, part, active)

        return grid
    if op.instance_class is InputSchur:

        def one(op, p, add, q, part, active):
            _one_cols(op, p[0], add, op.wb)
            part[0, 0] = _one_rows_apply(op, p[0], op.wb, q[0])

        return one
    return None


@overload(update, jit_options=_SERIAL)
def _update(op, alpha, x, r, p, q, z, part_rz, part_rr, active):
    if op.instance_class is ChainSchur:

        def chain(op, alpha, x, r, p, q, z, part_rz, part_rr, active):
            _chain_update(op.a, op.inv_ua, alpha, x, r, p, q, z, part_rz, part_rr, active)

        return chain
    if op.instance_class is GridSchur:

        def grid(op, alpha, x, r, p, q, z, part_rz, part_rr, active):
            _grid_update(op.grid, op.inv_ur, alpha, x, r, p, q, z, part_rz, part_rr, active)

        return grid
    if op.instance_class is InputSchur:

        def one(op, alpha, x, r, p, q, z, part_rz, part_rr, active):
            rz, rr = _one_update(op, alpha[0], x[0], r[0], p[0], q[0], z[0])
            part_rz[0, 0] = rz
            part_rr[0, 0] = rr

        return one
    return None


@overload(direction, jit_options=_SERIAL)
def _direction(op, beta, z, p, active):
    if op.instance_class is ChainSchur:
        return lambda op, beta, z, p, active: _chain_direction(op.a.ptr, beta, z, p, active)
    if op.instance_class is GridSchur:
        return lambda op, beta, z, p, active: _grid_direction(
            op.grid.M, op.grid.N, beta, z, p, active
        )
    if op.instance_class is InputSchur:

        def one(op, beta, z, p, active):
            if active[0]:
                be = beta[0]
                for s in range(p.shape[1]):
                    p[0, s] = z[0, s] + be * p[0, s]

        return one
    return None


@overload(eliminate, jit_options=_SERIAL)
def _eliminate(op, x, add, xb):
    if op.instance_class is ChainSchur:

        def chain(op, x, add, xb):
            everyone = np.ones(x.shape[0], dtype=np.bool_)
            _bt_solve(op.b, op.inv_ub, op.b_cells, x, add, op.yb, xb, everyone)

        return chain
    if op.instance_class is GridSchur:

        def grid(op, x, add, xb):
            everyone = np.ones(x.shape[0], dtype=np.bool_)
            _grid_cols(op.grid, op.inv_uc, x, add, xb, op.chunk, everyone)

        return grid
    if op.instance_class is InputSchur:
        return lambda op, x, add, xb: _one_cols(op, x[0], add, xb[0])
    return None


@overload(n_parts, jit_options=_SERIAL)
def _n_parts(op):
    if op.instance_class is ChainSchur:
        return lambda op: op.a.ptr.shape[0] - 1
    if op.instance_class is GridSchur:
        return lambda op: op.grid.M
    if op.instance_class is InputSchur:
        return lambda op: 1
    return None


# ----------------------------------------------------------------------------- the driver
@njit(cache=True, error_model="numpy")
def _sums(part, k):
    acc = 0.0
    for line in range(part.shape[1]):
        acc += part[k, line]
    return acc


@njit(cache=True, error_model="numpy")
def _restart(
    op,
    f,
    x,
    r,
    p,
    z,
    q,
    part,
    part_rz,
    part_rr,
    alpha,
    rz,
    bnorm,
    tol,
    maxiter,
    iters,
    resid,
    active,
):
    """True residual ``r = f - S x``, ``z = Ta^-1 r``; marks unconverged inputs active."""
    K, n = f.shape
    everyone = np.ones(K, dtype=np.bool_)
    apply_schur(op, x, f[0:0], q, part, everyone)
    for k in range(K):
        alpha[k] = 0.0
        for s in range(n):
            r[k, s] = f[k, s] - q[k, s]
    update(op, alpha, x, r, p, q, z, part_rz, part_rr, everyone)
    any_active = False
    for k in range(K):
        rz[k] = _sums(part_rz, k)
        res = np.sqrt(_sums(part_rr, k)) / bnorm[k] if bnorm[k] > 0 else 0.0
        resid[k] = res
        active[k] = not (res <= tol or bnorm[k] == 0 or iters[k] >= maxiter)
        any_active = any_active or active[k]
    return any_active


@njit(cache=True, error_model="numpy")
def pcg(op, f, x, bnorm, tol, maxiter, iters, resid):
    """Preconditioned CG on the Schur operator ``op`` for every input (row) of ``f``.

    Parameters
    ----------
    op : ChainSchur, GridSchur or InputSchur
        The operator; its type selects the parts (application, preconditioner, layout).
    f : float array (K, n)
        Schur right-hand sides [A].
    x : float array (K, n)
        Initial guess on entry, solution [V] on return.
    bnorm : float array (K,)
        Norm of each input's full right-hand side (the residual is relative to it).
    tol, maxiter : float, int
        Relative residual to reach; CG iteration limit per input.
    iters, resid : int64 array (K,), float array (K,)
        Filled with the iterations and the true relative residual of each input.

    Returns the number of lockstep iterations.  At most 6 restarts from the
    true residual ``f - S x`` guard against round-off drift.
    """
    K, n = f.shape
    L = n_parts(op)
    r = np.empty((K, n))
    z = np.zeros((K, n))
    p = np.zeros((K, n))
    q = np.zeros((K, n))
    part = np.zeros((K, L))
    part_rz = np.zeros((K, L))
    part_rr = np.zeros((K, L))
    alpha = np.zeros(K)
    beta = np.zeros(K)
    rz = np.zeros(K)
    active = np.zeros(K, dtype=np.bool_)
    iters[:] = 0
    total = 0
    for _restart_count in range(6):
        any_active = _restart(
            op,
            f,
            x,
            r,
            p,
            z,
            q,
            part,
            part_rz,
            part_rr,
            alpha,
            rz,
            bnorm,
            tol,
            maxiter,
            iters,
            resid,
            active,
        )
        if not any_active or total >= maxiter:
            break
        for k in range(K):
            if active[k]:
                p[k] = z[k]
        while any_active and total < maxiter:
            total += 1
            apply_schur(op, p, f[0:0], q, part, active)
            for k in range(K):
                if active[k]:
                    pq = _sums(part, k)
                    alpha[k] = rz[k] / pq if pq > 0 else 0.0
            update(op, alpha, x, r, p, q, z, part_rz, part_rr, active)
            any_active = False
            for k in range(K):
                if not active[k]:
                    continue
                iters[k] += 1
                rzk = _sums(part_rz, k)
                beta[k] = rzk / rz[k] if rz[k] > 0 else 0.0
                rz[k] = rzk
                res = np.sqrt(_sums(part_rr, k)) / bnorm[k]
                resid[k] = res
                active[k] = not (res <= tol or iters[k] >= maxiter or rzk <= 0)
                any_active = any_active or active[k]
            direction(op, beta, z, p, active)
    return total


@njit(cache=True, error_model="numpy")
def _norms(rhs_a, rhs_b):
    """Norm of each input's full right-hand side (K,)."""
    K = rhs_a.shape[0]
    out = np.zeros(K)
    for k in range(K):
        acc = 0.0
        for s in range(rhs_a.shape[1]):
            acc += rhs_a[k, s] ** 2
        for s in range(rhs_b.shape[1]):
            acc += rhs_b[k, s] ** 2
        out[k] = np.sqrt(acc)
    return out


@njit(cache=True, error_model="numpy")
def _schur_solve(op, rhs_a, rhs_b, x_a, x_b, tol, maxiter, iters, resid):
    """Schur right-hand side, :func:`pcg`, then the eliminated family from the CG family."""
    K = rhs_a.shape[0]
    f = np.empty_like(rhs_a)
    part = np.zeros((K, n_parts(op)))
    apply_schur(op, np.zeros_like(rhs_a), rhs_b, f, part, np.ones(K, dtype=np.bool_))
    for k in range(K):
        for s in range(f.shape[1]):
            f[k, s] = rhs_a[k, s] - f[k, s]  # rhs_a + B Tb^-1 rhs_b
    total = pcg(op, f, x_a, _norms(rhs_a, rhs_b), tol, maxiter, iters, resid)
    eliminate(op, x_a, rhs_b, x_b)
    return total


# ----------------------------------------------------------------------------- entry points
@njit(cache=True, error_model="numpy")
def chain_pcg(
    a: Lines,
    b: Lines,
    a_cells: Cells,
    b_cells: Cells,
    rhs_a,
    rhs_b,
    x_a,
    x_b,
    tol,
    maxiter,
    iters,
    resid,
):
    """Batched Schur PCG on collapsed chains, all inputs in lockstep.

    ``rhs_a`` (K, nA), ``rhs_b`` (K, nB) are the right-hand sides [A]; ``x_a``
    holds the initial guess on entry, ``x_a``/``x_b`` the solution [V] on return;
    ``iters`` and ``resid`` (K,) the CG iterations and the true relative residual
    ``||A x - f|| / ||f||`` of the full nodal system (``x_b`` is exact given ``x_a``).
    """
    K = rhs_a.shape[0]
    inv_ua = np.empty(a.diag.shape)
    inv_ub = np.empty(b.diag.shape)
    tri_factor(a.ptr, a.off, a.diag, inv_ua)
    tri_factor(b.ptr, b.off, b.diag, inv_ub)
    nB = rhs_b.shape[1]
    op = ChainSchur(a, b, a_cells, b_cells, inv_ua, inv_ub, np.empty((K, nB)), np.empty((K, nB)))
    return _schur_solve(op, rhs_a, rhs_b, x_a, x_b, tol, maxiter, iters, resid)


@njit(cache=True, error_model="numpy")
def grid_pcg(grid: Grid, rhs_r, rhs_c, xr, xc, tol, maxiter, iters, resid, chunk):
    """Batched Schur PCG on the grid, all inputs in lockstep, parallel over lines.

    Arrays are (K, M*N) row-major; otherwise as :func:`chain_pcg` with rows as
    family ``a``.  ``chunk`` adjacent columns are solved together by one thread.
    """
    Kg = grid.dr.shape[0]
    n = grid.M * grid.N
    inv_ur = np.empty((Kg, n))
    inv_uc = np.empty((Kg, n))
    _grid_factor(grid, inv_ur, inv_uc, chunk)
    op = GridSchur(grid, inv_ur, inv_uc, np.empty((rhs_r.shape[0], n)), chunk)
    return _schur_solve(op, rhs_r, rhs_c, xr, xc, tol, maxiter, iters, resid)


@njit(cache=True, error_model="numpy")
def _input_solve(grid: Grid, k, rhs_r, rhs_c, xr, xc, tol, maxiter, iters, resid):
    """One input's serial Schur PCG (its own factorisation and work arrays)."""
    n = grid.M * grid.N
    k = np.int64(k)  # prange indices are unsigned: keep index arithmetic in int64
    kg = k if grid.dr.shape[0] > 1 else np.int64(0)
    op = InputSchur(
        grid.M,
        grid.N,
        grid.offr,
        grid.offc,
        grid.dr[kg],
        grid.dc[kg],
        grid.g[kg],
        np.empty(n),
        np.empty(n),
        np.empty(n),
    )
    _one_factor(op)
    _schur_solve(
        op,
        rhs_r[k : k + 1],
        rhs_c[k : k + 1],
        xr[k : k + 1],
        xc[k : k + 1],
        tol,
        maxiter,
        iters[k : k + 1],
        resid[k : k + 1],
    )


@njit(cache=True, parallel=True, error_model="numpy")
def inputs_pcg(grid: Grid, rhs_r, rhs_c, xr, xc, tol, maxiter, iters, resid):
    """Schur PCG on the grid, one serial CG per input, the inputs in parallel.

    No barrier per CG step, so it scales on a quiet machine and degrades
    gracefully on an oversubscribed one; per thread the working set is one
    input.  Arrays as :func:`grid_pcg`.
    """
    for k in prange(rhs_r.shape[0]):
        _input_solve(grid, k, rhs_r, rhs_c, xr, xc, tol, maxiter, iters, resid)
    return 0


@njit(cache=True, error_model="numpy")
def input_pcg_serial(grid: Grid, rhs_r, rhs_c, xr, xc, tol, maxiter, iters, resid):
    """:func:`inputs_pcg` on the calling thread only (small single solves)."""
    for k in range(rhs_r.shape[0]):
        _input_solve(grid, k, rhs_r, rhs_c, xr, xc, tol, maxiter, iters, resid)
    return 0
