"""Weights to conductances: scaling, bi-scale groups, quantisation, bit slicing, mapping.

A layer's weight matrix ``W`` (n_in x n_out) becomes a list of :class:`Plane`\\ s.
Each plane is one set of cells holding non-negative integer (or, for analog
weights, real) values; the digital side recombines the planes' outputs:

    W = scale * sum_p coef_p * value_p,

where ``value_p = pos_p - neg_p`` for a differential plane (two cells per weight,
subtracted in analog before the ADC) and ``value_p = u_p - offset_p`` for an
offset plane (one cell per weight; the offset removed digitally or by a
reference column).  A cell holding value ``v`` of a plane with full scale
``vmax`` is programmed to ``g_min + (g_max - g_min) * v / vmax``.

Scaling (``weight_scaling``):

* ``layer``: ``scale`` = the layer's largest ``|w|`` (maps to ``g_max``);
* ``column``: ``scale[j]`` = the largest ``|w|`` of output column ``j`` (a digital
  gain per column after the ADC, any real number);
* ``column_pow2``: ``scale[j]`` = ``max|W| / 2**k_j`` with ``k_j`` the largest integer
  in ``0..biscale_shift`` such that column j's largest ``|w|`` still fits
  (``k_j = min(biscale_shift, floor(log2(max|W| / max|w_j|)))``): a power-of-two
  exponent per column from a small set, applied digitally (paper 2's analog floating
  point read literally; its column maxima map to between g_max / 2 and g_max unless
  the set runs out);
* ``biscale``: the layer scale, but weights with ``|w| < biscale_threshold *
  max|W|`` are stored amplified by ``2**biscale_shift`` in a second set of cells
  whose partial sums are scaled by ``2**-biscale_shift`` digitally (xbar's
  interpretation of paper 2's analog floating point: twice the cells and ADC
  conversions of ``layer`` scaling, no other hardware).  Each weight lives in one
  group (:attr:`Plane.active`); with differential mapping its pair in the other
  group is left off at g_min (not programmed, so without programming error).

Quantisation (``weight_bits`` = B > 0): the normalised weight in [-1, 1] is
rounded to an integer in [-Q, Q], Q = 2**(B-1) - 1 (sign + magnitude).  A
differential pair stores the magnitude (B - 1 bits); an offset cell stores
``u = q + 2**(B-1)`` in [1, 2**B - 1] (B bits, full scale 2**B - 1; paper 1's
offset: 128 for 8 bits, so a zero weight is ``1000...0`` and its low slices sit
at g_min).  Bit slicing (``weight_slices`` = S): the
stored integer is split into S slices of b = ceil(bits / S) bits, slice i worth
2**(b i) (paper 1: W = sum_i 2**(b i) (W_i+ - W_i-)), each slice its own plane
with full scale 2**b - 1; for offset mapping the offset 2**(B-1) is split the same
way so that it is removed after recombination.  With B = 0 weights stay analog
(offset cells then hold ``(w + 1) / 2`` of the range).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError, ValueRangeError
from .config import AnalogConfig

__all__ = ["Plane", "LayerMapping", "map_weights", "quantize_levels"]


@dataclass
class Plane:
    """One set of cells of a layer (a slice and/or a scale group).

    Attributes
    ----------
    kind : str
        ``"differential"`` or ``"offset"``.
    pos : ndarray
        Cell values (n_in x n_out) in [0, vmax]: the + cells of a differential
        plane, the only cells of an offset plane.
    neg : ndarray or None
        The - cells of a differential plane (n_in x n_out).
    vmax : float
        Value that maps to ``g_max``.
    offset : float
        Value that represents a zero weight (offset planes; 0 for differential).
    coef : float
        Digital weight of the plane's output in the recombination.
    label : str
        ``"main"``, ``"slice<i>"``, ``"small"``, ``"small/slice<i>"``...
    active : ndarray of bool or None
        Which weights this plane stores (n_in x n_out); None = all.  With bi-scale
        scaling each weight lives in one scale group only; the other group's cells
        for it are left off (at g_min, not programmed, so without programming error).
    """

    kind: str
    pos: np.ndarray
    neg: np.ndarray | None
    vmax: float
    offset: float
    coef: float
    label: str
    active: np.ndarray | None = None

    def value(self) -> np.ndarray:
        """The signed value this plane represents (n_in x n_out)."""
        if self.kind == "differential":
            return self.pos - self.neg
        return self.pos - self.offset

    def conductances(self, g_min: float, g_max: float) -> tuple[np.ndarray, np.ndarray | None]:
        """Target conductances [S] of the + (or only) cells and of the - cells."""
        dg = (g_max - g_min) / self.vmax
        gp = g_min + dg * self.pos
        gn = None if self.neg is None else g_min + dg * self.neg
        return gp, gn

    @property
    def offset_conductance(self) -> float:
        """Conductance [S] per unit g_max - g_min of the offset value (fraction of range)."""
        return self.offset / self.vmax


@dataclass
class LayerMapping:
    """How one layer's weights sit in cells (before tiling and device errors).

    Attributes
    ----------
    n_in, n_out : int
        Layer size (rows and logical output columns).
    scale : ndarray
        Digital output gain per column (n_out,), in weight units.
    planes : list of Plane
        The cell sets; see the module docstring for the recombination.
    w_max : float
        Largest ``|w|`` of the layer.
    w_range_half : float
        R = (max W - min W) / 2 of the layer (paper 2's noise scale).
    """

    n_in: int
    n_out: int
    scale: np.ndarray
    planes: list[Plane]
    w_max: float
    w_range_half: float

    def weights(self) -> np.ndarray:
        """The weight matrix the mapping represents without device errors (n_in x n_out)."""
        acc = np.zeros((self.n_in, self.n_out))
        for p in self.planes:
            acc += p.coef * p.value()
        return acc * self.scale

    @property
    def cells(self) -> int:
        """Number of weight cells (without reference columns)."""
        return sum(p.pos.size * (2 if p.kind == "differential" else 1) for p in self.planes)


def quantize_levels(x: np.ndarray, levels: int) -> np.ndarray:
    """Round ``x`` in [-1, 1] to the integers -levels..levels (``levels`` > 0)."""
    return np.clip(np.rint(x * levels), -levels, levels)


def _slices(values: np.ndarray, bits_total: int, n_slices: int) -> tuple[list[np.ndarray], int]:
    """Split non-negative integers of ``bits_total`` bits into slices, least significant first."""
    b = -(-bits_total // n_slices)
    ints = values.astype(np.int64)
    mask = (1 << b) - 1
    return [((ints >> (b * i)) & mask).astype(float) for i in range(n_slices)], b


def map_weights(W: np.ndarray, config: AnalogConfig) -> LayerMapping:
    """Map a layer's weight matrix to cell planes.

    Parameters
    ----------
    W : ndarray
        Weights, n_in x n_out (column j feeds output j).
    config : AnalogConfig
        Uses ``mapping``, ``weight_scaling``, ``biscale_shift``,
        ``biscale_threshold``, ``weight_bits`` and ``weight_slices``.

    Returns
    -------
    LayerMapping

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[0.5, -1.0], [0.25, 0.0]])
    >>> m = map_weights(W, AnalogConfig())
    >>> np.allclose(m.weights(), W), len(m.planes), m.planes[0].kind
    (True, 1, 'differential')
    >>> m8 = map_weights(W, AnalogConfig(weight_bits=8, weight_slices=4))
    >>> len(m8.planes), float(m8.planes[0].vmax)
    (4, 3.0)
    """
    W = np.asarray(W, dtype=float)
    if W.ndim != 2:
        raise ShapeError(f"weight matrix must be 2-D (n_in x n_out), got shape {W.shape}")
    if not np.all(np.isfinite(W)):
        raise ValueRangeError("weight matrix contains NaN or infinite values")
    n_in, n_out = W.shape
    w_max = float(np.abs(W).max()) if W.size else 0.0
    w_range_half = float((W.max() - W.min()) / 2) if W.size else 0.0
    scale = _column_scales(W, config.weight_scaling, config.biscale_shift)
    planes: list[Plane] = []
    for label, g, factor, active in _scale_groups(W / scale, config):
        B = config.weight_bits
        Q = 1.0 if B == 0 else float(2 ** (B - 1) - 1)
        q = np.clip(g, -1.0, 1.0) if B == 0 else quantize_levels(g, int(Q))
        if config.mapping == "differential":
            planes += _differential_planes(q, Q, B, config.weight_slices, factor, label, active)
        else:
            planes += _offset_planes(q, Q, B, config.weight_slices, factor, label, active)
    return LayerMapping(n_in, n_out, scale, planes, w_max, w_range_half)


def _column_scales(W: np.ndarray, weight_scaling: str, shift: int = 0) -> np.ndarray:
    """Per output column scale that maps the weights into [-1, 1] (``n_out``,)."""
    n_in, n_out = W.shape
    if weight_scaling == "column":
        scale = np.abs(W).max(axis=0) if n_in else np.zeros(n_out)
        return np.where(scale > 0, scale, 1.0)
    w_max = float(np.abs(W).max()) if W.size else 0.0
    layer = np.full(n_out, w_max if w_max > 0 else 1.0)
    if weight_scaling != "column_pow2" or w_max == 0:
        return layer
    col = np.abs(W).max(axis=0)
    with np.errstate(divide="ignore"):
        k = np.floor(np.log2(w_max / np.where(col > 0, col, w_max * 2.0**-shift)))
    k = np.clip(k, 0, shift)
    k = np.where((k > 0) & (col > layer * 2.0**-k), k - 1, k)  # log2 rounded up: one less
    return layer * 2.0**-k


def _scale_groups(
    wn: np.ndarray, config: AnalogConfig
) -> list[tuple[str, np.ndarray, float, np.ndarray | None]]:
    """``(label, normalised weights, digital factor, active mask)`` per scale group: one
    ``main`` group, or bi-scale's ``main`` and ``small`` (amplified by 2^k) groups."""
    if config.weight_scaling != "biscale":
        return [("main", wn, 1.0, None)]
    k = config.biscale_shift
    small = np.abs(wn) < config.biscale_threshold
    return [
        ("main", np.where(small, 0.0, wn), 1.0, ~small),
        ("small", np.where(small, wn * 2.0**k, 0.0), 2.0**-k, small),
    ]


def _differential_planes(q, Q, B, S, factor, label, active) -> list[Plane]:
    """Cell pairs holding ``max(q, 0)`` and ``max(-q, 0)``, whole or in ``S`` slices of
    the ``B - 1`` magnitude bits."""
    pos, neg = np.maximum(q, 0.0), np.maximum(-q, 0.0)
    if S == 1:
        return [Plane("differential", pos, neg, Q, 0.0, factor / Q, label, active)]
    sp, b = _slices(pos, B - 1, S)
    sn, _ = _slices(neg, B - 1, S)
    return [
        Plane(
            "differential",
            sp[i],
            sn[i],
            float(2**b - 1),
            0.0,
            factor * 2.0 ** (b * i) / Q,
            _join(label, f"slice{i}"),
            active,
        )
        for i in range(S)
    ]


def _offset_planes(q, Q, B, S, factor, label, active) -> list[Plane]:
    """One cell per weight holding ``q + 2^(B-1)`` (paper 1: 128 for 8 bits; analog
    weights: mid-range, 1 of 2), whole or in ``S`` slices of ``B`` bits, with the
    offset sliced alike."""
    off = 1.0 if B == 0 else float(2 ** (B - 1))
    u = q + off
    if S == 1:
        vmax = 2.0 if B == 0 else float(2**B - 1)
        return [Plane("offset", u, None, vmax, off, factor / Q, label, active)]
    su, b = _slices(u, B, S)
    so, _ = _slices(np.array([off]), B, S)
    return [
        Plane(
            "offset",
            su[i],
            None,
            float(2**b - 1),
            float(so[i][0]),
            factor * 2.0 ** (b * i) / Q,
            _join(label, f"slice{i}"),
            active,
        )
        for i in range(S)
    ]


def _join(group: str, part: str) -> str:
    return part if group == "main" else f"{group}/{part}"
