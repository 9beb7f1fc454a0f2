"""Paper 2's programming-error model on network weights (the ``weight_range`` kind).

Rules (``AnalogConfig.weight_range_rule``):

``match_range`` (default): paper 2 *as its released code applies it*
    (``networks/noisy_layers.py``; see ``docs/papers.md``).  Every parameter
    tensor p of a layer gets ``p' = p + sigma * r_p * n``, ``n ~ N(0, 1)`` per
    element, one draw per chip.  The half range ``R(x) = (max x - min x) / 2``;
    (``weight_range_fraction`` < 1: over the inner fraction of the values, paper 2's
    ``noise_range``); for a layer with weight W and bias b: ``R_W = R(W)``, ``R_b = R(b)``,
    ``f = R_b / R_W``, the merged range ``R_m = R(concat(b / f, W))``, then
    ``r_W = R_m`` and ``r_b = R_m f`` (biases get noise on their own scale).  When
    ``R_W`` or ``R_b`` is 0 (e.g. an all-zero bias) nothing is merged and each
    tensor keeps its own range, floored at 1e-8 (as the code does).  Batch-norm
    is a noisy layer of its own: its effective affine ``w_eff = gamma / sqrt(var
    + eps)``, ``b_eff = beta - mean * w_eff`` is perturbed by the same rule
    (``b_eff`` as the bias, ``w_eff`` as the weight).  The layers are those of
    the *unfolded* model; where xbar folds a batch-norm into the preceding layer
    the fold comes after the perturbation: ``W'' = (W + dW) w_eff'``, ``b'' = (b +
    db) w_eff' + b_eff'``.  Paper 2's optional mean offset ``mu`` (``programming_mu``,
    0 by default) adds ``mu * r_p`` to every parameter: ``p' = p + sigma r_p n + mu r_p``.
``separate_range``
    The code's ``match_range=False``: the same layers and batch-norms, but each tensor
    on its own range, ``r_W = max(R(W), 1e-8)``, ``r_b = max(R(b), 1e-8)``.
``absolute``
    The code's ``use_range=False``: ``r_p = 1`` for every tensor, so ``sigma`` (and
    ``mu``) are in the parameters' own units.
``folded_layer`` (xbar's earlier convention)
    Per matmul layer of the BN-folded model: ``W' = W + s n``, ``b' = b + s n`` with
    ``s = sigma * R(W)`` (biases share their weights' scale); batch-norm that cannot
    be folded stays noise-free.

One draw is one "chip".  Draw order of :func:`perturb_model_paper` (and of
``weight_range`` chips in :func:`xbar.network.evaluate.program_chip`): for every
layer of :meth:`Model.matmul_layers` in forward order, the bias noise, then the
weight noise in the C order of the parameter tensor ``layer.W`` (the same as
``layer.W2d`` but for grouped convolutions, whose array matrix holds zeros between
its diagonal blocks: those cells hold no parameter and get no error), then for each batch-norm
folded into that layer its ``b_eff`` then ``w_eff`` noise; after all matmul layers,
every batch-norm that cannot be folded (pre-activation blocks) in forward order,
``b_eff`` then ``w_eff``.

:func:`parameter_noise` is the one implementation of the draws: chips
(:func:`perturb_model_paper`, :func:`chip_accuracies`), noise-injection and Hessian
training (:mod:`xbar.network.train`) all use it.  :func:`draw_weight_noise` /
:func:`perturb_model` are the ``folded_layer`` rule on a folded model's own tensors
(kept for that option).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, ValueRangeError
from .layers import BatchNorm, Conv2D, Dense, Residual
from .model import Model

#: floor of a noise scale, as in paper 2's code
RANGE_FLOOR = 1e-8
#: the rules of :class:`~xbar.network.config.AnalogConfig` ``weight_range_rule``
RULES = ("match_range", "separate_range", "absolute", "folded_layer")
#: a source of unit draws: shape -> array of independent zero-mean, unit-variance entries
#: (``rng.standard_normal`` for a chip; Rademacher signs for Hutchinson vectors)
Draw = Callable[[tuple[int, ...]], np.ndarray]


def check_sigma(sigma: float, field: str = "sigma") -> float:
    """Return ``sigma`` as float; raise ValueRangeError when negative, NaN or infinite."""
    try:
        s = float(sigma)
    except (TypeError, ValueError):
        raise ValueRangeError(f"{field} must be a number, got {sigma!r}") from None
    if not math.isfinite(s) or s < 0:
        raise ValueRangeError(f"{field} must be finite and >= 0, got {s:g}")
    return s


def _check_mu(mu: float, field: str = "programming_mu") -> float:
    """Return ``mu`` as float; raise ValueRangeError when NaN or infinite."""
    try:
        m = float(mu)
    except (TypeError, ValueError):
        raise ValueRangeError(f"{field} must be a number, got {mu!r}") from None
    if not math.isfinite(m):
        raise ValueRangeError(f"{field} must be finite, got {m:g}")
    return m


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


def draw_weight_noise(
    model: Model, sigma: float | dict[str, float], rng: np.random.Generator
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


def perturb_model(
    model: Model, sigma: float | dict[str, float], rng: np.random.Generator, *, fold: bool = True
) -> Model:
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


def chip_accuracies(
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    sigma: float,
    chips: int = 20,
    seed: int = 0,
    batch_size: int = 512,
    rule: str = "match_range",
    mu: float = 0.0,
    fraction: float = 1.0,
) -> np.ndarray:
    """Digital accuracy of ``chips`` chips of paper 2's error, shape ``(chips,)``.

    Chip k is :func:`perturb_model_paper` with ``SeedSequence(seed).spawn(chips)[k]``
    (``rule``, ``mu``, ``fraction``: see the module docstring).
    """
    seqs = np.random.SeedSequence(seed).spawn(int(chips))
    return np.array(
        [
            perturb_model_paper(
                model, sigma, np.random.default_rng(s), rule, mu, fraction
            ).accuracy(x, y, batch_size=batch_size)
            for s in seqs
        ]
    )


# ----------------------------------------------------------------------------------------
# paper 2's rule as its released code applies it (match_range, batch-norm as a layer)
# ----------------------------------------------------------------------------------------
def parameter_matrix(layer, values: np.ndarray) -> np.ndarray:
    """``values``, shaped like ``layer.W`` (the parameter tensor), laid out as the matrix
    an array holds (``layer.W2d``): a grouped convolution's kernel goes into its
    diagonal blocks and the cells between the blocks, which hold no parameter, get 0.

    >>> from xbar.network.layers import Conv2D
    >>> conv = Conv2D(2, 2, 1, groups=2)
    >>> parameter_matrix(conv, np.array([[[[1.0, 2.0]]]])).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    values = np.asarray(values, dtype=float)
    if getattr(layer, "groups", 1) == 1:
        return values.reshape(layer.W2d.shape)
    twin = copy.copy(layer)
    twin.W = values
    return twin.W2d


def half_range(x: np.ndarray, fraction: float = 1.0) -> float:
    """``(max x - min x) / 2``; with ``fraction`` < 1 over the inner fraction of the values.

    The inner-fraction variant follows paper 2's code: the bounds are the
    ``k``-th smallest and ``k``-th largest values, ``k = floor(n (1 - fraction) / 2) + 1``.

    >>> half_range(np.array([-1.0, 0.5, 3.0]))
    2.0
    """
    if not 0 < fraction <= 1:
        raise ValueRangeError(f"fraction must be in (0, 1], got {fraction:g}")
    v = np.asarray(x, dtype=float).ravel()
    if v.size == 0:
        return 0.0
    if fraction == 1:
        return float(v.max() - v.min()) / 2.0
    v = np.sort(v)
    k = max(int(v.size * (1 - fraction) / 2) + 1, 1)
    hi = min(v.size - k + 1, v.size)
    return float(v[hi - 1] - v[k - 1]) / 2.0


def match_range_scales(
    W: np.ndarray, b: np.ndarray | None, fraction: float = 1.0
) -> tuple[float, float | None]:
    """Noise scales ``(r_W, r_b)`` of one layer by paper 2's merged-range rule.

    ``r_W = R_m``, ``r_b = R_m * f`` with ``f = R(b) / R(W)`` and ``R_m =
    R(concat(b / f, W))`` (W the parameter tensor: a grouped convolution's kernel, not
    its block-diagonal array matrix with the zeros between the blocks); without
    merging (a zero range, or no bias) each tensor's own range floored at 1e-8.  The
    error of a parameter is ``sigma * r * n`` (+ ``mu * r``).  ``fraction``: every
    ``R`` over the inner fraction of the values (:func:`half_range`).

    >>> match_range_scales(np.array([[-1.0, 1.0]]), np.array([-0.1, 0.1]))
    (1.0, 0.1)
    >>> match_range_scales(np.array([[-1.0, 1.0]]), np.array([0.0, 4.0]))  # b / f = 0, 2
    (1.5, 3.0)
    >>> match_range_scales(np.array([[-1.0, 1.0]]), np.zeros(2))
    (1.0, 1e-08)
    """
    r_w = half_range(W, fraction)
    if b is None:
        return max(r_w, RANGE_FLOOR), None
    r_b = half_range(b, fraction)
    if r_w != 0 and r_b != 0:
        f = r_b / r_w
        r_m = half_range(np.concatenate([np.ravel(b) / f, np.ravel(W)]), fraction)
        return r_m, r_m * f
    return max(r_w, RANGE_FLOOR), max(r_b, RANGE_FLOOR)


@dataclass
class AffineNoise:
    """A batch-norm's effective affine ``y = x * scale + shift`` and its noise scales."""

    name: str
    scale: np.ndarray
    shift: np.ndarray
    r_scale: float
    r_shift: float

    def errors(self, sigma: float, draw: Draw, mu: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """One draw of ``(d_scale, d_shift)``, ``r (sigma n + mu)`` each: the shift's unit
        draws first, then the scale's."""
        n_shift = draw(self.shift.shape)
        n_scale = draw(self.scale.shape)
        return self.r_scale * (sigma * n_scale + mu), self.r_shift * (sigma * n_shift + mu)

    def draw(
        self, sigma: float, rng: np.random.Generator, mu: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """One chip's ``(scale', shift')`` (the draws of :meth:`errors`)."""
        d_scale, d_shift = self.errors(sigma, rng.standard_normal, mu)
        return self.scale + d_scale, self.shift + d_shift


@dataclass
class LayerNoise:
    """Noise scales of one matmul layer (unfolded parameters) and its folded batch-norms."""

    r_W: float
    r_b: float
    bns: list[AffineNoise] = field(default_factory=list)
    b: np.ndarray | None = None  # the unfolded bias (needed to fold after perturbing)

    def folded_affine(
        self, sigma: float, rng: np.random.Generator | None, mu: float = 0.0
    ) -> tuple[np.ndarray | float, np.ndarray | float]:
        """Composite ``(scale, shift)`` of the folded batch-norms (perturbed when ``rng``)."""
        scale: np.ndarray | float = 1.0
        shift: np.ndarray | float = 0.0
        for bn in self.bns:
            s, t = bn.draw(sigma, rng, mu) if rng is not None else (bn.scale, bn.shift)
            scale, shift = scale * s, shift * s + t
        return scale, shift


def layer_scales(
    W: np.ndarray, b: np.ndarray | None, rule: str = "match_range", fraction: float = 1.0
) -> tuple[float, float | None]:
    """Noise scales ``(r_W, r_b)`` of one noisy layer under ``rule`` (not ``folded_layer``).

    >>> layer_scales(np.array([[-1.0, 1.0]]), np.array([0.0, 4.0]), "separate_range")
    (1.0, 2.0)
    >>> layer_scales(np.array([[-1.0, 1.0]]), np.array([0.0, 4.0]), "absolute")
    (1.0, 1.0)
    """
    if rule == "match_range":
        return match_range_scales(W, b, fraction)
    if rule == "absolute":
        return 1.0, (None if b is None else 1.0)
    r_b = None if b is None else max(half_range(b, fraction), RANGE_FLOOR)
    return max(half_range(W, fraction), RANGE_FLOOR), r_b


def bn_affine_noise(bn: BatchNorm, fraction: float = 1.0, rule: str = "match_range") -> AffineNoise:
    """The effective affine of ``bn`` (running statistics) with its noise scales (by
    default the merged-range ones)."""
    w_eff, b_eff = bn.scale_shift()
    r_w, r_b = layer_scales(w_eff, b_eff, rule, fraction)
    return AffineNoise(bn.name, w_eff, b_eff, r_w, r_b)


def _walk(layers, folded: dict) -> None:
    """Batch-norms folded into the matmul layer before them in a residual block's lists."""
    prev = None
    for layer in layers:
        if isinstance(layer, Residual):
            _walk(layer.body, folded)
            if layer.shortcut is not None:
                _walk(layer.shortcut, folded)
        if isinstance(layer, BatchNorm) and isinstance(prev, Dense | Conv2D):
            folded.setdefault(prev.name, []).append(layer)
            continue
        prev = layer


def _fold_pairs(model: Model) -> tuple[dict[str, list[BatchNorm]], list[BatchNorm]]:
    """Which batch-norms :meth:`Model.fold_batchnorm` folds into which matmul layer, and
    the batch-norms it keeps (in forward order)."""
    kept = {la.name for la in model.fold_batchnorm().all_layers() if isinstance(la, BatchNorm)}
    folded: dict[str, list[BatchNorm]] = {}
    nodes = getattr(model, "nodes", None)
    if nodes is None:
        _walk(model.layers, folded)
    else:  # a graph: a folded BN's input is (a chain of folded BNs after) a matmul output
        producer = {n.output: n for n in nodes}
        rename: dict[str, str] = {}
        for n in nodes:
            if isinstance(n.layer, Residual):
                _walk([n.layer], folded)
            if not isinstance(n.layer, BatchNorm) or n.layer.name in kept or not n.inputs:
                continue
            src = producer.get(rename.get(n.inputs[0], n.inputs[0]))
            if src is not None and isinstance(src.layer, Dense | Conv2D):
                folded.setdefault(src.layer.name, []).append(n.layer)
                rename[n.output] = src.output
    unfolded = [la for la in model.all_layers() if isinstance(la, BatchNorm) and la.name in kept]
    return folded, unfolded


def noise_plan(
    model: Model, rule: str = "match_range", fraction: float = 1.0
) -> tuple[dict[str, LayerNoise], list[AffineNoise]]:
    """Noise scales of every matmul layer and every batch-norm that cannot be folded.

    Parameters
    ----------
    model : Model
        The trained, *unfolded* model.
    rule : {"match_range", "separate_range", "absolute", "folded_layer"}
        See the module docstring.
    fraction : float
        Half ranges over the inner ``fraction`` of each tensor's values
        (``weight_range_fraction``; :func:`half_range`).

    Returns
    -------
    layers : dict
        Matmul layer name -> :class:`LayerNoise` (``r_W``, ``r_b`` and the folded
        batch-norms, in forward order).
    unfolded : list of AffineNoise
        Batch-norms that stay digital layers (empty for ``folded_layer``).
    """
    if rule not in RULES:
        raise ConfigError(
            f"weight_range_rule={rule!r} is not known", hint="one of: " + ", ".join(RULES)
        )
    if not 0 < fraction <= 1:
        raise ConfigError(f"weight_range_fraction={fraction!r}: must be in (0, 1]")
    if rule == "folded_layer":
        out = {}
        for layer in model.fold_batchnorm().matmul_layers():
            r = half_range(layer.W, fraction)
            out[layer.name] = LayerNoise(r, r)
        return out, []
    folded, unfolded = _fold_pairs(model)
    n_folded = sum(len(v) for v in folded.values())
    n_bn = sum(isinstance(la, BatchNorm) for la in model.all_layers())
    if n_folded + len(unfolded) != n_bn:
        raise ConfigError(
            f"model {model.name!r}: cannot tell which batch-norm layers fold "
            "into which matmul layer",
            hint="use weight_range_rule='folded_layer'",
        )
    out = {}
    for layer in model.matmul_layers():
        r_w, r_b = layer_scales(layer.W, layer.b, rule, fraction)
        out[layer.name] = LayerNoise(
            r_w,
            r_b,
            [bn_affine_noise(bn, fraction, rule) for bn in folded.get(layer.name, [])],
            np.array(layer.b, dtype=float),
        )
    return out, [bn_affine_noise(bn, fraction, rule) for bn in unfolded]


def set_affine(bn: BatchNorm, scale: np.ndarray, shift: np.ndarray) -> None:
    """Make ``bn``'s evaluation-mode affine ``x * scale + shift`` (running statistics kept)."""
    root = np.sqrt(bn.running_var + bn.eps)
    bn.gamma = np.asarray(scale, dtype=float) * root
    bn.beta = np.asarray(shift, dtype=float) + bn.running_mean * np.asarray(scale, dtype=float)


def parameter_noise(
    model: Model,
    sigma: float,
    draw: Draw,
    plan: tuple[dict[str, LayerNoise], list[AffineNoise]] | None = None,
    mu: float = 0.0,
) -> dict[str, np.ndarray]:
    """One draw of paper 2's error as changes of ``model``'s own parameters.

    The single implementation of the error's draws: :func:`perturb_model_paper` adds
    them to a copy (a chip), noise-injection training to the live weights, and the
    Hessian penalty uses them with Rademacher unit draws as its Hutchinson vectors
    (their covariance is the noise's).  A batch-norm's affine error ``(dS, dT)``
    (:meth:`AffineNoise.errors`) becomes ``d gamma = dS sqrt(var + eps)`` and ``d beta
    = dT + mean dS`` with its running statistics, so that its evaluation-mode affine
    is exactly ``(scale + dS, shift + dT)``.  Draw order: the module docstring's.

    Parameters
    ----------
    model : Model
        The model whose parameters the keys name: unfolded for ``match_range``, the
        BN-folded model for ``folded_layer``.
    sigma : float
        Relative error sigma.
    draw : callable
        Unit draws, ``shape -> array`` (e.g. ``rng.standard_normal``).
    plan : tuple, optional
        ``noise_plan(model)`` when already known (default: the ``match_range`` plan).
    mu : float
        Paper 2's mean offset: every change is ``r (sigma n + mu)`` (default 0).

    Returns
    -------
    dict
        ``{"<layer>/<param>": delta}`` for every matmul layer's ``W`` and ``b`` and
        every batch-norm's ``gamma`` and ``beta``, in the parameters' shapes.

    Examples
    --------
    >>> from xbar.network.layers import Dense
    >>> m = Model([Dense(2, 1, name="fc")], input_shape=(2,), classes=1)
    >>> m.layer("fc").W[:] = [[-1.0], [1.0]]; m.layer("fc").b[:] = [0.5]
    >>> d = parameter_noise(m, 0.1, lambda shape: np.ones(shape))
    >>> d["fc/W"].ravel().tolist(), d["fc/b"].tolist()   # r_W = 1; a 1-value bias: 1e-8
    ([0.1, 0.1], [1e-09])
    """
    layers, unfolded = plan if plan is not None else noise_plan(model)
    out: dict[str, np.ndarray] = {}

    def affine(noise: AffineNoise) -> None:
        bn = model.layer(noise.name)
        d_scale, d_shift = noise.errors(sigma, draw, mu)
        out[f"{bn.name}/gamma"] = d_scale * np.sqrt(bn.running_var + bn.eps)
        out[f"{bn.name}/beta"] = d_shift + bn.running_mean * d_scale

    for layer in model.matmul_layers():
        ln = layers[layer.name]
        n_b = draw(layer.b.shape)
        n_w = draw(layer.W.shape)
        out[f"{layer.name}/b"] = ln.r_b * (sigma * n_b + mu)
        out[f"{layer.name}/W"] = ln.r_W * (sigma * n_w + mu)
        for noise in ln.bns:
            affine(noise)
    for noise in unfolded:
        affine(noise)
    return out


def perturb_model_paper(
    model: Model,
    sigma: float,
    rng: np.random.Generator,
    rule: str = "match_range",
    mu: float = 0.0,
    fraction: float = 1.0,
) -> Model:
    """One chip of paper 2's model, digitally: an unfolded copy with every error applied.

    Follows the draw order of the module docstring, so the same generator state
    gives the same chip as ``weight_range`` programming in
    :func:`xbar.network.evaluate.evaluate` (one plane per layer, layer scaling).
    Fold the result (:meth:`Model.fold_batchnorm`) to get perturb-then-fold.

    Parameters
    ----------
    model : Model
        The trained model (not modified).
    sigma : float
        Relative error sigma.
    rng : numpy.random.Generator
    rule : {"match_range", "separate_range", "absolute", "folded_layer"}
        ``folded_layer`` returns the BN-folded model.
    mu : float
        Paper 2's mean offset (``programming_mu``): ``p' = p + r (sigma n + mu)``.
    fraction : float
        Half ranges over the inner fraction of the values (``weight_range_fraction``).
    """
    sigma = check_sigma(sigma)
    mu = _check_mu(mu)
    plan = noise_plan(model, rule, fraction)
    out = model.copy() if rule != "folded_layer" else model.fold_batchnorm()
    params = out.parameters()
    for key, delta in parameter_noise(out, sigma, rng.standard_normal, plan, mu).items():
        params[key] += delta
    return out
