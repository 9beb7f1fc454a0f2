"""Device elements made when the circuit is complete: level-1 MOSFETs.

A MOSFET card is recorded while reading (its parameters may depend on
``.options`` and ``.temp`` cards that come later) and turned into engine
devices here: the linear drain/source resistances (internal nodes
``<name>#drain`` / ``<name>#source``) and three behavioural sources sharing
vectorised :mod:`xbar.spice.mosfet` models (channel, bulk-source and
bulk-drain junctions).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..circuit import BSource
from ..devices import CHARGE, CONSTBOLTZ, CONSTCTOK, CONSTKOVERQ
from ..mosfet import MosChannel, MosJunction, junction_vcrit
from .lexer import EXPECTED, err

__all__ = ["add_mosfets"]

_REFTEMP = 300.15  # ngspice's REFTEMP [K]
#: ngspice's default MOSFET length and width (options DEFL, DEFW) [m]
DEFAULT_L = 100e-6
DEFAULT_W = 100e-6


def _series(
    builder,
    name: str,
    node: int,
    value: float | None,
    rsh: float,
    squares: float,
    mult: float,
    kind: str,
) -> int:
    """Internal node behind a drain/source resistance (ngspice's rules), or ``node``."""
    if value is not None:
        g = mult / value if value != 0 else 0.0
    else:
        g = mult / (rsh * squares) if rsh != 0 and squares != 0 else 0.0
    if g <= 0:
        return node
    inner = builder.node_index[f"{name}#{kind}"] = len(builder.node_names)
    builder.node_names.append(f"{name}#{kind}")
    r = builder.r
    r.name.append(f"{name}#r{kind[0]}")
    r.npos.append(node)
    r.nneg.append(inner)
    r.value.append(1.0 / g)
    return inner


class _Temp(NamedTuple):
    kp: float  # KP at the device temperature [A/V^2]
    phi: float  # surface potential [V]
    vbi: float  # built-in voltage [V]
    sat_factor: float  # IS(T) / IS


def _temperature_update(m, temp: float, tnom: float) -> _Temp:
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
    return _Temp(m.kp / (ratio * math.sqrt(ratio)), phi, vbi, sat)


def add_mosfets(builder, rows) -> None:
    """Append the engine devices of every recorded MOSFET to ``builder``."""
    opts = builder.options
    defaults = builder.mos_defaults
    ch = {k: [] for k in ("sign", "beta", "vbi", "phi", "gamma", "lam", "vt", "vcrit")}
    jn = {k: {"sign": [], "isat": [], "vt": [], "vcrit": []} for k in ("bs", "bd")}
    devices = []
    for name, (d, g, s, b), m, inst, card in rows:
        tnom = (opts.tnom if m.tnom is None else m.tnom) + CONSTCTOK
        temp = inst.get("temp", opts.temp + inst.get("dtemp", 0.0)) + CONSTCTOK
        t = _temperature_update(m, temp, tnom)
        length = inst.get("l", defaults.get("defl", DEFAULT_L))
        width = inst.get("w", defaults.get("defw", DEFAULT_W))
        mult = inst.get("m", 1.0)
        leff = length - 2 * m.ld
        if not (leff > 0 and width > 0 and mult > 0):
            raise err(
                card,
                None,
                f"MOSFET {name}: L - 2*LD ({leff:g} m), W ({width:g} m) and M "
                f"({mult:g}) must be positive",
                "expected: " + EXPECTED["m"],
            )
        dp = _series(builder, name, d, m.rd, m.rsh, inst.get("nrd", 1.0), mult, "drain")
        sp = _series(builder, name, s, m.rs, m.rsh, inst.get("nrs", 1.0), mult, "source")
        ad = inst.get("ad", defaults.get("defad", 0.0))
        as_ = inst.get("as", defaults.get("defas", 0.0))
        if m.js == 0 or ad == 0 or as_ == 0:
            isd = iss = mult * m.is_ * t.sat_factor
        else:
            isd, iss = (m.js * t.sat_factor * mult * ad, m.js * t.sat_factor * mult * as_)
        vt = CONSTKOVERQ * temp
        for key, value in (
            ("sign", m.sign),
            ("beta", t.kp * mult * width / leff),
            ("vbi", t.vbi),
            ("phi", t.phi),
            ("gamma", m.gamma),
            ("lam", m.lam),
            ("vt", vt),
            ("vcrit", float(junction_vcrit(vt, iss))),
        ):
            ch[key].append(value)
        for key, isat in (("bs", iss), ("bd", isd)):
            for field, value in (
                ("sign", m.sign),
                ("isat", isat),
                ("vt", vt),
                ("vcrit", float(junction_vcrit(vt, isat))),
            ):
                jn[key][field].append(value)
        devices.append((name, dp, g, sp, b))
    arr = {k: np.asarray(v, dtype=float) for k, v in ch.items()}
    channel = MosChannel(**arr)
    junctions = {}
    for key in ("bs", "bd"):
        a = {k: np.asarray(v, dtype=float) for k, v in jn[key].items()}
        junctions[key] = MosJunction(a["sign"], a["isat"], a["vt"], a["vcrit"], opts.gmin)
        junctions[key].canonical = f"mos1-junction-{key}"
    # channels first (one group, device order), then the junctions (one group each)
    for name, dp, g, sp, b in devices:
        builder.b.append(
            BSource(name, dp, sp, channel, [(dp, 0), (g, 0), (sp, 0), (b, 0)], conductive=True)
        )
    for key, inner in (("bs", 3), ("bd", 1)):
        for dev in devices:
            name, b, x = dev[0], dev[4], dev[inner]
            builder.b.append(BSource(name, b, x, junctions[key], [(b, 0), (x, 0)], conductive=True))
