"""The circuit model: nodes and element tables as plain arrays.

A :class:`Circuit` is what :func:`xbar.read_netlist` produces and what the
DC solver consumes.  It is plain data: node names, and one table per element
kind whose node columns are integer indices into ``node_names`` (index 0 is
ground, named ``"0"``).  Names are lower case; nodes inside subcircuit
instances carry hierarchical names such as ``"x1.m"``.

Sign conventions follow SPICE:

* ``I`` sources and ``B`` current sources drive their current from ``npos``
  *through the source* to ``nneg`` (so the current leaves the circuit at
  ``npos`` and re-enters at ``nneg``).
* ``G`` (VCCS): current ``gain * (V(cpos) - V(cneg))`` flows from ``npos``
  through the element to ``nneg``.
* ``E`` (VCVS): ``V(npos) - V(nneg) = gain * (V(cpos) - V(cneg))``.
* Branch currents of ``V`` and ``E`` are positive when flowing into the
  ``npos`` terminal (through the source from + to -), as ngspice reports.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..errors import InputTypeError, Location, UnknownFieldError

GROUND_NAMES = frozenset({"0", "gnd"})


def spice_name(name: str) -> str:
    """ngspice's name for an element: ``x1.x2.vm`` (inside subcircuits) is ``v.x1.x2.vm``.

    Only names of elements inside subcircuit instances (they start with ``x``) change;
    the letter is the first one of the last path part, so an element whose own name
    has a period needs :meth:`Circuit.spice_name` (which knows where the path ends).

    >>> spice_name("V1"), spice_name("x1.x2.vm"), spice_name("va.b")
    ('v1', 'v.x1.x2.vm', 'va.b')
    """
    name = name.lower()
    if not name.startswith("x") or "." not in name.rstrip("."):
        return name
    return f"{name.rstrip('.').rsplit('.', 1)[1][0]}.{name}"


@dataclass(frozen=True)
class Options:
    """Simulator options, as ``.options`` sets them (SPICE defaults).

    Attributes
    ----------
    reltol : float
        Relative tolerance of the per-unknown convergence test.
    abstol : float
        Absolute current tolerance [A].
    vntol : float
        Absolute voltage tolerance [V].
    gmin : float
        Conductance put across every junction [S].
    itl1 : int
        Newton iteration limit for an operating point.
    itl2 : int
        Newton iteration limit per ``.dc`` sweep point.
    temp : float
        Circuit temperature [degC].
    tnom : float
        Nominal temperature of model parameters [degC].
    """

    reltol: float = 1e-3
    abstol: float = 1e-12
    vntol: float = 1e-6
    gmin: float = 1e-12
    itl1: int = 100
    itl2: int = 50
    temp: float = 27.0
    tnom: float = 27.0


_options_init = Options.__init__


@functools.wraps(_options_init)
def _options_checked_init(self, *args: Any, **kwargs: Any) -> None:
    """The dataclass ``__init__``, with an unknown option an xbar error naming it."""
    names = [f.name for f in fields(Options)]
    for key in kwargs:
        if key not in names:
            raise UnknownFieldError(
                f"unknown simulator option {key!r}", hint="options: " + ", ".join(names)
            )
    if len(args) > len(names):
        raise InputTypeError(f"Options takes at most {len(names)} values, got {len(args)}")
    _options_init(self, *args, **kwargs)


Options.__init__ = _options_checked_init  # type: ignore[method-assign]


@dataclass
class TwoTerminal:
    """Table of two-terminal elements (R, V, I): names, nodes and one value each.

    ``value`` is in ohm for resistors, volt for V sources, ampere for I sources.
    """

    name: list[str] = field(default_factory=list)
    npos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    nneg: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    value: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.name)


@dataclass
class Controlled:
    """Table of linear controlled sources (G: gain in S, E: gain in V/V)."""

    name: list[str] = field(default_factory=list)
    npos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    nneg: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cpos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cneg: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    gain: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.name)


@dataclass(frozen=True)
class DiodeModel:
    """Parameters of a ``.model NAME D(...)`` card (ngspice names, SI units).

    The DC parameters of ngspice's level-1 diode: saturation current ``is_`` [A],
    emission coefficient ``n``, ohmic resistance ``rs`` [ohm], breakdown voltage
    ``bv`` [V] (``inf``: none), current at breakdown ``ibv`` [A], breakdown emission
    coefficient ``nbv`` (None: ``n``), activation energy ``eg`` [eV], saturation-current
    temperature exponent ``xti``, nominal temperature ``tnom`` [degC] (None: the
    circuit's TNOM), BV temperature coefficient ``tcv`` [V/K] and RS temperature
    coefficients ``trs1`` [1/K], ``trs2`` [1/K^2].
    """

    name: str
    is_: float = 1e-14
    n: float = 1.0
    rs: float = 0.0
    bv: float = float("inf")
    ibv: float = 1e-3
    nbv: float | None = None
    eg: float = 1.11
    xti: float = 3.0
    tnom: float | None = None
    tcv: float = 0.0
    trs1: float = 0.0
    trs2: float = 0.0
    #: instance parameters given on the model card, ``((name, value), ...)``: defaults for
    #: every instance (``area``, ``temp``, ``dtemp``; ngspice-39 reads them so)
    defaults: tuple = field(default=(), compare=False)


@dataclass(frozen=True)
class MosModel:
    """A level-1 MOSFET model (``.model NAME NMOS|PMOS(...)``), ngspice's names, SI units.

    ``sign`` is +1 (NMOS) or -1 (PMOS); ``vto`` [V], ``kp`` [A/V^2], ``gamma``
    [V^0.5], ``phi`` [V], ``lam`` (LAMBDA) [1/V], ``rd``/``rs`` [ohm] (None: not
    given), ``rsh`` [ohm/square], ``is_`` [A], ``js`` [A/m^2], ``ld`` [m], ``tnom``
    [degC] (None: the circuit's TNOM).
    """

    name: str
    sign: int = 1
    vto: float = 0.0
    kp: float = 2e-5
    gamma: float = 0.0
    phi: float = 0.6
    lam: float = 0.0
    rd: float | None = None
    rs: float | None = None
    rsh: float = 0.0
    is_: float = 1e-14
    js: float = 0.0
    ld: float = 0.0
    tnom: float | None = None
    #: instance parameters given on the model card, ``((name, value), ...)``: defaults for
    #: every instance (``l``, ``w``, ``ad``, ``temp`` ...; ngspice-39 reads them so)
    defaults: tuple = field(default=(), compare=False)
    #: process parameters from which ngspice derives the VTO, GAMMA and PHI not given
    #: (``mos1temp.c``, with TOX given): NSUB [1/cm^3] (0: none), NSS [1/cm^2], TPG
    #: (gate type, None: 1), oxide capacitance per area ``cox`` [F/m^2] (0: TOX not
    #: given), and ``derive``, the names among vto/gamma/phi to derive
    nsub: float = 0.0
    nss: float = 0.0
    tpg: float | None = None
    cox: float = 0.0
    derive: frozenset = frozenset()


@dataclass(frozen=True)
class OtherModel:
    """A ``.model`` card of a type xbar does not simulate (kept so that a file may
    define it; an element that uses it is an error naming the model and its type)."""

    name: str
    type: str
    level: float = 1.0
    #: the card's parameters (name -> value), for the types the reader interprets (R)
    params: dict = field(default_factory=dict, compare=False)
    #: instance parameters given on the model card (name -> value): instance defaults
    defaults: dict = field(default_factory=dict, compare=False)


@dataclass
class Diodes:
    """Table of diodes: anode ``npos``, cathode ``nneg``, model and area factor, and
    the instance temperature ``temp`` [degC] (NaN: the circuit's) and ``dtemp`` [K]
    (added to the circuit's temperature when ``temp`` is not given)."""

    name: list[str] = field(default_factory=list)
    npos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    nneg: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    model: list[DiodeModel] = field(default_factory=list)
    area: np.ndarray = field(default_factory=lambda: np.zeros(0))
    temp: np.ndarray | None = None
    dtemp: np.ndarray | None = None

    def temperatures(self, options: Options) -> np.ndarray:
        """Each diode's temperature [K] (ngspice: TEMP, else circuit temp + DTEMP)."""
        n = len(self.name)
        temp = np.full(n, np.nan) if self.temp is None else np.asarray(self.temp, dtype=float)
        dtemp = np.zeros(n) if self.dtemp is None else np.asarray(self.dtemp, dtype=float)
        return np.where(np.isnan(temp), options.temp + dtemp, temp) + 273.15

    def series_conductance(self, k: int, options: Options) -> float:
        """``area / RS`` of diode ``k`` at its temperature (ngspice: divided by
        ``1 + TRS1 dT + TRS2 dT^2``); 0 without RS."""
        m = self.model[k]
        if m.rs <= 0:
            return 0.0
        tnom = (options.tnom if m.tnom is None else m.tnom) + 273.15
        dt = float(self.temperatures(options)[k]) - tnom
        return float(self.area[k]) / m.rs / (1.0 + m.trs1 * dt + m.trs2 * dt * dt)

    def __len__(self) -> int:
        return len(self.name)


def _ints() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _floats() -> np.ndarray:
    return np.zeros(0)


@dataclass
class Mosfets:
    """Table of level-1 MOSFETs ``M<name> d g s b <model> [L= W= ...]``, one row each.

    Node columns ``nd``, ``ng``, ``ns``, ``nb`` (drain, gate, source, bulk) index
    ``node_names``.  Instance parameters, every default already applied (the netlist
    reader applies ``.options defl/defw/defad/defas``): ``l``, ``w`` [m], ``ad``,
    ``as_`` [m^2] (drain and source areas, for ``JS``), ``nrd``, ``nrs`` (squares of
    ``RSH``), ``m`` (parallel devices), ``temp`` [degC] (NaN: the circuit's) and
    ``dtemp`` [K] (added to the circuit's temperature when ``temp`` is NaN).

    The engine solves each row as its channel and two bulk junctions (behavioural
    devices of :mod:`xbar.spice.mosfet`) plus the drain and source resistances;
    :func:`xbar.spice.mosfet.expand_mosfets` makes them.
    """

    name: list[str] = field(default_factory=list)
    nd: np.ndarray = field(default_factory=_ints)
    ng: np.ndarray = field(default_factory=_ints)
    ns: np.ndarray = field(default_factory=_ints)
    nb: np.ndarray = field(default_factory=_ints)
    model: list[MosModel] = field(default_factory=list)
    l: np.ndarray = field(default_factory=_floats)  # noqa: E741 - the SPICE name
    w: np.ndarray = field(default_factory=_floats)
    ad: np.ndarray = field(default_factory=_floats)
    as_: np.ndarray = field(default_factory=_floats)
    nrd: np.ndarray = field(default_factory=_floats)
    nrs: np.ndarray = field(default_factory=_floats)
    m: np.ndarray = field(default_factory=_floats)
    temp: np.ndarray = field(default_factory=_floats)
    dtemp: np.ndarray = field(default_factory=_floats)

    def __len__(self) -> int:
        return len(self.name)


@dataclass
class BSource:
    """A behavioural current source ``B<name> npos nneg I=expr``.

    ``expr`` is an :class:`xbar.spice.expr.Expression`; its controlling voltages are
    given as node-index pairs in ``controls`` (``(a, 0)`` for ``V(a)``), in the
    order the expression's ``evaluate`` expects them.  A negative index ``-(j+1)``
    stands for branch ``j`` (V sources, then E sources): as a control ``(-(j+1), 0)``
    it is that branch's current (``I(Vname)``); as ``nneg`` it puts the current into
    the branch's equation instead of a node (how ``B ... V=expr`` and ``H`` sources are
    built: a 0 V branch whose equation gets ``-expr``).
    """

    name: str
    npos: int
    nneg: int
    expr: Any
    controls: list[tuple[int, int]]
    #: conducts between its terminals (a device such as a MOSFET channel or junction):
    #: the topology check counts it as a path
    conductive: bool = False


@dataclass(frozen=True)
class Op:
    """A ``.op`` analysis."""


@dataclass(frozen=True)
class DCSweep:
    """A ``.dc`` sweep of one independent source (``V`` or ``I``) by name.

    ``inner`` is the first source on the card (swept fastest); ``outer`` the
    optional second one, as ngspice orders them.
    """

    source: str
    start: float
    stop: float
    step: float
    outer: DCSweep | None = None

    def values(self) -> np.ndarray:
        """The swept values, endpoints included, as ngspice makes them (``dctrcurv.c``):
        each the previous plus the step (so ``-2 + 40 * 0.05`` is 1.2e-15, not 0, as in
        ngspice), while not beyond the stop by more than ``1e3 * DBL_EPSILON``."""
        if self.step == 0:
            return np.array([self.start])
        n = int(np.floor((self.stop - self.start) / self.step * (1 + 1e-12) + 1e-9)) + 1
        v = np.cumsum(np.r_[self.start, np.full(max(n, 1), self.step)])
        beyond = np.sign(self.step) * (v - self.stop) > 1e3 * np.finfo(float).eps
        return v[: int(np.argmax(beyond)) if beyond.any() else len(v)]


@dataclass
class Circuit:
    """A flattened circuit ready for nodal analysis.

    Attributes
    ----------
    title : str
        The netlist's first line.
    node_names : list of str
        ``node_names[0] == "0"`` is ground; the rest in order of appearance.
    resistors, vsources, isources : TwoTerminal
    vccs, vcvs : Controlled
    diodes : Diodes
    mosfets : Mosfets
    bsources : list of BSource
    options : Options
    analyses : list of Op or DCSweep
        In the order of the netlist.
    locations : dict
        Element name -> :class:`~xbar.errors.Location` of its card, for errors.
    source_file : str
        Path of the netlist, or ``"<string>"``.
    spice_names : dict
        Flattened name -> ngspice's name, for the branch elements (V, E, ...) inside
        subcircuit instances (``x1.vq.r`` -> ``v.x1.vq.r``); other names are ngspice's.
    notes : list of str
        What the reader skipped or changed, as ``file:line: text`` (non-DC analyses,
        defaults ngspice applies, unknown options); the CLI prints them to stderr.
    nodesets : dict
        Node index -> ``.nodeset`` voltage [V], the Newton starting point.
    outputs : list of (str, str, Location)
        The top-level output requests (``.print``, ``.save``, ``.probe``) as
        ``(directive, card text, location of the card)``; :mod:`xbar.spice.outputs`
        reads them.
    at_temperature : callable or None
        For a netlist with a ``.dc temp`` sweep: ``at_temperature(T)`` reads it again at
        ``T`` degC (the netlist reader sets it; ngspice re-evaluates the circuit at each
        temperature of the sweep).
    open_elements : list of (str, int, int)
        Elements that are open at DC (capacitors) as ``(name, node+, node-)``: no part of
        the DC equations, kept so that errors about floating nodes can name them.
    """

    title: str = ""
    node_names: list[str] = field(default_factory=lambda: ["0"])
    resistors: TwoTerminal = field(default_factory=TwoTerminal)
    vsources: TwoTerminal = field(default_factory=TwoTerminal)
    isources: TwoTerminal = field(default_factory=TwoTerminal)
    vccs: Controlled = field(default_factory=Controlled)
    vcvs: Controlled = field(default_factory=Controlled)
    diodes: Diodes = field(default_factory=Diodes)
    mosfets: Mosfets = field(default_factory=Mosfets)
    bsources: list[BSource] = field(default_factory=list)
    options: Options = field(default_factory=Options)
    analyses: list = field(default_factory=list)
    locations: dict[str, Location] = field(default_factory=dict)
    source_file: str = "<string>"
    spice_names: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    nodesets: dict[int, float] = field(default_factory=dict)
    outputs: list[tuple[str, str, Location]] = field(default_factory=list)
    open_elements: list[tuple[str, int, int]] = field(default_factory=list)
    at_temperature: Any = field(default=None, repr=False, compare=False)

    def spice_name(self, name: str) -> str:
        """ngspice's name of element ``name`` (``x1.vq.r`` -> ``v.x1.vq.r``)."""
        key = name.lower()
        return self.spice_names.get(key, key)

    @property
    def n_nodes(self) -> int:
        """Number of nodes including ground."""
        return len(self.node_names)

    def node_index(self, name: str) -> int:
        """Index of a node by (case-insensitive) name; ground names map to 0."""
        key = name.lower()
        if key in GROUND_NAMES:
            return 0
        try:
            return self._index()[key]
        except KeyError:
            from ..errors import XbarError

            raise XbarError(f"no node named {name!r} in the circuit") from None

    def _index(self) -> dict[str, int]:
        cache = self.__dict__.get("_node_index")
        if cache is None or len(cache) != len(self.node_names):
            cache = {n: i for i, n in enumerate(self.node_names)}
            self.__dict__["_node_index"] = cache
        return cache

    @property
    def is_linear(self) -> bool:
        """True when the circuit has no diodes, MOSFETs or behavioural sources."""
        return len(self.diodes) == 0 and len(self.mosfets) == 0 and len(self.bsources) == 0
