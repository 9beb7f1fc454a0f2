"""Independent implementations of the two papers' models against xbar, round 2.

Plain numpy references written from ``docs/papers.md`` and paper 2's released code as
that file states it (``networks/noisy_layers.py``: ``p' = p + sigma r_p n + mu r_p``,
``cal_range`` with its inner-fraction variant, the merged-range rule, batch-norm as a
noisy layer), with xbar only the thing under test through its public API
(``AnalogConfig``, ``plan_network`` / ``program_chip``, ``evaluate``, the ``noise`` and
``peripherals`` functions, ``xbar infer --json`` and ``xbar sweep``):

* paper 2's mean offset ``mu`` (``programming_mu``) on weights, biases and batch-norm
  affines, folded or digital, on chips and digitally, through the CLI and sweeps;
* the inner-fraction half range (``weight_range_fraction``, the code's ``noise_range``);
* paper 2's ADC as uniform quantisation of layer outputs (``output_levels``: L levels
  over the min..max of each layer's outputs on the calibration images);
* edge cases of the noise model: all-zero weights, all-equal biases, f = R_b / R_W far
  from 1, layers whose bias is zero, grouped and depthwise convolutions (the parameter
  is the kernel, not the block-diagonal array matrix), chips seeded from
  ``SeedSequence(seed, spawn_key=(k,))`` in the documented draw order.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from test_papers_independent import make_bn
from test_papers_independent import ref_bn_affine as bn_affine

from xbar.errors import ConfigError
from xbar.network import (
    AnalogConfig,
    Conv2D,
    Dense,
    Flatten,
    Model,
    ReLU,
    evaluate,
    map_weights,
    save_model,
)
from xbar.network.arrays import Dataset
from xbar.network.evaluate import plan_network, program_chip
from xbar.network.noise import noise_plan, perturb_model_paper
from xbar.network.peripherals import output_range, quantize_levels
from xbar.network.tiles import TransferCache

FLOOR = 1e-8  # the code's epsilon of a noise scale


# ======================================================================================
# the reference: paper 2's noise model (noisy_layers.py as docs/papers.md states it)
# ======================================================================================
def cal_range(x, q=1.0):
    """Half range of a tensor; with q < 1 between the k-th smallest and k-th largest
    values, k = floor(n (1 - q) / 2) + 1 (the code's ``cal_range``)."""
    v = np.sort(np.ravel(x))
    n = v.size
    if q == 1:
        return (v[-1] - v[0]) / 2
    k = max(int(n * (1 - q) / 2) + 1, 1)
    return (v[min(n - k + 1, n) - 1] - v[k - 1]) / 2


def ref_scales(W, b, q=1.0):
    """(r_W, r_b) of one noisy layer: each its own range floored at 1e-8; merged when both
    ranges are non-zero: f = R_b / R_W, R_m = R(concat(b / f, W)), r_W = R_m, r_b = f R_m."""
    r_w = max(cal_range(W, q), FLOOR)
    if b is None:
        return r_w, None
    r_b = max(cal_range(b, q), FLOOR)
    R_w, R_b = cal_range(W, q), cal_range(b, q)
    if R_w != 0 and R_b != 0:
        f = R_b / R_w
        R_m = cal_range(np.concatenate([np.ravel(b) / f, np.ravel(W)]), q)
        return R_m, R_m * f
    return r_w, r_b


def bn_mlp(rng):
    """``bn0 -> l1 -> bn1 -> ReLU -> l2`` (bn0 cannot fold: it comes first) and its parts
    ``(model, bn0, bn1, (W1, b1), (W2, b2))``."""
    bn0, bn1 = make_bn(6, rng, "bn0"), make_bn(5, rng, "bn1")
    W1, b1 = rng.normal(0, 0.5, (6, 5)), rng.normal(0, 0.1, 5)
    W2, b2 = rng.normal(0, 0.5, (5, 3)), rng.normal(0, 0.1, 3)
    model = Model(
        [bn0, Dense(6, 5, W=W1, b=b1, name="l1"), bn1, ReLU(), Dense(5, 3, W=W2, b=b2, name="l2")],
        (6,), 3,
    )  # fmt: skip
    return model, bn0, bn1, (W1, b1), (W2, b2)


def chip_generator(seed, k):
    """Chip k's generator as documented: SeedSequence(seed, spawn_key=(k,))."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))


def ref_mlp_chip(params, sigma, mu, rng, q=1.0):
    """Perturbed (W, b) of every dense layer, documented draw order: per layer the bias
    draws, then the weight draws (C order)."""
    out = []
    for W, b in params:
        r_w, r_b = ref_scales(W, b, q)
        n_b = rng.standard_normal(b.shape)
        n_w = rng.standard_normal(W.shape)
        out.append((W + r_w * (sigma * n_w + mu), b + r_b * (sigma * n_b + mu)))
    return out


def mlp_logits(params, x):
    h = x
    for i, (W, b) in enumerate(params):
        h = h @ W + b
        if i < len(params) - 1:
            h = np.maximum(h, 0)
    return h


def program(model, cfg, chip=0):
    folded, plans = plan_network(model, cfg)
    noise = noise_plan(model, cfg.weight_range_rule, cfg.weight_range_fraction)
    return folded, program_chip(plans, folded, cfg, chip, TransferCache(), noise)


def chip_matrix(net, name, n_in):
    """The chip's effective weight matrix of layer ``name`` (ideal peripherals) and its
    bias change."""
    layer = net.layers[name]
    layer.input_scale = 1.0
    return layer.mvm(np.eye(n_in), None, track=False) - layer.bias_delta, layer.bias_delta


def mlp(rng, sizes=(6, 5, 3), flatten=False):
    layers, params = ([Flatten(name="flat")] if flatten else []), []
    for i, (a, c) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        W, b = rng.normal(0, 0.5, (a, c)), rng.normal(0, 0.1, c)
        params.append((W, b))
        layers.append(Dense(a, c, W=W, b=b, name=f"l{i + 1}"))
        if i < len(sizes) - 2:
            layers.append(ReLU(name=f"relu{i + 1}"))
    shape = (1, 1, sizes[0]) if flatten else (sizes[0],)
    return Model(layers, shape, sizes[-1]), params


WR = dict(programming_error="weight_range", g_min=0.0)


# ======================================================================================
# 1. paper 2's mean offset mu: p' = p + sigma r n + mu r
# ======================================================================================
@pytest.mark.parametrize("mu", [0.07, -0.05])
def test_mean_offset_alone_shifts_every_parameter_by_mu_r(mu):
    """sigma = 0: every weight, bias and batch-norm affine (folded or kept digital) moves
    by exactly mu times its tensor's noise scale."""
    rng = np.random.default_rng(1)
    model, bn0, bn1, (W1, b1), (W2, b2) = bn_mlp(rng)
    chip = perturb_model_paper(model, 0.0, np.random.default_rng(3), mu=mu)
    for name, W, b in (("l1", W1, b1), ("l2", W2, b2)):
        r_w, r_b = ref_scales(W, b)
        np.testing.assert_allclose(chip.layer(name).W, W + mu * r_w, rtol=1e-13)
        np.testing.assert_allclose(chip.layer(name).b, b + mu * r_b, rtol=1e-13, atol=1e-15)
    for name, bn in (("bn0", bn0), ("bn1", bn1)):
        w, t = bn_affine(bn)
        r_w, r_t = ref_scales(w, t)
        w2, t2 = bn_affine(chip.layer(name))
        np.testing.assert_allclose(w2, w + mu * r_w, rtol=1e-12)
        np.testing.assert_allclose(t2, t + mu * r_t, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mapping", ["differential", "offset"])
def test_mean_offset_on_chips_equals_the_reference_chip(mapping):
    """Chips with sigma and mu (g_min = 0, layer scaling, no clip reached): each layer's
    matrix and bias on the chip are the reference's W + r_W (sigma n + mu), b + r_b
    (sigma n + mu), with n drawn from SeedSequence(seed, spawn_key=(k,)) in the
    documented order.  (Offset cells clip at 0 S: the offset case uses mu > 0 and a
    small sigma so that no cell reaches it.)"""
    rng = np.random.default_rng(2)
    model, params = mlp(rng)
    sigma, mu = (0.05, 0.04) if mapping == "differential" else (0.002, 0.05)
    cfg = AnalogConfig(programming_sigma=sigma, programming_mu=mu, mapping=mapping, seed=9, **WR)
    for k in range(3):
        ref = ref_mlp_chip(params, sigma, mu, chip_generator(9, k))
        _, net = program(model, cfg, k)
        for (W, b), (W2, b2), name in zip(params, ref, ("l1", "l2"), strict=True):
            got_W, db = chip_matrix(net, name, W.shape[0])
            np.testing.assert_allclose(got_W, W2, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(b + db, b2, rtol=1e-9, atol=1e-12)


def test_mean_offset_with_batchnorm_folded_after_its_noise():
    """A batch-norm folded into the layer before it: W'' = (W + dW) w_eff', b'' = (b + db)
    w_eff' + b_eff', every d = r (sigma n + mu); draws: bias, weights, then b_eff, w_eff."""
    rng = np.random.default_rng(5)
    W, b = rng.normal(0, 0.5, (7, 4)), rng.normal(0, 0.1, 4)
    bn = make_bn(4, rng, "bn")
    model = Model([Dense(7, 4, W=W, b=b, name="fc"), bn], (7,), 4)
    sigma, mu = 0.06, -0.03
    cfg = AnalogConfig(programming_sigma=sigma, programming_mu=mu, seed=4, **WR)
    w, t = bn_affine(bn)
    (r_w, r_b), (r_s, r_t) = ref_scales(W, b), ref_scales(w, t)
    for k in range(2):
        g = chip_generator(4, k)
        n_b, n_w, n_t, n_s = (g.standard_normal(s) for s in ((4,), (7, 4), (4,), (4,)))
        w2, t2 = w + r_s * (sigma * n_s + mu), t + r_t * (sigma * n_t + mu)
        W2 = (W + r_w * (sigma * n_w + mu)) * w2
        b2 = (b + r_b * (sigma * n_b + mu)) * w2 + t2
        folded, net = program(model, cfg, k)
        got_W, db = chip_matrix(net, "fc", 7)
        np.testing.assert_allclose(got_W, W2, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(folded.layer("fc").b + db, b2, rtol=1e-9, atol=1e-12)


def test_mean_offset_statistics_over_chips():
    """Per-weight error over chips: mean mu r_W, standard deviation sigma r_W."""
    rng = np.random.default_rng(6)
    W, b = rng.uniform(-1, 1, (40, 30)), rng.normal(0, 0.05, 30)
    sigma, mu = 0.05, 0.02
    model = Model([Dense(40, 30, W=W, b=b, name="fc")], (40,), 30)
    cfg = AnalogConfig(programming_sigma=sigma, programming_mu=mu, **WR)
    r_w, _ = ref_scales(W, b)
    err = np.ravel([chip_matrix(program(model, cfg, k)[1], "fc", 40)[0] - W for k in range(6)])
    se = sigma * r_w / math.sqrt(err.size)
    assert abs(err.mean() - mu * r_w) < 5 * se
    assert err.std() == pytest.approx(sigma * r_w, rel=0.03)


def test_mean_offset_through_the_cli_and_a_sweep(tmp_path, capsys):
    """``xbar infer --json --programming-mu`` and ``xbar sweep --field programming_mu``:
    the per-chip accuracies are the reference chips' accuracies (numpy forward pass of
    the reference perturbation, documented chip seeds and draw order)."""
    from xbar.cli import main

    rng = np.random.default_rng(8)
    model, params = mlp(rng, (6, 8, 3), flatten=True)
    x_train, x = rng.uniform(0, 1, (20, 6)), rng.uniform(0, 1, (150, 6))
    y = np.argmax(mlp_logits(params, x), axis=1)
    save_model(model, tmp_path / "m.npz")
    img = (-1, 1, 1, 6)
    np.savez(
        tmp_path / "d.npz", x_train=x_train.reshape(img), y_train=np.zeros(20, np.int64),
        x_val=x[:1].reshape(img), y_val=y[:1], x_test=x.reshape(img), y_test=y,
    )  # fmt: skip
    sigma, seed = 0.15, 3
    io = ["--model", str(tmp_path / "m.npz"), "--dataset", str(tmp_path / "d.npz")]
    flags = ["--programming-error", "weight_range", "--programming-sigma", str(sigma),
             "--g-min", "0", "--seed", str(seed)]  # fmt: skip

    def expect(mu, chips):
        out = []
        for k in range(chips):
            chip = ref_mlp_chip(params, sigma, mu, chip_generator(seed, k))
            out.append(float(np.mean(np.argmax(mlp_logits(chip, x), axis=1) == y)))
        return out

    assert main(["infer", *io, *flags, "--programming-mu", "0.1", "--repeats", "3", "--json",
                 "--no-energy", "--no-progress"]) == 0  # fmt: skip
    got = json.loads(capsys.readouterr().out)
    assert got["config"]["programming_mu"] == 0.1
    assert got["accuracies"] == pytest.approx(expect(0.1, 3), abs=1e-12)
    assert min(got["accuracies"]) < 1.0  # the errors act
    out = tmp_path / "mu.csv"
    argv = ["sweep", *io, *flags, "--field", "programming_mu", "--values=-0.1,0,0.1",
            "--repeats", "2", "--serial", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    rows = [r for r in csv.reader(line for line in out.open() if not line.startswith("#"))]
    table = {(float(r[1]), int(r[2])): float(r[3]) for r in rows[1:]}
    for mu in (-0.1, 0.0, 0.1):
        assert [table[(mu, k)] for k in range(2)] == pytest.approx(expect(mu, 2), abs=1e-12)


def test_mean_offset_is_checked_and_named():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="programming_mu"):
            AnalogConfig(programming_error="weight_range", programming_mu=bad)
    with pytest.raises(ConfigError, match="programming_mu"):
        AnalogConfig(programming_error="state_independent", programming_mu=0.1).validate()
    assert AnalogConfig().programming_mu == 0.0
    cfg = AnalogConfig(programming_error="weight_range", programming_sigma=0.1, programming_mu=0.2)
    assert cfg.as_design().programming_mu == 0.0 and cfg.as_ideal().programming_mu == 0.0


# ======================================================================================
# 2. the inner-fraction half range (the code's noise_range)
# ======================================================================================
@pytest.mark.parametrize("q", [1.0, 0.999, 0.98, 0.9, 0.5, 0.01])
def test_inner_fraction_half_range_is_the_papers(q):
    """noise_plan's r_W, r_b with ``fraction`` q equal the reference's for tensors with
    outliers, ties and odd sizes; chips with sigma = 0, mu = 1 hold exactly W + r_W."""
    rng = np.random.default_rng(int(q * 1000))
    W = rng.standard_normal((17, 9))
    W[0, 0], W[3, 4] = 9.0, -7.0  # outliers the inner range drops
    W[5] = 0.25  # ties
    b = np.concatenate([rng.normal(0, 0.1, 8), [2.0]])
    model = Model([Dense(17, 9, W=W, b=b, name="fc")], (17,), 9)
    plan = noise_plan(model, "match_range", q)[0]["fc"]
    r_w, r_b = ref_scales(W, b, q)
    assert plan.r_W == pytest.approx(r_w, rel=1e-12)
    assert plan.r_b == pytest.approx(r_b, rel=1e-12)
    cfg = AnalogConfig(programming_sigma=0.0, programming_mu=1.0, weight_range_fraction=q, **WR)
    got_W, db = chip_matrix(program(model, cfg)[1], "fc", 17)
    np.testing.assert_allclose(got_W - W, r_w, rtol=1e-9)
    np.testing.assert_allclose(db, r_b, rtol=1e-9)


def test_inner_fraction_of_tiny_tensors_and_its_checks():
    """n = 1 and 2 values (k = 1: the full range) and the field's bounds."""
    for x, q in (([3.0], 0.5), ([1.0, -1.0], 0.5), ([1.0, 2.0, 4.0], 0.4)):
        W = np.array(x)[:, None]
        model = Model([Dense(len(x), 1, W=W, name="fc")], (len(x),), 1)
        assert noise_plan(model, "match_range", q)[0]["fc"].r_W == ref_scales(W, None, q)[0]
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="weight_range_fraction"):
            AnalogConfig(programming_error="weight_range", weight_range_fraction=bad)


# ======================================================================================
# 3. paper 2's ADC: uniform quantisation of layer outputs, range from training data
# ======================================================================================
def ref_quantize(y, lo, hi, L):
    """L levels lo + k (hi - lo) / (L - 1); clip, round to the nearest."""
    if hi <= lo:
        return np.full_like(y, lo)
    step = (hi - lo) / (L - 1)
    return lo + np.rint((np.clip(y, lo, hi) - lo) / step) * step


@pytest.mark.parametrize("L", [2, 3, 7, 18, 1000])
def test_output_quantiser_levels(L):
    rng = np.random.default_rng(L)
    y = rng.normal(0, 2, 500)
    lo, hi = -1.5, 2.5
    q, clipped = quantize_levels(y, lo, hi, L)
    np.testing.assert_allclose(q, ref_quantize(y, lo, hi, L), rtol=0, atol=1e-12)
    assert clipped == np.count_nonzero((y < lo) | (y > hi))
    assert len(np.unique(np.round(q, 9))) <= L
    assert output_range(y) == (y.min(), y.max())
    np.testing.assert_array_equal(quantize_levels(y, 1.0, 1.0, L)[0], 1.0)  # degenerate


def ref_output_quantised(params, x_cal, x, L):
    """Calibrate each layer's (lo, hi) = min, max of its outputs X W + b on the
    calibration images, through the quantised layers before it; run ``x``."""
    ranges, h = [], x_cal
    for i, (W, b) in enumerate(params):
        y = h @ W + b
        ranges.append((y.min(), y.max()))
        h = ref_quantize(y, *ranges[-1], L)
        h = np.maximum(h, 0) if i < len(params) - 1 else h
    h = x
    for i, ((W, b), r) in enumerate(zip(params, ranges, strict=True)):
        h = ref_quantize(h @ W + b, *r, L)
        h = np.maximum(h, 0) if i < len(params) - 1 else h
    return h, ranges


@pytest.mark.parametrize("L", [3, 6, 18])
def test_output_levels_on_an_mlp_equal_the_reference(L, tmp_path, capsys):
    """The chip (design calibration on training images) gives the reference's quantised
    logits; ``evaluate`` and ``xbar infer`` label every test image as the reference does
    (images whose quantised logits tie for the maximum are left out: round-off decides
    those)."""
    from xbar.cli import main

    rng = np.random.default_rng(10 + L)
    model, params = mlp(rng, (6, 8, 4), flatten=True)
    x_train, x = rng.uniform(0, 1, (40, 6)), rng.uniform(0, 1, (300, 6))
    cfg = AnalogConfig(output_levels=L, calibration_size=25)
    ref, ranges = ref_output_quantised(params, x_train[:25], x, L)
    folded, net = program(model, cfg)
    net.calibrate(folded, x_train[:25].reshape(-1, 1, 1, 6))
    for (lo, hi), name in zip(ranges, ("l1", "l2"), strict=True):
        assert net.ranges()[name]["out_range"] == pytest.approx((lo, hi), rel=1e-12)
    got = folded.forward(x.reshape(-1, 1, 1, 6), mvm=net.hook)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    assert not np.allclose(got, mlp_logits(params, x), atol=1e-3)  # the quantiser acts
    top2 = np.sort(ref, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-6
    assert clear.sum() >= (2 if L < 5 else 20)  # 3 levels: nearly every image ties
    x, y = x[clear], np.argmax(ref[clear], axis=1)
    img = (-1, 1, 1, 6)
    data = Dataset(x_train.reshape(img), np.zeros(40, np.int64), x[:0].reshape(img),
                   y[:0], x.reshape(img), y, "toy", 4)  # fmt: skip
    assert evaluate(model, cfg, dataset=data).accuracy == 1.0
    save_model(model, tmp_path / "m.npz")
    np.savez(tmp_path / "d.npz", x_train=data.x_train, y_train=data.y_train,
             x_val=x[:1].reshape(img), y_val=y[:1], x_test=data.x_test, y_test=y)  # fmt: skip
    argv = ["infer", "--model", str(tmp_path / "m.npz"), "--dataset", str(tmp_path / "d.npz"),
            "--output-levels", str(L), "--calibration-size", "25", "--json", "--no-progress",
            "--no-energy"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == 1.0


def ref_conv(x, W, b):
    """Valid 2-D cross-correlation, NHWC images, kernel (kh, kw, c_in, c_out)."""
    kh, kw = W.shape[:2]
    n, h, w, _ = x.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, W.shape[3]))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            out[:, i, j] = np.einsum("nabc,abco->no", x[:, i : i + kh, j : j + kw], W)
    return out + b


def test_output_levels_on_a_convolution_use_one_range_per_layer():
    """A convolution's range is the min..max over all its outputs (every pixel and
    channel of the calibration images), one per layer, not per channel."""
    rng = np.random.default_rng(12)
    K, kb = rng.normal(0, 0.5, (3, 3, 1, 2)), np.array([0.3, -0.2])
    W2, b2 = rng.normal(0, 0.5, (18, 3)), rng.normal(0, 0.1, 3)
    model = Model(
        [Conv2D(1, 2, 3, W=K, b=kb, name="conv"), ReLU(), Flatten(),
         Dense(18, 3, W=W2, b=b2, name="fc")],
        (5, 5, 1), 3,
    )  # fmt: skip
    x_cal, x = rng.uniform(0, 1, (30, 5, 5, 1)), rng.uniform(0, 1, (20, 5, 5, 1))
    L = 5
    cfg = AnalogConfig(output_levels=L)
    folded, net = program(model, cfg)
    net.calibrate(folded, x_cal)
    y1 = ref_conv(x_cal, K, kb)
    r1 = (y1.min(), y1.max())
    h = np.maximum(ref_quantize(y1, *r1, L), 0).reshape(30, -1)
    y2 = h @ W2 + b2
    r2 = (y2.min(), y2.max())
    assert net.ranges()["conv"]["out_range"] == pytest.approx(r1, rel=1e-12)
    assert net.ranges()["fc"]["out_range"] == pytest.approx(r2, rel=1e-12)
    h = np.maximum(ref_quantize(ref_conv(x, K, kb), *r1, L), 0).reshape(20, -1)
    ref = ref_quantize(h @ W2 + b2, *r2, L)
    np.testing.assert_allclose(folded.forward(x, mvm=net.hook), ref, rtol=1e-9, atol=1e-12)


def test_output_levels_are_checked_and_calibrated_on_the_design():
    for bad in (1, -2):
        with pytest.raises(ConfigError, match="output_levels"):
            AnalogConfig(output_levels=bad)
    cfg = AnalogConfig(output_levels=8, programming_error="weight_range", programming_sigma=0.2)
    assert cfg.as_design().output_levels == 8 and cfg.as_ideal().output_levels == 0
    from xbar.network.evaluate import calibration_images

    assert calibration_images(cfg, 100) == 100 and calibration_images(AnalogConfig(), 100) == 0


# ======================================================================================
# 4. edge cases of the noise model
# ======================================================================================
def test_all_zero_weights_keep_their_bias_noise_and_the_draw_order():
    """A layer whose weights are all 0 (R_W = 0: r_W = 1e-8, r_b = R(b), no merging) still
    gets its bias error, and the later layers' draws are the reference's (before the fix
    the zero layer drew nothing on a chip: no bias error, and every later layer drew
    another chip's numbers; max |W_chip - W_ref| of the next layer was 0.55)."""
    rng = np.random.default_rng(14)
    params = [(np.zeros((5, 4)), rng.normal(size=4)), (rng.normal(size=(4, 3)), rng.normal(size=3))]
    model = Model(
        [Dense(5, 4, W=params[0][0], b=params[0][1], name="l1"), ReLU(),
         Dense(4, 3, W=params[1][0], b=params[1][1], name="l2")],
        (5,), 3,
    )  # fmt: skip
    sigma = 0.1
    for mapping in ("differential", "offset"):
        cfg = AnalogConfig(programming_sigma=sigma, mapping=mapping, **WR)
        ref = ref_mlp_chip(params, sigma, 0.0, chip_generator(0, 0))
        _, net = program(model, cfg)
        for (W, b), (W2, b2), name in zip(params, ref, ("l1", "l2"), strict=True):
            got_W, db = chip_matrix(net, name, W.shape[0])
            np.testing.assert_allclose(got_W, W2, rtol=1e-9, atol=1e-8)  # 1e-8: the floor
            np.testing.assert_allclose(b + db, b2, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "case", ["equal-bias", "zero-bias", "f-huge", "f-tiny", "single-output", "equal-weights"]
)
def test_noise_scales_at_the_edges_of_the_merged_range_rule(case):
    """All-equal biases (R_b = 0: no merge, r_b = 1e-8), a zero bias (what a layer
    without bias becomes), f = R_b / R_W of 1e6 and 1e-6, a single output, all-equal
    weights: xbar's scales are the reference's, and a chip with sigma = 0, mu = 1 holds
    W + r_W, b + r_b."""
    rng = np.random.default_rng(15)
    W, b = rng.uniform(-1, 0.5, (6, 4)), rng.normal(0, 0.1, 4)
    if case == "equal-bias":
        b = np.full(4, 0.3)
    elif case == "zero-bias":
        b = np.zeros(4)
    elif case == "f-huge":
        b = rng.normal(0, 1e6, 4)
    elif case == "f-tiny":
        b = rng.normal(0, 1e-6, 4)
    elif case == "single-output":
        W, b = W[:, :1], b[:1]
    elif case == "equal-weights":
        W = np.full((6, 4), -0.4)
    n_out = W.shape[1]
    model = Model([Dense(6, n_out, W=W, b=b, name="fc")], (6,), n_out)
    r_w, r_b = ref_scales(W, b)
    plan = noise_plan(model)[0]["fc"]
    assert (plan.r_W, plan.r_b) == pytest.approx((r_w, r_b), rel=1e-12)
    cfg = AnalogConfig(programming_sigma=0.0, programming_mu=1.0, **WR)
    got_W, db = chip_matrix(program(model, cfg)[1], "fc", 6)
    np.testing.assert_allclose(got_W, W + r_w, rtol=1e-9, atol=1e-9 * r_w)
    np.testing.assert_allclose(db, r_b, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("groups", [2, 4])
def test_grouped_and_depthwise_convolutions_perturb_the_kernel(groups):
    """The parameter of a grouped convolution is its kernel (kh, kw, c_in / g, c_out):
    R(W) is over the kernel, not over the block-diagonal array matrix with zeros between
    the blocks, the draws are the kernel's (C order), and cells between the blocks hold
    no parameter and get no error: the chip equals the reference perturbation.  Before
    the fix xbar took R over the matrix (r_W 0.805 for the reference's 0.738 with 2
    groups, 0.763 for 0.707 depthwise: the zeros widen the range of all-positive
    kernels), put errors on the empty cells, and ``perturb_model_paper`` raised a raw
    ValueError."""
    rng = np.random.default_rng(16 + groups)
    K = rng.uniform(0.2, 1.0, (3, 3, 4 // groups, 4))  # all positive, as after training
    kb = rng.uniform(-0.1, 0.1, 4)
    W2, b2 = rng.normal(size=(64, 3)), rng.normal(size=3)
    model = Model(
        [Conv2D(4, 4, 3, padding=1, groups=groups, W=K, b=kb, name="dw"), Flatten(),
         Dense(64, 3, W=W2, b=b2, name="fc")],
        (4, 4, 4), 3,
    )  # fmt: skip
    r_w, r_b = ref_scales(K, kb)
    assert noise_plan(model)[0]["dw"].r_W == pytest.approx(r_w, rel=1e-12)
    sigma, mu = 0.1, 0.02
    g = chip_generator(0, 0)
    n_b, n_k = g.standard_normal(4), g.standard_normal(K.shape)
    K2, kb2 = K + r_w * (sigma * n_k + mu), kb + r_b * (sigma * n_b + mu)
    digital = perturb_model_paper(model, sigma, chip_generator(0, 0), mu=mu)
    np.testing.assert_allclose(digital.layer("dw").W, K2, rtol=1e-12)
    np.testing.assert_allclose(digital.layer("dw").b, kb2, rtol=1e-12)
    cfg = AnalogConfig(programming_sigma=sigma, programming_mu=mu, **WR)
    _, net = program(model, cfg)
    got, db = chip_matrix(net, "dw", 36)
    cig, cog = 4 // groups, 4 // groups
    expect = np.zeros((9, 4, 4))  # rows (kh kw, c_in), columns c_out: the block diagonal
    for o in range(4):
        grp = o // cog
        expect[:, grp * cig : (grp + 1) * cig, o] = K2.reshape(9, cig, 4)[:, :, o]
    np.testing.assert_allclose(got, expect.reshape(36, 4), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(kb + db, kb2, rtol=1e-9, atol=1e-12)


def test_chips_are_seeded_from_the_documented_seed_sequence():
    """Chip k's first draws are SeedSequence(seed, spawn_key=(k,))'s: chips 0..3 of seed 5
    reproduce run after run and differ from each other (the bias errors of the first
    layer are r_b sigma n with n that generator's first normals)."""
    rng = np.random.default_rng(17)
    model, params = mlp(rng)
    sigma = 0.1
    cfg = AnalogConfig(programming_sigma=sigma, seed=5, **WR)
    r_b = ref_scales(*params[0])[1]
    seen = []
    for k in range(4):
        db = chip_matrix(program(model, cfg, k)[1], "l1", 6)[1]
        np.testing.assert_allclose(db, r_b * sigma * chip_generator(5, k).standard_normal(5))
        np.testing.assert_array_equal(db, chip_matrix(program(model, cfg, k)[1], "l1", 6)[1])
        seen.append(db)
    assert len({tuple(np.round(d, 12)) for d in seen}) == 4


def test_unfoldable_batchnorm_on_a_chip_gets_its_error_after_the_matmul_layers():
    """A batch-norm that cannot fold (before the first layer) stays a digital layer of the
    chip's model; its affine gets r (sigma n + mu) from the chip's generator after every
    matmul layer has drawn (bias, weights, then folded batch-norms: b_eff, w_eff)."""
    rng = np.random.default_rng(18)
    model, bn0, bn1, (W1, b1), (W2, b2) = bn_mlp(rng)
    sigma, mu, seed = 0.08, 0.03, 2
    cfg = AnalogConfig(programming_sigma=sigma, programming_mu=mu, seed=seed, **WR)
    for k in range(2):
        g = chip_generator(seed, k)
        for shape in ((5,), (6, 5), (5,), (5,), (3,), (5, 3)):  # l1 b, W, bn1; l2 b, W
            g.standard_normal(shape)
        w, t = bn_affine(bn0)
        r_w, r_t = ref_scales(w, t)
        n_t, n_w = g.standard_normal(6), g.standard_normal(6)
        _, net = program(model, cfg, k)
        w2, t2 = bn_affine(net.model.layer("bn0"))
        np.testing.assert_allclose(w2, w + r_w * (sigma * n_w + mu), rtol=1e-12)
        np.testing.assert_allclose(t2, t + r_t * (sigma * n_t + mu), rtol=1e-12, atol=1e-14)


def test_biscale_threshold_is_strict_and_the_shift_a_power_of_two():
    """'Weights below a threshold' are stored amplified by 2^k: |w| < t max|W| is small,
    |w| = t max|W| is not (binary fractions, so no round-off decides)."""
    W = np.array([[1.0, 0.25, 0.2421875, -0.25], [-0.125, 0.0, -1.0, 0.5]])
    for k in (1, 2):
        cfg = AnalogConfig(weight_scaling="biscale", biscale_shift=k, biscale_threshold=0.25)
        m = map_weights(W, cfg)
        assert [p.coef for p in m.planes] == [1.0, 2.0**-k]
        small = np.abs(W) < 0.25
        gp_s, gn_s = m.planes[1].conductances(cfg.g_min, cfg.g_max)
        dg = cfg.g_max - cfg.g_min
        np.testing.assert_allclose((gp_s - gn_s) / dg, np.where(small, W * 2**k, 0), atol=1e-15)
        gp_m, gn_m = m.planes[0].conductances(cfg.g_min, cfg.g_max)
        np.testing.assert_allclose((gp_m - gn_m) / dg, np.where(small, 0, W), atol=1e-15)
    with pytest.raises(ConfigError, match="biscale_threshold"):
        AnalogConfig(weight_scaling="biscale", biscale_shift=3, biscale_threshold=0.25).validate()


@pytest.mark.parametrize("mapping", ["differential", "offset"])
def test_paper2_error_with_g_min_above_zero(mapping):
    """With g_min > 0 (a finite on/off ratio) the per-weight error is still r_W (sigma n +
    mu): the conductance error is sized by g_max - g_min, and the zero weight's cells
    (g_min, or the offset level) carry no current difference of their own."""
    rng = np.random.default_rng(19)
    W, b = rng.uniform(-1, 1, (9, 6)), rng.normal(0, 0.1, 6)
    model = Model([Dense(9, 6, W=W, b=b, name="fc")], (9,), 6)
    r_w, r_b = ref_scales(W, b)
    cfg = AnalogConfig(
        programming_error="weight_range", programming_sigma=0.0, programming_mu=0.05,
        g_min=2e-5, g_max=1e-4, mapping=mapping,
    )  # fmt: skip
    got_W, db = chip_matrix(program(model, cfg)[1], "fc", 9)
    np.testing.assert_allclose(got_W, W + 0.05 * r_w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(db, 0.05 * r_b, rtol=1e-9)


def test_offset_cells_without_clipping_hold_exactly_paper_2s_error():
    """Offset cells of the most negative weights sit at g_min = 0 S; with the default clip
    at 0 S their negative errors are cut (the chip is no longer paper 2's digital error),
    with ``programming_clip="none"`` every weight is W + r_W (sigma n + mu) exactly."""
    rng = np.random.default_rng(20)
    model, params = mlp(rng, (8, 6))
    sigma, mu = 0.2, -0.05
    ref = ref_mlp_chip(params, sigma, mu, chip_generator(0, 0))[0][0]
    W = params[0][0]
    for clip in ("none", True):
        cfg = AnalogConfig(
            programming_sigma=sigma, programming_mu=mu, mapping="offset",
            programming_clip=clip, **WR,
        )  # fmt: skip
        got = chip_matrix(program(model, cfg)[1], "l1", 8)[0]
        if clip == "none":
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
        else:  # clipped at 0 S: the chip's weight is >= -max|W|
            cut = ref < -np.abs(W).max()
            assert cut.any()
            np.testing.assert_allclose(got[cut], -np.abs(W).max(), rtol=1e-9)
            np.testing.assert_allclose(got[~cut], ref[~cut], rtol=1e-9, atol=1e-12)


def mlp_ce_grad(params, x, y):
    """Loss and gradients of the mean softmax cross-entropy of a ReLU MLP (by hand)."""
    hs, h = [x], x
    for i, (W, b) in enumerate(params):
        h = h @ W + b
        if i < len(params) - 1:
            h = np.maximum(h, 0)
            hs.append(h)
    z = h - h.max(axis=1, keepdims=True)
    loss = np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y])
    d = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    d[np.arange(len(y)), y] -= 1
    d /= len(y)
    grads = []
    for i in range(len(params) - 1, -1, -1):
        grads.append((hs[i].T @ d, d.sum(axis=0)))
        if i:
            d = (d @ params[i][0].T) * (hs[i] > 0)
    return loss, grads[::-1]


def test_noise_training_with_a_mean_offset_takes_the_gradient_at_the_shifted_weights():
    """``train(method="noise", train_mu=mu)``: every forward pass carries r (sigma n + mu)
    (paper 2's code trains with its mu too).  With sigma -> 0 the epoch's loss is the
    cross-entropy at p + mu r_p and the first full-batch Adam step is -lr g / (|g| +
    1e-8) with g the gradient there (reference scales, backward pass by hand).  (A
    single softmax layer would not do: adding one constant to every weight and bias
    moves all logits equally.)"""
    from xbar.network.train import train

    rng = np.random.default_rng(21)
    model, params = mlp(rng, (6, 5, 3))
    x, y = rng.normal(size=(40, 6)), rng.integers(0, 3, 40)
    data = Dataset(x[:32], y[:32], x[32:], y[32:], x[32:], y[32:], "toy", 3)
    lr, mu = 0.01, 0.5
    runs = {}
    for m in (0.0, mu):
        runs[m] = train(model, data, method="noise", train_noise=1e-12, train_mu=m, epochs=1,
                        batch_size=32, lr=lr, curvature_samples=0)  # fmt: skip
        shifted = []
        for W, b in params:
            r_w, r_b = ref_scales(W, b)
            shifted.append((W + m * r_w, b + m * r_b))
        loss, grads = mlp_ce_grad(shifted, x[:32], y[:32])
        assert runs[m].history[0]["loss"] == pytest.approx(loss, rel=1e-9)
        for (W, b), (gW, gb), name in zip(params, grads, ("l1", "l2"), strict=True):
            layer = runs[m].model.layer(name)
            np.testing.assert_allclose(layer.W, W - lr * gW / (np.abs(gW) + 1e-8), atol=1e-7)
            np.testing.assert_allclose(layer.b, b - lr * gb / (np.abs(gb) + 1e-8), atol=1e-7)
    assert runs[mu].train_mu == mu
    assert runs[mu].history[0]["loss"] != pytest.approx(runs[0.0].history[0]["loss"], rel=1e-3)
    with pytest.raises(ConfigError, match="train_mu"):
        train(model, data, method="hessian", train_noise=0.1, train_mu=0.1, epochs=1)


def test_output_levels_skip_layers_kept_digital():
    """A layer a per-layer rule keeps digital has no ADC: only the analog layer's output
    is quantised (reference: the MLP with layer 1 exact)."""
    rng = np.random.default_rng(22)
    model, params = mlp(rng, (6, 8, 4))
    x_cal, x = rng.uniform(0, 1, (30, 6)), rng.uniform(0, 1, (50, 6))
    cfg = AnalogConfig.from_dict({"output_levels": 5, "layers": {"l1": {"digital": True}}})
    folded, net = program(model, cfg)
    net.calibrate(folded, x_cal)
    (W1, b1), (W2, b2) = params
    y2 = np.maximum(x_cal @ W1 + b1, 0) @ W2 + b2
    ref = ref_quantize(np.maximum(x @ W1 + b1, 0) @ W2 + b2, y2.min(), y2.max(), 5)
    np.testing.assert_allclose(folded.forward(x, mvm=net.hook), ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("rule", ["separate_range", "absolute"])
def test_the_codes_other_range_options(rule):
    """The code's ``match_range=False`` (each tensor its own half range, floored) and
    ``use_range=False`` (r = 1) on a layer with a folded batch-norm: chips with sigma =
    0, mu = 1 hold exactly (W + r_W) w_eff', (b + r_b) w_eff' + b_eff' with w_eff' =
    w_eff + r_s, b_eff' = b_eff + r_t."""
    rng = np.random.default_rng(23)
    W, b = rng.uniform(-0.8, 1.2, (7, 4)), np.array([0.0, 0.01, 0.02, 0.4])
    bn = make_bn(4, rng, "bn")
    model = Model([Dense(7, 4, W=W, b=b, name="fc"), bn], (7,), 4)
    w, t = bn_affine(bn)
    if rule == "absolute":
        r_w = r_b = r_s = r_t = 1.0
    else:
        r_w, r_b, r_s, r_t = cal_range(W), cal_range(b), cal_range(w), cal_range(t)
    assert r_w != ref_scales(W, b)[0] or rule == "absolute"  # b / f lies outside W's range
    cfg = AnalogConfig(programming_sigma=0.0, programming_mu=1.0, weight_range_rule=rule, **WR)
    folded, net = program(model, cfg)
    got_W, db = chip_matrix(net, "fc", 7)
    np.testing.assert_allclose(got_W, (W + r_w) * (w + r_s), rtol=1e-9)
    b2 = (b + r_b) * (w + r_s) + t + r_t
    np.testing.assert_allclose(folded.layer("fc").b + db, b2, rtol=1e-9, atol=1e-12)


def test_sweeping_mu_without_an_error_kind_uses_paper_2s(tmp_path, capsys):
    """``xbar sweep --field programming_mu`` with no ``--programming-error`` switches to
    ``weight_range`` (mu is its offset), as sweeping sigma switches to state_independent."""
    from xbar.cli import main

    out = tmp_path / "mu.csv"
    argv = ["sweep", "--field", "programming_mu", "--values", "0,0.05", "--limit", "30",
            "--serial", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "using weight_range" in capsys.readouterr().err
    rows = [r for r in csv.reader(line for line in out.open() if not line.startswith("#"))]
    acc = {float(r[1]): float(r[3]) for r in rows[1:]}
    assert acc[0.05] < acc[0.0]  # the offset acts
