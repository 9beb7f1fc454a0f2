"""Device non-idealities: programming error, stuck cells, drift, read noise; chip seeds.

All draws are seeded.  Chip ``k`` of a run with seed ``s`` programs its cells
from ``chip_rng(s, k)`` = ``np.random.default_rng(np.random.SeedSequence(s,
spawn_key=(k,)))``, so chip k is the same chip in every run and on every
executor; its read noise comes from independent streams
``SeedSequence(s, spawn_key=(k, 1))`` (test images) and ``(k, 2)`` (calibration).

Definitions (``xbar``'s conventions, see ``shared/papers.md``):

* ``state_independent``: G' = G + N(0, (alpha g_max)^2) per cell;
* ``state_proportional``: G' = G (1 + N(0, alpha^2)) per cell;
  both clipped to [g_min, g_max] when ``programming_clip`` is on;
* ``weight_range`` (paper 2): an additive error sigma R n per *weight*, R = half
  the layer's weight range.  It is applied in the conductance domain so that it
  passes through the real mapping: each weight's cell pair gets a difference
  error ``e ~ N(0, (sigma * (R / max|W|) * (g_max - g_min))^2)``, added to the +
  cell when positive and to the - cell when negative (both stay >= g_min, no
  upper clip, as in the paper).  Under layer scaling this is exactly sigma R per
  weight; under column / bi-scale scaling the same conductance error is worth
  less for weights stored amplified.  Offset cells get ``e`` on their one cell.
  Biases get sigma R n digitally.  With differential mapping, g_min = 0 and no
  clipping, ``state_independent`` with alpha gives each pair a difference error
  of sigma sqrt(2) alpha g_max: the two kinds coincide for sigma = sqrt(2) alpha.
* read noise: the same two forms, redrawn for every MVM; it is drawn directly
  as its exact effect on the column currents (for ideal wires),
  ``I_j += N(0, sum_i V_i^2 s_ij^2)`` with ``s_ij`` the cell's read sigma;
* drift: G(t) = G (t / t0)^-nu for t > 0;
* stuck: each cell stuck with probability ``stuck_rate``, at g_max with
  probability ``stuck_high_fraction``, else at g_min.
"""

from __future__ import annotations

import numpy as np

from .config import AnalogConfig

__all__ = [
    "chip_rng",
    "noise_rng",
    "program_cells",
    "apply_weight_range",
    "apply_stuck",
    "apply_drift",
    "read_noise",
    "perturb_bias",
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
    if config.programming_clip:
        np.clip(out, config.g_min, config.g_max, out=out)
    return out


def apply_weight_range(Gp: np.ndarray, Gn: np.ndarray | None, sigma_g: float,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """Add paper 2's per-weight error (difference sigma ``sigma_g`` [S]) to a cell pair.

    ``Gp`` / ``Gn``: the + and - cells of the weights (same shape); ``Gn`` None for
    offset cells (the error then goes on the one cell, clipped at 0 S).
    """
    if sigma_g == 0:
        return Gp, Gn
    e = sigma_g * rng.standard_normal(Gp.shape)
    if Gn is None:
        return np.maximum(Gp + e, 0.0), None
    return Gp + np.maximum(e, 0.0), Gn + np.maximum(-e, 0.0)


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


def read_noise(V: np.ndarray, G: np.ndarray, config: AnalogConfig,
               rng: np.random.Generator) -> np.ndarray | None:
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


def perturb_bias(b: np.ndarray, w_range_half: float, config: AnalogConfig,
                 rng: np.random.Generator) -> np.ndarray:
    """The bias change of ``weight_range`` error: sigma R n per bias (zeros otherwise)."""
    b = np.asarray(b, dtype=float)
    if config.programming_error != "weight_range" or config.programming_sigma == 0:
        return np.zeros_like(b)
    return config.programming_sigma * w_range_half * rng.standard_normal(b.shape)
