"""Uniform-wire transfer matrices of small arrays agree with Crossbar.transfer_matrix."""

from __future__ import annotations

import numpy as np
import pytest

import xbar
from xbar.crossbar import uniform
from xbar.crossbar.uniform import applies, transfer_matrices
from xbar.errors import ValueRangeError


def _ref(G, r_row, r_col, r_driver, r_sense):
    return xbar.Crossbar(G, r_row, r_col, r_driver=r_driver, r_sense=r_sense).transfer_matrix()


@pytest.mark.parametrize("r", [(2.5, 1.5, 10.0, 7.0), (1.0, 1.0, 0.0, 0.0), (50.0, 0.1, 3.0, 0.0)])
def test_many_shapes_in_one_call_match_the_crossbar_solver(r):
    rng = np.random.default_rng(1)
    shapes = [(1, 1), (1, 6), (7, 1), (9, 8), (9, 16), (40, 12), (12, 33)]
    Gs = [rng.uniform(1e-6, 1e-4, s) for s in shapes]
    Gs[3][2, :] = 0.0  # a row of cells off
    Ws = transfer_matrices(Gs, *r)
    for G, W in zip(Gs, Ws, strict=True):
        ref = _ref(G, *r)
        scale = np.abs(ref).max()
        assert W.shape == G.shape
        assert np.abs(W - ref).max() <= 1e-11 * scale


def test_strong_ir_drop():
    G = np.random.default_rng(2).uniform(1e-3, 1e-2, (30, 20))
    r = (5.0, 5.0, 10.0, 10.0)
    ref = _ref(G, *r)
    assert np.abs(transfer_matrices([G], *r)[0] - ref).max() <= 1e-10 * np.abs(ref).max()


def test_rejects_what_it_cannot_do():
    G = np.full((3, 3), 1e-5)
    assert not applies(0.0, 1.0) and not applies(1.0, 0.0) and applies(1.0, 1.0)
    with pytest.raises(ValueRangeError, match="r_row"):
        transfer_matrices([G], 0.0, 1.0)
    with pytest.raises(ValueRangeError, match="array 1"):
        transfer_matrices([G, -G], 1.0, 1.0)
    with pytest.raises(ValueRangeError, match="array 0"):
        transfer_matrices([np.zeros((0, 3))], 1.0, 1.0)
    assert transfer_matrices([], 1.0, 1.0) == []


def test_network_cache_uses_it_and_matches(monkeypatch):
    from xbar.network import AnalogConfig
    from xbar.network.tiles import TransferCache

    cfg = AnalogConfig(r_row=2.0, r_col=3.0, r_driver=5.0, r_sense=4.0)
    rng = np.random.default_rng(3)
    Gs = [rng.uniform(1e-6, 1e-4, s) for s in [(9, 16), (72, 32), (20, 70)]]
    cache = TransferCache()
    Ws = cache.transfer_matrices(Gs + [Gs[0].copy()], cfg)
    assert cache.misses == 3 and cache.hits == 1 and len(cache) == 3
    for G, W in zip(Gs + [Gs[0]], Ws, strict=True):
        ref = _ref(G, 2.0, 3.0, 5.0, 4.0)
        assert np.abs(W - ref).max() <= 1e-11 * np.abs(ref).max()
        assert not W.flags.writeable
    assert cache.transfer_matrix(Gs[1], cfg) is Ws[1] and cache.hits == 2
    # ideal wires in one direction: the crossbar solver takes over
    cfg0 = AnalogConfig(r_row=0.0, r_col=1.0)
    W0 = TransferCache().transfer_matrix(Gs[0], cfg0)
    assert np.allclose(W0, _ref(Gs[0], 0.0, 1.0, 0.0, 0.0), rtol=1e-12, atol=0)
    # a padded tile: only its used block is computed and cached (under its own key)
    P = np.full((40, 36), 1e-6)
    P[:9, :16] = Gs[0]
    Wb = cache.transfer_matrices([P], cfg, used=[(9, 16)])[0]
    assert Wb.shape == (9, 16)
    ref = _ref(P, 2.0, 3.0, 5.0, 4.0)[:9, :16]
    assert np.abs(Wb - ref).max() <= 1e-11 * np.abs(ref).max()
    assert cache.transfer_matrix(P, cfg).shape == (40, 36) and cache.misses == 5


@pytest.mark.parametrize(
    "shape,block",
    [((40, 36), (9, 16)), ((40, 36), (40, 10)), ((30, 70), None), ((40, 8), (40, 3))],
)
def test_block_path_matches_crossbar(shape, block):
    """Wide and padded arrays (the O(N^2) row lines, Cholesky sweep, used block only)."""
    rng = np.random.default_rng(5)
    G = np.maximum(rng.normal(1e-6, 5e-8, shape), 0.0)
    m, n = block or shape
    G[:m, :n] = rng.uniform(0.0, 1e-4, (m, n))
    G[0, 0] = 0.0
    W = transfer_matrices([G], 1.0, 2.0, 3.0, 0.5, used=[block])[0]
    ref = _ref(G, 1.0, 2.0, 3.0, 0.5)[:m, :n]
    assert W.shape == (m, n)
    assert np.abs(W - ref).max() <= 1e-11 * np.abs(ref).max()


@pytest.mark.parametrize("block", [(9, 16), (30, 12), (40, 10), (3, 1)])
def test_padded_columns_path_matches_crossbar(block):
    """Unused columns all at one conductance: the turned-over sweep with the cached prefix
    (twice, so the second tile reuses and extends the cached sequence)."""
    rng = np.random.default_rng(6)
    m, n = block
    for _ in range(2):
        G = np.full((40, 36), 1.3e-6)
        G[:, :n] = np.maximum(rng.normal(1.3e-6, 5e-8, (40, n)), 0.0)  # padding rows vary
        G[:m, :n] = rng.uniform(0.0, 1e-4, (m, n))
        assert uniform._padded_block(G, 1.0, 0.5, 1 / 3.5, 1 / 2.5, m, n) is not None
        W = transfer_matrices([G], 1.0, 2.0, 2.5, 0.5, used=[block])[0]
        ref = _ref(G, 1.0, 2.0, 2.5, 0.5)[:m, :n]
        assert np.abs(W - ref).max() <= 1e-11 * np.abs(ref).max()
    G[5, 30] *= 1.01  # not uniform: the general sweep
    assert uniform._padded_block(G, 1.0, 0.5, 1 / 3.5, 1 / 2.5, m, n) is None
