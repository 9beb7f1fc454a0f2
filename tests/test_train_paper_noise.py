"""Noise-injection and Hessian training draw paper 2's deployed error (issue 12, item 1):
the merged-range rule per layer's weight and bias, batch-norm's effective affine as its
own noisy layer, from the same code that programs ``weight_range`` chips."""

from __future__ import annotations

import numpy as np
import pytest

from xbar.network import BatchNorm, Dense, Model, ReLU
from xbar.network.noise import noise_plan, parameter_noise, perturb_model_paper
from xbar.network.train import _Flat, _Hyper, _Run, noise_direction, noise_scales


def _net(with_bn: bool, seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)
    layers = [Dense(6, 5, rng.uniform(-1, 1, (6, 5)), rng.uniform(0.2, 0.3, 5), name="d1")]
    if with_bn:
        bn = BatchNorm(5, name="bn")
        bn.gamma = rng.uniform(0.5, 2.0, 5)
        bn.beta = rng.normal(0, 0.3, 5)
        bn.running_mean = rng.normal(0, 0.5, 5)
        bn.running_var = rng.uniform(0.3, 3.0, 5)
        layers.append(bn)
    layers += [ReLU(), Dense(5, 3, rng.uniform(-2, 1, (5, 3)), rng.uniform(-4, 4, 3), name="d2")]
    return Model(layers, (6,), 3)


def _merged_by_hand(W, b):
    """The statement of docs/papers.md, written out: R(x) = (max - min) / 2,
    f = R(b) / R(W), R_m = R(concat(b / f, W)), r_W = R_m, r_b = R_m f."""
    R = lambda v: (np.max(v) - np.min(v)) / 2  # noqa: E731
    f = R(b) / R(W)
    r_m = R(np.concatenate([b / f, W.ravel()]))
    return r_m, r_m * f


def _captured_noise(model, sigma, steps):
    """Parameter offsets at which the ``noise`` method takes its gradients."""
    run = _Run(model, None, "noise", sigma, 3, _Hyper(1e-3, 1, 1.0, 0.01, 0))
    seen = []
    theta = run.flat.get()
    import xbar.network.train as T

    def spy(model, flat, xb, yb, act=None):
        seen.append(flat.get() - theta)
        return 0.0, np.zeros_like(theta), np.zeros((1, 3))

    orig, T._loss_grad = T._loss_grad, spy
    try:
        for _ in range(steps):
            run.gradient(np.zeros((1, 6)), np.zeros(1, dtype=int))
    finally:
        T._loss_grad = orig
    np.testing.assert_array_equal(run.flat.get(), theta)  # clean weights restored
    return run.flat, np.array(seen)


def test_noise_training_draws_the_merged_range_rule():
    m = _net(False)
    sigma = 0.1
    flat, deltas = _captured_noise(m, sigma, 400)
    for name in ("d1", "d2"):
        la = m.layer(name)
        r_w, r_b = _merged_by_hand(la.W, la.b)
        i = flat.keys.index(f"{name}/W")
        dW = deltas[:, flat.offsets[i] : flat.offsets[i + 1]]
        j = flat.keys.index(f"{name}/b")
        db = deltas[:, flat.offsets[j] : flat.offsets[j + 1]]
        assert dW.std() == pytest.approx(sigma * r_w, rel=0.05)
        assert db.std() == pytest.approx(sigma * r_b, rel=0.1)
        assert abs(dW.mean()) < 0.1 * sigma * r_w
    # d1: biases 0.2..0.3 against weights -1..1: their own, 20x smaller scale
    r_w, r_b = _merged_by_hand(m.layer("d1").W, m.layer("d1").b)
    assert r_b < 0.1 * r_w
    # d2: the rescaled biases lie outside the weights' range, so r_W > R(W)
    W2 = m.layer("d2").W
    assert _merged_by_hand(W2, m.layer("d2").b)[0] > 1.05 * (W2.max() - W2.min()) / 2


def test_noise_training_perturbs_the_batchnorm_affine_as_its_own_layer():
    m = _net(True)
    sigma = 0.2
    flat, deltas = _captured_noise(m, sigma, 600)
    bn = m.layer("bn")
    scale = bn.gamma / np.sqrt(bn.running_var + bn.eps)
    shift = bn.beta - bn.running_mean * scale
    r_s, r_t = _merged_by_hand(scale, shift)
    i, j = flat.keys.index("bn/gamma"), flat.keys.index("bn/beta")
    dg = deltas[:, flat.offsets[i] : flat.offsets[i + 1]]
    dbeta = deltas[:, flat.offsets[j] : flat.offsets[j + 1]]
    d_scale = dg / np.sqrt(bn.running_var + bn.eps)
    d_shift = (bn.beta + dbeta) - bn.running_mean * (scale + d_scale) - shift
    assert d_scale.std() == pytest.approx(sigma * r_s, rel=0.08)
    assert d_shift.std() == pytest.approx(sigma * r_t, rel=0.08)
    assert abs(np.corrcoef(d_scale.ravel(), d_shift.ravel())[0, 1]) < 0.06  # independent


def test_training_noise_and_chips_share_one_implementation():
    """The same unit draws give a chip's parameters exactly."""
    m = _net(True)
    chip = perturb_model_paper(m, 0.15, np.random.default_rng(4))
    deltas = parameter_noise(m, 0.15, np.random.default_rng(4).standard_normal)
    for key, p in m.parameters().items():
        np.testing.assert_allclose(chip.parameters()[key], p + deltas[key], rtol=1e-13)


def test_hutchinson_vectors_have_the_noise_covariance():
    m = _net(True)
    flat = _Flat(m)
    sigma = 0.1
    direction = noise_direction(m, sigma, flat)
    rng = np.random.default_rng(0)
    w = np.array([direction(rng) for _ in range(4000)])
    normal = np.random.default_rng(1)
    d = np.array(
        [flat.pack(parameter_noise(m, sigma, normal.standard_normal)) for _ in range(4000)]
    )
    s = noise_scales(m, sigma, flat)
    np.testing.assert_allclose(w.std(axis=0), s, rtol=0.05)
    np.testing.assert_allclose(d.std(axis=0), s, rtol=0.06)
    # gamma and beta of the batch-norm are correlated through the running mean
    i, j = flat.keys.index("bn/gamma"), flat.keys.index("bn/beta")
    g0, b0 = flat.offsets[i], flat.offsets[j]
    cw = np.mean(w[:, g0] * w[:, b0])
    cd = np.mean(d[:, g0] * d[:, b0])
    bn = m.layer("bn")
    expected = (sigma * noise_plan(m)[0]["d1"].bns[0].r_scale) ** 2
    expected *= np.sqrt(bn.running_var[0] + bn.eps) * bn.running_mean[0]
    assert cw == pytest.approx(expected, rel=0.1)
    assert cd == pytest.approx(expected, rel=0.15)
