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
(``apply_schur``: ``q = S p``; ``advance``: the new direction ``p = z + beta p``
then ``q = S p``, fused where it pays; ``update``: the CG update fused with the
line preconditioner ``z = Ta^-1 r``; ``eliminate``: ``xb`` from ``xa``):

* :class:`ChainSchur` -- general collapsed chains (:class:`Lines`, :class:`Cells`),
  every step parallel over (input, line);
* :class:`GridSchur` -- no node collapsed: rows and columns on the (M, N) grid
  (:class:`Grid`), parallel over lines, columns in lockstep chunks;
* :class:`InputSchur` -- the grid for one input, serial;
* :class:`LaneSchur` -- the grid for a group of :data:`LANES` inputs in
  lockstep, every vector laid out (M*N, LANES) with the inputs innermost, serial.

The batch layout is the entry point: :func:`chain_pcg` and :func:`grid_pcg`
run all inputs in lockstep in one driver call; :func:`inputs_pcg` runs one
serial driver per input, the inputs in parallel (:func:`input_pcg_serial`: on
the calling thread); :func:`lanes_pcg` runs groups of inputs in lockstep with
the inputs innermost (SIMD across inputs, recurrences included), the groups in
parallel, in workspaces reused from group to group.  Entry points take the batch as
:class:`Unknowns`; the driver's limits are a :class:`Target` and its work
arrays a :class:`CGWork`.

Loose arguments of the per-family kernels below (K inputs, n unknowns of the
CG family, L lines of it, Kg = 1 for shared conductances or K; the fields of
:class:`CGWork` under the same names):

* ``p``, ``q``, ``r``, ``z``, ``x`` -- float (K, n): search direction [V], ``S p``
  [A], residual [A], preconditioned residual ``Ta^-1 r`` [V], solution [V];
* ``part``, ``part_rz``, ``part_rr`` -- float (K, L): per-line partial sums of
  ``p.q``, ``r.z`` and ``r.r`` (summed serially, so results do not depend on threads);
* ``alpha``, ``beta`` -- float (K,): CG step and direction coefficients;
* ``active`` -- bool (K,): inputs still iterating (the others are left untouched);
* ``add`` -- float (K, nB), or 0 rows for none: an addend to ``B^T p`` before
  the eliminated family's solve (the right-hand side ``fb``);
* ``kg`` -- the conductance row of input ``k`` (``k`` or 0).

The readable twins are :mod:`xbar.crossbar.reference` (the full sparse nodal
matrix solved with ``splu``), scipy's ``cg`` with
:func:`xbar.crossbar.system.line_preconditioner`, and the numpy residual
:func:`xbar.crossbar.solver.residual`; tests compare the kernels with them.
"""

from __future__ import annotations

import os
from typing import NamedTuple

# numba's OpenMP threads wait for work asleep, not spinning (unless the user says otherwise;
# read when numba first starts its threads): on a machine shared with other jobs a
# spinning thread takes the core its own team's working thread needs (measured, 256x256
# sinh batch of 64 beside another job: 13.0 against 15.2 ms per input)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
from numba import njit, prange, types  # noqa: E402
from numba.extending import overload  # noqa: E402

from ..threads import numba_caps  # noqa: E402

numba_caps()  # the thread caps of --threads / XBAR_THREADS, now that numba runs

from . import simd  # noqa: E402

__all__ = [
    "Lines", "Cells", "Grid", "ChainSchur", "GridSchur", "InputSchur", "LaneSchur",
    "Unknowns", "Target", "CGWork", "MAX_RESTARTS", "LANES", "LANE_SLOTS", "LANE_VECTORS",
    "tri_factor", "tri_solve", "apply_lines", "lane_factor", "to_lanes", "grid_residual", "pcg",
    "chain_pcg", "grid_pcg", "inputs_pcg", "input_pcg_serial", "lanes_pcg",
    "Companion", "newton_system", "newton_elements", "spice_close",
]  # fmt: skip

_FAST = dict(cache=True, nogil=True, parallel=True, error_model="numpy", fastmath=True)
_SERIAL = dict(cache=True, nogil=True, error_model="numpy", fastmath=True)


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


class LaneSchur(NamedTuple):
    """Schur operator on the grid for a group of :data:`LANES` inputs in lockstep.

    Every vector of the driver is (M*N, LANES): node ``s`` (row-major) of every
    input of the group side by side.

    Attributes
    ----------
    M, N : int
        Rows and columns.
    offr, offc : float arrays (M*N,)
        Row and column wire couplings [S] (as in :class:`Grid`).
    dr, dc, g : float arrays (M*N,) or (M*N, LANES)
        Row and column diagonals and cell conductances [S]: shared by the group,
        or one set per input (the lanes' layout).
    inv_ur, inv_uc : float arrays (M*N,) or (M*N, LANES)
        Inverse pivots of the row chains (the preconditioner: may belong to other
        conductances than ``dr``) and of the column chains (exact: of ``dc``).
    wb : float array (M*N, LANES)
        Work array: ``Tc^-1 (g * p)`` (plus any addend).
    work : float array (4, M*N, LANES)
        The driver's vectors ``r``, ``z``, ``p``, ``q`` (memory reused from group to
        group and call to call; float32 or float64: :func:`lanes_pcg`).
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
    work: np.ndarray


class Unknowns(NamedTuple):
    """A batch's right-hand sides and unknowns, as the entry points take them.

    Family ``a`` is solved by CG, family ``b`` eliminated (rows and columns on the grid).

    Attributes
    ----------
    rhs_a, rhs_b : float arrays (K, nA), (K, nB)
        Right-hand sides [A] of the two families (row-major node order on the grid).
    x_a : float array (K, nA)
        Initial guess [V] on entry, solution on return.
    x_b : float array (K, nB)
        Solution [V] on return (exact given ``x_a``).
    iters : int64 array (K,)
        CG iterations of each input, on return.
    resid : float array (K,)
        Relative CG residual ``||f - S x_a|| / ||(rhs_a, rhs_b)||`` of each input on
        return (recomputed at the last restart, not the recurrence's).
    """

    rhs_a: np.ndarray
    rhs_b: np.ndarray
    x_a: np.ndarray
    x_b: np.ndarray
    iters: np.ndarray
    resid: np.ndarray


class Target(NamedTuple):
    """What the driver iterates towards, and where it reports (K inputs).

    Attributes
    ----------
    bnorm : float array (K,)
        Norm [A] of each input's full right-hand side; residuals are relative to it.
    tol : float array (K,)
        Relative residual each input is to reach.
    maxiter : int
        CG iteration limit per input (and for the lockstep loop).
    iters : int64 array (K,)
        Filled with each input's CG iterations.
    resid : float array (K,)
        Filled with each input's relative residual.
    """

    bnorm: np.ndarray
    tol: np.ndarray
    maxiter: int
    iters: np.ndarray
    resid: np.ndarray


class CGWork(NamedTuple):
    """The driver's work arrays for K inputs; vectors in the operator's layout.

    Attributes
    ----------
    r, z, p, q : float arrays shaped like the right-hand sides ``f``
        Residual [A], preconditioned residual ``Ta^-1 r`` [V], search direction [V]
        and ``S p`` [A].
    part, part_rz, part_rr : float arrays (K, L)
        Per-line partial sums of ``p.q``, ``r.z`` and ``r.r`` (L = :func:`n_parts`;
        summed serially, so results do not depend on threads).
    alpha, beta, rz : float arrays (K,)
        CG step, direction coefficient and current ``r.z`` of each input.
    active : bool array (K,)
        Inputs still iterating (the others are left untouched, or for
        :class:`LaneSchur` take zero steps).
    """

    r: np.ndarray
    z: np.ndarray
    p: np.ndarray
    q: np.ndarray
    part: np.ndarray
    part_rz: np.ndarray
    part_rr: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    rz: np.ndarray
    active: np.ndarray


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


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
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
def _chain_update(a: Lines, inv_ua, w: CGWork, x):
    """x += alpha p; r -= alpha q; z = Ta^-1 r; partial r.z and r.r per line (``w``)."""
    alpha, r, p, q, z, active = w.alpha, w.r, w.p, w.q, w.z, w.active
    part_rz, part_rr = w.part_rz, w.part_rr
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
def _chain_direction(ptr, w: CGWork):
    """p = z + beta p per line (``ptr``: the lines of the CG family)."""
    beta, z, p, active = w.beta, w.z, w.p, w.active
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
def _grid_update(grid: Grid, inv_ur, w: CGWork, x):
    """x += alpha p; r -= alpha q; z = Tr^-1 r; partial r.z and r.r per row (``w``)."""
    alpha, r, p, q, z, active = w.alpha, w.r, w.p, w.q, w.z, w.active
    part_rz, part_rr = w.part_rz, w.part_rr
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
def _grid_direction(M, N, w: CGWork):
    """p = z + beta p per row of the (M, N) grid."""
    beta, z, p, active = w.beta, w.z, w.p, w.active
    K = z.shape[0]
    for t in prange(K * M):
        k = t // M
        if not active[k]:
            continue
        i = t % M
        be = beta[k]
        for s in range(i * N, (i + 1) * N):
            p[k, s] = z[k, s] + be * p[k, s]


@njit(
    cache=True, nogil=True, parallel=True, error_model="numpy"
)  # no fastmath: evaluation order matters
def grid_residual(grid: Grid, v: Unknowns, floor):
    """True relative residual ``||b - A x|| / ||b||`` of the full nodal system, per input.

    Recomputed from ``v.x_a`` (rows) and ``v.x_b`` (columns, row-major like the grid)
    and written into ``v.resid``; ``floor`` (K,) receives its round-off floor
    ``eps * || |A| |x| + |b| || / ||b||``.  One pass over the grid, parallel over
    inputs.  The numpy twins are :func:`xbar.crossbar.solver.residual` and
    :func:`~xbar.crossbar.solver.residual_floor`.
    """
    K = v.rhs_a.shape[0]
    resid = v.resid  # out of the tuple before prange (parfors do not write through fields)
    for t in prange(K):
        k = np.int64(t)
        r, f = _residual_one(grid, v, k)
        resid[k] = r
        floor[k] = f


@njit(cache=True, nogil=True, error_model="numpy")  # no fastmath: evaluation order matters
def _residual_one(grid: Grid, v: Unknowns, k):
    """Input ``k``'s true relative residual and its round-off floor (:func:`grid_residual`)."""
    M, N, offr, offc, dr, dc, g = grid.M, grid.N, grid.offr, grid.offc, grid.dr, grid.dc, grid.g
    kg = k if g.shape[0] > 1 else np.int64(0)
    eps = np.finfo(np.float64).eps
    xa, xb = v.x_a, v.x_b
    num = 0.0
    den = 0.0
    size = 0.0
    for i in range(M):
        for j in range(N):
            s = i * N + j
            ba, bb = v.rhs_a[k, s], v.rhs_b[k, s]
            ta, tb = dr[kg, s] * xa[k, s], dc[kg, s] * xb[k, s]
            ca, cb = g[kg, s] * xb[k, s], g[kg, s] * xa[k, s]
            ra, rb = ba - ta + ca, bb - tb + cb
            aa = abs(ba) + abs(ta) + abs(ca)
            ab = abs(bb) + abs(tb) + abs(cb)
            if j > 0:
                ra += offr[s - 1] * xa[k, s - 1]
                aa += abs(offr[s - 1] * xa[k, s - 1])
            if j < N - 1:
                ra += offr[s] * xa[k, s + 1]
                aa += abs(offr[s] * xa[k, s + 1])
            if i > 0:
                rb += offc[s - N] * xb[k, s - N]
                ab += abs(offc[s - N] * xb[k, s - N])
            if i < M - 1:
                rb += offc[s] * xb[k, s + N]
                ab += abs(offc[s] * xb[k, s + N])
            num += ra * ra + rb * rb
            den += ba * ba + bb * bb
            size += aa * aa + ab * ab
    if den > 0:
        return np.sqrt(num / den), eps * np.sqrt(size / den)
    return 0.0, 0.0


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


# ------------------------------------------------------------------- lanes: a group in lockstep
# A group of LANES inputs ("lanes") solved in lockstep.  Every vector is (M*N, LANES):
# node ``s`` of the grid (row-major) holds the LANES inputs side by side, so every
# step runs SIMD across the lanes -- also the row recurrences of the preconditioner,
# which for one input are a serial chain of dependent multiply-adds (latency bound).
# The lanes of a node are handled as a tuple (:func:`lane`, :func:`_put`, and
# lane-wise arithmetic), which keeps recurrences and sums in registers and lets the
# compiler turn each tuple operation into one vector instruction.  Coefficients are
# (M*N,) when shared by the group or (M*N, LANES) in the lanes' layout, one set per
# input (Newton's own Jacobians); :func:`lane` reads either.  Each CG step is three
# sweeps over the group's vectors: down the columns (new direction and forward
# elimination), up the columns (back substitution fused with the row product
# ``q = Tr p - g wb`` and ``p . q``), and the update fused with the row
# preconditioner (``x``, ``r``, ``z = Tr^-1 r``, ``r . z``, ``r . r``).
LANES = 4  # inputs per group: one 256-bit vector of doubles (the tuple helpers assume 4)


lane = simd.lane  # the LANES values of node s (an (n, LANES) row, or a shared value)
_put = simd.put
_fma = simd.vfma  # a * b + c lane-wise
_mul = simd.vmul
_sub = simd.vsub
_all = simd.vsplat  # one value in every lane


@njit(inline="always")
def _lanes_of(a):
    """The first LANES values of a 1-d array as one lane vector."""
    return simd.vmake(a[0], a[1], a[2], a[3])


_ROWS_AT_ONCE = 4  # row chains factored together by _row_factor


@njit(**_SERIAL)
def _row_factor(M, N, offr, dr, inv_ur):
    """Row chain pivots; ``dr`` and ``inv_ur`` (M*N, C), C = 1 or LANES.

    Each row is a chain of dependent divisions (latency bound); :data:`_ROWS_AT_ONCE`
    rows advance together so that their chains overlap (the same operations, in
    another order: the same pivots)."""
    C = dr.shape[1]
    for i0 in range(0, M, _ROWS_AT_ONCE):
        i1 = min(M, i0 + _ROWS_AT_ONCE)
        for i in range(i0, i1):
            for k in range(C):
                inv_ur[i * N, k] = 1.0 / dr[i * N, k]
        for j in range(1, N):
            for i in range(i0, i1):
                s = i * N + j
                e2 = offr[s - 1] * offr[s - 1]
                for k in range(C):
                    inv_ur[s, k] = 1.0 / (dr[s, k] - e2 * inv_ur[s - 1, k])


@njit(**_SERIAL)
def _col_factor(M, N, offc, dc, inv_uc):
    """Column chain pivots; ``dc`` and ``inv_uc`` (M*N, C), C = 1 or LANES."""
    C = dc.shape[1]
    for j in range(N):
        for k in range(C):
            inv_uc[j, k] = 1.0 / dc[j, k]
    for s in range(N, M * N):
        e2 = offc[s - N] * offc[s - N]
        for k in range(C):
            inv_uc[s, k] = 1.0 / (dc[s, k] - e2 * inv_uc[s - N, k])


@njit(**_SERIAL)
def _row_factor_lanes(M, N, offr, dr, inv_ur):
    """:func:`_row_factor` for (M*N, LANES) arrays: each lane vector in one division, and
    :data:`_ROWS_AT_ONCE` rows at once, their pivots carried in registers (the same
    operations in another order: the same pivots up to rounding)."""
    one = _all(1.0)
    i0 = 0
    while i0 + 4 <= M:
        b0, b1, b2, b3 = i0 * N, (i0 + 1) * N, (i0 + 2) * N, (i0 + 3) * N
        u0 = simd.vdiv(one, lane(dr, b0))
        u1 = simd.vdiv(one, lane(dr, b1))
        u2 = simd.vdiv(one, lane(dr, b2))
        u3 = simd.vdiv(one, lane(dr, b3))
        _put(inv_ur, b0, u0)
        _put(inv_ur, b1, u1)
        _put(inv_ur, b2, u2)
        _put(inv_ur, b3, u3)
        for j in range(1, N):
            u0 = simd.vdiv(one, _sub(lane(dr, b0 + j), _mul(_all(offr[b0 + j - 1] ** 2), u0)))
            u1 = simd.vdiv(one, _sub(lane(dr, b1 + j), _mul(_all(offr[b1 + j - 1] ** 2), u1)))
            u2 = simd.vdiv(one, _sub(lane(dr, b2 + j), _mul(_all(offr[b2 + j - 1] ** 2), u2)))
            u3 = simd.vdiv(one, _sub(lane(dr, b3 + j), _mul(_all(offr[b3 + j - 1] ** 2), u3)))
            _put(inv_ur, b0 + j, u0)
            _put(inv_ur, b1 + j, u1)
            _put(inv_ur, b2 + j, u2)
            _put(inv_ur, b3 + j, u3)
        i0 += 4
    for i in range(i0, M):
        b = i * N
        u = simd.vdiv(one, lane(dr, b))
        _put(inv_ur, b, u)
        for j in range(1, N):
            u = simd.vdiv(one, _sub(lane(dr, b + j), _mul(_all(offr[b + j - 1] ** 2), u)))
            _put(inv_ur, b + j, u)


@njit(**_SERIAL)
def _col_factor_lanes(M, N, offc, dc, inv_uc):
    """:func:`_col_factor` for (M*N, LANES) arrays, each lane vector in one division."""
    one = _all(1.0)
    for j in range(N):
        _put(inv_uc, j, simd.vdiv(one, lane(dc, j)))
    for s in range(N, M * N):
        e2 = _all(offc[s - N] * offc[s - N])
        _put(inv_uc, s, simd.vdiv(one, _sub(lane(dc, s), _mul(e2, lane(inv_uc, s - N)))))


@njit(**_SERIAL)
def lane_factor(M, N, offr, offc, dr, dc, inv_ur, inv_uc):
    """Row and column chain pivots; ``dr``, ``dc`` and the pivots are (M*N, C), C = 1 or LANES."""
    if dr.shape[1] == LANES and inv_ur.shape[1] == LANES:
        _row_factor_lanes(M, N, offr, dr, inv_ur)
    else:
        _row_factor(M, N, offr, dr, inv_ur)
    if dc.shape[1] == LANES and inv_uc.shape[1] == LANES:
        _col_factor_lanes(M, N, offc, dc, inv_uc)
    else:
        _col_factor(M, N, offc, dc, inv_uc)


@njit(**_SERIAL)
def _lane_down(op, p, z, beta, add, out):
    """Forward elimination down the columns, ``out = L^-1 (add + g p)`` per lane, after
    ``p = z + beta p`` when ``z`` has rows; ``add`` (M*N, LANES), or 0 rows for none."""
    N, offc, g, inv_uc = op.N, op.offc, op.g, op.inv_uc
    be = _lanes_of(beta)
    for s in range(op.M * N):
        pv = lane(p, s)
        if z.shape[0] > 0:
            pv = _fma(be, pv, lane(z, s))
            _put(p, s, pv)
        y = _mul(lane(g, s), pv)
        if add.shape[0] > 0:
            y = _fma(_all(1.0), y, lane(add, s))
        if s >= N:
            y = _fma(_mul(_all(offc[s - N]), lane(inv_uc, s - N)), lane(out, s - N), y)
        _put(out, s, y)


@njit(**_SERIAL)
def _lane_up(op, p, out, q, part):
    """Back substitution up the columns (``out`` becomes ``Tc^-1 (...)``); when ``q`` has
    rows, the same sweep gives ``q = Tr p - g out`` and ``part[k, 0] = p . q``.

    Row couplings are 0 at a row's end (:class:`Grid`), so the row product needs no
    test at the ends; ``p`` of a row's neighbours is carried along in registers.
    """
    M, N, offr, offc, dr, g, inv_uc = op.M, op.N, op.offr, op.offc, op.dr, op.g, op.inv_uc
    apply = q.shape[0] > 0
    acc = _all(0.0)
    zero = _all(0.0)
    for i in range(M - 1, -1, -1):
        b = i * N
        left = zero
        mid = lane(p, b)
        for s in range(b, b + N):
            y = lane(out, s)
            if i < M - 1:
                y = _fma(_all(offc[s]), lane(out, s + N), y)
            y = _mul(y, lane(inv_uc, s))
            _put(out, s, y)
            if apply:
                right = lane(p, s + 1) if s < b + N - 1 else zero
                v = _sub(_mul(lane(dr, s), mid), _mul(lane(g, s), y))
                if s > b:
                    v = _sub(v, _mul(_all(offr[s - 1]), left))
                v = _sub(v, _mul(_all(offr[s]), right))
                _put(q, s, v)
                acc = _fma(mid, v, acc)
                left, mid = mid, right
    if apply:
        for k in range(LANES):
            part[k, 0] = simd.vget(acc, k)


@njit(inline="always")
def _row_forward(r, z, offr, inv_ur, s, j, y):
    """Node ``s`` (column ``j``) of the forward elimination ``y`` of ``z = Tr^-1 r``."""
    rv = lane(r, s)
    y = _fma(_mul(_all(offr[s - 1]), lane(inv_ur, s - 1)), y, rv) if j > 0 else rv
    _put(z, s, y)
    return y


@njit(inline="always")
def _cg_update(x, r, p, q, al, nal, s0, s1):
    """``x += al p``, ``r += nal q`` at nodes ``s0:s1``."""
    for s in range(s0, s1):
        _put(x, s, _fma(al, lane(p, s), lane(x, s)))
        _put(r, s, _fma(nal, lane(q, s), lane(r, s)))


@njit(inline="always")
def _row_backward(z, offr, inv_ur, s, zv):
    """Node ``s`` of the back substitution along its row (``offr`` is 0 at a row's end)."""
    iu = lane(inv_ur, s)
    zv = _fma(_mul(_all(offr[s]), iu), zv, _mul(lane(z, s), iu))  # (z + o zv) / u
    _put(z, s, zv)
    return zv


_ROW_SWEEPS = 4  # rows whose preconditioner recurrences run interleaved


@njit(**_SERIAL)
def _row_sweeps(op, w, x, al, nal, step):
    """``z = Tr^-1 r`` per lane, after ``x += al p``, ``r += nal q`` when ``step``;
    returns the lane sums ``r . z`` and ``r . r``.

    Each row's forward and backward recurrences are chains of dependent multiply-adds
    (latency bound); :data:`_ROW_SWEEPS` rows run interleaved so that their chains
    overlap, each with its own partial sums (added in a fixed order at the end).  The
    CG update of a block of rows runs first, in a plain loop (few streams at once),
    and leaves its ``r`` in cache for the recurrences."""
    M, N, offr, inv_ur = op.M, op.N, op.offr, op.inv_ur
    r, p, q, z = w.r, w.p, w.q, w.z
    zero = _all(0.0)
    rz0, rz1, rz2, rz3 = zero, zero, zero, zero
    rr0, rr1, rr2, rr3 = zero, zero, zero, zero
    i = 0
    while i + _ROW_SWEEPS <= M:
        b0, b1, b2, b3 = i * N, (i + 1) * N, (i + 2) * N, (i + 3) * N
        if step:
            _cg_update(x, r, p, q, al, nal, b0, b3 + N)
        y0, y1, y2, y3 = zero, zero, zero, zero
        for j in range(N):
            y0 = _row_forward(r, z, offr, inv_ur, b0 + j, j, y0)
            y1 = _row_forward(r, z, offr, inv_ur, b1 + j, j, y1)
            y2 = _row_forward(r, z, offr, inv_ur, b2 + j, j, y2)
            y3 = _row_forward(r, z, offr, inv_ur, b3 + j, j, y3)
        z0, z1, z2, z3 = zero, zero, zero, zero
        for j in range(N - 1, -1, -1):
            z0 = _row_backward(z, offr, inv_ur, b0 + j, z0)
            z1 = _row_backward(z, offr, inv_ur, b1 + j, z1)
            z2 = _row_backward(z, offr, inv_ur, b2 + j, z2)
            z3 = _row_backward(z, offr, inv_ur, b3 + j, z3)
            v0, v1, v2, v3 = lane(r, b0 + j), lane(r, b1 + j), lane(r, b2 + j), lane(r, b3 + j)
            rz0, rz1 = _fma(v0, z0, rz0), _fma(v1, z1, rz1)
            rz2, rz3 = _fma(v2, z2, rz2), _fma(v3, z3, rz3)
            if step:
                rr0, rr1 = _fma(v0, v0, rr0), _fma(v1, v1, rr1)
                rr2, rr3 = _fma(v2, v2, rr2), _fma(v3, v3, rr3)
        i += _ROW_SWEEPS
    for row in range(i, M):  # the rows left over, one at a time
        b = row * N
        if step:
            _cg_update(x, r, p, q, al, nal, b, b + N)
        y = zero
        for j in range(N):
            y = _row_forward(r, z, offr, inv_ur, b + j, j, y)
        zv = zero
        for j in range(N - 1, -1, -1):
            zv = _row_backward(z, offr, inv_ur, b + j, zv)
            rv = lane(r, b + j)
            rz0 = _fma(rv, zv, rz0)
            if step:
                rr0 = _fma(rv, rv, rr0)
    add = simd.vadd
    return add(add(rz0, rz1), add(rz2, rz3)), add(add(rr0, rr1), add(rr2, rr3))


@njit(**_SERIAL)
def _lane_update(op, w, x):
    """x += alpha p; r -= alpha q; z = Tr^-1 r per lane (inactive lanes: alpha 0);
    ``r . z`` and ``r . r`` into ``w.part_rz``, ``w.part_rr``."""
    a = np.where(w.active, w.alpha, 0.0)
    rz, rr = _row_sweeps(op, w, x, _lanes_of(a), _lanes_of(-a), True)
    for k in range(LANES):
        w.part_rz[k, 0] = simd.vget(rz, k)
        w.part_rr[k, 0] = simd.vget(rr, k)


@njit(**_SERIAL)
def _lane_up_residual(op, x, out, fa, r, part_rr):
    """Back substitution up the columns (``out`` becomes ``Tc^-1 (...)``), fused with the
    true residual ``r = fa - (Tr x - g out)`` and ``part_rr[k, 0] = r . r`` per lane (the
    restart's :func:`_lane_up`: no ``q`` written and read back)."""
    M, N, offr, offc, dr, g, inv_uc = op.M, op.N, op.offr, op.offc, op.dr, op.g, op.inv_uc
    acc = _all(0.0)
    zero = _all(0.0)
    for i in range(M - 1, -1, -1):
        b = i * N
        left = zero
        mid = lane(x, b)
        for s in range(b, b + N):
            y = lane(out, s)
            if i < M - 1:
                y = _fma(_all(offc[s]), lane(out, s + N), y)
            y = _mul(y, lane(inv_uc, s))
            _put(out, s, y)
            right = lane(x, s + 1) if s < b + N - 1 else zero
            v = _sub(_mul(lane(dr, s), mid), _mul(lane(g, s), y))
            if s > b:
                v = _sub(v, _mul(_all(offr[s - 1]), left))
            v = _sub(v, _mul(_all(offr[s]), right))
            rv = _sub(lane(fa, s), v)
            _put(r, s, rv)
            acc = _fma(rv, rv, acc)
            left, mid = mid, right
    for k in range(LANES):
        part_rr[k, 0] = simd.vget(acc, k)


@njit(**_SERIAL)
def _lane_precondition(op, w):
    """``z = Tr^-1 r`` per lane and ``r . z`` into ``w.part_rz`` (the restart's
    :func:`_lane_update`: ``x``, ``p`` and ``q`` are not touched)."""
    zero = _all(0.0)
    rz, _rr = _row_sweeps(op, w, w.p, zero, zero, False)
    for k in range(LANES):
        w.part_rz[k, 0] = simd.vget(rz, k)


# ----------------------------------------------------------------------------- operator parts
# Each part is a plain function (never called from Python) whose numba implementation is
# chosen by the operator's type; the driver is compiled once per operator type.
def apply_schur(op, p, add, q, part, active):
    """``q = Ta p - B Tb^-1 (add + B^T p)``, ``part[k, l]`` partial ``p . q`` (0-row add: none)."""
    raise NotImplementedError("numba only")


def update(op, w, x):
    """``x += alpha p``, ``r -= alpha q``, ``z = Ta^-1 r``; partial ``r.z``, ``r.r``.

    ``w`` is the :class:`CGWork`, ``x`` the solution.
    """
    raise NotImplementedError("numba only")


def advance(op, w, none):
    """``p = z + beta p`` for the active inputs of :class:`CGWork` ``w``, then
    ``q = S p`` and ``part`` (``none``: a 0-row addend)."""
    raise NotImplementedError("numba only")


def eliminate(op, x, add, xb):
    """``xb = Tb^-1 (add + B^T x)`` for every input."""
    raise NotImplementedError("numba only")


def vectors(op, f):
    """Four vectors shaped like ``f``: the driver's ``r``, ``z``, ``p`` (zero) and ``q``
    (``r``, ``z`` and ``q`` are written before they are read)."""
    raise NotImplementedError("numba only")


def residual(op, x, fa, fb, w):
    """The true residual ``w.r = fa - (Ta x - B Tb^-1 (fb + B^T x))`` of every input, its
    squared norm summed into ``w.part_rr`` (by input), and ``op.wb = Tb^-1 (fb + B^T x)``."""
    raise NotImplementedError("numba only")


def precondition(op, w, x):
    """``w.z = Ta^-1 w.r`` and the partial sums of ``r . z`` into ``w.part_rz`` (``x``
    is left as it is)."""
    raise NotImplementedError("numba only")


def take_eliminated(op, xb):
    """``xb = op.wb``: the eliminated family ``Tb^-1 (add + B^T p)`` of the last
    :func:`apply_schur` (every input active), into ``xb`` in the layout of the unknowns."""
    raise NotImplementedError("numba only")


def n_parts(op):
    """Number of partial sums per input of the dot products (lines of family ``a``)."""
    raise NotImplementedError("numba only")


def n_inputs(op, f):
    """Number of inputs K of the vectors ``f`` in the operator's layout."""
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
    if op.instance_class is LaneSchur:

        def lanes(op, p, add, q, part, active):
            _lane_down(op, p, p[0:0], part[:, 0], add, op.wb)
            _lane_up(op, p, op.wb, q, part)

        return lanes
    return None


@overload(update, jit_options=_SERIAL)
def _update(op, w, x):
    if op.instance_class is ChainSchur:

        def chain(op, w, x):
            _chain_update(op.a, op.inv_ua, w, x)

        return chain
    if op.instance_class is GridSchur:

        def grid(op, w, x):
            _grid_update(op.grid, op.inv_ur, w, x)

        return grid
    if op.instance_class is InputSchur:

        def one(op, w, x):
            rz, rr = _one_update(op, w.alpha[0], x[0], w.r[0], w.p[0], w.q[0], w.z[0])
            w.part_rz[0, 0] = rz
            w.part_rr[0, 0] = rr

        return one
    if op.instance_class is LaneSchur:
        return lambda op, w, x: _lane_update(op, w, x)
    return None


@overload(advance, jit_options=_SERIAL)
def _advance(op, w, none):
    if op.instance_class is LaneSchur:

        def lanes(op, w, none):
            beta = np.where(w.active, w.beta, 0.0)  # inactive lanes: p = z, no step
            _lane_down(op, w.p, w.z, beta, none, op.wb)
            _lane_up(op, w.p, op.wb, w.q, w.part)

        return lanes
    if op.instance_class is ChainSchur:

        def chain(op, w, none):
            _chain_direction(op.a.ptr, w)
            apply_schur(op, w.p, none, w.q, w.part, w.active)

        return chain
    if op.instance_class is GridSchur:

        def grid(op, w, none):
            _grid_direction(op.grid.M, op.grid.N, w)
            apply_schur(op, w.p, none, w.q, w.part, w.active)

        return grid
    if op.instance_class is InputSchur:

        def one(op, w, none):
            if w.active[0]:
                be = w.beta[0]
                for s in range(w.p.shape[1]):
                    w.p[0, s] = w.z[0, s] + be * w.p[0, s]
            apply_schur(op, w.p, none, w.q, w.part, w.active)

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
    if op.instance_class is LaneSchur:

        def lanes(op, x, add, xb):
            _lane_down(op, x, x[0:0], np.zeros(LANES), add, xb)
            _lane_up(op, x, xb, x[0:0], np.zeros((LANES, 1)))

        return lanes
    return None


@overload(vectors, jit_options=_SERIAL)
def _vectors(op, f):
    if op.instance_class is LaneSchur:

        def lanes(op, f):
            w = op.work  # memory already mapped: no page faults
            w[2].fill(0.0)  # p (read as beta p with beta = 0); r, z, q are written first
            return w[0], w[1], w[2], w[3]

        return lanes
    return lambda op, f: (np.zeros_like(f), np.zeros_like(f), np.zeros_like(f), np.zeros_like(f))


@overload(residual, jit_options=_SERIAL)
def _residual(op, x, fa, fb, w):
    if op.instance_class is LaneSchur:

        def lanes(op, x, fa, fb, w):
            _lane_down(op, x, x[0:0], np.zeros(LANES), fb, op.wb)
            _lane_up_residual(op, x, op.wb, fa, w.r, w.part_rr)

        return lanes

    def rows(op, x, fa, fb, w):
        apply_schur(op, x, fb, w.q, w.part, w.active)
        w.part_rr[:, :] = 0.0
        for a in range(fa.shape[0]):
            acc = 0.0
            for b in range(fa.shape[1]):
                rv = fa[a, b] - w.q[a, b]
                w.r[a, b] = rv
                acc += rv * rv
            w.part_rr[a, 0] = acc

    return rows


@overload(precondition, jit_options=_SERIAL)
def _precondition(op, w, x):
    if op.instance_class is LaneSchur:
        return lambda op, w, x: _lane_precondition(op, w)

    def general(op, w, x):
        w.alpha[:] = 0.0  # the CG update with no step: z, r.z (and r.r again)
        update(op, w, x)

    return general


@overload(take_eliminated, jit_options=_SERIAL)
def _take_eliminated(op, xb):
    if op.instance_class is InputSchur:

        def one(op, xb):
            xb[0, :] = op.wb

        return one

    def copy(op, xb):
        xb[:, :] = op.wb

    return copy


@overload(n_parts, jit_options=_SERIAL)
def _n_parts(op):
    if op.instance_class is ChainSchur:
        return lambda op: op.a.ptr.shape[0] - 1
    if op.instance_class is GridSchur:
        return lambda op: op.grid.M
    if op.instance_class in (InputSchur, LaneSchur):
        return lambda op: 1
    return None


@overload(n_inputs, jit_options=_SERIAL)
def _n_inputs(op, f):
    if op.instance_class is LaneSchur:
        return lambda op, f: LANES
    return lambda op, f: f.shape[0]


def tolerances(tol, K):
    """The relative residual each of K inputs is to reach: ``tol`` (float, or array (K,))."""
    return np.full(K, float(tol)) if np.ndim(tol) == 0 else np.asarray(tol, dtype=float)


@overload(tolerances, jit_options=_SERIAL)
def _tolerances(tol, K):
    if isinstance(tol, types.Array):
        return lambda tol, K: tol
    return lambda tol, K: np.full(K, float(tol))


# ----------------------------------------------------------------------------- the driver
MAX_RESTARTS = 6  # restarts from the true residual f - S x (round-off drift guard)


@njit(cache=True, nogil=True, error_model="numpy")
def _sums(part, k):
    acc = 0.0
    for line in range(part.shape[1]):
        acc += part[k, line]
    return acc


@njit(cache=True, nogil=True, error_model="numpy")
def _work(op, f):
    """Zeroed :class:`CGWork` for the right-hand sides ``f`` in the operator's layout."""
    K = n_inputs(op, f)
    L = n_parts(op)
    r, z, p, q = vectors(op, f)
    return CGWork(
        r,
        z,
        p,
        q,
        np.zeros((K, L)),
        np.zeros((K, L)),
        np.zeros((K, L)),
        np.zeros(K),
        np.zeros(K),
        np.zeros(K),
        np.zeros(K, dtype=np.bool_),
    )


@njit(cache=True, nogil=True, error_model="numpy")
def _restart(op, fa, fb, x, w: CGWork, t: Target):
    """True residual ``r = f - S x = fa - (Ta x - B Tb^-1 (fb + B^T x))`` of every input
    (one operator application, which leaves the eliminated family of ``x`` in
    ``op.wb``); marks the unconverged inputs active and returns whether there is any.
    Only then ``z = Ta^-1 r``: the last restart, which verifies the answer, needs
    ``||r||`` alone."""
    w.active[:] = True
    residual(op, x, fa, fb, w)
    any_active = False
    for k in range(w.alpha.shape[0]):
        bn = t.bnorm[k]
        res = np.sqrt(_sums(w.part_rr, k)) / bn if bn > 0 else 0.0
        t.resid[k] = res
        w.active[k] = not (res <= t.tol[k] or bn == 0 or t.iters[k] >= t.maxiter)
        any_active = any_active or w.active[k]
    if any_active:
        precondition(op, w, x)
        for k in range(w.alpha.shape[0]):
            w.rz[k] = _sums(w.part_rz, k)
    return any_active


@njit(cache=True, nogil=True, error_model="numpy")
def _step(op, x, w: CGWork, t: Target):
    """The rest of a CG step once ``q = S p`` and ``part`` are known: step sizes,
    update, direction coefficients and convergence; returns whether any input is
    still active."""
    K = w.alpha.shape[0]
    for k in range(K):
        if w.active[k]:
            pq = _sums(w.part, k)
            w.alpha[k] = w.rz[k] / pq if pq > 0 else 0.0
    update(op, w, x)
    any_active = False
    for k in range(K):
        if not w.active[k]:
            continue
        t.iters[k] += 1
        rzk = _sums(w.part_rz, k)
        w.beta[k] = rzk / w.rz[k] if w.rz[k] > 0 else 0.0
        w.rz[k] = rzk
        res = np.sqrt(_sums(w.part_rr, k)) / t.bnorm[k]
        t.resid[k] = res
        w.active[k] = not (res <= t.tol[k] or t.iters[k] >= t.maxiter or rzk <= 0)
        any_active = any_active or w.active[k]
    return any_active


@njit(cache=True, nogil=True, error_model="numpy")
def pcg(op, fa, fb, x, xb, t: Target):
    """Preconditioned CG on the Schur operator ``op`` for every input, and the
    eliminated family.

    Solves ``S x = f`` with ``f = fa + B Tb^-1 fb``, then ``xb = Tb^-1 (fb + B^T x)``.
    ``f`` is never formed: every restart computes the true residual ``f - S x`` in one
    operator application from ``fa`` and ``fb``, and the last one (which verifies the
    answer) leaves ``xb`` behind, so neither costs an application of its own.

    Parameters
    ----------
    op : ChainSchur, GridSchur, InputSchur or LaneSchur
        The operator; its type selects the parts (application, preconditioner, layout).
    fa, fb : float arrays (K, nA), (K, nB), or (M*N, LANES) for :class:`LaneSchur`
        Right-hand sides [A] of the CG family and of the eliminated family.
    x : float array like ``fa``
        Initial guess on entry, solution [V] on return.
    xb : float array like ``fb``
        The eliminated family [V], on return.
    t : Target
        Tolerance and limits; ``t.iters`` and ``t.resid`` are filled.

    Returns the number of lockstep iterations.  At most :data:`MAX_RESTARTS`
    restarts from the true residual guard against round-off drift.
    """
    w = _work(op, fa)
    t.iters[:] = 0
    total = 0
    fresh = False  # op.wb belongs to x (the last restart came after the last step)
    for _restart_count in range(MAX_RESTARTS):
        fresh = True
        if not _restart(op, fa, fb, x, w, t) or total >= t.maxiter:
            break
        fresh = False
        w.beta[:] = 0.0  # the first direction is p = z
        any_active = True
        while any_active and total < t.maxiter:
            total += 1
            advance(op, w, fa[0:0])
            any_active = _step(op, x, w, t)
    if fresh:
        take_eliminated(op, xb)
    else:
        eliminate(op, x, fb, xb)
    return total


@njit(cache=True, nogil=True, error_model="numpy")
def _norms(rhs_a, rhs_b):
    """Norm of each input's full right-hand side (K,), from (K, nA) and (K, nB) rows."""
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


@njit(cache=True, nogil=True, error_model="numpy")
def _schur_solve(op, rhs_a, rhs_b, x_a, x_b, t: Target):
    """:func:`pcg` for both families; vectors in the operator's layout; returns the
    lockstep iterations."""
    return pcg(op, rhs_a, rhs_b, x_a, x_b, t)


# ----------------------------------------------------------------------------- entry points
@njit(cache=True, nogil=True, error_model="numpy")
def chain_pcg(a: Lines, b: Lines, a_cells: Cells, b_cells: Cells, v: Unknowns, tol, maxiter):
    """Batched Schur PCG on collapsed chains, all inputs in lockstep.

    ``v`` holds the right-hand sides and the initial guess and receives the
    solution, iterations and CG residuals (:class:`Unknowns`);
    ``tol`` is the relative residual to reach (a float, or one per input (K,)),
    ``maxiter`` the iteration limit.
    Returns the lockstep iterations.
    """
    K = v.rhs_a.shape[0]
    inv_ua = np.empty(a.diag.shape)
    inv_ub = np.empty(b.diag.shape)
    tri_factor(a.ptr, a.off, a.diag, inv_ua)
    tri_factor(b.ptr, b.off, b.diag, inv_ub)
    nB = v.rhs_b.shape[1]
    op = ChainSchur(a, b, a_cells, b_cells, inv_ua, inv_ub, np.empty((K, nB)), np.empty((K, nB)))
    t = Target(_norms(v.rhs_a, v.rhs_b), tolerances(tol, K), maxiter, v.iters, v.resid)
    return _schur_solve(op, v.rhs_a, v.rhs_b, v.x_a, v.x_b, t)


@njit(cache=True, nogil=True, error_model="numpy")
def grid_pcg(grid: Grid, v: Unknowns, tol, maxiter, chunk):
    """Batched Schur PCG on the grid, all inputs in lockstep, parallel over lines.

    Vectors of ``v`` are (K, M*N) row-major, rows as family ``a``, columns as ``b``
    (column-major input is the caller's to convert); otherwise as
    :func:`chain_pcg`.  ``chunk`` adjacent columns are solved together by one thread.
    """
    Kg = grid.dr.shape[0]
    n = grid.M * grid.N
    inv_ur = np.empty((Kg, n))
    inv_uc = np.empty((Kg, n))
    _grid_factor(grid, inv_ur, inv_uc, chunk)
    K = v.rhs_a.shape[0]
    op = GridSchur(grid, inv_ur, inv_uc, np.empty((K, n)), chunk)
    t = Target(_norms(v.rhs_a, v.rhs_b), tolerances(tol, K), maxiter, v.iters, v.resid)
    return _schur_solve(op, v.rhs_a, v.rhs_b, v.x_a, v.x_b, t)


@njit(cache=True, nogil=True, error_model="numpy")
def _input_solve(grid: Grid, k, v: Unknowns, tol, maxiter):
    """Input ``k``'s serial Schur PCG (its own factorisation and work arrays)."""
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
    sl = slice(k, k + 1)
    tk = tolerances(tol, v.rhs_a.shape[0])[sl]
    t = Target(_norms(v.rhs_a[sl], v.rhs_b[sl]), tk, maxiter, v.iters[sl], v.resid[sl])
    _schur_solve(op, v.rhs_a[sl], v.rhs_b[sl], v.x_a[sl], v.x_b[sl], t)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def inputs_pcg(grid: Grid, v: Unknowns, tol, maxiter):
    """Schur PCG on the grid, one serial CG per input, the inputs in parallel.

    No barrier per CG step, so it scales on a quiet machine and degrades
    gracefully on an oversubscribed one; per thread the working set is one
    input.  Arguments as :func:`grid_pcg`.
    """
    for k in prange(v.rhs_a.shape[0]):
        _input_solve(grid, k, v, tol, maxiter)
    return 0


@njit(cache=True, nogil=True, error_model="numpy")
def input_pcg_serial(grid: Grid, v: Unknowns, tol, maxiter):
    """:func:`inputs_pcg` on the calling thread only (small single solves)."""
    for k in range(v.rhs_a.shape[0]):
        _input_solve(grid, k, v, tol, maxiter)
    return 0


LANE_SLOTS = 9  # (M*N, LANES) float64 arrays of one group's workspace (5 with shared conductances)
# (M*N, LANES) arrays of the CG vectors r, z, p, q and, for own conductances, the row
# pivots (only the preconditioner): float32 or float64
LANE_VECTORS = 5


@njit(**_SERIAL)
def to_lanes(a, k0, k1, pad_last, out):
    """Rows ``k0:k1`` of a (K, M*N) array into ``out`` (M*N, LANES), the lanes' layout.

    Lanes past ``k1 - k0`` are zero, or copies of the last row when ``pad_last``.
    Returns ``out``.
    """
    n = out.shape[0]
    if k1 - k0 == LANES:  # a full group: node by node, every stream contiguous
        for s in range(n):
            _put(out, s, simd.vmake(a[k0, s], a[k0 + 1, s], a[k0 + 2, s], a[k0 + 3, s]))
        return out
    for k in range(LANES):
        if k0 + k < k1 or pad_last:
            src = min(k0 + k, k1 - 1)
            for s in range(n):
                out[s, k] = a[src, s]
        else:
            for s in range(n):
                out[s, k] = 0.0
    return out


@njit(**_SERIAL)
def _from_lanes(lanes, a, k0, k1):
    """Write lanes (M*N, LANES) back into rows ``k0:k1`` of the (K, M*N) array ``a``."""
    if k1 - k0 == LANES:
        for s in range(lanes.shape[0]):
            v = lane(lanes, s)
            a[k0, s] = simd.vget(v, 0)
            a[k0 + 1, s] = simd.vget(v, 1)
            a[k0 + 2, s] = simd.vget(v, 2)
            a[k0 + 3, s] = simd.vget(v, 3)
        return
    for k in range(k1 - k0):
        for s in range(lanes.shape[0]):
            a[k0 + k, s] = lanes[s, k]


@njit(cache=True, nogil=True, error_model="numpy")
def _lane_group(grid: Grid, coefs, k0, k1, v: Unknowns, tol, maxiter, ws, vecs):
    """Inputs ``k0:k1`` (at most LANES) in lockstep; ``coefs`` = (dr, dc, g, inv_ur,
    inv_uc), each (M*N,) shared or (M*N, LANES) per lane; ``ws`` (5, M*N, LANES) the
    group's float64 workspace (``Tc^-1`` work array, ``x_a``, ``x_b``, ``rhs_a``,
    ``rhs_b``), ``vecs`` (:data:`LANE_VECTORS`, M*N, LANES) its CG vectors.  Unused
    lanes have no right-hand side and take no step."""
    dr, dc, g, inv_ur, inv_uc = coefs
    op = LaneSchur(grid.M, grid.N, grid.offr, grid.offc, dr, dc, g, inv_ur, inv_uc, ws[0], vecs)
    xa = to_lanes(v.x_a, k0, k1, False, ws[1])
    fa = to_lanes(v.rhs_a, k0, k1, False, ws[3])
    fb = to_lanes(v.rhs_b, k0, k1, False, ws[4])
    bnorm = np.zeros(LANES)
    bnorm[: k1 - k0] = _norms(v.rhs_a[k0:k1], v.rhs_b[k0:k1])
    tl = np.zeros(LANES)
    tl[: k1 - k0] = tolerances(tol, v.rhs_a.shape[0])[k0:k1]
    t = Target(bnorm, tl, maxiter, np.zeros(LANES, np.int64), np.zeros(LANES))
    _schur_solve(op, fa, fb, xa, ws[2], t)
    v.iters[k0:k1] = t.iters[: k1 - k0]
    v.resid[k0:k1] = t.resid[: k1 - k0]
    _from_lanes(xa, v.x_a, k0, k1)
    _from_lanes(ws[2], v.x_b, k0, k1)


@njit(cache=True, nogil=True, error_model="numpy")
def _own_group(grid: Grid, k0, k1, v: Unknowns, tol, maxiter, ws, vecs):
    """:func:`_lane_group` for inputs with their own conductances (``grid.g`` (K, M*N)),
    factored here (lanes past ``k1`` copy the last input's); ``ws`` (:data:`LANE_SLOTS`,
    M*N, LANES)."""
    dr = to_lanes(grid.dr, k0, k1, True, ws[5])
    dc = to_lanes(grid.dc, k0, k1, True, ws[6])
    g = to_lanes(grid.g, k0, k1, True, ws[7])
    lane_factor(grid.M, grid.N, grid.offr, grid.offc, dr, dc, vecs[4], ws[8])
    _lane_group(grid, (dr, dc, g, vecs[4], ws[8]), k0, k1, v, tol, maxiter, ws, vecs)


@njit(cache=True, nogil=True, error_model="numpy")
def _own_group_fixed(grid: Grid, fixed, k0, k1, v: Unknowns, tol, maxiter, ws, vecs):
    """:func:`_own_group` when the diagonals are the wires' ``fixed`` (2, M*N) (rows,
    columns) plus the cells: ``dr = fixed[0] + g`` and ``dc = fixed[1] + g`` are summed
    where they are read (:func:`xbar.crossbar.simd.lane` of a pair; the sum
    :func:`newton_system` stores, bit for bit), so only ``g`` is copied into the lanes."""
    g = to_lanes(grid.g, k0, k1, True, ws[7])
    dr, dc = (fixed[0], g), (fixed[1], g)
    _row_factor_lanes(grid.M, grid.N, grid.offr, dr, vecs[4])
    _col_factor_lanes(grid.M, grid.N, grid.offc, dc, ws[8])
    _lane_group(grid, (dr, dc, g, vecs[4], ws[8]), k0, k1, v, tol, maxiter, ws, vecs)


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def lanes_pcg(grid: Grid, v: Unknowns, tol, maxiter, work, vecs, fixed):
    """Schur PCG on the grid, groups of :data:`LANES` inputs in lockstep, the groups
    in parallel.

    Within a group (:class:`LaneSchur`) every node holds the group's inputs side by
    side: shared conductances and pivots are read once per step for the group and
    every sweep, the preconditioner's recurrences included, runs SIMD across the
    inputs (:mod:`xbar.crossbar.simd`).  Inputs that converge take zero steps while
    the rest of their group iterates.  Inputs with their own conductances (Kg = K:
    Newton's Jacobians) are factored group by group.  ``work`` (T, S, M*N, LANES)
    float64: the workspaces of T groups solved at once (S = 5 with shared
    conductances, :data:`LANE_SLOTS` with own), reused group after group; ``vecs``
    (T, :data:`LANE_VECTORS`, M*N, LANES): their CG vectors ``r``, ``z``, ``p``,
    ``q`` and the row pivots of own conductances, float64 or float32.

    float32 vectors halve the memory traffic of the CG steps; the operator, the
    solution and every restart's true residual stay float64 (the residual is
    rounded to float32 only as the next CG cycle's start), so the solve still
    reaches ``tol`` as verified in float64, but a cycle gains at most about
    six decades before it restarts: meant for loose tolerances (Newton's steps).
    The row pivots (the preconditioner alone) are computed in float64 and stored
    with the vectors; the column pivots (part of the operator) stay float64.
    ``fixed`` (2, M*N): the wires' part of the row and column diagonals when
    ``grid.dr``, ``grid.dc`` are that plus ``grid.g`` (Newton's steps): the sums are
    then formed where they are read, not copied into the lanes; (0, M*N): none.
    Other arguments as :func:`grid_pcg`.
    """
    K = v.rhs_a.shape[0]
    M, N = grid.M, grid.N
    n = M * N
    groups = (K + LANES - 1) // LANES
    T = work.shape[0]
    if grid.dr.shape[0] == 1:
        inv_ur = np.empty((n, 1))
        inv_uc = np.empty((n, 1))
        d2 = (grid.dr[0].reshape((n, 1)), grid.dc[0].reshape((n, 1)))
        lane_factor(M, N, grid.offr, grid.offc, d2[0], d2[1], inv_ur, inv_uc)
        shared = (grid.dr[0], grid.dc[0], grid.g[0], inv_ur.reshape(n), inv_uc.reshape(n))
        for slot in prange(T):
            for grp in range(slot, groups, T):
                k0 = np.int64(grp) * LANES
                _lane_group(
                    grid, shared, k0, min(K, k0 + LANES), v, tol, maxiter, work[slot], vecs[slot]
                )
        return 0
    own = fixed.shape[0] == 0
    for slot in prange(T):
        for grp in range(slot, groups, T):
            k0 = np.int64(grp) * LANES
            k1 = min(K, k0 + LANES)
            if own:
                _own_group(grid, k0, k1, v, tol, maxiter, work[slot], vecs[slot])
            else:
                _own_group_fixed(grid, fixed, k0, k1, v, tol, maxiter, work[slot], vecs[slot])
    return 0


# ----------------------------------------------------------------------------- Newton on the grid
class Companion(NamedTuple):
    """The series elements of every cell linearised at their voltages (K inputs, E elements).

    Attributes
    ----------
    ve : float array (E, K, M*N)
        Element voltages [V], row-major cells.
    i0 : float array (E, K, M*N)
        Element currents [A] at ``ve``.
    ge : float array (E, K, M*N)
        Element differential conductances [S] at ``ve``.
    r_access : float array (M*N,)
        Series access resistance [ohm] of each cell.
    open_cell : bool array (M*N,)
        Cells that carry no current.
    """

    ve: np.ndarray
    i0: np.ndarray
    ge: np.ndarray
    r_access: np.ndarray
    open_cell: np.ndarray


@njit(
    cache=True, nogil=True, parallel=True, error_model="numpy"
)  # no fastmath: overflow checks, order
def newton_system(fixed: Grid, c: Companion, base_a, base_b, out: Grid, v: Unknowns, ieq, floor):
    """One Newton step's linear system on the grid, and the residual of ``v``'s unknowns in it.

    Each cell's series chain becomes one Norton companion: conductance
    ``geff = 1 / (r_access + sum_e 1 / ge_e)`` and current
    ``ieq = -geff * sum_e (ve_e - i0_e / ge_e)`` (0 for open cells), into
    ``out.g`` and ``ieq`` (K, M*N).  The diagonals ``out.dr``, ``out.dc`` are the
    wire part ``fixed.dr[0]``, ``fixed.dc[0]`` plus ``geff``; the right-hand sides
    ``v.rhs_a = base_a - ieq`` and ``v.rhs_b = base_b + ieq`` (sources' part plus
    the companion current; all row-major).  Then the true relative residual of
    ``v.x_a``, ``v.x_b`` in this system goes to ``v.resid`` and its round-off
    floor to ``floor`` (:func:`grid_residual`).  Returns False when a companion
    or a residual is not finite (a device current overflowed).  Parallel over
    inputs.  The numpy twin is the step of :func:`xbar.crossbar.solver.newton_numpy`
    (companion, :func:`~xbar.crossbar.system.rhs`, :func:`~xbar.crossbar.solver.residual`
    and :func:`~xbar.crossbar.solver.residual_floor`).
    """
    E, K, n = c.ve.shape
    da, db = fixed.dr[0], fixed.dc[0]  # arrays out of the tuples before prange (numba
    ve, i0, ge, r_access, open_cell = c  # parfors do not write through tuple fields)
    g, dr, dc, rhs_a, rhs_b, resid = out.g, out.dr, out.dc, v.rhs_a, v.rhs_b, v.resid
    ok = np.ones(K, dtype=np.bool_)
    for t in prange(K):
        k = np.int64(t)
        bad = False  # an OR over the cells, without branches: the loop vectorises
        for s in range(n):
            if E == 1:  # one element (no selector): no inner loop
                inv = 1.0 / ge[0, k, s]
                rsum = r_access[s] + inv
                shift = ve[0, k, s] - i0[0, k, s] * inv
            else:
                rsum = r_access[s]
                shift = 0.0
                for e in range(E):
                    inv = 1.0 / ge[e, k, s]
                    rsum += inv
                    shift += ve[e, k, s] - i0[e, k, s] * inv
            geff = 1.0 / rsum
            q = -geff * shift
            geff = 0.0 if open_cell[s] else geff
            q = 0.0 if open_cell[s] else q
            bad |= not (geff - geff == 0.0 and q - q == 0.0)  # inf or NaN
            g[k, s] = geff
            ieq[k, s] = q
            dr[k, s] = da[s] + geff
            dc[k, s] = db[s] + geff
            rhs_a[k, s] = base_a[k, s] - q
            rhs_b[k, s] = base_b[k, s] + q
        good = not bad
        res, fl = _residual_one(out, v, k)
        resid[k] = res
        floor[k] = fl
        ok[k] = good and np.isfinite(res)
    return ok


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def newton_elements(v: Unknowns, g, ieq, c: Companion, cand):
    """Element voltages (E, K, M*N) after a Newton step, before device limiting, into ``cand``.

    The cell voltage ``vt = v.x_a - v.x_b`` (row minus column node) gives the chain
    current ``i = g vt + ieq`` and each element moves to ``ve_e + (i - i0_e) / ge_e``
    (an open cell: ``vt`` on its first element, 0 on the others).  Parallel over inputs.
    """
    E, K, n = c.ve.shape
    ve, i0, ge, _r, open_cell = c  # arrays out of the tuples before prange
    x_a, x_b = v.x_a, v.x_b
    for t in prange(K):
        k = np.int64(t)
        for s in range(n):
            vt = x_a[k, s] - x_b[k, s]
            if open_cell[s]:
                cand[0, k, s] = vt
                for e in range(1, E):
                    cand[e, k, s] = 0.0
                continue
            i = g[k, s] * vt + ieq[k, s]
            for e in range(E):
                cand[e, k, s] = ve[e, k, s] + (i - i0[e, k, s]) / ge[e, k, s]


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def spice_close(new, old, reltol, vntol, ok):
    """``ok[k] &= all(|new - old| <= reltol * max(|new|, |old|) + vntol)`` over row ``k``
    of (K, n) arrays (SPICE's convergence test; NaN fails it).  Parallel over inputs."""
    K, n = new.shape
    for t in prange(K):
        k = np.int64(t)
        if not ok[k]:
            continue
        for s in range(n):
            a, b = new[k, s], old[k, s]
            if not (abs(a - b) <= reltol * max(abs(a), abs(b)) + vntol):
                ok[k] = False
                break
