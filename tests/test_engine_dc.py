"""Known-answer DC circuits for the engine (no ngspice needed)."""

from __future__ import annotations

import numpy as np
import pytest
from engine_builders import TIGHT, build
from scipy.optimize import brentq

from xbar.errors import XbarError
from xbar.spice.circuit import DCSweep, DiodeModel, Op, Options
from xbar.spice.dc import OperatingPoint, SweepResult, solve_dc
from xbar.spice.devices import CONSTKOVERQ, DiodeParams, diode_current, pnjlim

VT = CONSTKOVERQ * 300.15


def test_divider_and_current_sign():
    c, _ = build([("V1", "in", "0", 3.0), ("R1", "in", "out", 1e3), ("R2", "out", "0", 2e3)])
    op = solve_dc(c)
    assert isinstance(op, OperatingPoint)
    assert op.voltage("out") == pytest.approx(2.0, rel=1e-14)
    # SPICE sign: the source delivers 1 mA, so the current into its + terminal is -1 mA
    assert op.current("V1") == pytest.approx(-1e-3, rel=1e-14)
    assert op.voltage("0") == 0.0 and op.voltage("GND") == 0.0
    assert op.strategy == "linear" and op.iterations == 1
    assert set(op.voltages) == {"in", "out"} and set(op.currents) == {"v1"}
    with pytest.raises(XbarError, match="nowhere"):
        op.voltage("nowhere")
    with pytest.raises(XbarError, match="r1"):
        op.current("r1")


def test_wheatstone_bridge():
    r1, r2, r3, r4, r5, v = 100.0, 200.0, 300.0, 400.0, 50.0, 5.0
    c, _ = build(
        [
            ("V1", "t", "0", v),
            ("R1", "t", "a", r1),
            ("R2", "a", "0", r2),
            ("R3", "t", "b", r3),
            ("R4", "b", "0", r4),
            ("R5", "a", "b", r5),
        ]
    )
    op = solve_dc(c)
    G = np.array([[1 / r1 + 1 / r2 + 1 / r5, -1 / r5], [-1 / r5, 1 / r3 + 1 / r4 + 1 / r5]])
    va, vb = np.linalg.solve(G, [v / r1, v / r3])
    assert op.voltage("a") == pytest.approx(va, rel=1e-12)
    assert op.voltage("b") == pytest.approx(vb, rel=1e-12)
    assert op.current("v1") == pytest.approx(-((v - va) / r1 + (v - vb) / r3), rel=1e-12)


def test_vcvs_vccs_and_current_source():
    c, _ = build(
        [
            ("V1", "in", "0", 0.5),
            ("R1", "in", "0", 1e3),
            ("E1", "x", "0", "in", "0", -4.0),
            ("R2", "x", "0", 100.0),
            ("G1", "0", "y", "in", "0", 2e-3),
            ("R3", "y", "0", 500.0),
            ("I1", "0", "z", 1e-3),
            ("R4", "z", "0", 2e3),
        ]
    )
    op = solve_dc(c)
    assert op.voltage("x") == pytest.approx(-2.0, rel=1e-13)
    assert op.current("e1") == pytest.approx(2.0 / 100.0, rel=1e-13)  # into + terminal
    # G1 drives 1 mA from 0 through itself into y: +0.5 V across 500 ohm
    assert op.voltage("y") == pytest.approx(0.5, rel=1e-13)
    assert op.voltage("z") == pytest.approx(2.0, rel=1e-13)


def test_diode_with_series_resistor_matches_root_find():
    model = DiodeModel("dm", is_=1e-14, n=1.3)
    c, _ = build(
        [("V1", "a", "0", 2.0), ("R1", "a", "b", 1e3), ("D1", "b", "0", "dm")],
        models={"dm": model},
        options=TIGHT,
    )
    op = solve_dc(c)
    vte = 1.3 * VT

    def f(v):
        return (2.0 - v) / 1e3 - (1e-14 * np.expm1(v / vte) + 1e-12 * v)

    v = brentq(f, 0.0, 2.0, xtol=1e-15, rtol=1e-15)
    assert op.voltage("b") == pytest.approx(v, rel=1e-9)
    assert op.strategy == "newton" and 2 < op.iterations < 50


def test_diode_area_and_rs_use_internal_node():
    model = DiodeModel("dm", is_=1e-14, n=1.0, rs=20.0)
    c, _ = build(
        [("V1", "a", "0", 1.5), ("R1", "a", "b", 100.0), ("D1", "b", "0", "dm", 3.0)],
        models={"dm": model},
        options=TIGHT,
    )
    op = solve_dc(c)
    i = (1.5 - op.voltage("b")) / 100.0
    vj = op.voltage("b") - i * 20.0 / 3.0  # RS/area in series
    assert i == pytest.approx(3e-14 * np.expm1(vj / VT) + 1e-12 * vj, rel=1e-8)
    assert "d1#internal" not in op.voltages  # internal nodes are not circuit nodes


def test_diode_regions_follow_ngspice_formulas():
    model = DiodeModel("dm", is_=1e-12, n=2.0, bv=5.0, ibv=1e-6)
    c, _ = build([("V1", "a", "0", 1.0), ("D1", "a", "0", "dm")], models={"dm": model})
    p = DiodeParams.of(c, Options())
    vte = 2 * VT
    v = np.array([0.3, -0.01, -1.0, -6.0])
    cd, gd = diode_current(v, p, 0.0)
    assert cd[0] == pytest.approx(1e-12 * np.expm1(0.3 / vte), rel=1e-12)
    assert cd[1] == pytest.approx(1e-12 * np.expm1(-0.01 / vte), rel=1e-12)  # above -3 n Vt
    arg = (3 * vte / (-1.0 * np.e)) ** 3
    assert cd[2] == pytest.approx(-1e-12 * (1 + arg), rel=1e-12)
    assert gd[2] == pytest.approx(1e-12 * 3 * arg / -1.0, rel=1e-12)
    tbv = p.tbv[0]
    assert 4.0 < tbv < 5.0  # shifted by ~ n Vt ln(IBV/IS) so that I(-BV) ~ IBV
    assert cd[3] == pytest.approx(-1e-12 * np.exp(-(tbv - 6.0) / vte), rel=1e-12)
    # the breakdown current at -BV is IBV (to ngspice's iteration tolerance)
    i_bv, _ = diode_current(np.array([-5.0]), p, 0.0)
    assert -i_bv[0] == pytest.approx(1e-6, rel=2e-2)


def test_pnjlim_matches_devpnjlim():
    vt, vcrit = 0.025, 0.6
    out, lim = pnjlim(
        np.array([0.9, 0.9, 0.61, -5.0, 0.3]), np.array([0.7, -0.1, 0.6, 1.0, 0.2]), vt, vcrit
    )
    assert out[0] == pytest.approx(0.7 + vt * np.log(1 + 0.2 / vt))
    assert out[1] == pytest.approx(vt * np.log(0.9 / vt))
    assert out[2] == pytest.approx(0.61)  # step below 2 vt: unlimited
    assert out[3] == pytest.approx(-2.0)  # -vold - 1
    assert out[4] == pytest.approx(0.3)
    assert lim.tolist() == [True, True, False, True, False]


def test_sinh_bsource_matches_root_find():
    c, _ = build(
        [("V1", "a", "0", 1.2), ("R1", "a", "b", 2e3), ("B1", "b", "0", "5e-5*sinh(3*V(b))")],
        options=TIGHT,
    )
    op = solve_dc(c)
    v = brentq(lambda v: (1.2 - v) / 2e3 - 5e-5 * np.sinh(3 * v), 0, 1.2, xtol=1e-15)
    assert op.voltage("b") == pytest.approx(v, rel=1e-9)


def test_steep_exponential_bsource_is_step_limited():
    # without limiting, the first Newton step puts exp's argument near 1e3 (overflow)
    c, _ = build(
        [
            ("V1", "a", "0", 30.0),
            ("R1", "a", "b", 1e3),
            ("B1", "b", "0", "1e-12*(exp(V(b)/0.03)-1)"),
        ],
        options=TIGHT,
    )
    op = solve_dc(c)
    v = brentq(lambda v: (30 - v) / 1e3 - 1e-12 * np.expm1(v / 0.03), 0, 2, xtol=1e-15)
    assert op.voltage("b") == pytest.approx(v, rel=1e-9)
    assert op.strategy == "newton"


def test_linear_sweep_equals_point_solves():
    dc = DCSweep("v1", 0.0, 2.0, 0.5)
    els = [
        ("V1", "a", "0", 1.0),
        ("R1", "a", "b", 1e3),
        ("R2", "b", "0", 3e3),
        ("I1", "0", "b", 1e-4),
    ]
    c, _ = build(els, analysis=dc)
    res = solve_dc(c)
    assert isinstance(res, SweepResult)
    np.testing.assert_allclose(res.sweep, [0, 0.5, 1, 1.5, 2])
    for k, v in enumerate(res.sweep):
        c2, _ = build([("V1", "a", "0", v)] + els[1:])
        assert res.voltage("b")[k] == pytest.approx(solve_dc(c2).voltage("b"), rel=1e-13)
    assert res.current("v1").shape == (5,)
    assert res.strategy == "linear"


def test_nested_sweep_order_inner_fastest():
    dc = DCSweep("v1", 0.0, 1.0, 0.5, outer=DCSweep("i1", 0.0, 1e-3, 1e-3))
    c, _ = build(
        [
            ("V1", "a", "0", 0.0),
            ("R1", "a", "b", 1e3),
            ("R2", "b", "0", 1e3),
            ("I1", "0", "b", 0.0),
        ],
        analysis=dc,
    )
    res = solve_dc(c)
    np.testing.assert_allclose(res.sweep, [0, 0.5, 1, 0, 0.5, 1])
    np.testing.assert_allclose(res.outer_sweep, [0, 0, 0, 1e-3, 1e-3, 1e-3])
    expect = res.sweep / 2 + res.outer_sweep * 500.0
    np.testing.assert_allclose(res.voltage("b"), expect, rtol=1e-13, atol=1e-15)


def test_nonlinear_sweep_continues_from_previous_point():
    model = DiodeModel("dm")
    dc = DCSweep("v1", 0.0, 1.0, 0.05)
    c, _ = build(
        [("V1", "a", "0", 0.0), ("R1", "a", "b", 100.0), ("D1", "b", "0", "dm")],
        models={"dm": model},
        options=TIGHT,
        analysis=dc,
    )
    res = solve_dc(c)
    assert len(res.iterations) == 21
    assert res.strategies[1:] == ["newton"] * 20
    for k in (0, 10, 20):
        v1 = res.sweep[k]
        ref = (
            brentq(
                lambda v, v1=v1: (v1 - v) / 100 - (1e-14 * np.expm1(v / VT) + 1e-12 * v),
                -1,
                1.0 + 1e-9,
                xtol=1e-16,
            )
            if v1 > 0
            else 0.0
        )
        assert res.voltage("b")[k] == pytest.approx(ref, rel=1e-9, abs=1e-15)
    assert res.iterations[1:].max() < 30


def test_operating_point_from_options_override():
    c, _ = build(
        [("V1", "a", "0", 1.0), ("R1", "a", "b", 1e3), ("D1", "b", "0", "dm")],
        models={"dm": DiodeModel("dm")},
    )
    loose = solve_dc(c, Options(reltol=1e-2))
    tight = solve_dc(c, TIGHT)
    assert loose.voltage("b") == pytest.approx(tight.voltage("b"), rel=1e-2)
    assert solve_dc(c, analysis=Op()).voltage("b") == pytest.approx(tight.voltage("b"), 1e-3)


def test_kcl_residual_on_random_linear_circuits():
    rng = np.random.default_rng(7)
    from xbar.spice.assembly import Pattern

    for _ in range(5):
        n = 12
        els = [("V1", "n1", "0", 1.0)]
        for k in range(30):
            a, b = rng.choice(n, 2, replace=False)
            els.append(
                (f"R{k}", f"n{a}" if a else "0", f"n{b}" if b else "0", float(rng.uniform(1, 1e5)))
            )
        for k in range(1, n):  # every node has a path to ground
            els.append((f"RG{k}", f"n{k}", "0", 1e6))
        c, _ = build(els)
        op = solve_dc(c)
        pat = Pattern.build(c)
        A = pat.matrix(pat.linear_data())
        r = A @ op.x - pat.source_matrix @ np.array([1.0])
        assert np.abs(r).max() < 1e-12


def test_numba_and_numpy_assembly_give_the_same_newton_solution():
    from xbar.spice.newton import DCSystem

    c, _ = build(
        [
            ("V1", "a", "0", 1.5),
            ("R1", "a", "b", 1e3),
            ("D1", "b", "0", "dm"),
            ("B1", "b", "0", "1e-4*sinh(2*V(b))"),
        ],
        models={"dm": DiodeModel("dm")},
        options=TIGHT,
    )
    xs = []
    for kernel in ("numpy", "numba"):
        system = DCSystem(c, TIGHT, kernel=kernel)
        res, strategy = system.operating_point()
        assert system.kernel == kernel and res.converged
        xs.append(res.x)
    np.testing.assert_allclose(xs[0], xs[1], rtol=1e-12)


@pytest.mark.parametrize(
    "field,value",
    [
        ("reltol", 0.0),
        ("vntol", -1.0),
        ("abstol", np.nan),
        ("gmin", -1e-12),
        ("itl1", 0),
        ("temp", -300.0),
    ],
)
def test_impossible_options_name_the_field(field, value):
    from dataclasses import replace

    from xbar.errors import ConfigError

    c, _ = build([("V1", "a", "0", 1.0), ("R1", "a", "0", 1e3)])
    with pytest.raises(ConfigError, match=f"options.{field}"):
        solve_dc(c, replace(Options(), **{field: value}))


@pytest.mark.parametrize(
    "field,value,shown",
    [
        ("reltol", np.float64("nan"), "got nan"),
        ("abstol", np.float64(-1e-12), "got -1e-12"),
        ("itl1", np.float64("nan"), "got nan"),
        ("itl2", np.int64(0), "got 0"),
        ("gmin", "1e-12", "got '1e-12'"),
        ("temp", np.float32(-300), "got -300"),
        ("tnom", np.float64("inf"), "got inf"),
    ],
)
def test_option_errors_print_plain_numbers(field, value, shown):
    from dataclasses import replace

    from xbar.errors import ConfigError

    c, _ = build([("V1", "a", "0", 1.0), ("R1", "a", "0", 1e3)])
    with pytest.raises(ConfigError, match=f"options.{field}") as e:
        solve_dc(c, replace(Options(), **{field: value}))
    assert shown in str(e.value) and "np." not in str(e.value)


def test_value_errors_print_plain_numbers():
    from xbar.errors import CircuitError, ValueRangeError

    c, _ = build([("V1", "a", "0", 1.0), ("R1", "a", "0", 1e3)])
    c.resistors.value[0] = np.nan
    with pytest.raises(ValueRangeError, match="resistor r1 has value nan;") as e:
        solve_dc(c)
    assert "np." not in str(e.value)
    c, _ = build(
        [("V1", "a", "0", 1.0), ("R1", "a", "b", 1e3), ("D1", "b", "0", "dm")],
        models={"dm": DiodeModel("dm", is_=np.float64(np.nan))},
    )
    with pytest.raises(CircuitError, match=r"\(IS=nan, N=1, area=1\)") as e:
        solve_dc(c)
    assert "np." not in str(e.value)
