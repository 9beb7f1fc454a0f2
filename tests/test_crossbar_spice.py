"""Crossbar vs the circuit engine (through ``to_netlist``) and vs ngspice; device models."""

from __future__ import annotations

import numpy as np
import pytest

import xbar
from xbar.crossbar import kernels
from xbar.crossbar.circuit import to_circuit
from xbar.crossbar.netlist import format_circuit, outputs_from_currents
from xbar.errors import ConfigError, ValueRangeError

RNG = np.random.default_rng(3)
M, N = 5, 4
G = RNG.uniform(1e-6, 1e-4, (M, N))
V = RNG.uniform(0.0, 0.3, M)

SPICE_CASES = {
    "linear_driver_sense": dict(r_row=1.0, r_col=1.0, r_driver=5.0, r_sense=10.0),
    "sinh": dict(r_row=2.0, r_col=2.0, device=xbar.Sinh(4.0), r_driver=2.0, r_sense=5.0),
    "ideal_rows_both": dict(r_row=np.zeros((M, N + 1)), r_col=1.0, drive="both", r_driver=1.0),
    "selector_access": dict(
        r_row=1.0, r_col=1.0, selector=xbar.Exponential(0.05), g_selector=1e-3, r_access=100.0
    ),
    "powerlaw": dict(r_row=1.0, r_col=1.0, device=xbar.PowerLaw(3.0, 0.2)),
    "bias_float": dict(r_row=1.0, r_col=1.0, col_bias=[0.1, np.nan, None, None]),
}


def _rtol(kw):
    # the issue asks 1e-8 (linear) and 1e-6 (nonlinear); with the exported tight .options
    # (gmin 1e-20, ngspice's Vt constants) nonlinear arrays agree to ~1e-11 as well
    return 1e-9 if ("device" not in kw and "selector" not in kw) else 1e-8


@pytest.mark.parametrize("case", sorted(SPICE_CASES))
def test_matches_engine_through_netlist(case, tmp_path):
    kw = SPICE_CASES[case]
    xb = xbar.Crossbar(G, **kw)
    Vin = 2 * V
    ours = xb.solve(Vin).output[0]
    path = tmp_path / "xb.cir"
    xb.to_netlist(path, Vin)
    op = xbar.solve_dc(xbar.read_netlist(path))
    eng = outputs_from_currents(xb, op.current)
    np.testing.assert_allclose(ours, eng, rtol=0, atol=_rtol(kw) * np.abs(eng).max())


@pytest.mark.ngspice
@pytest.mark.parametrize("case", sorted(SPICE_CASES))
def test_matches_ngspice(case, ngspice, tmp_path):
    kw = SPICE_CASES[case]
    xb = xbar.Crossbar(G, **kw)
    Vin = 2 * V
    sol = xb.solve(Vin, return_nodes=True)
    path = tmp_path / "xb.cir"
    xb.to_netlist(path, Vin)
    res = ngspice(path)
    out = outputs_from_currents(xb, res.currents)
    np.testing.assert_allclose(sol.output[0], out, rtol=0, atol=_rtol(kw) * np.abs(out).max())
    vr = np.array([[res.voltages[f"r{i}_{j}"][0] for j in range(N)] for i in range(M)])
    np.testing.assert_allclose(sol.row_voltages[0], vr, rtol=0, atol=_rtol(kw) * np.abs(Vin).max())


@pytest.mark.parametrize("case", sorted(SPICE_CASES))
def test_circuit_is_what_the_netlist_says(case):
    """to_circuit solved directly == the exported text read back; same elements and nodes."""
    xb = xbar.Crossbar(G, **SPICE_CASES[case])
    xc = to_circuit(xb, 2 * V)
    text = xb.to_netlist(None, 2 * V)
    assert text == format_circuit(xc.circuit)
    back = xbar.read_netlist(text)
    assert sorted(back.node_names) == sorted(xc.circuit.node_names)
    for kind in ("resistors", "vsources", "diodes"):
        assert sorted(getattr(back, kind).name) == sorted(getattr(xc.circuit, kind).name)
    assert len(back.bsources) == len(xc.circuit.bsources)
    direct = xbar.solve_dc(xc.circuit)
    read = xbar.solve_dc(back)
    np.testing.assert_allclose(
        xc.outputs(direct.current), xc.outputs(read.current), rtol=1e-12, atol=1e-20
    )
    np.testing.assert_allclose(
        xc.outputs(direct.current),
        xb.solve(2 * V).output[0],
        rtol=0,
        atol=_rtol(SPICE_CASES[case]) * 1e-4,
    )


def test_circuit_inputs_and_writer_limits():
    xb = xbar.Crossbar(G, np.ones((M, N + 1)), 1.0, r_driver=2.0, drive="both")
    xc = to_circuit(xb)
    xc.set_inputs(V)
    op = xbar.solve_dc(xc.circuit)
    sol = xb.solve(V)
    np.testing.assert_allclose(xc.input_currents(op.current), sol.input_currents[0], rtol=1e-9)
    assert len(xc.input_sources) == 2 * M and len(xc.sense_sources) == N
    with pytest.raises(xbar.errors.ShapeError, match="V has shape"):
        to_circuit(xb, np.zeros(M + 1))
    xc.circuit.analyses = [xbar.spice.circuit.DCSweep("vin0_l", 0.0, 1.0, 0.5)]
    with pytest.raises(ConfigError, match="format_circuit"):
        format_circuit(xc.circuit)


def test_tabulated_has_no_spice_form():
    xb = xbar.Crossbar(G, 1.0, 1.0, device=xbar.Tabulated([-1, 0, 1], [-2e-4, 0, 2e-4]))
    with pytest.raises(ConfigError, match="no exact SPICE form for Tabulated"):
        xb.to_netlist(None, V)


# ----------------------------------------------------------------------------- devices
DEVICES = [
    xbar.Linear(),
    xbar.Sinh(3.0),
    xbar.Exponential(0.05),
    xbar.PowerLaw(2.5, 0.3),
    xbar.Tabulated(np.linspace(-1, 1, 9), np.sinh(2 * np.linspace(-1, 1, 9))),
]


@pytest.mark.parametrize("dev", DEVICES, ids=lambda d: type(d).__name__)
def test_device_derivative_and_small_signal(dev):
    v = np.linspace(-1.3, 1.3, 41)
    g = 2e-4
    h = 1e-6
    fd = (dev.current(v + h, g) - dev.current(v - h, g)) / (2 * h)
    np.testing.assert_allclose(dev.derivative(v, g), fd, rtol=1e-5, atol=1e-12)
    assert abs(dev.current(0.0, g)) < 1e-18
    np.testing.assert_allclose(dev.derivative(0.0, g), g, rtol=1e-12)
    assert np.all(np.diff(dev.current(v, g)) > 0)  # monotone


def test_per_cell_parameters_broadcast():
    k = RNG.uniform(1, 5, (M, N))
    v = np.full((2, M, N), 0.3)
    i = xbar.Sinh(k).current(v, G)
    np.testing.assert_allclose(i[1], G * np.sinh(k * 0.3) / k)


def test_tabulated_from_csv_and_extrapolation(tmp_path):
    p = tmp_path / "iv.csv"
    p.write_text("voltage,current\n-0.5,-1e-4\n0,0\n0.25,4e-5\n0.5,1e-4\n")
    dev = xbar.Tabulated.from_csv(p)
    # beyond the table: linear with the end slope
    s_end = float(dev.derivative(0.5, 1.0))
    step = dev.current(0.7, 1.0) - dev.current(0.5, 1.0)
    np.testing.assert_allclose(step, 0.2 * s_end, rtol=1e-12)
    # the data points are reproduced (scaled by the slope at 0 V)
    g0 = dev._g0
    np.testing.assert_allclose(dev.current(np.array([-0.5, 0.25]), 1.0) * g0, [-1e-4, 4e-5])
    bad = tmp_path / "bad.csv"
    bad.write_text("v,i\n0,0\n0.5,1e-4\n0.4,2e-4\n")
    with pytest.raises(ValueRangeError, match="increase strictly"):
        xbar.Tabulated.from_csv(bad)
    bad.write_text("v,i\n-1,0\n0,1e-5\n1,abc\n")
    with pytest.raises(ConfigError, match=r"bad.csv:4"):
        xbar.Tabulated.from_csv(bad)


def test_tabulated_crossbar_matches_equivalent_sinh():
    vv = np.linspace(-1.5, 1.5, 3001)
    tab = xbar.Tabulated(vv, np.sinh(2.0 * vv))
    a = xbar.Crossbar(G, 1.0, 1.0, device=tab).solve(2 * V).output
    b = xbar.Crossbar(G, 1.0, 1.0, device=xbar.Sinh(2.0)).solve(2 * V).output
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_bad_device_parameters():
    with pytest.raises(ValueRangeError, match="'k' must be > 0"):
        xbar.Sinh(0.0)
    with pytest.raises(ValueRangeError, match="alpha"):
        xbar.PowerLaw(0.5)
    with pytest.raises(ValueRangeError, match="monotone"):
        xbar.Tabulated([-1, 0, 1], [0, 1, 0.5])


# ----------------------------------------------------------------------------- kernels
def test_tridiagonal_kernel_matches_scipy():
    from scipy.linalg import solve_banded

    rng = np.random.default_rng(0)
    ptr = np.array([0, 4, 4, 9, 10], dtype=np.int64)
    n = ptr[-1]
    off = rng.uniform(0.1, 1.0, n)
    off[ptr[1:] - 1] = 0.0
    dg = (2.5 + rng.random(n))[None, :]
    inv_u = np.empty_like(dg)
    kernels.tri_factor(ptr, off, dg, inv_u)
    b = rng.standard_normal((3, n))
    x = np.empty_like(b)
    kernels.tri_solve(ptr, off, inv_u, b, x)
    for s0, s1 in zip(ptr[:-1], ptr[1:], strict=True):
        m = s1 - s0
        if not m:
            continue
        ab = np.zeros((3, m))
        ab[0, 1:] = -off[s0 : s1 - 1]
        ab[1] = dg[0, s0:s1]
        ab[2, :-1] = -off[s0 : s1 - 1]
        ref = solve_banded((1, 1), ab, b[:, s0:s1].T).T
        np.testing.assert_allclose(x[:, s0:s1], ref, rtol=1e-12)
