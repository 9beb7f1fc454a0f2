"""The "lanes" batch kernel (groups of inputs in lockstep, inputs innermost) against the
exact paths: the single-input kernel, the general chains kernel and the sparse reference."""

from __future__ import annotations

import numpy as np
import pytest

import xbar
from xbar.crossbar import kernels, solver
from xbar.crossbar import system as xsys
from xbar.crossbar.reference import ReferenceNetwork

RNG = np.random.default_rng(13)
L = kernels.LANES


def _pair(G, V, **kw):
    """Outputs and node voltages of the lanes kernel and of one input at a time."""
    lanes = xbar.Crossbar(G, kernel="lanes", **kw).solve(V, return_nodes=True)
    one = xbar.Crossbar(G, kernel="inputs", **kw)
    ones = [one.solve(v, return_nodes=True) for v in V]
    return lanes, ones


def _agree(lanes, ones, rtol=1e-10):
    for k, s in enumerate(ones):
        scale = np.abs(s.output).max() + 1e-300
        np.testing.assert_allclose(lanes.output[k], s.output[0], rtol=0, atol=rtol * scale)
        vs = np.abs(s.row_voltages).max() + 1e-300
        np.testing.assert_allclose(lanes.row_voltages[k], s.row_voltages[0], atol=rtol * vs)
        np.testing.assert_allclose(lanes.col_voltages[k], s.col_voltages[0], atol=rtol * vs)
    assert np.all(lanes.residual <= 1e-10)


@pytest.mark.parametrize("K", [1, 2, L - 1, L, L + 1, 2 * L + 3])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (13, 5), (6, 17)])
def test_lanes_equal_single_solves(K, shape):
    # partial groups (K not a multiple of LANES), single rows, single columns, 1x1
    M, N = shape
    G = RNG.uniform(1e-6, 1e-4, (M, N))
    V = RNG.uniform(-0.3, 0.3, (K, M))
    lanes, ones = _pair(G, V, r_row=1.0, r_col=2.0, r_driver=3.0, r_sense=0.5)
    _agree(lanes, ones)


@pytest.mark.parametrize(
    "lo, hi, r_wire",
    [(1e-9, 1e-2, 1.0), (1e-3, 1e-1, 1.0), (1e-12, 1e-10, 1.0), (1e-6, 1e-4, 1e-3)],
    ids=["seven-decades", "large-g", "tiny-g", "near-ideal-wires"],
)
def test_lanes_extreme_conductances(lo, hi, r_wire):
    G = 10 ** RNG.uniform(np.log10(lo), np.log10(hi), (20, 12))
    G[:, 3] = 0.0  # an all-padding (open) column
    G[5] = 0.0  # and an open row
    V = RNG.uniform(0, 0.3, (6, 20))
    V[2] = 0.0  # a zero input converges at once beside the others
    lanes, ones = _pair(G, V, r_row=r_wire, r_col=r_wire, r_driver=1.0, r_sense=1.0)
    _agree(lanes, ones, rtol=1e-9)
    assert lanes.iterations[2] == 0 and np.all(lanes.output[2] == 0)


def test_lanes_against_sparse_reference_and_per_cell_wires():
    G = RNG.uniform(1e-6, 1e-4, (17, 11))
    kw = dict(r_row=RNG.uniform(0.5, 2, (17, 11)), r_col=RNG.uniform(0.5, 2, (17, 11)))
    V = RNG.uniform(0, 0.5, (7, 17))
    sol = xbar.Crossbar(G, kernel="lanes", r_driver=2.0, **kw).solve(V)
    ref = ReferenceNetwork(xbar.Crossbar(G, r_driver=2.0, **kw)).solve(V)[0]
    np.testing.assert_allclose(sol.output, ref, rtol=0, atol=1e-9 * np.abs(ref).max())


@pytest.mark.parametrize("K", [2, 5])
def test_lanes_sinh_own_jacobians(K):
    # Newton gives every input its own conductances: per-lane coefficients, own pivots
    G = RNG.uniform(1e-6, 1e-4, (15, 10))
    V = RNG.uniform(0, 0.6, (K, 15))
    kw = dict(r_row=1.0, r_col=1.0, r_driver=1.0, device=xbar.Sinh(4.0))
    lanes, ones = _pair(G, V, **kw)
    for k, s in enumerate(ones):
        np.testing.assert_allclose(lanes.output[k], s.output[0], rtol=1e-9)
    chains = xbar.Crossbar(G, kernel="chains", **kw).solve(V)
    np.testing.assert_allclose(lanes.output, chains.output, rtol=1e-9)


@pytest.mark.parametrize("device", [xbar.Linear(), xbar.Sinh(3.0)], ids=["linear", "sinh"])
def test_zero_driver_and_sense_resistance(device):
    G = RNG.uniform(1e-6, 1e-4, (8, 6))
    xb = xbar.Crossbar(G, 1.0, 1.0, r_driver=0.0, r_sense=0.0, device=device)
    V = RNG.uniform(0, 0.3, (6, 8))
    lanes, ones = _pair(G, V, r_row=1.0, r_col=1.0, r_driver=0.0, r_sense=0.0, device=device)
    for k, s in enumerate(ones):
        np.testing.assert_allclose(lanes.output[k], s.output[0], rtol=1e-9)
    ref = ReferenceNetwork(xb).solve(V)[0]
    np.testing.assert_allclose(lanes.output, ref, rtol=0, atol=1e-8 * np.abs(ref).max())


def test_collapsed_lines_fall_back_to_the_general_kernel():
    # zero-resistance row wires collapse nodes: the grid kernels do not apply
    G = RNG.uniform(1e-6, 1e-4, (8, 6))
    xb = xbar.Crossbar(G, 0.0, 1.0, r_driver=1.0)
    assert solver.choose_kernel(xb.setup(), 8) == "chains"
    with pytest.raises(xbar.errors.ConfigError):
        solver.choose_kernel(xb.setup(), 8, "lanes")
    V = RNG.uniform(0, 0.3, (8, 8))
    ref = ReferenceNetwork(xb).solve(V)[0]
    np.testing.assert_allclose(xb.solve(V).output, ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_lanes_kernel_slots_cover_every_group_and_reuse_their_workspace():
    # T workspaces for more groups than slots: groups slot, slot + T, ... share one
    M, N, K = 7, 9, 3 * L + 2
    G = RNG.uniform(1e-6, 1e-4, (M, N))
    xb = xbar.Crossbar(G, 1.0, 1.0, r_driver=1.0)
    st = xb.setup()
    V = RNG.uniform(0, 0.3, (K, M))
    g = st.g[None, :]
    rr, rc = xsys.rhs(st, xsys.source_voltages(st, V), g)
    ref, _ = solver.solve_nodes(st, g, rr, rc, None, 1e-12, 1000, "inputs")
    dr, dc = xsys.line_diagonals(st, g)
    c2r = solver._col_to_row_major
    grid = kernels.Grid(M, N, st.rows.off, dr, c2r(st.cols.off[None], M, N)[0], c2r(dc, M, N), g)
    for T, dtype in ((1, np.float64), (2, np.float64), (3, np.float64), (2, np.float32)):
        work = np.full((T, kernels.LANE_SLOTS, M * N, L), np.nan)  # stale contents must not matter
        vecs = np.full((T, kernels.LANE_VECTORS, M * N, L), np.nan, dtype)
        x = np.zeros((K, M * N))
        v = kernels.Unknowns(
            rr, c2r(rc, M, N), x, np.empty_like(x), np.zeros(K, np.int64), np.zeros(K)
        )
        kernels.lanes_pcg(grid, v, 1e-12, 1000, work, vecs, np.empty((0, M * N)))
        # float32 CG vectors: restarts from the float64 residual still reach 1e-12
        np.testing.assert_allclose(x, ref.xr, rtol=1e-10, atol=1e-14)
        assert np.all(v.iters > 0) and np.all(v.resid <= 1e-12)


def test_repeated_and_reshaped_batches_reuse_the_cache_safely():
    a = xbar.Crossbar(RNG.uniform(1e-6, 1e-4, (12, 8)), 1.0, 1.0, r_driver=1.0)
    b = xbar.Crossbar(RNG.uniform(1e-6, 1e-4, (5, 30)), 1.0, 1.0, r_driver=1.0)
    Va, Vb = RNG.uniform(0, 0.3, (6, 12)), RNG.uniform(0, 0.3, (9, 5))
    first = a.solve(Va).output
    b.solve(Vb)  # another shape in between
    np.testing.assert_array_equal(a.solve(Va).output, first)  # no state carried over
    for k in range(6):
        np.testing.assert_allclose(first[k], a.solve(Va[k]).output[0], rtol=1e-10)
