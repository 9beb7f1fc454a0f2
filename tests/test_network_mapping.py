"""Mapping, tiling, peripherals and non-idealities of the network evaluator."""

from __future__ import annotations

import numpy as np
import pytest

from xbar.errors import ConfigError
from xbar.network.config import AnalogConfig
from xbar.network.mapping import map_weights, quantize_levels
from xbar.network.nonideal import (
    add_pair_difference,
    apply_drift,
    apply_stuck,
    chip_rng,
    program_cells,
    read_noise,
)
from xbar.network.peripherals import adc_quantize, calibrated_range, input_steps
from xbar.network.tiles import plan_tiles, tile_target_conductances


@pytest.fixture
def W():
    rng = np.random.default_rng(1)
    W = rng.normal(0, 0.3, (37, 11))
    W[:, 3] *= 0.1  # a column of small weights
    return W


def _q(W, bits, scale):
    Q = 2 ** (bits - 1) - 1
    return quantize_levels(W / scale, Q) / Q * scale


@pytest.mark.parametrize("mapping", ["differential", "offset"])
@pytest.mark.parametrize("scaling", ["layer", "column", "biscale"])
def test_analog_mapping_represents_weights_exactly(W, mapping, scaling):
    cfg = AnalogConfig(mapping=mapping, weight_scaling=scaling)
    m = map_weights(W, cfg)
    np.testing.assert_allclose(m.weights(), W, rtol=0, atol=1e-14)
    for p in m.planes:
        gp, gn = p.conductances(cfg.g_min, cfg.g_max)
        assert gp.min() >= cfg.g_min - 1e-18 and gp.max() <= cfg.g_max + 1e-18
        if gn is not None:
            assert gn.min() >= cfg.g_min - 1e-18 and gn.max() <= cfg.g_max + 1e-18
            # one cell of each pair at g_min
            assert np.all(np.minimum(gp, gn) == cfg.g_min)
    if scaling == "biscale":
        assert len(m.planes) == 2
    else:
        full = m.planes[0].pos.max(axis=0) if mapping == "differential" else None
        if full is not None:
            mags = np.maximum(m.planes[0].pos, m.planes[0].neg)
            if scaling == "column":  # every column's largest |w| reaches g_max
                np.testing.assert_allclose(mags.max(axis=0), 1.0)
            else:
                assert mags.max() == 1.0 and mags[:, 3].max() < 0.2


@pytest.mark.parametrize("mapping", ["differential", "offset"])
@pytest.mark.parametrize("bits, slices", [(8, 1), (8, 4), (8, 2), (6, 3), (5, 2)])
def test_quantised_and_sliced_weights_recombine(W, mapping, bits, slices):
    cfg = AnalogConfig(mapping=mapping, weight_bits=bits, weight_slices=slices)
    m = map_weights(W, cfg)
    ref = _q(W, bits, np.abs(W).max())
    np.testing.assert_allclose(m.weights(), ref, atol=1e-14)
    assert len(m.planes) == slices
    for p in m.planes:
        assert np.all(p.pos == np.rint(p.pos)) and p.pos.max() <= p.vmax
    if slices == 1:
        assert m.planes[0].vmax == (
            2 ** (bits - 1) - 1 if mapping == "differential" else 2**bits - 1
        )


def _codes(m, j):
    """(pos, neg) slice codes of weight column j (row 0), least significant slice first."""
    pos = [int(p.pos[0, j]) for p in m.planes]
    neg = [int(p.neg[0, j]) for p in m.planes] if m.planes[0].neg is not None else None
    return pos, neg


def test_sliced_codes_by_hand():
    # weights 0, +1, -1, +127, -127 (in units of the 8-bit step; the largest |w| is 127)
    W = np.array([[0.0, 1.0, -1.0, 127.0, -127.0]])
    off = map_weights(W, AnalogConfig(mapping="offset", weight_bits=8, weight_slices=4))
    # offset 2**7 = 128: u = q + 128 = 128, 129, 127, 255, 1 in four 2-bit slices (LSB first)
    assert [_codes(off, j)[0] for j in range(5)] == [
        [0, 0, 0, 2],
        [1, 0, 0, 2],
        [3, 3, 3, 1],
        [3, 3, 3, 3],
        [1, 0, 0, 0],
    ]
    assert [p.offset for p in off.planes] == [0.0, 0.0, 0.0, 2.0]
    assert all(p.vmax == 3.0 for p in off.planes)
    np.testing.assert_allclose(off.weights(), W, atol=1e-12)
    # a zero weight's three low slices sit at g_min
    for p in off.planes[:3]:
        assert p.conductances(1e-6, 1e-4)[0][0, 0] == 1e-6
    # unsliced offset: u = 128 of full scale 255
    one = map_weights(W, AnalogConfig(mapping="offset", weight_bits=8))
    assert one.planes[0].offset == 128.0 and one.planes[0].vmax == 255.0
    assert one.planes[0].pos[0].tolist() == [128.0, 129.0, 127.0, 255.0, 1.0]
    # differential: |q| = 0, 1, 1, 127, 127 in four 2-bit slices of the 7 magnitude bits
    dif = map_weights(W, AnalogConfig(weight_bits=8, weight_slices=4))
    codes = [_codes(dif, j) for j in range(5)]
    assert codes[0] == ([0, 0, 0, 0], [0, 0, 0, 0])
    assert codes[1] == ([1, 0, 0, 0], [0, 0, 0, 0])
    assert codes[2] == ([0, 0, 0, 0], [1, 0, 0, 0])
    assert codes[3] == ([3, 3, 3, 1], [0, 0, 0, 0])
    assert codes[4] == ([0, 0, 0, 0], [3, 3, 3, 1])
    np.testing.assert_allclose(dif.weights(), W, atol=1e-12)


def test_biscale_small_weights_get_finer_levels(W):
    cfg = AnalogConfig(
        weight_scaling="biscale", biscale_shift=2, biscale_threshold=0.25, weight_bits=4
    )
    m = map_weights(W, cfg)
    err_bi = np.abs(m.weights() - W)[np.abs(W) < 0.25 * np.abs(W).max()]
    m0 = map_weights(W, AnalogConfig(weight_bits=4))
    err_0 = np.abs(m0.weights() - W)[np.abs(W) < 0.25 * np.abs(W).max()]
    assert err_bi.mean() < 0.5 * err_0.mean()
    assert {p.label for p in m.planes} == {"main", "small"}
    assert m.planes[1].coef == pytest.approx(m.planes[0].coef / 4)


def test_tiling_covers_every_cell_once(W):
    for mapping, sub in [
        ("differential", "digital"),
        ("offset", "reference_column"),
        ("offset", "digital"),
    ]:
        cfg = AnalogConfig(
            mapping=mapping,
            offset_subtraction=sub,
            array_rows=16,
            array_cols=5,
            weight_bits=8,
            weight_slices=2,
        )
        m = map_weights(W, cfg)
        specs = plan_tiles(m, cfg)
        count = np.zeros((len(m.planes),) + W.shape, int)
        for s in specs:
            assert s.rows <= 16 and s.columns <= 5
            count[s.plane, s.r0 : s.r1, s.j0 : s.j1] += 1
            G = tile_target_conductances(s, m.planes[s.plane], cfg)
            assert G.shape == (s.rows, s.columns)
            if s.reference:
                np.testing.assert_allclose(
                    G[:, -1],
                    cfg.g_min
                    + (cfg.g_max - cfg.g_min) * m.planes[s.plane].offset / m.planes[s.plane].vmax,
                )
        assert np.all(count == 1)


def test_input_steps_dac_and_bit_serial():
    a = np.random.default_rng(0).uniform(0, 1, (5, 7))
    ((w, lv),) = input_steps(a, AnalogConfig())
    assert w == 1.0 and lv is a
    ((w, lv),) = input_steps(a, AnalogConfig(dac_bits=3))
    np.testing.assert_allclose(lv * 7, np.rint(lv * 7))
    assert np.abs(lv - a).max() <= 0.5 / 7 + 1e-12
    steps = input_steps(a, AnalogConfig(input_mode="bit_serial", input_bits=6))
    assert len(steps) == 6
    total = sum(w * lv for w, lv in steps)
    np.testing.assert_allclose(total, np.rint(a * 63) / 63, atol=1e-14)
    for _, lv in steps:
        assert set(np.unique(lv)) <= {0.0, 1.0}


def test_adc_quantiser():
    A = np.linspace(-2, 2, 401)
    q, n = adc_quantize(A, 1.0, 4, signed=True)
    step = 1.0 / 8
    assert np.all(
        np.abs(q[np.abs(A) <= 1 - step]) - np.abs(A[np.abs(A) <= 1 - step]) <= step / 2 + 1e-12
    )
    assert q.max() == pytest.approx(1 - step) and q.min() == pytest.approx(-1)
    assert n == np.count_nonzero((A < -1 - step / 2) | (A > 1 - step / 2 + 1e-12))
    assert len(np.unique(q)) == 16
    q, n = adc_quantize(np.array([0.0, 0.5, 3.0]), 1.0, 2, signed=False)
    np.testing.assert_allclose(q, [0, 2 / 3, 1])
    assert n == 1
    cfg = AnalogConfig(adc_bits=8)
    s = np.arange(10001.0)
    assert calibrated_range(s, cfg) == pytest.approx(np.percentile(s, 99.98))
    assert calibrated_range(-s, AnalogConfig(adc_bits=8, adc_range="max")) == 10000.0


@pytest.mark.parametrize("kind", ["state_independent", "state_proportional"])
def test_programming_clip_modes(kind):
    """true: clip to [g_min, g_max]; false: clip at 0 S only (docs/papers.md: "or at 0 when
    clipping is off"); "none": no clip.  The same normal draws under all three."""
    alpha = 0.6 if kind == "state_proportional" else 0.05
    G = np.linspace(0.0, 1e-4, 4000).reshape(40, 100)
    base = dict(programming_error=kind, programming_sigma=alpha, g_min=1e-6)
    raw = program_cells(G, AnalogConfig(**base, programming_clip="none"), chip_rng(2, 0))
    assert raw.min() < 0 and raw.max() > 1e-4  # both ends are crossed
    at0 = program_cells(G, AnalogConfig(**base, programming_clip=False), chip_rng(2, 0))
    np.testing.assert_array_equal(at0, np.maximum(raw, 0.0))
    rng_ = program_cells(G, AnalogConfig(**base, programming_clip=True), chip_rng(2, 0))
    np.testing.assert_array_equal(rng_, np.clip(raw, 1e-6, 1e-4))
    assert AnalogConfig.from_dict({"programming_clip": "None"}).programming_clip == "none"
    with pytest.raises(ConfigError, match="programming_clip.*'none'"):
        AnalogConfig(programming_clip="never")


def test_programming_error_statistics():
    cfg_i = AnalogConfig(
        programming_error="state_independent", programming_sigma=0.05, programming_clip="none"
    )
    G = np.full((200, 200), 5e-5)
    dG = program_cells(G, cfg_i, chip_rng(0, 0)) - G
    assert abs(dG.mean()) < 3 * 0.05 * 1e-4 / 200
    assert dG.std() == pytest.approx(0.05 * cfg_i.g_max, rel=0.02)
    cfg_p = AnalogConfig(programming_error="state_proportional", programming_sigma=0.05)
    Gp = program_cells(G, cfg_p, chip_rng(0, 0))
    assert (Gp / G - 1).std() == pytest.approx(0.05, rel=0.02)
    # clipping to [g_min, g_max]
    cfg_c = AnalogConfig(programming_error="state_independent", programming_sigma=0.5)
    Gc = program_cells(G, cfg_c, chip_rng(0, 0))
    assert Gc.min() >= cfg_c.g_min and Gc.max() <= cfg_c.g_max
    # chip k is reproducible and chips differ
    np.testing.assert_array_equal(
        program_cells(G, cfg_i, chip_rng(3, 7)), program_cells(G, cfg_i, chip_rng(3, 7))
    )
    assert not np.array_equal(
        program_cells(G, cfg_i, chip_rng(3, 7)), program_cells(G, cfg_i, chip_rng(3, 8))
    )
    assert program_cells(G, AnalogConfig(), chip_rng(0, 0)) is G


def test_weight_range_pair_error_is_exact_difference():
    gp = np.full((300, 300), 2e-5)
    gn = np.full((300, 300), 1e-6)
    p2, n2 = add_pair_difference(gp, gn, 3e-6 * chip_rng(0, 0).standard_normal(gp.shape))
    e = (p2 - n2) - (gp - gn)
    assert e.std() == pytest.approx(3e-6, rel=0.01)
    assert p2.min() >= gp.min() and n2.min() >= gn.min()  # no cell below its target
    assert np.all((p2 == gp) | (n2 == gn))  # the error sits on one cell of each pair


def test_stuck_drift_read_noise():
    cfg = AnalogConfig(stuck_rate=0.1, stuck_high_fraction=0.3)
    G = np.full((300, 300), 5e-5)
    S = apply_stuck(G, cfg, chip_rng(0, 0))
    hi, lo = np.mean(S == cfg.g_max), np.mean(S == cfg.g_min)
    assert hi == pytest.approx(0.03, abs=0.004) and lo == pytest.approx(0.07, abs=0.005)
    d = apply_drift(G, AnalogConfig(drift_time=1e4, drift_nu=0.05, drift_t0=1.0))
    np.testing.assert_allclose(d, G * 1e4**-0.05)
    assert apply_drift(G, AnalogConfig()) is G
    V = np.random.default_rng(0).uniform(0, 0.2, (4000, 30))
    Gs = np.random.default_rng(1).uniform(1e-6, 1e-4, (30, 3))
    cfg = AnalogConfig(read_noise_sigma=0.02, read_noise_kind="state_proportional")
    n = read_noise(V, Gs, cfg, chip_rng(0, 0))
    # compare with explicit per-MVM cell noise (same distribution)
    rng = np.random.default_rng(5)
    explicit = np.stack([V[k] @ (Gs * 0.02 * rng.standard_normal(Gs.shape)) for k in range(4000)])
    np.testing.assert_allclose(n.std(axis=0), explicit.std(axis=0), rtol=0.06)
    assert read_noise(V, Gs, AnalogConfig(), chip_rng(0, 0)) is None
