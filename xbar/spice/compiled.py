"""The compiled Newton path: SPICE's Newton iteration in numba kernels.

:class:`CompiledNewton` runs a Newton run -- device limiting, assembly, LU,
iterative refinement, the convergence tests -- in :mod:`xbar.spice._newton_kernels`.
Diodes and level-1 MOSFETs are modelled in the kernels, so circuits made of them
(with any linear elements and sources) run a whole ``.dc`` sweep in one kernel
call, point after point from the previous solution as ngspice does; behavioural
(``B``) expressions are evaluated and limited in Python between the kernel's
iterations (:func:`xbar.spice.devices.limit_bsource`, as the Python path does).
Linear sweeps factorise once and solve every point in the kernel.

It follows the Python path (:meth:`xbar.spice.newton.DCSystem.newton`) step for
step; when a run does not converge, overflows or meets a singular matrix, the
caller runs the Python path again from the same start, which names the culprit
and falls back to gmin and source stepping.  Results agree with the Python path to
rounding, with the same iteration counts (the tests compare them).

The linear solver is a sparse LU with a fixed pivot order: the order (rows and
columns) comes from SuperLU on the first matrix, its fill pattern is computed
once, and every later matrix is factorised on that pattern without search.  A
multiplier beyond :data:`GROWTH` or a zero pivot orders again from the matrix at
hand (ngspice's reordering rule).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .state import DeviceState, NewtonResult

#: largest circuit (unknowns) run by the compiled path by default
COMPILED_MAX_UNKNOWNS = 20_000
#: largest multiplier |l_ik| of the fixed-order LU before the rows are ordered again
GROWTH = 1e3


def eligible(system) -> bool:
    """Whether ``system`` (a DCSystem) is in the compiled path's size range."""
    return 0 < system.layout.size <= COMPILED_MAX_UNKNOWNS


@dataclass
class _Order:
    """A pivot order, its LU pattern and the maps from the matrix's stamps onto it."""

    lu: tuple  # (ptr, idx, diag)
    perm: tuple  # (row_of, col_of)
    a2lu: np.ndarray  # LU slot of every CSR slot of the MNA matrix
    asm: tuple  # (base, nl_slot, nl_sign, nl_pidx, diag_slot)


class CompiledNewton:
    """A DCSystem's Newton runs and sweeps through the compiled kernels.

    Parameters
    ----------
    system : DCSystem
        A system for which :func:`eligible` holds.
    growth : float
        Largest multiplier of the fixed-order LU before the rows are ordered again.
    """

    def __init__(self, system, *, growth: float = GROWTH):
        from . import _newton_kernels as K

        self.K = K
        self.system = system
        pat = system.pattern
        n = pat.size
        self.n = n
        self.A_ptr, self.A_idx = pat.indptr.astype(np.int64), pat.indices.astype(np.int64)
        lin, nl = pat.linear, pat.nonlinear
        self.stamps = (
            lin.rows,
            lin.cols,
            lin.signs * pat.linear_params[lin.pidx],
            nl.rows,
            nl.cols,
            nl.signs,
            nl.pidx,
        )
        src = pat.source_matrix.tocoo()
        self.src = (src.row.astype(np.int64), src.col.astype(np.int64), src.data.astype(float))
        table, row_of_member = _device_table(pat, K, len(system.circuit.bsources))
        self.starts = np.cumsum([0] + [len(g.members) for g in pat.bgroups])
        nd, nb = pat.n_diode, len(table[0])
        self.width = table[2].shape[1]
        #: groups the caller evaluates: (group, first table row)
        self.external = [
            (g, int(a))
            for g, a in zip(pat.bgroups, self.starts[:-1], strict=False)
            if len(g.members) and table[0][a] == K.EXTERNAL
        ]
        comp = pat.nl_rhs_matrix.tocoo()
        ccol = comp.col.astype(np.int64)
        b_part = ccol >= nd
        ccol[b_part] = nd + row_of_member[ccol[b_part] - nd]
        self.comp = (comp.row.astype(np.int64), ccol, comp.data.astype(float))
        d = system.diodes
        dp = (
            (d.csat, d.vte, d.vcrit, d.bv_given, d.tbv, d.vtebrk)
            if d is not None
            else (np.zeros(0),) * 3 + (np.zeros(0, dtype=bool),) + (np.zeros(0),) * 2
        )
        opts = system.options
        self.dev = (
            tuple(np.ascontiguousarray(a) for a in dp),
            np.asarray(system.layout.diode_prime, dtype=np.int64),
            np.asarray(system.d_neg, dtype=np.int64),
            *table[:4],
            float(opts.gmin),
            table[4],
        )
        row_nnz = int(np.diff(pat.indptr).max()) if pat.nnz else 0
        self.conv = (
            float(opts.reltol),
            float(opts.abstol),
            np.asarray(system.abs_tol, dtype=float),
            float(row_nnz),
            float(growth),
            int(system.layout.n_voltage),
            np.concatenate([np.zeros(0), *system.b_abstol]).astype(float),
        )
        self.n_nl = nd + pat.n_bderiv
        self.nd, self.nb = nd, nb
        self.order: _Order | None = None
        self.n_orders = 0

    # ------------------------------------------------------------ pivot order
    def _matrix(self, state, gshunt: float) -> sp.csr_matrix:
        """The MNA matrix linearised at ``state`` (Python assembly)."""
        pat = self.system.pattern
        nl = np.concatenate([state.gd] + [d.ravel() for d in state.dib]) if self.n_nl else None
        data = pat.assemble(self.system.base, nl if nl is not None else np.zeros(0), gshunt=gshunt)
        return pat.matrix(data)

    def reorder(self, A: sp.csr_matrix) -> bool:
        """Pivot order of ``A`` from SuperLU, its LU pattern and stamp maps; False if
        SuperLU finds ``A`` singular (the Python path then reports it)."""
        import scipy.sparse.linalg as spla

        f = self.system.factorizer
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lu = spla.splu(
                    A.tocsc(),
                    permc_spec=f.ordering,
                    diag_pivot_thresh=f.diag_pivot_thresh,
                    options={"SymmetricMode": True},
                )
        except RuntimeError:
            return False
        pr, pc = lu.perm_r.astype(np.int64), lu.perm_c.astype(np.int64)
        n = self.n
        rows = np.repeat(np.arange(n), np.diff(self.A_ptr))
        B = sp.csr_matrix(
            (np.ones(len(self.A_idx)), (pr[rows], pc[self.A_idx])), shape=(n, n)
        ).sorted_indices()
        ptr, idx, diag = self.K.lu_symbolic(
            n, B.indptr.astype(np.int64), B.indices.astype(np.int64)
        )
        lu_rows = np.repeat(np.arange(n), np.diff(ptr))
        keys = lu_rows * n + idx
        a2lu = np.searchsorted(keys, pr[rows] * n + pc[self.A_idx])
        pat = self.system.pattern
        base = np.zeros(len(idx))
        base[a2lu] = self.system.base
        nl = pat.nonlinear
        asm = (base, a2lu[nl.slots], nl.signs, nl.pidx, a2lu[pat.diag_slots])
        self.order = _Order((ptr, idx, diag), (np.argsort(pr), np.argsort(pc)), a2lu, asm)
        self.n_orders += 1
        return True

    def _sy(self) -> tuple:
        o = self.order
        return (o.lu, o.perm, o.asm, self.stamps, self.src, self.comp, self.dev, self.conv)

    def _work(self) -> tuple:
        n, nnz = self.n, len(self.order.lu[1])
        return (
            np.zeros(nnz),
            np.zeros(nnz),
            *(np.zeros(n) for _ in range(9)),
            np.zeros(n + 1),
            np.zeros(max(self.n_nl, 1)),
            np.zeros(self.width),
            np.zeros(self.width),
            np.zeros(self.width),
        )

    # ------------------------------------------------------------ device state
    def state_in(self, state) -> tuple:
        """A DeviceState as the kernels' arrays (copies)."""
        vb = np.zeros((self.nb, self.width))
        dib = np.zeros((self.nb, self.width))
        ib = np.zeros(self.nb)
        for a, v, i, di in zip(self.starts[:-1], state.vb, state.ib, state.dib, strict=True):
            m = v.shape[1]
            vb[a : a + len(v), :m] = v
            dib[a : a + len(v), :m] = di
            ib[a : a + len(v)] = i
        return (state.vd.copy(), state.cd.copy(), state.gd.copy(), vb, ib, dib)

    def state_out(self, arrays):
        """The kernels' arrays as a DeviceState."""
        vd, cd, gd, vb, ib, dib = arrays
        out = DeviceState(vd.copy(), cd.copy(), gd.copy())
        for g, a in zip(self.system.pattern.bgroups, self.starts[:-1], strict=False):
            rows, m = slice(a, a + len(g.members)), g.n_controls
            out.vb.append(vb[rows, :m].copy())
            out.ib.append(ib[rows].copy())
            out.dib.append(dib[rows, :m].copy())
        return out

    # ------------------------------------------------------------ runs
    def _ensure_order(self, state, gshunt: float) -> bool:
        return self.order is not None or self.reorder(self._matrix(state, gshunt))

    def newton(self, x0, state, *, maxiter: int, src: np.ndarray, gshunt: float, fresh: bool):
        """One Newton run (see ``DCSystem.newton``); a converged NewtonResult, or None
        when the run failed (the caller runs the Python path for the diagnosis)."""
        if not self._ensure_order(state, gshunt):
            return None
        src = np.ascontiguousarray(src, dtype=float)
        for _ in range(3):
            x = np.array(x0, dtype=float)
            arrays = self.state_in(state)
            ws = self._work()
            run = self.K.newton_point if not self.external else self._newton_external
            status, it = run(self._sy(), arrays, x, src, float(gshunt), fresh, int(maxiter), ws)
            self.system.total_iterations += it
            if status == self.K.REPIVOT:
                if not self.reorder(self._matrix_from(ws[1])):
                    return None
                continue
            if status != self.K.CONVERGED:
                return None
            return NewtonResult(x, self.state_out(arrays), it, True)
        return None

    def _newton_external(self, sy, arrays, x, src, gshunt, fresh, maxiter, ws):
        """``newton_point`` with the EXTERNAL expressions evaluated here, between the
        kernel's iterations (same arguments and returns)."""
        K = self.K
        xn = ws[7]
        for it in range(1, maxiter + 1):
            lin = not (fresh and it == 1)
            ext_limited = False
            if lin:
                ext_limited, over = self._linearise_external(arrays, x)
                if over:
                    return K.OVERFLOW, it
            status, limited, worst = K.newton_step(sy, arrays, x, src, gshunt, lin, ws)
            if status != K.CONVERGED:
                return status, it
            done = it > 1 and not (limited or ext_limited) and worst <= 1.0
            if done and K.devices_converged(sy, arrays, xn, ws):
                x[:] = xn
                return K.CONVERGED, it
            x[:] = xn
        return K.NOT_CONVERGED, maxiter

    def _linearise_external(self, arrays, x) -> tuple[bool, bool]:
        """The EXTERNAL rows of ``arrays`` linearised (and limited) at ``x`` as the
        Python path does it; ``(any limited, any overflowed)``."""
        from .devices import limit_bsource

        _, _, _, vb, ib, dib = arrays
        ve = np.concatenate([[0.0], x])
        limited = False
        for g, a in self.external:
            rows, m = slice(a, a + len(g.members)), g.n_controls
            v_new = ve[g.controls[:, :, 0]] - ve[g.controls[:, :, 1]]
            v, i, di, lim, _ = limit_bsource(g.expr, v_new, vb[rows, :m], ib[rows], dib[rows, :m])
            # as DCSystem._overflowed: the limited current and derivatives must be finite
            if not (np.all(np.abs(i) <= self.K.I_OVERFLOW) and np.all(np.isfinite(di))):
                return limited, True
            vb[rows, :m], ib[rows], dib[rows, :m] = v, i, di
            limited = limited or bool(lim.any())
        return limited, False

    def _matrix_from(self, aval: np.ndarray) -> sp.csr_matrix:
        """The MNA matrix whose values sit on the LU pattern in ``aval``."""
        n = self.n
        return sp.csr_matrix((aval[self.order.a2lu], self.A_idx, self.A_ptr), shape=(n, n))

    def solve_block(self, block: np.ndarray) -> np.ndarray | None:
        """A linear circuit's solutions for the source vectors in the columns of
        ``block`` (n sources, k), as rows (k, n unknowns); None when the matrix is
        singular (the Python path reports it)."""
        empty = DeviceState(np.zeros(0), np.zeros(0), np.zeros(0))
        if block.shape[1] == 0 or not self._ensure_order(empty, 0.0):
            return None
        xs = np.empty((block.shape[1], self.n))
        for _ in range(3):
            ws = self._work()
            code = self.K.linear_block(
                self._sy(), self.state_in(empty), np.ascontiguousarray(block, dtype=float), ws, xs
            )
            if code == -1:
                return xs
            if code == -2 or not self.reorder(self._matrix_from(ws[1])):
                return None
        return None

    def sweep(self, x, state, block, p0: int, p1: int, maxiter: int, xs, iters):
        """Sweep points ``p0..p1-1`` from ``(x, state)``; returns ``(x, state, reached)``:
        every point before ``reached`` is solved into ``xs``/``iters``, and ``x, state``
        are the solution of point ``reached - 1``."""
        if self.external:
            return self._sweep_external(x, state, block, p0, p1, maxiter, xs, iters)
        x = np.array(x, dtype=float)
        arrays = self.state_in(state)
        p = p0
        for _ in range(3):
            if not self._ensure_order(state, 0.0):
                break
            ws = self._work()
            keep = (np.empty_like(x), tuple(np.empty_like(a) for a in arrays))
            start = p
            status, p = self.K.sweep_run(
                self._sy(), arrays, x, block, p, p1, int(maxiter), ws, keep, xs, iters
            )
            self.system.total_iterations += int(iters[start:p].sum())
            if status != self.K.REPIVOT or not self.reorder(self._matrix_from(ws[1])):
                break
        return x, self.state_out(arrays), p

    def _sweep_external(self, x, state, block, p0, p1, maxiter, xs, iters):
        """:meth:`sweep` with a Python loop over the points (EXTERNAL expressions are
        evaluated between the kernel's iterations); the device arrays stay in the
        kernels' form from point to point."""
        if not self._ensure_order(state, 0.0):
            return x, state, p0
        arrays = self.state_in(state)
        keep = tuple(a.copy() for a in arrays)
        x = np.array(x, dtype=float)
        ws, sy = self._work(), self._sy()
        for p in range(p0, p1):
            x_prev = x.copy()
            status, it = self._newton_external(sy, arrays, x, block[:, p], 0.0, False, maxiter, ws)
            self.system.total_iterations += it
            if status != self.K.CONVERGED:  # (a pivot order that fails: the caller's
                x = x_prev  # operating point reorders as it solves this point)
                arrays = keep
                break
            for a, b in zip(keep, arrays, strict=True):
                a[...] = b
            xs[p] = x
            iters[p] = it
        else:
            p = p1
        return x, self.state_out(keep), p


def _device_table(pat, K, n_bsources: int) -> tuple[tuple, np.ndarray]:
    """The behavioural devices as one table, a row per source, groups in order:
    ``(kind, params (n, 8), controls (n, width, 2), number of controls, first
    derivative parameter)``, and each source's row.  MOSFET channels and junctions
    are modelled in the kernels; other expressions are EXTERNAL (the caller
    evaluates them)."""
    from .mosfet import MosChannel, MosJunction

    groups = pat.bgroups
    nb = sum(len(g.members) for g in groups)
    width = max([4] + [g.n_controls for g in groups])
    kind = np.full(nb, K.EXTERNAL, dtype=np.int64)
    prm = np.zeros((nb, 8))
    ctrl = np.zeros((nb, width, 2), dtype=np.int64)
    nctl = np.zeros(nb, dtype=np.int64)
    pbase = np.zeros(nb, dtype=np.int64)
    row_of_member = np.zeros(n_bsources, dtype=np.int64)
    a = 0
    for g in groups:
        e, m, rows = g.expr, g.n_controls, slice(a, a + len(g.members))
        fields = ()
        if isinstance(e, MosChannel):
            fields = (e.sign, e.beta, e.vbi, e.phi, e.gamma, e.lam, e.vt, e.vcrit)
            kind[rows] = K.MOS_CHANNEL
        elif isinstance(e, MosJunction):
            fields = (e.sign, e.isat, e.vt, e.vcrit, np.full(len(e.sign), e.gmin))
            kind[rows] = K.MOS_JUNCTION
        if fields:
            prm[rows, : len(fields)] = np.column_stack(fields)
        ctrl[rows, :m] = g.controls
        nctl[rows] = m
        pbase[rows] = g.deriv_offset + m * np.arange(len(g.members))
        row_of_member[g.members] = a + np.arange(len(g.members))
        a += len(g.members)
    return (kind, prm, ctrl, nctl, pbase), row_of_member
