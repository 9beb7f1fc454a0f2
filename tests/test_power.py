"""Array power (xbar.crossbar.power): balance, independent recomputation, quadratic forms."""

from __future__ import annotations

import numpy as np
import pytest

import xbar
from xbar.crossbar.power import PARTS
from xbar.errors import ConfigError

M, N = 10, 7


def _G(seed=0, lo=1e-5, hi=1e-4):
    return np.random.default_rng(seed).uniform(lo, hi, (M, N))


def _V(seed=1, K=3, hi=0.5):
    return np.random.default_rng(seed).uniform(0.0, hi, (K, M))


TOPOLOGIES = {
    "default": dict(r_row=2.0, r_col=3.0, r_driver=10.0, r_sense=20.0),
    "ideal_wires": dict(r_row=0.0, r_col=0.0),
    "ideal_rows": dict(r_row=0.0, r_col=3.0, r_driver=10.0),
    "ideal_cols_and_ends": dict(r_row=2.0, r_col=0.0),
    "per_segment": dict(
        r_row=np.linspace(1, 3, M * N).reshape(M, N),
        r_col=np.linspace(3, 1, M * N).reshape(M, N),
        r_driver=5.0,
        r_sense=np.linspace(1, 9, N),
    ),
    "both_ends": dict(
        r_row=np.full((M, N + 1), 2.0),
        r_col=np.full((M + 1, N), 2.0),
        r_driver=5.0,
        r_sense=5.0,
        drive="both",
        sense="both",
    ),
    "right_top": dict(r_row=2.0, r_col=2.0, drive="right", sense="top"),
    "v_half_bias": dict(
        r_row=1.0, r_col=1.0, r_driver=5.0, r_sense=5.0, col_bias=[[None, 0.1]] * N
    ),
    "floating_far_ends": dict(
        r_row=1.0, r_col=1.0, r_driver=5.0, r_sense=5.0, row_bias=[[None, np.nan]] * M
    ),
    "sinh": dict(r_row=2.0, r_col=2.0, r_driver=10.0, r_sense=10.0, device=xbar.Sinh(4.0)),
    "exponential": dict(
        r_row=2.0, r_col=2.0, r_driver=10.0, r_sense=10.0, device=xbar.Exponential(0.05)
    ),
    "power_law": dict(r_row=2.0, r_col=2.0, r_driver=10.0, r_sense=10.0, device=xbar.PowerLaw(2.0)),
    "1s1r": dict(
        r_row=2.0,
        r_col=2.0,
        r_driver=10.0,
        r_sense=10.0,
        selector=xbar.Exponential(0.05),
        g_selector=1e-6,
    ),
    "1t1r": dict(r_row=2.0, r_col=2.0, r_driver=10.0, r_sense=10.0, r_access=5000.0),
    "1t1r_sinh": dict(
        r_row=2.0, r_col=2.0, r_driver=10.0, r_sense=10.0, r_access=5000.0, device=xbar.Sinh(3.0)
    ),
}


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_power_balance_every_topology(name):
    kw = dict(TOPOLOGIES[name])
    V = _V(hi=1.5 if name == "1s1r" else 0.5)
    sol = xbar.Crossbar(_G(), **kw).solve(V, tol=1e-12)
    p = sol.power
    assert p.supplied.shape == (3,)
    for part in PARTS:
        assert np.all(getattr(p, part) >= -1e-12 * p.supplied.max()), part
    # Tellegen: the parts add up to the supplied power, to the solve's residual
    assert p.balance_error < 1e-10
    assert np.allclose(p.inputs, (V * sol.input_currents).sum(axis=1), rtol=1e-12, atol=0)
    if "r_access" not in kw:
        assert np.all(p.access == 0.0)
    if "selector" not in kw:
        assert np.all(p.selectors == 0.0)
    else:
        assert np.all(p.selectors > 0)


def test_power_split_recomputed_from_node_voltages():
    r_row, r_col, r_drv, r_sns = 2.0, 3.0, 10.0, 20.0
    G, V = _G(), _V()
    sol = xbar.Crossbar(G, r_row, r_col, r_drv, r_sns).solve(V, return_nodes=True, tol=1e-12)
    Vr, Vc = sol.row_voltages, sol.col_voltages
    i_in, out = sol.input_currents, sol.output
    p = sol.power
    ref = {
        "supplied": (V * i_in).sum(axis=1),
        "cells": (G * (Vr - Vc) ** 2).sum(axis=(1, 2)),
        "row_wires": (np.diff(Vr, axis=2) ** 2).sum(axis=(1, 2)) / r_row
        + (i_in**2).sum(axis=1) * r_row,
        "col_wires": (np.diff(Vc, axis=1) ** 2).sum(axis=(1, 2)) / r_col
        + (out**2).sum(axis=1) * r_col,
        "drivers": (i_in**2).sum(axis=1) * r_drv,
        "sense": (out**2).sum(axis=1) * r_sns,
    }
    for name, value in ref.items():
        np.testing.assert_allclose(getattr(p, name), value, rtol=1e-11, err_msg=name)


def test_nonlinear_cell_power_is_i_times_v():
    G, V = _G(), _V()
    k = 4.0
    sol = xbar.Crossbar(G, 2.0, 2.0, 10.0, 10.0, xbar.Sinh(k)).solve(
        V, return_nodes=True, tol=1e-12
    )
    v = sol.row_voltages - sol.col_voltages
    ref = (G * np.sinh(k * v) / k * v).sum(axis=(1, 2))
    np.testing.assert_allclose(sol.power.cells, ref, rtol=1e-10)


def test_power_survives_batch_chunking():
    xb = xbar.Crossbar(_G(), 2.0, 2.0, 10.0, 10.0)
    V = _V(K=5)
    whole = xb.solve(V, tol=1e-12).power
    ones = [xb.solve(v, tol=1e-12).power for v in V]
    for name in PARTS + ("supplied",):
        np.testing.assert_allclose(
            getattr(whole, name), [getattr(o, name)[0] for o in ones], rtol=1e-9
        )


@pytest.mark.parametrize(
    "name",
    [
        "default",
        "ideal_wires",
        "ideal_rows",
        "per_segment",
        "both_ends",
        "right_top",
        "1t1r",
        "floating_far_ends",
    ],
)
def test_quadratic_forms_equal_exact_solves(name):
    xb = xbar.Crossbar(_G(), **TOPOLOGIES[name])
    V = _V(K=4)
    exact = xb.solve(V, tol=1e-13).power
    forms = xb.power_forms()
    cached = forms.power(V)
    scale = exact.supplied.max()
    for part in PARTS + ("supplied",):
        err = np.max(np.abs(getattr(cached, part) - getattr(exact, part))) / scale
        assert err < 1e-11, (part, err)
    # the parts' forms add up to the input admittance form
    total = sum(forms.Q[p] for p in PARTS if p in forms.Q)
    assert np.max(np.abs(total - forms.Q["supplied"])) < 1e-11 * np.abs(forms.Q["supplied"]).max()
    # a batch's summed power from its Gram matrix
    summed = forms.batch_energy(V.T @ V)
    assert summed["cells"] == pytest.approx(exact.cells.sum(), rel=1e-11)
    assert xb.power_forms() is forms  # cached


def test_quadratic_forms_invalidated_with_the_array():
    xb = xbar.Crossbar(_G(), 2.0, 2.0, 10.0, 10.0)
    f1 = xb.power_forms()
    xb.r_row = 4.0
    f2 = xb.power_forms()
    assert f2 is not f1
    V = _V(K=2)
    np.testing.assert_allclose(
        f2.power(V).row_wires, xb.solve(V, tol=1e-13).power.row_wires, rtol=1e-10
    )


def test_attenuation_is_the_diagonal_cell_response():
    xb = xbar.Crossbar(_G(), 0.0, 0.0)
    assert np.allclose(xb.power_forms().attenuation, 1.0)
    xb = xbar.Crossbar(_G(), 5.0, 5.0, 10.0, 10.0)
    a = xb.power_forms().attenuation
    assert np.all((a > 0.8) & (a < 1.0))
    # row 0, unit input: its cells' voltages
    sol = xb.solve(np.eye(M)[0], return_nodes=True, tol=1e-13)
    np.testing.assert_allclose(a[0], (sol.row_voltages - sol.col_voltages)[0, 0], rtol=1e-10)


def test_quadratic_forms_refuse_nonlinear_and_biased_arrays():
    with pytest.raises(ConfigError, match="linear cells"):
        xbar.Crossbar(_G(), 1.0, 1.0, device=xbar.Sinh(3.0)).power_forms()
    with pytest.raises(ConfigError, match="biased"):
        xbar.Crossbar(_G(), 1.0, 1.0, col_bias=[[None, 0.1]] * N).power_forms()


def test_direct_unit_responses_equal_iterative_solves():
    from xbar.crossbar.power import unit_responses

    for kw in (
        TOPOLOGIES["default"],
        TOPOLOGIES["both_ends"],
        TOPOLOGIES["1t1r"],
        TOPOLOGIES["right_top"],
    ):
        xb = xbar.Crossbar(_G(), **kw)
        units = unit_responses(xb.setup())
        assert units is not None
        sol = xb.solve(np.eye(M), tol=1e-13)
        for got, ref in zip(units, (sol.state["xr"], sol.state["xc"]), strict=True):
            assert np.max(np.abs(got - ref)) < 1e-11 * np.max(np.abs(ref))
    # collapsed (ideal) rows: not this path
    assert unit_responses(xbar.Crossbar(_G(), **TOPOLOGIES["ideal_rows"]).setup()) is None


@pytest.mark.parametrize("name", ["default", "1t1r", "ideal_rows", "both_ends"])
def test_forms_of_the_first_inputs_equal_exact_solves(name):
    """power_forms(inputs=m): the other inputs held at 0 V; the direct elimination and
    the iterative fallback (collapsed rows) both give the full circuit's power."""
    xb = xbar.Crossbar(_G(), **TOPOLOGIES[name])
    m = 4
    forms = xb.power_forms(inputs=m)
    V = _V(K=5)
    V[:, m:] = 0.0
    p = xb.solve(V, tol=1e-13).power
    q = forms.power(V[:, :m])
    assert forms.Q["supplied"].shape == (m, m)
    for part in PARTS + ("supplied",):
        assert np.allclose(getattr(q, part), getattr(p, part), rtol=1e-8, atol=1e-14), part
    full = xb.power_forms()
    assert np.allclose(full.attenuation[:m], forms.attenuation, rtol=1e-9)
    with pytest.raises(xbar.XbarError, match="inputs"):
        xb.power_forms(inputs=M + 1)


@pytest.mark.parametrize("name", ["default", "1t1r", "both_ends", "right_top", "per_segment"])
def test_forms_give_the_transfer_matrix(name):
    """The direct elimination's sensed-end currents are the transfer matrix's rows."""
    xb = xbar.Crossbar(_G(), **TOPOLOGIES[name])
    forms = xb.power_forms()
    assert forms.transfer is not None
    W = xb.transfer_matrix()
    assert np.allclose(forms.transfer, W, rtol=1e-10, atol=1e-12 * np.abs(W).max())
    part = forms.first(3)
    assert part.Q["cells"].shape == (3, 3) and np.array_equal(part.transfer, forms.transfer[:3])
