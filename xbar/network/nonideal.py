"""Device non-idealities: programming error, stuck cells, drift, read noise; chip seeds.

All draws are seeded.  Chip ``k`` of a run with seed ``s`` programs its cells
from ``chip_rng(s, k)`` = ``np.random.default_rng(np.random.SeedSequence(s,
spawn_key=(k,)))``, so chip k is the same chip in every run and on every
executor; its read noise comes from independent streams
``SeedSequence(s, spawn_key=(k, 1))`` (test images) and ``(k, 2)`` (calibration).

Definitions (``xbar``'s conventions, see ``docs/papers.md``):

* ``state_independent``: G' = G + N(0, (alpha g_max)^2) per cell;
* ``state_proportional``: G' = G (1 + N(0, alpha^2)) per cell;
  both clipped to [g_min, g_max] when ``programming_clip`` is on (the default),
  at 0 S when it is off, and not at all with ``programming_clip="none"`` (the
  Gaussian idealisation; refused for arrays solved as circuits);
* ``weight_range`` (paper 2): an additive error sigma r n per *parameter*, with
  the noise scales r of :mod:`xbar.network.noise` (``weight_range_rule``;
  default: paper 2's released code, merged weight/bias ranges, batch-norm as a
  layer of its own).  It is applied in the conductance domain so that it passes
  through the real mapping (:func:`draw_weight_range`): each weight's cell pair
  gets a difference error, added to the + cell when positive and to the - cell
  when negative (both stay >= their target, no upper clip, as in the paper).
  Offset cells take the error on their one cell, clipped at 0 S (not with
  ``programming_clip="none"``).
  The conductance error of a cell (pair) is ``sigma r (g_max - g_min) / (max|W|
  span)`` with ``span`` the weights one cell range holds (:func:`weight_span`: 1
  for a differential pair, 2 for an offset cell, whose range holds -max|W| ..
  max|W|), so that under layer scaling an unsliced weight gets exactly the paper's
  error ``sigma r`` per weight, differential or offset (and paper 2's mean offset
  ``mu r``, ``programming_mu``, through the same factor).  Under column / bi-scale
  scaling the same conductance error is worth less for weights stored amplified;
  with bit slicing every slice's cell (pair) gets that conductance error, worth
  ``2^(b i) (2^b - 1) / L`` times the unsliced error per weight for slice i of b
  bits (L = the unsliced cell's largest level, 2^(B-1) - 1 differential, 2^B - 1
  offset; xbar's convention: paper 2 has no slicing).  Offset cells get the error on their one
  cell, clipped at 0 S.  Biases and digital
  batch-norm layers get theirs digitally.  With differential mapping, g_min = 0,
  no clipping and r = max|W|, ``state_independent`` with alpha gives each pair a
  difference error of sigma sqrt(2) alpha g_max: the two kinds coincide for
  sigma = sqrt(2) alpha.
* every programmed cell gets its error: the idle cell of a differential pair (at
  g_min), the pairs of the scale group that does not hold a weight (bi-scale),
  reference columns, and (with wire resistance) the padding cells of partly used
  tiles;
* read noise: the same two forms, redrawn for every MVM; it is drawn directly
  as its exact effect on the column currents (for ideal wires),
  ``I_j += N(0, sum_i V_i^2 s_ij^2)`` with ``s_ij`` the cell's read sigma;
* drift: G(t) = G (t / t0)^-nu for t > 0;
* stuck: each cell stuck with probability ``stuck_rate``, at g_max with
  probability ``stuck_high_fraction``, else at g_min.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import AnalogConfig
from .noise import parameter_matrix

__all__ = [
    "chip_rng",
    "noise_rng",
    "program_cells",
    "add_pair_difference",
    "draw_weight_range",
    "weight_span",
    "weight_range_on",
    "LayerErrors",
    "apply_stuck",
    "apply_drift",
    "read_noise",
]

READ_STREAM = 1
CALIBRATION_STREAM = 2


def chip_rng(seed: int, chip: int) -> np.random.Generator:
    """The generator that programs chip ``chip`` of a run with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chip,)))


def noise_rng(seed: int, chip: int, stream: int = READ_STREAM) -> np.random.Generator:
    """An independent read-noise generator of chip ``chip`` (stream 1 test, 2 calibration)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chip, stream)))


def program_cells(G: np.ndarray, config: AnalogConfig, rng: np.random.Generator) -> np.ndarray:
    """Apply a per-cell programming error of kind state_independent / state_proportional.

    Parameters
    ----------
    G : ndarray
        Target conductances [S], any shape.
    config : AnalogConfig
        ``programming_error``, ``programming_sigma`` (alpha), ``programming_clip``,
        ``g_min``, ``g_max``.
    rng : Generator
        The chip's generator (one standard normal per cell is drawn).

    Returns
    -------
    ndarray
        Programmed conductances, same shape (a new array); ``G`` itself when off.
    """
    kind, alpha = config.programming_error, config.programming_sigma
    if kind not in ("state_independent", "state_proportional") or alpha == 0:
        return G
    n = rng.standard_normal(G.shape)
    if kind == "state_independent":
        out = G + alpha * config.g_max * n
    else:
        out = G * (1.0 + alpha * n)
    if config.programming_clip is True:
        np.clip(out, config.g_min, config.g_max, out=out)
    elif config.programming_clip is False:
        np.maximum(out, 0.0, out=out)  # a conductance cannot be negative
    return out


def add_pair_difference(
    Gp: np.ndarray, Gn: np.ndarray | None, delta: np.ndarray, clip: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Add a difference error ``delta`` [S] to cell pairs (paper 2's per-weight error).

    A positive ``delta`` goes on the + cell, a negative one on the - cell, so both
    stay at or above their target (no upper clip, as in paper 2).  ``Gn`` None:
    offset cells, the error goes on the one cell, clipped at 0 S unless ``clip`` is
    False (``programming_clip="none"``: the Gaussian idealisation, exactly paper 2's
    digital error also for the offset cells of the most negative weights).
    """
    if Gn is None:
        return (np.maximum(Gp + delta, 0.0) if clip else Gp + delta), None
    return Gp + np.maximum(delta, 0.0), Gn + np.maximum(-delta, 0.0)


@dataclass
class LayerErrors:
    """One chip's ``weight_range`` errors of one layer (see :func:`draw_weight_range`).

    Attributes
    ----------
    deltas : list of ndarray
        Per plane, the difference error [S] of every weight's cell pair (n_in x n_out).
    bias_delta : ndarray
        Change of the (folded) bias, in output units (n_out,).
    cell_sigma : float
        Sigma [S] of the error of cells that hold no weight (reference columns,
        padding cells of partly used tiles).
    """

    deltas: list[np.ndarray]
    bias_delta: np.ndarray
    cell_sigma: float


def draw_weight_range(
    mapping,
    noise,
    b_folded: np.ndarray,
    config: AnalogConfig,
    rng: np.random.Generator,
    layer=None,
) -> LayerErrors | None:
    """Draw one chip's ``weight_range`` errors of one layer, in the conductance domain.

    Parameters
    ----------
    mapping : LayerMapping
        The layer's mapping (of the BN-folded weights W_f).
    noise : xbar.network.noise.LayerNoise
        Noise scales ``r_W``, ``r_b`` of the unfolded layer and its folded batch-norms.
    b_folded : ndarray
        The folded bias (n_out,).
    config : AnalogConfig
    rng : Generator
        The chip's generator.  Draw order: bias, weights (one parameter tensor per
        plane), then the folded batch-norms (see :mod:`xbar.network.noise`).
    layer : Dense or Conv2D, optional
        The layer: its parameter tensor ``W`` is what gets the error (a grouped
        convolution's cells between its diagonal blocks hold no parameter and get
        none); without it, every entry of the ``n_in x n_out`` matrix is a parameter.

    Returns
    -------
    LayerErrors or None (no ``weight_range`` error).

    Notes
    -----
    Perturb-then-fold, ``W_f' = (W + r_W (sigma n + mu)) s'`` with ``s'`` the perturbed
    batch-norm scale (``mu``: ``programming_mu``, paper 2's mean offset, 0 by default),
    is put into the cells as a difference error per pair: ``delta = D (s' / s - 1) +
    r_W s' (sigma n + mu) (g_max - g_min) / (max|W_f| span)``,
    with ``D`` the pair's target difference and ``span`` of :func:`weight_span`.  The
    multiplicative part is exact for every scaling; the additive part is a conductance
    error of the size that gives ``sigma r_W s'`` per unsliced weight under ``layer``
    scaling (differential or offset), so weights stored
    amplified (``column``, ``biscale``) see it reduced in weight units.  Every
    plane draws its own additive errors, including the pairs of weights it does
    not hold (the other scale group of ``biscale``).
    """
    sigma, mu = config.programming_sigma, config.programming_mu
    if not weight_range_on(config):
        return None
    dg = config.g_max - config.g_min
    n_b = rng.standard_normal(np.shape(b_folded))
    held = 1.0  # 1 where a cell (pair) holds a parameter
    if layer is None:
        n_w = [rng.standard_normal((mapping.n_in, mapping.n_out)) for _ in mapping.planes]
    else:
        n_w = [parameter_matrix(layer, rng.standard_normal(layer.W.shape)) for _ in mapping.planes]
        if getattr(layer, "groups", 1) != 1:
            held = parameter_matrix(layer, np.ones(layer.W.shape))
    s_old, t_old = noise.folded_affine(sigma, None)
    s_new, t_new = noise.folded_affine(sigma, rng, mu)
    if noise.bns:
        bias_delta = (noise.b + noise.r_b * (sigma * n_b + mu)) * s_new + t_new - b_folded
        gain = np.where(s_old != 0, s_new / np.where(s_old != 0, s_old, 1.0), 1.0)
    else:
        bias_delta = noise.r_b * (sigma * n_b + mu)
        gain = 1.0
    # an all-zero weight matrix has no conductance scale: its r_W is the 1e-8 floor, whose
    # error is not put into its cells (at g_min); its draws, bias and batch-norm errors are
    per_weight = (
        noise.r_W * dg / (mapping.w_max * weight_span(config)) if mapping.w_max > 0 else 0.0
    )
    unit = sigma * per_weight
    deltas = []
    for plane, n in zip(mapping.planes, n_w, strict=True):
        d = per_weight * s_new * (sigma * n + mu) * held
        if noise.bns and plane.vmax > 0:
            d = d + (dg * plane.value() / plane.vmax) * (gain - 1.0)
        deltas.append(d)
    return LayerErrors(
        deltas, np.asarray(bias_delta, dtype=float), float(unit * np.mean(np.abs(s_new)))
    )


def weight_range_on(config: AnalogConfig) -> bool:
    """True when ``config`` draws paper 2's ``weight_range`` error (sigma or mu non-zero).

    >>> weight_range_on(AnalogConfig(programming_error="weight_range", programming_mu=0.1))
    True
    """
    return config.programming_error == "weight_range" and (
        config.programming_sigma > 0 or config.programming_mu != 0
    )


def weight_span(config: AnalogConfig) -> float:
    """Weights of one ``max|W|`` per ``g_max - g_min`` of one cell of an unsliced plane:
    1 for a differential pair (its difference spans ``+-(g_max - g_min)`` for
    ``+-max|W|``), 2 for an offset cell with analog weights (its range holds ``-max|W|
    .. max|W|``), ``(2**B - 1) / (2**(B-1) - 1)`` for an offset cell of B-bit weights.

    >>> weight_span(AnalogConfig()), weight_span(AnalogConfig(mapping="offset"))
    (1.0, 2.0)
    """
    if config.mapping == "differential":
        return 1.0
    B = config.weight_bits
    return 2.0 if B == 0 else (2.0**B - 1.0) / (2.0 ** (B - 1) - 1.0)


def apply_stuck(G: np.ndarray, config: AnalogConfig, rng: np.random.Generator) -> np.ndarray:
    """Stick a random fraction ``stuck_rate`` of cells at g_min or g_max."""
    if config.stuck_rate == 0:
        return G
    stuck = rng.random(G.shape) < config.stuck_rate
    high = rng.random(G.shape) < config.stuck_high_fraction
    out = G.copy()
    out[stuck & high] = config.g_max
    out[stuck & ~high] = config.g_min
    return out


def apply_drift(G: np.ndarray, config: AnalogConfig) -> np.ndarray:
    """Conductance drift G (t / t0)^-nu after ``drift_time`` seconds (no change at t = 0)."""
    if config.drift_time == 0 or config.drift_nu == 0:
        return G
    return G * (config.drift_time / config.drift_t0) ** (-config.drift_nu)


def read_noise(
    V: np.ndarray, G: np.ndarray, config: AnalogConfig, rng: np.random.Generator
) -> np.ndarray | None:
    """Current noise [A] of one read of every input row vector (K x N), or None when off.

    Parameters
    ----------
    V : ndarray
        Row voltages [V], K x M (one MVM per row of ``V``).
    G : ndarray
        Programmed conductances [S], M x N.
    """
    s = config.read_noise_sigma
    if s == 0:
        return None
    K, N = V.shape[0], G.shape[1]
    if config.read_noise_kind == "state_independent":
        std = (s * config.g_max) * np.sqrt(np.einsum("km,km->k", V, V))[:, None]
    else:
        std = np.sqrt((V * V) @ (s * G) ** 2)
    return std * rng.standard_normal((K, N))
