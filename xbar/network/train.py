"""Training in numpy: plain, noise-injection and Hessian-penalty (paper 2) methods.

Methods
-------
``plain``
    Mini-batch Adam on the softmax cross-entropy.
``noise``
    In every forward pass the parameters carry a fresh draw of the deployed error,
    paper 2's model as its released code applies it
    (:func:`~xbar.network.noise.parameter_noise`, the code that also programs
    ``weight_range`` chips): ``p' = p + sigma * r_p * n`` with the merged-range rule
    per matmul layer (``r_W = R_m``, ``r_b = R_m f``: biases on their own scale) and
    every batch-norm's effective affine perturbed as a layer of its own, the ranges
    taken at the current weights; the gradient at the perturbed weights updates the
    clean ones.  ``draws=K`` averages K draws per step.  ``train_mu`` adds paper 2's
    mean offset ``mu * r_p`` to every draw (0 by default).
``hessian``
    Loss plus an explicit curvature penalty ``P = (1/2) E[d^T H d]`` over the same
    error ``d`` (``= (1/2) sum_i s_i^2 H_ii`` with ``s_i = sigma * r_p`` of parameter
    i's tensor when the error is uncorrelated, i.e. without batch-norm), ``H`` the
    Hessian of the mini-batch loss.  ``P`` is estimated by Hutchinson's method: the
    error drawn with random signs instead of normal draws, ``w``
    (:func:`noise_direction`; for uncorrelated error ``w = s * v`` with a Rademacher
    vector ``v``), has the error's covariance, so ``P = (1/2) E_w[w^T H w]``.  The
    curvature along ``w`` is a central second difference with a small step ``eps * w``
    (``hessian_step=eps``, default 0.01, i.e. 1% of the noise scale):
    ``P_v = (L(W + eps w) - 2 L(W) + L(W - eps w)) / (2 eps^2)``
    ``= (1/2) w^T H w + O(eps^2)``, and its gradient is taken exactly:
    ``grad P_v = (g(W + eps w) - 2 g(W) + g(W - eps w)) / (2 eps^2)``.
    The two perturbed passes run with the ReLU and max-pool patterns of the pass at
    ``W`` held fixed (:func:`frozen_pattern`): ``H`` is then the almost-everywhere
    Hessian that back-propagation differentiates (what double back-propagation
    through an autodiff framework gives), and ``P_v`` no longer depends on ``eps``
    below about 0.01.  A step costs three gradients per vector (``draws``).  The
    update direction is ``g(W) + hessian_weight * grad P`` (``hessian_weight=1``:
    the second-order expansion of the expected loss under the noise, see below).

Relation to noise injection
---------------------------
For noise ``d`` with zero mean and covariance ``S^2`` the expected loss is
``E[L(W + d)] = L(W) + (1/2) sum_i s_i^2 H_ii + O(s^4)``: noise injection minimises the
loss plus the same curvature penalty *and all higher-order terms* (in expectation, one
draw per step), including the effect of units that cross their kinks under the noise;
the explicit penalty keeps only the second-order term of the smooth piece.  This
method's previous form used ``eps = 1`` without frozen patterns: then
``g(W) + grad P_v = (g(W + w) + g(W - w)) / 2``, the mean gradient at a pair of
antithetic noise draws, i.e. paired noise injection, not a curvature penalty.
Two measurements on the shipped plain model (256 training images, sigma 0.15, 40
vectors): without frozen patterns a small step is unusable, since a kink between
``W - eps w`` and ``W + eps w`` adds a jump of the gradient divided by ``eps^2`` to
``grad P_v`` (median norm 1.4-3.9 for eps 0.03-0.1, 28 at 0.01, 2300 at 0.001), and
training with eps 0.05 drove the smoothed "curvature" to -125 by parking units on
kinks (test accuracy 32%); with frozen patterns ``P`` is 0.0944 +- 0.008 and the
median ``|grad P_v|`` 1.07 for every eps from 0.01 down to 1e-4.  At the noise
level itself (eps = 1) the second difference is 0.68: the higher-order terms are
large at sigma 0.15 (the measured ``E[L(W + d)] - L(W)`` is 1.0 +- 0.15).
``docs/training.md`` compares the methods at equal gradient cost.

For every method a validation split (carved from the training data, never the test
set) picks the checkpoint: the epoch with the best mean validation accuracy under
the training noise over ``val_draws`` fixed chips (clean accuracy when sigma is 0),
ties broken by the lower clean validation loss.

Batch-norm layers train with batch statistics; the noise is applied to the unfolded
weights during training.  A batch-norm's affine error ``(dS, dT)`` enters as ``d gamma =
dS sqrt(var + eps)``, ``d beta = dT + mean dS`` with its running statistics (exact in
evaluation mode; in a training pass the batch statistics differ slightly).  Models
without batch-norm, such as ``default``, train under exactly the deployed error.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, ModelError
from .data import Dataset, load_dataset
from .layers import MaxPool2D, ReLU, cross_entropy
from .model import Model
from .model_io import load_model
from .noise import Draw, check_sigma, noise_plan, parameter_noise, perturb_model_paper
from .qat import ActivationQuantizer

log = logging.getLogger(__name__)

METHODS = ("plain", "noise", "hessian")
#: noise level of the curvature report of ``plain`` models (the shipped robust models'
#: training sigma)
DEFAULT_CURVATURE_SIGMA = 0.15
#: training images in the curvature report of :func:`train` (the first ones)
CURVATURE_IMAGES = 512


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    model : Model
        The chosen checkpoint.
    history : list of dict
        One entry per epoch: ``epoch``, ``loss`` (mean training cross-entropy),
        ``penalty`` (mean Hessian penalty estimate, ``hessian`` only, else 0),
        ``train_accuracy`` (on the batches as trained), ``val_accuracy`` (clean),
        ``val_loss`` (clean), ``val_noisy_accuracy`` (mean over the fixed chips at
        the training noise; equals ``val_accuracy`` when sigma is 0), ``seconds``.
    best_epoch : int
        1-based epoch of the chosen checkpoint.
    method : str
    train_noise : float
    seconds : float
        Wall time of the whole run.
    curvature : CurvatureEstimate or None
        The chosen model's curvature term ``(1/2) sum_i s_i^2 H_ii`` on the first
        ``CURVATURE_IMAGES`` (512) training images (see :func:`curvature_term`); None
        when ``curvature_samples`` is 0.
    """

    model: Model
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    method: str = "plain"
    train_noise: float = 0.0
    seconds: float = 0.0
    curvature: CurvatureEstimate | None = None
    #: paper 2's mean offset of the training noise (``noise`` method; 0 = none)
    train_mu: float = 0.0


# ------------------------------------------------------------------------------------
# flat parameter vectors
# ------------------------------------------------------------------------------------
class _Flat:
    """Pack a model's live parameter arrays into one vector and back."""

    def __init__(self, model: Model):
        self.model = model
        self.params = model.parameters()
        self.keys = list(self.params)
        self.sizes = [self.params[k].size for k in self.keys]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)

    def get(self) -> np.ndarray:
        return np.concatenate([self.params[k].ravel() for k in self.keys])

    def set(self, theta: np.ndarray) -> None:
        for k, a, b in zip(self.keys, self.offsets[:-1], self.offsets[1:], strict=True):
            np.copyto(self.params[k], theta[a:b].reshape(self.params[k].shape))

    def grad(self) -> np.ndarray:
        g = self.model.gradients()
        return np.concatenate([g[k].ravel() for k in self.keys])

    def pack(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate(
            [arrays[k].ravel() if k in arrays else np.zeros(self.params[k].size) for k in self.keys]
        )


def _loss_grad(model: Model, flat: _Flat, xb, yb, act=None) -> tuple[float, np.ndarray, np.ndarray]:
    logits = model.forward(xb, training=True, mvm=act.training_hook if act else None)
    loss, d = cross_entropy(logits, yb)
    if act is not None:  # straight-through estimator (xbar.network.qat)
        act.store(model)
    model.backward(d)
    return loss, flat.grad(), logits


def rademacher(rng: np.random.Generator) -> Draw:
    """Unit draws of independent random signs (+-1) from ``rng``: ``shape -> array``."""
    signs = np.array([-1.0, 1.0])
    return lambda shape: rng.choice(signs, size=shape)


def noise_direction(
    model: Model, sigma: float, flat: _Flat | None = None
) -> Callable[[np.random.Generator], np.ndarray]:
    """Hutchinson vectors of paper 2's error at the model's current weights.

    Returns ``rng -> w``: paper 2's error (:func:`~xbar.network.noise.parameter_noise`,
    merged-range rule, batch-norm affines as their own layers) drawn with Rademacher
    signs instead of normal draws, packed like :class:`_Flat`.  ``E[w w^T]`` is the
    noise's covariance, so ``E[w^T H w] = sum_ij Cov_ij H_ij``; without batch-norm the
    covariance is diagonal and ``w = s * v`` with ``s`` = :func:`noise_scales`.  The
    scales are fixed when this is called (the layers' ranges at these weights).
    """
    flat = flat or _Flat(model)
    plan = noise_plan(model)
    return lambda rng: flat.pack(parameter_noise(model, sigma, rademacher(rng), plan))


def noise_scales(model: Model, sigma: float, flat: _Flat | None = None) -> np.ndarray:
    """Per-parameter standard deviation of paper 2's error (packed like :class:`_Flat`).

    Computed from :func:`~xbar.network.noise.parameter_noise` itself, which is linear
    in its unit draws: one pass per draw call with that call's draws set to 1 and the
    others to 0 gives each parameter's coefficient on it; the variance is the sum of
    their squares.  Matmul weights: ``sigma * r_W``; biases: ``sigma * r_b`` (merged
    range rule); a batch-norm's ``gamma`` and ``beta`` from its affine's error.
    """
    flat = flat or _Flat(model)
    plan = noise_plan(model)
    var = np.zeros(flat.offsets[-1])
    k = 0
    while True:
        calls = [0]

        def one_hot(shape, k=k, calls=calls):
            calls[0] += 1
            return np.full(shape, 1.0 if calls[0] == k + 1 else 0.0)

        coef = flat.pack(parameter_noise(model, sigma, one_hot, plan))
        var += coef * coef
        k += 1
        if k >= calls[0]:
            return np.sqrt(var)


def hutchinson_diagonal(
    grad: Callable[[np.ndarray], np.ndarray],
    theta: np.ndarray,
    samples: int,
    rng: np.random.Generator,
    eps: float = 1e-4,
) -> np.ndarray:
    """Hutchinson estimate of the Hessian diagonal, ``mean_v[v * (H v)]``.

    ``H v`` is the central finite difference ``(grad(theta + eps v) -
    grad(theta - eps v)) / (2 eps)``; ``v`` has independent +-1 entries.

    Parameters
    ----------
    grad : callable
        Gradient of the scalar function, vector to vector.
    theta : ndarray
        Point, shape ``(n,)``.
    samples : int
        Number of Rademacher vectors.
    rng : numpy.random.Generator
    eps : float
        Finite-difference step.

    Returns
    -------
    ndarray
        Shape ``(n,)``.
    """
    theta = np.asarray(theta, dtype=float)
    acc = np.zeros_like(theta)
    for _ in range(int(samples)):
        v = rng.choice(np.array([-1.0, 1.0]), size=theta.shape)
        hv = (grad(theta + eps * v) - grad(theta - eps * v)) / (2 * eps)
        acc += v * hv
    return acc / samples


def hessian_penalty(
    loss_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta: np.ndarray,
    s: np.ndarray | Callable[[np.random.Generator], np.ndarray],
    rng: np.random.Generator,
    *,
    draws: int = 1,
    step: float = 0.01,
    loss0: float | None = None,
    grad0: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Estimate ``P = (1/2) sum_i s_i^2 H_ii`` and its gradient (see the module docstring).

    Per Rademacher vector ``v`` with ``w = s * v``:
    ``P_v = (L(theta + eps w) - 2 L(theta) + L(theta - eps w)) / (2 eps^2)`` (with
    ``eps = step``) and its exact gradient
    ``(g(theta + eps w) - 2 g(theta) + g(theta - eps w)) / (2 eps^2)``; both are
    averaged over ``draws`` vectors.  ``E[P_v] = (1/2) sum_i s_i^2 H_ii + O(eps^2)``
    (exact for a quadratic loss, and for a cubic one also in the gradient).

    Parameters
    ----------
    loss_grad : callable
        ``theta -> (loss, gradient)``.
    theta : ndarray
        Parameters ``(n,)``.
    s : ndarray or callable
        Noise scale per parameter ``(n,)`` (same units as ``theta``; ``w = s * v``),
        or ``rng -> w`` drawing the vector itself (:func:`noise_direction`: paper 2's
        error with Rademacher unit draws).
    rng : numpy.random.Generator
        Source of the Rademacher vectors.
    draws : int
        Number of vectors (each costs two gradients).
    step : float
        Finite-difference step ``eps`` in units of ``w`` (0.01 by default).
    loss0, grad0 : optional
        ``loss_grad(theta)`` when already known.

    Returns
    -------
    penalty : float
    gradient : ndarray
        Shape ``(n,)``.

    Examples
    --------
    >>> A = np.diag([1.0, 4.0])
    >>> f = lambda t: (0.5 * t @ A @ t, A @ t)
    >>> p, g = hessian_penalty(f, np.zeros(2), np.array([0.1, 0.1]),
    ...                        np.random.default_rng(0))
    >>> round(float(p), 12), g.tolist()   # (1/2)(0.01 * 1 + 0.01 * 4), gradient 0
    (0.025, [0.0, 0.0])
    """
    if loss0 is None or grad0 is None:
        loss0, grad0 = loss_grad(theta)
    pen = 0.0
    gp = np.zeros_like(theta)
    direction = s if callable(s) else lambda r: s * r.choice(np.array([-1.0, 1.0]), theta.shape)
    for _ in range(int(draws)):
        w = direction(rng)
        lp, gpl = loss_grad(theta + step * w)
        lm, gmi = loss_grad(theta - step * w)
        pen += (lp - 2 * loss0 + lm) / (2 * step * step)
        gp += (gpl - 2 * grad0 + gmi) / (2 * step * step)
    return pen / draws, gp / draws


@dataclass(frozen=True)
class CurvatureEstimate:
    """The curvature term ``(1/2) sum_i s_i^2 H_ii`` of a model on a data set.

    Attributes
    ----------
    value : float
        Hutchinson mean over the vectors (dimensionless, units of the loss).
    stderr : float
        Standard error of that mean over the vectors.
    sigma : float
        Relative noise level of ``s_i = sigma * R`` (the penalty scales as sigma^2).
    step : float
        Finite-difference step in units of ``s``.
    samples : int
        Number of Rademacher vectors.
    images : int
        Number of images in the loss.
    """

    value: float
    stderr: float
    sigma: float
    step: float
    samples: int
    images: int

    def as_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def curvature_term(
    model: Model,
    x: np.ndarray,
    y: np.ndarray,
    sigma: float,
    *,
    samples: int = 64,
    step: float = 0.01,
    seed: int = 0,
) -> CurvatureEstimate:
    """Estimate the curvature term ``(1/2) sum_i s_i^2 H_ii`` of the mean loss on ``(x, y)``.

    The same estimator as the ``hessian`` training penalty (module docstring), from
    losses only, in inference mode (batch-norm uses its running statistics); the
    model is not modified.  ``s_i = sigma * R`` of parameter i's matmul layer.

    Parameters
    ----------
    model : Model
    x, y : ndarray
        Images ``(B, *input_shape)`` and labels ``(B,)``.
    sigma : float
        Relative noise level (> 0).
    samples : int
        Rademacher vectors (>= 2, for the standard error).
    step : float
        Finite-difference step in units of ``s`` (> 0).
    seed : int
        Seeds the vectors.

    Returns
    -------
    CurvatureEstimate
    """
    sigma = check_sigma(sigma, "curvature_sigma")
    if sigma == 0:
        raise ConfigError("curvature_sigma must be > 0")
    if not isinstance(samples, int | np.integer) or samples < 2:
        raise ConfigError(f"curvature samples must be an integer >= 2, got {samples!r}")
    if not math.isfinite(step) or step <= 0:
        raise ConfigError(f"hessian_step must be finite and > 0, got {float(step):g}")
    m = model.copy()
    flat = _Flat(m)
    theta = flat.get()
    direction = noise_direction(m, sigma, flat)

    def loss(th):
        flat.set(th)
        return cross_entropy(m.forward(x), y)[0]

    l0 = loss(theta)  # sets the activation pattern that the other passes keep
    rng = np.random.default_rng(seed)
    vals = np.empty(int(samples))
    with frozen_pattern(m):
        for k in range(int(samples)):
            w = direction(rng)
            vals[k] = (loss(theta + step * w) - 2 * l0 + loss(theta - step * w)) / (2 * step**2)
    return CurvatureEstimate(
        float(vals.mean()),
        float(vals.std(ddof=1) / math.sqrt(samples)),
        sigma,
        float(step),
        int(samples),
        int(x.shape[0]),
    )


class _Adam:
    def __init__(self, n: int, lr: float, beta1=0.9, beta2=0.999, eps=1e-8):
        self.m = np.zeros(n)
        self.v = np.zeros(n)
        self.t = 0
        self.lr, self.b1, self.b2, self.eps = lr, beta1, beta2, eps

    def step(self, theta: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        mhat = self.m / (1 - self.b1**self.t)
        vhat = self.v / (1 - self.b2**self.t)
        return theta - lr * mhat / (np.sqrt(vhat) + self.eps)


def _resolve_model(model_or_name, seed: int) -> Model:
    if isinstance(model_or_name, Model):
        model_or_name.check_trainable()  # graphs with inference-only ops: a clear ModelError
        return model_or_name.copy()
    name = str(model_or_name)
    if name == "default":
        from .zoo import default_architecture

        return default_architecture(seed=seed)
    m = load_model(name)
    m.check_trainable()
    if name.startswith("wrn-"):
        from .zoo import he_init

        he_init(m, seed)
    return m


def validate_train_args(
    method: str,
    train_noise: float,
    epochs: int,
    batch_size: int = 32,
    lr: float = 3e-3,
    draws: int = 1,
    hessian_weight: float = 1.0,
    hessian_step: float = 0.01,
) -> float:
    """Check training arguments (raises ConfigError/ValueRangeError naming the field)."""
    if method not in METHODS:
        raise ConfigError(
            f"unknown training method {method!r}", hint="method is one of " + ", ".join(METHODS)
        )
    sigma = check_sigma(train_noise, "train_noise")
    if method != "plain" and sigma == 0:
        raise ConfigError(
            f"method {method!r} needs train_noise > 0",
            hint="e.g. --train-noise 0.1, or use --method plain",
        )
    for fname, value, lo in (
        ("epochs", epochs, 1),
        ("batch_size", batch_size, 1),
        ("draws", draws, 1),
    ):
        if not isinstance(value, int | np.integer) or value < lo:
            shown = value if isinstance(value, int | float | np.number) else repr(value)
            raise ConfigError(f"{fname} must be an integer >= {lo}, got {shown}")
    for fname, value in (
        ("lr", lr),
        ("hessian_weight", hessian_weight),
        ("hessian_step", hessian_step),
    ):
        if not math.isfinite(float(value)) or value <= 0:
            raise ConfigError(f"{fname} must be finite and > 0, got {float(value):g}")
    return sigma


def train(
    model_or_name: Model | str = "default",
    dataset: Dataset | str = "digits",
    *,
    method: str = "plain",
    train_noise: float = 0.0,
    epochs: int = 30,
    seed: int = 0,
    batch_size: int = 32,
    lr: float = 3e-3,
    draws: int = 1,
    hessian_weight: float = 1.0,
    hessian_step: float = 0.01,
    val_draws: int = 5,
    curvature_sigma: float | None = None,
    curvature_samples: int = 32,
    progress: Callable[[int, int], None] | None = None,
    activation_bits: int = 0,
    train_mu: float = 0.0,
) -> TrainResult:
    """Train a model on a data set; deterministic for a seed.

    Parameters
    ----------
    model_or_name : Model or str
        A :class:`Model` or a saved model's path (training starts from its weights), or
        an architecture (``"default"`` CNN, ``"wrn-D-K"``; He-initialised from ``seed``).
    dataset : Dataset or str
        Data set or its name (see :func:`~xbar.network.load_dataset`).
    method : {"plain", "noise", "hessian"}
        See the module docstring.
    train_noise : float
        Relative error sigma of paper 2's model (merged-range rule); > 0 unless plain.
    epochs, batch_size : int
        Passes over the training split and mini-batch size.
    seed : int
        Seeds initialisation, shuffling, noise draws and the validation chips.
    lr : float
        Adam learning rate (cosine decay to 0 over the run).
    draws : int
        Noise draws (``noise``) or Rademacher vectors (``hessian``) per step.
    hessian_weight, hessian_step : float
        Weight of the curvature penalty (1 = the expected-loss expansion) and its
        finite-difference step in units of the noise (default 0.01).
    val_draws : int
        Fixed chips used to score each epoch on the validation split.
    curvature_sigma : float, optional
        Noise level of the chosen model's curvature report (default: ``train_noise``,
        or 0.15 for ``plain``); ``curvature_samples``: its vectors (0: no report).
    activation_bits : int
        Quantisation-aware training of every matmul layer's input (straight-through
        estimator, :mod:`xbar.network.qat`); 0 = off.
    train_mu : float
        Paper 2's mean offset of the training noise, ``p + r (sigma n + mu)`` (as the
        deployed ``programming_mu``), in every forward pass and on the validation chips;
        ``noise`` method only (the Hessian penalty expands around zero-mean noise).
    progress : callable, optional
        ``progress(done_steps, total_steps)``.

    Returns
    -------
    TrainResult
    """
    sigma = validate_train_args(
        method, train_noise, epochs, batch_size, lr, draws, hessian_weight, hessian_step
    )
    mu = check_train_mu(train_mu, method)
    c_sigma = _curvature_sigma(sigma, curvature_sigma, curvature_samples, seed)
    data = load_dataset(dataset) if not isinstance(dataset, Dataset) else dataset
    model = _resolve_model(model_or_name, seed)
    data.check_model(model)
    if data.x_val.shape[0] == 0:
        raise ModelError(f"data set {data.name!r} has no validation split")
    act = ActivationQuantizer(activation_bits) if activation_bits else None
    hyper = _Hyper(lr, draws, hessian_weight, hessian_step, int(val_draws), mu)
    run = _Run(model, data, method, sigma, seed, hyper, act)
    final, history, best_epoch = run.fit(epochs, batch_size, progress)
    curv = None
    if curvature_samples and c_sigma > 0:
        x, y = data.x_train[:CURVATURE_IMAGES], data.y_train[:CURVATURE_IMAGES]
        curv = curvature_term(
            final, x, y, c_sigma, samples=int(curvature_samples), step=hessian_step, seed=seed
        )
    seconds = time.perf_counter() - run.t_start
    return TrainResult(final, history, best_epoch, method, sigma, seconds, curv, mu)


def check_train_mu(train_mu: float, method: str) -> float:
    """``train_mu`` as float: finite, and 0 unless ``method`` is ``noise`` (ConfigError)."""
    try:
        mu = float(train_mu)
    except (TypeError, ValueError):
        raise ConfigError(f"train_mu must be a number, got {train_mu!r}") from None
    if not math.isfinite(mu):
        raise ConfigError(f"train_mu must be finite, got {mu:g}")
    if mu != 0 and method != "noise":
        raise ConfigError(
            f"train_mu={mu:g} is the mean offset of noise-injection training, but "
            f"method={method!r}",
            hint="use --method noise, the only method that injects noise with a mean "
            "offset"
            + (
                " (the Hessian penalty expands around zero-mean noise)"
                if method == "hessian"
                else ""
            ),
        )
    return mu


#: most curvature vectors :func:`train` draws for its report
MAX_CURVATURE_SAMPLES = 100_000


def _curvature_sigma(sigma, curvature_sigma, curvature_samples, seed) -> float:
    """Check the curvature-report and seed arguments of :func:`train`; its sigma."""
    if curvature_sigma is None:
        curvature_sigma = sigma if sigma > 0 else DEFAULT_CURVATURE_SIGMA
    c_sigma = check_sigma(curvature_sigma, "curvature_sigma")
    if (
        not isinstance(curvature_samples, int | np.integer)
        or curvature_samples == 1
        or curvature_samples < 0
    ):
        raise ConfigError(
            f"curvature_samples must be 0 or an integer >= 2, got {curvature_samples!r}"
        )
    if curvature_samples > MAX_CURVATURE_SAMPLES:  # 1e9 asked for 7.5 GiB and years of work
        raise ConfigError(
            f"curvature_samples={curvature_samples}: at most {MAX_CURVATURE_SAMPLES} (each "
            "is two forward passes over the training images; the default 32 give a standard "
            "error of about 7 %)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    return c_sigma


@dataclass(frozen=True)
class _Hyper:
    lr: float
    draws: int
    hessian_weight: float
    hessian_step: float
    val_draws: int
    mu: float = 0.0


class _Run:
    """One training run's state: the optimiser, the random streams and the steps."""

    def __init__(self, model, data, method, sigma, seed, hyper: _Hyper, act=None):
        self.t_start = time.perf_counter()
        self.model, self.data, self.method, self.sigma = model, data, method, sigma
        self.lr, self.draws = hyper.lr, hyper.draws
        self.hessian_weight, self.hessian_step = hyper.hessian_weight, hyper.hessian_step
        self.act = act
        self.mu = hyper.mu
        self.hook = act.eval_hook if act else None
        s_shuffle, s_noise, s_val = np.random.SeedSequence(seed).spawn(3)
        self.rng_shuffle = np.random.default_rng(s_shuffle)
        self.rng_noise = np.random.default_rng(s_noise)
        self.val_seeds = s_val.spawn(hyper.val_draws)
        self.flat = _Flat(model)
        self.theta = self.flat.get()
        self.opt = _Adam(self.theta.size, hyper.lr)
        self.total = self.done = 0

    def fit(self, epochs: int, batch_size: int, progress) -> tuple[Model, list[dict], int]:
        """Train ``epochs`` passes; the checkpoint with the best validation accuracy under
        the training noise (ties: lower clean validation loss), the history, its epoch."""
        self.total = math.ceil(self.data.x_train.shape[0] / batch_size) * epochs
        history: list[dict] = []
        best = (-1.0, math.inf)
        best_state, best_epoch = self.model.state(), 0
        for epoch in range(1, epochs + 1):
            rec = self.epoch(epoch, batch_size, progress)
            history.append(rec)
            log.info("epoch %d: %s", epoch, rec)
            if (rec["val_noisy_accuracy"], -rec["val_loss"]) > (best[0], -best[1]):
                best = (rec["val_noisy_accuracy"], rec["val_loss"])
                best_state, best_epoch = self.model.state(), epoch
        return self.model.with_params(best_state), history, best_epoch

    def epoch(self, epoch: int, batch_size: int, progress) -> dict:
        """Train one pass over the training split, then score it (one history entry)."""
        t0 = time.perf_counter()
        x, y = self.data.x_train, self.data.y_train
        n = x.shape[0]
        order = self.rng_shuffle.permutation(n)
        loss_sum = pen_sum = 0.0
        correct = 0
        for b0 in range(0, n, batch_size):
            idx = order[b0 : b0 + batch_size]
            loss, g, logits, pen = self.gradient(x[idx], y[idx])
            loss_sum += loss * len(idx)
            pen_sum += pen * len(idx)
            correct += int((logits.argmax(axis=1) == y[idx]).sum())
            lr_t = 0.5 * self.lr * (1 + math.cos(math.pi * self.done / self.total))
            self.theta = self.opt.step(self.theta, g, lr_t)
            self.flat.set(self.theta)
            self.done += 1
            if progress is not None:
                progress(self.done, self.total)
        if not math.isfinite(loss_sum):
            raise ModelError(
                f"training diverged at epoch {epoch} (loss {loss_sum / n})", hint="lower lr"
            )
        return {
            "epoch": epoch,
            "loss": loss_sum / n,
            "penalty": pen_sum / n,
            "train_accuracy": correct / n,
            **self.score(),
            "seconds": time.perf_counter() - t0,
        }

    def gradient(self, xb, yb) -> tuple[float, np.ndarray, np.ndarray, float]:
        """``(loss, update direction, logits, penalty)`` of one mini-batch by the method."""
        model, flat, act = self.model, self.flat, self.act
        if self.method == "plain":
            return (*_loss_grad(model, flat, xb, yb, act), 0.0)
        if self.method == "noise":  # the deployed error, a fresh draw per pass
            g = np.zeros_like(self.theta)
            loss = 0.0
            plan = noise_plan(model)
            for _ in range(self.draws):
                delta = parameter_noise(
                    model, self.sigma, self.rng_noise.standard_normal, plan, self.mu
                )
                flat.set(self.theta + flat.pack(delta))
                lk, gk, logits = _loss_grad(model, flat, xb, yb, act)
                loss += lk / self.draws
                g += gk / self.draws
            flat.set(self.theta)
            return loss, g, logits, 0.0

        def loss_grad(th):
            flat.set(th)
            return _loss_grad(model, flat, xb, yb, act)[:2]

        loss, g0, logits = _loss_grad(model, flat, xb, yb, act)
        buffers = {k: v.copy() for k, v in _buffers(model).items()}
        direction = noise_direction(model, self.sigma, flat)
        with frozen_pattern(model):  # the smooth piece active at theta
            pen, gp = hessian_penalty(
                loss_grad,
                self.theta,
                direction,
                self.rng_noise,
                draws=self.draws,
                step=self.hessian_step,
                loss0=loss,
                grad0=g0,
            )
        flat.set(self.theta)
        _restore_buffers(model, buffers)
        return loss, g0 + self.hessian_weight * gp, logits, pen

    def score(self) -> dict:
        """Clean validation loss and accuracy, and the mean accuracy over the fixed chips
        of the training noise (paper 2's rule, :func:`perturb_model_paper`)."""
        model, data = self.model, self.data
        val_logits = model.forward(data.x_val, mvm=self.hook)
        val_loss, _ = cross_entropy(val_logits, data.y_val)
        val_acc = float(np.mean(val_logits.argmax(axis=1) == data.y_val))
        val_noisy = val_acc
        if self.sigma > 0:
            chips = (
                perturb_model_paper(model, self.sigma, np.random.default_rng(vs), mu=self.mu)
                for vs in self.val_seeds
            )
            val_noisy = float(
                np.mean([c.accuracy(data.x_val, data.y_val, mvm=self.hook) for c in chips])
            )
        return {"val_accuracy": val_acc, "val_loss": val_loss, "val_noisy_accuracy": val_noisy}


@contextmanager
def frozen_pattern(model: Model) -> Iterator[None]:
    """Hold every ReLU and max-pool pattern at the one of the last forward pass.

    Inside, the model is the smooth (multilinear in each layer's weights) piece active
    at the point of that pass, so finite differences give the almost-everywhere
    derivatives that back-propagation gives, without the jumps of the gradient where
    a unit crosses its kink.  Only ReLU and max pooling are frozen: the kinked
    activations of :mod:`xbar.network.ops` (``clip``, ``leaky_relu``, ``hard_sigmoid``,
    ``hard_swish``) are not, so the penalty of models that use them keeps kink terms.
    """
    layers = [la for la in model.all_layers() if isinstance(la, ReLU | MaxPool2D)]
    for la in layers:
        la.freeze_pattern = True
    try:
        yield
    finally:
        for la in layers:
            la.freeze_pattern = False


def _buffers(model: Model) -> dict[str, np.ndarray]:
    return {f"{la.name}/{k}": v for la in model.all_layers() for k, v in la.buffers().items()}


def _restore_buffers(model: Model, saved: dict[str, np.ndarray]) -> None:
    for key, v in saved.items():
        lname, _, k = key.partition("/")
        setattr(model.layer(lname), k, v)
