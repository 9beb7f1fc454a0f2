"""Lockstep batch kernel ("lanes") and the honest residual of crossbar solves."""

from __future__ import annotations

import numpy as np
import pytest

import xbar
from xbar.crossbar import kernels, solver
from xbar.crossbar import system as xsys
from xbar.crossbar.reference import ReferenceNetwork
from xbar.errors import ConvergenceError

RNG = np.random.default_rng(7)


def _rhs(xb, V):
    st = xb.setup()
    Vs = xsys.source_voltages(st, np.atleast_2d(V))
    g = st.g[None, :]
    return st, g, xsys.rhs(st, Vs, g)


@pytest.mark.parametrize("device", [xbar.Linear(), xbar.Sinh(4.0)], ids=["linear", "sinh"])
@pytest.mark.parametrize("K", [1, 2, 5])
def test_lanes_kernel_matches_the_sparse_reference(device, K):
    # odd batch sizes leave a partial group; sinh gives every input its own Jacobian
    G = RNG.uniform(1e-6, 1e-4, (11, 9))
    V = RNG.uniform(0, 0.5, (K, 11))
    kw = dict(r_row=RNG.uniform(0.5, 2, (11, 9)), r_col=1.5, r_driver=2.0, device=device)
    lanes = xbar.Crossbar(G, kernel="lanes", **kw).solve(V, return_nodes=True)
    chains = xbar.Crossbar(G, kernel="chains", **kw).solve(V, return_nodes=True)
    ref = ReferenceNetwork(xbar.Crossbar(G, **kw)).solve(V)[0]
    np.testing.assert_allclose(lanes.output, ref, rtol=0, atol=1e-8 * np.abs(ref).max())
    np.testing.assert_allclose(lanes.output, chains.output, rtol=1e-9)
    np.testing.assert_allclose(lanes.col_voltages, chains.col_voltages, rtol=1e-9, atol=1e-12)
    assert np.all(lanes.residual <= 1e-10)


def test_lanes_inputs_converge_on_their_own():
    # one input is zero (converged at once), one is large: the others are unaffected
    G = RNG.uniform(1e-6, 1e-4, (16, 16))
    V = RNG.uniform(0, 0.3, (3, 16))
    V[1] = 0.0
    V[2] *= 100
    xb = xbar.Crossbar(G, 1.0, 1.0, r_driver=1.0, kernel="lanes")
    sol = xb.solve(V)
    one = [xbar.Crossbar(G, 1.0, 1.0, r_driver=1.0).solve(v) for v in V]
    for k in range(3):
        np.testing.assert_allclose(sol.output[k], one[k].output[0], rtol=1e-9, atol=1e-18)
    assert sol.iterations[1] == 0 and np.all(sol.output[1] == 0)


def test_to_lanes_layout_round_trips():
    M, N, K, L = 3, 4, 6, kernels.LANES
    a = np.arange(K * M * N, dtype=float).reshape(K, M * N)
    lanes = kernels.to_lanes(a, 4, K, False, np.full((M * N, L), np.nan))
    np.testing.assert_array_equal(lanes[:, :2], a[4:].T)  # node s of input 4 + k at [s, k]
    assert np.all(lanes[:, 2:] == 0)  # unused lanes: no right-hand side
    padded = kernels.to_lanes(a, 4, K, True, np.empty((M * N, L)))
    np.testing.assert_array_equal(padded[:, 2:], np.repeat(a[5:].T, L - 2, axis=1))
    back = np.zeros_like(a)
    kernels._from_lanes(lanes, back, 4, K)
    np.testing.assert_array_equal(back[4:], a[4:])
    assert np.all(back[:4] == 0)


@pytest.mark.parametrize("kernel", ["inputs", "lanes", "lines", "chains"])
def test_reported_residual_is_the_recomputed_one(kernel):
    G = RNG.uniform(1e-6, 1e-4, (20, 12))
    V = RNG.uniform(0, 0.3, (3, 20))
    xb = xbar.Crossbar(G, 1.0, 1.5, r_driver=1.0, kernel=kernel)
    sol = xb.solve(V, tol=1e-10)
    st, g, (rr, rc) = _rhs(xb, V)
    twin = solver.residual(st, g, rr, rc, sol.state["xr"], sol.state["xc"])
    floor = solver.residual_floor(st, g, rr, rc, sol.state["xr"], sol.state["xc"])
    # the kernel and numpy evaluate b - A x in different orders: equal up to the floor
    np.testing.assert_allclose(sol.residual, twin, rtol=0, atol=4 * floor.max())
    np.testing.assert_allclose(sol.residual_floor, floor, rtol=1e-6)
    assert np.all(sol.residual <= 1e-10) and not sol.roundoff_limited.any()
    assert np.all(floor < 1e-13)  # a normal array is far from its floor


def _near_ideal(M, seed):
    rng = np.random.default_rng(seed)
    G = 10 ** rng.uniform(-9, -2, (M, M))  # 7 decades of cells beside 1e6 S wires
    return xbar.Crossbar(G, 1e-6, 1e-6, r_driver=1.0, r_sense=1.0), rng.uniform(0, 0.3, M)


@pytest.mark.parametrize("seed", range(4))
def test_near_ideal_wires_report_their_roundoff_floor_not_tol(seed):
    xb, V = _near_ideal(32, seed)
    sol = xb.solve(V, tol=1e-10)
    st, g, (rr, rc) = _rhs(xb, V)
    xr, xc = sol.state["xr"], sol.state["xc"]
    # the residual in extended precision: what double precision cannot show
    L = np.longdouble
    qr, qc = solver._apply(st, g.astype(L), xr.astype(L), xc.astype(L))
    exact = float(
        np.sqrt(((rr - qr) ** 2).sum() + ((rc - qc) ** 2).sum())
        / np.sqrt((rr**2).sum() + (rc**2).sum())
    )
    assert exact > 1e-10  # tol is not reached ...
    assert sol.roundoff_limited[0]  # ... and the solution says so
    assert sol.residual_floor[0] > 1e-10
    assert sol.residual[0] >= sol.residual_floor[0] >= exact  # no claim below the floor
    # the answer is still right to the floor's precision
    ref = ReferenceNetwork(xb).solve(V)[0]
    np.testing.assert_allclose(sol.output, ref, rtol=1e-6)


def test_near_ideal_batch_and_sinh_cells_are_flagged_not_failed():
    xb, V = _near_ideal(24, 11)
    sol = xb.solve(np.stack([V, V / 2]), tol=1e-10)
    assert sol.roundoff_limited.all()
    xs = xbar.Crossbar(xb.G, 1e-6, 1e-6, r_driver=1.0, r_sense=1.0, device=xbar.Sinh(3.0))
    sol = xs.solve(V, tol=1e-10)  # Newton stops at the floor instead of running out of steps
    assert sol.roundoff_limited[0] and sol.residual[0] >= sol.residual_floor[0]


def test_unconverged_solve_raises_naming_input_residual_and_floor():
    G = RNG.uniform(1e-4, 1e-2, (40, 40))
    xb = xbar.Crossbar(G, 1.0, 1.0, maxiter=2)
    V = RNG.uniform(0, 0.3, (2, 40))
    with pytest.raises(ConvergenceError, match=r"input 0: relative residual .* round-off floor"):
        xb.solve(V, tol=1e-10)


def test_refinement_repairs_a_solution_above_tol():
    G = RNG.uniform(1e-6, 1e-4, (16, 16))
    xb = xbar.Crossbar(G, 1.0, 1.0)
    V = RNG.uniform(0, 0.3, (2, 16))
    st, g, (rr, rc) = _rhs(xb, V)
    good, floor = solver.solve_nodes(st, g, rr, rc, None, 1e-12, 1000)
    bad = solver.NodeSolution(
        good.xr * (1 + 1e-6), good.xc, good.iterations, np.full(2, 1.0)
    )  # 1e-6 off: far above tol
    bad = bad._replace(residual=solver.residual(st, g, rr, rc, bad.xr, bad.xc))
    assert np.all(bad.residual > 1e-8)
    fixed, _ = solver.refine(st, g, (rr, rc), bad, floor, 1e-10, 1000)
    assert np.all(fixed.residual <= 1e-10)
    np.testing.assert_allclose(fixed.residual, solver.residual(st, g, rr, rc, fixed.xr, fixed.xc))


def test_grid_residual_kernel_writes_its_results_on_several_threads():
    # a parallel region must write the residuals it computes (regression: they were
    # lost when written through the named tuple's field inside prange)
    import numba

    M, N, K = 6, 11, 5
    xb = xbar.Crossbar(RNG.uniform(1e-6, 1e-4, (M, N)), 1.0, 2.0, r_driver=1.0)
    st, g, (rr, rc) = _rhs(xb, RNG.uniform(0, 0.3, (K, M)))
    dr, dc = xsys.line_diagonals(st, g)
    c2r = solver._col_to_row_major
    grid = kernels.Grid(M, N, st.rows.off, dr, c2r(st.cols.off[None], M, N)[0], c2r(dc, M, N), g)
    xr, xc = RNG.uniform(0, 0.1, (K, M * N)), RNG.uniform(0, 0.1, (K, M * N))
    prev = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        v = kernels.Unknowns(
            rr, c2r(rc, M, N), xr, c2r(xc, M, N), np.zeros(K, np.int64), np.zeros(K)
        )
        floor = np.zeros(K)
        kernels.grid_residual(grid, v, floor)
    finally:
        numba.set_num_threads(prev)
    np.testing.assert_allclose(v.resid, solver.residual(st, g, rr, rc, xr, xc), rtol=1e-12)
    np.testing.assert_allclose(floor, solver.residual_floor(st, g, rr, rc, xr, xc), rtol=1e-12)


@pytest.mark.parametrize("kernel", ["inputs", "lanes"])
def test_parallel_batch_reports_the_recomputed_residual(kernel):
    # 128x128 x 64 inputs: past PARALLEL_MIN_WORK, the residual kernels run in parallel
    M = 128
    assert M * M * 64 >= solver.PARALLEL_MIN_WORK
    xb = xbar.Crossbar(RNG.uniform(1e-6, 1e-4, (M, M)), 1.0, 1.0, kernel=kernel)
    V = RNG.uniform(0, 0.3, (64, M))
    sol = xb.solve(V, tol=1e-9)
    st, g, (rr, rc) = _rhs(xb, V)
    twin = solver.residual(st, g, rr, rc, sol.state["xr"], sol.state["xc"])
    floor = solver.residual_floor(st, g, rr, rc, sol.state["xr"], sol.state["xc"])
    assert np.all(twin > 0)
    np.testing.assert_allclose(sol.residual, twin, rtol=0, atol=4 * floor.max())
    np.testing.assert_allclose(sol.residual_floor, floor, rtol=1e-6)
