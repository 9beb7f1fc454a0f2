"""The numpy twin of the grid CG kernel, and when ``kernel="auto"`` takes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xbar
from xbar.crossbar import kernels, solver
from xbar.crossbar.grid_numpy import grid_pcg_numpy
from xbar.crossbar.system import line_diagonals, rhs, source_voltages

ROOT = Path(__file__).resolve().parents[1]


def _run_fresh(code: str) -> None:
    """Run ``code`` in a fresh Python process (no kernels loaded yet); it must succeed."""
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]


def _grid_problem(M, N, K, r_wire, per_input, seed=0):
    """A random linear array's grid arrays (row-major) as the kernels take them."""
    rng = np.random.default_rng(seed)
    xb = xbar.Crossbar(rng.uniform(1e-6, 1e-4, (M, N)), r_wire, 2 * r_wire, r_driver=5.0)
    system = xb.setup()
    V = rng.uniform(0.0, 0.3, (K, M))
    g = system.g[None, :]
    if per_input:  # one set of conductances per input (as Newton's steps have)
        g = g * rng.uniform(0.5, 2.0, (K, M * N))
    rhs_r, rhs_c = rhs(system, source_voltages(system, V), g)
    dr, dc = line_diagonals(system, g)
    rm = lambda a: solver._col_to_row_major(a, M, N)  # noqa: E731
    grid = kernels.Grid(
        M,
        N,
        system.rows.off,
        np.ascontiguousarray(dr),
        rm(system.cols.off[None, :])[0],
        rm(dc),
        np.ascontiguousarray(g),
    )
    return grid, np.ascontiguousarray(rhs_r), rm(rhs_c)


@pytest.mark.parametrize(
    "M, N, K, r_wire, per_input",
    [(12, 9, 1, 1.0, False), (7, 20, 3, 0.01, False), (16, 5, 4, 3.0, True), (1, 6, 2, 1.0, False)],
)
def test_twin_matches_the_inputs_kernel(M, N, K, r_wire, per_input):
    grid, rhs_r, rhs_c = _grid_problem(M, N, K, r_wire, per_input)
    rng = np.random.default_rng(1)
    x0 = rng.uniform(0.0, 0.1, (K, M * N)) * (np.arange(K) % 2)[:, None]  # warm and cold
    tol = np.array([1e-10, 1e-6, 1e-11, 1e-9][:K])
    v = kernels.Unknowns(
        rhs_r, rhs_c, x0.copy(), np.empty((K, M * N)), np.zeros(K, np.int64), np.zeros(K)
    )
    kernels.input_pcg_serial(grid, v, tol, 500)
    xr, xc, it, res = grid_pcg_numpy(
        M, N, grid.offr, grid.dr, grid.offc, grid.dc, grid.g, rhs_r, rhs_c, x0, tol, 500
    )
    np.testing.assert_array_equal(it, v.iters)
    # residuals far below tol are round-off (1e-13): compared to within tol / 10
    assert np.all(np.abs(res - v.resid) <= 1e-3 * v.resid + 0.1 * tol), (res, v.resid)
    np.testing.assert_allclose(xr, v.x_a, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(xc, v.x_b, rtol=1e-9, atol=1e-13)
    assert np.all(res <= tol)


def test_twin_stops_at_maxiter_like_the_kernel():
    M, N, K = 30, 30, 1
    grid, rhs_r, rhs_c = _grid_problem(M, N, K, 0.01, False)
    x0 = np.zeros((K, M * N))
    v = kernels.Unknowns(
        rhs_r, rhs_c, x0.copy(), np.empty_like(x0), np.zeros(K, np.int64), np.zeros(K)
    )
    kernels.input_pcg_serial(grid, v, 1e-14, 1)
    _, _, it, res = grid_pcg_numpy(
        M, N, grid.offr, grid.dr, grid.offc, grid.dc, grid.g, rhs_r, rhs_c, x0, 1e-14, 1
    )
    assert it[0] == v.iters[0] == 1
    np.testing.assert_allclose(res, v.resid, rtol=1e-6)


@pytest.mark.parametrize("device", [xbar.Linear(), xbar.Sinh(k=3.0)])
def test_numpy_kernel_solves_like_the_compiled_ones(device):
    rng = np.random.default_rng(3)
    G = rng.uniform(1e-6, 1e-4, (20, 14))
    V = rng.uniform(0.0, 0.4, (5, 20))
    common = dict(r_row=2.0, r_col=1.5, device=device)
    a = xbar.Crossbar(G, kernel="numpy", **common).solve(V)
    b = xbar.Crossbar(G, kernel="inputs", **common).solve(V)
    np.testing.assert_allclose(a.output, b.output, rtol=1e-8)
    np.testing.assert_allclose(a.input_currents, b.input_currents, rtol=1e-8)
    if isinstance(device, xbar.Linear):
        np.testing.assert_array_equal(a.iterations, b.iterations)
    assert np.all(a.residual <= 1e-10)


def test_numpy_kernel_is_refused_for_collapsed_nodes():
    xb = xbar.Crossbar(np.full((3, 4), 1e-4), 0.0, 1.0, kernel="numpy")
    with pytest.raises(xbar.ConfigError, match="kernel='numpy'"):
        xb.solve(np.ones(3))


def test_lanes_constant_matches_the_kernels():
    assert solver.LANES == kernels.LANES


def test_auto_uses_numpy_until_numba_pays():
    # fresh process: the first small solves run without importing numba; once their
    # time passes the budget (set to 0 here after the first), auto loads the kernels
    code = (
        "import sys, numpy as np, xbar\n"
        "from xbar.crossbar import solver\n"
        "xb = xbar.Crossbar(np.full((16, 16), 1e-4), 1.0, 1.0)\n"
        "a = xb.solve(np.full(16, 0.2))\n"
        "assert 'xbar.crossbar.kernels' not in sys.modules and solver._numpy_seconds[0] > 0\n"
        "big = xbar.Crossbar(np.full((300, 300), 1e-4), 1.0, 1.0)\n"
        "solver.NUMPY_BUDGET_S = 0.0\n"
        "b = xb.solve(np.full(16, 0.2))\n"
        "assert 'xbar.crossbar.kernels' in sys.modules\n"
        "assert np.allclose(a.output, b.output, rtol=1e-9)\n"
        "assert a.iterations[0] == b.iterations[0]\n"
    )
    _run_fresh(code)


def test_crossbar_command_runs_without_numba_or_scipy_sparse():
    code = (
        "import sys, contextlib, io\n"
        "from xbar.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    assert main(['crossbar', '--rows', '32', '--cols', '24']) == 0\n"
        "assert 'iterations' in out.getvalue()\n"
        "bad = [m for m in ('numba', 'scipy.sparse', 'matplotlib') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"  # numba imported, capped
        "    assert main(['crossbar', '--rows', '32', '--cols', '24', '--threads', '1']) == 0\n"
        "assert 'xbar.crossbar.kernels' not in sys.modules\n"
    )
    _run_fresh(code)


def test_auto_hands_a_hard_solve_to_the_kernels():
    """A solve the twin does not finish under "auto" (here cells of 1e30 S on 1-ohm
    wires, beyond double precision) is redone by the compiled kernels, so a fresh
    process names the round-off floor as the kernels do; the twin alone stopped with
    'CG did not converge ... raise maxiter' (a misleading hint) after 20000 iterations."""
    code = (
        "import sys, numpy as np, xbar\n"
        "from xbar.errors import ValueRangeError\n"
        "try:\n"
        "    xbar.Crossbar(np.full((4, 4), 1e30), 1.0, 1.0).solve(np.array([0.1, 0.2, 0.3, 0.4]))\n"
        "except ValueRangeError as exc:\n"
        "    assert 'round-off floor' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('no error')\n"
        "assert 'xbar.crossbar.kernels' in sys.modules\n"
    )
    _run_fresh(code)
    with pytest.raises(xbar.errors.ConvergenceError, match="did not converge"):
        xbar.Crossbar(np.full((4, 4), 1e30), 1.0, 1.0, kernel="numpy").solve(
            np.array([0.1, 0.2, 0.3, 0.4])
        )
