"""Nonlinear device equations for DC analysis (diodes, behavioural sources).

Diodes follow ngspice's DC diode model (``dioload.c``/``diotemp.c``):

* ``Vt = k T / q`` with ngspice's constants and ``T`` the diode's temperature
  (instance TEMP, else circuit temperature + DTEMP); IS scaled from the model's
  TNOM to ``T`` with its EG and XTI (``diotemp.c``, TLEV = 0), BV shifted by
  ``TCV (T - TNOM)``, RS scaled by ``1 + TRS1 dT + TRS2 dT^2``;
* forward region (``vd >= -3 n Vt``): ``I = IS*area*(exp(vd/(n Vt)) - 1)``;
* reverse region: ``I = -IS*area*(1 + (3 n Vt / (e vd))^3)``;
* breakdown (only if ``BV`` is given, ``vd < -BV'``):
  ``I = -IS*area*exp(-(BV' + vd)/(n Vt))`` where ``BV'`` is ngspice's
  breakdown voltage adjusted so the current at ``-BV`` is ``IBV``;
* ``gmin`` in parallel with the junction (``I += gmin*vd``);
* ``RS/area`` in series, through an internal anode node;
* junction limiting with ngspice's ``DEVpnjlim`` and ``vcrit``.

Behavioural current sources (``B``) are evaluated by their expression
objects; :func:`limit_bsource` bounds the change of their control voltages
per Newton iteration so exponentials cannot run away (the analogue of
junction limiting for arbitrary expressions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CircuitError
from .circuit import Circuit, Options

#: ngspice's physical constants (const.h)
CONSTBOLTZ = 1.38064852e-23
CHARGE = 1.6021766208e-19
CONSTKOVERQ = CONSTBOLTZ / CHARGE
CONSTCTOK = 273.15
CONSTE = np.exp(1.0)
CONSTROOT2 = np.sqrt(2.0)

_MAX_EXP = 709.0


@dataclass
class DiodeParams:
    """Per-diode arrays of the temperature-updated model (SI units).

    ``csat`` [A], ``vte = n Vt`` [V], ``vcrit`` [V], ``bv_given`` (bool),
    ``tbv`` breakdown voltage after matching ``IBV`` [V], ``vtebrk`` [V].
    """

    csat: np.ndarray
    vte: np.ndarray
    vcrit: np.ndarray
    bv_given: np.ndarray
    tbv: np.ndarray
    vtebrk: np.ndarray

    def __len__(self) -> int:
        return len(self.csat)

    @classmethod
    def of(cls, circuit: Circuit, options: Options) -> DiodeParams:
        d = circuit.diodes
        temps = d.temperatures(options)
        n = len(d)
        csat = np.empty(n)
        vte = np.empty(n)
        vtebrk = np.empty(n)
        bv_given = np.zeros(n, dtype=bool)
        tbv = np.full(n, np.inf)
        for k, m in enumerate(d.model):
            temp = float(temps[k])
            tnom = (options.tnom if m.tnom is None else m.tnom) + CONSTCTOK
            vt = CONSTKOVERQ * temp
            area = float(d.area[k])
            if not (m.is_ > 0 and m.n > 0 and area > 0 and np.isfinite(m.is_ * m.n * area)):
                raise CircuitError(
                    f"diode {d.name[k]} (model {m.name}): IS, N and area must be positive "
                    f"and finite (IS={float(m.is_):g}, N={float(m.n):g}, area={area:g})",
                    location=circuit.locations.get(d.name[k]),
                )
            vte[k] = m.n * vt
            nbv = m.n if m.nbv is None else m.nbv
            vtebrk[k] = nbv * vt
            # saturation current at the diode's temperature (diotemp.c, TLEV=0; EG is
            # limited to at least 0.1 eV as ngspice does)
            eg = max(m.eg, 0.1)
            arg = (temp / tnom - 1.0) * eg / vte[k] + m.xti / m.n * np.log(temp / tnom)
            csat[k] = m.is_ * area * np.exp(arg)
            if np.isfinite(m.bv):
                bv_given[k] = True
                bv = m.bv - m.tcv * (temp - tnom)
                tbv[k] = _breakdown_voltage(bv, m.ibv, csat[k], nbv, vt, options.reltol)
        vcrit = vte * np.log(vte / (CONSTROOT2 * csat))
        return cls(csat, vte, vcrit, bv_given, tbv, vtebrk)


def _breakdown_voltage(
    bv: float, ibv: float, csat: float, nbv: float, vt: float, reltol: float
) -> float:
    """ngspice's ``DIOtBrkdwnV``: BV shifted so that I(-BV) matches IBV (diotemp.c)."""
    cbv = ibv
    if cbv < csat * bv / vt:
        return bv
    tol = reltol * cbv
    xbv = bv - nbv * vt * np.log(1 + cbv / csat)
    for _ in range(25):
        xbv = bv - nbv * vt * np.log(cbv / csat + 1 - xbv / vt)
        xcbv = csat * (np.exp((bv - xbv) / (nbv * vt)) - 1 + xbv / vt)
        if abs(xcbv - cbv) <= tol:
            break
    return float(xbv)


def diode_current(vd: np.ndarray, p: DiodeParams, gmin: float):
    """Junction current and conductance at junction voltage ``vd`` [V].

    Returns
    -------
    cd : ndarray
        Current from anode to cathode through the junction [A] (gmin included).
    gd : ndarray
        ``d cd / d vd`` [S] (gmin included).
    """
    vd = np.asarray(vd, dtype=np.float64)
    fwd = vd >= -3.0 * p.vte
    brk = p.bv_given & (vd < -p.tbv) & ~fwd
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        evd = np.exp(np.minimum(vd / p.vte, _MAX_EXP))
        cd_f = p.csat * (evd - 1.0)
        gd_f = p.csat * evd / p.vte
        arg = 3.0 * p.vte / (vd * CONSTE)
        arg = arg * arg * arg
        cd_r = -p.csat * (1.0 + arg)
        gd_r = p.csat * 3.0 * arg / vd
        evrev = np.exp(np.minimum(-(p.tbv + vd) / p.vtebrk, _MAX_EXP))
        cd_b = -p.csat * evrev
        gd_b = p.csat * evrev / p.vtebrk
    cd = np.where(fwd, cd_f, np.where(brk, cd_b, cd_r))
    gd = np.where(fwd, gd_f, np.where(brk, gd_b, gd_r))
    return cd + gmin * vd, gd + gmin


def diode_at_clamp(vd: np.ndarray, p: DiodeParams) -> np.ndarray:
    """Where the junction's exponential sits at its overflow clamp (``exp(709)``).

    A current computed there is not the model's value, so a Newton result with
    such a diode is not a solution (:class:`~xbar.errors.ConvergenceError`).
    """
    vd = np.asarray(vd, dtype=np.float64)
    fwd = vd >= -3.0 * p.vte
    brk = p.bv_given & (vd < -p.tbv) & ~fwd
    with np.errstate(all="ignore"):
        return (fwd & (vd / p.vte >= _MAX_EXP)) | (brk & (-(p.tbv + vd) / p.vtebrk >= _MAX_EXP))


def pnjlim(vnew, vold, vt, vcrit):
    """ngspice's ``DEVpnjlim`` (vectorised): limit a junction voltage update.

    Returns the limited voltage and a boolean array telling where it was limited.
    """
    vnew = np.asarray(vnew, dtype=np.float64)
    vold = np.asarray(vold, dtype=np.float64)
    up = (vnew > vcrit) & (np.abs(vnew - vold) > 2.0 * vt)
    with np.errstate(divide="ignore", invalid="ignore"):
        arg = 1.0 + (vnew - vold) / vt
        from_pos = np.where(arg > 0, vold + vt * np.log(np.where(arg > 0, arg, 1.0)), vcrit)
        from_neg = vt * np.log(np.where(vnew > 0, vnew / vt, 1.0))
    v_up = np.where(vold > 0, from_pos, from_neg)
    floor = np.where(vold > 0, -vold - 1.0, 2.0 * vold - 1.0)
    down = ~up & (vnew < 0) & (vnew < floor)
    out = np.where(up, v_up, np.where(down, floor, vnew))
    return out, up | down


def limit_diode(vd_new, vd_old, p: DiodeParams):
    """Junction limiting of ``dioload.c``: pnjlim, mirrored around -BV in breakdown."""
    limit_bd = p.bv_given & (vd_new < np.minimum(0.0, -p.tbv + 10.0 * p.vtebrk))
    v1, c1 = pnjlim(vd_new, vd_old, p.vte, p.vcrit)
    if not limit_bd.any():
        return v1, c1
    tbv = np.where(p.bv_given, p.tbv, 0.0)
    v2, c2 = pnjlim(-(vd_new + tbv), -(vd_old + tbv), p.vtebrk, p.vcrit)
    v2 = -(v2 + tbv)
    return np.where(limit_bd, v2, v1), np.where(limit_bd, c2, c1)


# ---------------------------------------------------------------- B sources
def evaluate_bsource(expr, v: np.ndarray):
    """Evaluate a behavioural source expression for many sources at once.

    Parameters
    ----------
    expr : Expression
        Object with ``evaluate(list of arrays) -> (value, [derivatives])``.
    v : ndarray, shape (n sources, n controls)
        Control voltages [V].

    Returns
    -------
    i : ndarray, shape (n sources,)
        Source currents [A].
    di : ndarray, shape (n sources, n controls)
        ``d i / d v`` [S].
    """
    n, m = v.shape
    with np.errstate(all="ignore"):
        value, derivs = expr.evaluate([v[:, k] for k in range(m)])
    i = np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()
    di = np.empty((n, m))
    for k in range(m):
        di[:, k] = np.broadcast_to(np.asarray(derivs[k], dtype=np.float64), (n,))
    return i, di


#: a behavioural source's current may change by at most this factor times the
#: linear prediction (plus its present magnitude) in one Newton iteration
B_LIMIT_FACTOR = 10.0
B_LIMIT_FLOOR = 1e-9


def limit_bsource(expr, v_new, v_old, i_old, di_old, *, floor: float = B_LIMIT_FLOOR):
    """Bound the step of behavioural-source control voltages.

    Where the current at ``v_new`` is not finite or departs from the
    linearisation at ``v_old`` by more than ``B_LIMIT_FACTOR`` times the
    predicted change (plus the present current and ``floor``), the control
    voltages are pulled back along the segment ``v_old -> v_new`` (bisection)
    until the current stays within that bound -- the same idea as junction
    limiting, where the new current is held near the linear prediction.

    Returns ``(v, i, di, limited, overflow)`` with ``limited`` a boolean per
    source, and ``overflow`` a boolean per source telling where the current or
    its derivatives at ``v_new`` were not finite (overflowed).
    """
    with np.errstate(all="ignore"):
        return _limit_bsource(expr, v_new, v_old, i_old, di_old, floor)


def _limit_bsource(expr, v_new, v_old, i_old, di_old, floor):
    if hasattr(expr, "limit"):  # a device model with its own (SPICE) limiting
        v_lim = expr.limit(v_new, v_old)
        moved = None
        if isinstance(v_lim, tuple):  # (v, changed): a switch whose state changed
            v_lim, moved = v_lim
        i_new, di_new = evaluate_bsource(expr, v_lim)
        finite = np.isfinite(i_new) & np.all(np.isfinite(di_new), axis=1)
        if moved is None:
            moved = np.any(v_lim != v_new, axis=1)
        return v_lim, i_new, di_new, moved, ~finite
    i_new, di_new = evaluate_bsource(expr, v_new)
    dv = v_new - v_old
    pred = np.abs(np.sum(di_old * dv, axis=1))
    allowed = B_LIMIT_FACTOR * (pred + np.abs(i_old)) + floor
    finite = np.isfinite(i_new) & np.all(np.isfinite(di_new), axis=1)
    bad = ~finite | (np.abs(i_new - i_old) > allowed)
    if not bad.any():
        return v_new, i_new, di_new, bad, ~finite
    idx = np.flatnonzero(bad)
    if hasattr(expr, "take"):  # per-source constants: evaluate the flagged subset only
        expr = expr.take(idx)
    lo = np.zeros(len(idx))
    hi = np.ones(len(idx))
    v0, d0, a0, i0 = v_old[idx], dv[idx], allowed[idx], i_old[idx]
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        im, dim = evaluate_bsource(expr, v0 + mid[:, None] * d0)
        ok = np.isfinite(im) & np.all(np.isfinite(dim), axis=1) & (np.abs(im - i0) <= a0)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    v = v_new.copy()
    v[idx] = v0 + lo[:, None] * d0
    i_lim, di_lim = evaluate_bsource(expr, v[idx])
    # a step (u(), a comparison, a ternary) jumps where no limited point nears the bound;
    # a ramp leaving a flat stretch (u2, uramp, max: zero slope there) is predicted well by
    # its slope at the limited point, unlike an exponential: holding either back would
    # stall Newton for ever, so they take the full step (ngspice limits no B source)
    rest = np.abs(np.sum(di_lim * (v_new[idx] - v[idx]), axis=1))
    ramp = np.abs(i_new[idx] - i_lim) <= B_LIMIT_FACTOR * (rest + np.abs(i_lim)) + floor
    step = np.isfinite(i_lim) & ((np.abs(i_lim - i0) < 0.5 * a0) | ramp) & finite[idx]
    if step.any():
        keep = idx[step]
        v[keep] = v_new[keep]
        bad = bad.copy()
        bad[keep] = False
        i_lim = np.where(step, i_new[idx], i_lim)
        di_lim = np.where(step[:, None], di_new[idx], di_lim)
    i_new[idx] = i_lim
    di_new[idx] = di_lim
    return v, i_new, di_new, bad, ~finite


# ---------------------------------------------------------------- S / W switches
class SwitchConductance:
    """An S or W switch as ngspice's DC runs it (``swload.c``): a conductance ``gon`` or
    ``goff`` between its terminals, by a state that each Newton iteration updates from the
    control value at the previous iterate.

    Controls: ``v(n+, n-)`` [V] and the control value (``v(nc+, nc-)`` [V] or
    ``i(vsource)`` [A]).  With hysteresis ``h > 0`` the switch turns on above
    ``threshold + h``, off below ``threshold - h`` and keeps its state between; with
    ``h = 0`` it is on from the threshold up.  A fresh operating point starts from the
    declared state (``on``/``off``, ngspice's INITJCT); a continued one (a ``.dc`` point
    after another) from the state reached before, so sweeps carry it as ngspice does.
    A state change marks the iteration as limited (not converged), as ngspice's
    ``CKTnoncon++``.

    >>> import numpy as np
    >>> sw = SwitchConductance(0.5, 0.1, 1.0, 1e-6, False, [("a", "b"), ("c", "0")])
    >>> sw.limit(np.array([[1.0, 0.55]]), None)[1]  # inside the band: stays off
    array([False])
    >>> sw.limit(np.array([[1.0, 0.7]]), None)[1], sw.evaluate([np.ones(1), np.ones(1)])[0]
    (array([ True]), array([1.]))
    """

    #: switches form one group of behavioural sources (:meth:`merged` joins them)
    canonical = "switch"

    def __init__(self, threshold, hysteresis, gon, goff, initially_on, controls=()):
        self.threshold = np.atleast_1d(np.asarray(threshold, dtype=float))
        self.hysteresis = np.atleast_1d(np.asarray(hysteresis, dtype=float))
        self.gon = np.atleast_1d(np.asarray(gon, dtype=float))
        self.goff = np.atleast_1d(np.asarray(goff, dtype=float))
        self.initially_on = np.atleast_1d(np.asarray(initially_on, dtype=bool))
        self.controls = list(controls)
        self.on = self.initially_on.copy()

    @classmethod
    def merged(cls, switches) -> SwitchConductance:
        """One object for the switches ``switches`` (a group of behavioural sources)."""
        cols = ("threshold", "hysteresis", "gon", "goff", "initially_on")
        return cls(*(np.concatenate([getattr(w, c) for w in switches]) for c in cols))

    def reset(self) -> None:
        """Back to the declared states (a fresh operating point)."""
        self.on = self.initially_on.copy()

    def evaluate(self, v):
        """Currents ``v(n+, n-) * g`` [A] and derivatives (``g``, 0) in the present states."""
        vab = np.asarray(v[0], dtype=float)
        g = np.broadcast_to(np.where(self.on, self.gon, self.goff), vab.shape)
        return vab * g, [g, np.zeros(vab.shape)]

    def next_state(self, value: np.ndarray) -> np.ndarray:
        """ngspice's state update for the control values ``value``."""
        t, h = self.threshold, self.hysteresis
        hyst = np.where(value > t + h, True, np.where(value < t - h, False, self.on))
        return np.where(h == 0.0, value >= t, hyst)

    def limit(self, v_new, v_old):
        """Take the state for the control values ``v_new[:, 1]``; ``(v_new, changed)``."""
        new = self.next_state(np.asarray(v_new)[:, 1])
        changed = new != self.on
        self.on = new
        return v_new, changed
