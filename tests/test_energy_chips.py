"""Energy metering cost paths (issue 14): which chips are metered (``energy_chips``), the
linear layer's reads metered together, the Gram matrix; each against the general path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xbar.errors import ConfigError
from xbar.network import AnalogConfig, evaluate, load_dataset, load_model
from xbar.network.energy import ARRAY_PARTS, ENERGY_PARTS, LayerMeter, gram
from xbar.network.tiles import Tile, TileSpec, TransferCache

WIRES = dict(r_row=1.0, r_col=1.0, programming_error="state_proportional", programming_sigma=0.1)


@pytest.fixture(scope="module")
def net():
    return load_model("default"), load_dataset("digits")


@pytest.mark.parametrize("K, m", [(1, 1), (3, 5), (63, 7), (64, 1), (64, 2), (200, 40)])
def test_gram_equals_the_product(K, m):
    """gram() of slices, contiguous copies and tiny batches: the product, symmetric."""
    X = np.random.default_rng(K + m).normal(size=(K, 3 * m + 2))
    for V in (X[:, :m], X[:, m : 2 * m], np.ascontiguousarray(X[:, 2 * m : 3 * m]), X[:, :m].T.T):
        ref = V.T @ V
        g = gram(V)
        assert g.shape == (m, m)
        np.testing.assert_allclose(g, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
        assert np.array_equal(g, g.T)


def _layer_tiles(cfg, n_in, n_out, seed, g_lo, g_hi):
    """Offset-mapped tiles of an n_in x n_out layer on cfg's arrays; the last row and
    column blocks padded (their physical arrays are whole, idle cells at g_lo)."""
    rng = np.random.default_rng(seed)
    cache = TransferCache()
    tiles = []
    R, C = cfg.array_rows, cfg.array_cols
    for r0 in range(0, n_in, R):
        for j0 in range(0, n_out, C):
            spec = TileSpec(0, r0, min(r0 + R, n_in), j0, min(j0 + C, n_out), "offset", False)
            full = np.full((R, C) if cfg.parasitics else (spec.rows, spec.columns), g_lo)
            full[: spec.rows, : spec.columns] = rng.uniform(g_lo, g_hi, (spec.rows, spec.columns))
            W = cache.transfer_matrix(full, cfg)
            used = (slice(0, spec.rows), slice(0, spec.columns))
            padded = full.shape != (spec.rows, spec.columns)
            tiles.append(
                Tile(
                    spec,
                    np.ascontiguousarray(full[used]),
                    np.ascontiguousarray(W[used]),
                    G_full=full if padded else None,
                )
            )
    return tiles, cache


CASES = [
    dict(r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0),
    dict(r_row=1.0, r_col=1.0),  # zero r_driver / r_sense
    dict(r_row=0.0, r_col=3.0, r_sense=5.0),
    dict(),  # ideal wires: the cells' power sum_ij G_ij V_i^2
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize(
    "shape, arrays, g",
    [
        ((30, 7), (12, 4), (1e-6, 1e-4)),
        ((3, 3), (2, 2), (1e-6, 1e-4)),  # 2x2 arrays (1x1 ones: below)
        ((1, 5), (8, 8), (1e-6, 1e-4)),  # one used row, padded
        ((9, 1), (4, 3), (1e-6, 1e-4)),  # one used column, all-padding columns
        ((20, 6), (16, 8), (1e-2, 1.0)),  # very large conductances (strong IR drop)
        ((20, 6), (16, 8), (1e-12, 1e-10)),  # very small ones
    ],
)
@pytest.mark.parametrize("signed, K", [(False, 5), (True, 70), (False, 70)])
def test_linear_layer_reads_metered_together_equal_tile_by_tile(case, shape, arrays, g, signed, K):
    """LayerMeter.read_linear (the linear fast path: forms summed per row block, one Gram
    per block) equals metering every tile read one by one, to round-off."""
    cfg = AnalogConfig(array_rows=arrays[0], array_cols=arrays[1], **CASES[case])
    tiles, cache = _layer_tiles(cfg, *shape, seed=case + K, g_lo=g[0], g_hi=g[1])
    X = np.random.default_rng(K + case).uniform(-1.0 if signed else 0.0, 1.0, (K, shape[0]))
    volts = 0.2 / 0.9
    fast = LayerMeter(cfg, cache)
    fast.read_linear(X, volts, tiles)
    ref = LayerMeter(cfg, cache)
    for V in [np.maximum(X, 0), np.maximum(-X, 0)] if signed else [X]:
        step = ref.step(V * volts)
        for t in tiles:
            step.read(t)
    a, b = fast.tally, ref.tally
    for part in ENERGY_PARTS:
        assert a.joules[part] == pytest.approx(b.joules[part], rel=1e-10, abs=1e-300), part
    assert sum(a.joules[p] for p in ARRAY_PARTS) > 0
    assert (a.reads, a.dac_conversions, a.adds) == (b.reads, b.dac_conversions, b.adds)
    # a second batch reuses the summed forms (same tiles) and adds the same again
    fast.read_linear(X, volts, tiles)
    assert fast.tally.joules["cells"] == pytest.approx(2 * b.joules["cells"], rel=1e-12)


def test_sinh_cells_are_metered_tile_by_tile():
    """read_linear with non-linear cells (not the linear fast path's case) reads every tile
    on its own: same numbers as the general path."""
    cfg = AnalogConfig(array_rows=8, array_cols=4, r_row=1.0, r_col=1.0, device="sinh")
    tiles, cache = _layer_tiles(cfg, 12, 6, seed=3, g_lo=1e-6, g_hi=1e-4)
    X = np.random.default_rng(4).uniform(-1, 1, (80, 12))
    fast = LayerMeter(cfg, cache)
    fast.read_linear(X, 0.25, tiles)
    ref = LayerMeter(cfg, cache)
    for V in (np.maximum(X, 0), np.maximum(-X, 0)):
        step = ref.step(V * 0.25)
        for t in tiles:
            step.read(t)
    for part in ENERGY_PARTS:
        assert fast.tally.joules[part] == pytest.approx(ref.tally.joules[part], rel=1e-12)


def _same_energy(a: dict, b: dict, rel=1e-12):
    assert set(a) == set(b)
    for k, v in a.items():
        assert v == pytest.approx(b[k], rel=rel, abs=1e-300), k


@pytest.mark.parametrize("extra", [{}, {"adc_bits": 6, "dac_bits": 6}])
def test_all_chips_metered_equal_each_chip_alone(net, extra):
    """energy_chips = 0 ("all"): the reported energy is the mean over chips of each chip's
    own energy (what every evaluation reported before energy_chips), with the spread."""
    model, data = net
    cfg = AnalogConfig(**WIRES, **extra, repeats=3, energy_chips="all")
    res = evaluate(model, cfg, dataset=data, limit=24, cache=TransferCache())
    assert res.energy_chips == [0, 1, 2]
    alone = [
        evaluate(model, cfg, dataset=data, limit=24, chips=[c], cache=TransferCache())
        for c in range(3)
    ]
    assert [r.accuracies[0] for r in alone] == res.accuracies
    for key in set(res.energy) - {"ops_per_joule"}:  # (that is ops / total)
        mean = np.mean([r.energy[key] for r in alone])
        assert res.energy[key] == pytest.approx(mean, rel=1e-12, abs=1e-300), key
    for i, s in enumerate(res.layer_stats):
        for key in ("total", "array", "cells", "adc"):
            mean = np.mean([r.layer_stats[i].energy[key] for r in alone])
            assert s.energy[key] == pytest.approx(mean, rel=1e-12, abs=1e-300)
        std = np.std([r.layer_stats[i].energy["array"] for r in alone], ddof=1)
        assert s.energy_spread["array"]["std"] == pytest.approx(std, rel=1e-9)
    assert res.energy["ops_per_joule"] == pytest.approx(res.energy["ops"] / res.energy["total"])
    assert res.energy["ops_per_joule"] == pytest.approx(res.energy["ops"] / res.energy["total"])
    totals = [r.energy["total"] for r in alone]
    sp = res.energy_spread["total"]
    assert sp["std"] == pytest.approx(np.std(totals, ddof=1), rel=1e-9)
    assert sp["ci95"][0] < res.energy["total"] < sp["ci95"][1]
    assert 0 < sp["rel_std"] < 0.1
    # one chip alone: no spread; the same chip metered in a longer run: same numbers
    assert alone[1].energy_chips == [1] and alone[1].energy_spread == {}
    first = evaluate(model, cfg.replace(energy_chips=1), dataset=data, limit=24)
    assert first.energy_chips == [0] and first.energy_spread == {}
    _same_energy(first.energy, alone[0].energy)
    assert first.accuracies == res.accuracies


def test_unmetered_chips_take_the_no_energy_path(net):
    """Only the metered chips' tiles get power forms; the others are programmed as with
    energy off (same transfer-matrix work, same accuracies)."""
    model, data = net
    cfg = AnalogConfig(**WIRES, repeats=3, energy_chips=2)
    cache = TransferCache()
    res = evaluate(model, cfg, dataset=data, limit=16, chips=[4, 2, 7], cache=cache)
    assert res.energy_chips == [4, 2] and set(res.energy_spread) >= {"total", "array"}
    tiles = sum(s.tiles for s in res.layer_stats)
    assert cache.forms_misses == 2 * tiles
    off = evaluate(
        model, cfg, dataset=data, limit=16, chips=[7], cache=TransferCache(), energy=False
    )
    assert res.accuracies[2] == off.accuracies[0]
    two = evaluate(model, cfg.replace(energy_chips=0), dataset=data, limit=16, chips=[4, 2])
    _same_energy(res.energy, two.energy)


@pytest.mark.parametrize(
    "value, words", [(-1, "0 (every chip) or more"), ("some", "'all'"), (1.5, "integer")]
)
def test_bad_energy_chips_names_the_field(value, words):
    with pytest.raises(ConfigError, match="energy_chips") as e:
        AnalogConfig(energy_chips=value)
    assert words in str(e.value)
    assert AnalogConfig.from_dict({"energy_chips": "ALL"}).energy_chips == 0
    assert AnalogConfig.from_dict({"energy_chips": "3"}).energy_chips == 3


def test_cli_energy_chips(capsys):
    from xbar.cli import main

    base = ["infer", "--limit", "8", "--no-progress", "--r-row", "1", "--r-col", "1"]
    base += ["--programming-error", "state_proportional", "--programming-sigma", "0.1"]
    assert main(base + ["--repeats", "3", "--json", "--energy-chips", "all"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["energy_chips"] == [0, 1, 2] and d["energy_spread"]["total"]["std"] > 0
    assert d["layer_stats"][0]["energy_spread"]["array"]["rel_std"] > 0
    assert main(base + ["--repeats", "2"]) == 0
    out = capsys.readouterr().out
    assert "energy metered on chip 0 of 2" in out
    assert main(base + ["--repeats", "2", "--energy-chips", "2"]) == 0
    assert "energy metered on 2 of 2 chips (0, 1): chip-to-chip std" in capsys.readouterr().out


@pytest.mark.parametrize("case", [0, 1, 2, 3])
def test_one_by_one_arrays_metered_together_equal_tile_by_tile(case):
    """1x1 arrays (every weight its own array): the summed forms still equal tile by tile."""
    cfg = AnalogConfig(array_rows=1, array_cols=1, **CASES[case])
    tiles, cache = _layer_tiles(cfg, 3, 2, seed=1, g_lo=1e-6, g_hi=1e-4)
    X = np.random.default_rng(2).uniform(-1, 1, (70, 3))
    fast = LayerMeter(cfg, cache)
    fast.read_linear(X, 0.2, tiles)
    ref = LayerMeter(cfg, cache)
    for V in (np.maximum(X, 0), np.maximum(-X, 0)):
        step = ref.step(V * 0.2)
        for t in tiles:
            step.read(t)
    for part in ENERGY_PARTS:
        assert fast.tally.joules[part] == pytest.approx(ref.tally.joules[part], rel=1e-12)
    assert fast.tally.joules["cells"] > 0
