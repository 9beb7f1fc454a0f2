"""The network evaluator: ideal equality, chips, weight_range, peripherals, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from xbar.errors import ConfigError, ModelError
from xbar.network import Dataset, Dense, Model, load_dataset, load_model
from xbar.network.config import AnalogConfig
from xbar.network.evaluate import evaluate, plan_network, program_chip
from xbar.network.tiles import TransferCache


@pytest.fixture(scope="module")
def model():
    return load_model("default")


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


def _dense_model(W, b=None):
    n_in, n_out = W.shape
    return Model([Dense(n_in, n_out, W=W, b=b, name="fc")], (n_in,), n_out, name="fc")


def _chip_layer(W, cfg, chip=0, b=None):
    m = _dense_model(W, b)
    folded, plans = plan_network(m, cfg)
    net = program_chip(plans, folded, cfg, chip, TransferCache())
    return net.layers["fc"]


def _effective_weights(layer):
    """The weights a programmed layer applies (no ADC / input quantisation)."""
    n = layer.plan.mapping.n_in
    layer.input_scale = 1.0
    return layer.mvm(np.eye(n), None, track=False) - layer.bias_delta


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"mapping": "offset"},
        {"mapping": "offset", "offset_subtraction": "reference_column", "weight_scaling": "column"},
        {"weight_scaling": "biscale", "array_rows": 16, "array_cols": 6},
    ],
)
def test_ideal_analog_accuracy_equals_digital_exactly(model, data, kw):
    res = evaluate(model, AnalogConfig.ideal(**kw), dataset=data)
    assert res.n_images == data.x_test.shape[0]
    assert res.accuracy == res.ideal_accuracy
    assert res.ideal_accuracy == model.accuracy(data.x_test, data.y_test)
    assert res.ideal_accuracy >= 0.97
    for s in res.layer_stats:
        assert s.rel_error < 1e-12


def test_chip_k_is_the_same_chip_in_every_run(model, data):
    cfg = AnalogConfig(
        programming_error="state_proportional",
        programming_sigma=0.3,
        read_noise_sigma=0.05,
        adc_bits=6,
        repeats=3,
        stuck_rate=0.02,
    )
    full = evaluate(model, cfg, dataset=data, limit=150)
    one = evaluate(model, cfg, dataset=data, limit=150, chips=[2])
    assert one.accuracies == [full.accuracies[2]]
    assert len(set(full.accuracies)) > 1  # the chips differ
    assert full.accuracy == pytest.approx(np.mean(full.accuracies))
    assert full.accuracy_min == min(full.accuracies)
    assert full.accuracy_std == pytest.approx(np.std(full.accuracies))
    again = evaluate(model, cfg, dataset=data, limit=150, chips=[2])
    assert again.accuracies == one.accuracies


def test_errors_reduce_accuracy(model, data):
    base = evaluate(model, AnalogConfig(), dataset=data, limit=300)
    bad = evaluate(
        model,
        AnalogConfig(programming_error="state_independent", programming_sigma=0.3),
        dataset=data,
        limit=300,
    )
    assert bad.accuracy < base.accuracy - 0.05
    assert all(s.rel_error > 0.05 for s in bad.layer_stats)


def test_weight_range_statistics_match_definition():
    rng = np.random.default_rng(0)
    W = rng.uniform(-1.0, 1.0, (120, 80))
    W[0, 0], W[0, 1] = 5.0, -3.0  # asymmetric: R = 4 != max|W| = 5
    sigma = 0.1
    cfg = AnalogConfig(programming_error="weight_range", programming_sigma=sigma)
    layer = _chip_layer(W, cfg, b=np.zeros(80))
    dW = _effective_weights(layer) - W
    R = 4.0
    assert dW.std() == pytest.approx(sigma * R, rel=0.03)
    assert abs(dW.mean()) < 4 * sigma * R / np.sqrt(dW.size)
    db = layer.bias_delta
    assert db.std() == pytest.approx(sigma * R, rel=0.25) and db.shape == (80,)
    # column scaling: a column of small weights gets a proportionally smaller error
    W2 = W.copy()
    W2[:, 5] *= 0.1
    colcfg = cfg.replace(weight_scaling="column")
    lay2 = _chip_layer(W2, colcfg)
    d2 = _effective_weights(lay2) - W2
    ratio = np.abs(W2[:, 5]).max() / np.abs(W2).max()
    assert d2[:, 5].std() == pytest.approx(sigma * R * ratio, rel=0.3)


def test_weight_range_agrees_with_state_independent_where_they_coincide():
    """Differential, g_min = 0, no clipping, symmetric layer: sigma = sqrt(2) alpha."""
    rng = np.random.default_rng(1)
    W = rng.uniform(-1, 1, (150, 100))
    W[0, 0], W[0, 1] = 1.0, -1.0
    alpha = 0.05
    base = dict(g_min=0.0, programming_clip="none")
    si = _chip_layer(
        W, AnalogConfig(programming_error="state_independent", programming_sigma=alpha, **base)
    )
    wr = _chip_layer(
        W,
        AnalogConfig(
            programming_error="weight_range", programming_sigma=np.sqrt(2) * alpha, **base
        ),
    )
    d_si = _effective_weights(si) - W
    d_wr = _effective_weights(wr) - W
    assert d_si.std() == pytest.approx(d_wr.std(), rel=0.03)
    assert d_si.std() == pytest.approx(np.sqrt(2) * alpha * 1.0, rel=0.03)
    assert abs(d_si.mean()) < 0.01 and abs(d_wr.mean()) < 0.01
    # both Gaussian: same 4th moment (kurtosis 3)
    for d in (d_si, d_wr):
        k = np.mean(d**4) / np.mean(d**2) ** 2
        assert k == pytest.approx(3.0, abs=0.15)


def test_signed_inputs_slicing_and_bit_serial():
    rng = np.random.default_rng(2)
    W = rng.normal(0, 1, (50, 20))
    X = rng.normal(0, 1, (30, 50))  # signed inputs: two passes
    lay = _chip_layer(W, AnalogConfig(array_rows=16, array_cols=8))
    lay.input_scale = None
    np.testing.assert_allclose(lay.mvm(X, None), X @ W, rtol=1e-10, atol=1e-10)
    # 8-bit weights: 4 slices of 2 bits give exactly the unsliced 8-bit result
    l8 = _chip_layer(W, AnalogConfig(weight_bits=8))
    l84 = _chip_layer(W, AnalogConfig(weight_bits=8, weight_slices=4))
    y8, y84 = l8.mvm(X, None), l84.mvm(X, None)
    np.testing.assert_allclose(y8, y84, rtol=1e-10, atol=1e-10)
    assert np.abs(y8 - X @ W).max() > 1e-4  # quantisation is visible
    # bit-serial inputs: the result of the quantised input
    lbs = _chip_layer(W, AnalogConfig(input_mode="bit_serial", input_bits=10))
    Xq_scale = np.abs(X).max()
    y = lbs.mvm(X, None)
    Xq = np.sign(X) * np.rint(np.abs(X) / Xq_scale * 1023) / 1023 * Xq_scale
    np.testing.assert_allclose(y, Xq @ W, rtol=1e-9, atol=1e-9)


def test_calibrated_adc_beats_full_scale(model, data):
    cal = evaluate(model, AnalogConfig(adc_bits=5), dataset=data, limit=200)
    full = evaluate(
        model, AnalogConfig(adc_bits=5, adc_range="full_scale"), dataset=data, limit=200
    )
    for a, b in zip(cal.layer_stats, full.layer_stats, strict=True):
        assert a.rel_error < b.rel_error
        assert len(a.adc_ranges) == 1 and 0 < a.adc_ranges[0] < b.adc_ranges[0]
    assert cal.accuracy >= full.accuracy


def test_progress_and_result_fields(model, data):
    calls = []
    res = evaluate(
        model,
        AnalogConfig(repeats=2),
        dataset=data,
        limit=300,
        batch_size=128,
        progress=lambda d, t: calls.append((d, t)),
    )
    # per chip: 4 tiles programmed + 3 test batches (nothing to calibrate without an ADC)
    assert calls[-1] == (14, 14) and len(calls) == 14
    assert [d for d, _ in calls] == list(range(1, 15))
    d = res.to_dict()
    for key in (
        "accuracy",
        "ideal_accuracy",
        "accuracies",
        "accuracy_std",
        "accuracy_min",
        "seconds",
        "setup_seconds",
        "per_image_seconds",
        "layer_stats",
        "config",
    ):
        assert key in d
    assert d["config"]["repeats"] == 2 and len(d["accuracies"]) == 2
    assert [s.name for s in res.layer_stats] == [la.name for la in model.matmul_layers()]


def test_bad_input_is_rejected_before_work(model, data):
    other = Dataset(
        data.x_train[:, :4, :4, :],
        data.y_train,
        data.x_val[:, :4, :4, :],
        data.y_val,
        data.x_test[:, :4, :4, :],
        data.y_test,
        "digits4",
        10,
    )
    with pytest.raises(ModelError, match="inputs"):
        evaluate(model, AnalogConfig(), dataset=other)
    with pytest.raises(ConfigError):
        evaluate(model, {"adc_bits": 8}, dataset=data)
    with pytest.raises(ConfigError, match="limit"):
        evaluate(model, AnalogConfig(), dataset=data, limit=0)
    with pytest.raises(ConfigError, match="chips"):
        evaluate(model, AnalogConfig(), dataset=data, chips=[])
    with pytest.raises(ConfigError, match="chip 1 is listed more than once"):
        evaluate(model, AnalogConfig(), dataset=data, chips=[1, 0, 1])
    bad = object.__new__(AnalogConfig)
    object.__setattr__(bad, "__dict__", {**AnalogConfig().__dict__, "g_min": 1.0})
    with pytest.raises(ConfigError, match="g_min"):
        evaluate(model, bad, dataset=data)


@pytest.mark.parametrize(
    "kw",
    [
        {"mapping": "differential"},
        {"mapping": "offset"},
        {"mapping": "offset", "offset_subtraction": "reference_column"},
        {
            "mapping": "offset",
            "offset_subtraction": "reference_column",
            "weight_bits": 12,
            "weight_slices": 3,
        },
        {
            "mapping": "offset",
            "weight_bits": 12,
            "weight_slices": 4,
            "input_mode": "bit_serial",
            "input_bits": 14,
        },
        {"weight_scaling": "biscale", "mapping": "offset", "weight_bits": 12},
        {"weight_scaling": "column", "weight_bits": 12, "weight_slices": 2, "dac_bits": 14},
    ],
)
def test_fine_adc_and_peripherals_approach_ideal(kw):
    """Every mapping / peripheral combination is consistent: with fine resolution the
    analog result approaches X @ W (signs, offsets, slices, ranges)."""
    rng = np.random.default_rng(7)
    W = rng.normal(0, 1, (70, 12))
    X = rng.normal(0, 1, (40, 70))
    cfg = AnalogConfig(adc_bits=20, adc_range="max", array_rows=32, array_cols=10, **kw)
    lay = _chip_layer(W, cfg)
    lay.input_scale = None
    Y = lay.mvm(X, None)
    ref = X @ W
    rel = np.linalg.norm(Y - ref) / np.linalg.norm(ref)
    assert rel < 2e-3, rel
    coarse = _chip_layer(W, cfg.replace(adc_bits=4))
    coarse.input_scale = None
    rel4 = np.linalg.norm(coarse.mvm(X, None) - ref) / np.linalg.norm(ref)
    assert rel4 > 5 * rel


def test_biscale_shrinks_weight_range_error_of_small_weights():
    rng = np.random.default_rng(11)
    W = rng.laplace(0, 0.1, (200, 60))
    W[0, 0], W[0, 1] = 1.0, -1.0
    cfg = AnalogConfig(programming_error="weight_range", programming_sigma=0.05)
    small = np.abs(W) < 0.25
    d_layer = _effective_weights(_chip_layer(W, cfg)) - W
    bi = _chip_layer(
        W, cfg.replace(weight_scaling="biscale", biscale_shift=2, biscale_threshold=0.25)
    )
    d_bi = _effective_weights(bi) - W
    assert d_layer[small].std() == pytest.approx(0.05, rel=0.05)
    # every programmed cell carries its error: a small weight gets the amplified group's
    # error (worth 2**-2 of the conductance error) plus that of its idle main-group pair
    both = 0.05 * np.sqrt(1 + 1 / 16)
    assert d_bi[small].std() == pytest.approx(both, rel=0.05)
    assert d_bi[~small].std() == pytest.approx(both, rel=0.2)
    assert bi.plan.mapping.cells == 2 * _chip_layer(W, cfg).plan.mapping.cells
    # state-independent error: idle pairs carry it too
    si = cfg.replace(
        programming_error="state_independent",
        programming_sigma=0.02,
        weight_scaling="biscale",
        programming_clip="none",
        g_min=0.0,
    )
    d_si = _effective_weights(_chip_layer(W, si)) - W
    assert d_si[small].std() == pytest.approx(0.02 * np.sqrt(2) * np.sqrt(1 + 1 / 16), rel=0.05)


def test_weight_range_chips_match_the_digital_noise_model(model, data):
    """Chip k of the analog evaluator with weight_range error (layer scaling, no other
    effect) draws the same errors as the digital reference chip k of xbar.network.noise
    (paper 2's rule and the earlier folded_layer rule): same accuracies."""
    from xbar.network.noise import perturb_model_paper
    from xbar.network.nonideal import chip_rng

    x, y = data.x_test[:250], data.y_test[:250]
    for rule in ("match_range", "folded_layer"):
        digital = [
            perturb_model_paper(model, 0.15, chip_rng(4, k), rule).fold_batchnorm().accuracy(x, y)
            for k in range(3)
        ]
        cfg = AnalogConfig(
            programming_error="weight_range",
            programming_sigma=0.15,
            seed=4,
            repeats=3,
            weight_range_rule=rule,
        )
        analog = evaluate(model, cfg, dataset=data, limit=250)
        np.testing.assert_allclose(analog.accuracies, digital, rtol=0, atol=1 / 250 + 1e-12)
        assert len(set(analog.accuracies)) > 1


def test_calibration_only_when_needed_and_capped(model, data, monkeypatch):
    from xbar.network.evaluate import AnalogNetwork, calibration_images, needs_calibration

    assert not needs_calibration(
        AnalogConfig(
            r_row=1.0,
            read_noise_sigma=0.1,
            programming_error="state_independent",
            programming_sigma=0.1,
        )
    )
    for cfg in (
        AnalogConfig(adc_bits=8),
        AnalogConfig(dac_bits=8),
        AnalogConfig(device="sinh"),
        AnalogConfig(input_mode="bit_serial"),
        AnalogConfig(adc_bits=4, adc_range="full_scale"),
    ):
        assert needs_calibration(cfg)
    assert calibration_images(AnalogConfig(adc_bits=8, calibration_size=100), 7) == 7
    assert calibration_images(AnalogConfig(adc_bits=8, calibration_size=100), 700) == 100
    sizes = []
    real = AnalogNetwork.calibrate

    def spy(self, folded, x_cal, batch_size=None):
        sizes.append(x_cal.shape[0])
        return real(self, folded, x_cal, batch_size)

    monkeypatch.setattr(AnalogNetwork, "calibrate", spy)
    evaluate(model, AnalogConfig(r_row=1.0, read_noise_sigma=0.05), dataset=data, limit=10)
    assert sizes == []
    evaluate(model, AnalogConfig(adc_bits=6), dataset=data, limit=10)
    assert sizes == [10]


def test_skipping_calibration_does_not_change_results(model, data):
    """Without ADC, DAC or nonlinear cells the input scale cancels: same as calibrating."""
    from xbar.network.evaluate import plan_network, program_chip

    cfg = AnalogConfig(
        r_row=2.0,
        r_col=2.0,
        read_noise_sigma=0.02,
        programming_error="state_proportional",
        programming_sigma=0.05,
    )
    x = data.x_test[:40]
    folded, plans = plan_network(model, cfg)
    outs = []
    for calibrate in (False, True):
        net = program_chip(plans, folded, cfg, 3, TransferCache())
        if calibrate:
            net.calibrate(folded, data.x_train[:64])
            net._rng = np.random.default_rng(7)
        else:
            net._rng = np.random.default_rng(7)
        outs.append(folded.forward(x, mvm=net.hook))
    assert np.allclose(outs[0], outs[1], rtol=1e-9, atol=1e-12)
    assert not np.allclose(outs[0], folded.forward(x))  # noise and wires are really on


def test_library_evaluate_shapes_data_as_the_cli_does(model, data):
    """evaluate() shapes the data set for the model as ``xbar infer`` does: rows of H*W
    pixels (a CSV such as Kaggle's MNIST) become images for a single-channel image model,
    and images are flattened for a model with flat inputs; the accuracies are the same as
    on the data in the model's own shape."""
    cfg = AnalogConfig(repeats=1)
    flat = Dataset(*(_rows(a) for a in _splits(data)))
    assert flat.x_test.shape == (len(data.x_test), 64)
    want = evaluate(model, cfg, dataset=data, limit=60, energy=False).accuracy
    got = evaluate(model, cfg, dataset=flat, limit=60, energy=False).accuracy
    assert got == want
    mlp = _dense_model(np.random.default_rng(0).normal(size=(64, 10)))
    a = evaluate(mlp, cfg, dataset=data, limit=60, energy=False).accuracy
    b = evaluate(mlp, cfg, dataset=flat, limit=60, energy=False).accuracy
    assert a == b


def _rows(a):
    return a.reshape(len(a), -1) if isinstance(a, np.ndarray) and a.ndim == 4 else a


def _splits(d):
    return (d.x_train, d.y_train, d.x_val, d.y_val, d.x_test, d.y_test, d.name, d.classes)
