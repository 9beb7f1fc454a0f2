"""DAC codes' Gram matrices in float32 (issue 14, speed): exact, not approximate."""

import numpy as np
import pytest

from xbar.network import AnalogConfig, evaluate
from xbar.network.energy import F32_EXACT, code_gram
from xbar.network.tiles import TransferCache


@pytest.mark.parametrize("bits", [1, 4, 8, 9])
def test_code_gram_is_bit_identical_to_float64(bits):
    top = 2**bits - 1
    rng = np.random.default_rng(bits)
    chunk = F32_EXACT // top**2
    for K in (1, 7, min(chunk, 3000), min(chunk, 3000) + 1, 2 * min(chunk, 1000) + 5, 1300):
        codes = rng.integers(0, top + 1, size=(K, 37)).astype(float)
        assert np.array_equal(code_gram(codes, top), codes.T @ codes)
    # the worst case: every code at full scale, partial sums at the float32 limit
    full = np.full((5 * chunk + 3 if chunk < 10**4 else 2000, 16), float(top))
    g = code_gram(full, top)
    assert np.array_equal(g, full.T @ full)
    assert g[0, 0] == full.shape[0] * top * top


def test_code_gram_float32_would_not_be_exact_without_chunks():
    """The chunking matters: one float32 product over more reads than a chunk loses
    integers (so the test above can fail)."""
    top = 255
    K = 4 * (F32_EXACT // top**2)
    rng = np.random.default_rng(1)
    codes = rng.integers(200, top + 1, size=(K, 8)).astype(np.float32)
    c64 = codes.astype(float)
    assert not np.array_equal((codes.T @ codes).astype(float), c64.T @ c64)
    assert np.array_equal(code_gram(codes, top), c64.T @ c64)


def test_code_gram_wide_codes_take_float64():
    codes = np.full((10, 3), 4095.0)
    assert np.array_equal(code_gram(codes, 4095), codes.T @ codes)


@pytest.mark.parametrize(
    "fields",
    [
        dict(dac_bits=8, adc_bits=8),
        dict(input_mode="bit_serial", input_bits=4, adc_bits=6),
    ],
)
def test_dac_code_grams_give_the_float64_energy(fields, monkeypatch):
    """Through a whole evaluation: the codes' float32 Grams give the energy of the float64
    Grams of the voltages (to round-off: lsb^2 codes^T codes against (lsb codes)^T (lsb
    codes))."""
    from xbar.network import energy

    cfg = AnalogConfig(r_row=1.0, r_col=1.0, read_noise_sigma=0.01, **fields)
    kw = dict(limit=60, cache=TransferCache(), ideal_accuracy=0.0)
    fast = evaluate(_model(), cfg, **kw)
    calls = []
    real = energy.code_gram
    monkeypatch.setattr(energy, "code_gram", lambda c, t, s=1.0: calls.append(1) or real(c, t, s))
    evaluate(_model(), cfg, **kw)
    assert calls  # the codes' route was taken
    step = energy.LayerMeter.step  # the float64 Grams of the voltages, as before
    monkeypatch.setattr(
        energy.LayerMeter, "step", lambda self, V, scale=1.0, codes=None: step(self, V, scale)
    )
    slow = evaluate(_model(), cfg, **kw)
    assert fast.accuracy == slow.accuracy
    for k, v in slow.energy.items():
        assert fast.energy[k] == pytest.approx(v, rel=1e-12, abs=0.0), k


def _model():
    from xbar.network import load_model

    return load_model("default")
