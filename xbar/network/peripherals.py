"""Array peripherals: DAC and bit-serial inputs, the ADC and its range calibration.

* Inputs are non-negative in every pass; a signed activation is split by the
  evaluator into a positive and a negative pass (``x = x+ - x-``), each applied
  as voltages and the two results subtracted digitally.
* ``analog`` inputs: ``a = x / x_scale`` in [0, 1] (``x_scale`` calibrated per
  layer as the largest input of the calibration batch); with ``dac_bits`` = D > 0
  ``a`` is clipped to [0, 1] and rounded to the 2**D - 1 DAC steps.  The row
  voltage is ``a * v_read``.
* ``bit_serial`` inputs: ``x / x_scale`` is rounded to an integer of
  ``input_bits`` = b bits and applied one bit per step (voltage ``v_read`` or 0);
  each step is digitised separately and the results are shifted and added
  digitally (weight ``2**t / (2**b - 1)`` for bit t).
* ADC: a uniform quantiser per array column (per plane and step) of ``adc_bits``
  bits.  Signed inputs (differential and reference-column outputs) use a
  mid-tread two's-complement grid ``step * [-2**(B-1), 2**(B-1) - 1]`` with
  ``step = r / 2**(B-1)``; unsigned ones (offset cells with digital
  subtraction) ``step * [0, 2**B - 1]`` with ``step = r / (2**B - 1)``.  Values
  outside are clipped (and counted).
* ADC range ``r``: ``calibrated`` = the ``adc_percentile`` percentile of the
  calibration batch's ``|I|``, per layer and per plane (slice / scale group), used as
  ``[-r, r]`` (signed) or ``[0, r]`` (unsigned): xbar's reading of paper 1's "inner
  99.98 %", equal to the signed inner range ``[p_0.01, p_99.99]`` only when the
  read-outs are symmetric about 0 (see ``docs/evaluator.md``); ``max`` = their
  maximum; ``inner`` = paper 1's (CrossSim's) asymmetric ``[p_lo, p_hi]`` of the
  signed read-outs (:func:`inner_range`), ``2**B`` levels from ``p_lo`` to ``p_hi``
  (:func:`adc_quantize_interval`); ``full_scale`` = the largest
  current the array can produce (all ``array_rows`` rows at ``v_read`` on cells
  at the extreme of the range).
* Paper 2's ADC (``output_levels`` = L > 0): every analog layer's output ``X W + b``
  is quantised to L uniform levels from the smallest to the largest output of the
  calibration images (:func:`output_range`, :func:`quantize_levels`).
* Full precision guarantee (paper 1, section 6): :func:`full_precision_bits` is the
  ADC resolution that resolves every possible output of a conversion, ``B_W + B_in
  + ceil(log2 N)``, one bit less when the cell or the input step is 1 bit.
"""

from __future__ import annotations

import math

import numpy as np

from .cells import cell_function
from .config import AnalogConfig

__all__ = [
    "input_steps",
    "adc_quantize",
    "adc_quantize_interval",
    "inner_range",
    "calibrated_range",
    "full_scale_range",
    "full_precision_bits",
    "config_full_precision_bits",
    "pow2_ranges",
    "quantize_activations",
    "output_range",
    "quantize_levels",
]


def input_steps(a: np.ndarray, config: AnalogConfig) -> list[tuple[float, np.ndarray]]:
    """Decompose normalised non-negative inputs into applied steps.

    Parameters
    ----------
    a : ndarray
        Inputs divided by the layer's input scale, K x M, >= 0 (1 = full scale).
    config : AnalogConfig
        ``input_mode``, ``dac_bits``, ``input_bits``.

    Returns
    -------
    list of (weight, levels)
        ``sum(weight * levels)`` is the input as the hardware sees it; each
        ``levels`` (K x M, in [0, 1]) is applied as ``levels * v_read`` volts in one
        array read.

    Examples
    --------
    >>> import numpy as np
    >>> cfg = AnalogConfig(input_mode="bit_serial", input_bits=2)
    >>> [(w, l.tolist()) for w, l in input_steps(np.array([[1.0, 1/3]]), cfg)]
    [(0.3333333333333333, [[1.0, 1.0]]), (0.6666666666666666, [[1.0, 0.0]])]
    """
    if config.input_mode == "analog":
        if config.dac_bits == 0:
            return [(1.0, a)]
        n = 2**config.dac_bits - 1
        return [(1.0, np.rint(np.clip(a, 0.0, 1.0) * n) / n)]
    b = config.input_bits
    n = 2**b - 1
    q = np.rint(np.clip(a, 0.0, 1.0) * n).astype(np.int64)
    steps = []
    for t in range(b):
        bits = ((q >> t) & 1).astype(float)
        steps.append((2.0**t / n, bits))
    return steps


def adc_quantize(A: np.ndarray, r: float, bits: int, signed: bool) -> tuple[np.ndarray, int]:
    """Quantise ADC inputs ``A`` [A] to ``bits`` bits over range ``r`` [A].

    Returns the quantised currents and the number of clipped samples.  A range of
    0 (nothing observed during calibration) maps everything to 0.

    >>> import numpy as np
    >>> q, n = adc_quantize(np.array([-2.0, 0.26, 0.9]), 1.0, 2, signed=True)
    >>> q.tolist(), n
    ([-1.0, 0.5, 0.5], 2)
    """
    if r <= 0:
        return np.zeros_like(A), int(np.count_nonzero(A))
    if signed:
        half = 2 ** (bits - 1)
        step = r / half
        lo, hi = -half, half - 1
    else:
        step = r / (2**bits - 1)
        lo, hi = 0, 2**bits - 1
    k = np.rint(A / step)
    clipped = int(np.count_nonzero((k < lo) | (k > hi)))
    np.clip(k, lo, hi, out=k)
    return k * step, clipped


def adc_quantize_interval(A: np.ndarray, lo: float, hi: float, bits: int) -> tuple[np.ndarray, int]:
    """Quantise ADC inputs ``A`` [A] to ``2**bits`` levels from ``lo`` to ``hi`` [A].

    Paper 1's simulator's ADC: clip to ``[lo, hi]``, then round to ``lo + k (hi - lo)
    / (2**bits - 1)``, k = 0..2**bits - 1.  Returns the quantised currents and the
    number of clipped samples.  ``hi <= lo`` (a degenerate calibration) maps
    everything to ``lo``.

    >>> q, n = adc_quantize_interval(np.array([-1.0, 0.1, 0.3, 5.0]), 0.0, 3.0, 2)
    >>> q.tolist(), n
    ([0.0, 0.0, 0.0, 3.0], 2)
    """
    clipped = int(np.count_nonzero((A < lo) | (A > hi)))
    if hi <= lo:
        return np.full_like(A, lo, dtype=float), clipped
    step = (hi - lo) / (2**bits - 1)
    k = np.rint((np.clip(A, lo, hi) - lo) / step)
    return lo + k * step, clipped


def inner_range(samples: np.ndarray, percentile: float) -> tuple[float, float]:
    """``(p_lo, p_hi)`` [A]: the inner ``percentile`` % of the signed ``samples``, with
    ``p_lo = (100 - percentile) / 2`` and ``p_hi = 100 - p_lo`` (paper 1's "inner
    99.98 %": the 0.01th to the 99.99th percentile); ``(0, 0)`` without samples.

    >>> inner_range(np.arange(101.0), 90.0)
    (5.0, 95.0)
    """
    s = np.asarray(samples, dtype=float).ravel()
    if s.size == 0:
        return 0.0, 0.0
    tail = (100.0 - percentile) / 2.0
    lo, hi = np.percentile(s, [tail, 100.0 - tail])
    return float(lo), float(hi)


def calibrated_range(samples: np.ndarray, config: AnalogConfig) -> float:
    """ADC range [A] from calibration ADC inputs (``calibrated``: percentile; ``max``)."""
    s = np.abs(np.asarray(samples, dtype=float)).ravel()
    if s.size == 0:
        return 0.0
    if config.effective_adc_range == "max":
        return float(s.max())
    return float(np.percentile(s, config.adc_percentile))


def full_scale_range(
    config: AnalogConfig, *, kind: str, reference: bool, offset_frac: float, rows: int | None = None
) -> float:
    """Largest possible ADC input [A] of a tile with ``rows`` rows present.

    ``kind`` "differential": every row at ``v_read`` on a pair (g_max, g_min);
    offset cells with digital subtraction: every cell at g_max; with a reference
    column: the largest distance of a cell from the reference conductance.
    ``rows`` defaults to ``array_rows`` (a fully used array).  A nonlinear cell at
    ``v_read`` carries ``G f(v_read)`` (:mod:`xbar.network.cells`), not ``G v_read``.
    """
    dg = config.g_max - config.g_min
    f = cell_function(config)
    v = config.v_read if f is None else float(f(np.array(config.v_read)))
    rows = (config.array_rows if rows is None else rows) * v
    if kind == "differential":
        return rows * dg
    if reference:
        return rows * dg * max(offset_frac, 1.0 - offset_frac)
    return rows * config.g_max


def full_precision_bits(cell_bits: int, input_bits: int, rows: int) -> int:
    """ADC bits of paper 1's "full precision guarantee" for one conversion.

    ``B_out = B_W + B_in + ceil(log2 N)``, one bit less when ``B_W`` or ``B_in`` is 1:
    a sum of ``N`` products of a ``B_W``-bit level and a ``B_in``-bit input is at
    most ``N (2**B_W - 1)(2**B_in - 1)``, which needs ``B_W + B_in`` bits per
    product, or ``max(B_W, B_in)`` when one factor is a single bit.  ``log2 N`` is
    rounded up for a row count that is not a power of two (the sign of a
    differential or reference-column output is not counted, as in the paper).  The
    bit count alone makes no ADC lossless: xbar's grids span the configured range
    (``full_scale``: the largest possible current, ``r / (2**B - 1)`` or ``r /
    2**(B-1)`` per step), which is not a whole number of output units in general.

    Parameters
    ----------
    cell_bits : int
        Bits per cell (per slice), ``B_W`` >= 1.
    input_bits : int
        Input bits per conversion, ``B_in`` >= 1 (1 for bit-serial inputs).
    rows : int
        Active rows ``N`` summed by one conversion (>= 1).

    Examples
    --------
    >>> full_precision_bits(8, 8, 128), full_precision_bits(2, 1, 128)
    (23, 9)
    """
    from ..errors import ValueRangeError

    for name, v in (("cell_bits", cell_bits), ("input_bits", input_bits), ("rows", rows)):
        if int(v) != v or v < 1:
            raise ValueRangeError(f"{name} must be an integer >= 1, got {v!r}")
    one_bit = 1 if min(cell_bits, input_bits) == 1 else 0
    return int(cell_bits) + int(input_bits) + math.ceil(math.log2(int(rows))) - one_bit


def config_full_precision_bits(config: AnalogConfig, rows: int | None = None) -> int:
    """:func:`full_precision_bits` of ``config``'s arrays.

    ``B_W`` = bits per cell: ``ceil(cell_bits_total / weight_slices)`` (weight bits
    minus one for differential pairs); ``B_in`` = 1 for ``bit_serial`` inputs, else
    ``dac_bits``; ``N`` = ``rows`` (default ``array_rows``).

    Raises
    ------
    ValueRangeError
        Analog weights (``weight_bits = 0``) or an unquantised DAC (``dac_bits = 0``
        with analog inputs): no finite resolution resolves every output.

    >>> config_full_precision_bits(AnalogConfig(weight_bits=8, weight_slices=4,
    ...                            input_mode="bit_serial"))
    9
    """
    from ..errors import ValueRangeError

    if config.weight_bits == 0:
        raise ValueRangeError("weight_bits=0 (analog weights): no full-precision ADC exists")
    cell = -(-config.cell_bits_total // config.weight_slices)
    if config.input_mode == "bit_serial":
        b_in = 1
    elif config.dac_bits > 0:
        b_in = config.dac_bits
    else:
        raise ValueRangeError("dac_bits=0 (unquantised inputs): no full-precision ADC exists")
    return full_precision_bits(cell, b_in, config.array_rows if rows is None else rows)


def pow2_ranges(ranges: list[float], labels: list[str]) -> list[float]:
    """Raise slice ranges so that those of one weight differ by powers of two.

    Planes whose labels differ only in the ``slice<i>`` part belong to one group
    (one scale group of a weight).  In a group with top range ``R``, a range ``r``
    becomes ``R / 2**floor(log2(R / r))`` (>= r, so nothing clips more than before).

    >>> pow2_ranges([1.0, 0.3, 0.1], ["slice0", "slice1", "slice2"])
    [1.0, 0.5, 0.125]
    """
    out = list(ranges)
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label.rsplit("slice", 1)[0], []).append(i)
    for idx in groups.values():
        top = max(out[i] for i in idx)
        if top <= 0:
            continue
        for i in idx:
            if out[i] > 0:
                out[i] = float(top / 2.0 ** np.floor(np.log2(top / out[i])))
    return out


def quantize_activations(x: np.ndarray, r: float, bits: int, signed: bool) -> np.ndarray:
    """Uniform quantisation of activations to ``bits`` bits over range ``r``.

    Unsigned: levels ``k r / (2**B - 1)``, k = 0..2**B - 1 (inputs clipped to
    [0, r]); signed: ``k r / (2**(B-1) - 1)``, |k| <= 2**(B-1) - 1.  A range of 0
    maps everything to 0.

    >>> quantize_activations(np.array([-0.2, 0.1, 0.4, 2.0]), 1.0, 2, signed=False).tolist()
    [0.0, 0.0, 0.3333333333333333, 1.0]
    >>> quantize_activations(np.array([-0.6, 0.2]), 1.0, 2, signed=True).tolist()
    [-1.0, 0.0]
    """
    if r <= 0:
        return np.zeros_like(x)
    n = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    lo = -1.0 if signed else 0.0
    return np.rint(np.clip(x / r, lo, 1.0) * n) * (r / n)


def output_range(samples: np.ndarray) -> tuple[float, float]:
    """``(lo, hi)``: the smallest and largest of a layer's calibration outputs, the range of
    paper 2's output quantiser (``output_levels``); ``(0, 0)`` without samples.

    >>> output_range(np.array([[0.5, -2.0], [3.0, 1.0]]))
    (-2.0, 3.0)
    """
    s = np.asarray(samples, dtype=float)
    if s.size == 0:
        return 0.0, 0.0
    return float(s.min()), float(s.max())


def quantize_levels(y: np.ndarray, lo: float, hi: float, levels: int) -> tuple[np.ndarray, int]:
    """Paper 2's ADC: uniform quantisation of layer outputs ``y`` to ``levels`` levels.

    The levels are ``lo + k (hi - lo) / (levels - 1)``, k = 0..levels-1 (``lo`` and
    ``hi`` are levels); ``y`` is clipped to ``[lo, hi]`` and rounded to the nearest
    level (halves to even, ``numpy.rint``).  ``hi <= lo`` (a layer whose calibration
    outputs were all equal) maps everything to ``lo``.  Returns the quantised outputs (a
    new array) and how many values were clipped.

    >>> q, n = quantize_levels(np.array([-1.0, 0.2, 0.3, 0.9, 5.0]), 0.0, 1.0, 3)
    >>> q.tolist(), n
    ([0.0, 0.0, 0.5, 1.0, 1.0], 2)
    """
    from ..errors import ValueRangeError

    if int(levels) != levels or levels < 2:
        raise ValueRangeError(f"output_levels must be an integer >= 2, got {levels!r}")
    y = np.asarray(y, dtype=float)
    clipped = int(np.count_nonzero((y < lo) | (y > hi)))
    if not hi > lo:
        return np.full_like(y, lo), clipped
    step = (hi - lo) / (int(levels) - 1)
    k = np.rint((np.clip(y, lo, hi) - lo) / step)
    return lo + k * step, clipped
