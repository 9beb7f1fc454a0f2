"""numba kernels of the compiled Newton path (:mod:`xbar.spice.compiled`).

What is here, and its readable twin that the tests compare against:

* a sparse LU with a fixed pivot order (ngspice's habit: order once, refactor
  with the same pivots while they stay large enough): :func:`lu_symbolic`,
  :func:`lu_factor`, :func:`lu_solve` -- twin: ``scipy.sparse.linalg.spsolve``;
* the residual ``b - A x`` from the element stamps with compensated row sums
  (:func:`stamp_residual`) -- twin: :meth:`xbar.spice.assembly.Pattern.residual`
  (extended precision);
* the device models, scalar: the diode of :mod:`xbar.spice.devices` and the level-1
  MOSFET of :mod:`xbar.spice.mosfet` with their ngspice limiting -- twins: those
  modules' vectorised functions;
* :func:`newton_run` and :func:`sweep_run`: SPICE's Newton iteration over those
  pieces -- twin: :meth:`xbar.spice.newton.DCSystem.newton` (the Python path).

Kernels take plain arrays grouped in tuples (see :mod:`xbar.spice.compiled` for
what each field is) and return status codes; they never raise.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..threads import numba_caps

numba_caps()  # the thread caps of --threads / XBAR_THREADS, now that numba runs

# status codes of newton_run / sweep_run
CONVERGED = 0
NOT_CONVERGED = 1
OVERFLOW = 2  # a device current overflowed (the Python path names it)
NOT_FINITE = 3  # the solve gave non-finite unknowns
REPIVOT = 4  # a pivot became too small: order again and retry

MAX_EXP = 709.0
I_OVERFLOW = 1e300
REFINE_STEPS = 3
REFINE_EPS = 4 * np.finfo(np.float64).eps
E = math.e

# device kinds of the behavioural table
MOS_CHANNEL = 0
MOS_JUNCTION = 1
EXTERNAL = 2  # evaluated by the caller (behavioural expressions)


# --------------------------------------------------------------------- sparse LU
@numba.njit(cache=True)
def lu_symbolic(n, indptr, indices):  # pragma: no cover - compiled
    """Pattern of ``L + U`` (no pivoting) of the CSR pattern ``(indptr, indices)``.

    Row by row: the row's columns below the diagonal are kept as a sorted linked
    list and visited in order; each visited ``k`` adds the columns of ``U``'s row
    ``k`` (fill), inserted behind ``k`` in the list.  Returns ``(lu_ptr, lu_idx,
    lu_diag)``: rows sorted by column, ``lu_diag[i]`` the position of the diagonal
    in row ``i`` (always present).
    """
    mark = np.full(n, -1, dtype=np.int64)
    nxt = np.zeros(n + 1, dtype=np.int64)  # linked list; n is the head
    upper_rows = []
    lower_rows = []
    total = 0
    for i in range(n):
        mark[i] = i
        upper = [i]
        lower = []
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            if mark[j] != i:
                mark[j] = i
                if j < i:
                    lower.append(j)
                else:
                    upper.append(j)
        lower.sort()
        head = n
        nxt[head] = i  # i ends the list (no column below i is >= i)
        prev = head
        for j in lower:
            nxt[prev] = j
            prev = j
        nxt[prev] = i
        k = nxt[head]
        while k < i:
            uk = upper_rows[k]
            for q in range(1, len(uk)):  # uk[0] is k itself
                j = uk[q]
                if mark[j] == i:
                    continue
                mark[j] = i
                if j < i:
                    at = k
                    while nxt[at] < j:
                        at = nxt[at]
                    nxt[j] = nxt[at]
                    nxt[at] = j
                else:
                    upper.append(j)
            k = nxt[k]
        cnt = 0
        k = nxt[head]
        while k < i:
            cnt += 1
            k = nxt[k]
        low = np.empty(cnt, dtype=np.int64)
        k = nxt[head]
        for q in range(cnt):
            low[q] = k
            k = nxt[k]
        up = np.sort(np.array(upper, dtype=np.int64))
        lower_rows.append(low)
        upper_rows.append(up)
        total += cnt + len(up)
    lu_ptr = np.zeros(n + 1, dtype=np.int64)
    lu_idx = np.empty(total, dtype=np.int64)
    lu_diag = np.empty(n, dtype=np.int64)
    for i in range(n):
        low, up = lower_rows[i], upper_rows[i]
        a = lu_ptr[i]
        lu_idx[a : a + len(low)] = low
        lu_diag[i] = a + len(low)
        lu_idx[a + len(low) : a + len(low) + len(up)] = up
        lu_ptr[i + 1] = a + len(low) + len(up)
    return lu_ptr, lu_idx, lu_diag


@numba.njit(cache=True)
def lu_factor(lu, val, w, growth):  # pragma: no cover - compiled
    """Factorise in place: ``val`` holds the permuted matrix on the LU pattern and
    becomes ``L`` (unit diagonal, not stored) and ``U``.

    Returns -1, or the first row with a multiplier ``|l_ik| > growth`` or a pivot
    that is zero or not finite (the pivot order no longer suits: order again).
    """
    ptr, idx, diag = lu[0], lu[1], lu[2]
    n = len(diag)
    for i in range(n):
        a, z = ptr[i], ptr[i + 1]
        for p in range(a, z):
            w[idx[p]] = val[p]
        for p in range(a, diag[i]):
            k = idx[p]
            lik = w[k] / val[diag[k]]
            if not abs(lik) <= growth:
                return i
            w[k] = lik
            for q in range(diag[k] + 1, ptr[k + 1]):
                w[idx[q]] -= lik * val[q]
        for p in range(a, z):
            val[p] = w[idx[p]]
        piv = val[diag[i]]
        if piv == 0.0 or not math.isfinite(piv):
            return i
    return -1


@numba.njit(cache=True)
def lu_solve(lu, val, row_of, col_of, b, x, y):  # pragma: no cover - compiled
    """``x = A^-1 b`` with ``B = A[row_of][:, col_of] = L U`` (``y``: work vector)."""
    ptr, idx, diag = lu[0], lu[1], lu[2]
    n = len(diag)
    for i in range(n):
        s = b[row_of[i]]
        for p in range(ptr[i], diag[i]):
            s -= val[p] * y[idx[p]]
        y[i] = s
    for i in range(n - 1, -1, -1):
        s = y[i]
        for p in range(diag[i] + 1, ptr[i + 1]):
            s -= val[p] * y[idx[p]]
        y[i] = s / val[diag[i]]
    for j in range(n):
        x[col_of[j]] = y[j]


# --------------------------------------------------------------------- residual
@numba.njit(cache=True)
def _add(s, c, r, v):  # pragma: no cover - compiled
    """Neumaier's compensated ``s[r] += v`` (error kept in ``c[r]``)."""
    t = s[r] + v
    if abs(s[r]) >= abs(v):
        c[r] += (s[r] - t) + v
    else:
        c[r] += (v - t) + s[r]
    s[r] = t


@numba.njit(cache=True)
def stamp_residual(st, nl, gshunt, nv, b, x, s, c, out):  # pragma: no cover - compiled
    """``out = b - A x`` from the stamps, each row summed with compensation.

    ``st`` = (lin rows, lin cols, lin values, nl rows, nl cols, nl signs, nl pidx)
    in unknown indices; ``nl`` the nonlinear parameters; ``gshunt`` on the first
    ``nv`` diagonals.
    """
    lr, lc, lv, nr, nc, ns, npi = st
    n = len(b)
    for r in range(n):
        s[r] = b[r]
        c[r] = 0.0
    for k in range(len(lr)):
        _add(s, c, lr[k], -(lv[k] * x[lc[k]]))
    for k in range(len(nr)):
        _add(s, c, nr[k], -((ns[k] * nl[npi[k]]) * x[nc[k]]))
    if gshunt != 0.0:
        for r in range(nv):
            _add(s, c, r, -(gshunt * x[r]))
    big = 0.0
    for r in range(n):
        out[r] = s[r] + c[r]
        if abs(out[r]) > big:
            big = abs(out[r])
    return big


# --------------------------------------------------------------------- devices
@numba.njit(cache=True)
def pnjlim(vnew, vold, vt, vcrit):  # pragma: no cover - compiled
    """ngspice's ``DEVpnjlim``: (limited voltage, limited?)."""
    if vnew > vcrit and abs(vnew - vold) > 2.0 * vt:
        if vold > 0:
            arg = 1.0 + (vnew - vold) / vt
            if arg > 0:
                return vold + vt * math.log(arg), True
            return vcrit, True
        if vnew > 0:
            return vt * math.log(vnew / vt), True
        return 0.0, True
    floor = -vold - 1.0 if vold > 0 else 2.0 * vold - 1.0
    if vnew < 0 and vnew < floor:
        return floor, True
    return vnew, False


@numba.njit(cache=True)
def diode_iv(vd, dp, k, gmin):  # pragma: no cover - compiled
    """Junction current and conductance of diode ``k`` (``dp`` = DiodeParams fields)."""
    csat, vte, _, bvg, tbv, vtebrk = dp
    if vd >= -3.0 * vte[k]:
        evd = math.exp(min(vd / vte[k], MAX_EXP))
        cd = csat[k] * (evd - 1.0)
        gd = csat[k] * evd / vte[k]
    elif bvg[k] and vd < -tbv[k]:
        ev = math.exp(min(-(tbv[k] + vd) / vtebrk[k], MAX_EXP))
        cd = -csat[k] * ev
        gd = csat[k] * ev / vtebrk[k]
    else:
        arg = 3.0 * vte[k] / (vd * E)
        arg = arg * arg * arg
        cd = -csat[k] * (1.0 + arg)
        gd = csat[k] * 3.0 * arg / vd
    return cd + gmin * vd, gd + gmin


@numba.njit(cache=True)
def diode_limit(vnew, vold, dp, k):  # pragma: no cover - compiled
    """``limit_diode`` of :mod:`xbar.spice.devices` for diode ``k``."""
    _, vte, vcrit, bvg, tbv, vtebrk = dp
    if bvg[k] and vnew < min(0.0, -tbv[k] + 10.0 * vtebrk[k]):
        v2, lim = pnjlim(-(vnew + tbv[k]), -(vold + tbv[k]), vtebrk[k], vcrit[k])
        return -(v2 + tbv[k]), lim
    return pnjlim(vnew, vold, vte[k], vcrit[k])


@numba.njit(cache=True)
def diode_at_clamp(vd, dp, k):  # pragma: no cover - compiled
    _, vte, _, bvg, tbv, vtebrk = dp
    if vd >= -3.0 * vte[k]:
        return vd / vte[k] >= MAX_EXP
    if bvg[k] and vd < -tbv[k]:
        return -(tbv[k] + vd) / vtebrk[k] >= MAX_EXP
    return False


@numba.njit(cache=True)
def fetlim(vnew, vold, vto):  # pragma: no cover - compiled
    """ngspice's ``DEVfetlim``."""
    vtsthi = abs(2.0 * (vold - vto)) + 2.0
    vtstlo = vtsthi / 2.0 + 2.0
    vtox = vto + 3.5
    delv = vnew - vold
    if vold >= vto:
        if vold >= vtox:
            if delv <= 0:
                if vnew >= vtox:
                    if -delv > vtstlo:
                        return vold - vtstlo
                    return vnew
                return max(vnew, vto + 2.0)
            if delv >= vtsthi:
                return vold + vtsthi
            return vnew
        if delv <= 0:
            return max(vnew, vto - 0.5)
        return min(vnew, vto + 4.0)
    if delv <= 0:
        if -delv > vtsthi:
            return vold - vtsthi
        return vnew
    vtemp = vto + 0.5
    if vnew <= vtemp:
        if delv > vtstlo:
            return vold + vtstlo
        return vnew
    return vtemp


@numba.njit(cache=True)
def limvds(vnew, vold):  # pragma: no cover - compiled
    """ngspice's ``DEVlimvds``."""
    if vold >= 3.5:
        if vnew > vold:
            return min(vnew, 3.0 * vold + 2.0)
        if vnew < 3.5:
            return max(vnew, 2.0)
        return vnew
    if vnew > vold:
        return min(vnew, 4.0)
    return max(vnew, -0.5)


@numba.njit(cache=True)
def _von(prm, vbs):  # pragma: no cover - compiled
    """(von, sarg) of a level-1 channel; ``prm`` = sign, beta, vbi, phi, gamma, lam, vt, vcrit."""
    phi = prm[3]
    sq = math.sqrt(phi)
    if vbs <= 0:
        sarg = math.sqrt(max(phi - vbs, 0.0))
    else:
        sarg = max(0.0, sq - vbs / (2.0 * sq))
    return prm[2] * prm[0] + prm[4] * sarg, sarg


@numba.njit(cache=True)
def mos_channel(prm, v, di):  # pragma: no cover - compiled
    """``MosChannel.evaluate`` for one device: current d'->s', derivatives into ``di``."""
    t, beta, lam = prm[0], prm[1], prm[5]
    vd, vg, vs, vb = v[0], v[1], v[2], v[3]
    vds, vgs, vbs = t * (vd - vs), t * (vg - vs), t * (vb - vs)
    mode = 1.0 if vds >= 0 else -1.0
    vbx = vbs if mode > 0 else vbs - vds
    vgx = vgs if mode > 0 else vgs - vds
    vdx = vds * mode
    von, sarg = _von(prm, vbx)
    vgst = vgx - von
    arg = prm[4] / (2.0 * sarg) if sarg > 0 else 0.0
    betap = beta * (1.0 + lam * vdx)
    if vgst > 0:
        if vgst <= vdx:
            cdrain = betap * vgst * vgst * 0.5
            gm = betap * vgst
            gds = lam * beta * vgst * vgst * 0.5
        else:
            cdrain = betap * vdx * (vgst - 0.5 * vdx)
            gm = betap * vdx
            gds = betap * (vgst - vdx) + lam * beta * vdx * (vgst - 0.5 * vdx)
    else:
        cdrain = gm = gds = 0.0
    gmbs = gm * arg
    if mode > 0:
        di[0], di[1], di[2], di[3] = gds, gm, -(gm + gds + gmbs), gmbs
    else:
        di[0], di[1], di[2], di[3] = gm + gds + gmbs, -gm, -gds, -gmbs
    return t * mode * cdrain


@numba.njit(cache=True)
def mos_channel_limit(prm, v, vo, out):  # pragma: no cover - compiled
    """``MosChannel.limit`` for one device: limited terminal voltages into ``out``."""
    t, vt, vcrit = prm[0], prm[6], prm[7]
    vd, vg, vs, vb = v[0], v[1], v[2], v[3]
    od, og, os_, ob = vo[0], vo[1], vo[2], vo[3]
    vgs, vds, vbs = t * (vg - vs), t * (vd - vs), t * (vb - vs)
    vgs_o, vds_o, vbs_o = t * (og - os_), t * (od - os_), t * (ob - os_)
    vgd = vgs - vds
    vgdo = vgs_o - vds_o
    fwd_o = vds_o >= 0
    von_o, _ = _von(prm, vbs_o if fwd_o else vbs_o - vds_o)
    if fwd_o:
        vgs_l = fetlim(vgs, vgs_o, von_o)
        vds_l = limvds(vds if vgs_l == vgs else vgs_l - vgd, vds_o)
    else:
        vgd_r = fetlim(vgd, vgdo, von_o)
        vds_l = -limvds(-(vds if vgd_r == vgd else vgs - vgd_r), -vds_o)
        vgs_l = vgs if (vgd_r == vgd and vds_l == vds) else vgd_r + vds_l
    vbd_o = vbs_o - vds_o
    if vds_l >= 0:
        vbs_l, _ = pnjlim(vbs, vbs_o, vt, vcrit)
    else:
        vbd_in = vbs - vds_l
        vbd_p, _ = pnjlim(vbd_in, vbd_o, vt, vcrit)
        vbs_l = vbs if vbd_p == vbd_in else vbd_p + vds_l
    out[0] = vs + t * vds_l if vds_l != vds else vd
    out[1] = vs + t * vgs_l if vgs_l != vgs else vg
    out[2] = vs
    out[3] = vs + t * vbs_l if vbs_l != vbs else vb


@numba.njit(cache=True)
def mos_junction(prm, v, di):  # pragma: no cover - compiled
    """``MosJunction.evaluate``: current b->x; ``prm`` = sign, isat, vt, vcrit, gmin."""
    t, isat, vt, gmin = prm[0], prm[1], prm[2], prm[4]
    vj = t * (v[0] - v[1])
    if vj <= -3.0 * vt:
        c = gmin * vj - isat
        g = gmin
    else:
        ev = math.exp(min(vj / vt, MAX_EXP))
        c = isat * (ev - 1.0) + gmin * vj
        g = isat * ev / vt + gmin
    di[0], di[1] = g, -g
    return t * c


@numba.njit(cache=True)
def mos_junction_limit(prm, v, vo, out):  # pragma: no cover - compiled
    t, vt, vcrit = prm[0], prm[2], prm[3]
    vj = t * (v[0] - v[1])
    lim, _ = pnjlim(vj, t * (vo[0] - vo[1]), vt, vcrit)
    out[0] = v[1] + t * lim if lim != vj else v[0]
    out[1] = v[1]


# --------------------------------------------------------------------- Newton
@numba.njit(cache=True)
def _control(ve, ctrl, k, m, out):  # pragma: no cover - compiled
    for c in range(m):
        out[c] = ve[ctrl[k, c, 0]] - ve[ctrl[k, c, 1]]


@numba.njit(cache=True)
def _bad_current(i):  # pragma: no cover - compiled
    return not (math.isfinite(i) and abs(i) <= I_OVERFLOW)


@numba.njit(cache=True)
def _linearise(dev, state, ve, ws):  # pragma: no cover - compiled
    """New device state at the unknowns in ``ve`` (limited against the old state).

    Returns ``(limited, overflowed)``.
    """
    dp, d_prime, d_neg, bkind, bprm = dev[0], dev[1], dev[2], dev[3], dev[4]
    bctrl, bnctl, gmin = dev[5], dev[6], dev[7]
    vd, cd, gd, vb, ib, dib = state
    vtmp, vlim, dtmp = ws[13], ws[14], ws[15]
    limited = False
    over = False
    for k in range(len(vd)):
        v, lim = diode_limit(ve[d_prime[k]] - ve[d_neg[k]], vd[k], dp, k)
        cd[k], gd[k] = diode_iv(v, dp, k, gmin)
        vd[k] = v
        limited |= lim
        if _bad_current(cd[k]) or not math.isfinite(gd[k]) or diode_at_clamp(v, dp, k):
            over = True
    for k in range(len(ib)):
        m = bnctl[k]
        _control(ve, bctrl, k, m, vtmp)
        if bkind[k] == EXTERNAL:
            continue
        prm = bprm[k]
        if bkind[k] == MOS_CHANNEL:
            mos_channel_limit(prm, vtmp, vb[k], vlim)
            i = mos_channel(prm, vlim, dtmp)
        else:
            mos_junction_limit(prm, vtmp, vb[k], vlim)
            i = mos_junction(prm, vlim, dtmp)
            if prm[0] * (vlim[0] - vlim[1]) / prm[2] >= MAX_EXP:
                over = True
        ib[k] = i
        if _bad_current(i):
            over = True
        for c in range(m):
            limited |= vlim[c] != vtmp[c]
            vb[k, c] = vlim[c]
            dib[k, c] = dtmp[c]
            if not math.isfinite(dtmp[c]):
                over = True
    return limited, over


@numba.njit(cache=True)
def _devices_converged(dev, state, ve, reltol, abstol, btol, ws):  # pragma: no cover
    """ngspice's device-current test at the new unknowns ``ve`` (all devices); ``btol``
    is each B row's absolute tolerance (vntol for a voltage source, as ngspice's
    ASRCconvTest, else abstol)."""
    d_prime, d_neg, bnctl, bctrl = dev[1], dev[2], dev[6], dev[5]
    vd, cd, gd, vb, ib, dib = state
    vtmp = ws[13]
    for k in range(len(vd)):
        hat = cd[k] + gd[k] * (ve[d_prime[k]] - ve[d_neg[k]] - vd[k])
        if not abs(hat - cd[k]) <= reltol * max(abs(hat), abs(cd[k])) + abstol:
            return False
    for k in range(len(ib)):
        m = bnctl[k]
        _control(ve, bctrl, k, m, vtmp)
        s = 0.0
        for c in range(m):
            s += dib[k, c] * (vtmp[c] - vb[k, c])
        hat = ib[k] + s
        if not abs(hat - ib[k]) <= reltol * max(abs(hat), abs(ib[k])) + btol[k]:
            return False
    return True


@numba.njit(cache=True)
def _assemble(sy, state, src, gshunt, ws):  # pragma: no cover - compiled
    """Matrix values on the LU pattern (into ``val`` and ``aval``), right-hand side
    into ``b``; returns the scale ``max|a_ij| * longest row``."""
    asm, srcm, comp, dev, conv = sy[2], sy[4], sy[5], sy[6], sy[7]
    base, nl_slot, nl_sign, nl_pidx, diag_slot = asm
    vd, cd, gd, vb, ib, dib = state
    val, aval, b, bn, nl = ws[0], ws[1], ws[4], ws[5], ws[12]
    bpbase, bnctl = dev[8], dev[6]
    nd = len(vd)
    for k in range(nd):
        nl[k] = gd[k]
    for k in range(len(ib)):
        for c in range(bnctl[k]):
            nl[bpbase[k] + c] = dib[k, c]
    val[:] = base
    for s in range(len(nl_slot)):
        val[nl_slot[s]] += nl_sign[s] * nl[nl_pidx[s]]
    if gshunt != 0.0:
        for r in range(conv[5]):
            val[diag_slot[r]] += gshunt
    big = 0.0
    for p in range(len(val)):
        aval[p] = val[p]
        if abs(val[p]) > big:
            big = abs(val[p])
    b[:] = 0.0
    bn[:] = 0.0
    rows, cols, vals = srcm
    for q in range(len(rows)):
        b[rows[q]] += vals[q] * src[cols[q]]
    rows, cols, vals = comp
    for q in range(len(rows)):
        j = cols[q]
        if j < nd:
            ieq = cd[j] - gd[j] * vd[j]
        else:
            k = j - nd
            s = 0.0
            for c in range(bnctl[k]):
                s += dib[k, c] * vb[k, c]
            ieq = ib[k] - s
        bn[rows[q]] += vals[q] * ieq
    for r in range(len(b)):
        b[r] += bn[r]
    return big * conv[3]


@numba.njit(cache=True)
def _solve(sy, gshunt, scale, ws, x):  # pragma: no cover - compiled
    """LU solve of the assembled system into ``x`` with iterative refinement against
    the stamp residual (the rules of :class:`xbar.spice.linsolve.Factorizer`)."""
    lu, perm, st, conv = sy[0], sy[1], sy[3], sy[7]
    val, y, b, r, s, c, xn, nl = ws[0], ws[3], ws[4], ws[6], ws[8], ws[9], ws[10], ws[12]
    nv = conv[5]
    lu_solve(lu, val, perm[0], perm[1], b, x, y)
    for k in range(len(x)):
        if not math.isfinite(x[k]):
            return False
    res = stamp_residual(st, nl, gshunt, nv, b, x, s, c, r)
    bmax = 0.0
    for k in range(len(b)):
        bmax = max(bmax, abs(b[k]))
    for step in range(REFINE_STEPS):
        if step == 0:
            tol = 0.0
        else:
            xmax = 0.0
            for k in range(len(x)):
                xmax = max(xmax, abs(x[k]))
            tol = REFINE_EPS * (scale * xmax + bmax)
        if res <= tol:
            break
        lu_solve(lu, val, perm[0], perm[1], r, xn, y)
        for k in range(len(x)):
            xn[k] += x[k]
        res_new = stamp_residual(st, nl, gshunt, nv, b, xn, s, c, r)
        if not (res_new < (0.5 * res if step else res)):
            # r now holds the rejected step's residual: it is not used again
            break
        x[:] = xn
        res = res_new
    return True


@numba.njit(cache=True)
def newton_step(sy, state, x, src, gshunt, linearise, ws):  # pragma: no cover
    """One Newton iteration from ``x``: the kernel's devices linearised at ``x``
    (when ``linearise``; EXTERNAL rows are left as the caller set them), assembly,
    LU, solve with refinement into ``ws[7]``.

    Returns ``(status, limited, worst)``: status 0 (solved), OVERFLOW, REPIVOT or
    NOT_FINITE; whether a device was limited; the largest update against its
    tolerance.
    """
    lu, dev, conv = sy[0], sy[6], sy[7]
    reltol, abs_tol, growth = conv[0], conv[2], conv[4]
    ve, xn = ws[11], ws[7]
    limited = False
    if linearise:
        ve[0] = 0.0
        ve[1:] = x
        limited, over = _linearise(dev, state, ve, ws)
        if over:
            return OVERFLOW, limited, np.inf
    scale = _assemble(sy, state, src, gshunt, ws)
    if lu_factor(lu, ws[0], ws[2], growth) >= 0:
        return REPIVOT, limited, np.inf
    if not _solve(sy, gshunt, scale, ws, xn):
        return NOT_FINITE, limited, np.inf
    worst = 0.0
    for k in range(len(x)):
        tol = reltol * max(abs(xn[k]), abs(x[k])) + abs_tol[k]
        worst = max(worst, abs(xn[k] - x[k]) / tol)
    return CONVERGED, limited, worst


@numba.njit(cache=True)
def devices_converged(sy, state, xn, ws):  # pragma: no cover - compiled
    """ngspice's device-current test of every device at the unknowns ``xn``."""
    conv, ve = sy[7], ws[11]
    ve[0] = 0.0
    ve[1:] = xn
    return _devices_converged(sy[6], state, ve, conv[0], conv[1], conv[6], ws)


@numba.njit(cache=True)
def newton_point(sy, state, x, src, gshunt, fresh, maxiter, ws):  # pragma: no cover
    """Newton from ``x`` (updated in place) with the devices at ``state`` (no
    EXTERNAL rows).

    Returns ``(status, iterations)``; on CONVERGED ``x`` and ``state`` are the
    solution and its linearisation point.
    """
    xn = ws[7]
    for it in range(1, maxiter + 1):
        status, limited, worst = newton_step(sy, state, x, src, gshunt, not (fresh and it == 1), ws)
        if status != CONVERGED:
            return status, it
        if it > 1 and not limited and worst <= 1.0 and devices_converged(sy, state, xn, ws):
            x[:] = xn
            return CONVERGED, it
        x[:] = xn
    return NOT_CONVERGED, maxiter


@numba.njit(cache=True)
def _copy_state(a, b):  # pragma: no cover - compiled
    b[0][:] = a[0]
    b[1][:] = a[1]
    b[2][:] = a[2]
    b[3][:] = a[3]
    b[4][:] = a[4]
    b[5][:] = a[5]


@numba.njit(cache=True)
def sweep_run(sy, state, x, block, p0, p1, maxiter, ws, keep, xs, iters):  # pragma: no cover
    """Sweep points ``p0 .. p1-1``, each from the previous solution (``x``, ``state``).

    Stops at the first point whose Newton fails, restoring ``x`` and ``state`` to
    the previous point's solution (``keep`` = backup of both); returns
    ``(status, point reached)``.
    """
    kx, kstate = keep
    for p in range(p0, p1):
        kx[:] = x
        _copy_state(state, kstate)
        status, it = newton_point(sy, state, x, block[:, p], 0.0, False, maxiter, ws)
        if status != CONVERGED:
            x[:] = kx
            _copy_state(kstate, state)
            return status, p
        xs[p] = x
        iters[p] = it
    return CONVERGED, p1


@numba.njit(cache=True)
def linear_block(sy, state, block, ws, xs):  # pragma: no cover - compiled
    """Solve a linear circuit for every source vector (column of ``block``) into the
    rows of ``xs``: one factorisation, then LU solve and refinement per column.

    Returns -1, or the row of a failed pivot (REPIVOT), or -2 (not finite).
    """
    lu, srcm, conv = sy[0], sy[4], sy[7]
    scale = _assemble(sy, state, block[:, 0], 0.0, ws)
    bad = lu_factor(lu, ws[0], ws[2], conv[4])
    if bad >= 0:
        return bad
    b = ws[4]
    rows, cols, vals = srcm
    x = ws[7]
    for p in range(block.shape[1]):
        b[:] = 0.0
        for q in range(len(rows)):
            b[rows[q]] += vals[q] * block[cols[q], p]
        if not _solve(sy, 0.0, scale, ws, x):
            return -2
        xs[p] = x
    return -1
