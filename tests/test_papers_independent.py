"""Independent implementations of the two papers' models, against xbar.

Every reference below is written in plain numpy from the definitions in
``docs/papers.md`` (Xiao et al. 2022: mapping, bit slicing, programming error, read
noise, ADC, bit-line parasitics; Wan et al. 2022: the merged-range noise model,
batch-norm noise, Hutchinson's diagonal) and the conventions xbar documents
(``docs/evaluator.md``, the module docstrings of ``xbar.network.mapping`` /
``peripherals`` / ``nonideal``), without calling xbar's internals: xbar is only the
thing under test, through its public API (``map_weights``, ``AnalogConfig``,
``plan_network`` / ``program_chip``, the tiles' programmed conductances, the
peripherals' functions, ``noise``, ``train``).

Deterministic parts are compared exactly (to round-off): mapping levels and
conductances, slices and their recombination, cell bits, per-column and bi-scale
digital scales, ADC levels and calibrated ranges (xbar's symmetric percentile of |I|
and paper 1's inner range, ``adc_range="inner"``), power-of-two slice ranges, the
full-precision ADC resolution, bit-line parasitics, and a whole 2-layer MLP (bit-serial
inputs, ADC per slice and input bit, row tiling, offset removal digital or by a
reference column) evaluated by the reference pipeline on the same programmed
conductances, through the chip API, ``evaluate`` and ``xbar infer --json``.  Random
parts are compared in distribution with seeded statistics: programming error per state and its
clipping, read noise redrawn per MVM against programming error fixed per chip,
paper 2's per-tensor noise scales (including rescaled biases outside the weight
range) and batch-norm's affine noise, and the sigma = sqrt(2) alpha relation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from xbar.network import AnalogConfig, BatchNorm, Dense, Model, ReLU, map_weights
from xbar.network.evaluate import plan_network, program_chip
from xbar.network.noise import noise_plan, perturb_model_paper
from xbar.network.tiles import TransferCache

G_MIN, G_MAX = 1e-6, 1e-4


# ======================================================================================
# the reference: paper 1's mapping (section 4.1 of Xiao et al., papers.md)
# ======================================================================================
def ref_integers(W, bits):
    """Sign + (bits-1)-bit magnitude integers of the layer, largest |w| -> 2^(B-1) - 1."""
    Q = 2 ** (bits - 1) - 1
    return np.clip(np.rint(W / np.abs(W).max() * Q), -Q, Q).astype(np.int64), Q


def ref_slices(values, cell_bits, n_slices):
    """Least significant slice first; each slice of ceil(cell_bits / S) bits."""
    b = -(-cell_bits // n_slices)
    return [(values >> (b * i)) & (2**b - 1) for i in range(n_slices)], b


def ref_map(W, bits, n_slices, mapping, g_min=G_MIN, g_max=G_MAX):
    """Cells of a layer as ``[(G_plus, G_minus or None, worth, offset level, full)]``.

    ``worth`` is the digital shift of the slice in weight integers, ``full`` the
    slice's largest level (-> g_max; level 0 -> g_min), ``offset level`` the part
    of the offset 2^(B-1) the slice holds (offset mapping; 0 for differential).
    Analog weights (bits = 0): differential cells hold |w| / max|w|, offset cells
    (w / max|w| + 1) / 2 of the range.
    """
    dg = g_max - g_min
    if bits == 0:
        wn = W / np.abs(W).max()
        if mapping == "differential":
            return [(g_min + dg * np.maximum(wn, 0), g_min + dg * np.maximum(-wn, 0), 1, 0, 1)]
        return [(g_min + dg * (wn + 1) / 2, None, 1, 1, 2)]
    q, _ = ref_integers(W, bits)
    if mapping == "differential":
        held, offset, cell_bits = [np.maximum(q, 0), np.maximum(-q, 0)], 0, bits - 1
    else:
        held, offset, cell_bits = [q + 2 ** (bits - 1)], 2 ** (bits - 1), bits
    if n_slices == 1:
        full = 2**cell_bits - 1
        G = [g_min + dg * h / full for h in held]
        return [(G[0], G[1] if len(G) > 1 else None, 1, offset, full)]
    parts = [ref_slices(h, cell_bits, n_slices)[0] for h in held]
    offs, b = ref_slices(np.array([offset]), cell_bits, n_slices)
    out = []
    for i in range(n_slices):
        G = [g_min + dg * p[i] / (2**b - 1) for p in parts]
        out.append((G[0], G[1] if len(G) > 1 else None, 2 ** (b * i), int(offs[i][0]), 2**b - 1))
    return out


def ref_recombine(cells, g_min=G_MIN, g_max=G_MAX):
    """Digital recombination: sum_i worth_i (level_i+ - level_i-) (or level_i - offset_i)."""
    dg = g_max - g_min
    acc = 0.0
    for gp, gn, worth, off, full in cells:
        level_p = (gp - g_min) / dg * full
        value = level_p - ((gn - g_min) / dg * full if gn is not None else off)
        acc = acc + worth * value
    return acc


def xbar_cells(W, cfg):
    """xbar's planes as ``[(G_plus, G_minus or None)]`` through the public mapping."""
    return [p.conductances(cfg.g_min, cfg.g_max) for p in map_weights(W, cfg).planes]


CASES = [(0, 1), (8, 1), (8, 4), (8, 2), (6, 3), (4, 1), (4, 3), (3, 2), (2, 1)]


@pytest.mark.parametrize("mapping", ["differential", "offset"])
@pytest.mark.parametrize(("bits", "slices"), CASES)
def test_mapping_levels_and_conductances_are_exact(mapping, bits, slices):
    rng = np.random.default_rng(100 * bits + slices)
    W = rng.normal(0, 0.4, (9, 7))
    W[0, 0], W[1, 1] = 0.0, -np.abs(W).max() * 1.3  # a zero weight; the largest |w| negative
    cfg = AnalogConfig(mapping=mapping, weight_bits=bits, weight_slices=slices)
    ref = ref_map(W, bits, slices, mapping)
    got = xbar_cells(W, cfg)
    assert len(got) == len(ref)
    for (gp, gn), (rp, rn, *_) in zip(got, ref, strict=True):
        np.testing.assert_allclose(gp, rp, rtol=0, atol=1e-18)
        if rn is None:
            assert gn is None
        else:
            np.testing.assert_allclose(gn, rn, rtol=0, atol=1e-18)
    # zero weight: both cells of a pair at g_min; an offset cell at the offset level
    if mapping == "differential":
        assert [c[0][0, 0] for c in got] == [G_MIN] * slices
        assert [c[1][0, 0] for c in got] == [G_MIN] * slices
    elif bits:
        for (gp, _), (*_, off, full) in zip(got, ref, strict=True):
            assert gp[0, 0] == pytest.approx(G_MIN + (G_MAX - G_MIN) * off / full, rel=1e-14)
    else:
        assert got[0][0][0, 0] == pytest.approx((G_MIN + G_MAX) / 2, rel=1e-14)
    # the largest |w| (negative here) sits at g_max in the unsliced differential case; an
    # offset cell holds -Q + 2^(B-1) = 1 (level 1 of 2^B - 1; g_min for analog weights)
    if slices == 1:
        cell = got[0][1] if mapping == "differential" else got[0][0]
        low = G_MIN + (G_MAX - G_MIN) / (2**bits - 1) if bits else G_MIN
        expect = G_MAX if mapping == "differential" else low
        assert cell[1, 1] == pytest.approx(expect, rel=1e-14)
    # recombination: W = sum_i 2^(b i) (W_i+ - W_i-) (offset removed after it)
    expect = W / np.abs(W).max() if bits == 0 else ref_integers(W, bits)[0]
    np.testing.assert_allclose(ref_recombine(ref), expect, atol=1e-9)
    Q = 1 if bits == 0 else 2 ** (bits - 1) - 1
    np.testing.assert_allclose(
        map_weights(W, cfg).weights(), expect * np.abs(W).max() / Q, rtol=1e-12, atol=1e-15
    )


@pytest.mark.parametrize(("mapping", "bits", "expect"), [
    ("differential", 8, 7), ("offset", 8, 8), ("differential", 4, 3), ("offset", 4, 4),
    ("differential", 0, 0), ("offset", 0, 0),
])  # fmt: skip
def test_cell_bits_of_unsliced_cells(mapping, bits, expect):
    """Unsliced offset cells hold all weight bits, differential pairs one fewer (the sign
    lives in the pair); the largest level of a plane is 2^cell_bits - 1."""
    cfg = AnalogConfig(mapping=mapping, weight_bits=bits)
    assert cfg.cell_bits_total == expect
    if bits:
        plane = map_weights(np.array([[1.0, -0.5]]), cfg).planes[0]
        assert plane.vmax == 2**expect - 1


def ref_scales_per_column(W, scaling, K):
    """Digital gain per output column: the layer's max|W| (``layer``), the column's own
    (``column``), or max|W| / 2^k with the largest k in 0..K that keeps the column's
    weights in range (``column_pow2``: a power-of-two exponent per column)."""
    w_max, col = np.abs(W).max(), np.abs(W).max(axis=0)
    if scaling == "layer":
        return np.full(W.shape[1], w_max)
    if scaling == "column":
        return np.where(col > 0, col, 1.0)
    out = []
    for c in col:
        k = max([k for k in range(K + 1) if c <= w_max * 2.0**-k])
        out.append(w_max * 2.0**-k)
    return np.array(out)


@pytest.mark.parametrize("scaling", ["layer", "column", "column_pow2"])
@pytest.mark.parametrize("shift", [1, 2, 4])
def test_per_column_digital_scales(scaling, shift):
    rng = np.random.default_rng(shift)
    W = rng.normal(0, 1, (12, 9)) * 2.0 ** rng.uniform(-5, 0, 9)  # columns of very different size
    W[0, 0] = 2.0 * np.abs(W).max()  # the layer's largest |w| in column 0
    W[:, 3] = 0.5 * W[:, 3] / np.abs(W[:, 3]).max() * W[0, 0]
    W[0, 3] = W[0, 0] / 2  # a column max of exactly max|W| / 2
    cfg = AnalogConfig(weight_scaling=scaling, biscale_shift=shift, g_min=0.0)
    m = map_weights(W, cfg)
    scale = ref_scales_per_column(W, scaling, shift)
    np.testing.assert_allclose(m.scale, scale, rtol=1e-15)
    gp, gn = m.planes[0].conductances(cfg.g_min, cfg.g_max)
    np.testing.assert_allclose(gp - gn, W / scale * cfg.g_max, rtol=1e-12, atol=1e-20)
    assert gp.max() <= cfg.g_max * (1 + 1e-15) and gn.max() <= cfg.g_max * (1 + 1e-15)
    np.testing.assert_allclose(m.weights(), W, rtol=1e-12, atol=1e-15)
    if scaling == "column_pow2":
        assert np.all(np.log2(np.abs(W).max() / m.scale) % 1 == 0)
        assert m.scale[3] == np.abs(W).max() / 2  # exactly half fits at k = 1


def test_biscale_groups_by_hand():
    """Weights below threshold x max|W| stored amplified 2^k in a second cell group whose
    partial sums are scaled by 2^-k; each weight in one group, the other group's pair at
    g_min."""
    rng = np.random.default_rng(13)
    W = rng.normal(0, 0.3, (10, 6))
    k, thr = 2, 0.25
    cfg = AnalogConfig(weight_scaling="biscale", biscale_shift=k, biscale_threshold=thr)
    wn = W / np.abs(W).max()
    small = np.abs(wn) < thr
    main_v, small_v = np.where(small, 0, wn), np.where(small, wn * 2**k, 0)
    m = map_weights(W, cfg)
    assert [p.label for p in m.planes] == ["main", "small"]
    dg = cfg.g_max - cfg.g_min
    for plane, v in zip(m.planes, (main_v, small_v), strict=True):
        gp, gn = plane.conductances(cfg.g_min, cfg.g_max)
        np.testing.assert_allclose(gp, cfg.g_min + dg * np.maximum(v, 0), rtol=1e-14)
        np.testing.assert_allclose(gn, cfg.g_min + dg * np.maximum(-v, 0), rtol=1e-14)
    assert [p.coef for p in m.planes] == [1.0, 2.0**-k]
    np.testing.assert_allclose(m.weights(), W, rtol=1e-12, atol=1e-15)


# ======================================================================================
# ADC (section 6 of Xiao et al.): levels, calibrated ranges, slice ranges, B_out
# ======================================================================================
def ref_adc(A, r, bits, signed):
    """xbar's documented ADC grid: signed two's complement ``r / 2^(B-1) * [-2^(B-1),
    2^(B-1) - 1]``; unsigned ``r / (2^B - 1) * [0, 2^B - 1]``; round to nearest, clip."""
    if signed:
        step, lo, hi = r / 2 ** (bits - 1), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        step, lo, hi = r / (2**bits - 1), 0, 2**bits - 1
    k = np.round(A / step)
    return np.clip(k, lo, hi) * step, int(np.sum((k < lo) | (k > hi)))


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("bits", [1, 2, 3, 6, 8])
def test_adc_levels_are_exact(bits, signed):
    from xbar.network.peripherals import adc_quantize

    rng = np.random.default_rng(bits)
    r = 3.7e-5
    A = rng.uniform(-1.5 * r, 1.5 * r, 4000)
    q, clipped = adc_quantize(A, r, bits, signed)
    rq, rclipped = ref_adc(A, r, bits, signed)
    np.testing.assert_allclose(q, rq, rtol=0, atol=1e-20)
    assert clipped == rclipped
    levels = np.unique(q)
    assert levels.size == (2**bits if bits > 1 or not signed else 2)
    assert np.allclose(np.diff(levels), r / (2 ** (bits - 1) if signed else 2**bits - 1))
    if signed:
        assert 0.0 in levels  # mid-tread: a zero dot product is exactly representable


def ref_adc_interval(A, lo, hi, bits):
    """Paper 1's simulator's ADC: 2^B levels from lo to hi, clip, round to nearest."""
    step = (hi - lo) / (2**bits - 1)
    return lo + np.round((np.clip(A, lo, hi) - lo) / step) * step


def test_inner_adc_range_and_levels_are_paper_1s():
    """``adc_range="inner"``: [p_0.01, p_99.99] of the signed read-outs for 99.98, and
    2^B levels from one end to the other."""
    from xbar.network.peripherals import adc_quantize_interval, inner_range

    rng = np.random.default_rng(7)
    A = np.concatenate([rng.exponential(2e-5, 30000), -rng.exponential(5e-6, 10000)])
    lo, hi = inner_range(A, 99.98)
    np.testing.assert_allclose((lo, hi), np.percentile(A, [0.01, 99.99]), rtol=1e-12)
    assert np.mean((A >= lo) & (A <= hi)) == pytest.approx(0.9998, abs=1e-4)
    assert -lo < 0.5 * hi  # skewed: the symmetric |I| range would waste levels below 0
    for bits in (1, 3, 8):
        q, clipped = adc_quantize_interval(A, lo, hi, bits)
        np.testing.assert_allclose(q, ref_adc_interval(A, lo, hi, bits), rtol=0, atol=1e-20)
        assert clipped == np.sum((A < lo) | (A > hi))
        k = (q - lo) / ((hi - lo) / (2**bits - 1))
        assert np.allclose(k, np.round(k), atol=1e-6) and k.min() > -1e-9
        assert np.round(k).max() == 2**bits - 1 and q.min() == lo  # both ends are levels


def test_calibrated_range_is_the_percentile_of_abs_and_the_inner_range_when_symmetric():
    """xbar's calibrated range is ``percentile(|I|, 99.98)`` (a symmetric range [-r, r]
    for signed ADC inputs, [0, r] for unsigned ones): for a symmetric distribution it is
    the inner 99.98 % of the signed inputs, ``[p_0.01, p_99.99]``."""
    from xbar.network.peripherals import calibrated_range

    rng = np.random.default_rng(0)
    A = rng.standard_t(4, 400_000) * 1e-5
    cfg = AnalogConfig(adc_bits=8)
    r = calibrated_range(A, cfg)
    assert r == np.percentile(np.abs(A), 99.98)
    lo, hi = np.percentile(A, [0.01, 99.99])
    assert r == pytest.approx((hi - lo) / 2, rel=0.05)  # sampling error of tail quantiles
    assert np.mean(np.abs(A) <= r) == pytest.approx(0.9998, abs=1e-5)
    assert calibrated_range(A, cfg.replace(adc_range="max")) == np.abs(A).max()
    assert calibrated_range(A, cfg.replace(adc_percentile=90.0)) == np.percentile(np.abs(A), 90)


def ref_pow2(ranges):
    """Slice ranges that differ from the group's largest only by powers of two, none
    smaller than calibrated: r -> R / 2^floor(log2(R / r))."""
    R = max(ranges)
    return [R / 2.0 ** math.floor(math.log2(R / r)) for r in ranges]


def test_power_of_two_slice_ranges():
    from xbar.network.peripherals import pow2_ranges

    rng = np.random.default_rng(3)
    for _ in range(50):
        ranges = list(rng.uniform(0.01, 1, 4) * 10 ** rng.uniform(-6, -3))
        labels = [f"slice{i}" for i in range(4)]
        got = pow2_ranges(ranges, labels)
        np.testing.assert_allclose(got, ref_pow2(ranges), rtol=1e-15)
        top = max(got)
        assert all(g >= r for g, r in zip(got, ranges, strict=True))
        assert all(float(np.log2(top / g)).is_integer() for g in got)
    # two scale groups (bi-scale) are constrained separately
    got = pow2_ranges([1.0, 0.3, 8.0, 3.0], ["slice0", "slice1", "small/slice0", "small/slice1"])
    assert got == ref_pow2([1.0, 0.3]) + ref_pow2([8.0, 3.0])


def ref_bout(b_w, b_in, n):
    """Smallest ADC that resolves every sum of n products of a b_w-bit and a b_in-bit
    unsigned integer, by counting: the bits of n (2^b_w - 1)(2^b_in - 1)."""
    return int(n * (2**b_w - 1) * (2**b_in - 1)).bit_length()


@pytest.mark.parametrize("n", [1, 2, 64, 128, 256, 1024])
def test_full_precision_adc_bits_formula(n):
    """B_out = B_W + B_in + log2 N, one bit less when B_W or B_in is 1 (rows a power of
    two); the formula is the exact bit count of the largest output."""
    from xbar.network.peripherals import full_precision_bits

    log2n = int(math.log2(n))
    for b_w in range(1, 9):
        for b_in in range(1, 9):
            expect = b_w + b_in + log2n - (1 if 1 in (b_w, b_in) else 0)
            assert full_precision_bits(b_w, b_in, n) == expect
            assert ref_bout(b_w, b_in, n) == expect


def test_full_precision_adc_bits_of_a_configuration():
    from xbar.errors import ValueRangeError
    from xbar.network.peripherals import config_full_precision_bits

    # 8-bit differential weights: 7 magnitude bits in 4 slices -> 2 bits per cell;
    # bit-serial inputs -> 1 bit; 128 rows
    cfg = AnalogConfig(weight_bits=8, weight_slices=4, input_mode="bit_serial")
    assert config_full_precision_bits(cfg) == 2 + 1 + 7 - 1
    cfg = AnalogConfig(weight_bits=8, mapping="offset", dac_bits=8, array_rows=256)
    assert config_full_precision_bits(cfg) == 8 + 8 + 8
    assert config_full_precision_bits(cfg, rows=100) == 8 + 8 + 7  # ceil(log2 100)
    with pytest.raises(ValueRangeError, match="weight_bits"):
        config_full_precision_bits(AnalogConfig(dac_bits=8))
    with pytest.raises(ValueRangeError, match="dac_bits"):
        config_full_precision_bits(AnalogConfig(weight_bits=8))


# ======================================================================================
# programming error (once per chip) and read noise (every MVM)
# ======================================================================================
def dense_model(W, b=None, name="fc"):
    n_in, n_out = W.shape
    b = np.zeros(n_out) if b is None else b
    return Model([Dense(n_in, n_out, W=W, b=b, name=name)], (n_in,), n_out)


def program(model, cfg, chip=0):
    """xbar's chip ``chip`` of ``model`` (public API): the folded model and the chip."""
    folded, plans = plan_network(model, cfg)
    noise = noise_plan(model, cfg.weight_range_rule)
    return folded, program_chip(plans, folded, cfg, chip, TransferCache(), noise)


def tile_layout(cells, spec):
    """The documented physical layout of a tile: differential + then - column per output;
    offset cells one column per output (+ a reference column)."""
    gp, gn = cells[0][spec.r0 : spec.r1, spec.j0 : spec.j1], cells[1]
    if gn is None:
        return gp
    G = np.empty((gp.shape[0], 2 * gp.shape[1]))
    G[:, 0::2], G[:, 1::2] = gp, gn[spec.r0 : spec.r1, spec.j0 : spec.j1]
    return G


def programmed_vs_target(W, cfg, chips):
    """(target, programmed) conductances of every cell of a 1-layer model over chips."""
    model = dense_model(W)
    ref = ref_map(W, cfg.weight_bits, 1, cfg.mapping, cfg.g_min, cfg.g_max)[0]
    targets, got = [], []
    for k in chips:
        _, net = program(model, cfg, k)
        for tile in net.layers["fc"].tiles:
            targets.append(tile_layout(ref, tile.spec).ravel())
            got.append(tile.G.ravel())
    return np.concatenate(targets), np.concatenate(got)


@pytest.mark.parametrize("mapping", ["differential", "offset"])
@pytest.mark.parametrize("kind", ["state_independent", "state_proportional"])
def test_programming_error_sigma_per_state_without_clipping(kind, mapping):
    """state_independent: G + N(0, (alpha g_max)^2) for every state; state_proportional:
    G (1 + N(0, alpha^2)).  Per state (3-bit weights: 4 or 8 levels), the normalised
    errors are N(0, 1) (KS test) and their std within sampling error."""
    alpha = 0.08
    cfg = AnalogConfig(
        mapping=mapping, weight_bits=3, programming_error=kind, programming_sigma=alpha,
        programming_clip="none", g_min=G_MIN,
    )  # fmt: skip
    W = np.random.default_rng(1).uniform(-1, 1, (60, 40))
    target, got = programmed_vs_target(W, cfg, range(4))
    for g in np.unique(target):
        at = target == g
        sig = alpha * (G_MAX if kind == "state_independent" else g)
        z = (got[at] - g) / sig
        assert at.sum() > 150
        assert stats.kstest(z, "norm").pvalue > 1e-3, (g, z.mean(), z.std())
        assert z.std(ddof=1) == pytest.approx(1.0, abs=5 / math.sqrt(2 * at.sum()))


@pytest.mark.parametrize("kind", ["state_independent", "state_proportional"])
def test_programming_error_clipped_to_the_conductance_range(kind):
    """With clipping on, every programmed cell lies in [g_min, g_max], and per state the
    distribution is the clipped Gaussian (two-sample KS test against the reference's own
    draws, clipped the same way)."""
    alpha = 0.3
    cfg = AnalogConfig(weight_bits=3, programming_error=kind, programming_sigma=alpha, g_min=G_MIN)
    W = np.random.default_rng(2).uniform(-1, 1, (60, 40))
    target, got = programmed_vs_target(W, cfg, range(3))
    assert got.min() >= G_MIN and got.max() <= G_MAX
    assert np.any(got == G_MIN) and np.any(got == G_MAX)  # the clip is reached
    ref_rng = np.random.default_rng(12345)
    for g in np.unique(target):
        at = target == g
        sig = alpha * (G_MAX if kind == "state_independent" else g)
        ref = np.clip(g + sig * ref_rng.standard_normal(4000), G_MIN, G_MAX)
        assert stats.ks_2samp(got[at], ref).pvalue > 1e-3
        # the clipped share at each end matches the Gaussian's tail mass
        p_lo = stats.norm.cdf((G_MIN - g) / sig)
        assert np.mean(got[at] == G_MIN) == pytest.approx(
            p_lo, abs=5 * math.sqrt(p_lo / at.sum()) + 1e-3
        )


def test_reference_column_cells_get_programming_error_too():
    """Every programmed cell errs, the reference column's too: its cells hold the offset
    level (the zero weight's conductance) plus the same state-independent error."""
    alpha = 0.05
    cfg = AnalogConfig(
        mapping="offset", offset_subtraction="reference_column", weight_bits=5,
        programming_error="state_independent", programming_sigma=alpha, programming_clip="none",
    )  # fmt: skip
    W = np.random.default_rng(14).uniform(-1, 1, (100, 20))
    g_ref = G_MIN + (G_MAX - G_MIN) * 2**4 / (2**5 - 1)
    z = []
    for chip in range(6):
        (tile,) = program(dense_model(W), cfg, chip)[1].layers["fc"].tiles
        assert tile.G.shape == (100, 21)
        z.append((tile.G[:, -1] - g_ref) / (alpha * G_MAX))
    z = np.ravel(z)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert z.std(ddof=1) == pytest.approx(1.0, abs=0.15)


def test_programming_error_is_fixed_per_chip_and_independent_between_chips():
    cfg = AnalogConfig(programming_error="state_independent", programming_sigma=0.05, seed=4)
    W = np.random.default_rng(3).uniform(-1, 1, (20, 10))
    model = dense_model(W)
    g0 = program(model, cfg, 0)[1].layers["fc"].tiles[0].G
    again = program(model, cfg, 0)[1].layers["fc"].tiles[0].G
    other = program(model, cfg, 1)[1].layers["fc"].tiles[0].G
    np.testing.assert_array_equal(g0, again)
    spec = program(model, cfg.as_design(), 0)[1].layers["fc"].tiles[0].spec
    target = tile_layout(ref_map(W, 0, 1, "differential")[0], spec)
    e0, e1 = (g0 - target).ravel(), (other - target).ravel()
    assert abs(stats.pearsonr(e0, e1)[0]) < 4 / math.sqrt(e0.size)  # independent chips


@pytest.mark.parametrize("kind", ["state_independent", "state_proportional"])
def test_read_noise_is_redrawn_every_mvm_on_fixed_programmed_cells(kind):
    """Read noise per MVM: G'' = G' + N(0, (s g_max)^2) (or s G') per cell and read, so a
    differential output j of input x has std ``s sqrt(sum_i x_i^2 (n+_ij^2 + n-_ij^2))``
    in conductance units, with the chip's programmed G' (fixed) as the mean."""
    s = 0.05
    cfg = AnalogConfig(
        programming_error="state_independent", programming_sigma=0.03,
        read_noise_sigma=s, read_noise_kind=kind, seed=9,
    )  # fmt: skip
    rng = np.random.default_rng(5)
    W = rng.uniform(-1, 1, (30, 12))
    folded, net = program(dense_model(W), cfg, 2)
    tile = net.layers["fc"].tiles[0]
    G = tile.G  # the chip's programmed cells
    x = rng.uniform(0, 1, 30)
    X = np.tile(x, (3000, 1))
    Y = folded.forward(X, mvm=net.hook)
    Y2 = folded.forward(X, mvm=net.hook)
    assert not np.array_equal(Y, Y2)  # redrawn on every call ...
    np.testing.assert_array_equal(tile.G, G)  # ... on the same programmed cells
    # reference: in weight units one conductance unit is max|W| / (g_max - g_min)
    w_per_s = np.abs(W).max() / (G_MAX - G_MIN)
    mean = x @ (G[:, 0::2] - G[:, 1::2]) * w_per_s
    if kind == "state_independent":
        per_cell = np.full_like(G, s * G_MAX)
    else:
        per_cell = s * G
    var = (x**2) @ (per_cell**2)
    std = np.sqrt(var[0::2] + var[1::2]) * w_per_s
    z = (np.concatenate([Y, Y2]) - mean) / std
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    assert np.abs(z.mean(axis=0)).max() < 5 / math.sqrt(z.shape[0])


# ======================================================================================
# paper 2 (Wan et al.): the merged-range noise model, batch-norm, sigma = sqrt(2) alpha
# ======================================================================================
def R(x):
    """Half range (max - min) / 2 over a tensor."""
    return (np.max(x) - np.min(x)) / 2


def ref_scales(W, b):
    """(r_W, r_b) of "match_range": f = R(b) / R(W), R_m = R(concat(b / f, W)),
    r_W = R_m, r_b = R_m f (without a range to merge: each its own, floored at 1e-8)."""
    if R(W) == 0 or R(b) == 0:
        return max(R(W), 1e-8), max(R(b), 1e-8)
    f = R(b) / R(W)
    R_m = R(np.concatenate([np.ravel(b) / f, np.ravel(W)]))
    return R_m, R_m * f


def bias_cases():
    rng = np.random.default_rng(21)
    W = rng.uniform(-0.8, 1.2, (50, 30))
    inside = rng.uniform(-0.05, 0.05, 30)  # b / f spans W's range exactly-ish
    outside = np.concatenate([[0.0], rng.uniform(0, 0.02, 28), [0.4]])  # b/f beyond W's max
    return W, {"inside": inside, "outside": outside, "zero": np.zeros(30)}


def test_rescaled_biases_outside_the_weight_range_widen_r_W():
    W, cases = bias_cases()
    r_w, r_b = ref_scales(W, cases["outside"])
    assert r_w > 1.2 * R(W)  # the merged range grew
    assert r_b == pytest.approx(r_w * R(cases["outside"]) / R(W))


@pytest.mark.parametrize("case", ["inside", "outside", "zero"])
def test_paper2_noise_on_xbar_chips_matches_the_reference_scales(case):
    """xbar's ``weight_range`` chips (differential, layer scaling, g_min = 0): per chip the
    effective weights are W + sigma r_W n and the bias b + sigma r_b n, n ~ N(0, 1)."""
    W, cases = bias_cases()
    b = cases[case]
    sigma = 0.1
    cfg = AnalogConfig(programming_error="weight_range", programming_sigma=sigma, g_min=0.0)
    model = dense_model(W, b)
    r_w, r_b = ref_scales(W, b)
    zw, zb = [], []
    for chip in range(12):
        _, net = program(model, cfg, chip)
        layer = net.layers["fc"]
        layer.input_scale = 1.0
        W_chip = layer.mvm(np.eye(W.shape[0]), None, track=False) - layer.bias_delta
        zw.append((W_chip - W) / (sigma * r_w))
        zb.append(layer.bias_delta / (sigma * r_b))
    zw, zb = np.ravel(zw), np.ravel(zb)
    assert stats.kstest(zw, "norm").pvalue > 1e-3
    assert zw.std() == pytest.approx(1.0, abs=0.03)
    assert stats.kstest(zb, "norm").pvalue > 1e-3
    assert zb.std() == pytest.approx(1.0, abs=0.25)  # 360 draws


@pytest.mark.parametrize("mapping", ["differential", "offset"])
def test_paper2_noise_is_per_weight_sigma_r_for_both_mappings(mapping):
    """Paper 2's error is per parameter; an unsliced offset cell holds the whole weight
    range -max|W|..max|W| in one cell, so the error in weight units is still sigma r_W
    (before the fix xbar gave offset cells twice that: std 1.95 sigma r_W)."""
    W, cases = bias_cases()
    W = W - W.mean()
    sigma = 0.05
    cfg = AnalogConfig(
        programming_error="weight_range", programming_sigma=sigma, g_min=0.0, mapping=mapping,
    )  # fmt: skip
    model = dense_model(W, cases["inside"])
    r_w, _ = ref_scales(W, cases["inside"])
    errs = []
    for chip in range(8):
        _, net = program(model, cfg, chip)
        layer = net.layers["fc"]
        layer.input_scale = 1.0
        errs.append(layer.mvm(np.eye(W.shape[0]), None, track=False) - layer.bias_delta - W)
    z = np.ravel(errs) / (sigma * r_w)
    # offset cells of the largest negative weights sit at 0 S and are clipped there, so
    # their error is one-sided: keep the weights away from -max|W| for the offset check
    keep = np.ravel([W > -0.8 * np.abs(W).max()] * 8)
    assert z[keep].std() == pytest.approx(1.0, abs=0.03)
    assert stats.kstest(z[keep], "norm").pvalue > 1e-3


def ref_bn_affine(bn):
    w = bn.gamma / np.sqrt(bn.running_var + bn.eps)
    return w, bn.beta - bn.running_mean * w


def make_bn(channels, rng, name):
    bn = BatchNorm(channels, name=name)
    bn.gamma = rng.uniform(0.5, 2.0, channels)
    bn.beta = rng.normal(0, 0.3, channels)
    bn.running_mean = rng.normal(0, 0.5, channels)
    bn.running_var = rng.uniform(0.3, 3.0, channels)
    return bn


def test_batchnorm_affine_noise_by_the_same_rule():
    """A batch-norm is its own noisy layer: its effective affine w_eff = gamma / sqrt(var
    + eps), b_eff = beta - mean w_eff gets sigma r n by the merged-range rule (b_eff as
    the bias, w_eff as the weight), one draw per chip."""
    rng = np.random.default_rng(8)
    n = 400
    bn = make_bn(n, rng, "bn")
    W = rng.uniform(-1, 1, (6, n))
    model = Model([Dense(6, n, W=W, b=rng.normal(0, 0.1, n), name="fc"), bn], (6,), n)
    w_eff, b_eff = ref_bn_affine(bn)
    r_w, r_b = ref_scales(w_eff, b_eff)
    sigma = 0.1
    zs, zt = [], []
    for chip in range(10):
        chip_model = perturb_model_paper(model, sigma, np.random.default_rng(chip))
        w2, b2 = ref_bn_affine(chip_model.layer("bn"))
        zs.append((w2 - w_eff) / (sigma * r_w))
        zt.append((b2 - b_eff) / (sigma * r_b))
    for z in (np.ravel(zs), np.ravel(zt)):
        assert stats.kstest(z, "norm").pvalue > 1e-3
        assert z.std() == pytest.approx(1.0, abs=0.05)


def test_batchnorm_folded_after_its_noise_on_xbar_chips():
    """On a chip the folded layer is W'' = (W + dW) w_eff', b'' = (b + db) w_eff' + b_eff'
    with the draws of the digital chip (perturb then fold): the chip's matrix equals the
    reference fold of ``perturb_model_paper`` with the same chip generator."""
    from xbar.network.nonideal import chip_rng

    rng = np.random.default_rng(4)
    n = 12
    W, b = rng.uniform(-1, 1, (7, n)), rng.normal(0, 0.1, n)
    model = Model([Dense(7, n, W=W, b=b, name="fc"), make_bn(n, rng, "bn")], (7,), n)
    sigma = 0.08
    cfg = AnalogConfig(programming_error="weight_range", programming_sigma=sigma, g_min=0.0)
    for chip in range(3):
        _, net = program(model, cfg, chip)
        layer = net.layers["fc"]
        layer.input_scale = 1.0
        W_chip = layer.mvm(np.eye(7), None, track=False)
        digital = perturb_model_paper(model, sigma, chip_rng(cfg.seed, chip))
        w2, b2 = ref_bn_affine(digital.layer("bn"))
        fc = digital.layer("fc")
        np.testing.assert_allclose(W_chip - layer.bias_delta, fc.W * w2, rtol=1e-9, atol=1e-12)
        folded_b = (
            model.layer("fc").b * ref_bn_affine(model.layer("bn"))[0]
            + ref_bn_affine(model.layer("bn"))[1]
        )
        np.testing.assert_allclose(folded_b + layer.bias_delta, fc.b * w2 + b2, rtol=1e-9)


def test_sigma_equals_sqrt2_alpha_relation():
    """Differential mapping, g_min = 0, no clipping, R_W = max|W|: paper 1's per-cell
    state-independent alpha g_max gives each weight an error of std sqrt(2) alpha max|W|,
    paper 2's sigma R_W with sigma = sqrt(2) alpha the same."""
    rng = np.random.default_rng(6)
    W = rng.uniform(-1, 1, (40, 30))
    W[0, 0], W[0, 1] = 1.0, -1.0  # R_W = max|W| = 1
    alpha = 0.05
    model = dense_model(W, np.zeros(30))
    si = AnalogConfig(
        programming_error="state_independent", programming_sigma=alpha, g_min=0.0,
        programming_clip="none",
    )  # fmt: skip
    wr = si.replace(programming_error="weight_range", programming_sigma=math.sqrt(2) * alpha)
    stds = []
    for cfg in (si, wr):
        errs = []
        for chip in range(10):
            _, net = program(model, cfg, chip)
            layer = net.layers["fc"]
            layer.input_scale = 1.0
            errs.append(layer.mvm(np.eye(40), None, track=False) - layer.bias_delta - W)
        stds.append(np.std(errs))
    assert stds[0] == pytest.approx(math.sqrt(2) * alpha, rel=0.03)
    assert stds[1] == pytest.approx(math.sqrt(2) * alpha, rel=0.03)


def test_paper2_training_noise_scales_and_twenty_chips():
    """The per-parameter std that noise-injection / Hessian training uses is the chips'
    sigma r_W, sigma r_b; paper 2 tests each sigma on 20 chips by default."""
    import inspect

    from xbar.network.noise import chip_accuracies
    from xbar.network.train import noise_scales

    W, cases = bias_cases()
    model = dense_model(W, cases["outside"])
    s = noise_scales(model, 0.1)
    r_w, r_b = ref_scales(W, cases["outside"])
    # packed in the order of model.parameters(): fc/W then fc/b
    assert list(model.parameters()) == ["fc/W", "fc/b"]
    np.testing.assert_allclose(s[: W.size], 0.1 * r_w, rtol=1e-12)
    np.testing.assert_allclose(s[W.size :], 0.1 * r_b, rtol=1e-12)
    assert inspect.signature(chip_accuracies).parameters["chips"].default == 20


def test_hutchinson_diagonal_of_a_known_hessian():
    """E[v * (H v)] = diag(H) for Rademacher v; H v by a finite difference of gradients."""
    from xbar.network.train import hutchinson_diagonal

    rng = np.random.default_rng(0)
    A = rng.normal(size=(12, 12))
    H = A @ A.T + np.diag(rng.uniform(1, 3, 12))

    def grad(theta):  # f = 1/2 theta^T H theta + sum theta^3 / 6 (Hessian H + diag(theta))
        return H @ theta + theta**2 / 2

    theta = rng.normal(size=12)
    samples = 4000
    est = hutchinson_diagonal(grad, theta, samples, np.random.default_rng(1))
    exact = np.diag(H) + theta
    # per vector, v_i (H v)_i - H_ii = sum_{j != i} H_ij v_i v_j: variance sum_j!=i H_ij^2
    se = np.sqrt((np.sum(H**2, axis=1) - np.diag(H) ** 2) / samples)
    assert np.all(np.abs(est - exact) < 4.5 * se)


# ======================================================================================
# bit-line parasitics (section 7 of Xiao et al.)
# ======================================================================================
def ref_bitline_transfer(G, R):
    """Column currents per unit row voltage of one bit line: rows ideal, cell i from its
    row to bit-line node i, R between neighbouring nodes and from the last node (row
    M - 1, next to the sense amplifier) to the virtual ground.  Nodal analysis."""
    M = G.size
    A = np.diag(G.astype(float))
    for k in range(M):
        A[k, k] += 1 / R if k == M - 1 else 0.0
        if k + 1 < M:
            A[k, k] += 1 / R
            A[k + 1, k + 1] += 1 / R
            A[k, k + 1] -= 1 / R
            A[k + 1, k] -= 1 / R
    # node voltages for unit voltage on row i: A v = G_i e_i; output = v_{M-1} / R
    v = np.linalg.solve(A, np.diag(G))
    return v[M - 1, :] / R


@pytest.mark.parametrize("mapping", ["differential", "offset"])
def test_bit_line_resistance_against_a_nodal_reference(mapping):
    rng = np.random.default_rng(11)
    W = rng.uniform(-1, 1, (10, 4))
    cfg = AnalogConfig(mapping=mapping, r_col=50.0, array_rows=16, array_cols=16)
    _, net = program(dense_model(W), cfg)
    (tile,) = net.layers["fc"].tiles
    G_full = np.full((16, tile.G.shape[1]), cfg.g_min)  # padding rows at g_min, 0 V
    G_full[:10] = tile_layout(ref_map(W, 0, 1, mapping)[0], tile.spec)
    np.testing.assert_array_equal(tile.G, G_full[:10])
    ref = np.stack([ref_bitline_transfer(G_full[:, j], 50.0) for j in range(G_full.shape[1])], 1)
    np.testing.assert_allclose(tile.W_eff, ref[:10], rtol=1e-9)
    assert np.max(np.abs(ref[:10] - tile.G)) > 1e-3 * G_MAX  # the wires matter here


def test_parasitics_depend_on_r_times_g_max_only():
    """Scaling every conductance by c and the wire resistance by 1 / c leaves the
    network's outputs unchanged (the normalised R_p g_max is the parameter)."""
    rng = np.random.default_rng(12)
    model = Model(
        [Dense(20, 8, W=rng.uniform(-1, 1, (20, 8)), name="a"), ReLU(),
         Dense(8, 3, W=rng.uniform(-1, 1, (8, 3)), name="b")], (20,), 3,
    )  # fmt: skip
    x = rng.uniform(0, 1, (16, 20))
    outs = []
    for c in (1.0, 0.1, 7.0):
        cfg = AnalogConfig(g_min=1e-6 * c, g_max=1e-4 * c, r_col=100.0 / c, array_rows=32)
        folded, net = program(model, cfg)
        outs.append(folded.forward(x, mvm=net.hook))
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-9)
    np.testing.assert_allclose(outs[2], outs[0], rtol=1e-9)
    assert not np.allclose(outs[0], model.forward(x), rtol=1e-3)


# ======================================================================================
# end to end: a 2-layer MLP through the reference pipeline on xbar's conductances
# ======================================================================================
class RefLayer:
    """One matmul layer of the reference pipeline (ideal wires, linear cells)."""

    def __init__(self, W, b, cfg, tiles_G):
        self.W, self.b, self.cfg = W, b, cfg
        self.cells = ref_map(
            W, cfg.weight_bits, cfg.weight_slices, cfg.mapping, cfg.g_min, cfg.g_max
        )
        self.Q = 1 if cfg.weight_bits == 0 else 2 ** (cfg.weight_bits - 1) - 1
        self.G = tiles_G  # [(plane, r0, r1, conductances of the tile)], programmed
        self.x_scale = None
        self.adc = None

    def design_tiles(self):
        """The error-free tiles of the reference mapping (same layout)."""
        cfg, dg = self.cfg, self.cfg.g_max - self.cfg.g_min
        out = []
        for p, r0, r1, _ in self.G:
            gp, gn, _, off, full = self.cells[p]
            if gn is not None:
                G = np.empty((r1 - r0, 2 * gp.shape[1]))
                G[:, 0::2], G[:, 1::2] = gp[r0:r1], gn[r0:r1]
            else:
                G = gp[r0:r1]
                if cfg.offset_subtraction == "reference_column":
                    G = np.hstack([G, np.full((r1 - r0, 1), cfg.g_min + dg * off / full)])
            out.append((p, r0, r1, G))
        return out

    def steps(self, a):
        """(step weight, levels in [0, 1]) of normalised non-negative inputs."""
        cfg = self.cfg
        if cfg.input_mode == "bit_serial":
            n = 2**cfg.input_bits - 1
            q = np.round(np.clip(a, 0, 1) * n).astype(np.int64)
            return [(2.0**t / n, ((q >> t) & 1).astype(float)) for t in range(cfg.input_bits)]
        if cfg.dac_bits:
            n = 2**cfg.dac_bits - 1
            return [(1.0, np.round(np.clip(a, 0, 1) * n) / n)]
        return [(1.0, a)]

    def reads(self, X, tiles):
        """Every ADC input: (plane, sign x step weight, r0, ADC input, row sum of V)."""
        cfg = self.cfg
        passes = [(1.0, np.maximum(X, 0))] + ([(-1.0, np.maximum(-X, 0))] if X.min() < 0 else [])
        for sign, xp in passes:
            for w_t, lv in self.steps(xp / self.x_scale):
                V = lv * cfg.v_read
                for p, r0, r1, G in tiles:
                    I = V[:, r0:r1] @ G  # Kirchhoff: column currents
                    n = self.W.shape[1]
                    if self.cells[p][1] is not None:
                        A = I[:, 0::2] - I[:, 1::2]  # differential: subtract before the ADC
                    elif cfg.offset_subtraction == "reference_column":
                        A = I[:, :n] - I[:, n:]
                    else:
                        A = I
                    yield p, sign * w_t, A, V[:, r0:r1].sum(axis=1, keepdims=True)

    def calibrate(self, X):
        self.x_scale = max(np.abs(X).max(), 1e-300)
        if not self.cfg.adc_bits:
            return
        samples = {}
        for p, _, A, _ in self.reads(X, self.design_tiles()):
            samples.setdefault(p, []).append(A.ravel())
        P = self.cfg.adc_percentile
        if self.cfg.adc_range == "inner":  # paper 1: the inner P % of the signed inputs
            self.adc = {
                p: tuple(np.percentile(np.concatenate(s), [(100 - P) / 2, (100 + P) / 2]))
                for p, s in samples.items()
            }
        else:  # xbar's default: the P-th percentile of |I|
            self.adc = {p: np.percentile(np.abs(np.concatenate(s)), P) for p, s in samples.items()}

    def __call__(self, X, design=False):
        """The layer's digitised output (on the error-free design with ``design``)."""
        cfg, dg = self.cfg, self.cfg.g_max - self.cfg.g_min
        Y = np.zeros((X.shape[0], self.W.shape[1]))
        for p, w, A, sumV in self.reads(X, self.design_tiles() if design else self.G):
            gp, gn, worth, off, full = self.cells[p]
            unsigned = gn is None and cfg.offset_subtraction == "digital"
            if cfg.adc_bits and cfg.adc_range == "inner":
                A = ref_adc_interval(A, *self.adc[p], cfg.adc_bits)
            elif cfg.adc_bits:
                A = ref_adc(A, self.adc[p], cfg.adc_bits, signed=not unsigned)[0]
            if unsigned:  # the offset removed digitally
                A = A - sumV * (cfg.g_min + dg * off / full)
            Y += w * worth / self.Q * full / dg * A
        return Y * self.x_scale / cfg.v_read * np.abs(self.W).max() + self.b


def ref_forward(layers, x):
    h = layers[0](x)
    return layers[1](np.maximum(h, 0))


def xbar_tiles(net, name):
    return [(t.spec.plane, t.spec.r0, t.spec.r1, t.G) for t in net.layers[name].tiles]


E2E = {
    "diff-sliced-bitserial-adc": dict(
        weight_bits=6, weight_slices=2, input_mode="bit_serial", input_bits=4, adc_bits=6,
        dac_bits=0,
    ),
    "offset-digital-dac-adc": dict(mapping="offset", weight_bits=5, dac_bits=5, adc_bits=7),
    "offset-sliced-reference-adc": dict(
        mapping="offset", offset_subtraction="reference_column", weight_bits=6,
        weight_slices=3, dac_bits=4, adc_bits=8,
    ),
    "analog-offset-reference": dict(mapping="offset", offset_subtraction="reference_column"),
    "diff-programming-error-adc": dict(
        weight_bits=8, adc_bits=5, dac_bits=6, programming_error="state_independent",
        programming_sigma=0.05,
    ),
    "inner-diff-sliced-bitserial": dict(  # programming error: no read-out on a level's edge
        weight_bits=6, weight_slices=2, input_mode="bit_serial", input_bits=4, adc_bits=5,
        adc_range="inner", adc_percentile=95.0, programming_error="state_proportional",
        programming_sigma=0.05,
    ),
    "inner-offset-digital-error": dict(
        mapping="offset", weight_bits=5, dac_bits=5, adc_bits=6, adc_range="inner",
        programming_error="state_independent", programming_sigma=0.03,
    ),
    "offset-bitserial-error": dict(
        mapping="offset", weight_bits=4, input_mode="bit_serial", input_bits=3, adc_bits=5,
        programming_error="state_proportional", programming_sigma=0.1,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(E2E))
def test_two_layer_mlp_reference_pipeline_equals_xbar(case):
    """A tiny MLP with signed inputs (two input passes), tiled onto 4-row arrays (partial
    sums digitised per tile), calibrated once on the error-free design (input scale =
    largest |x|, ADC range per plane = 99.98th percentile of |ADC input|), then run on a
    programmed chip: the reference pipeline on xbar's programmed conductances gives
    xbar's outputs to round-off."""
    rng = np.random.default_rng(sum(map(ord, case)))
    W1, b1 = rng.normal(0, 0.5, (6, 5)), rng.normal(0, 0.1, 5)
    W2, b2 = rng.normal(0, 0.5, (5, 3)), rng.normal(0, 0.1, 3)
    model = Model(
        [Dense(6, 5, W=W1, b=b1, name="l1"), ReLU(), Dense(5, 3, W=W2, b=b2, name="l2")],
        (6,), 3,
    )  # fmt: skip
    cfg = AnalogConfig(array_rows=4, seed=3, **E2E[case])
    x_cal, x = rng.uniform(-1, 1, (64, 6)), rng.uniform(-1.1, 1.1, (40, 6))
    folded, design = program(model, cfg.as_design(), 0)
    design.calibrate(folded, x_cal)
    _, chip = program(model, cfg, 1)
    chip.set_ranges(design.ranges())
    got = folded.forward(x, mvm=chip.hook)

    layers = [
        RefLayer(W1, b1, cfg, xbar_tiles(chip, "l1")),
        RefLayer(W2, b2, cfg, xbar_tiles(chip, "l2")),
    ]
    # the reference's own tiling is xbar's: planes x row blocks of array_rows
    expect_rows = [(p, r0) for p in range(cfg.weight_slices) for r0 in range(0, 6, 4)]
    assert [(p, r0) for p, r0, _, _ in layers[0].G] == expect_rows
    if cfg.programming_error == "none":  # the chip holds the reference's conductances
        for (_, _, _, G), (_, _, _, D) in zip(layers[0].G, layers[0].design_tiles(), strict=True):
            np.testing.assert_allclose(G, D, rtol=1e-14, atol=1e-20)
    layers[0].calibrate(x_cal)
    layers[1].calibrate(np.maximum(layers[0](x_cal, design=True), 0))  # digitised, design
    for name, lay in zip(("l1", "l2"), layers, strict=True):
        ranges = design.ranges()[name]
        assert ranges["input_scale"] == pytest.approx(lay.x_scale, rel=1e-12)
        if cfg.adc_bits:
            assert len(ranges["adc_ranges"]) == len(lay.adc)
            np.testing.assert_allclose(
                ranges["adc_ranges"], [lay.adc[p] for p in sorted(lay.adc)], rtol=1e-9
            )
    ref = ref_forward(layers, x)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    if cfg.adc_bits or cfg.programming_error != "none":
        assert not np.allclose(got, model.forward(x), rtol=1e-4)  # the non-idealities act


@pytest.mark.parametrize("case", ["diff-programming-error-adc", "offset-bitserial-error"])
def test_evaluate_agrees_with_the_reference_pipeline_chip_by_chip(case):
    """``xbar.network.evaluate`` (design calibration on the first training images, one
    programming draw per chip): labelling the test images with the reference's
    predictions on chip 0 gives xbar accuracy 1 on chip 0, and on chip 1 the share of
    images where the reference's chips 0 and 1 agree."""
    from xbar.network import evaluate
    from xbar.network.arrays import Dataset

    rng = np.random.default_rng(sum(map(ord, case)))
    W1, b1 = rng.normal(0, 0.5, (6, 5)), rng.normal(0, 0.1, 5)
    W2, b2 = rng.normal(0, 0.5, (5, 3)), rng.normal(0, 0.1, 3)
    model = Model(
        [Dense(6, 5, W=W1, b=b1, name="l1"), ReLU(), Dense(5, 3, W=W2, b=b2, name="l2")],
        (6,), 3,
    )  # fmt: skip
    cfg = AnalogConfig(array_rows=4, seed=5, repeats=2, calibration_size=30, **E2E[case])
    x_train, x = rng.uniform(-1, 1, (64, 6)), rng.uniform(-1, 1, (80, 6))
    preds = []
    for chip in (0, 1):
        _, net = program(model, cfg, chip)
        layers = [
            RefLayer(W, b, cfg, xbar_tiles(net, n)) for W, b, n in ((W1, b1, "l1"), (W2, b2, "l2"))
        ]
        layers[0].calibrate(x_train[:30])
        layers[1].calibrate(np.maximum(layers[0](x_train[:30], design=True), 0))
        preds.append(np.argmax(ref_forward(layers, x), axis=1))
    y = np.zeros(0, dtype=np.int64)
    data = Dataset(x_train, np.zeros(64, np.int64), x[:0], y, x, preds[0], "toy", 3)
    result = evaluate(model, cfg, dataset=data)
    assert result.chips == [0, 1]
    assert result.accuracies[0] == 1.0
    assert result.accuracies[1] == pytest.approx(np.mean(preds[1] == preds[0]), abs=1e-12)
    assert np.mean(preds[1] == preds[0]) < 1.0  # the two chips differ


def test_inner_range_refuses_power_of_two_slice_ranges():
    from xbar.errors import ConfigError

    with pytest.raises(ConfigError, match="adc_pow2"):
        AnalogConfig(adc_bits=4, adc_range="inner", adc_pow2=True).validate()


def test_cli_infer_agrees_with_the_reference_pipeline(tmp_path, capsys):
    """``xbar infer --json`` on a saved model and data file: per-chip accuracies are the
    reference pipeline's agreement with labels drawn from its own chip-0 predictions."""
    import json

    from xbar.cli import main
    from xbar.network import Flatten, save_model

    case = "offset-bitserial-error"
    rng = np.random.default_rng(77)
    W1, b1 = rng.normal(0, 0.5, (6, 5)), rng.normal(0, 0.1, 5)
    W2, b2 = rng.normal(0, 0.5, (5, 3)), rng.normal(0, 0.1, 3)
    model = Model(  # data files hold images: 1 x 1 pixels of 6 channels
        [Flatten(), Dense(6, 5, W=W1, b=b1, name="l1"), ReLU(),
         Dense(5, 3, W=W2, b=b2, name="l2")],
        (1, 1, 6), 3,
    )  # fmt: skip
    cfg = AnalogConfig(array_rows=4, seed=11, calibration_size=20, **E2E[case])
    x_train, x = rng.uniform(0, 1, (50, 6)), rng.uniform(0, 1, (60, 6))
    preds = []
    for chip in (0, 1, 2):
        _, net = program(model, cfg, chip)
        layers = [
            RefLayer(W, b, cfg, xbar_tiles(net, n)) for W, b, n in ((W1, b1, "l1"), (W2, b2, "l2"))
        ]
        layers[0].calibrate(x_train[:20])
        layers[1].calibrate(np.maximum(layers[0](x_train[:20], design=True), 0))
        preds.append(np.argmax(ref_forward(layers, x), axis=1))
    save_model(model, tmp_path / "m.npz")
    y0 = preds[0].astype(np.int64)
    img = (-1, 1, 1, 6)
    np.savez(
        tmp_path / "d.npz", x_train=x_train.reshape(img), y_train=np.zeros(50, np.int64),
        x_val=x[:1].reshape(img), y_val=y0[:1], x_test=x.reshape(img), y_test=y0,
    )  # fmt: skip
    flags = [
        "--mapping", "offset", "--weight-bits", "4", "--input-mode", "bit_serial",
        "--input-bits", "3", "--adc-bits", "5", "--programming-error", "state_proportional",
        "--programming-sigma", "0.1", "--array-rows", "4", "--seed", "11",
        "--calibration-size", "20",
    ]  # fmt: skip
    argv = ["infer", "--model", str(tmp_path / "m.npz"), "--dataset", str(tmp_path / "d.npz")]
    rc = main([*argv, *flags, "--chips", "0,1,2", "--json", "--no-progress", "--no-energy"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    expect = [float(np.mean(p == preds[0])) for p in preds]
    assert out["accuracies"] == pytest.approx(expect, abs=1e-12)
    assert expect[0] == 1.0 and min(expect) < 1.0
