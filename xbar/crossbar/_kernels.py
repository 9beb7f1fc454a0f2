"""Numba kernels of the structured crossbar solver.

The nodal system of a crossbar has two families of unknowns, each a set of
independent tridiagonal *chains* (lines, after zero-resistance segments are
collapsed): family ``a`` (solved by CG) and family ``b`` (eliminated exactly
by tridiagonal solves).  They couple only through cell conductances::

    [ Ta   -B ] [xa]   [fa]
    [ -B^T  Tb] [xb] = [fb]

CG runs on the Schur complement ``S = Ta - B Tb^-1 B^T`` (SPD) with the chain
preconditioner ``Ta^-1``, batched over right-hand sides ``k``.  Every loop is
``prange`` over (batch, line) pairs, so one input and many inputs both use all
cores.  Chains are stored CSR-like: line ``l`` owns super-nodes
``ptr[l]:ptr[l+1]``; ``off[s]`` is the conductance between ``s`` and ``s+1`` of
the same chain (0 at a chain end); ``dg`` the full diagonal.  Cells are listed
twice, grouped by ``a`` line (``acptr``, ``aca``, ``acb``, ``acg``) and by ``b``
line; ``-1`` marks a cell end on a known node (its effect is in the rhs).

The readable twin of these kernels is :mod:`xbar.crossbar.reference` (the full
sparse nodal matrix solved with ``splu``); tests compare the two.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True, error_model="numpy", fastmath=True)
def tri_factor(ptr, off, dg, inv_u):
    """Pivots of the LDL^T factorisation of every chain; ``dg``/``inv_u``: (Kg, n)."""
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


@njit(cache=True, parallel=True, error_model="numpy", fastmath=True)
def tri_solve(ptr, off, inv_u, b, x):
    """Solve every chain for every batch row: ``x[k] = T^-1 b[k]``."""
    L = ptr.shape[0] - 1
    K = b.shape[0]
    Kg = inv_u.shape[0]
    for t in prange(K * L):
        k = t // L
        line = t % L
        kg = k if Kg > 1 else 0
        _tri_solve_line(ptr, off, inv_u, kg, line, b, k, x)


@njit(cache=True, parallel=True, error_model="numpy", fastmath=True)
def _bt_solve(b_ptr, b_off, inv_ub, bcptr, bca, bcb, bcg, p, add, yb, wb, active):
    """wb = Tb^-1 (add + B^T p) per b line (``add`` may have 0 rows: none)."""
    L = b_ptr.shape[0] - 1
    K = p.shape[0]
    Kg = bcg.shape[0]
    has_add = add.shape[0] > 0
    for t in prange(K * L):
        k = t // L
        if not active[k]:
            continue
        line = t % L
        kg = k if Kg > 1 else 0
        for s in range(b_ptr[line], b_ptr[line + 1]):
            yb[k, s] = add[k, s] if has_add else 0.0
        for c in range(bcptr[line], bcptr[line + 1]):
            ia = bca[c]
            ib = bcb[c]
            if ia >= 0 and ib >= 0:
                yb[k, ib] += bcg[kg, c] * p[k, ia]
        _tri_solve_line(b_ptr, b_off, inv_ub, kg, line, yb, k, wb)


@njit(cache=True, parallel=True, error_model="numpy", fastmath=True)
def apply_lines(a_ptr, a_off, a_dg, acptr, aca, acb, acg, p, wb, q, part, active):
    """q = Ta p - B wb per a line; part[k, line] = p . q over the line."""
    L = a_ptr.shape[0] - 1
    K = p.shape[0]
    Kg = acg.shape[0]
    for t in prange(K * L):
        k = t // L
        if not active[k]:
            continue
        line = t % L
        kg = k if Kg > 1 else 0
        s0 = a_ptr[line]
        s1 = a_ptr[line + 1]
        for s in range(s0, s1):
            v = a_dg[kg, s] * p[k, s]
            if s > s0:
                v -= a_off[s - 1] * p[k, s - 1]
            if s < s1 - 1:
                v -= a_off[s] * p[k, s + 1]
            q[k, s] = v
        for c in range(acptr[line], acptr[line + 1]):
            ia = aca[c]
            ib = acb[c]
            if ia >= 0 and ib >= 0:
                q[k, ia] -= acg[kg, c] * wb[k, ib]
        acc = 0.0
        for s in range(s0, s1):
            acc += p[k, s] * q[k, s]
        part[k, line] = acc


@njit(cache=True, parallel=True, error_model="numpy", fastmath=True)
def _update(a_ptr, a_off, inv_ua, alpha, x, r, p, q, z, part_rz, part_rr, active):
    """x += alpha p; r -= alpha q; z = Ta^-1 r; partial r.z and r.r per line."""
    L = a_ptr.shape[0] - 1
    K = x.shape[0]
    Kg = inv_ua.shape[0]
    for t in prange(K * L):
        k = t // L
        if not active[k]:
            continue
        line = t % L
        kg = k if Kg > 1 else 0
        al = alpha[k]
        for s in range(a_ptr[line], a_ptr[line + 1]):
            x[k, s] += al * p[k, s]
            r[k, s] -= al * q[k, s]
        _tri_solve_line(a_ptr, a_off, inv_ua, kg, line, r, k, z)
        rz = 0.0
        rr = 0.0
        for s in range(a_ptr[line], a_ptr[line + 1]):
            rz += r[k, s] * z[k, s]
            rr += r[k, s] * r[k, s]
        part_rz[k, line] = rz
        part_rr[k, line] = rr


@njit(cache=True, parallel=True, error_model="numpy", fastmath=True)
def _direction(a_ptr, beta, z, p, active):
    L = a_ptr.shape[0] - 1
    K = z.shape[0]
    for t in prange(K * L):
        k = t // L
        if not active[k]:
            continue
        line = t % L
        be = beta[k]
        for s in range(a_ptr[line], a_ptr[line + 1]):
            p[k, s] = z[k, s] + be * p[k, s]


@njit(cache=True, error_model="numpy")
def schur_pcg(a_ptr, a_off, a_dg, b_ptr, b_off, b_dg,
              acptr, aca, acb, acg, bcptr, bca, bcb, bcg,
              rhs_a, rhs_b, x_a, x_b, tol, maxiter, iters, resid):
    """Batched Schur-complement PCG; ``x_a`` holds the initial guess on entry.

    On return ``x_a``/``x_b`` hold the solution, ``iters[k]`` the CG iterations
    and ``resid[k]`` the true relative residual ``||A x - f|| / ||f||`` of the
    full nodal system (``x_b`` is exact given ``x_a``, so only family ``a`` has
    a residual).
    """
    K = rhs_a.shape[0]
    nA = rhs_a.shape[1]
    nB = rhs_b.shape[1]
    La = a_ptr.shape[0] - 1
    Kg = a_dg.shape[0]
    inv_ua = np.empty((Kg, nA))
    inv_ub = np.empty((Kg, nB))
    tri_factor(a_ptr, a_off, a_dg, inv_ua)
    tri_factor(b_ptr, b_off, b_dg, inv_ub)
    bnorm = np.zeros(K)
    for k in range(K):
        acc = 0.0
        for s in range(nA):
            acc += rhs_a[k, s] ** 2
        for s in range(nB):
            acc += rhs_b[k, s] ** 2
        bnorm[k] = np.sqrt(acc)
    active = np.ones(K, dtype=np.bool_)
    empty = np.zeros((0, nB))
    yb = np.empty((K, nB))
    wb = np.empty((K, nB))
    # Schur rhs f = rhs_a + B Tb^-1 rhs_b  (computed as -(Ta*0 - B w))
    zero_a = np.zeros((K, nA))
    f = np.empty((K, nA))
    part = np.zeros((K, La))
    _bt_solve(b_ptr, b_off, inv_ub, bcptr, bca, bcb, bcg, zero_a, rhs_b, yb, wb, active)
    apply_lines(a_ptr, a_off, a_dg, acptr, aca, acb, acg, zero_a, wb, f, part, active)
    for k in range(K):
        for s in range(nA):
            f[k, s] = rhs_a[k, s] - f[k, s]
    r = np.empty((K, nA))
    z = np.empty((K, nA))
    p = np.zeros((K, nA))
    q = np.zeros((K, nA))
    part_rz = np.zeros((K, La))
    part_rr = np.zeros((K, La))
    alpha = np.zeros(K)
    beta = np.zeros(K)
    rz = np.zeros(K)
    for k in range(K):
        iters[k] = 0
    total = 0
    for _restart in range(6):
        # true residual r = f - S x
        for k in range(K):
            active[k] = True
        _bt_solve(b_ptr, b_off, inv_ub, bcptr, bca, bcb, bcg, x_a, empty, yb, wb, active)
        apply_lines(a_ptr, a_off, a_dg, acptr, aca, acb, acg, x_a, wb, q, part, active)
        for k in range(K):
            for s in range(nA):
                r[k, s] = f[k, s] - q[k, s]
        for k in range(K):
            alpha[k] = 0.0
        _update(a_ptr, a_off, inv_ua, alpha, x_a, r, p, q, z, part_rz, part_rr, active)
        any_active = False
        for k in range(K):
            rr = 0.0
            rzk = 0.0
            for line in range(La):
                rr += part_rr[k, line]
                rzk += part_rz[k, line]
            rz[k] = rzk
            res = np.sqrt(rr) / bnorm[k] if bnorm[k] > 0 else 0.0
            resid[k] = res
            if res <= tol or bnorm[k] == 0 or iters[k] >= maxiter:
                active[k] = False
            else:
                any_active = True
                beta[k] = 0.0
        if not any_active or total >= maxiter:
            break
        for k in range(K):
            if active[k]:
                for s in range(nA):
                    p[k, s] = z[k, s]
        while any_active and total < maxiter:
            total += 1
            _bt_solve(b_ptr, b_off, inv_ub, bcptr, bca, bcb, bcg, p, empty, yb, wb, active)
            apply_lines(a_ptr, a_off, a_dg, acptr, aca, acb, acg, p, wb, q, part, active)
            for k in range(K):
                if active[k]:
                    pq = 0.0
                    for line in range(La):
                        pq += part[k, line]
                    alpha[k] = rz[k] / pq if pq > 0 else 0.0
            _update(a_ptr, a_off, inv_ua, alpha, x_a, r, p, q, z, part_rz, part_rr, active)
            any_active = False
            for k in range(K):
                if not active[k]:
                    continue
                iters[k] += 1
                rr = 0.0
                rzk = 0.0
                for line in range(La):
                    rr += part_rr[k, line]
                    rzk += part_rz[k, line]
                beta[k] = rzk / rz[k] if rz[k] > 0 else 0.0
                rz[k] = rzk
                res = np.sqrt(rr) / bnorm[k]
                resid[k] = res
                if res <= tol or iters[k] >= maxiter or rzk <= 0:
                    active[k] = False
                else:
                    any_active = True
            _direction(a_ptr, beta, z, p, active)
    # family b from family a
    for k in range(K):
        active[k] = True
    _bt_solve(b_ptr, b_off, inv_ub, bcptr, bca, bcb, bcg, x_a, rhs_b, yb, x_b, active)
    return total


# ----------------------------------------------------------------------------- grid kernels
# Fast path when no node is collapsed (every wire segment > 0 ohm): row and column
# unknowns both live on the (M, N) grid in row-major order, arrays (K, M*N).  Rows are
# solved line by line, columns in lockstep over chunks of adjacent columns, so every
# inner loop is contiguous; the batch loop sits just outside the innermost loop so a
# row's (or chunk's) coefficients stay in cache for the whole batch.  ``g``, ``dr``,
# ``dc`` and the pivots have shape (Kg, M*N) with Kg = 1 (shared) or K (per input).

_FAST = dict(cache=True, parallel=True, error_model="numpy", fastmath=True)


@njit(**_FAST)
def _grid_factor(M, N, offr, dr, offc, dc, inv_ur, inv_uc, chunk):
    Kg = dr.shape[0]
    for t in prange(Kg * M):
        k = t // M
        i = t % M
        base = i * N
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
def _grid_cols(M, N, offc, inv_uc, g, p, add, use_add, out, chunk, active):
    """out = Tc^-1 (add + g * p) for active inputs, columns in lockstep chunks."""
    K = p.shape[0]
    Kg = g.shape[0]
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
                    out[k, s] = (g[kg, s] * p[k, s] + add[k, s]
                                 + offc[s - N] * out[k, s - N] * inv_uc[kg, s - N])
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
def _grid_rows_apply(M, N, offr, dr, g, p, wb, q, part, active):
    """q = Tr p - g * wb; part[k, i] = sum_j p q over row i."""
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
def _grid_update(M, N, offr, inv_ur, alpha, x, r, p, q, z, part_rz, part_rr, active):
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
            if j > 0:
                y = rv + offr[s - 1] * y * inv_ur[kg, s - 1]
            else:
                y = rv
            z[k, s] = y
        rz = 0.0
        rr = 0.0
        zv = 0.0
        for j in range(N - 1, -1, -1):
            s = base + j
            if j == N - 1:
                zv = z[k, s] * inv_ur[kg, s]
            else:
                zv = (z[k, s] + offr[s] * zv) * inv_ur[kg, s]
            z[k, s] = zv
            rz += r[k, s] * zv
            rr += r[k, s] * r[k, s]
        part_rz[k, i] = rz
        part_rr[k, i] = rr


@njit(**_FAST)
def _grid_direction(M, N, beta, z, p, active):
    K = z.shape[0]
    for t in prange(K * M):
        k = t // M
        if not active[k]:
            continue
        i = t % M
        be = beta[k]
        for s in range(i * N, (i + 1) * N):
            p[k, s] = z[k, s] + be * p[k, s]


@njit(cache=True, error_model="numpy")
def grid_pcg(M, N, offr, dr, offc, dc, g, rhs_r, rhs_c, xr, xc, tol, maxiter, iters, resid,
             chunk):
    """Schur-complement PCG on the uncollapsed grid; arrays (K, M*N), see the block comment.

    ``xr`` holds the initial guess on entry; on return ``xr``/``xc`` the solution,
    ``iters`` the CG iterations and ``resid`` the true relative residual per input.
    """
    n = M * N
    K = rhs_r.shape[0]
    Kg = dr.shape[0]
    inv_ur = np.empty((Kg, n))
    inv_uc = np.empty((Kg, n))
    _grid_factor(M, N, offr, dr, offc, dc, inv_ur, inv_uc, chunk)
    bnorm = np.zeros(K)
    for k in range(K):
        acc = 0.0
        for s in range(n):
            acc += rhs_r[k, s] ** 2 + rhs_c[k, s] ** 2
        bnorm[k] = np.sqrt(acc)
    zero = np.zeros((K, n))
    wb = np.empty((K, n))
    f = np.empty((K, n))
    part = np.zeros((K, M))
    everyone = np.ones(K, dtype=np.bool_)
    # Schur rhs f = rhs_r + g * Tc^-1 rhs_c
    _grid_cols(M, N, offc, inv_uc, g, zero, rhs_c, True, wb, chunk, everyone)
    for k in range(K):
        kg = k if Kg > 1 else 0
        for s in range(n):
            f[k, s] = rhs_r[k, s] + g[kg, s] * wb[k, s]
    r = np.empty((K, n))
    z = np.zeros((K, n))
    p = np.zeros((K, n))
    q = np.zeros((K, n))
    part_rz = np.zeros((K, M))
    part_rr = np.zeros((K, M))
    alpha = np.zeros(K)
    beta = np.zeros(K)
    rz = np.zeros(K)
    active = np.zeros(K, dtype=np.bool_)
    for k in range(K):
        iters[k] = 0
    total = 0
    for _restart in range(6):
        # true residual r = f - S x
        _grid_cols(M, N, offc, inv_uc, g, xr, zero, False, wb, chunk, everyone)
        _grid_rows_apply(M, N, offr, dr, g, xr, wb, q, part, everyone)
        for k in range(K):
            alpha[k] = 0.0
            for s in range(n):
                r[k, s] = f[k, s] - q[k, s]
        _grid_update(M, N, offr, inv_ur, alpha, xr, r, p, q, z, part_rz, part_rr, everyone)
        any_active = False
        for k in range(K):
            rr = 0.0
            rzk = 0.0
            for i in range(M):
                rr += part_rr[k, i]
                rzk += part_rz[k, i]
            rz[k] = rzk
            res = np.sqrt(rr) / bnorm[k] if bnorm[k] > 0 else 0.0
            resid[k] = res
            active[k] = not (res <= tol or bnorm[k] == 0 or iters[k] >= maxiter)
            any_active = any_active or active[k]
        if not any_active or total >= maxiter:
            break
        for k in range(K):
            for s in range(n):
                p[k, s] = z[k, s]
        while any_active and total < maxiter:
            total += 1
            _grid_cols(M, N, offc, inv_uc, g, p, zero, False, wb, chunk, active)
            _grid_rows_apply(M, N, offr, dr, g, p, wb, q, part, active)
            for k in range(K):
                if active[k]:
                    pq = 0.0
                    for i in range(M):
                        pq += part[k, i]
                    alpha[k] = rz[k] / pq if pq > 0 else 0.0
            _grid_update(M, N, offr, inv_ur, alpha, xr, r, p, q, z, part_rz, part_rr, active)
            any_active = False
            for k in range(K):
                if not active[k]:
                    continue
                iters[k] += 1
                rr = 0.0
                rzk = 0.0
                for i in range(M):
                    rr += part_rr[k, i]
                    rzk += part_rz[k, i]
                beta[k] = rzk / rz[k] if rz[k] > 0 else 0.0
                rz[k] = rzk
                res = np.sqrt(rr) / bnorm[k]
                resid[k] = res
                if res <= tol or iters[k] >= maxiter or rzk <= 0:
                    active[k] = False
                    beta[k] = 0.0
                else:
                    any_active = True
            _grid_direction(M, N, beta, z, p, active)
    # columns from rows: xc = Tc^-1 (rhs_c + g xr)
    _grid_cols(M, N, offc, inv_uc, g, xr, rhs_c, True, xc, chunk, everyone)
    return total


# ----------------------------------------------------------------------------- batch kernel
# Many inputs: one parallel region per solve (prange over inputs), each input runs its own
# serial CG.  No barrier per CG step, so it scales on a quiet machine and degrades
# gracefully on an oversubscribed one; per thread the working set is one input.


@njit(cache=True, error_model="numpy", fastmath=True)
def _one_factor(M, N, offr, dr, offc, dc, inv_ur, inv_uc):
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


@njit(cache=True, error_model="numpy", fastmath=True)
def _one_cols(M, N, offc, inv_uc, g, p, add, use_add, out):
    for j in range(N):
        y = g[j] * p[j]
        if use_add:
            y += add[j]
        out[j] = y
    for i in range(1, M):
        b = i * N
        if use_add:
            for j in range(N):
                s = b + j
                out[s] = g[s] * p[s] + add[s] + offc[s - N] * out[s - N] * inv_uc[s - N]
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


@njit(cache=True, error_model="numpy", fastmath=True)
def _one_rows_apply(M, N, offr, dr, g, p, wb, q):
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


@njit(cache=True, error_model="numpy", fastmath=True)
def _one_update(M, N, offr, inv_ur, al, x, r, p, q, z):
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
            if j > 0:
                y = rv + offr[s - 1] * y * inv_ur[s - 1]
            else:
                y = rv
            z[s] = y
        zv = 0.0
        for j in range(N - 1, -1, -1):
            s = base + j
            if j == N - 1:
                zv = z[s] * inv_ur[s]
            else:
                zv = (z[s] + offr[s] * zv) * inv_ur[s]
            z[s] = zv
            rz += r[s] * zv
            rr += r[s] * r[s]
    return rz, rr


@njit(cache=True, error_model="numpy")
def _one_pcg(M, N, offr, dr, offc, dc, g, rhs_r, rhs_c, xr, xc, tol, maxiter):
    """Serial Schur-complement PCG for one input on the grid (1-D arrays of M*N)."""
    n = M * N
    inv_ur = np.empty(n)
    inv_uc = np.empty(n)
    _one_factor(M, N, offr, dr, offc, dc, inv_ur, inv_uc)
    bnorm = np.sqrt(np.sum(rhs_r**2) + np.sum(rhs_c**2))
    zero = np.zeros(n)
    wb = np.empty(n)
    f = np.empty(n)
    _one_cols(M, N, offc, inv_uc, g, zero, rhs_c, True, wb)
    for s in range(n):
        f[s] = rhs_r[s] + g[s] * wb[s]
    r = np.empty(n)
    z = np.zeros(n)
    p = np.zeros(n)
    q = np.zeros(n)
    it = 0
    res = 0.0
    for _restart in range(6):
        _one_cols(M, N, offc, inv_uc, g, xr, zero, False, wb)
        _one_rows_apply(M, N, offr, dr, g, xr, wb, q)
        for s in range(n):
            r[s] = f[s] - q[s]
        rz, rr = _one_update(M, N, offr, inv_ur, 0.0, xr, r, p, q, z)
        res = np.sqrt(rr) / bnorm if bnorm > 0 else 0.0
        if res <= tol or bnorm == 0 or it >= maxiter:
            break
        for s in range(n):
            p[s] = z[s]
        while it < maxiter:
            it += 1
            _one_cols(M, N, offc, inv_uc, g, p, zero, False, wb)
            pq = _one_rows_apply(M, N, offr, dr, g, p, wb, q)
            al = rz / pq if pq > 0 else 0.0
            rz_new, rr = _one_update(M, N, offr, inv_ur, al, xr, r, p, q, z)
            res = np.sqrt(rr) / bnorm
            if res <= tol or rz_new <= 0:
                break
            be = rz_new / rz
            rz = rz_new
            for s in range(n):
                p[s] = z[s] + be * p[s]
    _one_cols(M, N, offc, inv_uc, g, xr, rhs_c, True, xc)
    return it, res


@njit(cache=True, parallel=True, error_model="numpy")
def batch_pcg(M, N, offr, dr, offc, dc, g, rhs_r, rhs_c, xr, xc, tol, maxiter, iters, resid):
    """:func:`grid_pcg` for K >= 2 inputs: prange over inputs, one serial CG each."""
    K = rhs_r.shape[0]
    Kg = dr.shape[0]
    for k in prange(K):
        kg = np.int64(k) if Kg > 1 else np.int64(0)
        it, res = _one_pcg(M, N, offr, dr[kg], offc, dc[kg], g[kg], rhs_r[k], rhs_c[k],
                           xr[k], xc[k], tol, maxiter)
        iters[k] = it
        resid[k] = res
    return 0


@njit(cache=True, error_model="numpy")
def solo_pcg(M, N, offr, dr, offc, dc, g, rhs_r, rhs_c, xr, xc, tol, maxiter, iters, resid):
    """:func:`batch_pcg` on the calling thread only (small single solves)."""
    K = rhs_r.shape[0]
    Kg = dr.shape[0]
    for k in range(K):
        kg = k if Kg > 1 else 0
        it, res = _one_pcg(M, N, offr, dr[kg], offc, dc[kg], g[kg], rhs_r[k], rhs_c[k],
                           xr[k], xc[k], tol, maxiter)
        iters[k] = it
        resid[k] = res
    return 0
