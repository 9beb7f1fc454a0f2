"""Grams of a convolution's im2col columns from shifted products of its images
(xbar.network.convgram) against the dense Grams, and the energy metered with them."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from test_energy_chips import _layer_tiles

from xbar.network import AnalogConfig, Dataset, evaluate
from xbar.network import energy as energy_mod
from xbar.network.convgram import (
    ConvGeometry,
    block_grams,
    conv_geometry,
    gram_plan,
    make_plan,
    unfolded_plan,
)
from xbar.network.energy import ENERGY_PARTS, LayerMeter
from xbar.network.layers import Conv2D, Dense, Flatten, ReLU, im2col
from xbar.network.model import Model
from xbar.network.tiles import TransferCache

evaluate_mod = importlib.import_module("xbar.network.evaluate")


def _random_case(rng):
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    dh, dw = (int(v) for v in rng.integers(1, 3, 2))
    H, W, C = (int(v) for v in (rng.integers(1, 9), rng.integers(1, 9), rng.integers(1, 7)))
    pads = tuple(int(v) for v in rng.integers(0, 4, 4))
    return ConvGeometry(kh, kw, pads, (dh, dw), (H, W, C))


def _random_blocks(rng, n):
    cuts = set(rng.integers(1, n, int(rng.integers(0, 4))).tolist()) if n > 1 else set()
    cuts = sorted(cuts | {0, n})
    return list(zip(cuts[:-1], cuts[1:], strict=False))


PLANS = {
    "2d": make_plan,
    "2d, one product per shift": lambda g, b: make_plan(g, b, hull=True),
    "unfolded along the width": unfolded_plan,
}


@pytest.mark.parametrize("kind", PLANS)
@pytest.mark.parametrize("seed", range(25))
def test_block_grams_equal_the_dense_grams(seed, kind):
    """Random kernels, dilations, asymmetric paddings (windows that see none of the
    image included), row blocks that split offsets or hold one row, signed inputs'
    positive parts: every block equals V^T V of the im2col columns to round-off, for
    every kind of plan."""
    rng = np.random.default_rng(seed)
    for _ in range(10):
        geom = _random_case(rng)
        if min(geom.out) < 1:
            continue
        n = geom.kh * geom.kw * geom.shape[2]
        blocks = _random_blocks(rng, n)
        x = np.maximum(rng.normal(size=(int(rng.integers(1, 4)), *geom.shape)), 0.0)
        V = im2col(x, geom.kh, geom.kw, 1, geom.pads, geom.dilations)
        G = block_grams(x, PLANS[kind](geom, blocks))
        assert sorted(G) == sorted(blocks)
        for r0, r1 in blocks:
            ref = V[:, r0:r1].T @ V[:, r0:r1]
            scale = max(float(np.abs(ref).max()), 1e-300)
            np.testing.assert_allclose(G[(r0, r1)], ref, rtol=0, atol=1e-13 * scale)
            assert np.array_equal(G[(r0, r1)], G[(r0, r1)].T)


@pytest.mark.parametrize("kind", PLANS)
@pytest.mark.parametrize("H, C", [(32, 16), (16, 32), (8, 64), (16, 128), (8, 256), (6, 5)])
def test_network_shapes_and_the_grouped_products(H, C, kind):
    """The shapes of ResNet-20 / WRN-16-4 convolutions on 128-row arrays (few channels:
    the shifts' products grouped into one), against the dense Grams."""
    geom = ConvGeometry(3, 3, (1, 1, 1, 1), (1, 1), (H, H, C))
    n = 9 * C
    blocks = [(a, min(n, a + 128)) for a in range(0, n, 128)]
    x = np.random.default_rng(C).uniform(size=(2, H, H, C))
    V = im2col(x, 3, 3, 1, 1)
    G = block_grams(x, PLANS[kind](geom, blocks))
    for r0, r1 in blocks:
        ref = V[:, r0:r1].T @ V[:, r0:r1]
        np.testing.assert_allclose(G[(r0, r1)], ref, rtol=0, atol=1e-13 * ref.max())


def test_plan_only_where_cheaper():
    """Three input channels: the dense Grams are cheaper (no plan); 16: unfolded along
    the width; 128: the 2-D plan."""
    small = ConvGeometry(3, 3, (1, 1, 1, 1), (1, 1), (32, 32, 3))
    assert gram_plan(small, [(0, 27)], 4) is None
    few = ConvGeometry(3, 3, (1, 1, 1, 1), (1, 1), (32, 32, 16))
    assert gram_plan(few, [(0, 128), (128, 144)], 4).unfold is not None
    big = ConvGeometry(3, 3, (1, 1, 1, 1), (1, 1), (16, 16, 128))
    plan = gram_plan(big, [(a, a + 128) for a in range(0, 1152, 128)], 4)
    assert plan is not None and plan.unfold is None


def test_no_plan_where_the_narrow_products_are_memory_bound():
    """Few channels: the shifted products stream the batch once per shift, so they are
    used only while the batch is small (dense Grams for the digits CNN's 8-channel layer
    at its batch of 180 images, and for 16 channels beyond 0.5 MiB); 64 channels: at any
    batch size."""
    eight = ConvGeometry(3, 3, (1, 1, 1, 1), (1, 1), (8, 8, 8))
    assert gram_plan(eight, [(0, 72)], 180) is None
    assert gram_plan(eight, [(0, 72)], 4) is None
    few = ConvGeometry(3, 3, (1, 1, 1, 1), (1, 1), (32, 32, 16))
    assert gram_plan(few, [(0, 128), (128, 144)], 4) is not None  # 0.5 MiB
    assert gram_plan(few, [(0, 128), (128, 144)], 21) is None
    wide = ConvGeometry(3, 3, (1, 1, 1, 1), (1, 1), (32, 32, 64))
    assert gram_plan(wide, [(a, min(a + 128, 576)) for a in range(0, 576, 128)], 64) is not None


def test_geometry_only_for_stride_one_ungrouped():
    x = np.zeros((1, 8, 8, 4))
    assert conv_geometry(Conv2D(4, 4, 3, stride=1, padding=1), x) is not None
    assert conv_geometry(Conv2D(4, 4, 3, stride=2, padding=1), x) is None
    assert conv_geometry(Conv2D(4, 4, 3, stride=1, padding=1, groups=2), x) is None
    assert conv_geometry(Conv2D(4, 4, 5, stride=1, padding=0), np.zeros((1, 3, 3, 4))) is None


def _always_plan(geom, blocks, images):
    return make_plan(geom, blocks)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("wires", [dict(r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0), {}])
def test_read_linear_with_images_equals_the_columns(monkeypatch, signed, wires):
    """LayerMeter.read_linear given the images of a stride-1 convolution meters the same
    energy (every part) and counts as given only its im2col columns."""
    monkeypatch.setattr(energy_mod, "gram_plan", _always_plan)
    cfg = AnalogConfig(array_rows=16, array_cols=4, **wires)
    geom = ConvGeometry(3, 3, (1, 0, 2, 1), (1, 1), (6, 7, 5))
    tiles, cache = _layer_tiles(cfg, 45, 6, seed=3, g_lo=1e-6, g_hi=1e-4)
    x = np.random.default_rng(4).uniform(-1.0 if signed else 0.0, 1.0, (3, 6, 7, 5))
    X = im2col(x, 3, 3, 1, geom.pads)
    fast, ref = LayerMeter(cfg, cache), LayerMeter(cfg, cache)
    fast.read_linear(X, 0.3, tiles, images=(x, geom))
    ref.read_linear(X, 0.3, tiles)
    for part in ENERGY_PARTS:
        a, b = fast.tally.joules[part], ref.tally.joules[part]
        assert a == pytest.approx(b, rel=1e-12, abs=1e-300), part
    assert fast.tally.reads == ref.tally.reads and fast.tally.adds == ref.tally.adds


def _conv_model():
    rng = np.random.default_rng(0)
    layers = [
        Conv2D(3, 20, 3, padding=1, W=rng.normal(0, 0.3, (3, 3, 3, 20)), name="c1"),
        ReLU(),
        Conv2D(20, 20, 3, padding=1, W=rng.normal(0, 0.1, (3, 3, 20, 20)), name="c2"),
        ReLU(),
        Conv2D(20, 8, 3, stride=2, padding=1, W=rng.normal(0, 0.1, (3, 3, 20, 8)), name="c3"),
        Flatten(),
        Dense(128, 10, W=rng.normal(0, 0.1, (128, 10)), name="fc"),
    ]
    return Model(layers, input_shape=(8, 8, 3), classes=10)


@pytest.mark.parametrize(
    "cfg",
    [
        AnalogConfig(array_rows=64, array_cols=16, r_row=2.0, r_col=2.0, r_sense=5.0),
        AnalogConfig(
            array_rows=64,
            array_cols=16,
            r_row=1.0,
            r_col=1.0,
            programming_error="state_proportional",
            programming_sigma=0.05,
            repeats=2,
        ),
    ],
)
@pytest.mark.parametrize("kind", ["2d", "unfolded along the width"])
def test_evaluate_energy_is_the_same_with_shifted_products(monkeypatch, cfg, kind):
    """evaluate(): every result field equal, energy to round-off, whether the metered
    convolutions' Grams come from shifted products or from their columns."""
    x = np.random.default_rng(1).uniform(-0.2, 1.0, (7, 8, 8, 3))
    y = np.arange(7) % 10
    ds = Dataset(x[:2], y[:2], x[:1], y[:1], x, y, "synthetic", 10)
    model = _conv_model()
    monkeypatch.setattr(energy_mod, "gram_plan", lambda g, b, n: PLANS[kind](g, b))
    calls = []
    real = energy_mod.block_grams
    monkeypatch.setattr(energy_mod, "block_grams", lambda *a: calls.append(1) or real(*a))
    fast = evaluate(
        model, cfg, dataset=ds, batch_size=3, ideal_accuracy=0.0, cache=TransferCache()
    ).to_dict()
    assert calls  # the shifted products were used
    monkeypatch.setattr(evaluate_mod, "conv_geometry", lambda layer, x: None)
    ref = evaluate(
        model, cfg, dataset=ds, batch_size=3, ideal_accuracy=0.0, cache=TransferCache()
    ).to_dict()
    for d in (fast, ref):
        for k in ("seconds", "setup_seconds", "per_image_seconds", "cache"):
            d.pop(k)
    _same(fast, ref)


def _same(a, b, path=""):
    """Equal structures; floats to 1e-10 (the error statistics and energies are sums
    whose last bits depend on the order of additions)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _same(u, v, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-10, abs=1e-300), path
    else:
        assert a == b, path
