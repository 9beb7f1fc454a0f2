"""The numpy tile sweep (xbar.crossbar.sweep): transfer matrices and power forms of
partly used tiles, uniform padding in closed form, against the general exact paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xbar
from xbar.crossbar import sweep, uniform
from xbar.crossbar.sweep import tile_solve

PARTS = ("supplied", "cells", "row_wires", "col_wires", "drivers", "sense")
BACKENDS = ["lapack", "numpy", "scipy"]
RS = [(1.0, 1.0, 0.0, 0.0), (2.5, 1.5, 10.0, 7.0), (50.0, 0.1, 3.0, 0.0), (0.3, 4.0, 0.0, 25.0)]


def _padded(rng, M, N, m, n, lo=1e-6, hi=1e-4, v=1e-6, jitter=0.0):
    G = np.full((M, N), v)
    G[:m, :n] = rng.uniform(lo, hi, (m, n))
    if jitter:
        G *= rng.uniform(1 - jitter, 1 + jitter, G.shape)
    return G


def _check(G, r, used, rtol=1e-10):
    """W against Crossbar.transfer_matrix; forms against Crossbar.power_forms and
    against exact solves of random inputs (the other inputs at 0 V)."""
    M, N = G.shape
    m, n = used
    got = tile_solve(G, *r, used=used)
    assert got is not None
    W, f = got
    xb = xbar.Crossbar(G, r[0], r[1], r_driver=r[2], r_sense=r[3])
    ref_W = xb.transfer_matrix()[:m, :n]
    assert W.shape == (m, n)
    assert np.abs(W - ref_W).max() <= 1e-11 * np.abs(ref_W).max()
    W_only = tile_solve(G, *r, used=used, forms=False)
    if W_only is None:  # declined (scipy mode, no uniform padding): uniform.py's turn
        W_only = uniform.transfer_matrices([G], *r, used=[used])
    assert np.abs(W_only[0] - ref_W).max() <= 1e-11 * np.abs(ref_W).max()
    ref = xb.power_forms(m)
    # the references take each driver's current as g_d (V - R_0), which cancels to about
    # eps g_d when the driver's drop is small; the sweep sums the row's cell currents
    slack = 100 * np.finfo(float).eps / (r[0] + r[2])
    scale = np.abs(ref.Q["supplied"]).max()
    for part in PARTS:
        a, b = f.Q.get(part, np.zeros((m, m))), ref.Q.get(part, np.zeros((m, m)))
        assert np.abs(a - b).max() <= rtol * scale + slack, part
    assert np.abs(f.attenuation - ref.attenuation).max() <= rtol
    V = np.zeros((4, M))
    V[:, :m] = np.random.default_rng(5).uniform(-0.3, 0.3, (4, m))
    exact = xb.solve(V, tol=1e-13).power
    mine = f.power(V[:, :m])
    top = np.abs(exact.supplied).max()
    for part in PARTS:
        err = np.abs(getattr(mine, part) - getattr(exact, part)).max()
        assert err <= rtol * top + slack * (V**2).sum(axis=1).max(), part
    return f


@pytest.mark.parametrize("r", RS)
@pytest.mark.parametrize(
    "shape",
    [
        (1, 1, 1, 1),  # 1x1
        (6, 5, 1, 1),  # one used cell
        (6, 5, 6, 1),  # one used column, no padding rows
        (6, 5, 1, 5),  # one used row, no padding columns
        (14, 12, 14, 12),  # no padding at all
        (14, 12, 3, 12),  # padding rows only
        (14, 12, 14, 4),  # padding columns only
        (24, 20, 5, 7),  # both
        (9, 30, 9, 2),  # wide, mostly padding columns
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_uniform_padding_matches_the_general_paths(shape, r, backend, monkeypatch):
    monkeypatch.setattr(sweep, "_backend", lambda inversions: backend)
    M, N, m, n = shape
    G = _padded(np.random.default_rng(M * N + m + n), M, N, m, n)
    _check(G, r, (m, n))


@pytest.mark.parametrize("r", RS[:2])
@pytest.mark.parametrize("shape", [(14, 12, 3, 4), (16, 16, 16, 5), (10, 18, 2, 18)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_programming_error_padding_takes_the_general_sweep(shape, r, backend, monkeypatch):
    """Every padding cell with its own error: no closed form, the same exact answer."""
    monkeypatch.setattr(sweep, "_backend", lambda inversions: backend)
    M, N, m, n = shape
    G = _padded(np.random.default_rng(3), M, N, m, n, jitter=0.05)
    _check(G, r, (m, n))


@pytest.mark.parametrize(
    "lo, hi, v",
    [(1e-12, 1e-9, 1e-12), (1e-3, 5e-2, 1e-3), (0.0, 1e-4, 0.0), (1e-6, 1e-4, 0.5)],
)
def test_small_large_and_zero_conductances(lo, hi, v):
    G = _padded(np.random.default_rng(11), 20, 18, 6, 5, lo=lo, hi=hi, v=v)
    G[2, :] = 0.0  # a used row of cells off
    _check(G, (2.0, 3.0, 5.0, 0.0), (6, 5))


def test_tiles_sharing_their_padding_reuse_its_modes():
    """The padding's closed form is cached per (size, padding, wires): a second tile with
    other used cells but the same padding takes the stored modes and is still exact."""
    sweep._PREFIXES.clear()
    rng = np.random.default_rng(12)
    for k in range(3):
        _check(_padded(rng, 20, 18, 20 - 3 * k, 5), RS[1], (20 - 3 * k, 5))
    assert len(sweep._PREFIXES) == 1
    mu, Q, lam, delta, xi, first = next(iter(sweep._PREFIXES.values()))
    assert not first.flags.writeable and delta.shape == (13, 20)


@pytest.mark.parametrize("P", [1, 2, 7, 128, 257])
def test_the_chain_modes_without_sense_resistance_are_sines(P):
    """The closed-form eigenbasis (no sense resistance) equals numpy's eigh to round-off."""
    sweep._MODES.clear()
    mu, Q = sweep._chain_modes(P, 2.5, 2.5)
    sweep._MODES.clear()
    mu0, Q0 = sweep._chain_modes(P, 2.5, 2.5 * (1 + 1e-16) + 1e-15)  # forces eigh
    sweep._MODES.clear()
    assert np.abs(mu - mu0).max() <= 1e-13 * mu.max()
    assert np.abs(Q.T @ Q - np.eye(P)).max() <= 1e-14
    idx = np.arange(P)
    S = np.zeros((P, P))
    S[idx, idx] = 2.5 * ((idx > 0).astype(float) + (idx < P - 1))
    S[0, 0] += 2.5
    S[idx[:-1], idx[1:]] = S[idx[1:], idx[:-1]] = -2.5
    assert np.abs(S @ Q - Q * mu).max() <= 1e-14 * mu.max()


def test_padding_hidden_in_used_columns_and_rows():
    """Used columns that happen to equal the padding join the closed form; the answer is
    unchanged (the used block's outputs come from the padding modes)."""
    G = _padded(np.random.default_rng(4), 20, 16, 8, 10)
    G[:, 7:10] = 1e-6  # used columns 7..9 identical to the padding
    _check(G, (1.0, 2.0, 4.0, 3.0), (8, 10))


def test_outside_its_assumptions_it_declines():
    G = np.full((6, 5), 1e-4)
    assert tile_solve(G * 1e9, 1.0, 1.0, 0.0, 0.0) is None  # cells >> wires
    assert tile_solve(G, 1.0, 1e-4, 0.0, 0.0) is None  # wires too far apart
    assert tile_solve(G, 1.0, 1.0, 1e4, 0.0) is None  # a driver 1e4 x the wire
    bad = G.copy()
    bad[1, 1] = np.nan
    assert tile_solve(bad, 1.0, 1.0, 0.0, 0.0) is None


@pytest.mark.parametrize("jitter", [0.0, 0.05])
def test_the_inverse_backends_give_the_same(jitter, monkeypatch):
    G = _padded(np.random.default_rng(8), 16, 14, 5, 6, jitter=jitter)
    got = {}
    for backend in BACKENDS:
        monkeypatch.setattr(sweep, "_backend", lambda inversions, b=backend: b)
        got[backend] = tile_solve(G, 1.0, 2.0, 3.0, 4.0, used=(5, 6))
        only = tile_solve(G, 1.0, 2.0, 3.0, 4.0, used=(5, 6), forms=False)
        if backend == "scipy" and jitter:
            assert only is None  # declined: uniform.py's scipy elimination
        else:
            ref = xbar.Crossbar(G, 1.0, 2.0, r_driver=3.0, r_sense=4.0).transfer_matrix()[:5, :6]
            assert np.allclose(only[0], ref, rtol=1e-11, atol=0)
    W0, f0 = got["lapack"]
    for backend in BACKENDS[1:]:
        W1, f1 = got[backend]
        assert np.allclose(W0, W1, rtol=1e-12, atol=0)
        for part, q in f0.Q.items():
            assert np.allclose(q, f1.Q[part], rtol=0, atol=1e-12 * np.abs(f0.Q["supplied"]).max())


def test_lapack_is_found_and_agrees_with_numpy():
    """numpy's own LAPACK is found here (the tile sweep's fast inverse); its Cholesky
    inverse and symmetric products match numpy's on random SPD blocks, a non-SPD block
    is refused, and the numpy fallbacks give the same."""
    from xbar.crossbar import lapack

    assert lapack.available()
    rng = np.random.default_rng(2)
    for P in (1, 2, 7, 64, 128, 131):
        B = rng.standard_normal((P, P))
        A = B @ B.T + 0.1 * np.eye(P)
        ref = np.linalg.inv(A)
        D = np.where(np.tri(P, dtype=bool), A, np.nan)  # only the lower triangle is read
        S = lapack.cholesky_inverse(D)
        assert S is D
        scale = np.abs(ref).max() * np.linalg.cond(A)
        assert np.abs(lapack.full(S) - ref).max() <= 1e-13 * scale
        X = rng.standard_normal((P, 5))
        left = lapack.symmetric_product(S, X, -2.0, np.empty((P, 5)))
        right = lapack.symmetric_product(S, np.ascontiguousarray(X.T), 3.0, np.empty((5, P)), False)
        assert np.allclose(left, -2.0 * lapack.full(S) @ X, rtol=1e-13, atol=1e-13 * scale)
        assert np.allclose(right, 3.0 * X.T @ lapack.full(S), rtol=1e-13, atol=1e-13 * scale)
    assert lapack.cholesky_inverse(np.array([[1.0, 0.0], [2.0, 1.0]])) is None


@pytest.mark.parametrize("P, n, m", [(1, 1, 1), (3, 2, 1), (7, 5, 3), (64, 6, 64), (128, 4, 9)])
@pytest.mark.parametrize("library", [True, False])
def test_symmetric_chain_is_the_loop_of_products(P, n, m, library, monkeypatch):
    """lapack.symmetric_chain (one dsymm per block on strided position-major blocks)
    equals the plain numpy loop ``X[:, k] = alpha full(S[k]) X[:, k + 1]``; only the
    lower triangles are read; the numpy fallback gives the same."""
    from xbar.crossbar import lapack

    if not library:
        monkeypatch.setitem(lapack._ROUTINES, "found", False)
    rng = np.random.default_rng(P + n + m)
    B = rng.standard_normal((n, P, P))
    S = B @ B.transpose(0, 2, 1) / P + np.eye(P)
    ref_S = S.copy()
    S[:, ~np.tri(P, dtype=bool)] = np.nan  # the strict upper triangles are never read
    X = np.full((P, n, m), np.nan)
    X[:, n - 1] = rng.standard_normal((P, m))
    ref = X.copy()
    for k in range(n - 2, -1, -1):
        ref[:, k] = -0.7 * ref_S[k] @ ref[:, k + 1]
    got = lapack.symmetric_chain(S, X, -0.7)
    assert got is X
    scale = np.abs(ref).max()
    assert np.abs(X - ref).max() <= 1e-13 * scale


def test_scratch_reused_between_tiles_leaks_into_no_result():
    """The forms' scratch (line inverses, node voltages) is reused by the next tile of
    the thread: nothing returned may be a view of it, and threads do not share it."""
    import threading

    rng = np.random.default_rng(9)
    Gs = [rng.uniform(1e-6, 1e-4, (24, 20)) for _ in range(4)]
    first = tile_solve(Gs[0], 1.0, 1.0, 2.0, 3.0)
    kept = (first[0].copy(), {k: q.copy() for k, q in first[1].Q.items()})
    att = first[1].attenuation.copy()
    tile_solve(Gs[1], 2.5, 1.5, 0.0, 0.0)  # overwrites the scratch
    assert np.array_equal(first[0], kept[0]) and np.array_equal(first[1].attenuation, att)
    assert all(np.array_equal(first[1].Q[k], q) for k, q in kept[1].items())
    serial = [tile_solve(G, 1.0, 1.0, 2.0, 3.0) for G in Gs]
    got = [None] * len(Gs)

    def run(i):
        for _ in range(3):
            got[i] = tile_solve(Gs[i], 1.0, 1.0, 2.0, 3.0)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(Gs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (W, f), (W2, f2) in zip(serial, got, strict=True):  # (BLAS may split work by thread)
        assert np.allclose(W, W2, rtol=1e-13, atol=0)
        for k in f.Q:
            assert np.allclose(f.Q[k], f2.Q[k], rtol=0, atol=1e-13 * np.abs(f.Q["supplied"]).max())


def test_lapack_lookup_skips_libraries_without_the_routines(monkeypatch):
    import ctypes.util

    from xbar.crossbar import lapack

    libc = ctypes.util.find_library("c") or "libc.so.6"
    monkeypatch.setattr(lapack, "_candidates", lambda: iter(["/nonexistent/libblas.so", libc]))
    assert lapack._lookup() is None


def test_lapack_fallbacks_without_a_library(monkeypatch):
    from xbar.crossbar import lapack

    monkeypatch.setitem(lapack._ROUTINES, "found", False)
    assert not lapack.available()
    A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    S = lapack.cholesky_inverse(A.copy())
    assert np.allclose(lapack.full(S), np.linalg.inv(A), rtol=1e-14)
    out = lapack.symmetric_product(np.tril(A), np.eye(3), 2.0, np.empty((3, 3)))
    assert np.allclose(out, 2.0 * A, rtol=0)
    assert lapack.cholesky_inverse(np.array([[1.0, 0.0], [2.0, 1.0]])) is None
    G = _padded(np.random.default_rng(8), 16, 14, 5, 6, jitter=0.05)
    _check(G, RS[1], (5, 6))


def test_network_cache_gives_block_and_forms_together():
    from xbar.network import AnalogConfig
    from xbar.network.tiles import TransferCache

    cfg = AnalogConfig(r_row=1.5, r_col=2.0, r_driver=3.0, r_sense=0.0)
    G = _padded(np.random.default_rng(9), 24, 20, 7, 6)
    cache = TransferCache()
    W, f = cache.transfer_with_forms(G, cfg, used=(7, 6))
    assert cache.misses == 1 and cache.forms_misses == 1
    assert W.shape == (7, 6) and f.inputs == 7 and not W.flags.writeable
    ref = xbar.Crossbar(G, 1.5, 2.0, r_driver=3.0).power_forms(7)
    for part in PARTS:
        a, b = f.Q.get(part, np.zeros((7, 7))), ref.Q.get(part, np.zeros((7, 7)))
        assert np.abs(a - b).max() <= 1e-10 * np.abs(ref.Q["supplied"]).max()
    W2, f2 = cache.transfer_with_forms(G, cfg, used=(7, 6))
    assert W2 is W and f2 is f and cache.hits == 1 and cache.forms_hits == 1
    assert cache.transfer_matrices([G], cfg, used=[(7, 6)])[0] is W
    assert cache.power_forms(G, cfg, 7) is f


def test_a_wires_run_imports_neither_scipy_nor_numba():
    code = (
        "import sys\n"
        "from xbar.cli import main\n"
        "main(['infer', '--r-row', '1', '--r-col', '1', '--limit', '40', '--no-progress'])\n"
        "bad = [k for k in ('scipy.linalg', 'numba') if k in sys.modules]\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
