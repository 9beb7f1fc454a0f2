"""Paper 2's programming-error model on network weights (the ``weight_range`` kind).

Per matmul layer (after folding batch-norm): ``W' = W + s * n`` and ``b' = b + s * n``
with ``n ~ N(0, 1)`` independent per entry and ``s = sigma * R``,
``R = (max W - min W) / 2`` (half the layer's weight range; biases share the scale of
their layer's weights).  One draw is one "chip".  Batch-norm layers that cannot be
folded stay digital and are not perturbed.

Draw order (fixed, so that a generator state is one chip everywhere): for every layer
of :meth:`Model.matmul_layers` in forward order, first the weight noise with the
shape of ``layer.W`` (C order, i.e. the order of ``layer.W2d``), then the bias noise.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ValueRangeError
from .model import Model


def check_sigma(sigma: float, field: str = "sigma") -> float:
    """Return ``sigma`` as float; raise ValueRangeError when negative, NaN or infinite."""
    try:
        s = float(sigma)
    except (TypeError, ValueError):
        raise ValueRangeError(f"{field} must be a number, got {sigma!r}") from None
    if not math.isfinite(s) or s < 0:
        raise ValueRangeError(f"{field} must be finite and >= 0, got {s:g}")
    return s


def weight_range(W: np.ndarray) -> float:
    """Half the weight range ``R = (max W - min W) / 2`` of one layer."""
    W = np.asarray(W)
    return float(W.max() - W.min()) / 2.0 if W.size else 0.0


def weight_range_sigma(W: np.ndarray, sigma: float) -> float:
    """Standard deviation of the additive error of a layer: ``sigma * (max W - min W) / 2``.

    Examples
    --------
    >>> weight_range_sigma(np.array([[-1.0, 0.5], [0.2, 3.0]]), 0.1)
    0.2
    """
    return check_sigma(sigma) * weight_range(W)


def draw_weight_noise(model: Model, sigma: float | dict[str, float], rng: np.random.Generator
                      ) -> dict[str, np.ndarray]:
    """One draw of the additive errors of every matmul layer's weights and bias.

    Parameters
    ----------
    model : Model
        Usually already BN-folded (see :func:`perturb_model`).
    sigma : float or dict
        Relative error; a dict gives it per layer name (missing layers: 0).
    rng : numpy.random.Generator
        Source of the normal draws (order: see the module docstring).

    Returns
    -------
    dict
        ``{"<layer>/W": dW, "<layer>/b": db}`` arrays of the parameters' shapes.
    """
    out: dict[str, np.ndarray] = {}
    for layer in model.matmul_layers():
        sig = sigma.get(layer.name, 0.0) if isinstance(sigma, dict) else sigma
        s = weight_range_sigma(layer.W, sig)
        out[f"{layer.name}/W"] = s * rng.standard_normal(layer.W.shape)
        out[f"{layer.name}/b"] = s * rng.standard_normal(layer.b.shape)
    return out


def perturb_model(model: Model, sigma: float | dict[str, float], rng: np.random.Generator,
                  *, fold: bool = True) -> Model:
    """One simulated chip: a copy of ``model`` with paper 2's weight-range error applied.

    Parameters
    ----------
    model : Model
        The trained model (not modified).
    sigma : float or dict
        Relative error (per layer name when a dict).
    rng : numpy.random.Generator
        Seeded generator; the same state gives the same chip.
    fold : bool
        Fold batch-norm into the preceding matmul layers first (default), so the
        folded weights and biases are the ones perturbed.

    Returns
    -------
    Model
        The perturbed copy (BN-folded when ``fold``).
    """
    base = model.fold_batchnorm() if fold else model.copy()
    deltas = draw_weight_noise(base, sigma, rng)
    for key, d in deltas.items():
        lname, _, p = key.partition("/")
        layer = base.layer(lname)
        setattr(layer, p, getattr(layer, p) + d)
    return base


def chip_accuracies(model: Model, x: np.ndarray, y: np.ndarray, sigma: float, chips: int = 20,
                    seed: int = 0, batch_size: int = 512) -> np.ndarray:
    """Digital accuracy of ``chips`` perturbed copies (chip k uses
    ``SeedSequence(seed).spawn(chips)[k]``), shape ``(chips,)``."""
    seqs = np.random.SeedSequence(seed).spawn(int(chips))
    return np.array([perturb_model(model, sigma, np.random.default_rng(s)).accuracy(
        x, y, batch_size=batch_size) for s in seqs])
