"""Build the same circuit as a :class:`~xbar.spice.circuit.Circuit` and as netlist text.

Used by the engine tests (``tests/test_engine*.py``) so that the engine can be
cross-checked against ngspice without going through the netlist reader.
"""

from __future__ import annotations

import numpy as np

from xbar.spice.circuit import (
    BSource,
    Circuit,
    Controlled,
    DCSweep,
    Diodes,
    Op,
    Options,
    TwoTerminal,
)
from xbar.spice.expr import parse_expression


def build(
    elements,
    *,
    analysis=None,
    options: Options | None = None,
    models=None,
    title: str = "engine test",
):
    """Return ``(circuit, netlist_text)`` for a list of element tuples.

    Element tuples: ``("R1", a, b, ohm)``, ``("V1", p, n, volt)``, ``("I1", p, n, amp)``,
    ``("G1", p, n, cp, cn, S)``, ``("E1", p, n, cp, cn, gain)``,
    ``("D1", anode, cathode, model, area)``, ``("B1", p, n, "expr")``.
    ``models`` maps a name to a :class:`DiodeModel`; ``analysis`` is Op or DCSweep.
    """
    models = models or {}
    nodes = ["0"]
    index = {"0": 0, "gnd": 0}

    def node(name):
        name = str(name).lower()
        if name not in index:
            index[name] = len(nodes)
            nodes.append(name)
        return index[name]

    tables = {k: ([], [], [], []) for k in "RVI"}
    ctl = {k: ([], [], [], [], [], []) for k in "GE"}
    d = Diodes()
    dn, dp, dnn, dm, da = [], [], [], [], []
    bsrc = []
    lines = [title]
    for el in elements:
        name = el[0].lower()
        kind = name[0]
        if kind in "rvi":
            t = tables[kind.upper()]
            t[0].append(name)
            t[1].append(node(el[1]))
            t[2].append(node(el[2]))
            t[3].append(float(el[3]))
            lines.append(f"{name} {el[1]} {el[2]} {'dc ' if kind != 'r' else ''}{el[3]!r}")
        elif kind in "ge":
            t = ctl[kind.upper()]
            for col, v in zip(
                t,
                [name, node(el[1]), node(el[2]), node(el[3]), node(el[4]), float(el[5])],
                strict=True,
            ):
                col.append(v)
            lines.append(f"{name} {el[1]} {el[2]} {el[3]} {el[4]} {el[5]!r}")
        elif kind == "d":
            dn.append(name)
            dp.append(node(el[1]))
            dnn.append(node(el[2]))
            dm.append(models[el[3]])
            area = float(el[4]) if len(el) > 4 else 1.0
            da.append(area)
            extra = f" area={area!r}" if len(el) > 4 else ""
            lines.append(f"{name} {el[1]} {el[2]} {el[3]}{extra}")
        elif kind == "b":
            expr = parse_expression(el[3], {})
            ctrls = [(node(a), node(b)) for a, b in expr.controls]
            bsrc.append(BSource(name, node(el[1]), node(el[2]), expr, ctrls))
            lines.append(f"{name} {el[1]} {el[2]} I={el[3]}")
        else:
            raise ValueError(el)
    c = Circuit(title=title, node_names=nodes)
    for k, attr in (("R", "resistors"), ("V", "vsources"), ("I", "isources")):
        t = tables[k]
        setattr(
            c,
            attr,
            TwoTerminal(
                t[0],
                np.array(t[1], dtype=np.int64),
                np.array(t[2], dtype=np.int64),
                np.array(t[3], dtype=float),
            ),
        )
    for k, attr in (("G", "vccs"), ("E", "vcvs")):
        t = ctl[k]
        setattr(
            c,
            attr,
            Controlled(
                t[0], *[np.array(x, dtype=np.int64) for x in t[1:5]], np.array(t[5], dtype=float)
            ),
        )
    d = Diodes(
        dn,
        np.array(dp, dtype=np.int64),
        np.array(dnn, dtype=np.int64),
        dm,
        np.array(da, dtype=float),
    )
    c.diodes = d
    c.bsources = bsrc
    for m in models.values():
        parts = [f"is={m.is_!r}", f"n={m.n!r}"]
        if m.rs:
            parts.append(f"rs={m.rs!r}")
        if np.isfinite(m.bv):
            parts += [f"bv={m.bv!r}", f"ibv={m.ibv!r}"]
        lines.append(f".model {m.name} D({' '.join(parts)})")
    if options is not None:
        c.options = options
        lines.append(
            f".options reltol={options.reltol!r} abstol={options.abstol!r} "
            f"vntol={options.vntol!r} gmin={options.gmin!r}"
        )
    analysis = analysis or Op()
    c.analyses = [analysis]
    if isinstance(analysis, DCSweep):
        card = f".dc {analysis.source} {analysis.start!r} {analysis.stop!r} {analysis.step!r}"
        if analysis.outer is not None:
            o = analysis.outer
            card += f" {o.source} {o.start!r} {o.stop!r} {o.step!r}"
        lines.append(card)
    else:
        lines.append(".op")
    lines.append(".end")
    return c, "\n".join(lines) + "\n"


TIGHT = Options(reltol=1e-9, abstol=1e-15, vntol=1e-12)
