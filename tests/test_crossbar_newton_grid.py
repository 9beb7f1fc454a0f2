"""Newton on the grid (kernels for the work around the linear solves, inputs that stop
once converged) against the numpy Newton, single-input solves and the sparse reference."""

from __future__ import annotations

import numpy as np
import pytest

import xbar
from xbar.crossbar import kernels, solver
from xbar.crossbar import system as xsys
from xbar.crossbar.reference import reference_solve
from xbar.errors import ConvergenceError

RNG = np.random.default_rng(29)
L = kernels.LANES
TOL = 1e-12  # tight, so that two converged solutions agree to about 1e-10


def _agree(a, b, rtol=1e-10):
    scale = np.abs(b).max() + 1e-300
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * scale)


def _singles(xb, V, tol=TOL, **kw):
    return np.stack([xb.solve(v, tol=tol, **kw).output[0] for v in V])


CASES = {
    "sinh": dict(r_row=1.0, r_col=1.0, device=xbar.Sinh(3.0)),
    "sinh_percell_k_access": dict(
        r_row=2.0,
        r_col=0.5,
        r_driver=3.0,
        r_sense=1.0,
        device=xbar.Sinh(RNG.uniform(2, 6, (9, 7))),
        r_access=RNG.uniform(1e2, 1e3, (9, 7)),
    ),
    "selector": dict(
        r_row=1.0, r_col=1.0, selector=xbar.Exponential(0.05), g_selector=1e-3, r_sense=2.0
    ),
    "near_ideal_wires": dict(r_row=1e-3, r_col=1e-3, r_driver=1.0, device=xbar.Sinh(4.0)),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("K", [1, 2, L - 1, L + 1, 2 * L + 3])
def test_grid_newton_equals_numpy_newton_and_single_solves(case, K):
    G = RNG.uniform(1e-6, 1e-4, (9, 7))
    G[2, 3] = 0.0  # an open cell
    V = RNG.uniform(-0.4, 0.4, (K, 9))
    xb = xbar.Crossbar(G, **CASES[case])
    st = xb.setup()
    assert st.uncollapsed
    grid = solver.newton(st, V, tol=TOL, maxiter=2000)
    ref = solver.newton_numpy(st, V, tol=TOL, maxiter=2000)
    # each input stops at its own convergence, as when solved alone; the numpy batch
    # steps every input until the last has converged (more accurate than asked for the
    # early ones: the steep selector shows it, SPICE's reltol stopping rule allows it)
    _agree(grid.output, _singles(xb, V), rtol=1e-9)
    _agree(grid.output, ref.output, rtol=1e-6)
    _agree(grid.input_currents, ref.input_currents, rtol=1e-6)
    floor = grid.residual_floor if grid.residual_floor is not None else 0.0
    assert np.all(grid.residual <= np.maximum(TOL, floor))
    assert grid.state["ve"].shape == ref.state["ve"].shape
    np.testing.assert_allclose(grid.state["xc"], ref.state["xc"], atol=1e-7)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (7, 1), (13, 5), (5, 17)])
def test_grid_newton_odd_shapes_against_sparse_reference(shape):
    M, N = shape
    G = RNG.uniform(1e-6, 1e-4, (M, N))
    V = RNG.uniform(0, 0.5, (L + 2, M))
    xb = xbar.Crossbar(G, 1.0, 1.0, r_driver=2.0, r_sense=1.0, device=xbar.Sinh(4.0))
    sol = xb.solve(V, tol=TOL)
    _agree(sol.output, reference_solve(xb, V), rtol=1e-8)
    _agree(sol.output, _singles(xb, V))


def test_late_lane_and_strong_nonlinearity():
    # one input far into the exponential (device limiting) beside easy ones: it takes
    # more Newton steps, the others stop early with the same answers as alone
    G = RNG.uniform(1e-6, 1e-4, (12, 10))
    V = RNG.uniform(0, 0.05, (7, 12))
    V[3] = 1.6  # k v up to ~13
    xb = xbar.Crossbar(G, 1.0, 1.0, device=xbar.Sinh(8.0))
    sol = xb.solve(V, tol=TOL)
    alone = [xb.solve(v, tol=TOL) for v in V]
    _agree(sol.output, np.stack([a.output[0] for a in alone]))
    assert sol.iterations[3] > np.delete(sol.iterations, 3).max()
    np.testing.assert_array_equal(sol.iterations, [int(a.iterations[0]) for a in alone])


def test_failing_lane_is_named():
    G = RNG.uniform(1e-6, 1e-4, (8, 6))
    V = RNG.uniform(0, 0.05, (6, 8))
    V[4] = 2.0  # needs many limited steps
    xb = xbar.Crossbar(G, 1.0, 1.0, device=xbar.Sinh(8.0), options=xbar.Options(itl1=3))
    with pytest.raises(ConvergenceError, match=r"Newton did not converge in 3 .*input 4"):
        xb.solve(V)
    xb.solve(V[:4])  # the others alone converge within the limit


def test_overflow_names_the_input():
    G = RNG.uniform(1e-6, 1e-4, (8, 6))
    V = RNG.uniform(0, 0.1, (6, 8))
    V[5] = 400.0  # k v ~ 1e3: sinh overflows
    xb = xbar.Crossbar(G, 1.0, 1.0, device=xbar.Sinh(3.0))
    with pytest.raises(ConvergenceError, match=r"\(input 5\).*overflowed"):
        xb.solve(V)


def test_chunks_and_kernels_agree():
    G = RNG.uniform(1e-6, 1e-4, (10, 9))
    V = RNG.uniform(0, 0.4, (11, 10))
    xb = xbar.Crossbar(G, 1.0, 1.0, device=xbar.Sinh(3.0))
    st = xb.setup()
    whole = solver.solve(st, V, tol=TOL)
    chunked = solver.solve(st, V, tol=TOL, batch_bytes=1.0)  # one input per chunk
    _agree(whole.output, chunked.output)
    for kernel in ("lanes", "inputs", "lines", "chains"):
        _agree(solver.solve(st, V, tol=TOL, kernel=kernel).output, whole.output)


def test_warm_start_from_a_batch():
    G = RNG.uniform(1e-6, 1e-4, (10, 9))
    V = RNG.uniform(0, 0.4, (6, 10))
    xb = xbar.Crossbar(G, 1.0, 1.0, device=xbar.Sinh(3.0))
    first = xb.solve(V, tol=TOL)
    again = xb.solve(V * 1.01, tol=TOL, warm_start=first)
    _agree(again.output, _singles(xb, V * 1.01))


def _step_inputs(K=3, M=6, N=5):
    G = RNG.uniform(1e-6, 1e-4, (M, N))
    G[1, 2] = 0.0
    xb = xbar.Crossbar(
        G, 1.0, 2.0, r_driver=1.0, device=xbar.Sinh(4.0), r_access=RNG.uniform(0, 1e3, (M, N))
    )
    st = xb.setup()
    V = RNG.uniform(0, 0.5, (K, M))
    Vs = xsys.source_voltages(st, V)
    xr = RNG.uniform(0, 0.5, (K, M * N))
    xc = RNG.uniform(0, 0.1, (K, M * N))  # column-major, like the solver's
    ve = RNG.uniform(-0.3, 0.5, (1, K, M, N))
    return st, Vs, xr, xc, ve


def test_newton_system_kernel_equals_numpy_twin():
    st, Vs, xr, xc, ve = _step_inputs()
    K, M, N = ve.shape[1], st.M, st.N
    n = M * N
    c2r = solver._col_to_row_major
    comp = solver._companion(st, ve)  # the numpy twin
    g = comp.geff.reshape(K, -1)
    rr, rc = xsys.rhs(st, Vs, g, comp.ieq.reshape(K, -1))
    res = solver.residual(st, g, rr, rc, xr, xc)
    floor = solver.residual_floor(st, g, rr, rc, xr, xc)

    base_r, base_c = xsys.rhs(st, Vs, st.g[None])
    i0, ge = solver._element_laws(st, ve.reshape(1, K, n))
    kc = kernels.Companion(
        ve.reshape(1, K, n), i0, ge, st.r_access.reshape(n), st.open_cell.reshape(n)
    )
    wires = kernels.Grid(
        M,
        N,
        st.rows.off,
        st.rows.dfix[None],
        c2r(st.cols.off[None], M, N)[0],
        c2r(st.cols.dfix[None], M, N),
        np.zeros((1, n)),
    )
    out = wires._replace(dr=np.empty((K, n)), dc=np.empty((K, n)), g=np.empty((K, n)))
    v = kernels.Unknowns(
        np.empty((K, n)), np.empty((K, n)), xr, c2r(xc, M, N), np.zeros(K, np.int64), np.empty(K)
    )
    ieq, fl = np.empty((K, n)), np.empty(K)
    ok = kernels.newton_system(wires, kc, base_r, c2r(base_c, M, N), out, v, ieq, fl)
    assert np.all(ok)
    np.testing.assert_allclose(out.g, g, rtol=1e-14)
    ieq_np = comp.ieq.reshape(K, -1)  # a difference of near-equal terms: absolute tolerance
    np.testing.assert_allclose(ieq, ieq_np, rtol=0, atol=1e-12 * np.abs(ieq_np).max())
    np.testing.assert_allclose(v.rhs_a, rr, rtol=1e-12, atol=1e-20)
    np.testing.assert_allclose(v.rhs_b, c2r(rc, M, N), rtol=1e-12, atol=1e-20)
    dr, dc = xsys.line_diagonals(st, g)
    np.testing.assert_allclose(out.dr, dr, rtol=1e-14)
    np.testing.assert_allclose(out.dc, c2r(dc, M, N), rtol=1e-14)
    np.testing.assert_allclose(v.resid, res, rtol=1e-10)
    np.testing.assert_allclose(fl, floor, rtol=1e-10)

    # the element update and SPICE's test against numpy
    xa2, xc2 = xr * 1.01, xc * 0.99
    vt = xsys.cell_voltages(st, Vs, xa2, xc2)
    want, _ = solver._element_voltages(st, ve, comp, vt)
    sol = v._replace(x_a=xa2, x_b=c2r(xc2, M, N))
    cand = np.empty((1, K, n))
    kernels.newton_elements(sol, out.g, ieq, kc, cand)
    got, _ = solver._limit(st, cand, ve.reshape(1, K, n))
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-12, atol=1e-18)
    for a, b in ((xa2, xr), (xr + 1e-9, xr), (xr + 1e-3, xr)):
        ok = np.ones(K, dtype=np.bool_)
        kernels.spice_close(a, b, 1e-3, 1e-6, ok)
        assert list(ok) == [solver._spice_close(a[k], b[k], 1e-3, 1e-6) for k in range(K)]


def test_overflowing_companion_is_flagged():
    st, Vs, xr, xc, ve = _step_inputs(K=2)
    K, M, N = 2, st.M, st.N
    n = M * N
    ve[0, 1, 3, 2] = 400.0  # sinh(4 * 400) overflows
    with np.errstate(over="ignore", invalid="ignore"):
        i0, ge = solver._element_laws(st, ve.reshape(1, K, n))
    kc = kernels.Companion(
        ve.reshape(1, K, n), i0, ge, st.r_access.reshape(n), st.open_cell.reshape(n)
    )
    z = np.zeros((1, n))
    wires = kernels.Grid(M, N, st.rows.off, z + 1.0, st.rows.off, z + 1.0, z)
    out = wires._replace(dr=np.empty((K, n)), dc=np.empty((K, n)), g=np.empty((K, n)))
    v = kernels.Unknowns(
        np.empty((K, n)), np.empty((K, n)), xr, xr, np.zeros(K, np.int64), np.empty(K)
    )
    ok = kernels.newton_system(wires, kc, xr, xr, out, v, np.empty((K, n)), np.empty(K))
    assert list(ok) == [True, False]
