"""Schur PCG on an uncollapsed grid in numpy: the readable twin of the ``inputs`` kernel.

The same iteration as :func:`xbar.crossbar.kernels.input_pcg_serial` (one input at a
time: columns eliminated by tridiagonal solves, CG on the rows' Schur complement with
the row chains as preconditioner, restarts from the true residual), written with numpy
operations over whole lines: the recurrences of the tridiagonal solves run along a
line, so each step is one vector operation over all the lines of a family.

It needs neither numba nor scipy, so a small single solve (``kernel="auto"`` on an
array of at most :data:`xbar.crossbar.solver.NUMPY_MAX_CELLS` cells in a process whose
numba kernels are not loaded yet) does not pay for their start-up (0.4-0.5 s of
importing numba, loading its cached kernels and initialising LLVM, against a few
milliseconds of solving).  Iteration counts equal the kernel's; values agree to
round-off (the kernel sums in another order and compiles with ``fastmath``).

Arrays are row-major on the (M, N) grid: node ``(i, j)`` of either family is
``s = i * N + j`` (the layout of :class:`xbar.crossbar.kernels.Grid`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_RESTARTS", "grid_pcg_numpy"]

MAX_RESTARTS = 6  # as kernels.MAX_RESTARTS: restarts from the true residual


class _Grid:
    """One input's operator: wire couplings, diagonals, cells [S] and chain pivots, (M, N)."""

    def __init__(self, M, N, offr, offc, dr, dc, g):
        self.offr = offr.reshape(M, N)  # (i, j)-(i, j+1); 0 at the row's end
        self.offc = offc.reshape(M, N)  # (i, j)-(i+1, j); 0 at the column's end
        self.dr, self.dc, self.g = dr.reshape(M, N), dc.reshape(M, N), g.reshape(M, N)
        self.inv_ur = np.empty((M, N))  # inverse pivots of the row chains
        self.inv_uc = np.empty((M, N))  # and of the column chains
        self.inv_ur[:, 0] = 1.0 / self.dr[:, 0]
        for j in range(1, N):
            e = self.offr[:, j - 1]
            self.inv_ur[:, j] = 1.0 / (self.dr[:, j] - e * e * self.inv_ur[:, j - 1])
        self.inv_uc[0] = 1.0 / self.dc[0]
        for i in range(1, M):
            e = self.offc[i - 1]
            self.inv_uc[i] = 1.0 / (self.dc[i] - e * e * self.inv_uc[i - 1])

    def cols(self, p, add):
        """``Tc^-1 (add + g p)``: the column family given the rows ``p``."""
        out = self.g * p + add
        M = out.shape[0]
        for i in range(1, M):
            out[i] += self.offc[i - 1] * out[i - 1] * self.inv_uc[i - 1]
        out[M - 1] *= self.inv_uc[M - 1]
        for i in range(M - 2, -1, -1):
            out[i] = (out[i] + self.offc[i] * out[i + 1]) * self.inv_uc[i]
        return out

    def schur(self, p, add):
        """``q = Tr p - g Tc^-1 (add + g p)`` and the columns ``Tc^-1 (add + g p)``."""
        wb = self.cols(p, add)
        q = self.dr * p - self.g * wb
        q[:, 1:] -= self.offr[:, :-1] * p[:, :-1]
        q[:, :-1] -= self.offr[:, :-1] * p[:, 1:]
        return q, wb

    def precondition(self, r):
        """``Tr^-1 r``: every row chain solved."""
        z = r.copy()
        N = z.shape[1]
        for j in range(1, N):
            z[:, j] += self.offr[:, j - 1] * z[:, j - 1] * self.inv_ur[:, j - 1]
        z[:, N - 1] *= self.inv_ur[:, N - 1]
        for j in range(N - 2, -1, -1):
            z[:, j] = (z[:, j] + self.offr[:, j] * z[:, j + 1]) * self.inv_ur[:, j]
        return z


def _pcg_one(op: _Grid, fa, fb, x, tol: float, maxiter: int):
    """One input's PCG (fa, fb, x: (M, N)); returns (x, xb, iterations, residual)."""
    bnorm = float(np.sqrt(np.sum(fa * fa) + np.sum(fb * fb)))
    iters = total = 0
    res = 0.0
    xb = p = None
    fresh = False
    for _ in range(MAX_RESTARTS):
        fresh = True
        q, xb = op.schur(x, fb)  # the true residual, and the columns of x
        r = fa - q
        res = float(np.sqrt(np.sum(r * r))) / bnorm if bnorm > 0 else 0.0
        if res <= tol or bnorm == 0 or iters >= maxiter or total >= maxiter:
            break
        fresh = False
        z = op.precondition(r)
        rz = float(np.sum(r * z))
        p = np.zeros_like(x)
        beta = 0.0
        while total < maxiter:
            total += 1
            p = z + beta * p
            q, _ = op.schur(p, 0.0)
            pq = float(np.sum(p * q))
            alpha = rz / pq if pq > 0 else 0.0
            x = x + alpha * p
            r = r - alpha * q
            z = op.precondition(r)
            iters += 1
            rz_new = float(np.sum(r * z))
            beta = rz_new / rz if rz > 0 else 0.0
            rz = rz_new
            res = float(np.sqrt(np.sum(r * r))) / bnorm
            if res <= tol or iters >= maxiter or rz_new <= 0:
                break
    if not fresh:
        xb = op.cols(x, fb)
    return x, xb, iters, res


def grid_pcg_numpy(M, N, offr, dr, offc, dc, g, rhs_r, rhs_c, x0, tol, maxiter):
    """Schur PCG on the grid for every input, one after another.

    Parameters
    ----------
    M, N : int
        Rows and columns.
    offr, offc : float arrays (M*N,)
        Row wire conductance [S] from node ``s`` to ``s + 1`` and column wire
        conductance from ``s`` to ``s + N`` (0 at a line's end), row-major.
    dr, dc, g : float arrays (Kg, M*N)
        Row and column diagonals and cell conductances [S], shared (Kg = 1) or per input.
    rhs_r, rhs_c : float arrays (K, M*N)
        Right-hand sides [A] of the rows and the columns, row-major.
    x0 : float array (K, M*N)
        Initial guess of the row unknowns [V].
    tol : float or float array (K,)
        Relative residual ``||f - S x|| / ||(rhs_r, rhs_c)||`` each input is to reach.
    maxiter : int
        CG iteration limit per input.

    Returns
    -------
    xr, xc : float arrays (K, M*N)
        Row and column node voltages [V], row-major.
    iterations : int64 array (K,)
    residual : float array (K,)
        The relative CG residual of each input (recomputed at its last restart).
    """
    K = rhs_r.shape[0]
    tols = np.broadcast_to(np.asarray(tol, dtype=float), (K,))
    xr, xc = np.empty((K, M * N)), np.empty((K, M * N))
    iterations, residual = np.zeros(K, dtype=np.int64), np.zeros(K)
    op = None
    for k in range(K):
        kg = k if dr.shape[0] > 1 else 0
        if op is None or dr.shape[0] > 1:
            op = _Grid(M, N, offr, offc, dr[kg], dc[kg], g[kg])
        x, xb, iterations[k], residual[k] = _pcg_one(
            op,
            rhs_r[k].reshape(M, N),
            rhs_c[k].reshape(M, N),
            np.array(x0[k], dtype=float).reshape(M, N),
            float(tols[k]),
            int(maxiter),
        )
        xr[k], xc[k] = x.ravel(), xb.ravel()
    return xr, xc, iterations, residual
