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
temperature as ngspice's ``mos1temp.c`` does (the reader,
:mod:`xbar.spice.netlist.devices`).
"""

from __future__ import annotations

import numpy as np

from .devices import CONSTROOT2, pnjlim

__all__ = ["MosChannel", "MosJunction", "fetlim", "limvds"]

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
