"""Tiles through the circuit solver: cached transfer matrices vs exact per-MVM solves."""

from __future__ import annotations

import numpy as np
import pytest

from xbar.network import load_dataset, load_model
from xbar.network.config import AnalogConfig
from xbar.network.evaluate import evaluate, plan_network, program_chip
from xbar.network.tiles import TransferCache, make_crossbar


@pytest.mark.parametrize("shape", [(1, 1), (5, 1), (1, 6), (12, 7), (9, 16)])
@pytest.mark.parametrize(
    "rs", [(2.5, 2.5, 10.0, 10.0), (0.0, 2.0, 5.0, 0.0), (0.0, 3.0, 0.0, 7.0), (1.0, 0.5, 0.0, 0.0)]
)
def test_tile_transfer_matches_crossbar_solver(shape, rs):
    """The cache's W_eff (Crossbar.transfer_matrix, either orientation) vs exact solves."""
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    G = rng.uniform(1e-6, 1e-4, shape)
    if G.size > 1:
        G[0, 0] = 0.0  # an open cell
    cfg = AnalogConfig(r_row=rs[0], r_col=rs[1], r_driver=rs[2], r_sense=rs[3])
    W = TransferCache().transfer_matrix(G, cfg)
    xb = make_crossbar(G, cfg)
    V = rng.uniform(-0.2, 0.2, (6, shape[0]))
    exact = xb.solve(V, tol=1e-13).output
    scale = np.abs(exact).max()
    assert np.abs(V @ W - exact).max() <= 1e-9 * scale
    assert np.abs(V @ G - exact).max() > 1e-6 * scale  # the parasitics matter


def test_tall_tiles_use_the_row_sweep():
    """Narrow tiles (many rows, few columns) are eliminated along the rows (cheaper)."""
    rng = np.random.default_rng(7)
    G = rng.uniform(1e-6, 1e-4, (72, 16))
    cfg = AnalogConfig(r_row=1.0, r_col=1.0, r_driver=5.0, r_sense=5.0)
    xb = make_crossbar(G, cfg, linear=True)
    W = xb.transfer_matrix()
    assert xb.transfer_method == "rows"
    V = rng.uniform(0, 0.2, (3, 72))
    exact = xb.solve(V, tol=1e-13).output
    assert np.abs(V @ W - exact).max() <= 1e-9 * np.abs(exact).max()


def test_per_tile_outputs_match_exact_solves_to_1e9():
    """Every tile of a programmed chip: cached W_eff vs a per-MVM crossbar solve."""
    model = load_model("default")
    data = load_dataset("digits")
    cfg = AnalogConfig(
        r_row=2.0,
        r_col=3.0,
        r_driver=20.0,
        r_sense=5.0,
        array_rows=40,
        array_cols=24,
        programming_error="state_proportional",
        programming_sigma=0.1,
        mapping="offset",
        offset_subtraction="reference_column",
    )
    folded, plans = plan_network(model, cfg)
    cache = TransferCache()
    net = program_chip(plans, folded, cfg, 0, cache)
    assert cache.misses == sum(len(p.specs) for p in plans) and cache.hits == 0
    rng = np.random.default_rng(0)
    checked = 0
    for layer in net.layers.values():
        for tile in layer.tiles:
            V = rng.uniform(0, cfg.v_read, (8, tile.spec.rows))
            full = tile.G if tile.G_full is None else tile.G_full  # padding: rows at 0 V
            Vp = np.zeros((8, full.shape[0]))
            Vp[:, : tile.spec.rows] = V
            exact = make_crossbar(full, cfg).solve(Vp, tol=1e-13).output[:, : tile.G.shape[1]]
            cached = tile.currents(V, cfg)
            assert np.abs(cached - exact).max() <= 1e-9 * np.abs(exact).max()
            checked += 1
    assert checked >= 6
    # the evaluation with parasitics differs from the one without, and stays sane
    res = evaluate(model, cfg, dataset=data, limit=100)
    res0 = evaluate(
        model, cfg.replace(r_row=0.0, r_col=0.0, r_driver=0.0, r_sense=0.0), dataset=data, limit=100
    )
    assert all(s.rel_error > 0 for s in res.layer_stats)
    assert [s.rel_error for s in res.layer_stats] != [s.rel_error for s in res0.layer_stats]
    assert res.accuracy > 0.5


def test_cache_keys_follow_conductances_and_resistances():
    rng = np.random.default_rng(3)
    G = rng.uniform(1e-6, 1e-4, (10, 6))
    cfg = AnalogConfig(r_row=1.0, r_col=1.0)
    cache = TransferCache()
    W1 = cache.transfer_matrix(G, cfg)
    assert cache.transfer_matrix(G.copy(), cfg) is W1 and (cache.hits, cache.misses) == (1, 1)
    G2 = G.copy()
    G2[3, 2] *= 1.0 + 1e-12
    assert cache.transfer_matrix(G2, cfg) is not W1
    assert cache.transfer_matrix(G, cfg.replace(r_col=1.5)) is not W1
    assert cache.transfer_matrix(G, cfg.replace(r_sense=1.0)) is not W1
    assert cache.misses == 4 and len(cache) == 4
    assert cache.transfer_matrix(G, AnalogConfig()) is G  # no parasitics: W_eff = G
    small = TransferCache(max_bytes=W1.nbytes)
    small.transfer_matrix(G, cfg)
    small.transfer_matrix(G2, cfg)
    assert len(small) == 1


def test_shared_cache_hits_across_evaluations():
    model = load_model("default")
    data = load_dataset("digits")
    cfg = AnalogConfig(
        r_row=1.0,
        r_col=1.0,
        programming_error="state_independent",
        programming_sigma=0.02,
        array_rows=64,
        array_cols=64,
    )
    cache = TransferCache()
    a = evaluate(model, cfg, dataset=data, limit=50, cache=cache)
    n = cache.misses  # chip 0 (no ADC: no calibration, no design chip)
    b = evaluate(model, cfg.replace(adc_bits=8), dataset=data, limit=50, cache=cache)
    # same chip, same conductances; the ADC adds the error-free design (calibration)
    assert cache.misses == 2 * n and cache.hits == n
    assert b.cache["hits"] == n
    c = evaluate(model, cfg, dataset=data, limit=50, chips=[1], cache=cache)
    assert cache.misses == 3 * n  # another chip: new conductances
    assert a.accuracies != [] and c.accuracies != []


def test_nonlinear_linearized_vs_exact():
    rng = np.random.default_rng(4)
    G = rng.uniform(1e-6, 1e-4, (24, 10))
    V = rng.uniform(0, 0.2, (5, 24))
    cfg = AnalogConfig(device="sinh", device_k=4.0, r_row=2.0, r_col=2.0)
    from xbar.network.tiles import Tile, TileSpec

    spec = TileSpec(0, 0, 24, 0, 10, "offset", False)
    tile = Tile(spec, G, TransferCache().transfer_matrix(G, cfg))
    lin = tile.currents(V, cfg)
    exact = tile.currents(V, cfg.replace(nonlinear_mode="exact"))
    ref = make_crossbar(G, cfg).solve(V).output
    np.testing.assert_allclose(exact, ref, rtol=1e-9)
    err = np.abs(lin - exact).max() / np.abs(exact).max()
    ideal = np.abs(np.sinh(4 * V) / 4 @ G - exact).max() / np.abs(exact).max()
    # measured: 0.13 % (f(V) @ W_eff: 0.54 %; ignoring the wires: 3.9 %)
    assert err < 2e-3 and err < 0.05 * ideal, (err, ideal)
    old = np.abs(np.sinh(4 * V) / 4 @ tile.W_eff - exact).max() / np.abs(exact).max()
    assert err < 0.5 * old
    # without parasitics the cell law is exact
    t0 = Tile(spec, G, G)
    np.testing.assert_allclose(
        t0.currents(V, cfg.replace(r_row=0.0, r_col=0.0)), np.sinh(4 * V) / 4 @ G, rtol=1e-13
    )


def test_default_cache_reused_between_calls():
    model = load_model("default")
    data = load_dataset("digits")
    cfg = AnalogConfig(
        r_col=1.7, programming_error="state_independent", programming_sigma=0.03, seed=12345
    )
    a = evaluate(model, cfg, dataset=data, limit=20)
    b = evaluate(model, cfg.replace(adc_bits=6), dataset=data, limit=20)
    n_tiles = sum(s.tiles for s in a.layer_stats)
    assert a.cache["misses"] == n_tiles and a.cache["hits"] == 0  # chip 0 (no calibration)
    # the ADC needs ranges: the error-free design is new, chip 0 is cached
    assert b.cache["misses"] == n_tiles and b.cache["hits"] == n_tiles
    assert (
        b.accuracies
        == evaluate(
            model, cfg.replace(adc_bits=6), dataset=data, limit=20, cache=TransferCache()
        ).accuracies
    )


@pytest.mark.parametrize(
    "mapping,sub", [("differential", "digital"), ("offset", "reference_column")]
)
def test_tile_read_equals_combined_currents(mapping, sub):
    """The linear fast path (combination folded into the transfer matrix) is exact."""
    from xbar.network import AnalogConfig
    from xbar.network.tiles import Tile, TileSpec

    rng = np.random.default_rng(0)
    cfg = AnalogConfig(
        mapping=mapping, offset_subtraction=sub, r_row=1.0, r_col=1.0, read_noise_sigma=0.05
    )
    ref = sub == "reference_column"
    spec = TileSpec(0, 0, 6, 0, 4, mapping, ref and mapping == "offset")
    G = rng.uniform(cfg.g_min, cfg.g_max, (6, spec.columns))
    W_eff = G * rng.uniform(0.9, 1.0, G.shape)
    tile = Tile(spec, G, W_eff)
    V = rng.uniform(0, 0.2, (5, 6))
    a = tile.read(V, cfg, np.random.default_rng(3))
    b = tile.combine(tile.currents(V, cfg, np.random.default_rng(3)))
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-18)
