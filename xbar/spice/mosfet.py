"""MOSFET level 1 (Shichman-Hodges) for DC analysis, as ngspice's ``mos1load.c``.

A MOSFET ``M<name> d g s b <model>`` is three nonlinear currents, each a
behavioural source of the engine (so it shares assembly, Newton and the device
convergence test with ``B`` sources):

* the channel current from the internal drain ``d'`` to the internal source
  ``s'`` (:class:`MosChannel`, controls ``V(d'), V(g), V(s'), V(b)``);
* the bulk-source and bulk-drain junctions from ``b`` to ``s'`` and ``d'``
  (:class:`MosJunction`, controls ``V(b), V(x)``), with ngspice's ``gmin``;

plus the linear series resistances ``RD``/``RS`` (or ``RSH * NRD``/``NRS``) as
resistors to the internal nodes.  In the "normalised" voltages of ngspice
(``v = type * V``, type +1 for NMOS and -1 for PMOS) and mode +1 for
``vds >= 0`` (-1: drain and source swap roles)::

    sarg = sqrt(PHI - vbs)                      (vbs <= 0)
         = max(0, sqrt(PHI) - vbs / (2 sqrt(PHI)))  (vbs > 0)
    von  = type * VBI + GAMMA * sarg,  VBI = VTO - type * GAMMA * sqrt(PHI)
    vgst = vgs - von
    Ids  = 0                                        (vgst <= 0, cutoff)
         = beta (1 + LAMBDA vds) vgst^2 / 2         (vgst <= vds, saturation)
         = beta (1 + LAMBDA vds) vds (vgst - vds/2) (linear)
    beta = KP * M * W / (L - 2 LD)

The junctions: ``I = Isat (exp(v/Vt) - 1) + gmin v`` for ``v > -3 Vt``, else
``gmin v - Isat`` (``Isat = M * IS``, or ``M * JS * AD`` / ``AS`` when JS and
both areas are given).  Newton limiting is ngspice's: ``DEVfetlim`` on vgs (or
vgd in inverse mode) around the previous ``von``, ``DEVlimvds`` on vds and
``DEVpnjlim`` on vbs (vbd).  KP, PHI, VBI and IS are scaled to the device
temperature as ngspice's ``mos1temp.c`` does.

A circuit holds its MOSFETs as a table (:class:`~xbar.spice.circuit.Mosfets`);
:func:`expand_mosfets` turns them into these engine devices before a solve.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

from ..errors import CircuitError
from .circuit import BSource, Circuit, MosModel, Options, TwoTerminal
from .devices import CHARGE, CONSTBOLTZ, CONSTCTOK, CONSTKOVERQ, CONSTROOT2, pnjlim

__all__ = [
    "MosChannel",
    "MosJunction",
    "fetlim",
    "limvds",
    "expand_mosfets",
    "process_model",
    "temperature_update",
    "TempUpdate",
]

_MAX_EXP_ARG = 709.0


def fetlim(vnew, vold, vto):
    """ngspice's ``DEVfetlim`` (vectorised): limit a gate-source voltage update."""
    vnew, vold, vto = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (vnew, vold, vto)))
    out = vnew.copy()
    vtsthi = np.abs(2 * (vold - vto)) + 2
    vtstlo = vtsthi / 2 + 2
    vtox = vto + 3.5
    delv = vnew - vold
    on = vold >= vto
    high = on & (vold >= vtox)
    # on, far above threshold
    off_going = high & (delv <= 0)
    stay = off_going & (vnew >= vtox) & (-delv > vtstlo)
    out = np.where(stay, vold - vtstlo, out)
    out = np.where(off_going & (vnew < vtox), np.maximum(vnew, vto + 2), out)
    out = np.where(high & (delv > 0) & (delv >= vtsthi), vold + vtsthi, out)
    # on, middle region
    mid = on & ~high
    out = np.where(mid & (delv <= 0), np.maximum(vnew, vto - 0.5), out)
    out = np.where(mid & (delv > 0), np.minimum(vnew, vto + 4), out)
    # off
    off = ~on
    out = np.where(off & (delv <= 0) & (-delv > vtsthi), vold - vtsthi, out)
    vtemp = vto + 0.5
    rising = off & (delv > 0)
    out = np.where(rising & (vnew <= vtemp) & (delv > vtstlo), vold + vtstlo, out)
    out = np.where(rising & (vnew > vtemp), vtemp, out)
    return out


def limvds(vnew, vold):
    """ngspice's ``DEVlimvds`` (vectorised): limit a drain-source voltage update."""
    vnew = np.asarray(vnew, dtype=float)
    vold = np.asarray(vold, dtype=float)
    hi = vold >= 3.5
    up = vnew > vold
    return np.where(
        hi,
        np.where(
            up, np.minimum(vnew, 3 * vold + 2), np.where(vnew < 3.5, np.maximum(vnew, 2.0), vnew)
        ),
        np.where(up, np.minimum(vnew, 4.0), np.maximum(vnew, -0.5)),
    )


class MosChannel:
    """Channel currents of a set of level-1 MOSFETs (one entry per device).

    Parameters (arrays, one value per device): ``sign`` (+1 NMOS, -1 PMOS),
    ``beta`` [A/V^2] (``KP * M * W / Leff``), ``vbi`` [V], ``phi`` [V], ``gamma``
    [V^0.5], ``lam`` [1/V] and ``vt`` (thermal voltage [V], for the bulk limiting),
    ``vcrit`` [V] of the bulk-source junction.
    """

    canonical = "mos1-channel"
    n_controls = 4

    def __init__(self, sign, beta, vbi, phi, gamma, lam, vt, vcrit):
        self.sign, self.beta, self.vbi, self.phi = sign, beta, vbi, phi
        self.gamma, self.lam, self.vt, self.vcrit = gamma, lam, vt, vcrit

    def take(self, idx) -> MosChannel:
        """The same model restricted to devices ``idx``."""
        return MosChannel(
            *(
                a[idx]
                for a in (
                    self.sign,
                    self.beta,
                    self.vbi,
                    self.phi,
                    self.gamma,
                    self.lam,
                    self.vt,
                    self.vcrit,
                )
            )
        )

    def _von(self, vbs):
        sq = np.sqrt(self.phi)
        with np.errstate(invalid="ignore"):
            sarg = np.where(
                vbs <= 0,
                np.sqrt(np.maximum(self.phi - vbs, 0.0)),
                np.maximum(0.0, sq - vbs / (2 * sq)),
            )
        return self.vbi * self.sign + self.gamma * sarg, sarg

    def evaluate(self, v):
        """Current from d' to s' [A] and its derivatives by V(d'), V(g), V(s'), V(b)."""
        vd, vg, vs, vb = (np.asarray(x, dtype=float) for x in v)
        t = self.sign
        vds, vgs, vbs = t * (vd - vs), t * (vg - vs), t * (vb - vs)
        mode = np.where(vds >= 0, 1.0, -1.0)
        vbx = np.where(mode > 0, vbs, vbs - vds)  # vbs, or vbd in inverse mode
        vgx = np.where(mode > 0, vgs, vgs - vds)  # vgs, or vgd
        vdx = vds * mode  # >= 0
        von, sarg = self._von(vbx)
        vgst = vgx - von
        with np.errstate(divide="ignore", invalid="ignore"):
            arg = np.where(sarg > 0, self.gamma / (2 * sarg), 0.0)
        betap = self.beta * (1 + self.lam * vdx)
        sat = vgst <= vdx
        on = vgst > 0
        cdrain = np.where(sat, betap * vgst * vgst * 0.5, betap * vdx * (vgst - 0.5 * vdx))
        gm = np.where(sat, betap * vgst, betap * vdx)
        gds = np.where(
            sat,
            self.lam * self.beta * vgst * vgst * 0.5,
            betap * (vgst - vdx) + self.lam * self.beta * vdx * (vgst - 0.5 * vdx),
        )
        cdrain, gm, gds = (np.where(on, a, 0.0) for a in (cdrain, gm, gds))
        gmbs = gm * arg
        # real current d' -> s' and its derivatives (the sign factors square away)
        fwd = mode > 0
        i = t * mode * cdrain
        d_vg = np.where(fwd, gm, -gm)
        d_vb = np.where(fwd, gmbs, -gmbs)
        d_vd = np.where(fwd, gds, gm + gds + gmbs)
        d_vs = np.where(fwd, -(gm + gds + gmbs), -gds)
        return i, [d_vd, d_vg, d_vs, d_vb]

    def limit(self, v_new, v_old):
        """ngspice's MOS1 limiting of the terminal voltages (n, 4) -> limited (n, 4)."""
        t = self.sign
        vd, vg, vs, vb = v_new.T
        od, og, os_, ob = v_old.T
        vgs, vds, vbs = t * (vg - vs), t * (vd - vs), t * (vb - vs)
        vgs_o, vds_o, vbs_o = t * (og - os_), t * (od - os_), t * (ob - os_)
        vgd = vgs - vds
        vgdo = vgs_o - vds_o
        fwd_o = vds_o >= 0
        von_o, _ = self._von(np.where(fwd_o, vbs_o, vbs_o - vds_o))
        # (each step passes its input through exactly where it does not limit, so an
        # unlimited update is recognised as such despite rounding of vgs - vds)
        # forward (previous vds >= 0): vgs then vds
        vgs_f = fetlim(vgs, vgs_o, von_o)
        vds_f = limvds(np.where(vgs_f == vgs, vds, vgs_f - vgd), vds_o)
        # inverse: vgd then vds
        vgd_r = fetlim(vgd, vgdo, von_o)
        vds_r = -limvds(-np.where(vgd_r == vgd, vds, vgs - vgd_r), -vds_o)
        vgs_r = np.where((vgd_r == vgd) & (vds_r == vds), vgs, vgd_r + vds_r)
        vgs_l = np.where(fwd_o, vgs_f, vgs_r)
        vds_l = np.where(fwd_o, vds_f, vds_r)
        vbd_o = vbs_o - vds_o
        vbs_p, _ = pnjlim(vbs, vbs_o, self.vt, self.vcrit)
        vbd_in = vbs - vds_l
        vbd_p, _ = pnjlim(vbd_in, vbd_o, self.vt, self.vcrit)
        vbs_l = np.where(vds_l >= 0, vbs_p, np.where(vbd_p == vbd_in, vbs, vbd_p + vds_l))
        # rebuild only what limiting changed (vs + (vg - vs) need not round back to vg)
        out = v_new.copy()
        out[:, 1] = np.where(vgs_l != vgs, vs + t * vgs_l, vg)
        out[:, 0] = np.where(vds_l != vds, vs + t * vds_l, vd)
        out[:, 3] = np.where(vbs_l != vbs, vs + t * vbs_l, vb)
        return out


class MosJunction:
    """Bulk junction currents of level-1 MOSFETs, from the bulk ``b`` to ``x``
    (``s'`` or ``d'``), one entry per device: ``sign``, ``isat`` [A], ``vt`` [V],
    ``vcrit`` [V], ``gmin`` [S]."""

    canonical = "mos1-junction"
    n_controls = 2

    def __init__(self, sign, isat, vt, vcrit, gmin):
        self.sign, self.isat, self.vt, self.vcrit, self.gmin = sign, isat, vt, vcrit, gmin

    def take(self, idx) -> MosJunction:
        return MosJunction(self.sign[idx], self.isat[idx], self.vt[idx], self.vcrit[idx], self.gmin)

    def evaluate(self, v):
        """Current b -> x [A] and its derivatives by V(b), V(x)."""
        vb, vx = (np.asarray(a, dtype=float) for a in v)
        t = self.sign
        vj = t * (vb - vx)
        rev = vj <= -3 * self.vt
        with np.errstate(over="ignore"):
            ev = np.exp(np.minimum(vj / self.vt, _MAX_EXP_ARG))
        c = np.where(rev, self.gmin * vj - self.isat, self.isat * (ev - 1) + self.gmin * vj)
        g = np.where(rev, self.gmin, self.isat * ev / self.vt + self.gmin)
        return t * c, [g, -g]

    def at_clamp(self, v) -> np.ndarray:
        """Where the junction exponential sits at its overflow clamp (not the model)."""
        vb, vx = (np.asarray(a, dtype=float) for a in v)
        return self.sign * (vb - vx) / self.vt >= _MAX_EXP_ARG

    def limit(self, v_new, v_old):
        """ngspice's ``DEVpnjlim`` on the junction voltage."""
        t = self.sign
        vj = t * (v_new[:, 0] - v_new[:, 1])
        vj_o = t * (v_old[:, 0] - v_old[:, 1])
        lim, _ = pnjlim(vj, vj_o, self.vt, self.vcrit)
        out = v_new.copy()
        out[:, 0] = np.where(lim != vj, v_new[:, 1] + t * lim, v_new[:, 0])
        return out


def junction_vcrit(vt, isat):
    """``vt * ln(vt / (sqrt(2) * Isat))``, ngspice's critical junction voltage."""
    with np.errstate(divide="ignore"):
        return np.where(
            isat > 0, vt * np.log(vt / (CONSTROOT2 * np.where(isat > 0, isat, 1.0))), np.inf
        )


_REFTEMP = 300.15  # ngspice's REFTEMP [K]


class TempUpdate(NamedTuple):
    """A level-1 model at a device temperature (ngspice's ``mos1temp.c``)."""

    kp: float  # KP at the device temperature [A/V^2]
    phi: float  # surface potential [V]
    vbi: float  # built-in voltage [V]
    sat_factor: float  # IS(T) / IS


def temperature_update(m: MosModel, temp: float, tnom: float) -> TempUpdate:
    """ngspice's ``mos1temp.c``: KP, PHI, VBI and the junction IS at ``temp`` [K]
    for a model measured at ``tnom`` [K] (the identity at ``temp == tnom``)."""

    def egap(t):
        return 1.16 - 7.02e-4 * t * t / (t + 1108.0)

    def pbfact(t):
        arg = -egap(t) / (2 * CONSTBOLTZ * t) + 1.1150877 / (CONSTBOLTZ * 2 * _REFTEMP)
        return -2 * CONSTKOVERQ * t * (1.5 * math.log(t / _REFTEMP) + CHARGE * arg)

    ratio = temp / tnom
    phio = (m.phi - pbfact(tnom)) / (tnom / _REFTEMP)
    phi = temp / _REFTEMP * phio + pbfact(temp)
    vbi = (
        m.vto
        - m.sign * m.gamma * math.sqrt(m.phi)
        + 0.5 * (egap(tnom) - egap(temp))
        + m.sign * 0.5 * (phi - m.phi)
    )
    sat = math.exp(-egap(temp) / (CONSTKOVERQ * temp) + egap(tnom) / (CONSTKOVERQ * tnom))
    return TempUpdate(m.kp / (ratio * math.sqrt(ratio)), phi, vbi, sat)


def process_model(m: MosModel, tnom: float) -> MosModel:
    """``m`` with the VTO, GAMMA and PHI it derives from NSUB (ngspice's ``mos1temp.c``
    model preprocessing at the model's ``tnom`` [K]; ``m`` itself when it derives none).

    PHI = max(0.1, 2 vt ln(NSUB / 1.45e10)), GAMMA = sqrt(2 eps_si q NSUB) / Cox, and
    VTO = VFB + type (GAMMA sqrt(PHI) + PHI) with VFB the work-function difference of
    a gate of type TPG (default 1, opposite to the substrate) less q NSS / Cox.
    """
    if not m.derive:
        return m
    vtnom = tnom * CONSTKOVERQ
    egfet1 = 1.16 - (7.02e-4 * tnom * tnom) / (tnom + 1108.0)
    nsub = m.nsub * 1e6  # [1/m^3]
    phi = max(0.1, 2 * vtnom * math.log(nsub / 1.45e16)) if "phi" in m.derive else m.phi
    fermis = m.sign * 0.5 * phi
    wkfng = 3.2
    gate = 1.0 if m.tpg is None else m.tpg
    if gate != 0:
        fermig = m.sign * gate * 0.5 * egfet1
        wkfng = 3.25 + 0.5 * egfet1 - fermig
    wkfngs = wkfng - (3.25 + 0.5 * egfet1 + fermis)
    gamma = m.gamma
    if "gamma" in m.derive:
        gamma = math.sqrt(2 * 11.70 * 8.854214871e-12 * CHARGE * nsub) / m.cox
    vto = m.vto
    if "vto" in m.derive:
        vfb = wkfngs - m.nss * 1e4 * CHARGE / m.cox
        vto = vfb + m.sign * (gamma * math.sqrt(phi) + phi)
    return dataclasses.replace(m, vto=vto, gamma=gamma, phi=phi, derive=frozenset())


class _Expansion:
    """The nodes, resistors and behavioural sources a circuit's MOSFETs add."""

    def __init__(self, circuit: Circuit) -> None:
        self.node_names = list(circuit.node_names)
        self.r_name: list[str] = []
        self.r_pos: list[int] = []
        self.r_neg: list[int] = []
        self.r_val: list[float] = []

    def series(self, name: str, node: int, g: float, kind: str) -> int:
        """The internal node behind a drain/source conductance ``g`` [S], or ``node``."""
        if g <= 0:
            return node
        inner = len(self.node_names)
        self.node_names.append(f"{name}#{kind}")
        self.r_name.append(f"{name}#r{kind[0]}")
        self.r_pos.append(node)
        self.r_neg.append(inner)
        self.r_val.append(1.0 / g)
        return inner


def _series_conductance(value: float | None, rsh: float, squares: float, mult: float) -> float:
    """ngspice's drain/source conductance: ``M / RD`` if given, else ``M / (RSH * NRD)``."""
    if value is not None:
        return mult / value if value != 0 else 0.0
    return mult / (rsh * squares) if rsh != 0 and squares != 0 else 0.0


def _scalar_vcrit(vt: float, isat: float) -> float:
    """:func:`junction_vcrit` of one junction (math, not numpy: one call per device)."""
    return vt * math.log(vt / (CONSTROOT2 * isat)) if isat > 0 else math.inf


def _device_rows(
    mos, k: int, options: Options, ex: _Expansion, location=None, cache: dict | None = None
) -> tuple:
    """Channel and junction parameters of MOSFET ``k`` and its internal terminals
    (``cache``: the model at each temperature, shared by the devices of one circuit)."""
    m = mos.model[k]
    name, mult = mos.name[k], float(mos.m[k])
    tnom = (options.tnom if m.tnom is None else m.tnom) + CONSTCTOK
    temp = (options.temp + mos.dtemp[k] if np.isnan(mos.temp[k]) else mos.temp[k]) + CONSTCTOK
    key = (id(m), float(temp), tnom)
    hit = None if cache is None else cache.get(key)
    if hit is None:
        hit = process_model(m, tnom)
        hit = (hit, temperature_update(hit, float(temp), tnom))
        if cache is not None:
            cache[key] = hit
    m, t = hit
    leff = float(mos.l[k]) - 2 * m.ld
    if not (leff > 0 and mos.w[k] > 0 and mult > 0):
        raise CircuitError(
            f"MOSFET {name}: L - 2*LD ({leff:g} m), W ({float(mos.w[k]):g} m) and M "
            f"({mult:g}) must be positive",
            location=location,
        )
    dp = ex.series(
        name, int(mos.nd[k]), _series_conductance(m.rd, m.rsh, mos.nrd[k], mult), "drain"
    )
    sp = ex.series(
        name, int(mos.ns[k]), _series_conductance(m.rs, m.rsh, mos.nrs[k], mult), "source"
    )
    if m.js == 0 or mos.ad[k] == 0 or mos.as_[k] == 0:
        isd = iss = mult * m.is_ * t.sat_factor
    else:
        isd, iss = (m.js * t.sat_factor * mult * mos.ad[k], m.js * t.sat_factor * mult * mos.as_[k])
    vt = CONSTKOVERQ * float(temp)
    channel = (m.sign, t.kp * mult * mos.w[k] / leff, t.vbi, t.phi, m.gamma, m.lam, vt)
    channel += (_scalar_vcrit(vt, iss),)
    junctions = {
        key: (m.sign, i, vt, _scalar_vcrit(vt, i)) for key, i in (("bs", iss), ("bd", isd))
    }
    return channel, junctions, (name, dp, int(mos.ng[k]), sp, int(mos.nb[k]))


def expand_mosfets(circuit: Circuit, options: Options | None = None) -> Circuit:
    """``circuit`` with its MOSFETs replaced by the engine's devices (the same circuit
    when it has none).

    Each MOSFET becomes its drain and source resistances (to the internal nodes
    ``<name>#drain`` / ``<name>#source``, when given) and three behavioural devices
    named after it: the channel (:class:`MosChannel`, all MOSFETs in one group),
    then the bulk-source and bulk-drain junctions (:class:`MosJunction`).
    ``options`` (default ``circuit.options``) gives the temperature and ``gmin``.

    Raises
    ------
    CircuitError
        A MOSFET with ``L - 2 LD``, ``W`` or ``M`` not positive.
    """
    mos = circuit.mosfets
    if not len(mos):
        return circuit
    options = circuit.options if options is None else options
    ex = _Expansion(circuit)
    where = circuit.locations.get
    cache: dict = {}  # (the models stay alive in ``mos`` while the cache keys hold ids)
    rows = [_device_rows(mos, k, options, ex, where(mos.name[k]), cache) for k in range(len(mos))]
    channel = MosChannel(
        *(np.array(col, dtype=float) for col in zip(*(r[0] for r in rows), strict=True))
    )
    junction = {}
    for key in ("bs", "bd"):
        cols = zip(*(r[1][key] for r in rows), strict=True)
        junction[key] = MosJunction(*(np.array(c, dtype=float) for c in cols), options.gmin)
        junction[key].canonical = f"mos1-junction-{key}"
    b = list(circuit.bsources)
    for name, dp, g, sp, bulk in (r[2] for r in rows):
        b.append(BSource(name, dp, sp, channel, [(dp, 0), (g, 0), (sp, 0), (bulk, 0)], True))
    for key, inner in (("bs", 3), ("bd", 1)):
        for dev in (r[2] for r in rows):
            name, bulk, x = dev[0], dev[4], dev[inner]
            b.append(BSource(name, bulk, x, junction[key], [(bulk, 0), (x, 0)], True))
    R = circuit.resistors
    resistors = TwoTerminal(
        list(R.name) + ex.r_name,
        np.concatenate([np.asarray(R.npos, dtype=np.int64), np.array(ex.r_pos, dtype=np.int64)]),
        np.concatenate([np.asarray(R.nneg, dtype=np.int64), np.array(ex.r_neg, dtype=np.int64)]),
        np.concatenate([np.asarray(R.value, dtype=float), np.array(ex.r_val, dtype=float)]),
    )
    return dataclasses.replace(
        circuit,
        node_names=ex.node_names,
        resistors=resistors,
        bsources=b,
        mosfets=type(mos)(),
    )
