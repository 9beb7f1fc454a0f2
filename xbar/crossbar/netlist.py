"""Export a :class:`~xbar.crossbar.Crossbar` as a SPICE netlist (xbar and ngspice run it).

:func:`to_netlist` writes the circuit :func:`xbar.crossbar.circuit.to_circuit`
builds (node and source names are documented there), so the netlist, the
engine's reference solve and the array are one description.
:func:`format_circuit` writes the element kinds such a circuit holds:
resistors, DC voltage sources, diodes and level-1 MOSFETs with their ``.model``
cards, behavioural current sources, options and ``.op``.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import ConfigError, ShapeError
from ..spice.circuit import Circuit, MosModel, Op, Options
from .circuit import to_circuit

if TYPE_CHECKING:
    from .array import Crossbar

__all__ = [
    "to_netlist",
    "format_circuit",
    "mos_model_card",
    "outputs_from_currents",
    "sense_sources",
]


def _num(x: float) -> str:
    return repr(float(x))


def sense_sources(xb: Crossbar) -> list[tuple[str, int]]:
    """``(source name, column)`` of every sensed column end, in netlist order."""
    st = xb.setup()
    out = []
    for j in range(xb.N):
        for e, tag in ((0, "t"), (1, "b")):
            if st.cols.end_src[j, e] >= 0 and st.sensed[j, e]:
                out.append((f"vsense{j}_{tag}", j))
    return out


def outputs_from_currents(xb: Crossbar, currents: Callable[[str], Any] | dict) -> np.ndarray:
    """Column currents (N,) [A] from a ``{source name: branch current}`` mapping.

    Works with :attr:`xbar.spice.ngspice.SpiceResult.currents` (arrays are reduced
    to their first element) and with a callable ``name -> current``.
    """
    out = np.zeros(xb.N)
    for name, j in sense_sources(xb):
        val = currents(name) if callable(currents) else currents[name]
        out[j] += float(np.ravel(val)[0])
    return out


def format_circuit(circuit: Circuit) -> str:
    """SPICE text of a circuit of resistors, V sources, diodes, level-1 MOSFETs and B
    current sources, with their ``.model`` cards, the options and ``.op``.

    Raises
    ------
    ConfigError
        The circuit holds an element kind or analysis this writer does not
        know (current sources, controlled sources, ``.dc`` sweeps).
    """
    if (
        len(circuit.isources)
        or len(circuit.vccs)
        or len(circuit.vcvs)
        or any(not isinstance(a, Op) for a in circuit.analyses)
    ):
        raise ConfigError("format_circuit writes R, V, D, M and B elements with .op only")
    nodes = circuit.node_names
    lines = [circuit.title]
    vs = circuit.vsources
    for k, name in enumerate(vs.name):
        lines.append(f"{name} {nodes[vs.npos[k]]} {nodes[vs.nneg[k]]} DC {_num(vs.value[k])}")
    rs = circuit.resistors
    for k, name in enumerate(rs.name):
        lines.append(f"{name} {nodes[rs.npos[k]]} {nodes[rs.nneg[k]]} {_num(rs.value[k])}")
    for src in circuit.bsources:
        if src.npos < 0 or src.nneg < 0 or not hasattr(src.expr, "text"):
            raise ConfigError(f"format_circuit: {src.name} is not a B current source I=expr")
        lines.append(f"{src.name} {nodes[src.npos]} {nodes[src.nneg]} I={src.expr.text}")
    ds = circuit.diodes
    for k, name in enumerate(ds.name):
        lines.append(
            f"{name} {nodes[ds.npos[k]]} {nodes[ds.nneg[k]]} {ds.model[k].name} "
            f"area={_num(ds.area[k])}"
        )
    lines += _mosfet_cards(circuit)
    for m in dict.fromkeys(ds.model):
        lines.append(f".model {m.name} D(IS={_num(m.is_)} N={_num(m.n)})")
    lines += [mos_model_card(m) for m in dict.fromkeys(circuit.mosfets.model)]
    lines.append(_options_card(circuit.options))
    lines.append(".op")
    lines.append(".end")
    return "\n".join(lines) + "\n"


def _mosfet_cards(circuit: Circuit) -> list[str]:
    """``M<name> d g s b <model> L= W= ...`` cards, instance parameters at their
    defaults left out."""
    ms, nodes = circuit.mosfets, circuit.node_names
    out = []
    for k, name in enumerate(ms.name):
        terminals = " ".join(nodes[int(t[k])] for t in (ms.nd, ms.ng, ms.ns, ms.nb))
        card = f"{name} {terminals} {ms.model[k].name} L={_num(ms.l[k])} W={_num(ms.w[k])}"
        for key, value, default in (
            ("AD", ms.ad[k], 0.0),
            ("AS", ms.as_[k], 0.0),
            ("NRD", ms.nrd[k], 1.0),
            ("NRS", ms.nrs[k], 1.0),
            ("M", ms.m[k], 1.0),
            ("DTEMP", ms.dtemp[k], 0.0),
        ):
            if value != default:
                card += f" {key}={_num(value)}"
        if not np.isnan(ms.temp[k]):
            card += f" TEMP={_num(ms.temp[k])}"
        out.append(card)
    return out


def mos_model_card(m: MosModel) -> str:
    """The ``.model`` card of a level-1 MOSFET model (parameters at their defaults
    left out, except the five of the Shichman-Hodges law).

    >>> from xbar.spice.circuit import MosModel
    >>> mos_model_card(MosModel("nacc", vto=0.45, kp=3e-4))
    '.model nacc NMOS(LEVEL=1 VTO=0.45 KP=0.0003 GAMMA=0.0 PHI=0.6 LAMBDA=0.0)'
    """
    kind = "NMOS" if m.sign > 0 else "PMOS"
    text = (
        f".model {m.name} {kind}(LEVEL=1 VTO={_num(m.vto)} KP={_num(m.kp)} "
        f"GAMMA={_num(m.gamma)} PHI={_num(m.phi)} LAMBDA={_num(m.lam)}"
    )
    default = MosModel(m.name)
    for key, attr in (("RSH", "rsh"), ("IS", "is_"), ("JS", "js"), ("LD", "ld")):
        if getattr(m, attr) != getattr(default, attr):
            text += f" {key}={_num(getattr(m, attr))}"
    for key, attr in (("RD", "rd"), ("RS", "rs"), ("TNOM", "tnom")):
        if getattr(m, attr) is not None:
            text += f" {key}={_num(getattr(m, attr))}"
    return text + ")"


def _options_card(opt: Options) -> str:
    return (
        f".options reltol={opt.reltol:g} abstol={opt.abstol:g} vntol={opt.vntol:g} "
        f"gmin={opt.gmin:g}"
    )


def to_netlist(
    xb: Crossbar,
    path: str | PathLike | None = None,
    V: np.ndarray | None = None,
    *,
    title: str | None = None,
) -> str:
    """Write the crossbar as a SPICE netlist with one ``.op`` analysis.

    Parameters
    ----------
    xb : Crossbar
    path : str or Path, optional
        Where to write the netlist; the text is returned either way.
    V : array (M,), optional
        Input voltages [V] (default 0 V); for an input-switched array, one bit
        pattern (0/1 per row).
    title : str, optional
        First line of the netlist.

    Returns
    -------
    str
        The netlist text.

    Raises
    ------
    ShapeError
        ``V`` of the wrong shape.
    ConfigError
        A cell model without an exact SPICE form (``Tabulated``).
    """
    from ..checks import output_path, real_array

    if path is not None:
        output_path(path, "netlist")
    if V is not None and xb.topology != "input_switched":  # bits are checked by to_circuit
        V = real_array("to_netlist: V", V)
    if V is not None and V.shape != (xb.M,) and xb.topology != "input_switched":
        raise ShapeError(f"to_netlist: V has shape {V.shape}; expected ({xb.M},)")
    text = format_circuit(to_circuit(xb, V, title=title).circuit)
    if path is not None:
        with open(path, "w") as fh:
            fh.write(text)
    return text
