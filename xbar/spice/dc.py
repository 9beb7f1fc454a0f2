"""DC analysis: operating points and DC sweeps of a :class:`~xbar.spice.circuit.Circuit`.

>>> from xbar.spice.circuit import Circuit, TwoTerminal
>>> import numpy as np
>>> c = Circuit(node_names=["0", "in", "out"])
>>> c.vsources = TwoTerminal(["v1"], np.array([1]), np.array([0]), np.array([2.0]))
>>> c.resistors = TwoTerminal(["r1", "r2"], np.array([1, 2]), np.array([2, 0]),
...                           np.array([1e3, 1e3]))
>>> op = solve_dc(c)
>>> round(op.voltage("out"), 12), round(op.current("v1"), 12)
(1.0, -0.001)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import CircuitError, InputTypeError, SingularCircuitError, XbarError
from .circuit import Circuit, DCSweep, Op, Options, spice_name  # noqa: F401 (re-export)

__all__ = ["solve_dc", "OperatingPoint", "SweepResult"]


def _name_key(name: object, what: str) -> str:
    """A node or source name as its lower-case key; anything but text is an InputTypeError."""
    if not isinstance(name, str):
        raise InputTypeError(
            f"a {what} name must be text, got {type(name).__name__} {name!r}",
            hint="e.g. op.voltage('out'), op.current('v1')",
        )
    return name.lower()


@dataclass
class _Named:
    """Shared lookup of node voltages and branch currents in a solution."""

    node_names: list[str]
    branch_names: list[str]
    n_voltage: int

    def _node_col(self, name: str) -> int | None:
        key = _name_key(name, "node")
        if key in ("0", "gnd"):
            return None
        idx = self.__dict__.get("_nidx")
        if idx is None:
            idx = {n: i for i, n in enumerate(self.node_names)}
            self.__dict__["_nidx"] = idx
        if key not in idx:
            raise XbarError(
                f"no node named {name!r} in the solution",
                hint="node names: " + ", ".join(self.node_names[:10]),
            )
        return idx[key]

    def _branch_col(self, name: str) -> int:
        key = _name_key(name, "source")
        idx = self.__dict__.get("_bidx")
        if idx is None:
            idx = {n: i for i, n in enumerate(self.branch_names)}
            # hierarchical sources also answer to their plain path ("x1.vm" for "v.x1.vm")
            for i, n in enumerate(self.branch_names):
                if n[1:3] == ".x":
                    idx.setdefault(n[2:], i)
            self.__dict__["_bidx"] = idx
        if key not in idx:
            raise XbarError(
                f"no voltage source (V or E) named {name!r} in the solution",
                hint="sources: " + ", ".join(self.branch_names[:10]),
            )
        return self.n_voltage + idx[key]


@dataclass
class OperatingPoint(_Named):
    """A DC operating point.

    Attributes
    ----------
    x : ndarray, shape (n unknowns,)
        The MNA solution: node voltages [V] (ground excluded, internal diode
        nodes after the circuit's nodes), then branch currents [A].
    iterations : int
        Newton iterations (1 for a linear circuit: one factorisation).
    strategy : str
        ``"linear"``, ``"newton"``, ``"gmin stepping"`` or ``"source stepping"``.
    """

    x: np.ndarray = field(default_factory=lambda: np.zeros(0))
    iterations: int = 0
    strategy: str = "linear"
    analysis: str = "op"

    def voltage(self, name: str) -> float:
        """Voltage of node ``name`` against ground [V]."""
        col = self._node_col(name)
        return 0.0 if col is None else float(self.x[col])

    def current(self, name: str) -> float:
        """Branch current of V/E source ``name`` [A], positive into its + terminal.

        Sources inside subcircuits are named as ngspice names them
        (``v.x1.vm``); the plain path (``x1.vm``) is accepted too.
        """
        return float(self.x[self._branch_col(name)])

    @property
    def voltages(self) -> dict[str, float]:
        """Node name (lower case) -> voltage [V], circuit nodes only (device-internal
        nodes such as ``m1#drain`` answer :meth:`voltage` but are not listed)."""
        return {n: float(self.x[i]) for i, n in enumerate(self.node_names) if "#" not in n}

    @property
    def currents(self) -> dict[str, float]:
        """V/E source name (lower case, ngspice's naming) -> branch current [A] (SPICE sign)."""
        return {n: float(self.x[self.n_voltage + i]) for i, n in enumerate(self.branch_names)}


@dataclass
class SweepResult(_Named):
    """A DC sweep (``.dc``), points in ngspice order (inner source fastest).

    Attributes
    ----------
    x : ndarray, shape (n points, n unknowns)
        MNA solution per point.
    sweep : ndarray, shape (n points,)
        Value of the inner (first) swept source at each point [V or A].
    source : str
        Name of the inner swept source.
    outer_sweep : ndarray, shape (n points,) or None
        Value of the outer source of a nested sweep at each point.
    outer_source : str or None
    iterations : ndarray of int, shape (n points,)
        Newton iterations per point.
    strategies : list of str
        Strategy that converged at each point.
    """

    x: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    sweep: np.ndarray = field(default_factory=lambda: np.zeros(0))
    source: str = ""
    outer_sweep: np.ndarray | None = None
    outer_source: str | None = None
    iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    strategies: list[str] = field(default_factory=list)
    analysis: str = "dc"

    @property
    def strategy(self) -> str:
        """The most demanding strategy any point needed."""
        order = ["linear", "newton", "gmin stepping", "source stepping"]
        return max(self.strategies, key=order.index) if self.strategies else "linear"

    def voltage(self, name: str) -> np.ndarray:
        """Voltage of node ``name`` at every sweep point [V]."""
        col = self._node_col(name)
        return np.zeros(len(self.x)) if col is None else self.x[:, col].copy()

    def current(self, name: str) -> np.ndarray:
        """Branch current of V/E source ``name`` at every point [A] (SPICE sign)."""
        return self.x[:, self._branch_col(name)].copy()

    @property
    def voltages(self) -> dict[str, np.ndarray]:
        return {n: self.x[:, i].copy() for i, n in enumerate(self.node_names) if "#" not in n}

    @property
    def currents(self) -> dict[str, np.ndarray]:
        return {n: self.x[:, self.n_voltage + i].copy() for i, n in enumerate(self.branch_names)}


def solve_dc(
    circuit: Circuit,
    options: Options | None = None,
    *,
    analysis: Op | DCSweep | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: str = "auto",
) -> OperatingPoint | SweepResult:
    """Solve a circuit's DC analysis (``.op`` or ``.dc``).

    Parameters
    ----------
    circuit : Circuit
        From :func:`xbar.read_netlist` or built in code.
    options : Options, optional
        Overrides ``circuit.options`` (tolerances, gmin, iteration limits).
    analysis : Op or DCSweep, optional
        Which analysis to run; default: the circuit's first analysis card,
        or an operating point when it has none.
    progress : callable, optional
        ``progress(done, total)`` called after each sweep point (or group of points).
    engine : str
        ``"compiled"``: Newton runs and linear solves in numba kernels
        (:mod:`xbar.spice.compiled`; about 0.5 s to start numba in a fresh
        process); ``"python"``: the Python path (the reference the compiled one
        is tested against); ``"auto"`` (default): compiled for sweeps of 50
        points or more once its kernels run in the process, and in a fresh process
        only where the Python path would take longer than numba's start-up
        (hundreds of points for a small circuit).  Results agree to rounding.

    Returns
    -------
    OperatingPoint or SweepResult

    Raises
    ------
    SingularCircuitError
        Floating nodes, loops of voltage sources, current-source cut sets.
    ConvergenceError
        Newton and its fallbacks failed (names the worst unknown).
    """
    from .mosfet import expand_mosfets
    from .topology import check_topology, locate_singular

    if not isinstance(circuit, Circuit):
        what = type(circuit).__name__
        hint = (
            "read it first: xbar.solve_dc(xbar.read_netlist(text_or_path))"
            if isinstance(circuit, str | bytes) or hasattr(circuit, "__fspath__")
            else "build one with xbar.read_netlist(...) or xbar.spice.circuit.Circuit(...)"
        )
        raise XbarError(
            f"solve_dc needs a Circuit, got {what}"
            + (" (netlist text or a path?)" if what in ("str", "bytes") else ""),
            hint=hint,
        )
    if progress is not None and not callable(progress):
        raise InputTypeError(
            f"progress must be a function progress(done, total), got {type(progress).__name__}"
        )
    opts = options if options is not None else circuit.options
    _check_options(opts)
    if engine not in ("auto", "compiled", "python"):
        from ..errors import ConfigError

        raise ConfigError(f"engine must be 'auto', 'compiled' or 'python', got {engine!r}")
    if analysis is None:
        analysis = circuit.analyses[0] if circuit.analyses else Op()
    circuit = expand_mosfets(circuit, opts)  # MOSFETs as the engine's devices
    check_topology(circuit)
    try:
        return _solve(circuit, opts, analysis, progress, engine)
    except SingularCircuitError as exc:
        raise locate_singular(circuit, exc) from None


def _solve(circuit, opts, analysis, progress, engine) -> OperatingPoint | SweepResult:
    """solve_dc's work on a checked circuit with MOSFETs expanded."""
    from .newton import DCSystem

    points = 1
    if isinstance(analysis, DCSweep):
        points = len(analysis.values()) * (len(analysis.outer.values()) if analysis.outer else 1)
    system = DCSystem(circuit, opts, compiled=_compiled_choice(engine, points, circuit))
    lay = system.layout
    named = dict(
        node_names=[n.lower() for n in circuit.node_names[1:]],
        branch_names=[circuit.spice_name(n) for n in circuit.vsources.name + circuit.vcvs.name],
        n_voltage=lay.n_voltage,
    )
    if isinstance(analysis, DCSweep):
        swept = {analysis.source.lower()} | (
            {analysis.outer.source.lower()} if analysis.outer is not None else set()
        )
        if "temp" in swept or swept & {n.lower() for n in circuit.resistors.name}:
            return _pointwise_sweep(circuit, opts, analysis, progress)
        return _sweep(circuit, system, analysis, named, progress)
    if not isinstance(analysis, Op):
        raise CircuitError(f"unsupported analysis {analysis!r}")
    return _op(system, named)[0]


def _op(system, named: dict, prev: tuple | None = None) -> tuple[OperatingPoint, tuple | None]:
    """The operating point of ``system`` and ``(x, device state)`` to continue from; with
    ``prev``, that of a neighbouring point (a .dc point before), Newton starts there first
    (ngspice's sweeps do so), else from scratch with gmin and source stepping."""
    if system.is_linear:
        x = system.solve_linear(system.sources[:, None])[:, 0]
        return OperatingPoint(**named, x=x, iterations=1, strategy="linear"), None
    if prev is not None and len(prev[0]) == system.layout.size:
        res = system.newton(prev[0], prev[1].copy(), maxiter=system.options.itl2)
        if res.converged:
            op = OperatingPoint(**named, x=res.x, iterations=res.iterations, strategy="newton")
            return op, (res.x, res.state)
    start = _nodeset_start(system) if prev is None and system.circuit.nodesets else None
    if start is not None:  # released from the held .nodeset nodes, as ngspice's INITFLOAT
        res = system.newton(start[0], start[1], maxiter=system.options.itl1)
        if res.converged:
            op = OperatingPoint(**named, x=res.x, iterations=res.iterations, strategy="newton")
            return op, (res.x, res.state)
    res, strategy = system.operating_point(x0=system.start_point())
    op = OperatingPoint(**named, x=res.x, iterations=res.iterations, strategy=strategy)
    return op, (res.x, res.state)


def _nodeset_start(system) -> tuple | None:
    """Newton's start for a circuit with ``.nodeset`` cards, as ngspice's INITJCT and
    INITFIX phases make it: the operating point with every nodeset node held at its value
    by 1e10 S (``cktload.c``), and its device state; None for a linear circuit (one
    solution) or where that held circuit has no operating point."""
    from .newton import DCSystem

    if system.is_linear:
        return None
    c = system.circuit
    held = [(n, v) for n, v in c.nodesets.items() if n > 0]
    nodes = np.array([n for n, _ in held], dtype=np.int64)
    ground = np.zeros(len(held), dtype=np.int64)
    names = [f"nodeset({c.node_names[n]})" for n, _ in held]
    R, I = c.resistors, c.isources
    clamped = replace(
        c,
        resistors=type(R)(
            list(R.name) + names,
            np.concatenate([np.asarray(R.npos, dtype=np.int64), nodes]),
            np.concatenate([np.asarray(R.nneg, dtype=np.int64), ground]),
            np.concatenate([np.asarray(R.value, dtype=float), np.full(len(held), 1e-10)]),
        ),
        isources=type(I)(
            list(I.name) + names,
            np.concatenate([np.asarray(I.npos, dtype=np.int64), ground]),
            np.concatenate([np.asarray(I.nneg, dtype=np.int64), nodes]),
            np.concatenate([np.asarray(I.value, dtype=float), [1e10 * v for _, v in held]]),
        ),
        nodesets={},
    )
    try:
        res, _ = DCSystem(clamped, system.options, compiled=False).operating_point(
            x0=system.start_point()
        )
    except XbarError:
        return None
    return res.x, res.state


def _point_op(circuit, opts, engine: str, prev: tuple | None) -> tuple[OperatingPoint, tuple]:
    """Operating point of a checked circuit with MOSFETs expanded, continuing from
    ``prev``, Newton's ``(x, state)`` at the point before (or None)."""
    from .newton import DCSystem

    system = DCSystem(circuit, opts, compiled=_compiled_choice(engine, 1))
    named = dict(
        node_names=[n.lower() for n in circuit.node_names[1:]],
        branch_names=[circuit.spice_name(n) for n in circuit.vsources.name + circuit.vcvs.name],
        n_voltage=system.layout.n_voltage,
    )
    return _op(system, named, prev)


#: ``engine="auto"`` chooses the compiled path from this many sweep points (for an
#: operating point the Python path's SuperLU is as fast as ordering and factorising in the
#: kernels) once the compiled kernels run in the process; before, where importing numba
#: and loading its kernels costs about 0.5 s of CPU, only where the Python path would cost
#: more (:func:`_python_sweep_cost`)
COMPILED_MIN_POINTS = 50
NUMBA_START_S = 0.5  # numba's import and kernel loading in a fresh process [s of CPU]


def _python_sweep_cost(circuit: Circuit, points: int) -> float:
    """Estimated CPU seconds of a sweep on the Python path, from warm-started points
    measured on a 2-core EPYC (1S1R crossbars 2x2 to 32x32, 100 points: 0.6 ms + 3.3 us
    per node and point; compiled 0.04 ms + 1.2 us; MOSFET circuits ~3 ms per point at a
    few nodes, for their extra Newton iterations: MOSFETs are behavioural devices here)."""
    per_point = 0.6e-3 + 3.3e-6 * circuit.n_nodes + (2e-3 if len(circuit.bsources) else 0.0)
    return points * per_point


def _compiled_choice(engine: str, points: int, circuit: Circuit | None = None) -> bool | None:
    """DCSystem's ``compiled`` argument for ``engine`` (None: where the size allows)."""
    if engine == "python":
        return False
    if engine == "compiled":
        return None
    if points < COMPILED_MIN_POINTS:
        return False
    if circuit is None or "xbar.spice._newton_kernels" in sys.modules:  # kernels running
        return None
    return None if _python_sweep_cost(circuit, points) > NUMBA_START_S else False


def _check_options(opts: Options) -> None:
    """ConfigError naming the first option field with an impossible value."""
    from ..errors import ConfigError

    if not isinstance(opts, Options):
        raise ConfigError(f"options must be an xbar.Options, got {type(opts).__name__}")
    val = {}
    for field_name in ("reltol", "abstol", "vntol", "gmin", "itl1", "itl2", "temp", "tnom"):
        v = getattr(opts, field_name)
        if isinstance(v, str | bytes) or isinstance(v, bool):
            raise ConfigError(f"options.{field_name} must be a number, got {v!r}")
        try:
            val[field_name] = float(v)
        except (TypeError, ValueError):
            raise ConfigError(
                f"options.{field_name} must be a number, got {type(v).__name__}"
            ) from None
    for field_name in ("reltol", "abstol", "vntol"):
        v = val[field_name]
        if not (np.isfinite(v) and v > 0.0):
            raise ConfigError(f"options.{field_name} must be a positive number, got {v:g}")
    if not (np.isfinite(val["gmin"]) and val["gmin"] >= 0):
        raise ConfigError(f"options.gmin must be >= 0, got {val['gmin']:g}")
    for field_name in ("itl1", "itl2"):
        v = val[field_name]
        if not (np.isfinite(v) and v == int(v) and v >= 1):
            raise ConfigError(f"options.{field_name} must be a positive integer, got {v:g}")
    for field_name in ("temp", "tnom"):
        v = val[field_name]
        if not (np.isfinite(v) and v > -273.15):
            raise ConfigError(f"options.{field_name} must be above -273.15 degC, got {v:g}")


def _with_value(circuit: Circuit, name: str, value: float) -> Circuit:
    """``circuit`` with resistor or independent source ``name`` set to ``value``."""
    for field_name in ("resistors", "vsources", "isources"):
        table = getattr(circuit, field_name)
        names = [n.lower() for n in table.name]
        if name.lower() in names:
            values = np.array(table.value, dtype=float)
            values[names.index(name.lower())] = value
            return replace(circuit, **{field_name: replace(table, value=values)})
    raise CircuitError(f".dc sweeps {name!r}, which is not a source or resistor of the circuit")


def _at_point(circuit: Circuit, opts: Options, name: str, value: float, cache: dict):
    """The circuit and options with ``name`` (a source, a resistor or ``temp``) at ``value``."""
    if name.lower() != "temp":
        return _with_value(circuit, name, value), opts
    if value not in cache:
        if circuit.at_temperature is None:
            raise CircuitError(
                ".dc temp needs a circuit read from a netlist (read_netlist): xbar reads it "
                "again at each temperature, as ngspice re-evaluates it"
            )
        cache[value] = circuit.at_temperature(value)
    hot = cache[value]
    return hot, replace(opts, temp=value)


def _pointwise_sweep(circuit, opts, dc: DCSweep, progress) -> SweepResult:
    """A ``.dc`` sweep point by point: of a resistor (ngspice sets its resistance at each
    point) or of the temperature (the netlist read again at each).  Each point starts
    from the solution of the one before, as in ngspice."""
    from .mosfet import expand_mosfets

    inner = dc.values()
    outer = dc.outer.values() if dc.outer is not None else np.array([np.nan])
    sweep = np.tile(inner, len(outer))
    outer_sweep = np.repeat(outer, len(inner)) if dc.outer is not None else None
    npts = len(sweep)
    xs, iters, strategies = None, np.zeros(npts, dtype=np.int64), []
    cache: dict = {}
    prev, op = None, None
    for p in range(npts):
        c, o = circuit, opts
        dims = [(dc.source, float(sweep[p]))]
        if dc.outer is not None:
            dims.append((dc.outer.source, float(outer_sweep[p])))
        for name, value in sorted(dims, key=lambda d: d[0].lower() != "temp"):
            c, o = _at_point(c, o, name, value, cache)  # temp first: its circuit is new
        what = f"{dc.source}={sweep[p]:g}" + (
            f", {dc.outer.source}={outer_sweep[p]:g}" if dc.outer is not None else ""
        )
        try:
            op, prev = _point_op(expand_mosfets(c, o), o, "python", prev)
        except XbarError as exc:
            exc.add_context(f".dc point {p} ({what})")
            raise
        if xs is None:
            xs = np.empty((npts, len(op.x)))
        xs[p], iters[p] = op.x, op.iterations
        strategies.append(op.strategy)
        if progress is not None:
            progress(p + 1, npts)
    return SweepResult(
        node_names=op.node_names,
        branch_names=op.branch_names,
        n_voltage=op.n_voltage,
        x=xs,
        sweep=sweep,
        source=dc.source.lower(),
        outer_sweep=outer_sweep,
        outer_source=dc.outer.source.lower() if dc.outer is not None else None,
        iterations=iters,
        strategies=strategies,
    )


def _sweep_index(circuit: Circuit, name: str, dc: DCSweep) -> int:
    key = name.lower()
    names = [n.lower() for n in circuit.vsources.name] + [n.lower() for n in circuit.isources.name]
    if key not in names:
        raise CircuitError(
            f".dc sweeps {name!r}, which is not an independent V or I source of the circuit",
            hint=".dc <source> <start> <stop> <step> [<source2> <start2> <stop2> <step2>]",
        )
    return names.index(key)


def _sweep(circuit, system, dc: DCSweep, named, progress) -> SweepResult:
    inner = dc.values()
    k_in = _sweep_index(circuit, dc.source, dc)
    if dc.outer is not None:
        outer = dc.outer.values()
        k_out = _sweep_index(circuit, dc.outer.source, dc.outer)
        sweep = np.tile(inner, len(outer))
        outer_sweep = np.repeat(outer, len(inner))
    else:
        k_out = None
        sweep, outer_sweep = inner, None
    npts = len(sweep)
    block = np.repeat(system.sources[:, None], npts, axis=1)
    if k_out is not None:
        block[k_out] = outer_sweep
    block[k_in] = sweep
    common = dict(
        named,
        sweep=sweep,
        source=dc.source.lower(),
        outer_sweep=outer_sweep,
        outer_source=dc.outer.source.lower() if dc.outer is not None else None,
    )
    if system.is_linear:
        x = system.solve_linear(block).T.copy()
        if progress is not None:
            progress(npts, npts)
        return SweepResult(
            **common, x=x, iterations=np.ones(npts, dtype=np.int64), strategies=["linear"] * npts
        )
    opts = system.options
    xs = np.empty((npts, system.layout.size))
    iters = np.zeros(npts, dtype=np.int64)
    strategies: list[str] = []
    x, state = None, None
    fast = system.compiled
    chunk = max(1, npts // 100)  # points per compiled call (progress between calls)
    p = 0
    while p < npts:
        if fast is not None and state is not None:
            block = np.ascontiguousarray(block)
            x, state, q = fast.sweep(x, state, block, p, min(npts, p + chunk), opts.itl2, xs, iters)
            strategies += ["newton"] * (q - p)
            if q > p and progress is not None:
                progress(q, npts)
            if q > p:
                p = q
                continue
        x, state, strategy, it = _sweep_point(
            system, dc, p, block[:, p], sweep, outer_sweep, x, state
        )
        xs[p] = x
        iters[p] = it
        strategies.append(strategy)
        p += 1
        if progress is not None:
            progress(p, npts)
    return SweepResult(**common, x=xs, iterations=iters, strategies=strategies)


def _sweep_point(system, dc: DCSweep, p: int, src, sweep, outer_sweep, x, state):
    """Solve sweep point ``p`` from the previous point's solution, else as a fresh
    operating point (gmin and source stepping included); ``(x, state, strategy, iterations)``."""
    opts = system.options
    what = f".dc point {p} ({dc.source}={sweep[p]:g}" + (
        f", {dc.outer.source}={outer_sweep[p]:g})" if dc.outer is not None else ")"
    )
    res = None
    if state is not None:
        res = system.newton(x, state.copy(), maxiter=opts.itl2, sources=src)
        strategy = "newton"
        if not res.converged:
            res = None
    if res is None:
        res, strategy = system.operating_point(maxiter=opts.itl1, sources=src, what=what)
    return res.x, res.state, strategy, res.iterations
