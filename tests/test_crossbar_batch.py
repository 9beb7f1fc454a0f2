"""Batches of crossbar solves: device laws in place (the Newton entry point) against the
models' ``current``/``derivative``, the quick exact test of device limiting against the
elementwise one, Newton's reused step buffers, and batches against single solves and the
sparse reference."""

from __future__ import annotations

import numpy as np
import pytest

import xbar
from xbar.crossbar import devices, solver
from xbar.crossbar.reference import reference_solve

RNG = np.random.default_rng(113)

MODELS = {
    "sinh": xbar.Sinh(3.0),
    "sinh_percell": xbar.Sinh(RNG.uniform(1.0, 6.0, (5, 4))),
    "sinh_row_k": xbar.Sinh(RNG.uniform(1.0, 6.0, (5, 1))),
    "exponential": xbar.Exponential(0.05),
    "exponential_percell": xbar.Exponential(RNG.uniform(0.02, 0.1, (5, 4))),
    "linear": xbar.Linear(),
    "powerlaw": xbar.PowerLaw(3.0, 0.4),
    "tabulated": xbar.Tabulated(np.linspace(-1, 1, 9), np.sinh(2 * np.linspace(-1, 1, 9))),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_laws_equal_current_and_derivative(name):
    model = MODELS[name]
    v = RNG.uniform(-0.6, 0.6, (3, 5, 4))
    v[0, 0, 0] = 0.0
    G = RNG.uniform(1e-6, 1e-4, (5, 4))
    i_out, g_out = np.full(v.shape, np.nan), np.full(v.shape, np.nan)
    model.laws(v, G, i_out, g_out)
    # the same operations in the same order: bit for bit, not just close
    np.testing.assert_array_equal(i_out, model.current(v, G))
    np.testing.assert_array_equal(g_out, model.derivative(v, G))


def _sinh_limit_reference(model, v_new, v_old):
    """Sinh.limit as it was before its quick test (elementwise only)."""
    far = np.abs(model.k * v_new) > 3.0
    if not np.any(far):
        return v_new, False
    lim, hit = devices._log_limit(v_new, v_old, 1.0 / model.k)
    return np.where(far, lim, v_new), bool(hit)


def _exp_limit_reference(model, v_new, v_old):
    far = v_new > 10.0 * model.v0
    if not np.any(far):
        return v_new, False
    lim, hit = devices._log_limit(v_new, v_old, model.v0)
    return np.where(far, lim, v_new), bool(hit)


@pytest.mark.parametrize("scale", [0.5, 0.999, 1.0, 1.001, 3.0])
def test_quick_limit_test_is_exact(scale):
    # voltages right at the edge of "far" (|k v| = 3, v = 10 v0): the quick test on the
    # extremes must decide as the elementwise one does, also for per-cell parameters
    for model in (MODELS["sinh"], MODELS["sinh_percell"]):
        kmax = float(np.max(model.k))
        v_new = RNG.uniform(-1, 1, (2, 5, 4)) * (3.0 / kmax)
        v_new.flat[7] = scale * 3.0 / kmax
        v_old = v_new - RNG.uniform(-2, 2, v_new.shape)
        got, hit = model.limit(v_new, v_old)
        ref, ref_hit = _sinh_limit_reference(model, v_new, v_old)
        assert hit == ref_hit
        np.testing.assert_array_equal(got, ref)
    model = MODELS["exponential_percell"]
    v_new = RNG.uniform(-1, 1, (2, 5, 4)) * 10 * np.min(model.v0)
    v_new.flat[3] = scale * 10 * np.min(model.v0)
    v_old = v_new - RNG.uniform(0, 0.5, v_new.shape)
    got, hit = model.limit(v_new, v_old)
    ref, ref_hit = _exp_limit_reference(model, v_new, v_old)
    assert hit == ref_hit
    np.testing.assert_array_equal(got, ref)


def test_quick_limit_test_passes_nan_to_the_exact_test():
    model = MODELS["sinh"]
    v = np.zeros((1, 2, 2))
    v[0, 1, 1] = np.nan
    got, hit = model.limit(v, np.zeros_like(v))
    ref, ref_hit = _sinh_limit_reference(model, v, np.zeros_like(v))
    assert hit == ref_hit
    np.testing.assert_array_equal(got, ref)
    assert devices._within(np.zeros((0,)), 3.0, 3.0) is False


def test_buffers_reuse_their_memory_as_contiguous_prefixes():
    buf = solver._Buffers()
    a = buf.get("x", (2, 4, 6))
    b = buf.get("x", (2, 3, 6))  # fewer inputs: the front of the same memory
    assert b.flags.c_contiguous and np.shares_memory(a, b)
    assert buf.holds("x", b) and not buf.holds("y", b)
    c = buf.get("x", (2, 5, 6))  # more: new memory
    assert c.shape == (2, 5, 6) and not np.shares_memory(a, c)


@pytest.mark.parametrize("device", [xbar.Sinh(3.0), xbar.Linear()])
def test_batch_equals_singles_and_reference(device):
    M, N, K = 24, 20, 11  # three lane groups, the last one short
    G = RNG.uniform(1e-6, 1e-4, (M, N))
    V = RNG.uniform(0, 0.3, (K, M))
    xb = xbar.Crossbar(G, 1.0, 1.0, device=device)
    batch = xb.solve(V, tol=1e-12)
    singles = np.stack([xb.solve(v, tol=1e-12).output[0] for v in V])
    scale = np.abs(singles).max()
    np.testing.assert_allclose(batch.output, singles, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(batch.output, reference_solve(xb, V), rtol=0, atol=1e-8 * scale)
    assert np.all(batch.residual <= 1e-12)


def test_batch_with_inputs_converging_at_different_steps():
    # inputs leave the batch at different Newton steps: the step buffers shrink to the
    # inputs still stepping and the element voltages alternate between two buffers
    G = RNG.uniform(1e-6, 1e-4, (10, 9))
    V = RNG.uniform(0, 0.05, (9, 10))
    V[2], V[7] = 1.2, 1.5  # far into the exponential: more (limited) steps
    xb = xbar.Crossbar(G, 1.0, 1.0, device=xbar.Sinh(8.0))
    sol = xb.solve(V, tol=1e-12)
    alone = [xb.solve(v, tol=1e-12) for v in V]
    assert len(set(sol.iterations.tolist())) >= 3
    np.testing.assert_array_equal(sol.iterations, [int(a.iterations[0]) for a in alone])
    ref = np.stack([a.output[0] for a in alone])
    np.testing.assert_allclose(sol.output, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    ve = np.concatenate([a.state["ve"] for a in alone], axis=1)
    np.testing.assert_allclose(sol.state["ve"], ve, rtol=0, atol=1e-9)


@pytest.mark.parametrize("device", [xbar.Sinh(3.0), xbar.Linear()])
def test_chunks_on_worker_threads_equal_one_chunk(monkeypatch, device):
    # a batch cut into chunks solved on worker threads (each with one numba thread)
    # gives the answers of the batch solved at once, in the same order
    import numba

    if numba.get_num_threads() < 2:
        pytest.skip("one numba thread: no worker threads")
    G = RNG.uniform(1e-6, 1e-4, (16, 12))
    V = RNG.uniform(0, 0.3, (19, 16))
    xb = xbar.Crossbar(G, 1.0, 1.0, device=device)
    whole = xb.solve(V, tol=1e-12)
    monkeypatch.setattr(solver, "PARALLEL_MIN_WORK", 1)
    monkeypatch.setattr(solver, "POOL_CHUNK", 4)
    st = xb.setup()
    assert solver._workers(st, len(V), not device.linear, "auto") == numba.get_num_threads()
    pooled = xb.solve(V, tol=1e-12)
    np.testing.assert_allclose(
        pooled.output, whole.output, rtol=0, atol=1e-10 * np.abs(whole.output).max()
    )
    np.testing.assert_array_equal(pooled.iterations.shape, whole.iterations.shape)
    assert numba.get_num_threads() >= 2  # the caller's thread count is left as it was


def test_error_in_a_worker_chunk_is_raised(monkeypatch):
    import numba

    if numba.get_num_threads() < 2:
        pytest.skip("one numba thread: no worker threads")
    G = RNG.uniform(1e-6, 1e-4, (8, 6))
    V = RNG.uniform(0, 0.05, (9, 8))
    V[6] = 2.0  # needs many limited steps
    xb = xbar.Crossbar(G, 1.0, 1.0, device=xbar.Sinh(8.0), options=xbar.Options(itl1=3))
    monkeypatch.setattr(solver, "PARALLEL_MIN_WORK", 1)
    monkeypatch.setattr(solver, "POOL_CHUNK", 4)
    # named by its place in the whole batch, not in its chunk (inputs 4-7)
    with pytest.raises(xbar.errors.ConvergenceError, match=r"converge in 3 .*input 6\b"):
        xb.solve(V)
    monkeypatch.setattr(solver, "PARALLEL_MIN_WORK", 1 << 40)  # chunks in turn: the same
    with pytest.raises(xbar.errors.ConvergenceError, match=r"converge in 3 .*input 6\b"):
        solver.solve(xb.setup(), V, options=xb.options, batch_bytes=1)


@pytest.mark.parametrize("device", [xbar.Sinh(3.0), xbar.Linear()])
def test_state_of_a_chunked_batch_is_joined_when_read(device):
    G = RNG.uniform(1e-6, 1e-4, (12, 10))
    V = RNG.uniform(0, 0.3, (9, 12))
    xb = xbar.Crossbar(G, 1.0, 1.0, device=device)
    st = xb.setup()
    chunked = solver.solve(st, V, tol=1e-12, batch_bytes=1)  # one input per chunk
    whole = solver.solve(st, V, tol=1e-12)
    assert set(chunked.state) == set(whole.state) and len(chunked.state) == len(whole.state)
    assert "xr" in chunked.state and "nothing" not in chunked.state
    for key, val in whole.state.items():
        np.testing.assert_allclose(chunked.state[key], val, rtol=0, atol=1e-9)
        assert chunked.state[key] is chunked.state[key]  # joined once
    with pytest.raises(KeyError):
        chunked.state["nothing"]
    # a warm start from the chunked batch starts where it ended: at most one more step
    again = xb.solve(V, tol=1e-12, warm_start=chunked)
    np.testing.assert_allclose(
        again.output, whole.output, rtol=0, atol=1e-10 * np.abs(whole.output).max()
    )


# ----------------------------------------------------------------------------- SIMD lanes
@pytest.fixture(scope="module")
def simd_kernels():
    from numba import njit

    from xbar.crossbar import simd

    @njit(cache=False)
    def copy_lanes(a, out):  # lane() then put(): a[s, :] (or a[s] shared) into out[s, :]
        for s in range(out.shape[0]):
            simd.put(out, s, simd.lane(a, s))

    @njit(cache=False)
    def arithmetic(a, b, c, out):
        for s in range(out.shape[0]):
            x, y, z = simd.lane(a, s), simd.lane(b, s), simd.lane(c, s)
            r = simd.vadd(simd.vfma(x, y, z), simd.vdiv(simd.vsub(x, y), z))
            r = simd.vmul(r, simd.vmake(1.0, 2.0, 3.0, 4.0))
            simd.put(out, s, simd.vadd(r, simd.vsplat(0.5)))

    @njit(cache=False)
    def lanes_sum(a):
        acc = simd.vsplat(0.0)
        for s in range(a.shape[0]):
            acc = simd.vadd(acc, simd.lane(a, s))
        return simd.vget(acc, 0), simd.vget(acc, 1), simd.vget(acc, 2), simd.vget(acc, 3)

    return copy_lanes, arithmetic, lanes_sum


def test_simd_lanes_read_and_write_as_indexing_does(simd_kernels):
    copy_lanes, arithmetic, lanes_sum = simd_kernels
    a = RNG.standard_normal((37, 4))
    for src in (a, a.astype(np.float32), np.asfortranarray(a), a[::-1]):  # C, f32, other layouts
        for dtype in (np.float64, np.float32):
            out = np.full((37, 4), np.nan, dtype)
            copy_lanes(src, out)
            np.testing.assert_array_equal(out, src.astype(dtype))
    shared = RNG.standard_normal(37)  # an (n,) array: its value in every lane
    out = np.empty((37, 4))
    copy_lanes(shared, out)
    np.testing.assert_array_equal(out, np.repeat(shared[:, None], 4, axis=1))
    b, c = RNG.uniform(1, 2, (2, 37, 4))
    out = np.empty((37, 4))
    arithmetic(a, b, c, out)
    ref = (a * b + c + (a - b) / c) * np.array([1.0, 2.0, 3.0, 4.0]) + 0.5
    np.testing.assert_allclose(out, ref, rtol=1e-14)
    np.testing.assert_allclose(lanes_sum(a), a.sum(axis=0), rtol=1e-12)


def test_lane_factor_in_vectors_equals_the_scalar_factor():
    from xbar.crossbar import kernels

    for M, N in ((7, 9), (8, 5), (1, 6)):  # rows in fours and left over
        n = M * N
        offr = RNG.uniform(0.5, 2.0, n)
        offr[N - 1 :: N] = 0.0
        offc = RNG.uniform(0.5, 2.0, n)
        offc[n - N :] = 0.0
        g = RNG.uniform(1e-6, 1e-4, (n, kernels.LANES))
        dr, dc = 4.0 + g, 4.0 + g
        got_r, got_c = np.empty_like(g), np.empty_like(g)
        kernels.lane_factor(M, N, offr, offc, dr, dc, got_r, got_c)
        ref_r, ref_c = np.empty_like(g), np.empty_like(g)
        kernels._row_factor(M, N, offr, dr, ref_r)
        kernels._col_factor(M, N, offc, dc, ref_c)
        np.testing.assert_allclose(got_r, ref_r, rtol=1e-14)
        np.testing.assert_allclose(got_c, ref_c, rtol=1e-14)


@pytest.mark.parametrize("gmax", [1e-4, 1e-2])  # weak and strong IR drop
def test_newton_batch_with_float32_cg_vectors_meets_tol(gmax):
    # Newton's lanes solves keep their CG vectors in float32: the answer must still
    # meet tol as verified in float64, and agree with single solves and the reference
    M, N, K = 33, 29, 6
    G = RNG.uniform(gmax / 100, gmax, (M, N))
    V = RNG.uniform(0, 0.3, (K, M))
    xb = xbar.Crossbar(G, 1.0, 1.0, device=xbar.Sinh(4.0))
    assert solver.choose_kernel(xb.setup(), K) == "lanes"
    for tol in (1e-10, 1e-13):
        batch = xb.solve(V, tol=tol)
        singles = np.stack([xb.solve(v, tol=tol).output[0] for v in V])
        scale = np.abs(singles).max()
        floor = 0.0 if batch.residual_floor is None else batch.residual_floor
        assert np.all(batch.residual <= np.maximum(tol, floor))
        np.testing.assert_allclose(batch.output, singles, rtol=0, atol=100 * tol * scale)
    ref = reference_solve(xb, V)
    np.testing.assert_allclose(batch.output, ref, rtol=0, atol=1e-8 * scale)


def test_pooled_chunks_keep_their_threads_and_order():
    import threading
    import time

    seen = set()

    def part(s):
        seen.add(threading.get_ident())
        time.sleep(0.002 * (s % 3))  # finish out of order
        if s in (5, 7):
            raise xbar.errors.ConvergenceError(f"input {s}")
        return s * s

    assert solver._pooled(lambda s: s + 1, range(6), 2) == [1, 2, 3, 4, 5, 6]
    pool = solver._executor(2)
    # the error of the first failing start, whatever finished first
    with pytest.raises(xbar.errors.ConvergenceError, match="input 5"):
        solver._pooled(part, range(9), 2)
    first = set(seen)
    solver._pooled(part, range(5), 2)
    assert solver._executor(2) is pool and seen == first  # the same threads serve again
    assert len(first) <= 2


def test_lanes_sum_diagonals_where_they_read_them_as_if_stored(simd_kernels):
    from xbar.crossbar import kernels
    from xbar.crossbar import system as xsys

    copy_lanes = simd_kernels[0]
    fix, g = RNG.standard_normal(23), RNG.standard_normal((23, 4))
    out = np.empty((23, 4))
    copy_lanes((fix, g), out)  # a pair (fix, g) reads as fix[s] + g[s, :]
    np.testing.assert_array_equal(out, fix[:, None] + g)
    # Newton's systems: own conductances per input, diagonals = wires + cells; the lanes
    # kernel given the wires' part sums them as it reads them: the same answer, bit for bit
    M, N, K = 9, 7, 6
    xb = xbar.Crossbar(RNG.uniform(1e-6, 1e-4, (M, N)), 1.0, 1.0, r_driver=1.0)
    st = xb.setup()
    c2r = solver._col_to_row_major
    g = RNG.uniform(1e-6, 1e-4, (K, M * N))
    fixed = np.stack([st.rows.dfix, c2r(st.cols.dfix[None], M, N)[0]])
    grid = kernels.Grid(
        M, N, st.rows.off, fixed[0] + g, c2r(st.cols.off[None], M, N)[0], fixed[1] + g, g
    )
    rr, rc = xsys.rhs(st, xsys.source_voltages(st, RNG.uniform(0, 0.3, (K, M))), g)
    answers = []
    for fix in (np.empty((0, M * N)), fixed):
        work = np.full((2, kernels.LANE_SLOTS, M * N, 4), np.nan)
        vecs = np.full((2, kernels.LANE_VECTORS, M * N, 4), np.nan, np.float32)
        x = np.zeros((K, M * N))
        v = kernels.Unknowns(
            rr, c2r(rc, M, N), x, np.empty_like(x), np.zeros(K, np.int64), np.zeros(K)
        )
        kernels.lanes_pcg(grid, v, 1e-11, 1000, work, vecs, fix)
        assert np.all(v.resid <= 1e-11)
        answers.append((x, v.x_b, v.iters))
    for a, b in zip(*answers, strict=True):
        np.testing.assert_array_equal(a, b)
