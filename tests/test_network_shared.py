"""Chip-independent work on the test batches, done once for all chips of an evaluation."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from xbar.network import Conv2D, Dataset, Dense, Model, load_dataset, load_model
from xbar.network.config import AnalogConfig
from xbar.network.evaluate import evaluate
from xbar.network.layers import Flatten, ReLU
from xbar.network.shared import SharedInputs
from xbar.network.tiles import TransferCache

ev = importlib.import_module("xbar.network.evaluate")  # the module (xbar.network.evaluate
# is also the name of the function)
PERR = {"programming_error": "state_proportional", "programming_sigma": 0.1}


@pytest.fixture(scope="module")
def model():
    return load_model("default")


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


def _run(model, data, kw, budget, monkeypatch, limit=120, energy=False):
    """evaluate() on 3 chips with the given sharing budget; (result, SharedInputs made)."""
    made = []

    class Recorded(SharedInputs):
        def __init__(self, x, batch_size):
            super().__init__(x, batch_size, budget)
            made.append(self)

    monkeypatch.setattr(ev, "SharedInputs", Recorded)
    monkeypatch.setattr(ev, "same_on_every_chip", lambda config: False)  # simulate every chip
    cfg = AnalogConfig(repeats=3, **kw)
    res = evaluate(
        model, cfg, dataset=data, limit=limit, batch_size=50, energy=energy, cache=TransferCache()
    )
    return res.to_dict(), made


def _assert_same(a, b, path="result"):
    """Equal results: accuracies and counts exactly, other floats to round-off (1e-12; the
    transfer matrices' own round-off can depend on what the process computed before)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _assert_same(u, v, f"{path}[{i}]")
    elif isinstance(a, float) and "accurac" not in path:
        assert a == pytest.approx(b, rel=1e-12, abs=1e-300, nan_ok=True), path
    else:
        assert a == b, path


def _without_cache_counts(d):
    d = dict(d)
    d.pop("seconds"), d.pop("setup_seconds"), d.pop("per_image_seconds"), d.pop("cache")
    d["layer_stats"] = [
        {k: v for k, v in s.items() if k not in ("cache_hits", "cache_misses")}
        for s in d["layer_stats"]
    ]
    return d


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"dac_bits": 4, "read_noise_sigma": 0.05},
        {"input_mode": "bit_serial", "input_bits": 4, "adc_bits": 8, "mapping": "offset", **PERR},
        {"activation_bits": 4, "adc_bits": 6, "calibration": "chip", **PERR},
        {"programming_error": "weight_range", "programming_sigma": 0.1, "adc_bits": 8},
        {"mapping": "offset", "offset_subtraction": "reference_column", "adc_bits": 6, **PERR},
        {"r_row": 1.0, "r_col": 1.0, "array_rows": 8, "array_cols": 4, **PERR},
        {"r_row": 2.0, "r_col": 2.0, "r_driver": 0.0, "r_sense": 0.0, "g_max": 1e-2, "g_min": 1e-9},
    ],
)
def test_shared_work_changes_nothing(model, data, kw, monkeypatch):
    """With and without sharing (budget 0), every number of the result is the same."""
    shared, made = _run(model, data, kw, None, monkeypatch)
    assert len(made) == 1 and made[0].hits > 0  # the first conv's inputs were shared
    alone, made0 = _run(model, data, kw, 0, monkeypatch)
    assert made0[0].hits == 0 and made0[0].bytes == 0
    _assert_same(_without_cache_counts(shared), _without_cache_counts(alone))
    # and each chip is the chip evaluated on its own (no SharedInputs for one chip)
    cfg = AnalogConfig(repeats=3, **kw)
    one = evaluate(model, cfg, dataset=data, limit=120, chips=[1], batch_size=50, energy=False)
    assert one.accuracies == [shared["accuracies"][1]]


def test_shared_work_with_energy_changes_nothing(model, data, monkeypatch):
    kw = {"adc_bits": 6, "dac_bits": 5, "r_row": 1.0, "r_col": 1.0, **PERR}
    shared, made = _run(model, data, kw, None, monkeypatch, limit=60, energy=True)
    alone, _ = _run(model, data, kw, 0, monkeypatch, limit=60, energy=True)
    assert made[0].hits > 0 and shared["energy"]
    _assert_same(_without_cache_counts(shared), _without_cache_counts(alone))


@pytest.mark.parametrize(
    "kw",
    [
        {"dac_bits": 3, "adc_bits": 5, **PERR},
        # 1x1 arrays (a tile per weight), wires: every tile its own exact solve
        {"array_rows": 1, "array_cols": 1, "mapping": "offset", "r_row": 1.0, "r_col": 1.0, **PERR},
        # one used row or column in 5x4 arrays (12 = 2 x 5 + 2 rows), padded with wires
        {"array_rows": 5, "array_cols": 4, "r_row": 0.5, "r_col": 0.5, "mapping": "offset", **PERR},
    ],
)
def test_dense_first_model_shares_its_inputs(monkeypatch, kw):
    rng = np.random.default_rng(3)
    W1, W2 = rng.standard_normal((12, 6)), rng.standard_normal((6, 3))
    layers = [Dense(12, 6, W=W1, name="fc1"), ReLU(name="r"), Dense(6, 3, W=W2, name="fc2")]
    m = Model(layers, (12,), 3, name="mlp")
    x = rng.random((40, 12))
    y = np.argmax(m.forward(x), axis=1)
    ds = Dataset(x, y, x[:5], y[:5], x, y, "random", 3)
    shared, made = _run(m, ds, kw, None, monkeypatch)
    assert made[0].hits > 0
    alone, _ = _run(m, ds, kw, 0, monkeypatch)
    _assert_same(_without_cache_counts(shared), _without_cache_counts(alone))


def test_only_layers_fed_by_the_model_input_are_entries(model):
    assert ev._entry_layers(model.fold_batchnorm()) == {"conv1"}
    conv = Conv2D(1, 2, 3, name="c", W=np.ones((3, 3, 1, 2)))
    pre = Model([ReLU(name="pre"), conv, Flatten(name="f")], (3, 3, 1), 2, name="pre")
    assert ev._entry_layers(pre) == frozenset()  # its input passes a layer first


def test_shared_inputs_budget_identity_and_read_only():
    s = SharedInputs(np.zeros((4, 2)), batch_size=2, budget=100)
    small = s.keyed(("a",), lambda: np.arange(4.0))  # 32 bytes: kept
    assert s.is_kept(small) and not small.flags.writeable
    assert s.keyed(("a",), lambda: np.zeros(4)) is small
    big = s.keyed(("b",), lambda: np.arange(20.0))  # 160 bytes: over budget, not kept
    assert not s.is_kept(big) and big.flags.writeable
    assert s.keyed(("b",), lambda: np.ones(20))[0] == 1.0  # computed again
    assert s.derived(small, ("sum",), lambda: float(small.sum())) == 6.0
    assert s.derived(small, ("sum",), lambda: -1.0) == 6.0
    assert s.derived(small.copy(), ("sum",), lambda: -1.0) == -1.0  # equal, not kept
    assert s.holds(s.source, 2) and not s.holds(s.source, 3)
    assert not s.holds(np.zeros((4, 2)), 2)
    assert (s.hits, s.misses, s.bytes) == (2, 4, 32)


def test_conv_takes_columns_from_a_hook_that_has_them():
    rng = np.random.default_rng(5)
    layer = Conv2D(2, 3, 3, padding=1, W=rng.standard_normal((3, 3, 2, 3)), name="c")
    x = rng.standard_normal((2, 4, 4, 2))
    asked = []

    class Hook:
        def __call__(self, la, X):
            return X @ la.W2d

        def columns(self, la, xx, compute):
            asked.append((la.name, xx.shape))
            return compute()

    np.testing.assert_allclose(layer.forward(x, mvm=Hook()), layer.forward(x), rtol=1e-13)
    assert asked == [("c", x.shape)]


@pytest.mark.parametrize(
    "kw,energy",
    [
        ({}, False),
        ({"r_row": 1.0, "r_col": 1.0}, True),
        ({"r_row": 1.0, "r_col": 1.0, "energy_chips": 0}, True),
        ({"adc_bits": 6, "calibration": "chip", "drift_time": 1e4, "drift_nu": 0.05}, True),
        ({"device": "sinh", "r_row": 2.0, "r_col": 2.0, "dac_bits": 5}, False),
    ],
)
def test_identical_chips_are_simulated_once_per_path(model, data, kw, energy, monkeypatch):
    """No random device error: one chip is simulated (the metered one when energy is on) and
    the others repeat it, with every field of the result as simulating each chip gives."""
    cfg = AnalogConfig(repeats=4, **kw)
    assert ev.same_on_every_chip(cfg)
    runs = []
    predict = ev.AnalogNetwork.predict

    def counted(self, *a, **k):
        runs.append(self.chip)
        return predict(self, *a, **k)

    monkeypatch.setattr(ev.AnalogNetwork, "predict", counted)
    fast = evaluate(model, cfg, dataset=data, limit=100, energy=energy, cache=TransferCache())
    fast = fast.to_dict()
    assert len(runs) == 1  # (a metered chip serves the unmetered ones too)
    monkeypatch.setattr(ev, "same_on_every_chip", lambda config: False)
    runs.clear()
    slow = evaluate(model, cfg, dataset=data, limit=100, energy=energy, cache=TransferCache())
    slow = slow.to_dict()
    assert len(runs) == 4
    _assert_same(_without_cache_counts(fast), _without_cache_counts(slow))
    assert len(set(fast["accuracies"])) == 1


@pytest.mark.parametrize(
    "kw",
    [
        {"programming_error": "state_proportional", "programming_sigma": 0.01},
        {"programming_error": "state_independent", "programming_sigma": 0.01},
        {"programming_error": "weight_range", "programming_sigma": 0.01},
        {"read_noise_sigma": 0.01},
        {"stuck_rate": 0.001},
    ],
)
def test_chips_with_random_errors_are_each_simulated(kw):
    assert not ev.same_on_every_chip(AnalogConfig(repeats=3, **kw))


def test_chunked_first_convolution_is_not_shared_by_batch(model, data, monkeypatch):
    """A convolution that unfolds its batch in chunks calls the hook once per chunk: only
    whole-batch inputs may be shared (else every chunk would read the first one's)."""
    import xbar.network.layers as L

    kw = {"dac_bits": 4, **PERR}
    monkeypatch.setattr(L, "IM2COL_MAX_ENTRIES", 64 * 9 * 7)  # 7 images per chunk
    want, _ = _run(model, data, kw, 0, monkeypatch)
    chunked, made = _run(model, data, kw, None, monkeypatch)
    _assert_same(_without_cache_counts(chunked), _without_cache_counts(want))
