"""Crossbar solver against the full sparse MNA reference, for every topology option."""

from __future__ import annotations

import numpy as np
import pytest

import xbar
from xbar.crossbar import solver, system, transfer
from xbar.crossbar.reference import ReferenceNetwork, nodal_matrix
from xbar.errors import (
    ConfigError,
    ConvergenceError,
    ShapeError,
    SingularCircuitError,
    ValueRangeError,
)

M, N = 6, 5
RNG = np.random.default_rng(42)
G0 = RNG.uniform(1e-6, 1e-4, (M, N))
V0 = RNG.uniform(0.0, 0.3, (3, M))
RR = RNG.uniform(0.5, 2.0, (M, N))
RC = RNG.uniform(0.5, 2.0, (M, N))
RR_Z = np.where(RNG.random((M, N)) < 0.4, 0.0, RR)
RC_Z = np.where(RNG.random((M, N)) < 0.4, 0.0, RC)

LINEAR_CASES = {
    "default": dict(r_row=1.0, r_col=1.0),
    "driver_sense": dict(r_row=1.0, r_col=1.0, r_driver=3.0, r_sense=2.0),
    "per_segment": dict(
        r_row=RR, r_col=RC, r_driver=np.linspace(1, 2, M), r_sense=np.linspace(2, 3, N)
    ),
    "drive_right": dict(r_row=RR, r_col=1.0, drive="right"),
    "drive_both": dict(r_row=np.full((M, N + 1), 1.5), r_col=1.0, drive="both", r_driver=1.0),
    "sense_top": dict(r_row=1.0, r_col=RC, sense="top"),
    "sense_both": dict(r_row=1.0, r_col=np.full((M + 1, N), 0.7), sense="both", r_sense=1.0),
    "access_1t1r": dict(r_row=1.0, r_col=1.0, r_access=RNG.uniform(1e2, 1e3, (M, N))),
    "col_bias_float": dict(r_row=1.0, r_col=1.0, col_bias=[0.1, np.nan, None, 0.05, None]),
    "row_bias_ends": dict(
        r_row=1.0,
        r_col=1.0,
        row_bias=np.array([[None, 0.1]] * (M - 1) + [[np.nan, 0.2]], dtype=object),
    ),
    "zero_segments": dict(r_row=RR_Z, r_col=RC_Z),
    "zero_segments_driver": dict(r_row=RR_Z, r_col=RC_Z, r_driver=1.0, r_sense=0.5),
    "ideal_rows": dict(r_row=0.0, r_col=RC),
    "ideal_cols": dict(r_row=RR, r_col=0.0),
    "ideal_rows_both": dict(r_row=np.zeros((M, N + 1)), r_col=RC, drive="both", r_driver=1.0),
    "open_cells": dict(r_row=1.0, r_col=1.0, G=np.where(RNG.random((M, N)) < 0.3, 0.0, G0)),
}

NONLINEAR_CASES = {
    "sinh": dict(r_row=1.0, r_col=1.0, device=xbar.Sinh(5.0)),
    "sinh_percell_zero": dict(
        r_row=RR_Z, r_col=RC_Z, r_driver=2.0, device=xbar.Sinh(RNG.uniform(2, 6, (M, N)))
    ),
    "sinh_access": dict(r_row=1.0, r_col=1.0, device=xbar.Sinh(4.0), r_access=1e3),
    "selector_1s1r": dict(r_row=1.0, r_col=1.0, selector=xbar.Exponential(0.05), g_selector=1e-3),
    "powerlaw": dict(r_row=1.0, r_col=1.0, device=xbar.PowerLaw(3.0, 0.2)),
    "exponential_cells": dict(r_row=1.0, r_col=1.0, device=xbar.Exponential(0.1)),
    "sinh_bias": dict(
        r_row=1.0,
        device=xbar.Sinh(3.0),
        sense="both",
        r_col=np.ones((M + 1, N)),
        col_bias=[0.2, np.nan, None, None, 0.1],
    ),
}


def _make(kw):
    kw = dict(kw)
    G = kw.pop("G", G0)
    return xbar.Crossbar(G, **kw)


@pytest.mark.parametrize("case", sorted(LINEAR_CASES))
def test_linear_matches_sparse_mna(case):
    xb = _make(LINEAR_CASES[case])
    sol = xb.solve(V0, return_nodes=True)
    ref = ReferenceNetwork(xb)
    out, inp, X = ref.solve(V0)
    scale = np.abs(out).max()
    np.testing.assert_allclose(sol.output, out, rtol=0, atol=1e-8 * scale)
    np.testing.assert_allclose(sol.input_currents, inp, rtol=0, atol=1e-8 * np.abs(inp).max())
    vr = ref.voltages(X, "r")
    vc = ref.voltages(X, "c")
    np.testing.assert_allclose(sol.row_voltages, vr, rtol=0, atol=1e-8 * np.abs(V0).max())
    np.testing.assert_allclose(sol.col_voltages, vc, rtol=0, atol=1e-8 * np.abs(V0).max())
    assert sol.output.shape == (3, N) and sol.cell_currents.shape == (3, M, N)
    assert np.all(sol.residual <= 1e-10)


@pytest.mark.parametrize("case", sorted(NONLINEAR_CASES))
def test_nonlinear_matches_sparse_mna(case):
    xb = _make(NONLINEAR_CASES[case])
    V = 2.5 * V0
    sol = xb.solve(V, return_nodes=True)
    out, inp, _ = ReferenceNetwork(xb).solve(V)
    np.testing.assert_allclose(sol.output, out, rtol=0, atol=1e-6 * np.abs(out).max())
    np.testing.assert_allclose(sol.input_currents, inp, rtol=0, atol=1e-6 * np.abs(inp).max())
    # KCL per column: output equals the summed cell currents (only sensed ends connected)
    if "col_bias" not in NONLINEAR_CASES[case]:
        np.testing.assert_allclose(sol.cell_currents.sum(axis=1), sol.output, rtol=1e-9)


def test_zero_wire_resistance_is_the_ideal_product():
    G = RNG.uniform(1e-6, 1e-4, (40, 30))
    V = RNG.uniform(0, 0.3, (7, 40))
    sol = xbar.Crossbar(G, 0.0, 0.0).solve(V)
    np.testing.assert_allclose(sol.output, V @ G, rtol=1e-12, atol=0)


def test_ir_drop_reduces_output_and_single_input_shape():
    xb = xbar.Crossbar(G0, 2.0, 2.0)
    sol = xb.solve(V0[0])
    assert sol.output.shape == (1, N)
    ideal = V0[0] @ G0
    assert np.all(sol.output[0] < ideal) and np.all(sol.output[0] > 0.99 * ideal)


def test_linear_solution_satisfies_nodal_matrix():
    xb = xbar.Crossbar(G0, RR, RC, r_driver=1.0, r_sense=1.0)
    A = nodal_matrix(xb)
    st = xb.setup()
    sol = xb.solve(V0)
    Vs = system.source_voltages(st, V0)
    rr, rc = system.rhs(st, Vs, st.g[None, :])
    x = np.concatenate([sol.state["xr"], sol.state["xc"]], axis=1)
    b = np.concatenate([rr, rc], axis=1)
    res = np.linalg.norm(x @ A.T - b, axis=1) / np.linalg.norm(b, axis=1)
    assert np.all(res < 1e-10)


@pytest.mark.parametrize(
    "case",
    [
        "default",
        "drive_both",
        "sense_both",
        "zero_segments",
        "col_bias_float",
        "ideal_rows",
        "per_segment",
    ],
)
def test_transfer_matrix_exact(case):
    xb = _make(LINEAR_CASES[case])
    W = xb.transfer_matrix()
    ref = ReferenceNetwork(xb)
    Wref = ref.solve(np.eye(M))[0] - ref.solve(np.zeros(M))[0]
    np.testing.assert_allclose(W, Wref, rtol=0, atol=1e-10 * np.abs(Wref).max())
    assert xb.transfer_matrix() is W  # cached
    with pytest.raises(ValueError):
        W[0, 0] = 1.0  # read-only


def test_transfer_matrix_invalidated_when_g_changes():
    xb = xbar.Crossbar(G0.copy(), 1.0, 1.0)
    W1 = xb.transfer_matrix()
    with pytest.raises(ValueError):
        xb.G[0, 0] = 0.0  # arrays are read-only
    xb.G = G0 * 2
    W2 = xb.transfer_matrix()
    assert W2 is not W1
    np.testing.assert_allclose(W2, xbar.Crossbar(G0 * 2, 1.0, 1.0).transfer_matrix(), rtol=1e-12)
    xb.r_row = 5.0
    assert not np.allclose(xb.transfer_matrix(), W2, rtol=1e-6)


def test_block_and_krylov_transfer_agree():
    G = RNG.uniform(1e-5, 1e-3, (12, 9))
    xb = xbar.Crossbar(G, 2.0, 3.0, r_driver=5.0, r_sense=7.0)
    st = xb.setup()
    Wb = transfer.column_sweep(st, st.g)
    assert Wb is not None
    Wk, how = transfer.transfer_matrix(st, method="cg")
    assert how == "cg"
    np.testing.assert_allclose(Wk, Wb, rtol=1e-9)
    np.testing.assert_allclose(xb.solve(np.eye(12), tol=1e-13).output, Wb, rtol=1e-9)


def test_linearize_linear_equals_transfer_matrix():
    xb = xbar.Crossbar(G0, 1.0, 1.0)
    lin = xb.linearize(V0[0])
    np.testing.assert_allclose(lin.W, xb.transfer_matrix())
    np.testing.assert_allclose(lin.output(V0), xb.solve(V0).output, rtol=1e-9)


def test_linearize_sinh_is_the_derivative_and_error_is_second_order():
    xb = xbar.Crossbar(G0, 1.0, 1.0, device=xbar.Sinh(4.0))
    Vop = np.full(M, 0.2)
    lin = xb.linearize(Vop)
    assert xb.linearize(Vop) is lin  # cached
    h = 1e-6
    out = xb.solve(np.concatenate([Vop + h * np.eye(M), Vop - h * np.eye(M)])).output
    fd = (out[:M] - out[M:]) / (2 * h)
    np.testing.assert_allclose(lin.W, fd, rtol=1e-5)
    errs = []
    d = np.random.default_rng(7).standard_normal(M)
    for dv in (0.01, 0.02):
        dV = dv * d
        exact = xb.solve(Vop + dV).output[0]
        errs.append(np.abs(lin.output(Vop + dV)[0] - exact).max() / np.abs(exact).max())
    assert errs[0] < 1e-3
    assert 2.5 < errs[1] / errs[0] < 6  # ~ quadratic in dV


def test_warm_start_reuses_operating_point():
    xb = xbar.Crossbar(G0, 1.0, 1.0, device=xbar.Sinh(5.0))
    V = 3 * V0
    cold = xb.solve(V)
    warm = xb.solve(V * 1.001, warm_start=cold)
    again = xb.solve(V * 1.001)
    np.testing.assert_allclose(warm.output, again.output, rtol=1e-9)
    assert warm.iterations.max() <= again.iterations.max()


def test_batch_chunking_gives_same_answer():
    xb = xbar.Crossbar(G0, 1.0, 1.0)
    full = xb.solve(V0, return_nodes=True)
    chunked = solver.solve(xb.setup(), V0, return_nodes=True, batch_bytes=1.0)
    np.testing.assert_allclose(chunked.output, full.output, rtol=1e-12)
    assert chunked.row_voltages.shape == (3, M, N)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kw, exc, text",
    [
        (dict(G=np.ones(3)), ShapeError, "G must be a 2-D"),
        (dict(G=-G0), ValueRangeError, "G at index (0, 0)"),
        (dict(G=np.where(np.eye(M, N) > 0, np.nan, G0)), ValueRangeError, "G at index (0, 0)"),
        (dict(r_row=np.ones((M, N - 1))), ShapeError, "r_row has shape"),
        (dict(r_col=-1.0), ValueRangeError, "r_col"),
        (dict(r_driver=np.ones(M + 1)), ShapeError, "r_driver"),
        (dict(r_sense=np.inf), ValueRangeError, "r_sense"),
        (dict(drive="middle"), ConfigError, "drive='middle'"),
        (dict(drive="both", r_row=np.ones((M, N))), ShapeError, "drive='both'"),
        (dict(selector=xbar.Exponential()), ConfigError, "g_selector"),
        (dict(device=xbar.Sinh(np.ones((2, 2)))), ShapeError, "parameter 'k'"),
        (dict(col_bias=np.zeros(N + 1)), ShapeError, "col_bias"),
    ],
)
def test_bad_construction(kw, exc, text):
    kw = dict(kw)
    G = kw.pop("G", G0)
    with pytest.raises(exc, match=None) as info:
        xbar.Crossbar(G, **{"r_row": 1.0, "r_col": 1.0, **kw})
    assert text in str(info.value)


def test_bad_inputs_and_nonconvergence():
    xb = xbar.Crossbar(G0, 1.0, 1.0)
    with pytest.raises(ShapeError, match=r"expected \(6,\) or \(K, 6\)"):
        xb.solve(np.zeros(M + 1))
    with pytest.raises(ValueRangeError, match=r"V\[0, 2\]"):
        xb.solve(np.where(np.arange(M) == 2, np.nan, 0.1))
    with pytest.raises(ConvergenceError, match="CG did not converge"):
        xbar.Crossbar(G0 * 100, 1.0, 1.0, maxiter=1).solve(V0)
    with pytest.raises(ConvergenceError, match="Newton did not converge"):
        xbar.Crossbar(G0, 1.0, 1.0, device=xbar.Sinh(8.0), options=xbar.Options(itl1=2)).solve(
            V0 * 4
        )
    with pytest.raises(ConfigError, match="linearize"):
        xbar.Crossbar(G0, 1.0, 1.0, device=xbar.Sinh(3.0)).transfer_matrix()


def test_floating_line_is_reported():
    G = G0.copy()
    G[:, 2] = 0.0
    xb = xbar.Crossbar(G, 1.0, 1.0, col_bias=[None, None, np.nan, None, None])
    with pytest.raises(SingularCircuitError, match="column 2 is floating"):
        xb.solve(V0)
    # the same column sensed is fine and carries no current
    sol = xbar.Crossbar(G, 1.0, 1.0).solve(V0)
    assert np.all(sol.output[:, 2] == 0)


def test_short_between_ideal_sources_is_reported():
    xb = xbar.Crossbar(
        G0,
        np.zeros((M, N + 1)),
        1.0,
        drive="both",
        row_bias=np.array([[None, 0.3]] * M, dtype=object),
    )
    with pytest.raises(xbar.CircuitError, match="short circuit"):
        xb.solve(V0)


@pytest.mark.parametrize("device", [xbar.Linear(), xbar.Sinh(4.0)], ids=["linear", "sinh"])
def test_grid_and_general_kernels_agree(device):
    G = RNG.uniform(1e-6, 1e-4, (17, 13))
    V = RNG.uniform(0, 0.5, (4, 17))
    kw = dict(r_row=RNG.uniform(0.5, 2, (17, 13)), r_col=1.5, r_driver=2.0, device=device)
    fast = xbar.Crossbar(G, **kw).solve(V, return_nodes=True)  # per-input serial CG
    one = xbar.Crossbar(G, **kw).solve(V[1], return_nodes=True)
    inter = xbar.Crossbar(G, kernel="lines", **kw).solve(V, return_nodes=True)  # line-parallel
    slow = xbar.Crossbar(G, kernel="chains", **kw).solve(V, return_nodes=True)  # general chains
    for sol in (fast, inter):
        np.testing.assert_allclose(sol.output, slow.output, rtol=1e-9)
        np.testing.assert_allclose(sol.col_voltages, slow.col_voltages, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(one.output[0], slow.output[1], rtol=1e-9)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1)])
@pytest.mark.parametrize("r", [0.0, 1.0])
def test_degenerate_shapes(shape, r):
    G = RNG.uniform(1e-5, 1e-3, shape)
    V = RNG.uniform(0, 0.5, (2, shape[0]))
    for dev in (xbar.Linear(), xbar.Sinh(3.0)):
        xb = xbar.Crossbar(G, r, r, r_driver=0.5 if r == 0 else 0.0, device=dev)
        out = xb.solve(V).output
        ref = ReferenceNetwork(xb).solve(V)[0]
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-8 * np.abs(ref).max())
        if dev.linear:
            np.testing.assert_allclose(V @ xb.transfer_matrix(), out, rtol=1e-10)


def test_setup_is_cached_plain_data_and_rebuilt_after_a_change():
    xb = xbar.Crossbar(G0, RR_Z, RC, r_driver=1.0)
    st = xb.setup()
    assert isinstance(st, xbar.crossbar.CrossbarSystem)
    assert xb.setup() is st
    assert st.rows.nS < M * N and st.cols.uncollapsed  # zero segments collapse row nodes
    np.testing.assert_allclose(st.g, G0.ravel())
    xb.r_row = 1.0
    assert xb.setup() is not st and xb.setup().rows.uncollapsed


def _cg_iterations(A, b, **kw):
    from scipy.sparse.linalg import cg

    count = [0]

    def step(_):
        count[0] += 1

    x, info = cg(A, b, rtol=1e-10, maxiter=5000, callback=step, **kw)
    assert info == 0
    return x, count[0]


@pytest.mark.parametrize("zeros", [0.0, 0.3], ids=["grid", "collapsed"])
def test_aspreconditioner_cuts_cg_iterations(zeros):
    rng = np.random.default_rng(3)
    G = rng.uniform(1e-4, 1e-2, (24, 20))
    rr = np.where(rng.random((24, 20)) < zeros, 0.0, 1.0)
    xb = xbar.Crossbar(G, rr, 1.0, r_driver=1.0)
    st = xb.setup()
    A = system.nodal_matrix(st)
    b = np.concatenate(
        system.rhs(st, system.source_voltages(st, np.full((1, 24), 0.2)), st.g[None, :]), axis=1
    )[0]
    x0, plain = _cg_iterations(A, b)
    x1, pre = _cg_iterations(A, b, M=xb.aspreconditioner())
    assert pre < plain / 3, (pre, plain)
    exact = xb.solve(np.full(24, 0.2), tol=1e-12).state
    x_ref = np.concatenate([exact["xr"][0], exact["xc"][0]])
    np.testing.assert_allclose(x1, x_ref, rtol=0, atol=1e-8 * np.abs(x_ref).max())
    # the operator is the exact inverse of the line blocks: exact on a system without cells
    P = xbar.Crossbar(np.zeros((24, 20)), rr, 1.0, r_driver=1.0).aspreconditioner()
    A0 = system.nodal_matrix(xbar.Crossbar(np.zeros((24, 20)), rr, 1.0, r_driver=1.0).setup())
    v = rng.standard_normal((A0.shape[0], 3))
    np.testing.assert_allclose(A0 @ P.matmat(v), v, rtol=0, atol=1e-9)
    np.testing.assert_allclose(P.matvec(v[:, 0]), P.matmat(v)[:, 0])


def test_kernel_is_a_validated_parameter():
    with pytest.raises(ConfigError, match="kernel='fast'"):
        xbar.Crossbar(G0, 1.0, 1.0, kernel="fast")
    with pytest.raises(ConfigError, match="needs every node"):
        xbar.Crossbar(G0, RR_Z, 1.0, kernel="inputs").solve(V0)
