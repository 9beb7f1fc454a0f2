"""The crossbar as a circuit of the engine (:class:`xbar.spice.circuit.Circuit`), every option.

:func:`to_circuit` turns a :class:`~xbar.crossbar.Crossbar` into the circuit
:func:`xbar.solve_dc` solves on the general sparse path, the readable
reference the structured solver is tested against (:mod:`xbar.crossbar.reference`),
and the circuit :func:`xbar.crossbar.to_netlist` writes as SPICE text.

Node names: row node ``(i, j)`` is ``r<i>_<j>``, column node ``c<i>_<j>``
(an input-switched array: source-line node ``s<i>_<j>``, bit-line node
``c<i>_<j>``, source-line supplies ``vsrc<j>``; a row whose bit is 0 has no cells).
Sources (their branch currents are the array's terminal currents):

* ``vin<i>_<e>``: the input (or bias) source of row ``i`` at end ``e``
  (``l``\\ eft / ``r``\\ ight), through ``drv<i>_<e>`` (``r_driver``) and the end
  segment ``re<i>_<e>``;
* ``vsense<j>_<e>``: the sense (or bias) source of column ``j`` at end ``e``
  (``t``\\ op / ``b``\\ ottom), through the end segment ``ce<j>_<e>`` and
  ``sns<j>_<e>`` (``r_sense``); its branch current, positive into the +
  terminal, is the column current flowing out of the array.

With MOSFET access (``access=MosfetAccess(...)``, 1T1R) each cell's chain ends
at ``y<i>_<j>``, the drain of ``macc<i>_<j>`` (source ``c<i>_<j>``, bulk ground,
model ``nacc``), whose gate ``g<i>`` is driven by ``vgate<i>`` (``v_gate[i]``).

Zero resistances become 0 V sources (exact; no tiny resistors).  Cells are
resistors (``Linear``), behavioural current sources (``Sinh``, ``PowerLaw``)
or diodes with a model and an area factor (``Exponential``: ``IS = v0``,
``N = v0 / Vt``, area ``G``).  The options ask for tight tolerances and
``gmin = 1e-20`` S, so the junctions carry exactly the model current.

>>> import numpy as np, xbar
>>> xc = to_circuit(xbar.Crossbar(np.full((2, 2), 1e-4), 1.0, 1.0), V=[0.1, 0.2])
>>> op = xbar.solve_dc(xc.circuit)
>>> bool(np.allclose(xc.outputs(op.current), xbar.Crossbar(np.full((2, 2), 1e-4), 1.0, 1.0)
...                  .solve([0.1, 0.2]).output[0]))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import ConfigError, ShapeError
from ..spice.circuit import (
    BSource,
    Circuit,
    DiodeModel,
    Diodes,
    Mosfets,
    MosModel,
    Op,
    Options,
    TwoTerminal,
)
from ..spice.expr import parse_expression
from .devices import Device, Exponential, Linear, PowerLaw, Sinh
from .input_switched import InputSwitchedSystem, check_bits, line_segments
from .system import CrossbarSystem, source_voltages

if TYPE_CHECKING:
    from .array import Crossbar

__all__ = ["CrossbarCircuit", "to_circuit", "CIRCUIT_OPTIONS", "VT27"]

# kT/q at 27 degC [V] with ngspice's constants (CODATA 2014, as ngspice and xbar's engine use)
VT27 = 1.38064852e-23 * (27.0 + 273.15) / 1.6021766208e-19
# tight tolerances, and a negligible gmin so the diodes carry exactly the model current
CIRCUIT_OPTIONS = Options(reltol=1e-10, abstol=1e-18, vntol=1e-14, gmin=1e-20)


@dataclass
class CrossbarCircuit:
    """A crossbar as an engine circuit, with the names that map results back to the array.

    Attributes
    ----------
    circuit : Circuit
        The circuit (one ``.op`` analysis).
    input_sources : list of (str, int)
        ``(source name, row)`` of every driven row end; minus its branch current
        is the current [A] that end delivers into the array.
    sense_sources : list of (str, int)
        ``(source name, column)`` of every sensed column end; its branch current
        is the column current [A] flowing out of the array there.
    source_index : dict of str to int
        Name of the source at every connected row and column end -> its source
        index in the :class:`~xbar.crossbar.CrossbarSystem` (0: 0 V, 1..M: the
        inputs, then the biases); :meth:`set_inputs` uses it.
    system : CrossbarSystem or InputSwitchedSystem
        The system the circuit was built from.
    """

    circuit: Circuit
    input_sources: list[tuple[str, int]]
    sense_sources: list[tuple[str, int]]
    source_index: dict[str, int]
    system: CrossbarSystem | InputSwitchedSystem

    def set_inputs(self, V: np.ndarray) -> None:
        """Set the input sources to voltages ``V`` (M,) [V] in place (biases unchanged)."""
        if isinstance(self.system, InputSwitchedSystem):
            raise ConfigError(
                "an input-switched array's bit pattern decides which cells are in its circuit",
                hint="build one circuit per pattern: to_circuit(xb, bits)",
            )
        Vs = source_voltages(self.system, np.asarray(V, dtype=float).reshape(1, -1))[0]
        vs = self.circuit.vsources
        for k, name in enumerate(vs.name):
            src = self.source_index.get(name)
            if src is not None:
                vs.value[k] = Vs[src]

    def outputs(self, current: Callable[[str], Any] | dict) -> np.ndarray:
        """Column currents (N,) [A] from branch currents (a callable ``name -> A`` or a mapping)."""
        return self._collect(current, self.sense_sources, self.system.N, 1.0)

    def input_currents(self, current: Callable[[str], Any] | dict) -> np.ndarray:
        """Row input currents (M,) [A] from branch currents."""
        return self._collect(current, self.input_sources, self.system.M, -1.0)

    @staticmethod
    def _collect(
        current: Callable[[str], Any] | dict, sources: list[tuple[str, int]], n: int, sign: float
    ) -> np.ndarray:
        out = np.zeros(n)
        for name, line in sources:
            val = current(name) if callable(current) else current[name]
            out[line] += sign * float(np.ravel(val)[0])
        return out


class _Builder:
    """Accumulates nodes and element tables in the order the circuit lists them."""

    def __init__(self) -> None:
        self.nodes: dict[str, int] = {"0": 0}
        self.tables: dict[str, dict[str, list]] = {
            k: {"name": [], "npos": [], "nneg": [], "value": [], "model": []}
            for k in ("r", "v", "d")
        }
        self.models: dict[float, DiodeModel] = {}
        self.bsources: list[BSource] = []
        #: access MOSFETs: (name, drain, gate, source, l, w) and their one model
        self.mos: list[tuple[str, int, int, int, float, float]] = []
        self.mos_model: MosModel | None = None

    def node(self, name: str) -> int:
        return self.nodes.setdefault(name, len(self.nodes))

    def add(self, kind: str, name: str, a: str, b: str, value: float) -> None:
        t = self.tables[kind]
        t["name"].append(name)
        t["npos"].append(self.node(a))
        t["nneg"].append(self.node(b))
        t["value"].append(float(value))

    def resistor(self, name: str, a: str, b: str, r: float) -> None:
        """A resistor [ohm], or a 0 V source for a zero resistance."""
        self.add("v" if r == 0 else "r", ("v" if r == 0 else "r") + name, a, b, r)

    def cell(self, tag: str, a: str, b: str, model: Device, g: float, i: int, j: int) -> None:
        """One series element of cell (i, j) with conductance scale ``g`` [S]."""
        if isinstance(model, Linear):
            self.add("r", f"rcell{tag}", a, b, 1.0 / g)
            return
        if isinstance(model, Exponential):
            v0 = _cell_param(model.v0, i, j)
            if v0 not in self.models:
                self.models[v0] = DiodeModel(f"dsel{len(self.models)}", is_=v0, n=v0 / VT27)
            self.add("d", f"dcell{tag}", a, b, g)
            self.tables["d"]["model"].append(self.models[v0])
            return
        text = _current_expression(model, g, a, b, i, j)
        expr = parse_expression(text, {})
        controls = [(self.node(p), self.node(q)) for p, q in expr.controls]
        self.bsources.append(BSource(f"bcell{tag}", self.node(a), self.node(b), expr, controls))

    def mosfet(self, name: str, d: str, g: str, s: str, model: MosModel, l: float, w: float):  # noqa: E741
        """An access MOSFET ``name`` (bulk at ground) with size ``l`` x ``w`` [m]."""
        self.mos.append((name, self.node(d), self.node(g), self.node(s), l, w))
        self.mos_model = model

    def mosfets(self) -> Mosfets:
        n = len(self.mos)
        nodes = np.array([m[1:4] for m in self.mos], dtype=np.int64).reshape(n, 3)
        return Mosfets(
            [m[0] for m in self.mos],
            nodes[:, 0],
            nodes[:, 1],
            nodes[:, 2],
            np.zeros(n, dtype=np.int64),
            [self.mos_model] * n,
            l=np.array([m[4] for m in self.mos], dtype=float),
            w=np.array([m[5] for m in self.mos], dtype=float),
            ad=np.zeros(n),
            as_=np.zeros(n),
            nrd=np.ones(n),
            nrs=np.ones(n),
            m=np.ones(n),
            temp=np.full(n, np.nan),
            dtemp=np.zeros(n),
        )

    def circuit(self, title: str) -> Circuit:
        def table(kind: str) -> TwoTerminal:
            t = self.tables[kind]
            return TwoTerminal(
                t["name"],
                np.array(t["npos"], dtype=np.int64),
                np.array(t["nneg"], dtype=np.int64),
                np.array(t["value"], dtype=float),
            )

        d = self.tables["d"]
        diodes = Diodes(
            d["name"],
            np.array(d["npos"], dtype=np.int64),
            np.array(d["nneg"], dtype=np.int64),
            d["model"],
            np.array(d["value"], dtype=float),
        )
        return Circuit(
            title=title,
            node_names=list(self.nodes),
            resistors=table("r"),
            vsources=table("v"),
            diodes=diodes,
            mosfets=self.mosfets(),
            bsources=self.bsources,
            options=CIRCUIT_OPTIONS,
            analyses=[Op()],
        )


def _cell_param(value: Any, i: int, j: int) -> float:
    arr = np.asarray(value)
    return float(arr) if arr.ndim == 0 else float(arr[i, j])


def _num(x: float) -> str:
    return repr(float(x))


def _current_expression(model: Device, g: float, a: str, b: str, i: int, j: int) -> str:
    """The current [A] of a behavioural cell element from ``a`` to ``b`` as SPICE text."""
    v = f"V({a},{b})"
    if isinstance(model, Sinh):
        k = _cell_param(model.k, i, j)
        return f"{_num(g / k)}*sinh({_num(k)}*{v})"
    if isinstance(model, PowerLaw):
        al = _cell_param(model.alpha, i, j)
        vr = _cell_param(model.v_ref, i, j)
        return f"{_num(g)}*({v}+{_num(vr)}*pwr({v}/{_num(vr)},{_num(al)}))"
    raise ConfigError(
        f"no exact SPICE form for {type(model).__name__} cells",
        hint="Linear, Sinh, PowerLaw and Exponential models can be exported",
    )


def _lines(
    b: _Builder, system: CrossbarSystem, Vs: np.ndarray, sources: dict[str, int]
) -> tuple[list, list]:
    """Row and column wires, drivers, sense resistors and end sources."""
    M, N = system.M, system.N
    seg_r, seg_c = system.row_segments, system.col_segments
    inputs, senses = [], []
    for i in range(M):
        for s in range(1, N):
            b.resistor(f"r{i}_{s}", f"r{i}_{s - 1}", f"r{i}_{s}", seg_r[i, s])
        for e, tag, s, nd in ((0, "l", 0, 0), (1, "r", N, N - 1)):
            src = system.rows.end_src[i, e]
            if src < 0:
                continue
            b.add("v", f"vin{i}_{tag}", f"in{i}_{tag}", "0", Vs[src])
            sources[f"vin{i}_{tag}"] = int(src)
            if system.driven[i, e]:
                inputs.append((f"vin{i}_{tag}", i))
            b.resistor(f"drv{i}_{tag}", f"in{i}_{tag}", f"rm{i}_{tag}", system.r_driver[i])
            b.resistor(f"re{i}_{tag}", f"rm{i}_{tag}", f"r{i}_{nd}", seg_r[i, s])
    for j in range(N):
        for s in range(1, M):
            b.resistor(f"c{j}_{s}", f"c{s - 1}_{j}", f"c{s}_{j}", seg_c[j, s])
        for e, tag, s, nd in ((0, "t", 0, 0), (1, "b", M, M - 1)):
            src = system.cols.end_src[j, e]
            if src < 0:
                continue
            b.add("v", f"vsense{j}_{tag}", f"sn{j}_{tag}", "0", Vs[src])
            sources[f"vsense{j}_{tag}"] = int(src)
            if system.sensed[j, e]:
                senses.append((f"vsense{j}_{tag}", j))
            b.resistor(f"sns{j}_{tag}", f"cm{j}_{tag}", f"sn{j}_{tag}", system.r_sense[j])
            b.resistor(f"ce{j}_{tag}", f"c{nd}_{j}", f"cm{j}_{tag}", seg_c[j, s])
    return inputs, senses


def _cells(b: _Builder, system: CrossbarSystem, xb: Crossbar) -> None:
    """Every cell's series chain: device, selector, access resistor, access MOSFET."""
    M, N = system.M, system.N
    r_acc = system.r_access
    chain = system.elements
    acc = xb.access
    model = None if acc is None else acc.model("nacc")
    if acc is not None:
        for i in range(M):
            b.add("v", f"vgate{i}", f"g{i}", "0", xb.v_gate[i])
    for i in range(M):
        for j in range(N):
            if system.elements[0][1][i, j] == 0:
                continue
            last = f"r{i}_{j}"
            col = f"c{i}_{j}" if acc is None else f"y{i}_{j}"  # the chain's end
            for e, (dev, gs) in enumerate(chain):
                end = e == len(chain) - 1 and r_acc[i, j] == 0
                nxt = col if end else f"x{i}_{j}_{e}"
                b.cell(f"{i}_{j}_{e}", last, nxt, dev, float(gs[i, j]), i, j)
                last = nxt
            if r_acc[i, j] > 0:
                b.add("r", f"racc{i}_{j}", last, col, r_acc[i, j])
            if acc is not None:
                b.mosfet(f"macc{i}_{j}", col, f"g{i}", f"c{i}_{j}", model, acc.l, acc.w)


def _input_switched(b: _Builder, xb: Crossbar, bits: np.ndarray) -> list[tuple[str, int]]:
    """Source and bit lines with their held ends, and the cells of the rows whose bit
    is 1 (a 0 leaves the row's transistors open); returns the sense sources."""
    M, N = xb.M, xb.N
    seg_s = line_segments(xb.r_source, M, N, xb.source_end, "r_source")
    seg_b = line_segments(xb.r_col, M, N, xb.sense, "r_col")
    r_sns = np.broadcast_to(xb.r_sense, (N,))
    senses = []
    for j in range(N):
        for i in range(1, M):
            b.resistor(f"s{i}_{j}", f"s{i - 1}_{j}", f"s{i}_{j}", seg_s[j, i])
            b.resistor(f"c{i}_{j}", f"c{i - 1}_{j}", f"c{i}_{j}", seg_b[j, i])
        e, node = (0, 0) if xb.source_end == "top" else (M, M - 1)
        b.add("v", f"vsrc{j}", f"sd{j}", "0", xb.v_read)
        b.resistor(f"sdrv{j}", f"sd{j}", f"sm{j}", float(xb.r_driver))
        b.resistor(f"se{j}", f"sm{j}", f"s{node}_{j}", seg_s[j, e])
        e, node, tag = (0, 0, "t") if xb.sense == "top" else (M, M - 1, "b")
        b.add("v", f"vsense{j}_{tag}", f"sn{j}", "0", 0.0)
        senses.append((f"vsense{j}_{tag}", j))
        b.resistor(f"sns{j}", f"cm{j}", f"sn{j}", float(r_sns[j]))
        b.resistor(f"ce{j}", f"c{node}_{j}", f"cm{j}", seg_b[j, e])
    G = np.asarray(xb.G)
    r_acc = np.broadcast_to(xb.r_access, (M, N))
    for i, j in zip(*np.nonzero(bits[:, None] & (G > 0)), strict=True):
        cell_from = f"s{i}_{j}"
        if r_acc[i, j] > 0:
            b.add("r", f"racc{i}_{j}", cell_from, f"x{i}_{j}", r_acc[i, j])
            cell_from = f"x{i}_{j}"
        b.add("r", f"rcell{i}_{j}", cell_from, f"c{i}_{j}", 1.0 / G[i, j])
    return senses


def to_circuit(
    xb: Crossbar, V: np.ndarray | None = None, *, title: str | None = None
) -> CrossbarCircuit:
    """The crossbar as an engine :class:`~xbar.spice.circuit.Circuit` with one ``.op`` analysis.

    Parameters
    ----------
    xb : Crossbar
        Any topology option: drive and sense ends, biases and floating ends,
        per-segment and zero resistances, access resistors, selectors and
        access MOSFETs.
    V : array (M,), optional
        Input voltages [V] (default 0 V; change them later with
        :meth:`CrossbarCircuit.set_inputs`); for ``topology="input_switched"`` the
        bit pattern (0/1 per row, default all 0), which decides which cells are in
        the circuit.
    title : str, optional
        The circuit's title (first netlist line).

    Raises
    ------
    ShapeError
        ``V`` of the wrong shape.
    ConfigError
        A device model without an exact SPICE form (``Tabulated``).
    """
    M = xb.M
    if xb.topology == "input_switched":
        bits = check_bits(np.zeros(M) if V is None else V, M)
        if bits.shape[0] != 1:
            raise ShapeError(
                f"an input-switched array's circuit is for one bit pattern of shape ({M},), "
                f"got {bits.shape}"
            )
        b = _Builder()
        senses = _input_switched(b, xb, bits[0])
        title = title or f"* xbar input-switched array {M}x{xb.N}, bits " + "".join(
            "1" if x else "0" for x in bits[0]
        )
        return CrossbarCircuit(b.circuit(title), [], senses, {}, xb.setup())
    V = np.zeros(M) if V is None else np.asarray(V, dtype=float)
    if V.shape != (M,):
        raise ShapeError(f"to_circuit: V has shape {V.shape}; expected ({M},)")
    system = xb.setup()
    b = _Builder()
    sources: dict[str, int] = {}
    inputs, senses = _lines(b, system, source_voltages(system, V[None, :])[0], sources)
    _cells(b, system, xb)
    title = title or f"* xbar crossbar {M}x{xb.N} ({type(xb.device).__name__} cells)"
    return CrossbarCircuit(b.circuit(title), inputs, senses, sources, system)
