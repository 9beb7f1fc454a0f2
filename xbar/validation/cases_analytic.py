"""Analytic validation cases: closed forms, root-finds, symmetries and conservation laws.

Each case builds a small circuit, solves it with the solver under test
(:class:`xbar.Crossbar` or the netlist engine :func:`xbar.solve_dc`) and
compares with a reference from :mod:`xbar.validation.reference`, which never
calls those solvers.
"""

from __future__ import annotations

import numpy as np

from . import reference as ref
from .framework import CaseResult, Check, case, fit_order, rel_error

# Tolerances, in one place with their reasons.
ROUNDOFF = 1e-12
LINEAR = 1e-10
LINEAR_WHY = (
    "round-off level: the structured solver is run to a relative KCL residual of "
    "1e-12 (SOLVE_TOL); with its lines solved exactly the error stays within two decades "
    "of that residual on these small, moderately conditioned arrays"
)
#: residual the crossbar solver is asked for in the round-off cases (its default is 1e-10,
#: checked separately by ``default_tolerance_accuracy``)
SOLVE_TOL = 1e-12
NEWTON = 1e-9
NEWTON_WHY = (
    "Newton is iterated until the KCL residual is below 1e-12 relative (SOLVE_TOL) or, "
    "for the engine, with reltol 1e-12 in .options; convergence is quadratic, so the "
    "remaining error is far below the 1e-9 promised for nonlinear analytic cases"
)


# ---------------------------------------------------------------------------
# adapters to the solvers under test (the only place that knows their API)


def _crossbar(G, **kw):
    import xbar

    return xbar.Crossbar(np.asarray(G, dtype=float), **kw)


def _solve(xb, V):
    """Solve with node voltages; returns the solution object."""
    return xb.solve(np.asarray(V, dtype=float), return_nodes=True, tol=SOLVE_TOL)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _random_G(rng, m, n, lo=1e-6, hi=1e-4):
    return rng.uniform(lo, hi, size=(m, n))


def _nontrivial(out, ideal) -> Check:
    """Guard for relational checks (symmetry, reciprocity, ...) that a zero or ideal
    answer would pass: the outputs must be close to V @ G, yet visibly IR-dropped."""
    return Check(
        "output deviation from V @ G (must be visible, not large)", rel_error(out, ideal), 1e-5, 0.5
    )


# ---------------------------------------------------------------------------
# ideal limit


@case(
    name="ideal_zero_wire_resistance",
    kind="analytic",
    description=(
        "With every wire, driver and sense resistance exactly 0 the array is the ideal "
        "vector-matrix product: output = V @ G. A random 24 x 17 array, a batch of 6 "
        "inputs of both signs, with some open (0 S) cells."
    ),
    reference="V @ G",
    tolerance=ROUNDOFF,
    why="the only error left is the round-off of a dot product of 24 terms (~1e-15)",
)
def ideal_exact() -> CaseResult:
    rng = _rng(1)
    G = _random_G(rng, 24, 17)
    G[rng.random(G.shape) < 0.1] = 0.0
    V = rng.uniform(-1, 1, (6, 24))
    sol = _solve(_crossbar(G, r_row=0.0, r_col=0.0), V)
    return CaseResult(rel_error(sol.output, V @ G), details={"shape": "24x17", "batch": 6})


@case(
    name="ideal_limit_first_order",
    kind="analytic",
    description=(
        "As the wire resistance r goes to 0 the output approaches V @ G linearly in r: "
        "output = V @ G - r D + O(r^2), where the first-order coefficient D follows by "
        "hand from the zeroth-order cell currents (every segment carries the currents of "
        "the cells beyond it; see reference.first_order_ir_drop). On a 16 x 16 array with "
        "r from 1e-6 to 0.1 ohm: the error against V @ G must fall with slope 1, the "
        "measured coefficient (V @ G - output) / r must equal D, and its deviation must "
        "itself fall at first order (the O(r^2) remainder)."
    ),
    reference="V @ G - r D (first order)",
    tolerance=1e-5,
    why=(
        "the measured coefficient differs from D by the second-order remainder (~1e-2 "
        "relative per ohm, so ~1e-8 at r = 1e-6) plus round-off in (V @ G - output) / r "
        "(~1e-7 at r = 1e-6); the smallest deviation over the sweep must be below 1e-5"
    ),
)
def ideal_rate() -> CaseResult:
    rng = _rng(2)
    G = _random_G(rng, 16, 16)
    V = rng.uniform(0, 1, (1, 16))
    ideal = V @ G
    D = ref.first_order_ir_drop(G, V)
    rs = np.logspace(-6, -1, 11)
    errs, devs, rem = [], [], []
    for r in rs:
        out = _solve(_crossbar(G, r_row=r, r_col=r), V).output
        errs.append(rel_error(out, ideal))
        devs.append(rel_error((ideal - out) / r, D))
        rem.append(rel_error(out, ideal - r * D))
    errs, devs = np.array(errs), np.array(devs)
    slope = fit_order(rs, errs)
    big = rs >= 1e-3
    slope_dev = fit_order(rs[big], devs[big])
    slope_rem = fit_order(rs[big], np.array(rem)[big])
    return CaseResult(
        float(devs.min()),
        details={
            "fitted_slope": slope,
            "fitted_slope_of_coefficient_deviation": slope_dev,
            "fitted_slope_of_remainder": slope_rem,
            "coefficient_deviation_at_r": dict(
                zip([f"{r:.0e}" for r in rs], devs.tolist(), strict=True)
            ),
        },
        checks=[
            Check("fitted slope of log err vs log r", slope, 0.99, 1.01),
            Check("slope of the coefficient's deviation (r >= 1e-3)", slope_dev, 0.95, 1.05),
            Check("slope of the remainder |out - (V@G - r D)| (r >= 1e-3)", slope_rem, 1.95, 2.05),
        ],
        figures={
            "ideal_limit": {
                "type": "loglog",
                "x": rs.tolist(),
                "series": {
                    "|output - V@G| / max|V@G|": errs.tolist(),
                    "first order: r max|D| / max|V@G|": (
                        rs * np.abs(D).max() / np.abs(ideal).max()
                    ).tolist(),
                    "|output - (V@G - r D)| / max|V@G| (second order)": [
                        max(x, 1e-17) for x in rem
                    ],
                },
                "xlabel": "wire resistance per segment r [ohm]",
                "ylabel": "relative error",
                "title": f"Ideal limit: error vs wire resistance (slope {slope:.4f})",
                "caption": (
                    "The deviation from V @ G is first order in the wire resistance and "
                    "equals the hand-derived first-order IR-drop term; what remains "
                    "falls as r^2."
                ),
            }
        },
    )


# ---------------------------------------------------------------------------
# single word line and single bit line: the ladder closed form


def _word_line_case(r_driver, r_col, r_sense) -> CaseResult:
    n, g, r_row, v = 64, 5e-5, 2.5, 0.8
    closed = ref.word_line(n, g, r_row, r_col, r_driver, r_sense, v)
    xb = _crossbar(np.full((1, n), g), r_row=r_row, r_col=r_col, r_driver=r_driver, r_sense=r_sense)
    sol = _solve(xb, [v])
    errs = {
        "row_voltages": rel_error(sol.row_voltages[0, 0], closed["row"]),
        "output": rel_error(sol.output[0], closed["output"]),
    }
    if r_col + r_sense > 0:
        errs["col_voltages"] = rel_error(sol.col_voltages[0, 0], closed["col"])
    return CaseResult.of(errs, details={"n": n})


@case(
    name="word_line_ladder",
    kind="analytic",
    description=(
        "A single word line (1 x 64) of equal cells with wire resistance and ideal "
        "driver/sense: the row is a resistive ladder whose node voltages follow the "
        "discrete closed form V cosh(gamma (n + 1/2 - k)) / (...), cosh(gamma) = 1 + r g / 2."
    ),
    reference="ladder closed form (cosh)",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def word_line_plain() -> CaseResult:
    return _word_line_case(0.0, 0.0, 0.0)


@case(
    name="word_line_ladder_driver_sense",
    kind="analytic",
    description=(
        "The same word line with a driver resistance (100 ohm), column wire segments "
        "(1.5 ohm) and sense resistances (50 ohm): the shunt becomes the cell in series "
        "with r_col + r_sense, the source end r_driver + r_row."
    ),
    reference="ladder closed form (cosh)",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def word_line_rs() -> CaseResult:
    return _word_line_case(100.0, 1.5, 50.0)


def _bit_line_case(r_driver, r_row, r_sense) -> CaseResult:
    m, g, r_col, v = 64, 5e-5, 2.5, 0.6
    closed = ref.bit_line(m, g, r_col, r_row, r_driver, r_sense, v)
    xb = _crossbar(np.full((m, 1), g), r_row=r_row, r_col=r_col, r_driver=r_driver, r_sense=r_sense)
    sol = _solve(xb, np.full(m, v))
    errs = {
        "col_voltages": rel_error(sol.col_voltages[0, :, 0], closed["col"]),
        "output": rel_error(sol.output[0], closed["output"]),
        "row_voltages": rel_error(sol.row_voltages[0, :, 0], closed["row"]),
    }
    return CaseResult.of(errs, details={"m": m})


@case(
    name="bit_line_ladder",
    kind="analytic",
    description=(
        "A single bit line (64 x 1) of equal cells, all inputs equal, ideal driver "
        "and sense: seen from the sense end the column is the same ladder (shunts to "
        "the input potential, open top end)."
    ),
    reference="ladder closed form (cosh)",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def bit_line_plain() -> CaseResult:
    return _bit_line_case(0.0, 0.0, 0.0)


@case(
    name="bit_line_ladder_driver_sense",
    kind="analytic",
    description=(
        "The same bit line with driver resistances (80 ohm), row wire segments (1 ohm) "
        "and a sense resistance (40 ohm)."
    ),
    reference="ladder closed form (cosh)",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def bit_line_rs() -> CaseResult:
    return _bit_line_case(80.0, 1.0, 40.0)


# ---------------------------------------------------------------------------
# uniform arrays, symmetry


@case(
    name="uniform_array_row_profiles",
    kind="analytic",
    description=(
        "A uniform 12 x 40 array with all inputs equal, row wires 3 ohm and ideal "
        "columns (r_col = r_sense = 0): every row is an independent word-line ladder, "
        "so all 12 rows must show the closed-form IR-drop profile."
    ),
    reference="ladder closed form, per row",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def uniform_rows() -> CaseResult:
    m, n, g, r, v = 12, 40, 1e-4, 3.0, 0.5
    closed = ref.word_line(n, g, r, 0.0, 0.0, 0.0, v)
    sol = _solve(_crossbar(np.full((m, n), g), r_row=r, r_col=0.0), np.full(m, v))
    err = max(
        rel_error(sol.row_voltages[0], np.tile(closed["row"], (m, 1))),
        rel_error(sol.output[0], m * closed["output"]),
    )
    return CaseResult(err)


@case(
    name="uniform_array_column_profiles",
    kind="analytic",
    description=(
        "A uniform 40 x 12 array with all inputs equal, column wires 3 ohm, sense "
        "resistance 20 ohm and ideal rows (r_row = r_driver = 0): every column is an "
        "independent bit-line ladder with the closed-form profile."
    ),
    reference="ladder closed form, per column",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def uniform_cols() -> CaseResult:
    m, n, g, r, rs, v = 40, 12, 1e-4, 3.0, 20.0, 0.5
    closed = ref.bit_line(m, g, r, 0.0, 0.0, rs, v)
    sol = _solve(_crossbar(np.full((m, n), g), r_row=0.0, r_col=r, r_sense=rs), np.full(m, v))
    err = max(
        rel_error(sol.col_voltages[0], np.tile(closed["col"][:, None], (1, n))),
        rel_error(sol.output[0], np.full(n, closed["output"][0])),
    )
    return CaseResult(err)


@case(
    name="uniform_array_symmetry",
    kind="analytic",
    description=(
        "A uniform 20 x 30 array, all inputs equal, driven from both ends and sensed at "
        "both ends (with driver and sense resistances): the circuit is mirror-symmetric "
        "left/right and top/bottom, so the voltage maps must be too, and all column "
        "outputs of mirrored columns equal."
    ),
    reference="mirror symmetry",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def uniform_symmetry() -> CaseResult:
    m, n, g = 20, 30, 1e-4
    xb = _crossbar(
        np.full((m, n), g),
        r_row=2.0,
        r_col=3.0,
        r_driver=10.0,
        r_sense=15.0,
        drive="both",
        sense="both",
    )
    sol = _solve(xb, np.full(m, 1.0))
    row, col, out = sol.row_voltages[0], sol.col_voltages[0], sol.output[0]
    errs = [
        rel_error(row, row[:, ::-1]),
        rel_error(row, row[::-1, :]),
        rel_error(col, col[:, ::-1]),
        rel_error(col, col[::-1, :]),
        rel_error(out, out[::-1]),
    ]
    # the IR drop must be visible, or the symmetry check is empty
    drop = float(1.0 - row.min())
    return CaseResult(
        max(errs),
        details={"max_row_ir_drop_V": drop},
        checks=[Check("largest row IR drop [V]", drop, 1e-3)],
    )


@case(
    name="mirror_rows_with_sense_end",
    kind="analytic",
    description=(
        "A random 14 x 9 array sensed at the bottom equals the same array with its rows "
        "in reverse order (and inputs reversed) sensed at the top: flipping the rows "
        "swaps which end of every bit line is sensed."
    ),
    reference="mirror symmetry",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def mirror_rows() -> CaseResult:
    rng = _rng(3)
    G = _random_G(rng, 14, 9)
    V = rng.uniform(-1, 1, (4, 14))
    kw = dict(r_row=1.5, r_col=2.5, r_driver=20.0, r_sense=30.0)
    a = _solve(_crossbar(G, sense="bottom", **kw), V)
    b = _solve(_crossbar(G[::-1], sense="top", **kw), V[:, ::-1])
    err = max(
        rel_error(a.output, b.output),
        rel_error(a.row_voltages, b.row_voltages[:, ::-1]),
        rel_error(a.col_voltages, b.col_voltages[:, ::-1]),
    )
    return CaseResult(err, checks=[_nontrivial(a.output, V @ G)])


@case(
    name="mirror_columns_with_drive_end",
    kind="analytic",
    description=(
        "A random 9 x 14 array driven from the left equals the same array with its "
        "columns in reverse order driven from the right (outputs reversed)."
    ),
    reference="mirror symmetry",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def mirror_cols() -> CaseResult:
    rng = _rng(4)
    G = _random_G(rng, 9, 14)
    V = rng.uniform(-1, 1, (4, 9))
    kw = dict(r_row=1.5, r_col=2.5, r_driver=20.0, r_sense=30.0)
    a = _solve(_crossbar(G, drive="left", **kw), V)
    b = _solve(_crossbar(G[:, ::-1], drive="right", **kw), V)
    err = max(
        rel_error(a.output, b.output[:, ::-1]),
        rel_error(a.row_voltages, b.row_voltages[:, :, ::-1]),
        rel_error(a.col_voltages, b.col_voltages[:, :, ::-1]),
    )
    return CaseResult(err, checks=[_nontrivial(a.output, V @ G)])


# ---------------------------------------------------------------------------
# dense textbook nodal solves of small random arrays


_TOPOLOGIES = [("left", "bottom"), ("right", "top"), ("both", "both"), ("left", "top")]


@case(
    name="random_arrays_dense_nodal",
    kind="analytic",
    description=(
        "Random 7 x 6 arrays in four drive/sense topologies (left/bottom, right/top, "
        "both/both, left/top) with wire, driver and sense resistances, a batch of 5 "
        "inputs: node voltages and outputs against a dense nodal matrix stamped by hand "
        "and solved with numpy.linalg.solve."
    ),
    reference="dense nodal solve",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def dense_random() -> CaseResult:
    rng = _rng(5)
    errs = {}
    for drive, sense in _TOPOLOGIES:
        G = _random_G(rng, 7, 6, 1e-5, 1e-3)
        V = rng.uniform(-1, 1, (5, 7))
        kw = dict(r_row=4.0, r_col=7.0, r_driver=25.0, r_sense=35.0)
        sol = _solve(_crossbar(G, drive=drive, sense=sense, **kw), V)
        d = ref.dense_crossbar(G, V, drive=drive, sense=sense, **kw)
        errs[f"{drive}/{sense}"] = max(
            rel_error(sol.output, d["output"]),
            rel_error(sol.row_voltages, d["row"]),
            rel_error(sol.col_voltages, d["col"]),
        )
    return CaseResult.of(errs)


# ---------------------------------------------------------------------------
# linearity, reciprocity, passivity


@case(
    name="linearity_superposition",
    kind="analytic",
    description=(
        "For a linear array the solution of a*V1 + b*V2 equals a*sol(V1) + b*sol(V2); "
        "a batch equals the single solves; and output = V @ W with W = "
        "transfer_matrix(). Random 16 x 12 array with every resistance present."
    ),
    reference="superposition",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def linearity() -> CaseResult:
    rng = _rng(6)
    G = _random_G(rng, 16, 12)
    xb = _crossbar(G, r_row=2.0, r_col=3.0, r_driver=50.0, r_sense=40.0)
    V1, V2 = rng.uniform(-1, 1, (2, 16))
    a, b = 0.7, -1.9
    s1, s2 = _solve(xb, V1), _solve(xb, V2)
    s12 = _solve(xb, a * V1 + b * V2)
    batch = _solve(xb, np.stack([V1, V2]))
    W = xb.transfer_matrix()
    Vb = rng.uniform(-1, 1, (8, 16))
    errs = {
        "superposition_output": rel_error(s12.output, a * s1.output + b * s2.output),
        "superposition_nodes": rel_error(
            s12.row_voltages, a * s1.row_voltages + b * s2.row_voltages
        ),
        "batch_vs_single": rel_error(batch.output, np.concatenate([s1.output, s2.output])),
        "transfer_matrix": rel_error(Vb @ W, _solve(xb, Vb).output),
    }
    return CaseResult.of(errs, checks=[_nontrivial(s1.output[0], V1 @ G), _nontrivial(W, G)])


@case(
    name="reciprocity_transposed_array",
    kind="analytic",
    description=(
        "Reciprocity of a linear resistive network: the current at port B due to a "
        "source at port A equals the current at A due to the same source at B. For a "
        "crossbar this means W(G) = W'(G^T)^T where W' is the transposed array (rows and "
        "columns exchanged, so r_row <-> r_col, r_driver <-> r_sense, a left drive "
        "becomes a top sense and a bottom sense becomes a right drive). Holds for every "
        "linear topology, here the default left/bottom one on a random 10 x 7 array."
    ),
    reference="reciprocity theorem",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def reciprocity_transpose() -> CaseResult:
    rng = _rng(7)
    G = _random_G(rng, 10, 7)
    W = _crossbar(G, r_row=2.0, r_col=5.0, r_driver=30.0, r_sense=60.0).transfer_matrix()
    Wt = _crossbar(
        G.T, r_row=5.0, r_col=2.0, r_driver=60.0, r_sense=30.0, drive="right", sense="top"
    ).transfer_matrix()
    return CaseResult(rel_error(W, Wt.T), checks=[_nontrivial(W, G)])


@case(
    name="reciprocity_symmetric_array",
    kind="analytic",
    description=(
        "When the transpose maps the array onto itself -- G symmetric, r_row = r_col, "
        "r_driver = r_sense, driven at the left and sensed at the top (the transpose "
        "exchanges left and top) -- the transfer matrix itself is symmetric. The default "
        "left/bottom topology is not self-transposed, and its W is measurably asymmetric "
        "(checked, so the symmetric result is not an accident)."
    ),
    reference="reciprocity theorem",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def reciprocity_symmetric() -> CaseResult:
    rng = _rng(8)
    A = _random_G(rng, 12, 12)
    G = (A + A.T) / 2
    kw = dict(r_row=3.0, r_col=3.0, r_driver=20.0, r_sense=20.0)
    W = _crossbar(G, drive="left", sense="top", **kw).transfer_matrix()
    W_default = _crossbar(G, **kw).transfer_matrix()
    asym = rel_error(W_default, W_default.T)
    return CaseResult(
        rel_error(W, W.T),
        details={"default_topology_asymmetry": asym},
        checks=[Check("asymmetry of W in left/bottom topology", asym, 1e-6), _nontrivial(W, G)],
    )


@case(
    name="passivity",
    kind="analytic",
    description=(
        "A passive network cannot create energy: for 200 random inputs of both signs "
        "the power drawn from the sources is >= 0; for non-negative inputs every node "
        "voltage lies between 0 and max(V) (maximum principle) and every column current "
        "lies between 0 and the ideal V @ G. Reported: the largest violation relative to "
        "the quantity's scale."
    ),
    reference="passivity bounds",
    tolerance=ROUNDOFF,
    why="a true bound is violated only by round-off (~1e-15 relative)",
)
def passivity() -> CaseResult:
    rng = _rng(9)
    m, n = 12, 10
    G = _random_G(rng, m, n)
    kw = dict(r_row=5.0, r_col=5.0, r_driver=30.0, r_sense=30.0)
    xb = _crossbar(G, **kw)
    V = rng.uniform(-1, 1, (200, m))
    sol = _solve(xb, V)
    i_in = (V - sol.row_voltages[:, :, 0]) / (kw["r_driver"] + kw["r_row"])
    power = np.sum(V * i_in, axis=1)
    p_scale = np.sum(np.abs(V) * np.abs(i_in), axis=1)
    v_power = float(np.max(np.maximum(0.0, -power / p_scale)))
    Vp = rng.uniform(0, 1, (50, m))
    sp = _solve(xb, Vp)
    vmax = Vp.max(axis=1)[:, None, None]
    nodes = np.concatenate([sp.row_voltages, sp.col_voltages], axis=1)
    v_nodes = float(max(np.max(-nodes / vmax), np.max(nodes / vmax - 1.0), 0.0))
    ideal = Vp @ G
    v_out = float(max(np.max(-sp.output / ideal), np.max(sp.output / ideal - 1.0), 0.0))
    min_frac = float(np.min(power / p_scale))
    return CaseResult(
        max(v_power, v_nodes, v_out),
        details={
            "power_violation": v_power,
            "node_bound_violation": v_nodes,
            "output_bound_violation": v_out,
            "min_power_fraction": min_frac,
        },
        checks=[
            _nontrivial(sp.output, ideal),
            Check("smallest power / sum |V_i I_i| (strictly positive)", min_frac, 1e-9),
        ],
    )


# ---------------------------------------------------------------------------
# conservation: KCL at every node and power balance


def _segment_currents(sol, V, r_row, r_col, r_driver, r_sense):
    """Wire currents of the default (left drive, bottom sense) topology from node voltages.

    Returns input (K, M), row segments (K, M, N-1) left->right, column segments
    (K, M-1, N) top->bottom, output (K, N).
    """
    row, col = sol.row_voltages, sol.col_voltages
    i_in = (V - row[:, :, 0]) / (r_driver + r_row)
    i_row = (row[:, :, :-1] - row[:, :, 1:]) / r_row
    i_col = (col[:, :-1, :] - col[:, 1:, :]) / r_col
    i_out = col[:, -1, :] / (r_col + r_sense)
    return i_in, i_row, i_col, i_out


def _kcl_and_power(sol, V, cell, kw):
    r_row, r_col, r_driver, r_sense = kw["r_row"], kw["r_col"], kw["r_driver"], kw["r_sense"]
    i_in, i_row, i_col, i_out = _segment_currents(sol, V, r_row, r_col, r_driver, r_sense)
    K, M, N = cell.shape
    # row node (i, j): in from the left, out to the right, out through the cell
    left = np.concatenate([i_in[:, :, None], i_row], axis=2)
    right = np.concatenate([i_row, np.zeros((K, M, 1))], axis=2)
    res_row = left - right - cell
    # column node (i, j): in through the cell and from above, out below
    above = np.concatenate([np.zeros((K, 1, N)), i_col], axis=1)
    below = np.concatenate([i_col, i_out[:, None, :]], axis=1)
    res_col = cell + above - below
    scale = max(np.abs(i_in).max(), np.abs(cell).max())
    kcl = float(max(np.abs(res_row).max(), np.abs(res_col).max()) / scale)
    p_src = np.sum(V * i_in, axis=1)
    v_cell = sol.row_voltages - sol.col_voltages
    p_cells = np.sum(cell * v_cell, axis=(1, 2))
    p_wires = (
        np.sum(i_in**2, axis=1) * (r_driver + r_row)
        + np.sum(i_row**2, axis=(1, 2)) * r_row
        + np.sum(i_col**2, axis=(1, 2)) * r_col
        + np.sum(i_out**2, axis=1) * (r_col + r_sense)
    )
    power = float(np.max(np.abs(p_src - p_cells - p_wires) / p_src))
    reported = rel_error(sol.output, i_out)
    return kcl, power, reported, float(np.max(p_wires / p_src))


_KCL_KW = dict(r_row=2.0, r_col=3.0, r_driver=40.0, r_sense=25.0)


@case(
    name="kcl_power_linear",
    kind="analytic",
    description=(
        "Kirchhoff's current law at every row and column node and the power balance "
        "(power from the sources = power in the cells + in every wire, driver and sense "
        "resistor), recomputed from the solver's node voltages alone, for a random "
        "32 x 24 linear array with strong IR drop and 3 inputs. The solver's reported "
        "outputs must equal the current in the last column segment."
    ),
    reference="KCL + power balance",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def kcl_linear() -> CaseResult:
    rng = _rng(10)
    G = _random_G(rng, 32, 24, 1e-5, 1e-3)
    V = rng.uniform(0, 1, (3, 32))
    sol = _solve(_crossbar(G, **_KCL_KW), V)
    cell = G * (sol.row_voltages - sol.col_voltages)
    kcl, power, reported, wire_frac = _kcl_and_power(sol, V, cell, _KCL_KW)
    return CaseResult(
        max(kcl, power, reported),
        details={
            "kcl_residual": kcl,
            "power_balance": power,
            "output_vs_segment_current": reported,
            "wire_power_fraction": wire_frac,
        },
        checks=[Check("fraction of power lost in wires", wire_frac, 1e-3)],
    )


@case(
    name="kcl_power_sinh",
    kind="analytic",
    description=(
        "The same conservation checks for a random 16 x 16 array of sinh cells "
        "(i = G sinh(k v) / k, k = 4 /V) read at up to 1 V, where the cells are strongly "
        "nonlinear; cell currents are recomputed from the node voltages with the model "
        "equation, not taken from the solver."
    ),
    reference="KCL + power balance",
    tolerance=NEWTON,
    why=NEWTON_WHY,
)
def kcl_sinh() -> CaseResult:
    import xbar

    rng = _rng(11)
    G = _random_G(rng, 16, 16, 1e-5, 1e-4)
    V = rng.uniform(0, 1, (2, 16))
    k = 4.0
    sol = _solve(_crossbar(G, device=xbar.Sinh(k), **_KCL_KW), V)
    vc = sol.row_voltages - sol.col_voltages
    cell = G * np.sinh(k * vc) / k
    kcl, power, reported, wire_frac = _kcl_and_power(sol, V, cell, _KCL_KW)
    nonlin = float(np.max(np.abs(cell - G * vc)) / np.abs(cell).max())
    return CaseResult(
        max(kcl, power, reported),
        details={
            "kcl_residual": kcl,
            "power_balance": power,
            "output_vs_segment_current": reported,
            "nonlinearity": nonlin,
        },
        checks=[Check("relative deviation of cells from linear", nonlin, 0.1)],
    )


# ---------------------------------------------------------------------------
# single cells with nonlinear devices


@case(
    name="single_cell_sinh_series",
    kind="analytic",
    description=(
        "One sinh cell (G = 1e-4 S, k = 3 /V) behind a driver (200 ohm), row and column "
        "segments (10 ohm each) and a sense resistor (300 ohm), for 41 inputs from -2 V "
        "to 2 V: the current solves i = G sinh(k (V - i R)) / k, found by a bracketing "
        "root-find (brentq)."
    ),
    reference="scalar root-find",
    tolerance=NEWTON,
    why=NEWTON_WHY,
)
def single_sinh() -> CaseResult:
    import xbar

    g, k = 1e-4, 3.0
    kw = dict(r_row=10.0, r_col=10.0, r_driver=200.0, r_sense=300.0)
    r_total = sum(kw.values())
    V = np.linspace(-2, 2, 41)[:, None]
    sol = _solve(_crossbar([[g]], device=xbar.Sinh(k), **kw), V)
    i_ref = np.array([ref.series_sinh_current(v, g, k, r_total) for v in V[:, 0]])
    return CaseResult(
        rel_error(sol.output[:, 0], i_ref), details={"max_current_A": float(np.abs(i_ref).max())}
    )


_DIODE_NETLIST = """diode behind a series resistor (Lambert W reference)
V1 in 0 DC 0
R1 in a {r}
D1 a 0 dmod
.model dmod D(IS={i_sat} N={n})
.options gmin=1e-20 reltol=1e-12 vntol=1e-15 abstol=1e-20
.dc V1 -1 3 0.05
.end
"""


@case(
    name="engine_diode_lambert_w",
    kind="analytic",
    description=(
        "The netlist engine on a diode (IS = 1e-14 A, N = 1.3) behind 1 kohm, swept from "
        "-1 V to 3 V with .dc: the current is I = nVt/R W(Is R/nVt exp((V + Is R)/nVt)) - Is "
        "(Lambert W). gmin is set to 1e-20 S so the closed form applies."
    ),
    reference="Lambert W closed form",
    tolerance=NEWTON,
    why=NEWTON_WHY,
)
def diode_lambert() -> CaseResult:
    import xbar

    r, i_sat, n = 1000.0, 1e-14, 1.3
    circuit = xbar.read_netlist(_DIODE_NETLIST.format(r=r, i_sat=i_sat, n=n))
    res = xbar.solve_dc(circuit)
    sweep = np.asarray(res.sweep, dtype=float)
    i_engine = -np.asarray(res.current("v1"), dtype=float)
    i_ref = np.array([ref.series_diode_current(v, r, i_sat, n) for v in sweep])
    v_ref = sweep - i_ref * r
    err = max(
        rel_error(i_engine, i_ref), rel_error(np.asarray(res.voltage("a"), dtype=float), v_ref)
    )
    return CaseResult(err, details={"points": int(sweep.size)})


_SINH_NETLIST = """sinh element behind a series resistor (root-find reference)
V1 in 0 DC 0
R1 in a {r!r}
B1 a 0 I={g!r}*sinh({k!r}*V(a))/{k!r}
.options reltol=1e-12 vntol=1e-15 abstol=1e-20
.dc V1 -2 2 0.1
.end
"""


@case(
    name="engine_sinh_bsource_root_find",
    kind="analytic",
    description=(
        "The netlist engine on a behavioural source B I = G sinh(k V) / k (G = 2e-4 S, "
        "k = 3 /V) behind 2 kohm, swept from -2 V to 2 V with .dc: the current solves "
        "i = G sinh(k (V - i R)) / k, found by a bracketing root-find."
    ),
    reference="scalar root-find",
    tolerance=NEWTON,
    why=NEWTON_WHY,
)
def engine_sinh() -> CaseResult:
    import xbar

    g, k, r = 2e-4, 3.0, 2000.0
    res = xbar.solve_dc(xbar.read_netlist(_SINH_NETLIST.format(r=r, g=g, k=k)))
    sweep = np.asarray(res.sweep, dtype=float)
    i_engine = -np.asarray(res.current("v1"), dtype=float)
    i_ref = np.array([ref.series_sinh_current(v, g, k, r) for v in sweep])
    err = max(
        rel_error(i_engine, i_ref),
        rel_error(np.asarray(res.voltage("a"), dtype=float), sweep - i_ref * r),
    )
    return CaseResult(err, details={"points": int(sweep.size)})


def _ladder_netlist(n, r, r_shunt, r_end, v):
    lines = [f"resistor ladder of {n} sections", f"V1 n0 0 DC {v!r}", f"Rend n0 n1 {r_end!r}"]
    for k in range(1, n + 1):
        lines.append(f"Rs{k} n{k} 0 {r_shunt!r}")
        if k < n:
            lines.append(f"R{k} n{k} n{k + 1} {r!r}")
    lines += [".op", ".end", ""]
    return "\n".join(lines)


@case(
    name="engine_ladder_netlist",
    kind="analytic",
    description=(
        "The netlist engine on a 200-section resistor ladder (series 1.7 ohm, shunt "
        "12 kohm, source resistance 33 ohm) written as a SPICE netlist: node voltages "
        "and the source current against the ladder closed form."
    ),
    reference="ladder closed form (cosh)",
    tolerance=1e-11,
    why=(
        "a direct sparse LU: round-off only, bounded by machine epsilon times the nodal "
        "matrix's condition number (~2e4 here: series 1.7 ohm against 12 kohm shunts), "
        "i.e. ~4e-12"
    ),
)
def engine_ladder() -> CaseResult:
    import xbar

    n, r, r_shunt, r_end, v = 200, 1.7, 12e3, 33.0, 1.25
    res = xbar.solve_dc(xbar.read_netlist(_ladder_netlist(n, r, r_shunt, r_end, v)))
    v_ref = ref.ladder_voltages(n, r, 1.0 / r_shunt, r_end, v)
    v_eng = np.array([float(np.ravel(res.voltage(f"n{k}"))[0]) for k in range(1, n + 1)])
    i_ref = (v - v_ref[0]) / r_end
    i_eng = -float(np.ravel(res.current("v1"))[0])
    return CaseResult(max(rel_error(v_eng, v_ref), abs(i_eng - i_ref) / i_ref))


# ---------------------------------------------------------------------------
# continuum limit


@case(
    name="continuum_limit_telegrapher",
    kind="analytic",
    description=(
        "A word line of fixed total wire resistance (40 ohm) and total cell conductance "
        "(0.02 S) cut into n = 16 ... 1024 cells approaches the distributed line "
        "v(x) = V cosh(alpha (L - x)) / cosh(alpha L). The discrete ladder is that line "
        "of length L + h/2 sampled at x = k h, so the error must fall at first order in "
        "h = L/n (fitted order within 0.03 of 1). The main error is the solver against "
        "the discrete closed form at every n."
    ),
    reference="telegrapher DC solution",
    tolerance=1e-9,
    why=(
        "round-off of a tridiagonal solve: the line's nodal matrix has condition number "
        "1.3e6 at n = 1024 (2e4 at n = 128), so machine epsilon times that is ~3e-10; the "
        "convergence order is a separate check"
    ),
)
def continuum() -> CaseResult:
    r_total, g_total, v = 40.0, 0.02, 1.0
    ns = np.array([16, 32, 64, 128, 256, 512, 1024])
    cont_err, disc_err, cur_err = [], [], []
    for n in ns:
        h = 1.0 / n
        r, g = r_total / n, g_total / n
        sol = _solve(_crossbar(np.full((1, n), g), r_row=r, r_col=0.0), [v])
        row = sol.row_voltages[0, 0]
        cont, i_cont = ref.telegrapher_line(h * np.arange(1, n + 1), 1.0, r_total, g_total, v)
        disc = ref.ladder_voltages(n, r, g, r, v)
        cont_err.append(float(np.max(np.abs(row - cont)) / v))
        cur_err.append(abs(float(sol.output[0].sum()) - i_cont) / i_cont)
        disc_err.append(rel_error(row, disc))
    order = -fit_order(ns, cont_err)
    order_i = -fit_order(ns, cur_err)
    h = (1.0 / ns).tolist()
    return CaseResult(
        max(disc_err),
        details={
            "fitted_order_voltage": order,
            "fitted_order_current": order_i,
            "finest_error_vs_continuum": cont_err[-1],
        },
        checks=[
            Check("fitted order (voltages)", order, 0.97, 1.03),
            Check("fitted order (input current)", order_i, 0.97, 1.03),
        ],
        figures={
            "continuum_limit": {
                "type": "loglog",
                "x": h,
                "series": {
                    "max |v - v_line| / V": cont_err,
                    "|I_in - I_line| / I_line": cur_err,
                    "solver vs discrete closed form": [max(e, 1e-17) for e in disc_err],
                },
                "xlabel": "segment length h = L / n",
                "ylabel": "error",
                "title": f"Continuum limit: first order in h (fitted {order:.3f})",
                "caption": (
                    "A finely cut word line converges to the distributed-line "
                    "(telegrapher) solution at first order in the segment length, "
                    "while the solver matches the discrete closed form to round-off "
                    "at every n."
                ),
            }
        },
    )


@case(
    name="single_cell_exponential_lambert_w",
    kind="analytic",
    description=(
        "One exponential (diode-like selector) cell i = G v0 (exp(v / v0) - 1), "
        "G = 1e-6 S, v0 = 0.05 V, behind 1 kohm of driver, wire and sense resistance, "
        "for 31 inputs from -0.5 V to 2.5 V: the diode-with-series-resistor closed form "
        "with Lambert's W (Is = G v0, n Vt = v0)."
    ),
    reference="Lambert W closed form",
    tolerance=NEWTON,
    why=NEWTON_WHY,
)
def single_exponential() -> CaseResult:
    import xbar

    g, v0 = 1e-6, 0.05
    kw = dict(r_row=50.0, r_col=50.0, r_driver=400.0, r_sense=500.0)
    r_total = sum(kw.values())
    V = np.linspace(-0.5, 2.5, 31)[:, None]
    sol = _solve(_crossbar([[g]], device=xbar.Exponential(v0), **kw), V)
    i_ref = np.array([ref.series_diode_current(v, r_total, g * v0, nvt=v0) for v in V[:, 0]])
    return CaseResult(
        rel_error(sol.output[:, 0], i_ref), details={"max_current_A": float(np.abs(i_ref).max())}
    )


@case(
    name="default_tolerance_accuracy",
    kind="analytic",
    description=(
        "Everything above asks the crossbar solver for a 1e-12 residual; this case uses "
        "its defaults (tol = 1e-10) on random 7 x 6 linear arrays in four topologies "
        "(against the dense nodal solve), a single sinh cell and a single exponential "
        "cell (against the root-find / Lambert W), to show what a user gets without "
        "touching any setting."
    ),
    reference="dense solve, root-find, Lambert W",
    tolerance=1e-9,
    why=(
        "the accuracy promised for analytic cases at default settings; the default "
        "residual 1e-10 times the small effective condition number stays below it"
    ),
)
def default_tol() -> CaseResult:
    import xbar

    rng = _rng(12)
    errs = {}
    for drive, sense in _TOPOLOGIES:
        G = _random_G(rng, 7, 6, 1e-5, 1e-3)
        V = rng.uniform(-1, 1, (5, 7))
        kw = dict(r_row=4.0, r_col=7.0, r_driver=25.0, r_sense=35.0)
        sol = _crossbar(G, drive=drive, sense=sense, **kw).solve(V, return_nodes=True)
        d = ref.dense_crossbar(G, V, drive=drive, sense=sense, **kw)
        errs[f"linear {drive}/{sense}"] = max(
            rel_error(sol.output, d["output"]), rel_error(sol.row_voltages, d["row"])
        )
    kw = dict(r_row=10.0, r_col=10.0, r_driver=200.0, r_sense=300.0)
    V = np.linspace(-2, 2, 21)[:, None]
    out = _crossbar([[1e-4]], device=xbar.Sinh(3.0), **kw).solve(V).output[:, 0]
    i_ref = [ref.series_sinh_current(v, 1e-4, 3.0, 520.0) for v in V[:, 0]]
    errs["sinh cell"] = rel_error(out, i_ref)
    V = np.linspace(-0.5, 2.5, 21)[:, None]
    out = _crossbar([[1e-6]], device=xbar.Exponential(0.05), **kw).solve(V).output[:, 0]
    i_ref = [ref.series_diode_current(v, 520.0, 1e-6 * 0.05, nvt=0.05) for v in V[:, 0]]
    errs["exponential cell"] = rel_error(out, i_ref)
    return CaseResult.of(errs)


@case(
    name="bias_schemes_dense_nodal",
    kind="analytic",
    description=(
        "Selected-cell reads in a passive (selector-less) random 8 x 8 array: the V/2 "
        "scheme (unselected rows and columns held at V/2), the V/3 scheme (rows at V/3, "
        "columns at 2V/3) and the floating scheme (unselected lines left open, so sneak "
        "paths carry current), with driver and sense resistances, plus a drive-both array "
        "with some right ends floated. Node voltages and every end current against the "
        "dense nodal solve with the same end conditions."
    ),
    reference="dense nodal solve",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def bias_schemes() -> CaseResult:
    rng = _rng(13)
    m, n, si, sj, v = 8, 8, 3, 5, 1.0
    G = _random_G(rng, m, n, 1e-6, 1e-4)
    kw = dict(r_row=3.0, r_col=3.0, r_driver=20.0, r_sense=20.0)
    nan = float("nan")
    schemes = {
        "V/2": (
            np.where(np.arange(m) == si, v, v / 2),
            [None if j == sj else v / 2 for j in range(n)],
        ),
        "V/3": (
            np.where(np.arange(m) == si, v, v / 3),
            [None if j == sj else 2 * v / 3 for j in range(n)],
        ),
        "floating": (np.full(m, v), [None if j == sj else nan for j in range(n)]),
    }
    errs = {}
    for label, (V, col_bias) in schemes.items():
        row_bias = None
        if label == "floating":
            row_bias = [None if i == si else nan for i in range(m)]
        xb = _crossbar(G, row_bias=row_bias, col_bias=col_bias, **kw)
        sol = _solve(xb, V)
        row_ends = None if row_bias is None else [[b, None] for b in row_bias]
        d = ref.dense_crossbar(
            G, V, row_ends=row_ends, col_ends=[[None, b] for b in col_bias], **kw
        )
        errs[label] = max(
            rel_error(sol.row_voltages, d["row"]),
            rel_error(sol.col_voltages, d["col"]),
            rel_error(sol.output, d["output"]),
        )
        if label == "floating":
            sneak = float(abs(sol.output[0, sj] - G[si, sj] * v) / (G[si, sj] * v))
    # drive from both ends, every other right end floating
    V = rng.uniform(0, 1, (3, m))
    rb = [[None, nan if i % 2 else None] for i in range(m)]
    sol = _solve(_crossbar(G, drive="both", row_bias=rb, **kw), V)
    d = ref.dense_crossbar(G, V, drive="both", row_ends=rb, **kw)
    errs["both ends, some floating"] = max(
        rel_error(sol.row_voltages, d["row"]),
        rel_error(sol.output, d["output"]),
        rel_error(sol.input_currents, d["input"]),
    )
    return CaseResult.of(
        errs,
        details={"sneak_path_read_error": sneak},
        checks=[Check("floating-scheme read error from sneak paths", sneak, 0.05)],
    )


@case(
    name="nonuniform_wires_dense_nodal",
    kind="analytic",
    description=(
        "Random 6 x 7 arrays whose every wire segment has its own resistance (arrays of "
        "shape (M, N + 1) for rows and (M + 1, N) for columns, end segments included), "
        "per-row driver and per-column sense resistances, some open (0 S) cells, in the "
        "four drive/sense topologies: node voltages, outputs, input currents and the full "
        "transfer matrix W (row i of W = the solution for the unit input e_i) against "
        "the dense nodal solve."
    ),
    reference="dense nodal solve",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def nonuniform_dense() -> CaseResult:
    rng = _rng(14)
    m, n = 6, 7
    errs = {}
    for drive, sense in _TOPOLOGIES:
        G = _random_G(rng, m, n, 1e-5, 1e-3)
        G[rng.random(G.shape) < 0.15] = 0.0
        kw = dict(
            r_row=rng.uniform(0.5, 20.0, (m, n + 1)),
            r_col=rng.uniform(0.5, 20.0, (m + 1, n)),
            r_driver=rng.uniform(0.0, 100.0, m),
            r_sense=rng.uniform(0.0, 100.0, n),
        )
        xb = _crossbar(G, drive=drive, sense=sense, **kw)
        V = rng.uniform(-1, 1, (4, m))
        sol = _solve(xb, V)
        d = ref.dense_crossbar(G, V, drive=drive, sense=sense, **kw)
        W_ref = ref.dense_crossbar(G, np.eye(m), drive=drive, sense=sense, **kw)["output"]
        errs[f"{drive}/{sense}"] = max(
            rel_error(sol.row_voltages, d["row"]),
            rel_error(sol.col_voltages, d["col"]),
            rel_error(sol.output, d["output"]),
            rel_error(sol.input_currents, d["input"]),
        )
        errs[f"{drive}/{sense} transfer_matrix"] = rel_error(xb.transfer_matrix(), W_ref)
    return CaseResult.of(errs)


@case(
    name="single_cell_power_law_series",
    kind="analytic",
    description=(
        "One power-law cell i = G (v + v_ref sign(v) |v / v_ref|^alpha) (G = 5e-5 S, "
        "alpha = 3, v_ref = 0.4 V) behind 2.4 kohm of driver, wire and sense resistance, "
        "for 25 inputs from -3 V to 3 V: bracketing root-find of i = f(V - i R)."
    ),
    reference="scalar root-find",
    tolerance=NEWTON,
    why=NEWTON_WHY,
)
def single_power_law() -> CaseResult:
    from scipy.optimize import brentq

    import xbar

    g, alpha, v_ref = 5e-5, 3.0, 0.4
    kw = dict(r_row=100.0, r_col=100.0, r_driver=1000.0, r_sense=1200.0)
    r_total = sum(kw.values())

    def f(u):
        return g * (u + v_ref * np.sign(u) * abs(u / v_ref) ** alpha)

    V = np.linspace(-3, 3, 25)
    i_ref = np.array(
        [
            0.0
            if v == 0
            else brentq(
                lambda i, v=v: i - f(v - i * r_total),
                0.0,
                v / r_total,
                xtol=1e-300,
                rtol=4 * np.finfo(float).eps,
            )
            for v in V
        ]
    )
    sol = _solve(_crossbar([[g]], device=xbar.PowerLaw(alpha, v_ref), **kw), V[:, None])
    nonlin = float(abs(i_ref[-1] - g * V[-1] / (1 + g * r_total)) / i_ref[-1])
    return CaseResult(
        rel_error(sol.output[:, 0], i_ref),
        details={"nonlinearity": nonlin},
        checks=[Check("deviation from the linear cell at 3 V", nonlin, 0.1)],
    )


_LINEAR_ELEMENTS = """linear elements with closed forms
.param rin=1k rf={10*rin} gain=1e5 gm=2m
V1 in 0 DC 0.3
R1 in n {rin}
R2 n out {rf}
E1 out 0 0 n {gain}
G1 0 gout in 0 {gm}
Rg gout 0 4.7k
I1 0 ib DC 1.5m
Rb ib 0 2k
X1 in d divider
.subckt divider a b
Rtop a b 3k
Rbot b 0 1k
.ends
.op
.end
"""


@case(
    name="engine_linear_elements",
    kind="analytic",
    description=(
        "The netlist engine on a netlist using .param expressions, a subcircuit instance, a "
        "VCVS (an inverting amplifier of open-loop gain 1e5 with 1 k / 10 k feedback), a VCCS "
        "(transconductance 2 mS into 4.7 kohm) and a current source: every node voltage and "
        "the source current against hand-derived closed forms (the amplifier's "
        "-(Rf/Rin) / (1 + (1 + Rf/Rin)/A), gm V R, I R, the divider), with SPICE's sign "
        "conventions for G, I and the V-source current."
    ),
    reference="closed forms",
    tolerance=ROUNDOFF,
    why=(
        "a direct LU of a 7-unknown system; the amplifier's open-loop gain 1e5 sets the "
        "condition number, so round-off is bounded by ~1e5 eps ~ 2e-11 on the virtual-ground "
        "node and far less on the others; judged relative to the largest node voltage"
    ),
)
def engine_linear_elements() -> CaseResult:
    import xbar

    vin, rin, rf, gain, gm, rg, i1, rb = 0.3, 1e3, 1e4, 1e5, 2e-3, 4.7e3, 1.5e-3, 2e3
    x = (vin / rin) / (1 / rin + (1 + gain) / rf)
    expected = {
        "in": vin,
        "n": x,
        "out": -gain * x,
        "gout": gm * vin * rg,
        "ib": i1 * rb,
        "d": vin * 1e3 / 4e3,
    }
    res = xbar.solve_dc(xbar.read_netlist(_LINEAR_ELEMENTS))
    got = [float(np.ravel(res.voltage(k))[0]) for k in expected]
    i_v1 = -((vin - x) / rin + vin / 4e3)
    errs = {
        "voltages": rel_error(got, list(expected.values())),
        "v1_current": abs(float(np.ravel(res.current("v1"))[0]) - i_v1) / abs(i_v1),
    }
    return CaseResult.of(errs)


@case(
    name="uniform_array_modes_any_inputs",
    kind="analytic",
    description=(
        "A uniform 32 x 24 array (row wires 1 ohm, column wires 2 ohm, cells 1e-4 S) with "
        "arbitrary inputs of both signs: the nodal equations separate in the exact "
        "eigenvectors of the two line operators (sines of (2k + 1) pi / (2n + 1) multiples), "
        "so every row and column node voltage is a finite sum of modes, each mode a 2 x 2 "
        "system solved by hand. Against the solver for a batch of 4 inputs."
    ),
    reference="closed form (line eigenmodes)",
    tolerance=LINEAR,
    why=LINEAR_WHY,
)
def uniform_modes() -> CaseResult:
    rng = _rng(15)
    m, n, g, r_row, r_col = 32, 24, 1e-4, 1.0, 2.0
    V = rng.uniform(-1, 1, (4, m))
    closed = ref.uniform_array_modes(m, n, g, r_row, r_col, V)
    sol = _solve(_crossbar(np.full((m, n), g), r_row=r_row, r_col=r_col), V)
    errs = {
        "row_voltages": rel_error(sol.row_voltages, closed["row"]),
        "col_voltages": rel_error(sol.col_voltages, closed["col"]),
        "output": rel_error(sol.output, closed["output"]),
    }
    return CaseResult.of(errs, checks=[_nontrivial(sol.output, V @ np.full((m, n), g))])
