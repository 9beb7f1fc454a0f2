"""Validation of input-switched arrays (:mod:`xbar.crossbar.input_switched`).

* ``ngspice_input_switched_*``: random arrays with source-line and bit-line wires,
  driver, sense and on-resistances, for several bit patterns.  The netlist is
  written here (independently of xbar's exporter); ngspice solves it and
  ``xbar.Crossbar(topology="input_switched")`` must give the same sense currents
  and every source- and bit-line node voltage; xbar's own ``to_netlist`` export is
  run by ngspice too and must match.
* ``input_switched_dense_nodal``: the same arrays against a dense textbook nodal
  solve (numpy, no ngspice), and ``input_switched_ideal_wires``: zero wire
  resistance against the closed form ``v_read * sum_i b_i G_eff[i, j]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cases_ngspice import LINEAR_TOL, LINEAR_WHY, require_ngspice
from .framework import Case, CaseResult, add_case, rel_error


@dataclass(frozen=True)
class IswSpec:
    """One input-switched array of the validation matrix."""

    m: int
    n: int
    r_src: float
    r_bl: float
    r_driver: float
    r_sense: float
    r_on: float
    source_end: str
    sense: str
    seed: int
    quick: bool = True

    @property
    def name(self) -> str:
        return (
            f"ngspice_input_switched_{self.m}x{self.n}_r{self.r_bl:g}_src_"
            f"{self.source_end}_sense_{self.sense}"
        )

    def build(self):
        import xbar

        rng = np.random.default_rng(self.seed)
        G = rng.uniform(1e-5, 1e-4, (self.m, self.n))
        G[rng.random(G.shape) < 0.05] = 0.0  # a few open (unformed) cells
        xb = xbar.Crossbar(
            G,
            r_col=self.r_bl,
            r_driver=self.r_driver,
            r_sense=self.r_sense,
            r_access=self.r_on,
            topology="input_switched",
            r_source=self.r_src,
            source_end=self.source_end,
            sense=self.sense,
            v_read=0.25,
        )
        bits = [
            np.ones(self.m),
            np.zeros(self.m),
            rng.integers(0, 2, self.m),
            (rng.random(self.m) < 0.2).astype(float),
        ]
        return xb, np.array(bits)


def independent_netlist(spec: IswSpec, G: np.ndarray, bits: np.ndarray, v_read: float) -> str:
    """The array as a netlist, written from the topology's description (not the exporter).

    Nodes ``sl<i>_<j>`` / ``bl<i>_<j>``; ``vsense<j>`` measures column j's output.
    """
    m, n = G.shape
    out = [f"* input-switched {m}x{n} (validation writer)"]
    top_s, top_b = spec.source_end == "top", spec.sense == "top"
    for j in range(n):
        for i in range(m - 1):
            out.append(f"rs_{i}_{j} sl{i}_{j} sl{i + 1}_{j} {spec.r_src!r}")
            out.append(f"rb_{i}_{j} bl{i}_{j} bl{i + 1}_{j} {spec.r_bl!r}")
        end_s = 0 if top_s else m - 1
        end_b = 0 if top_b else m - 1
        out.append(f"vdd{j} vd{j} 0 {v_read!r}")
        out.append(f"rdrv{j} vd{j} sl{end_s}_{j} {spec.r_driver + spec.r_src!r}")
        out.append(f"vsense{j} vs{j} 0 0")
        out.append(f"rsns{j} bl{end_b}_{j} vs{j} {spec.r_sense + spec.r_bl!r}")
        for i in range(m):
            if bits[i] and G[i, j] > 0:
                mid = f"mid{i}_{j}" if spec.r_on > 0 else f"sl{i}_{j}"
                if spec.r_on > 0:
                    out.append(f"ron{i}_{j} sl{i}_{j} {mid} {spec.r_on!r}")
                out.append(f"rcell{i}_{j} {mid} bl{i}_{j} {1.0 / float(G[i, j])!r}")
    out += [".options reltol=1e-10 abstol=1e-18 vntol=1e-14 gmin=1e-20", ".op", ".end", ""]
    return "\n".join(out)


def dense_nodal(spec: IswSpec, G: np.ndarray, bits: np.ndarray, v_read: float):
    """Dense nodal solve of one column at a time: outputs (N,), v_sl, v_bl (M, N)."""
    m, n = G.shape
    outs, vsl, vbl = np.zeros(n), np.zeros((m, n)), np.zeros((m, n))
    gs, gb = 1.0 / spec.r_src, 1.0 / spec.r_bl
    g_end_s = 1.0 / (spec.r_driver + spec.r_src)
    g_end_b = 1.0 / (spec.r_sense + spec.r_bl)
    end_s = 0 if spec.source_end == "top" else m - 1
    end_b = 0 if spec.sense == "top" else m - 1
    for j in range(n):
        A = np.zeros((2 * m, 2 * m))
        rhs = np.zeros(2 * m)

        def stamp(a, b, g, A=A):
            A[a, a] += g
            A[b, b] += g
            A[a, b] -= g
            A[b, a] -= g

        for i in range(m - 1):
            stamp(i, i + 1, gs)
            stamp(m + i, m + i + 1, gb)
        for i in range(m):
            if bits[i] and G[i, j] > 0:
                stamp(i, m + i, 1.0 / (spec.r_on + 1.0 / G[i, j]))
        A[end_s, end_s] += g_end_s
        rhs[end_s] += g_end_s * v_read
        A[m + end_b, m + end_b] += g_end_b
        x = np.linalg.solve(A, rhs)
        vsl[:, j], vbl[:, j] = x[:m], x[m:]
        outs[j] = g_end_b * x[m + end_b]
    return outs, vsl, vbl


def _run_ngspice_spec(spec: IswSpec) -> CaseResult:
    run_ngspice = require_ngspice()
    xb, patterns = spec.build()
    errs: dict[str, float] = {}
    for k, b in enumerate(patterns):
        sol = xb.solve(b, return_nodes=True)
        fast = xb.solve(b).output[0]
        res = run_ngspice(independent_netlist(spec, np.asarray(xb.G), b, xb.v_read))
        cur = {key: float(np.ravel(v)[0]) for key, v in res.currents.items()}
        volt = {key: float(np.ravel(v)[0]) for key, v in res.voltages.items()}
        out_s = np.array([cur[f"vsense{j}"] for j in range(spec.n)])
        vsl = np.array([[volt[f"sl{i}_{j}"] for j in range(spec.n)] for i in range(spec.m)])
        vbl = np.array([[volt[f"bl{i}_{j}"] for j in range(spec.n)] for i in range(spec.m)])
        scale = max(float(np.abs(out_s).max()), 1e-30)
        # outputs relative to the largest output (an all-zero pattern has none)
        errs[f"p{k}_output_numba"] = (
            float(np.abs(fast - out_s).max() / scale)
            if np.any(out_s)
            else float(np.abs(fast).max() > 0)
        )
        errs[f"p{k}_output_nodes_path"] = (
            float(np.abs(sol.output[0] - out_s).max() / scale)
            if np.any(out_s)
            else float(np.abs(sol.output[0]).max() > 0)
        )
        errs[f"p{k}_source_line_voltages"] = rel_error(sol.row_voltages[0], vsl)
        errs[f"p{k}_bit_line_voltages"] = (
            rel_error(sol.col_voltages[0], vbl)
            if np.any(vbl)
            else float(np.abs(sol.col_voltages[0]).max() > 0)
        )
        own = run_ngspice(xb.to_netlist(None, b))
        own_out = np.array(
            [float(np.ravel(own.currents[f"vsense{j}_{spec.sense[0]}"])[0]) for j in range(spec.n)]
        )
        errs[f"p{k}_to_netlist_output"] = (
            float(np.abs(fast - own_out).max() / scale)
            if np.any(out_s)
            else float(np.abs(own_out).max() > 0)
        )
    return CaseResult.of(errs)


def _dense_case() -> CaseResult:
    errs: dict[str, float] = {}
    for spec in MATRIX:
        xb, patterns = spec.build()
        for k, b in enumerate(patterns):
            out, vsl, vbl = dense_nodal(spec, np.asarray(xb.G), b, xb.v_read)
            sol = xb.solve(b, return_nodes=True)
            scale = max(float(np.abs(out).max()), 1e-30)
            key = f"{spec.m}x{spec.n}_{spec.source_end}_{spec.sense}_p{k}"
            errs[key + "_output"] = (
                float(np.abs(xb.solve(b).output[0] - out).max() / scale) if np.any(out) else 0.0
            )
            errs[key + "_nodes"] = max(
                rel_error(sol.row_voltages[0], vsl),
                rel_error(sol.col_voltages[0], vbl) if np.any(vbl) else 0.0,
            )
    return CaseResult.of(errs)


def _ideal_case() -> CaseResult:
    import xbar

    rng = np.random.default_rng(7)
    G = rng.uniform(1e-6, 1e-4, (64, 32))
    bits = rng.integers(0, 2, (20, 64)).astype(float)
    errs = {}
    for r_on in (0.0, 5e3):
        xb = xbar.Crossbar(G, topology="input_switched", r_access=r_on, v_read=0.2)
        geff = 1.0 / (1.0 / G + r_on)
        errs[f"r_on_{r_on:g}"] = rel_error(xb.solve(bits).output, 0.2 * bits @ geff)
        errs[f"r_on_{r_on:g}_patterns"] = rel_error(xb.pattern_conductances(bits), bits @ geff)
    return CaseResult.of(errs)


MATRIX = [
    IswSpec(8, 6, 2.0, 2.0, 20.0, 10.0, 2000.0, "bottom", "bottom", 50),
    IswSpec(12, 5, 5.0, 3.0, 0.0, 30.0, 5000.0, "top", "bottom", 51),
    IswSpec(10, 4, 1.0, 4.0, 15.0, 0.0, 1000.0, "bottom", "top", 52),
    IswSpec(32, 8, 10.0, 10.0, 50.0, 50.0, 0.0, "top", "top", 53, quick=False),
    IswSpec(64, 6, 2.0, 2.0, 10.0, 10.0, 3000.0, "bottom", "bottom", 54, quick=False),
]


def _register() -> None:
    for spec in MATRIX:
        add_case(
            Case(
                name=spec.name,
                kind="ngspice",
                description=(
                    f"A random {spec.m} x {spec.n} input-switched array (cells gated by the input "
                    f"bits, source line {spec.r_src:g} ohm and bit line {spec.r_bl:g} ohm per "
                    f"segment, source held at the {spec.source_end}, bit line sensed at the "
                    f"{spec.sense}, driver {spec.r_driver:g} ohm, sense {spec.r_sense:g} ohm, "
                    f"on-resistance {spec.r_on:g} ohm) for four bit patterns (all on, all off, "
                    f"random, sparse), written as a netlist by the validation suite and solved "
                    f"by ngspice: xbar's sense currents (compiled and numpy kernels) and every "
                    f"source- and bit-line node voltage; xbar's to_netlist export run by ngspice."
                ),
                reference="ngspice",
                tolerance=LINEAR_TOL,
                why=LINEAR_WHY,
                func=lambda spec=spec: _run_ngspice_spec(spec),
                quick=spec.quick,
            )
        )
    add_case(
        Case(
            name="input_switched_dense_nodal",
            kind="analytic",
            description=(
                "The input-switched arrays of the ngspice matrix against a dense "
                "textbook nodal solve per column (2M nodes: source and bit line)."
            ),
            reference="dense nodal solve",
            tolerance=1e-10,
            why=(
                "two direct solves of the same linear system differ by round-off times the "
                "condition number (below 1e5 here)"
            ),
            func=_dense_case,
        )
    )
    add_case(
        Case(
            name="input_switched_ideal_wires",
            kind="analytic",
            description=(
                "Zero wire, driver and sense resistance: sense currents equal "
                "v_read * sum_i b_i G_eff[i, j] with G_eff the cell in series with the "
                "on-resistance, for 20 random bit patterns of a 64 x 32 array."
            ),
            reference="closed form",
            tolerance=1e-12,
            why="round-off of a sum of 64 terms",
            func=_ideal_case,
        )
    )


_register()
