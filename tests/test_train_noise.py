"""Paper 2's weight-range error: definition, statistics, chips, BN folding."""

from __future__ import annotations

import numpy as np
import pytest

from xbar.errors import ValueRangeError
from xbar.network import (
    Dense,
    Flatten,
    Model,
    draw_weight_noise,
    load_model,
    perturb_model,
    weight_range_sigma,
)
from xbar.network.noise import chip_accuracies
from xbar.network.zoo import wrn


def test_weight_range_sigma_definition():
    W = np.array([[-2.0, 0.5], [1.0, 4.0]])
    assert weight_range_sigma(W, 0.1) == pytest.approx(0.1 * 6.0 / 2)
    assert weight_range_sigma(W, 0.0) == 0.0
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueRangeError):
            weight_range_sigma(W, bad)


def test_error_statistics_per_layer_match_definition():
    rng = np.random.default_rng(0)
    m = Model(
        [
            Flatten(name="f"),
            Dense(64, 300, W=rng.uniform(-1, 3, (64, 300)), name="d1"),
            Dense(300, 10, W=rng.normal(0, 0.1, (300, 10)), name="d2"),
        ],
        (8, 8, 1),
        10,
    )
    sigma = 0.07
    chip = perturb_model(m, sigma, np.random.default_rng(1))
    for name in ("d1", "d2"):
        W = m.layer(name).W
        s = sigma * (W.max() - W.min()) / 2
        dW = chip.layer(name).W - W
        n = dW.size
        assert abs(dW.mean()) <= 4 * s / np.sqrt(n)
        assert abs(dW.std() / s - 1) <= 4 / np.sqrt(2 * n)
    # biases share the layer's scale
    db = np.concatenate(
        [perturb_model(m, sigma, np.random.default_rng(k)).layer("d1").b for k in range(20)]
    )
    s1 = sigma * np.ptp(m.layer("d1").W) / 2
    assert abs(db.std() / s1 - 1) <= 0.05


def test_same_generator_state_is_the_same_chip():
    m = load_model("default")
    a = perturb_model(m, 0.1, np.random.default_rng(5))
    b = perturb_model(m, 0.1, np.random.default_rng(5))
    c = perturb_model(m, 0.1, np.random.default_rng(6))
    for la in m.matmul_layers():
        np.testing.assert_array_equal(a.layer(la.name).W, b.layer(la.name).W)
        assert not np.array_equal(a.layer(la.name).W, c.layer(la.name).W)
    # draw order: layer by layer, weights (C order) then bias
    rng = np.random.default_rng(5)
    conv1 = m.layer("conv1")
    s = weight_range_sigma(conv1.W, 0.1)
    np.testing.assert_allclose(a.layer("conv1").W - conv1.W, s * rng.standard_normal(conv1.W.shape))
    np.testing.assert_allclose(a.layer("conv1").b - conv1.b, s * rng.standard_normal(8))


def test_perturbation_applies_to_folded_batchnorm():
    m = wrn(depth=10, width=1, input_shape=(8, 8, 3), classes=3, seed=0)
    folded = m.fold_batchnorm()
    x = np.random.default_rng(0).random((2, 8, 8, 3))
    np.testing.assert_allclose(
        perturb_model(m, 0.0, np.random.default_rng(0)).forward(x), folded.forward(x), rtol=1e-12
    )
    deltas = draw_weight_noise(folded, 0.05, np.random.default_rng(1))
    chip = perturb_model(m, 0.05, np.random.default_rng(1))
    key = "g1b1.conv1"
    np.testing.assert_allclose(
        chip.layer(key).W - folded.layer(key).W, deltas[f"{key}/W"], atol=1e-14
    )
    # scale taken from the folded weights
    s = weight_range_sigma(folded.layer(key).W, 0.05)
    assert np.std(deltas[f"{key}/W"]) == pytest.approx(s, rel=0.1)


def test_chip_accuracies_fall_with_sigma():
    from xbar.network import load_dataset

    d = load_dataset("digits")
    m = load_model("default")
    a0 = chip_accuracies(m, d.x_test, d.y_test, 0.0, chips=2)
    a3 = chip_accuracies(m, d.x_test, d.y_test, 0.3, chips=4, seed=2)
    assert np.all(a0 == m.accuracy(d.x_test, d.y_test))
    assert a3.mean() < a0.mean() - 0.2
