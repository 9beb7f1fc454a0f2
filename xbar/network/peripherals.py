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
  calibration batch's ``|I|`` (paper 1: the inner 99.98 %), per layer and per plane
  (slice / scale group); ``max`` = their maximum; ``full_scale`` = the largest
  current the array can produce (all ``array_rows`` rows at ``v_read`` on cells
  at the extreme of the range).
"""

from __future__ import annotations

import numpy as np

from .cells import cell_function
from .config import AnalogConfig

__all__ = [
    "input_steps",
    "adc_quantize",
    "calibrated_range",
    "full_scale_range",
    "pow2_ranges",
    "quantize_activations",
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
