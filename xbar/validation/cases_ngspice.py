"""Cross-simulator cases: the same netlist run by ngspice and by xbar.

Two families:

* ``ngspice_crossbar_*``: a matrix of crossbar circuits (sizes, wire
  resistances, driver/sense resistances, linear, sinh and exponential/diode
  cells).  The netlist is written here, by :func:`crossbar_netlist`, without
  using xbar's own exporter; ngspice solves it, and both the structured
  solver :class:`xbar.Crossbar` and the netlist engine (reading the same
  file) are compared with ngspice.  When the crossbar has a ``to_netlist``
  exporter, its netlist is also run by both simulators.
* ``ngspice_netlist_*``: every example netlist in ``netlists/``, run by
  ngspice and by the engine (with tight ``.options`` appended on both sides).

Without ngspice these cases are skipped with the status "ngspice not found".
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import reference as ref
from .framework import Case, CaseResult, CaseSkipped, add_case, rel_error

#: options that make both simulators converge far below the compared tolerance
TIGHT_OPTIONS = ".options reltol=1e-10 abstol=1e-18 vntol=1e-14 gmin=1e-20"

#: the residual asked of the crossbar solver (its default is 1e-10)
SOLVE_TOL = 1e-12


def _xbar_options():
    from ..spice.circuit import Options

    return Options(reltol=1e-10, abstol=1e-18, vntol=1e-14, gmin=1e-20)


LINEAR_TOL = 1e-10
LINEAR_WHY = (
    "two independent linear solves (ngspice's sparse LU, xbar's structured solver run to a "
    "1e-12 residual) differ by round-off: machine epsilon times the nodal matrix's "
    "condition number (up to ~1e5 with 0.1 ohm wires against 1e-5 S cells), ~1e-11; "
    "observed 1e-13..6e-12"
)
NONLINEAR_TOL = 1e-9
NONLINEAR_WHY = (
    "both simulators iterate Newton with reltol 1e-10 (.options on the ngspice side, the "
    "same Options and a 1e-12 residual on the xbar side); with quadratic convergence what "
    "remains is far below 1e-10, plus round-off; 1e-9 leaves a decade (observed ~3e-12)"
)


def require_ngspice():
    from ..spice.ngspice import ngspice_available, run_ngspice

    if not ngspice_available():
        raise CaseSkipped("ngspice not found (install it: apt-get install -y ngspice)")
    return run_ngspice


def _with_options(text: str, options: str = TIGHT_OPTIONS) -> str:
    """Insert an ``.options`` card before ``.end`` (or at the end)."""
    lines = text.rstrip("\n").split("\n")
    for k in range(len(lines) - 1, 0, -1):
        if lines[k].strip().lower() == ".end":
            return "\n".join(lines[:k] + [options] + lines[k:]) + "\n"
    return "\n".join(lines + [options, ".end"]) + "\n"


# ---------------------------------------------------------------------------
# an independent crossbar netlist writer


def crossbar_netlist(
    G: np.ndarray,
    V: np.ndarray,
    *,
    r_row: float,
    r_col: float,
    r_driver: float = 0.0,
    r_sense: float = 0.0,
    device: str = "linear",
    k: float = 3.0,
    v0: float = 0.05,
    g_selector: float = 1e-6,
    r_access: float = 0.0,
) -> str:
    """SPICE netlist of the default-topology crossbar (left drive, bottom sense).

    Nodes ``r<i>_<j>`` (rows) and ``c<i>_<j>`` (columns); source ``vin<i>``
    feeds node ``d<i>``, which reaches ``r<i>_0`` through ``r_driver + r_row``;
    column ``j`` leaves ``c<M-1>_<j>`` through ``r_col + r_sense`` into node
    ``s<j>`` held at 0 V by ``vsense<j>`` (its current is the output).
    ``device``: ``"linear"`` (resistor 1/G), ``"sinh"`` (B source
    ``G sinh(k v)/k``) or ``"exp"`` (diode with ``IS = G v0``, ``N = v0 / Vt``,
    i.e. ``G v0 (exp(v/v0) - 1)``) or ``"1s1r"`` (resistor 1/G from the row
    node to an internal node ``m<i>_<j>``, then a selector diode with
    ``IS = g_selector v0``, ``N = v0 / Vt`` to the column node).  A positive
    ``r_access`` adds that resistance in series with every linear cell (1T1R).
    Every wire resistance must be > 0.
    """
    G = np.asarray(G, dtype=float)
    m, n = G.shape
    vt = ref.thermal_voltage()
    r_row, r_col, r_driver, r_sense = map(float, (r_row, r_col, r_driver, r_sense))
    k, v0, g_selector, r_access = float(k), float(v0), float(g_selector), float(r_access)
    lines = [f"crossbar {m}x{n} {device} cells (validation suite)"]
    for i in range(m):
        lines.append(f"vin{i} d{i} 0 DC {float(V[i])!r}")
        lines.append(f"rdrv{i} d{i} r{i}_0 {r_driver + r_row!r}")
        for j in range(1, n):
            lines.append(f"rrow{i}_{j} r{i}_{j - 1} r{i}_{j} {r_row!r}")
    for j in range(n):
        for i in range(1, m):
            lines.append(f"rcol{i}_{j} c{i - 1}_{j} c{i}_{j} {r_col!r}")
        lines.append(f"rsns{j} c{m - 1}_{j} s{j} {r_col + r_sense!r}")
        lines.append(f"vsense{j} s{j} 0 DC 0")
    for i in range(m):
        for j in range(n):
            g = float(G[i, j])
            a, b = f"r{i}_{j}", f"c{i}_{j}"
            if device == "linear":
                lines.append(f"rcell{i}_{j} {a} {b} {1.0 / g + r_access!r}")
            elif device == "1s1r":
                lines.append(f"rcell{i}_{j} {a} m{i}_{j} {1.0 / g!r}")
                lines.append(f"dsel{i}_{j} m{i}_{j} {b} dsel")
            elif device == "sinh":
                lines.append(f"bcell{i}_{j} {a} {b} I={g!r}*sinh({k!r}*V({a},{b}))/{k!r}")
            elif device == "exp":
                lines.append(f"dcell{i}_{j} {a} {b} dm{i}_{j}")
                lines.append(f".model dm{i}_{j} D(IS={g * v0!r} N={v0 / vt!r})")
            else:
                raise ValueError(f"unknown device {device!r}")
    if device == "1s1r":
        lines.append(f".model dsel D(IS={g_selector * v0!r} N={v0 / vt!r})")
    lines += [TIGHT_OPTIONS, ".op", ".end", ""]
    return "\n".join(lines)


def _spice_maps(res, m, n):
    """Row/column voltages (M, N) and outputs (N,) from an ngspice/engine result dict."""
    row = np.array([[res["v"][f"r{i}_{j}"] for j in range(n)] for i in range(m)])
    col = np.array([[res["v"][f"c{i}_{j}"] for j in range(n)] for i in range(m)])
    out = np.array([res["i"][f"vsense{j}"] for j in range(n)])
    return row, col, out


def _ngspice_flat(result) -> dict:
    return {
        "v": {k: float(np.ravel(v)[0]) for k, v in result.voltages.items()},
        "i": {k: float(np.ravel(v)[0]) for k, v in result.currents.items()},
    }


def _engine_flat(text: str, names_v, names_i) -> dict:
    import xbar

    res = xbar.solve_dc(xbar.read_netlist(text))
    return {
        "v": {k: float(np.ravel(res.voltage(k))[0]) for k in names_v},
        "i": {k: float(np.ravel(res.current(k))[0]) for k in names_i},
    }


def _compare_flat(a: dict, b: dict) -> tuple[float, float]:
    """Relative errors of all node voltages and all source currents (b is the reference)."""
    keys_v = sorted(b["v"])
    keys_i = sorted(b["i"])
    ev = rel_error([a["v"][k] for k in keys_v], [b["v"][k] for k in keys_v])
    ei = rel_error([a["i"][k] for k in keys_i], [b["i"][k] for k in keys_i]) if keys_i else 0.0
    return ev, ei


def _ngspice_node_keys(flat: dict) -> list[str]:
    # ngspice reports internal nodes of diodes with RS (name#anode) and branch currents
    return [k for k in flat["v"] if "#" not in k]


@dataclass(frozen=True)
class CrossbarSpec:
    """One point of the ngspice crossbar matrix."""

    m: int
    n: int
    r_wire: float
    r_driver: float
    r_sense: float
    device: str
    seed: int
    quick: bool = True
    figure: bool = False
    r_access: float = 0.0

    @property
    def name(self) -> str:
        rs = "rs" if self.r_driver or self.r_sense else "ideal_ends"
        dev = "1t1r" if self.r_access else self.device
        return f"ngspice_crossbar_{self.m}x{self.n}_{dev}_r{self.r_wire:g}_{rs}"


def _device_for(spec: CrossbarSpec, k: float, v0: float):
    import xbar

    if spec.device == "linear":
        return xbar.Linear()
    if spec.device == "sinh":
        return xbar.Sinh(k)
    if spec.device == "1s1r":
        return xbar.Linear()
    return xbar.Exponential(v0)


def _spec_arrays(spec: CrossbarSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Conductances (M, N) [S] and one input (M,) [V] in the range of the cell model."""
    m, n = spec.m, spec.n
    if spec.device == "exp":
        return rng.uniform(1e-7, 1e-6, (m, n)), rng.uniform(0.2, 0.5, m)
    G = rng.uniform(1e-5, 1e-4, (m, n))
    if spec.device == "1s1r":
        return G, rng.uniform(0.0, 1.5, m)
    return G, rng.uniform(0.0, 1.0, m) if spec.device == "linear" else rng.uniform(0.3, 1.0, m)


def _own_export_errors(xb, V: np.ndarray, sol, run_ngspice) -> dict[str, float]:
    """xbar's own export (``to_netlist``) run by ngspice and by the engine: the engine
    against ngspice, and the array's solution against ngspice's named nodes."""
    m, n = xb.M, xb.N
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "xb.cir"
        xb.to_netlist(path, V)
        own = _with_options(path.read_text())
    spice_own = _ngspice_flat(run_ngspice(own))
    keys_own = _ngspice_node_keys(spice_own)
    engine_own = _engine_flat(own, keys_own, list(spice_own["i"]))
    errs = {}
    errs["to_netlist_engine_voltages"], errs["to_netlist_engine_currents"] = _compare_flat(
        engine_own, {"v": {k_: spice_own["v"][k_] for k_ in keys_own}, "i": spice_own["i"]}
    )
    # the exporter names nodes r<i>_<j> / c<i>_<j> and sense sources vsense<j>_b
    names_r = [f"r{i}_{j}" for i in range(m) for j in range(n)]
    names_c = [f"c{i}_{j}" for i in range(m) for j in range(n)]
    names_o = [f"vsense{j}_b" for j in range(n)]
    if all(k_ in spice_own["v"] for k_ in names_r + names_c) and all(
        k_ in spice_own["i"] for k_ in names_o
    ):
        errs["to_netlist_crossbar_nodes"] = max(
            rel_error(sol.row_voltages[0].ravel(), [spice_own["v"][k_] for k_ in names_r]),
            rel_error(sol.col_voltages[0].ravel(), [spice_own["v"][k_] for k_ in names_c]),
        )
        errs["to_netlist_crossbar_output"] = rel_error(
            sol.output[0], [spice_own["i"][k_] for k_ in names_o]
        )
    else:
        errs["to_netlist_node_names_recognised"] = float("inf")
    return errs


def _ir_drop_figure(spec: CrossbarSpec, V: np.ndarray, sol, row_s: np.ndarray) -> dict:
    """Heat maps of the word-line IR drop by xbar, by ngspice, and their difference."""
    m, n = spec.m, spec.n
    drop_x = V[:, None] - sol.row_voltages[0]
    drop_s = V[:, None] - row_s
    return {
        f"ir_drop_{m}x{n}_{spec.device}": {
            "type": "heatmaps",
            "maps": {
                "xbar: row IR drop": drop_x,
                "ngspice: row IR drop": drop_s,
                "difference (xbar - ngspice)": drop_x - drop_s,
            },
            "unit": "V",
            "title": (
                f"{m}x{n} {spec.device} crossbar, r_wire = {spec.r_wire:g} ohm: "
                f"IR drop along the word lines"
            ),
            "caption": (
                f"IR drop along the word lines of a {m} x {n} {spec.device} array, "
                f"computed by xbar and by ngspice on the same netlist; the right "
                f"panel is their difference, at round-off level."
            ),
        }
    }


def _run_crossbar_spec(spec: CrossbarSpec) -> CaseResult:
    """One crossbar of the matrix: xbar's structured solve and its engine against
    ngspice on an independent netlist, then on xbar's own export."""
    import xbar

    run_ngspice = require_ngspice()
    m, n = spec.m, spec.n
    k, v0, g_sel = 3.0, 0.05, 1e-6
    G, V = _spec_arrays(spec, np.random.default_rng(spec.seed))
    kw = dict(r_row=spec.r_wire, r_col=spec.r_wire, r_driver=spec.r_driver, r_sense=spec.r_sense)
    text = crossbar_netlist(
        G, V, device=spec.device, k=k, v0=v0, g_selector=g_sel, r_access=spec.r_access, **kw
    )
    spice = _ngspice_flat(run_ngspice(text))
    row_s, col_s, out_s = _spice_maps(spice, m, n)

    extra = {}
    if spec.device == "1s1r":
        extra = dict(selector=xbar.Exponential(v0), g_selector=g_sel)
    if spec.r_access:
        extra["r_access"] = spec.r_access
    xb = xbar.Crossbar(G, device=_device_for(spec, k, v0), options=_xbar_options(), **kw, **extra)
    sol = xb.solve(V, return_nodes=True, tol=SOLVE_TOL)
    errs = {
        "crossbar_output": rel_error(sol.output[0], out_s),
        "crossbar_row_voltages": rel_error(sol.row_voltages[0], row_s),
        "crossbar_col_voltages": rel_error(sol.col_voltages[0], col_s),
    }
    keys_v = _ngspice_node_keys(spice)
    engine = _engine_flat(text, keys_v, list(spice["i"]))
    ev, ei = _compare_flat(engine, {"v": {k_: spice["v"][k_] for k_ in keys_v}, "i": spice["i"]})
    errs["engine_voltages"] = ev
    errs["engine_currents"] = ei
    errs.update(_own_export_errors(xb, V, sol, run_ngspice))
    details = {"max_row_ir_drop_fraction": float(np.max(V[:, None] - row_s) / np.max(V))}
    figures = _ir_drop_figure(spec, V, sol, row_s) if spec.figure else {}
    return CaseResult.of(errs, details=details, figures=figures)


CROSSBAR_MATRIX = [
    CrossbarSpec(4, 4, 1.0, 0.0, 0.0, "linear", 20),
    CrossbarSpec(8, 6, 5.0, 50.0, 30.0, "linear", 21),
    CrossbarSpec(16, 16, 10.0, 100.0, 100.0, "linear", 22, figure=True),
    CrossbarSpec(6, 10, 0.1, 20.0, 0.0, "linear", 23),
    CrossbarSpec(8, 8, 2.0, 0.0, 0.0, "sinh", 24),
    CrossbarSpec(12, 10, 10.0, 50.0, 50.0, "sinh", 25, figure=True),
    CrossbarSpec(6, 6, 1.0, 10.0, 10.0, "exp", 26),
    CrossbarSpec(6, 5, 2.0, 10.0, 10.0, "1s1r", 31),
    CrossbarSpec(8, 8, 2.0, 20.0, 20.0, "linear", 32, r_access=5000.0),
    CrossbarSpec(32, 32, 2.0, 20.0, 20.0, "linear", 27, quick=False),
    CrossbarSpec(48, 40, 5.0, 100.0, 50.0, "linear", 28, quick=False),
    CrossbarSpec(32, 24, 3.0, 30.0, 30.0, "sinh", 29, quick=False),
    CrossbarSpec(24, 24, 2.0, 10.0, 10.0, "exp", 30, quick=False),
    CrossbarSpec(64, 64, 1.0, 10.0, 10.0, "linear", 33, quick=False),
    CrossbarSpec(64, 48, 2.0, 20.0, 20.0, "sinh", 34, quick=False),
]


def _register_crossbar_matrix():
    for spec in CROSSBAR_MATRIX:
        linear = spec.device == "linear"
        cells = {
            "linear": "linear resistive",
            "sinh": "sinh (RRAM read model)",
            "exp": "exponential (diode-like selector)",
            "1s1r": "1S1R (linear memory cell in series with an exponential "
            "selector, g_selector 1e-6 S, v0 0.05 V)",
        }[spec.device]
        if spec.r_access:
            cells = f"1T1R (linear cell plus {spec.r_access:g} ohm access resistance)"
        desc = (
            f"A random {spec.m} x {spec.n} crossbar of {cells} cells, wire segments "
            f"{spec.r_wire:g} ohm, driver {spec.r_driver:g} ohm, sense {spec.r_sense:g} ohm, "
            f"written as a SPICE netlist by the validation suite (not by xbar's exporter) "
            f"and solved by ngspice. Compared with ngspice: xbar.Crossbar's outputs and every "
            f"row/column node voltage, and the netlist engine's node voltages and source "
            f"currents on the same file (and on xbar's own to_netlist export)."
        )
        add_case(
            Case(
                name=spec.name,
                kind="ngspice",
                description=desc,
                reference="ngspice",
                tolerance=LINEAR_TOL if linear else NONLINEAR_TOL,
                why=LINEAR_WHY if linear else NONLINEAR_WHY,
                func=lambda spec=spec: _run_crossbar_spec(spec),
                quick=spec.quick,
            )
        )


# ---------------------------------------------------------------------------
# error against ngspice as the wire resistance grows


def _wire_sweep() -> CaseResult:
    import xbar

    run_ngspice = require_ngspice()
    rng = np.random.default_rng(40)
    m, n = 10, 10
    G = rng.uniform(1e-5, 1e-4, (m, n))
    V = rng.uniform(0, 1, m)
    rs = np.logspace(-2, 3, 6)
    vs_spice, vs_ideal = [], []
    for r in rs:
        text = crossbar_netlist(G, V, r_row=r, r_col=r)
        spice = _ngspice_flat(run_ngspice(text))
        _, _, out_s = _spice_maps(spice, m, n)
        out = xbar.Crossbar(G, r_row=r, r_col=r).solve(V, tol=SOLVE_TOL).output[0]
        vs_spice.append(rel_error(out, out_s))
        vs_ideal.append(rel_error(V @ G, out_s))
    return CaseResult(
        max(vs_spice),
        details={
            "r_wire_ohm": rs.tolist(),
            "xbar_vs_ngspice": vs_spice,
            "ideal_vs_ngspice": vs_ideal,
        },
        figures={
            "error_vs_wire_resistance": {
                "type": "loglog",
                "x": rs.tolist(),
                "series": {
                    "xbar vs ngspice": [max(e, 1e-17) for e in vs_spice],
                    "ideal V @ G vs ngspice": vs_ideal,
                },
                "xlabel": "wire resistance per segment [ohm]",
                "ylabel": "max relative error of the column currents",
                "title": "10x10 array: xbar stays at round-off while the ideal product drifts",
                "caption": (
                    "At every wire resistance xbar's column currents agree with ngspice's "
                    "to round-off, while the error of the ideal product V @ G grows in "
                    "proportion to r."
                ),
            }
        },
    )


# ---------------------------------------------------------------------------
# default settings against a tightly converged ngspice


def _defaults_vs_ngspice() -> CaseResult:
    import xbar

    run_ngspice = require_ngspice()
    rng = np.random.default_rng(41)
    m = n = 16
    kw = dict(r_row=10.0, r_col=10.0, r_driver=50.0, r_sense=50.0)
    errs = {}
    for name, dev in (
        ("sinh", xbar.Sinh(3.0)),
        ("exp", xbar.Exponential(0.05)),
        ("linear", xbar.Linear()),
    ):
        if name == "exp":
            G, V = rng.uniform(1e-7, 1e-6, (m, n)), rng.uniform(0.2, 0.5, m)
        else:
            G, V = rng.uniform(1e-5, 1e-4, (m, n)), rng.uniform(0.3, 1.0, m)
        spice = _ngspice_flat(run_ngspice(crossbar_netlist(G, V, device=name, v0=0.05, **kw)))
        row_s, col_s, out_s = _spice_maps(spice, m, n)
        sol = xbar.Crossbar(G, device=dev, **kw).solve(V, return_nodes=True)
        errs[name] = max(
            rel_error(sol.output[0], out_s),
            rel_error(sol.row_voltages[0], row_s),
            rel_error(sol.col_voltages[0], col_s),
        )
    return CaseResult.of(errs)


# ---------------------------------------------------------------------------
# the small-signal map of a nonlinear array


def _linearized_map() -> CaseResult:
    import xbar

    from .framework import Check, fit_order

    run_ngspice = require_ngspice()
    rng = np.random.default_rng(42)
    m, n, k = 12, 10, 3.0
    G = rng.uniform(1e-5, 1e-4, (m, n))
    V0 = rng.uniform(0.2, 0.8, m)
    kw = dict(r_row=5.0, r_col=5.0, r_driver=20.0, r_sense=20.0)
    spice = _ngspice_flat(run_ngspice(crossbar_netlist(G, V0, device="sinh", k=k, **kw)))
    row_s, col_s, out_s = _spice_maps(spice, m, n)
    g_ss = G * np.cosh(k * (row_s - col_s))  # dI/dv of every cell at ngspice's operating point
    W_ref = ref.dense_crossbar(g_ss, np.eye(m), **kw)["output"]
    xb = xbar.Crossbar(G, device=xbar.Sinh(k), options=_xbar_options(), **kw)
    lin = xb.linearize(V0)
    errs = {
        "W": rel_error(lin.W, W_ref),
        "operating_output": rel_error(lin.operating_output, out_s),
    }
    # the documented behaviour: the linearised output's error is second order in |dV|
    amps = np.array([0.005, 0.01, 0.02, 0.04])
    dV = rng.uniform(-1, 1, m)
    lin_err = []
    for a in amps:
        exact = xb.solve(V0 + a * dV, tol=SOLVE_TOL).output[0]
        lin_err.append(rel_error(lin.output(V0 + a * dV)[0], exact))
    order = fit_order(amps, lin_err)
    return CaseResult.of(
        errs,
        details={
            "linearisation_error_at_amplitude": dict(zip(amps.tolist(), lin_err, strict=True)),
            "fitted_order": order,
        },
        checks=[Check("order of the linearisation error in |dV|", order, 1.9, 2.1)],
    )


# ---------------------------------------------------------------------------
# the example netlists


def _netlist_dir() -> Path | None:
    here = Path(__file__).resolve().parents[2] / "netlists"
    return here if here.is_dir() else None


def example_netlists() -> list[Path]:
    """The ``netlists/*.cir`` (and ``*.sp``, ``*.spice``) files of the repository."""
    d = _netlist_dir()
    if d is None:
        return []
    files = [p for ext in ("*.cir", "*.sp", "*.spice", "*.net") for p in d.glob(ext)]
    return sorted(files)


def _is_linear_netlist(text: str) -> bool:
    for line in text.splitlines()[1:]:
        s = line.strip().lower()
        if s and s[0] in "bd":
            return False
    return True


def _run_example(path: Path) -> CaseResult:
    import xbar

    run_ngspice = require_ngspice()
    text = _with_options(path.read_text())
    # .include paths are relative to the file: run from a copy in the same directory
    with tempfile.NamedTemporaryFile("w", suffix=".cir", dir=path.parent, delete=False) as fh:
        fh.write(text)
        tmp = Path(fh.name)
    try:
        spice = run_ngspice(tmp).first_point()  # (a .tran netlist: its operating point)
        res = xbar.solve_dc(xbar.read_netlist(tmp))
    finally:
        tmp.unlink(missing_ok=True)
    errs = {}
    keys_v = [k for k in spice.voltages if "#" not in k]
    ref_v = np.concatenate([np.ravel(spice.voltages[k]) for k in keys_v])
    eng_v = np.concatenate([np.ravel(res.voltage(k)) for k in keys_v])
    errs["voltages"] = rel_error(eng_v, ref_v)
    keys_i = [k for k in spice.currents if "#" not in k]
    if keys_i:
        ref_i = np.concatenate([np.ravel(spice.currents[k]) for k in keys_i])
        eng_i = np.concatenate([np.ravel(res.current(k)) for k in keys_i])
        errs["currents"] = rel_error(eng_i, ref_i)
    if spice.sweep is not None:
        errs["sweep"] = rel_error(np.ravel(res.sweep), np.ravel(spice.sweep))
    return CaseResult.of(errs, details={"nodes": len(keys_v), "analysis": spice.analysis})


add_case(
    Case(
        name="ngspice_linearized_sinh_map",
        kind="ngspice",
        description=(
            "The small-signal map xb.linearize(V0) of a 12 x 10 sinh array (k = 3 /V) with wire, "
            "driver and sense resistances, around a random operating point of 0.2..0.8 V: the "
            "reference takes ngspice's operating point, gives every cell its small-signal "
            "conductance G cosh(k v), and solves that linear array densely for each unit input. "
            "The operating output is compared with ngspice's, and the linearised output's error "
            "against the exact solve must be second order in the input step."
        ),
        reference="ngspice OP + dense solve",
        tolerance=1e-9,
        why=(
            "linearize() finds its operating point at the solver's default residual (1e-10, it "
            "takes no tolerance), so the operating output and the cells' small-signal "
            "conductances carry ~1e-10 relative error, amplified slightly by the dense solve "
            "for W; 1e-9 bounds that"
        ),
        func=_linearized_map,
    )
)


def _register_examples():
    for path in example_netlists():
        linear = _is_linear_netlist(path.read_text())
        add_case(
            Case(
                name=f"ngspice_netlist_{path.stem}",
                kind="ngspice",
                description=(
                    f"The example netlist netlists/{path.name}, with tight .options appended, "
                    f"run by ngspice and by xbar's netlist engine: every node voltage and every "
                    f"source current (over all sweep points for .dc)."
                ),
                reference="ngspice",
                tolerance=LINEAR_TOL if linear else NONLINEAR_TOL,
                why=LINEAR_WHY if linear else NONLINEAR_WHY,
                func=lambda path=path: _run_example(path),
            )
        )


_register_crossbar_matrix()
add_case(
    Case(
        name="ngspice_error_vs_wire_resistance",
        kind="ngspice",
        description=(
            "A random 10 x 10 linear array with wire resistance from 0.01 to 1000 ohm per "
            "segment: xbar's column currents against ngspice's at every point, next to the "
            "error of the ideal product V @ G (which grows with r as the IR drop does)."
        ),
        reference="ngspice",
        tolerance=LINEAR_TOL,
        why=LINEAR_WHY,
        func=_wire_sweep,
    )
)
add_case(
    Case(
        name="ngspice_crossbar_default_settings",
        kind="ngspice",
        description=(
            "What a user gets without touching any setting: 16 x 16 sinh, exponential and "
            "linear arrays with wire, driver and sense resistances solved by xbar.Crossbar "
            "with its default Options and residual (1e-10), against ngspice converged with "
            "tight .options."
        ),
        reference="ngspice",
        tolerance=1e-8,
        why=(
            "the default KCL residual is 1e-10 relative; the error is that times the effective "
            "condition number of the (linearised) nodal system, allowed up to 1e2 here; far "
            "inside the 1e-6 promised for nonlinear arrays"
        ),
        func=_defaults_vs_ngspice,
    )
)
_register_examples()
