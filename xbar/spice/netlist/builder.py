"""The builder: named accumulators of element rows, and the flat Circuit they make."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from ..circuit import (
    BSource,
    Circuit,
    Controlled,
    DCSweep,
    DiodeModel,
    Diodes,
    Options,
    TwoTerminal,
    spice_name,
)
from .devices import mosfet_table
from .directives import AnalysisEntry, DCCard, DirectiveCards
from .elements import ElementCards
from .lexer import EXPECTED, Card, Locations, Reader, err
from .scopes import Scopes

__all__ = ["Builder", "ControlledRows", "DiodeRows", "TwoTerminalRows"]


@dataclass
class TwoTerminalRows:
    """Rows of R, V or I elements as they are read (lists, one entry per element)."""

    name: list[str] = field(default_factory=list)
    npos: list[int] = field(default_factory=list)
    nneg: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)

    def table(self) -> TwoTerminal:
        return TwoTerminal(
            list(self.name),
            np.array(self.npos, dtype=np.int64),
            np.array(self.nneg, dtype=np.int64),
            np.array(self.value, dtype=float),
        )


@dataclass
class ControlledRows:
    """Rows of G or E sources as they are read."""

    name: list[str] = field(default_factory=list)
    npos: list[int] = field(default_factory=list)
    nneg: list[int] = field(default_factory=list)
    cpos: list[int] = field(default_factory=list)
    cneg: list[int] = field(default_factory=list)
    gain: list[float] = field(default_factory=list)

    def table(self) -> Controlled:
        ints = (np.array(c, dtype=np.int64) for c in (self.npos, self.nneg, self.cpos, self.cneg))
        return Controlled(list(self.name), *ints, np.array(self.gain, dtype=float))


@dataclass
class DiodeRows:
    """Rows of diodes as they are read."""

    name: list[str] = field(default_factory=list)
    npos: list[int] = field(default_factory=list)
    nneg: list[int] = field(default_factory=list)
    model: list[DiodeModel] = field(default_factory=list)
    area: list[float] = field(default_factory=list)
    temp: list[float] = field(default_factory=list)
    dtemp: list[float] = field(default_factory=list)

    def table(self) -> Diodes:
        return Diodes(
            list(self.name),
            np.array(self.npos, dtype=np.int64),
            np.array(self.nneg, dtype=np.int64),
            list(self.model),
            np.array(self.area, dtype=float),
            np.array(self.temp, dtype=float),
            np.array(self.dtemp, dtype=float),
        )


class Builder(Scopes, ElementCards, DirectiveCards):
    """Cards -> flat circuit: accumulates element rows while flattening subcircuits."""

    def __init__(self, reader: Reader, source_file: str):
        self.reader = reader
        self.source_file = source_file
        self.planned = 0  # elements the top-level instances flatten to (memory check)
        self.memory_checked = 0.0  # bytes ``planned`` needed when memory was last checked
        self.expanded_memo: dict[int, int] = {}  # subcircuit -> elements it flattens to
        self.node_index: dict[str, int] = {"0": 0, "gnd": 0}  # lookup only
        self.node_names: list[str] = ["0"]
        self.names: dict[str, Card] = {}
        self.instances: set[str] = set()
        self.r = TwoTerminalRows()
        self.v = TwoTerminalRows()
        self.i = TwoTerminalRows()
        self.g = ControlledRows()
        self.e = ControlledRows()
        self.d = DiodeRows()
        self.b: list[BSource] = []
        #: capacitors (open at DC), for errors about floating nodes: (name, n+, n-)
        self.open_elements: list[tuple[str, int, int]] = []
        #: B (and E/G VALUE=) sources with m/tc1/tc2/temp/dtemp: (source, parameters)
        self.b_scales: list[tuple[BSource, dict[str, float]]] = []
        self.spice_names: dict[str, str] = {}
        #: resistors with temperature coefficients: (row, tc1, tc2, temp or None, dtemp)
        self.r_thermal: list[tuple] = []  # (row, tc1, tc2, temp, dtemp, tnom, tce)
        self.notes: list[str] = reader.notes
        self.skipped: dict[str, Card] = {}  # non-DC analyses and output: word -> first card
        self.nodeset_cards: list[tuple[str, float, Card, int]] = []
        #: top-level .ic cards: (node name, value, card, offset)
        self.ic_cards: list[tuple[str, float, Card, int]] = []
        #: V/I sources with a DC value and a waveform: (v or i, row, value at time 0, card)
        self.time_zero: list[tuple[str, int, float, Card]] = []
        #: every analysis in the order read (:class:`AnalysisEntry`); in the order ngspice
        #: runs them once :meth:`order_analyses` has run
        self.analysis_order: list[AnalysisEntry] = []
        #: top-level .print/.save/.probe cards: (directive, text, location)
        self.output_cards: list[tuple[str, str, object]] = []
        self.funcs: dict[str, tuple[list[str], str, Card]] = {}
        self.globals: set[str] = set()
        #: MOSFETs as read: (name, [d, g, s, b], model, instance parameters, card)
        self.mos_rows: list[tuple] = []
        self.mos_defaults: dict[str, float] = {}
        #: ``.options scale``: instance lengths and widths are in units of it (ngspice)
        self.geometry_scale = 1.0
        #: behavioural sources whose controls name branch currents: (BSource, card)
        self.branch_controls: list[tuple[BSource, Card]] = []
        #: K cards: (instance prefix, first inductor token, second inductor token, card)
        self.couplings: list[tuple[str, tuple[str, int], tuple[str, int], Card]] = []
        self.options = Options()
        self.analyses: list = []
        self.analysis_cards: list[Card] = []  # the .op / .dc card of each analysis
        self.dc_cards: list[DCCard] = []
        self.title = reader.title
        self.expr_cache: dict[tuple, object] = {}
        #: what TIME, TEMPER and HERTZ are in B-source expressions (read_netlist sets TEMPER)
        self.b_reserved = {"time": 0.0, "temper": 27.0, "hertz": 0.0}
        #: models inside subcircuits, per (card, instance parameters) (elements.instance_model)
        self.model_cache: dict[tuple, object] = {}

    # ---------------------------------------------------------------- result
    def circuit(self) -> Circuit:
        """The flat :class:`Circuit` of everything read so far."""
        self.resolve_branch_controls()
        self.check_couplings()
        nodesets = self.resolve_nodesets()
        self.order_analyses()
        self.transient_start()
        if len(self.analysis_cards) > 1:
            first, rest = self.analysis_cards[0], self.analysis_cards[1:]
            self.notes.append(
                f"{first.file}:{first.line}: {len(self.analysis_cards)} analyses; xbar solve "
                f"runs the first ({first.text.split()[0].lower()}), not "
                + ", ".join(f"{c.text.split()[0].lower()} at line {c.line}" for c in rest)
                + " (ngspice runs every one; solve_dc(circuit, analysis=circuit.analyses[k]) "
                "runs another)"
            )
        if self.skipped:
            words = sorted(self.skipped)
            first = self.skipped[words[0]]
            self.notes.append(
                f"{first.file}:{first.line}: skipped "
                + ", ".join(words)
                + " (xbar is a DC solver: only .op and .dc run)"
            )
        for k, tc1, tc2, temp, dtemp, tnom, tce in self.r_thermal:
            # ngspice: R(T) = R (1 + TC1 dT + TC2 dT^2), dT = T - TNOM, T = TEMP or temp + DTEMP;
            # with TCE given (instance or model) R 1.01^(TCE dT) instead
            t = temp if temp is not None else self.options.temp + dtemp
            dt = t - (self.options.tnom if tnom is None else tnom)
            factor = 1.0 + tc1 * dt + tc2 * dt * dt if tce is None else 1.01 ** (tce * dt)
            self.r.value[k] = self.r.value[k] * factor
        self.scale_bsources()
        return Circuit(
            title=self.title,
            node_names=self.node_names,
            resistors=self.r.table(),
            vsources=self.v.table(),
            isources=self.i.table(),
            vccs=self.g.table(),
            vcvs=self.e.table(),
            diodes=self.d.table(),
            mosfets=mosfet_table(self.mos_rows, self.mos_defaults),
            bsources=self.b,
            options=self.options,
            analyses=self.analyses,
            locations=Locations(
                (k, v)
                for k, v in self.names.items()
                if k not in self.instances or k[k.rfind(".") + 1 :].startswith("c")
            ),
            source_file=self.source_file,
            spice_names=self.spice_names,
            notes=self.notes,
            nodesets=nodesets,
            outputs=self.output_cards,
            open_elements=self.open_elements,
        )

    def order_analyses(self) -> None:
        """The analyses in the order ``ngspice -b`` runs them: the dot cards', unless a
        ``.control`` block runs analyses itself; then the block's, in script order, where
        ``run`` stands for the dot cards' (ngspice runs the dot cards by itself only when
        no analysis has run).  Sets :attr:`analyses`, :attr:`analysis_cards` and
        :attr:`analysis_order` (notes what ngspice does not run)."""
        dot = [e for e in self.analysis_order if not e.control]
        script = [e for e in self.analysis_order if e.control]
        seq = dot
        if script:
            seq = [d for e in script for d in (dot if e.word == "run" else [e])]
            if dot and not any(e.word == "run" for e in script):
                self.note(
                    script[0].card,
                    "the .control block runs analyses and no run command, so ngspice -b runs "
                    "none of the dot cards' ("
                    + ", ".join(f".{e.word} at line {e.card.line}" for e in dot)
                    + "): xbar neither",
                )
        self.analysis_order = seq
        self.analyses = [self.analyses[e.index] for e in seq if e.index is not None]
        self.analysis_cards = [e.card for e in seq if e.index is not None]

    def transient_start(self) -> None:
        """With a ``.tran`` as the first analysis and no ``.op`` or ``.dc``, set up the
        operating point ngspice computes before the transient (its first time point;
        ``MODETRANOP``): independent sources at their waveform's value at time 0 even
        where a DC value is given (``vsrcload.c``), and each ``.ic`` node held at its value
        by 1e10 S (``cktload.c``; here a 1e-10 ohm resistor to ground beside a
        1e10 * value current source).  Otherwise ``.ic`` cards are noted as ignored."""
        first = self.analysis_order[0] if self.analysis_order else None
        if self.analyses or first is None or first.word != "tran":
            if self.ic_cards:
                self.note(
                    self.ic_cards[0][2],
                    ".ic ignored (ngspice holds .ic nodes only in the operating point "
                    "before a .tran)",
                )
            return
        card = first.card
        for kind, row, value, _ in self.time_zero:
            (self.v if kind == "v" else self.i).value[row] = value
        held: dict[int, float] = {}
        for name, value, icard, _ in self.ic_cards:
            idx = 0 if name in ("0", "gnd") else self.node_index.get(name)
            if idx is None:
                self.note(icard, f".ic on node {name!r}, which is not in the circuit: ignored "
                          "(as ngspice)")  # fmt: skip
            elif idx:
                held[idx] = value  # (the last .ic of a node wins, as in ngspice)
        for idx, value in held.items():
            label = f"ic({self.node_names[idx]})"
            for rows, v in ((self.r, 1e-10), (self.i, 1e10 * value)):
                rows.name.append(label)
                rows.npos.append(0 if rows is self.i else idx)
                rows.nneg.append(idx if rows is self.i else 0)
                rows.value.append(v)
        uic = "uic" in card.text.lower().split()
        self.skipped.pop(".tran", None)
        self.note(
            card,
            "the first analysis is .tran, skipped (xbar is a DC solver): xbar solves the "
            "operating point ngspice computes before it (its first time point): sources at "
            "their time-0 values"
            + (f" ({len(self.time_zero)} differ from their DC values)" if self.time_zero else "")
            + (f", {len(held)} .ic node(s) held" if held else "")
            + (
                "; with UIC ngspice computes no operating point and starts from the .ic "
                "values and zeros instead"
                if uic
                else ""
            ),
        )

    def scale_bsources(self) -> None:
        """Multiply B sources by ``m (1 + tc1 dT + tc2 dT^2)`` (ngspice's B instance
        parameters; ``dT = (temp, else circuit temperature + dtemp) - tnom``)."""
        for src, p in self.b_scales:
            t = p["temp"] if "temp" in p else self.options.temp + p.get("dtemp", 0.0)
            dt = t - self.options.tnom
            tc = 1.0 + p.get("tc1", 0.0) * dt + p.get("tc2", 0.0) * dt * dt
            # (reciproctc: a resistor made a B source divides its current by the factor)
            factor = p.get("m", 1.0) * (1.0 / tc if p.get("reciproctc") else tc)
            if factor != 1.0:
                src.expr = src.expr.scaled(factor)
        self.b_scales = []

    def check_couplings(self) -> None:
        """Every ``K`` card must name two inductors of its scope (ngspice refuses others)."""
        if not self.couplings:
            return
        branches = set(self.v.name)  # inductors are 0 V branches among the V sources
        for prefix, *pair, card in self.couplings:
            for name, off in pair:
                if not name.startswith("l") or prefix + name not in branches:
                    raise err(
                        card,
                        off,
                        f"coupling {card.text.split()[0].lower()} names {name!r}, which is "
                        "not an inductor of this circuit",
                        "K<name> L<first> L<second> <k>: both inductors must exist "
                        "(ngspice stops with the same error)",
                    )

    def resolve_branch_controls(self) -> None:
        """``I(vx)`` controls -> ``(-(j+1), 0)`` with ``j`` the branch of ``vx`` (V then E)."""
        if not self.branch_controls:
            return
        branch = {n: j for j, n in enumerate(self.v.name)}
        n_v = len(self.v.name)
        for k, n in enumerate(self.e.name):
            branch.setdefault(n, n_v + k)
        for src, card in self.branch_controls:
            pairs = []
            for p, q in src.controls:
                if isinstance(p, tuple):
                    _, name, _ = p
                    if name not in branch:
                        raise err(
                            card,
                            None,
                            f"{src.name}: I({name.rsplit('.', 1)[-1]}) needs "
                            f"a V, E, H, L or B V= source named {name!r}",
                            "a current is measured through a voltage source (V<name> a b 0)",
                        )
                    p = -(branch[name] + 1)
                pairs.append((p, q))
            src.controls = pairs

    def check_swept_resistor(self, card: Card, name: str, off: int, sweep) -> None:
        """A resistor swept by ``.dc`` (ngspice sets its resistance at each point): it must
        exist, keep its value as written (no TC, M, SCALE or model geometry, which ngspice
        would apply to each swept value) and be swept over positive values."""
        rows = self.r
        if name not in self.names or name not in set(rows.name):
            raise err(
                card,
                off,
                f".dc sweeps {name!r}, which is not an independent V or I source or a "
                "resistor of the circuit",
                "expected: " + EXPECTED[".dc"],
            )
        row = rows.name.index(name)
        rcard = self.names[name]
        if any(k == row for k, *_ in self.r_thermal) or re.search(
            r"\b(m|scale|l|w)\s*=", rcard.text, re.IGNORECASE
        ):
            raise err(
                card,
                off,
                f".dc sweeps resistor {name!r}, which has TC/M/SCALE/geometry parameters "
                "(ngspice scales each swept value by them); xbar sweeps plain resistors only",
                "sweep a plain resistor, or its value through .param in separate runs",
            )
        if not (sweep.start > 0 and sweep.stop > 0):
            raise err(card, off, f".dc sweep of resistor {name!r} must stay above 0 ohm")

    def rename_sweep(self, sweep: DCSweep, by_spice: dict, sources: set) -> DCSweep:
        """``sweep`` with ngspice names of subcircuit sources replaced by xbar's (in
        :attr:`analyses` too)."""

        def fix(sw: DCSweep | None) -> DCSweep | None:
            if sw is None:
                return None
            name = sw.source if sw.source in sources else by_spice.get(sw.source, sw.source)
            return replace(sw, source=name, outer=fix(sw.outer))

        new = fix(sweep)
        self.analyses = [new if a is sweep else a for a in self.analyses]
        return new

    def resolve_nodesets(self) -> dict[int, float]:
        """``.nodeset`` node names -> node indices (the nodes must exist)."""
        out = {}
        for name, value, card, off in self.nodeset_cards:
            idx = 0 if name in ("0", "gnd") else self.node_index.get(name)
            if idx is None:
                raise err(
                    card,
                    off,
                    f".nodeset names node {name!r}, which is not in the circuit",
                    "expected: " + EXPECTED[".nodeset"],
                )
            if idx:
                out[idx] = value
        return out

    def check_sweeps(self) -> None:
        """Every ``.dc`` card sweeps existing, distinct independent sources; a source
        inside a subcircuit may be named as ngspice names it (``v.x1.vq`` for ``x1.vq``)."""
        sources = set(self.v.name) | set(self.i.name)
        by_spice = {self.spice_names.get(s, spice_name(s)): s for s in sources}
        for k, (sweep, card, srcs) in enumerate(self.dc_cards):
            if any(n not in sources and n in by_spice for n, _ in srcs):
                sweep = self.rename_sweep(sweep, by_spice, sources)
                self.dc_cards[k] = DCCard(sweep, card, srcs)
                srcs = [(by_spice.get(n, n) if n not in sources else n, o) for n, o in srcs]
            for j, (name, off) in enumerate(srcs):
                if name == "temp":
                    continue
                if name not in sources and name[:1] == "r":
                    self.check_swept_resistor(card, name, off, sweep if j == 0 else sweep.outer)
                elif name not in sources:
                    raise err(
                        card,
                        off,
                        f".dc source {name!r} is not an independent V or I source or a "
                        "resistor of the circuit",
                        "expected: " + EXPECTED[".dc"],
                    )
            if sweep.outer is not None and sweep.outer.source == sweep.source:
                raise err(
                    card,
                    srcs[1][1],
                    f".dc sweeps {sweep.source!r} twice",
                    "the second source must differ from the first",
                )
