"""Fidelity to the two studies: paper 2's error model as its code applies it, every
programmed cell with its error, ADC ranges fixed on the design, activation quantisation."""

from __future__ import annotations

import numpy as np
import pytest

from xbar.network import BatchNorm, Dense, Model, load_dataset, load_model
from xbar.network.config import AnalogConfig
from xbar.network.evaluate import evaluate, plan_network, program_chip
from xbar.network.noise import (
    half_range,
    match_range_scales,
    noise_plan,
    perturb_model_paper,
)
from xbar.network.nonideal import chip_rng
from xbar.network.peripherals import pow2_ranges, quantize_activations
from xbar.network.tiles import TransferCache
from xbar.network.zoo import wrn


def _program(model, cfg, chip=0):
    folded, plans = plan_network(model, cfg)
    noise = noise_plan(model, cfg.weight_range_rule)
    return folded, program_chip(plans, folded, cfg, chip, TransferCache(), noise)


def _effective(net, name, n_in):
    lay = net.layers[name]
    lay.input_scale = 1.0
    return lay.mvm(np.eye(n_in), None, track=False) - lay.bias_delta


def _bn(channels, rng, name):
    bn = BatchNorm(channels, name=name)
    bn.gamma = rng.uniform(0.5, 2.0, channels)
    bn.beta = rng.normal(0, 0.3, channels)
    bn.running_mean = rng.normal(0, 0.5, channels)
    bn.running_var = rng.uniform(0.3, 3.0, channels)
    return bn


# ------------------------------------------------------------------ merged-range rule
def test_match_range_by_hand():
    W = np.array([[-2.0, 1.0], [0.5, 2.0]])  # R_W = 2
    b = np.array([0.1, 0.3])  # R_b = 0.1, f = 0.05
    # b / f = 2, 6 -> merged values -2 .. 6 -> R_m = 4
    assert match_range_scales(W, b) == pytest.approx((4.0, 0.2))
    assert match_range_scales(W, None) == (2.0, None)
    assert half_range(np.arange(10.0), 0.5) == pytest.approx((7 - 2) / 2)  # 3rd..8th


def test_per_layer_noise_statistics_match_the_definition():
    """Weights get sigma R_m, biases sigma R_m f (on their own, much smaller scale)."""
    rng = np.random.default_rng(0)
    W = rng.uniform(-1, 1, (200, 150))
    b = rng.uniform(-0.05, 0.05, 150)
    m = Model([Dense(200, 150, W=W, b=b, name="fc")], (200,), 150)
    sigma = 0.1
    r_w, r_b = match_range_scales(W, b)
    cfg = AnalogConfig(programming_error="weight_range", programming_sigma=sigma)
    dW, db = [], []
    for chip in range(8):
        _, net = _program(m, cfg, chip)
        dW.append(_effective(net, "fc", 200) - W)
        db.append(net.layers["fc"].bias_delta)
    dW, db = np.array(dW), np.array(db)
    assert dW.std() == pytest.approx(sigma * r_w, rel=0.01)
    assert db.std() == pytest.approx(sigma * r_b, rel=0.06)
    assert r_b < 0.1 * r_w  # biases on their own scale
    # the earlier convention: biases on the weights' scale
    legacy = cfg.replace(weight_range_rule="folded_layer")
    _, net = _program(m, legacy)
    assert net.layers["fc"].bias_delta.std() == pytest.approx(sigma * half_range(W), rel=0.2)


def test_folded_batchnorm_is_perturbed_then_folded():
    """Dense + BatchNorm: the chip's conductances hold (W + dW) w_eff' and its bias
    (b + db) w_eff' + b_eff', the same draws as the digital reference chip."""
    rng = np.random.default_rng(1)
    W, b = rng.normal(0, 1, (30, 12)), rng.normal(0, 0.2, 12)
    m = Model([Dense(30, 12, W=W, b=b, name="fc"), _bn(12, rng, "bn")], (30,), 12)
    cfg = AnalogConfig(programming_error="weight_range", programming_sigma=0.2, seed=3)
    for chip in (0, 5):
        _, net = _program(m, cfg, chip)
        ref = perturb_model_paper(m, 0.2, chip_rng(3, chip)).fold_batchnorm().layer("fc")
        np.testing.assert_allclose(_effective(net, "fc", 30), ref.W, rtol=1e-9, atol=1e-12)
        folded_b = m.fold_batchnorm().layer("fc").b
        np.testing.assert_allclose(
            folded_b + net.layers["fc"].bias_delta, ref.b, rtol=1e-9, atol=1e-12
        )
    # the BN affine's own error: std over chips of w_eff' = sigma * r(w_eff)
    bn = m.layer("bn")
    w_eff, b_eff = bn.scale_shift()
    r_w, r_b = match_range_scales(w_eff, b_eff)
    draws = (
        np.array(
            [
                perturb_model_paper(m, 0.2, chip_rng(9, k)).layer("bn").scale_shift()[0]
                for k in range(400)
            ]
        )
        - w_eff
    )
    assert draws.std() == pytest.approx(0.2 * r_w, rel=0.05)


def test_unfolded_batchnorm_is_noisy_on_the_chip():
    """Pre-activation BN (BN before the matmul) cannot be folded: the chip runs its own
    copy with the perturbed affine (before: noise-free)."""
    rng = np.random.default_rng(2)
    m = Model([_bn(20, rng, "bn"), Dense(20, 5, W=rng.normal(0, 1, (20, 5)), name="fc")], (20,), 5)
    cfg = AnalogConfig(programming_error="weight_range", programming_sigma=0.1, seed=1)
    _, net = _program(m, cfg, 2)
    ref = perturb_model_paper(m, 0.1, chip_rng(1, 2))
    np.testing.assert_allclose(
        net.model.layer("bn").scale_shift(), ref.layer("bn").scale_shift(), rtol=1e-12
    )
    assert not np.allclose(net.model.layer("bn").scale_shift()[0], m.layer("bn").scale_shift()[0])
    _, legacy = _program(m, cfg.replace(weight_range_rule="folded_layer"), 2)
    assert legacy.model is None


@pytest.mark.parametrize("which", ["default", "wrn"])
def test_chips_equal_the_digital_reference(which):
    """xbar's weight_range chips (layer scaling, nothing else) predict exactly what the
    digital reference of paper 2's model predicts with the same draws."""
    data = load_dataset("digits")
    x = data.x_test[:60]
    m = load_model("default") if which == "default" else wrn(10, 1, input_shape=(8, 8, 1))
    cfg = AnalogConfig(programming_error="weight_range", programming_sigma=0.1, seed=5)
    for chip in (0, 1):
        folded, net = _program(m, cfg, chip)
        ref = perturb_model_paper(m, 0.1, chip_rng(5, chip)).fold_batchnorm()
        analog = (net.model or folded).forward(x, mvm=net.hook)
        np.testing.assert_allclose(analog, ref.forward(x), rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------ every cell gets its error
def test_padding_and_reference_cells_are_programmed():
    rng = np.random.default_rng(3)
    W = rng.normal(0, 1, (10, 3))
    m = Model([Dense(10, 3, W=W, name="fc")], (10,), 3)
    cfg = AnalogConfig(
        programming_error="state_independent",
        programming_sigma=0.05,
        array_rows=16,
        array_cols=8,
        r_col=2.0,
        r_row=1.0,
        mapping="offset",
        offset_subtraction="reference_column",
    )
    _, net = _program(m, cfg)
    tile = net.layers["fc"].tiles[0]
    assert tile.G_full.shape == (16, 8) and tile.G.shape == (10, 4)
    pad = tile.G_full[10:, :]
    assert np.all(pad >= cfg.g_min) and np.mean(pad > cfg.g_min) > 0.3  # errors, clipped
    ref_col = tile.G[:, 3]
    assert np.unique(ref_col).size == 10  # the reference column carries errors too
    # the padding loads the wires: outputs differ from an unpadded tile
    _, bare = _program(m, cfg.replace(pad_tiles=False))
    assert bare.layers["fc"].tiles[0].G_full is None
    x = rng.uniform(0, 1, (4, 10))
    a = net.layers["fc"].mvm(x, None)
    b2 = bare.layers["fc"].mvm(x, None)
    assert not np.allclose(a, b2)
    # column resistance only: unused columns cannot matter and are not simulated
    _, rows_only = _program(m, cfg.replace(r_row=0.0))
    assert rows_only.layers["fc"].tiles[0].G_full.shape == (16, 4)
    # exact solves of the padded tile agree with its cached transfer matrix (linear cells)
    V = rng.uniform(0, 0.2, (3, 10))
    exact = cfg.replace(nonlinear_mode="exact", device="sinh", device_k=1e-6)
    tile_exact = type(tile)(tile.spec, tile.G, tile.W_eff, G_full=tile.G_full)
    np.testing.assert_allclose(tile_exact.currents(V, exact), V @ tile.W_eff, rtol=1e-6)


# ------------------------------------------------------------------ ADC calibration
@pytest.fixture(scope="module")
def digits():
    return load_model("default"), load_dataset("digits")


def test_design_calibration_is_the_same_for_every_chip(digits):
    model, data = digits
    cfg = AnalogConfig(
        adc_bits=6,
        programming_error="state_proportional",
        programming_sigma=0.2,
        repeats=2,
        calibration_size=64,
    )
    r = evaluate(model, cfg, dataset=data, limit=40)
    design = evaluate(model, cfg.as_design(), dataset=data, limit=40)
    for a, b in zip(r.layer_stats, design.layer_stats, strict=True):
        assert a.adc_ranges == pytest.approx(b.adc_ranges, rel=1e-12)
        assert a.input_scale == pytest.approx(b.input_scale, rel=1e-12)
    per_chip = evaluate(model, cfg.replace(calibration="chip"), dataset=data, limit=40)
    assert any(
        a.adc_ranges != pytest.approx(b.adc_ranges, rel=1e-6)
        for a, b in zip(per_chip.layer_stats, design.layer_stats, strict=True)
    )


def test_calibration_in_batches_equals_one_batch(digits):
    model, data = digits
    cfg = AnalogConfig(adc_bits=5, calibration_size=100)
    folded, plans = plan_network(model, cfg)
    x = data.x_train[:100]
    nets = []
    for bs in (100, 7):
        net = program_chip(plans, folded, cfg, 0, TransferCache())
        net.calibrate(folded, x, bs)
        nets.append(net.ranges())
    for name in nets[0]:
        assert nets[0][name]["adc_ranges"] == pytest.approx(nets[1][name]["adc_ranges"], rel=1e-12)
        assert nets[0][name]["input_scale"] == nets[1][name]["input_scale"]


def test_full_scale_uses_the_rows_present_and_pow2():
    rng = np.random.default_rng(4)
    W = rng.normal(0, 1, (20, 4))
    m = Model([Dense(20, 4, W=W, name="fc")], (20,), 4)
    cfg = AnalogConfig(adc_bits=8, adc_range="full_scale", array_rows=16)
    _, net = _program(m, cfg)
    lay = net.layers["fc"]
    ranges = [lay._adc_range(t.spec) for t in lay.tiles]
    dg = cfg.g_max - cfg.g_min
    assert ranges == pytest.approx([16 * 0.2 * dg, 4 * 0.2 * dg])
    assert pow2_ranges(
        [3.0, 1.0, 0.2, 2.0, 0.3], ["slice0", "slice1", "slice2", "small/slice0", "small/slice1"]
    ) == pytest.approx([3.0, 1.5, 0.375, 2.0, 0.5])
    sliced = AnalogConfig(adc_bits=8, weight_bits=8, weight_slices=4, adc_pow2=True)
    _, net = _program(m, sliced)
    lay = net.layers["fc"]
    lay.calibrate([rng.uniform(0, 1, (50, 20))], None)
    r = np.array(lay.adc_ranges)
    ratio = np.log2(r.max() / r)
    np.testing.assert_allclose(ratio, np.rint(ratio), atol=1e-12)


# ------------------------------------------------------------ activation quantisation
def test_activation_quantisation():
    x = np.array([[0.0, 0.26, 0.5, 1.2]])
    np.testing.assert_allclose(quantize_activations(x, 1.0, 2, False), [[0, 1 / 3, 2 / 3, 1]])
    np.testing.assert_allclose(quantize_activations(-x, 1.0, 3, True), [[0, -1 / 3, -2 / 3, -1]])
    rng = np.random.default_rng(5)
    W = rng.normal(0, 1, (16, 3))
    m = Model([Dense(16, 3, W=W, name="fc")], (16,), 3)
    cfg = AnalogConfig(activation_bits=3, adc_range=None)
    _, net = _program(m, cfg)
    lay = net.layers["fc"]
    X = rng.uniform(0, 2, (500, 16))
    lay.calibrate([X], None)
    assert not lay.act_signed
    assert lay.act_range == pytest.approx(np.percentile(X, 99.98))
    Y = lay.mvm(X, None, track=False)
    np.testing.assert_allclose(
        Y, quantize_activations(X, lay.act_range, 3, False) @ W, rtol=1e-9, atol=1e-9
    )


def test_qat_straight_through_estimator():
    """Forward with q(x); the weight gradient uses q(x), the input gradient passes through."""
    from xbar.network.qat import ActivationQuantizer

    rng = np.random.default_rng(6)
    W = rng.normal(0, 1, (6, 3))
    m = Model([Dense(6, 3, W=W, name="fc")], (6,), 3)
    q = ActivationQuantizer(3, percentile=100)
    x = rng.uniform(0, 1, (5, 6))
    y = m.forward(x, training=True, mvm=q.training_hook)
    xq = quantize_activations(x, x.max(), 3, False)
    np.testing.assert_allclose(y, xq @ W + m.layer("fc").b)
    q.store(m)
    dy = rng.normal(0, 1, (5, 3))
    dx = m.backward(dy)
    np.testing.assert_allclose(m.layer("fc").grads["W"], xq.T @ dy)
    np.testing.assert_allclose(dx, dy @ W.T)


def test_train_with_activation_bits_runs():
    from xbar.network.train import train

    res = train("default", "digits", epochs=1, activation_bits=4, seed=0)
    assert res.history and np.isfinite(res.history[0]["loss"])
    assert res.history[0]["val_accuracy"] > 0.3
