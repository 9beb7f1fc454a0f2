"""Export a :class:`~xbar.crossbar.Crossbar` as a SPICE netlist (xbar and ngspice run it).

:func:`to_netlist` writes the circuit :func:`xbar.crossbar.circuit.to_circuit`
builds (node and source names are documented there), so the netlist, the
engine's reference solve and the array are one description.
:func:`format_circuit` writes the element kinds such a circuit holds:
resistors, DC voltage sources, diodes with their ``.model`` cards, behavioural
current sources, options and ``.op``.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import ConfigError, ShapeError
from ..spice.circuit import Circuit, Op, Options
from .circuit import to_circuit

if TYPE_CHECKING:
    from .array import Crossbar

__all__ = ["to_netlist", "format_circuit", "outputs_from_currents", "sense_sources"]


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
    """SPICE text of a circuit of resistors, V sources, diodes and B current sources.

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
        raise ConfigError("format_circuit writes R, V, D and B elements with .op only")
    nodes = circuit.node_names
    lines = [circuit.title]
    vs = circuit.vsources
    for k, name in enumerate(vs.name):
        lines.append(f"{name} {nodes[vs.npos[k]]} {nodes[vs.nneg[k]]} DC {_num(vs.value[k])}")
    rs = circuit.resistors
    for k, name in enumerate(rs.name):
        lines.append(f"{name} {nodes[rs.npos[k]]} {nodes[rs.nneg[k]]} {_num(rs.value[k])}")
    for src in circuit.bsources:
        if src.npos < 0 or src.nneg < 0:
            raise ConfigError(f"format_circuit: {src.name} is a voltage-form B source")
        lines.append(f"{src.name} {nodes[src.npos]} {nodes[src.nneg]} I={src.expr.text}")
    ds = circuit.diodes
    for k, name in enumerate(ds.name):
        lines.append(
            f"{name} {nodes[ds.npos[k]]} {nodes[ds.nneg[k]]} {ds.model[k].name} "
            f"area={_num(ds.area[k])}"
        )
    for m in dict.fromkeys(ds.model):
        lines.append(f".model {m.name} D(IS={_num(m.is_)} N={_num(m.n)})")
    lines.append(_options_card(circuit.options))
    lines.append(".op")
    lines.append(".end")
    return "\n".join(lines) + "\n"


def access_netlist(xb, V: np.ndarray | None = None, *, title: str | None = None) -> str:
    """The array's netlist with an access MOSFET ending every cell's chain.

    The chain of :func:`xbar.crossbar.circuit.to_circuit` ends at the column node
    ``c<i>_<j>``; here it ends at ``y<i>_<j>``, the drain of ``Macc<i>_<j>`` (gate
    ``g<i>`` driven by ``Vgate<i>``, source ``c<i>_<j>``, bulk ground).
    """
    c = to_circuit(xb, V, title=title).circuit
    index = {n: k for k, n in enumerate(c.node_names)}
    cells = [(i, j) for i in range(xb.M) for j in range(xb.N) if xb.G[i, j] > 0]
    drain = {}
    for i, j in cells:  # a new node between each chain and its column node
        drain[index[f"c{i}_{j}"], f"{i}_{j}"] = len(c.node_names)
        c.node_names.append(f"y{i}_{j}")

    def moved(name: str, node: int) -> int:
        tag = (
            name[5:]
            if name.startswith(("rcell", "dcell", "bcell"))
            else (name[4:] if name.startswith("racc") else None)
        )
        if tag is None:
            return node
        cell = tag if name.startswith("racc") else tag.rsplit("_", 1)[0]
        return drain.get((node, cell), node)

    for table in (c.resistors, c.diodes):
        for k, name in enumerate(table.name):
            table.npos[k] = moved(name, int(table.npos[k]))
            table.nneg[k] = moved(name, int(table.nneg[k]))
    for src in c.bsources:
        old = {n: c.node_names[n] for n in (src.npos, src.nneg)}
        src.npos, src.nneg = moved(src.name, src.npos), moved(src.name, src.nneg)
        src.controls = [(moved(src.name, a), moved(src.name, b)) for a, b in src.controls]
        text = src.expr.text  # V(a,b) in the text names the nodes: follow the move
        for n, name in old.items():
            new = c.node_names[moved(src.name, n)]
            if new != name:
                text = text.replace(f",{name})", f",{new})").replace(f"V({name},", f"V({new},")
        src.expr = src.expr.with_controls(text, src.expr.controls)
    lines = format_circuit(c).splitlines()
    extra = [f"Vgate{i} g{i} 0 DC {float(xb.v_gate[i])!r}" for i in range(xb.M)]
    extra += [
        xb.access.instance(f"acc{i}_{j}", f"y{i}_{j}", f"g{i}", f"c{i}_{j}", "nacc")
        for i, j in cells
    ]
    extra.append(xb.access.model_card("nacc"))
    at = next(k for k, line in enumerate(lines) if line.startswith(".options"))
    return "\n".join(lines[:at] + extra + lines[at:]) + "\n"


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
        Input voltages [V] (default 0 V).
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

    V = None if V is None else real_array("to_netlist: V", V)
    if path is not None:
        output_path(path, "netlist")
    if V is not None and V.shape != (xb.M,):
        raise ShapeError(f"to_netlist: V has shape {V.shape}; expected ({xb.M},)")
    if getattr(xb, "access", None) is not None:  # 1T1R with MOSFETs (xbar.crossbar.access)
        text = access_netlist(xb, V, title=title)
    else:
        text = format_circuit(to_circuit(xb, V, title=title).circuit)
    if path is not None:
        with open(path, "w") as fh:
            fh.write(text)
    return text
