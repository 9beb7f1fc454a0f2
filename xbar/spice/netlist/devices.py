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

import numpy as np

from ..circuit import BSource
from ..devices import CONSTCTOK, CONSTKOVERQ
from ..mosfet import MosChannel, MosJunction, junction_vcrit
from .lexer import EXPECTED, err

__all__ = ["add_mosfets"]

#: ngspice's default MOSFET length and width (options DEFL, DEFW) [m]
DEFAULT_L = 100e-6
DEFAULT_W = 100e-6


def _series(builder, name: str, node: int, value: float | None, rsh: float, squares: float,
            mult: float, kind: str) -> int:
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


def add_mosfets(builder, rows) -> None:
    """Append the engine devices of every recorded MOSFET to ``builder``."""
    opts = builder.options
    defaults = builder.mos_defaults
    ch = {k: [] for k in ("sign", "beta", "vbi", "phi", "gamma", "lam", "vt", "vcrit")}
    jn = {k: {"sign": [], "isat": [], "vt": [], "vcrit": []} for k in ("bs", "bd")}
    devices = []
    for name, (d, g, s, b), m, inst, card in rows:
        tnom = opts.tnom if m.tnom is None else m.tnom
        temp = inst.get("temp", opts.temp + inst.get("dtemp", 0.0))
        if abs(temp - tnom) > 1e-9:
            raise err(card, None, f"MOSFET {name} at {temp:g} degC, model {m.name} at TNOM "
                      f"{tnom:g} degC: level-1 temperature scaling is not supported by xbar",
                      "simulate MOSFETs at their nominal temperature")
        length = inst.get("l", defaults.get("defl", DEFAULT_L))
        width = inst.get("w", defaults.get("defw", DEFAULT_W))
        mult = inst.get("m", 1.0)
        leff = length - 2 * m.ld
        if not (leff > 0 and width > 0 and mult > 0):
            raise err(card, None, f"MOSFET {name}: L - 2*LD ({leff:g} m), W ({width:g} m) and M "
                      f"({mult:g}) must be positive", "expected: " + EXPECTED["m"])
        dp = _series(builder, name, d, m.rd, m.rsh, inst.get("nrd", 1.0), mult, "drain")
        sp = _series(builder, name, s, m.rs, m.rsh, inst.get("nrs", 1.0), mult, "source")
        ad = inst.get("ad", defaults.get("defad", 0.0))
        as_ = inst.get("as", defaults.get("defas", 0.0))
        if m.js == 0 or ad == 0 or as_ == 0:
            isd = iss = mult * m.is_
        else:
            isd, iss = m.js * mult * ad, m.js * mult * as_
        vt = CONSTKOVERQ * (temp + CONSTCTOK)
        for key, value in (("sign", m.sign), ("beta", m.kp * mult * width / leff),
                           ("vbi", m.vto - m.sign * m.gamma * math.sqrt(m.phi)),
                           ("phi", m.phi), ("gamma", m.gamma), ("lam", m.lam), ("vt", vt),
                           ("vcrit", float(junction_vcrit(vt, iss)))):
            ch[key].append(value)
        for key, isat in (("bs", iss), ("bd", isd)):
            for field, value in (("sign", m.sign), ("isat", isat), ("vt", vt),
                                 ("vcrit", float(junction_vcrit(vt, isat)))):
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
        builder.b.append(BSource(name, dp, sp, channel, [(dp, 0), (g, 0), (sp, 0), (b, 0)],
                                 conductive=True))
    for key, inner in (("bs", 3), ("bd", 1)):
        for dev in devices:
            name, b, x = dev[0], dev[4], dev[inner]
            builder.b.append(BSource(name, b, x, junctions[key], [(b, 0), (x, 0)],
                                     conductive=True))
