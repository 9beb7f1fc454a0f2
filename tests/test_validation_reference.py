"""The validation references themselves, checked against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xbar.validation import reference as ref


def _ladder_dense(n, r, g, r_end, v):
    """Tridiagonal nodal matrix of the ladder, solved densely."""
    A = np.zeros((n, n))
    b = np.zeros(n)
    for k in range(n):
        A[k, k] += g
        if k + 1 < n:
            A[k, k] += 1 / r
            A[k + 1, k + 1] += 1 / r
            A[k, k + 1] -= 1 / r
            A[k + 1, k] -= 1 / r
    if r_end == 0:  # node 1 held at v
        A[0, :] = 0
        A[0, 0] = 1
        b[0] = v
    else:
        A[0, 0] += 1 / r_end
        b[0] = v / r_end
    return np.linalg.solve(A, b)


@pytest.mark.parametrize(
    "n, r, g, r_end",
    [
        (1, 1.0, 0.5, 2.0),
        (2, 3.0, 1e-3, 0.0),
        (7, 2.5, 1e-4, 10.0),
        (64, 1.0, 1e-3, 1.0),
        (300, 0.5, 2e-3, 0.0),
        (50, 10.0, 1e-2, 100.0),
    ],
)
def test_ladder_closed_form_matches_dense_solve(n, r, g, r_end):
    v = ref.ladder_voltages(n, r, g, r_end, 0.7)
    dense = _ladder_dense(n, r, g, r_end, 0.7)
    np.testing.assert_allclose(v, dense, rtol=1e-12, atol=0)


def test_ladder_recurrence_and_open_end():
    n, r, g = 20, 2.0, 3e-3
    v = ref.ladder_voltages(n, r, g, 5.0)
    # interior KCL: v[k-1] - 2 v[k] + v[k+1] = r g v[k]
    lhs = v[:-2] - 2 * v[1:-1] + v[2:]
    np.testing.assert_allclose(lhs, r * g * v[1:-1], rtol=1e-9)
    # open end: (v[n-1] - v[n]) / r = g v[n]
    assert math.isclose((v[-2] - v[-1]) / r, g * v[-1], rel_tol=1e-9)


def test_ladder_large_argument_does_not_overflow():
    v = ref.ladder_voltages(5000, 1.0, 0.5, 0.0)
    assert np.all(np.isfinite(v))
    assert v[0] == pytest.approx(1.0) and v[-1] < 1e-300 or v[-1] >= 0


@pytest.mark.parametrize("r_col, r_driver, r_sense", [(0.0, 0.0, 0.0), (1.5, 20.0, 30.0)])
def test_word_line_matches_dense_crossbar(r_col, r_driver, r_sense):
    n, g, r_row = 9, 1e-3, 2.0
    closed = ref.word_line(n, g, r_row, r_col, r_driver, r_sense, v=0.3)
    if r_col == 0:  # columns at 0 V: the row is the bare ladder
        dense_row = _ladder_dense(n, r_row, g, r_row, 0.3)
        np.testing.assert_allclose(closed["row"], dense_row, rtol=1e-12)
        np.testing.assert_allclose(closed["output"], g * closed["row"], rtol=1e-15)
        return
    dense = ref.dense_crossbar(np.full((1, n), g), [0.3], r_row, r_col, r_driver, r_sense)
    np.testing.assert_allclose(closed["row"], dense["row"][0, 0], rtol=1e-12)
    np.testing.assert_allclose(closed["col"], dense["col"][0, 0], rtol=1e-12)
    np.testing.assert_allclose(closed["output"], dense["output"][0], rtol=1e-12)


@pytest.mark.parametrize("r_row, r_driver, r_sense", [(1e-9, 0.0, 0.0), (1.5, 20.0, 30.0)])
def test_bit_line_matches_dense_crossbar(r_row, r_driver, r_sense):
    m, g, r_col = 11, 2e-3, 3.0
    closed = ref.bit_line(m, g, r_col, r_row, r_driver, r_sense, v=0.4)
    dense = ref.dense_crossbar(np.full((m, 1), g), np.full(m, 0.4), r_row, r_col, r_driver, r_sense)
    np.testing.assert_allclose(closed["col"], dense["col"][0, :, 0], rtol=1e-10)
    np.testing.assert_allclose(closed["row"], dense["row"][0, :, 0], rtol=1e-10)
    np.testing.assert_allclose(closed["output"], dense["output"][0], rtol=1e-10)


def test_dense_crossbar_kcl_and_ideal_limit():
    rng = np.random.default_rng(0)
    G = rng.uniform(1e-6, 1e-4, (4, 5))
    V = rng.uniform(-1, 1, (3, 4))
    out = ref.dense_crossbar(G, V, 1e-9, 1e-9)
    np.testing.assert_allclose(out["output"], V @ G, rtol=1e-7)
    both = ref.dense_crossbar(G, V, 2.0, 3.0, 10.0, 20.0, drive="both", sense="both")
    # total current in equals total current out
    scale = np.abs(both["input"]).max()
    np.testing.assert_allclose(
        both["input"].sum(1), both["output"].sum(1), rtol=0, atol=1e-11 * scale
    )


def test_telegrapher_is_the_limit_of_the_ladder():
    length, r_tot, g_tot = 1.0, 50.0, 0.04
    errors = []
    for n in (100, 200, 400):
        h = length / n
        v = ref.ladder_voltages(n, r_tot / n, g_tot / n, r_tot / n)
        cont, _ = ref.telegrapher_line(h * np.arange(1, n + 1), length, r_tot, g_tot)
        errors.append(np.abs(v - cont).max())
    slope = np.polyfit(np.log([100, 200, 400]), np.log(errors), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.05)


def test_sinh_root_find_satisfies_its_equation():
    g, k, r = 1e-4, 3.0, 2000.0
    for v in (-1.2, 0.0, 0.05, 0.8, 2.0):
        i = ref.series_sinh_current(v, g, k, r)
        assert i == pytest.approx(g * math.sinh(k * (v - i * r)) / k, rel=1e-13, abs=1e-300)


def test_lambert_w_diode_satisfies_its_equation():
    i_sat, n, r = 1e-14, 1.3, 1000.0
    nvt = n * ref.thermal_voltage()
    for v in (-1.0, 0.0, 0.3, 0.7, 5.0, 50.0):
        i = ref.series_diode_current(v, r, i_sat, n)
        assert i == pytest.approx(i_sat * math.expm1((v - i * r) / nvt), rel=1e-12, abs=1e-27)


def test_thermal_voltage_at_27c():
    assert ref.thermal_voltage(27.0) == pytest.approx(0.0258649, rel=1e-5)


def test_crossbar_netlist_writer_matches_dense_solve_in_ngspice(ngspice):
    from xbar.validation.cases_ngspice import _ngspice_flat, _spice_maps, crossbar_netlist

    rng = np.random.default_rng(0)
    G = rng.uniform(1e-5, 1e-4, (5, 4))
    V = rng.uniform(0, 1, 5)
    kw = dict(r_row=3.0, r_col=4.0, r_driver=20.0, r_sense=30.0)
    spice = _ngspice_flat(ngspice(crossbar_netlist(G, V, **kw)))
    row, col, out = _spice_maps(spice, 5, 4)
    dense = ref.dense_crossbar(G, V, **kw)
    np.testing.assert_allclose(row, dense["row"][0], rtol=1e-12)
    np.testing.assert_allclose(col, dense["col"][0], rtol=1e-12)
    np.testing.assert_allclose(out, dense["output"][0], rtol=1e-12)


def test_dense_crossbar_end_overrides():
    rng = np.random.default_rng(3)
    G = rng.uniform(1e-5, 1e-4, (4, 3))
    V = rng.uniform(0, 1, 4)
    kw = dict(r_row=2.0, r_col=3.0, r_driver=10.0, r_sense=20.0)
    both = ref.dense_crossbar(G, V, drive="both", sense="both", **kw)
    # holding the right ends at the inputs and the top ends at 0 V is the same circuit
    held = ref.dense_crossbar(
        G, V, row_ends=[[None, v] for v in V], col_ends=[[0.0, None]] * 3, **kw
    )
    np.testing.assert_allclose(held["row"], both["row"], rtol=1e-12)
    np.testing.assert_allclose(held["col"], both["col"], rtol=1e-12)
    # a floated sensed end carries no output; floating every end of a row isolates it
    flo = ref.dense_crossbar(
        G,
        V,
        row_ends=[[np.nan, None]] + [[None, None]] * 3,
        col_ends=[[None, np.nan]] + [[None, None]] * 2,
        **kw,
    )
    assert flo["output"][0, 0] == 0.0 and flo["input"][0, 0] == 0.0
    assert flo["output"][0, 1] > 0


# --- against the 50-digit tables in validation/references/ (generated with mpmath)

_TABLES = __import__("pathlib").Path(__file__).resolve().parents[1] / "validation" / "references"


def _read_csv(name):
    import csv

    with open(_TABLES / name, newline="") as fh:
        return list(csv.DictReader(fh))


def test_ladder_closed_form_matches_50_digit_table():
    rows = _read_csv("ladders.csv")
    for case in sorted({r["case"] for r in rows}):
        sel = [r for r in rows if r["case"] == case]
        p = sel[0]
        v = ref.ladder_voltages(
            int(p["n"]), float(p["r_ohm"]), float(p["g_S"]), float(p["r_end_ohm"]), float(p["v_V"])
        )
        exact = np.array([float(r["voltage_V"]) for r in sel])
        np.testing.assert_allclose(v, exact, rtol=2e-14, atol=0, err_msg=case)


def test_telegrapher_matches_50_digit_table():
    rows = _read_csv("telegrapher.csv")
    p = rows[0]
    x = np.array([float(r["x_m"]) for r in rows])
    volts, cur = ref.telegrapher_line(
        x,
        float(p["length_m"]),
        float(p["rho_ohm_per_m"]),
        float(p["sigma_S_per_m"]),
        float(p["v_V"]),
    )
    np.testing.assert_allclose(volts, [float(r["voltage_V"]) for r in rows], rtol=1e-14)
    assert cur == pytest.approx(float(p["source_current_A"]), rel=1e-14)


def test_root_finds_match_50_digit_table():
    for r in _read_csv("nonlinear_cells.csv"):
        v = float(r["v_V"])
        exact = float(r["current_A"])
        if r["case"] == "sinh":
            i = ref.series_sinh_current(v, float(r["p1"]), float(r["p2"]), float(r["r_series_ohm"]))
        else:
            i = ref.series_diode_current(
                v, float(r["r_series_ohm"]), float(r["p1"]), float(r["p2"])
            )
        assert i == pytest.approx(exact, rel=1e-13, abs=1e-28), r


def test_first_order_ir_drop_matches_dense_solve():
    rng = np.random.default_rng(1)
    G = rng.uniform(1e-5, 1e-4, (5, 4))
    V = rng.uniform(0, 1, (2, 5))
    D = ref.first_order_ir_drop(G, V)
    devs = []
    for r in (1e-1, 1e-2):
        out = ref.dense_crossbar(G, V, r, r)["output"]
        devs.append(np.abs((V @ G - out) / r - D).max() / np.abs(D).max())
    assert devs[1] < 2e-5  # the coefficient is right ...
    assert devs[0] / devs[1] == pytest.approx(10, rel=0.05)  # ... and the remainder is O(r^2)


@pytest.mark.parametrize(
    "m, n, g, r_row, r_col",
    [
        (3, 4, 1e-3, 2.0, 3.0),
        (1, 5, 1e-3, 1.0, 1.0),
        (7, 1, 1e-2, 5.0, 0.5),
        (12, 9, 1e-4, 1.0, 2.5),
    ],
)
def test_uniform_array_modes_match_dense_solve(m, n, g, r_row, r_col):
    V = np.random.default_rng(m * n).uniform(-1, 1, (2, m))
    modes = ref.uniform_array_modes(m, n, g, r_row, r_col, V)
    dense = ref.dense_crossbar(np.full((m, n), g), V, r_row, r_col)
    for key in ("row", "col", "output"):
        np.testing.assert_allclose(
            modes[key], dense[key], rtol=0, atol=1e-12 * np.abs(dense[key]).max()
        )
