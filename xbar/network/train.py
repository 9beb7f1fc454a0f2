"""Training in numpy: plain, noise-injection and Hessian-penalty (paper 2) methods.

Methods
-------
``plain``
    Mini-batch Adam on the softmax cross-entropy.
``noise``
    In every forward pass the matmul weights and biases carry a fresh draw of the
    deployed error ``sigma * R * n`` (:func:`~xbar.network.noise.draw_weight_noise`,
    ``R`` = half the layer's current weight range); the gradient at the perturbed
    weights updates the clean ones.  ``draws=K`` averages K draws per step.
``hessian``
    Loss plus an explicit curvature penalty ``P = (1/2) sum_i s_i^2 H_ii`` with
    ``s_i = sigma * R`` of parameter i's layer (0 for parameters outside matmul layers),
    ``H`` the Hessian of the mini-batch loss.  The weighted diagonal is estimated by
    Hutchinson's method on the scaled Hessian ``S H S`` (``S = diag(s)``): with a
    Rademacher vector ``v`` and ``w = s * v``, ``E[w_i (H w)_i] = s_i^2 H_ii``, so
    ``P = (1/2) E_v[w^T H w]``.  The curvature along ``w`` is a central second
    difference with a small step ``eps * w`` (``hessian_step=eps``, default 0.01,
    i.e. 1% of the noise scale):
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
weights during training (exact for models without batch-norm, such as ``default``).
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
from .noise import check_sigma, draw_weight_noise, perturb_model, weight_range_sigma
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


def noise_scales(model: Model, sigma: float, flat: _Flat | None = None) -> np.ndarray:
    """Per-parameter noise scale ``s_i = sigma * R`` of its matmul layer (0 elsewhere)."""
    flat = flat or _Flat(model)
    parts = {}
    for layer in model.matmul_layers():
        s = weight_range_sigma(layer.W, sigma)
        parts[f"{layer.name}/W"] = np.full(layer.W.shape, s)
        parts[f"{layer.name}/b"] = np.full(layer.b.shape, s)
    return flat.pack(parts)


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
    s: np.ndarray,
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
    s : ndarray
        Noise scale per parameter ``(n,)`` (same units as ``theta``).
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
    for _ in range(int(draws)):
        w = s * rng.choice(np.array([-1.0, 1.0]), size=theta.shape)
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
    s = noise_scales(m, sigma, flat)

    def loss(th):
        flat.set(th)
        return cross_entropy(m.forward(x), y)[0]

    l0 = loss(theta)  # sets the activation pattern that the other passes keep
    rng = np.random.default_rng(seed)
    vals = np.empty(int(samples))
    with frozen_pattern(m):
        for k in range(int(samples)):
            w = s * rng.choice(np.array([-1.0, 1.0]), size=theta.shape)
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
) -> TrainResult:
    """Train a model on a data set; deterministic for a seed.

    Parameters
    ----------
    model_or_name : Model or str
        A :class:`Model` (training starts from its weights, e.g. fine-tuning), an
        architecture name (``"default"``: the default CNN, ``"wrn-D-K"``: a Wide
        ResNet; both He-initialised from ``seed``) or a saved model's path (start
        from its weights).
    dataset : Dataset or str
        Data set or its name (see :func:`~xbar.network.load_dataset`).
    method : {"plain", "noise", "hessian"}
        See the module docstring.
    train_noise : float
        Relative programming error sigma (``s = sigma * R``); > 0 for noise/hessian.
    epochs, batch_size : int
        Passes over the training split and mini-batch size.
    seed : int
        Seeds initialisation, shuffling, noise draws and the validation chips.
    lr : float
        Adam learning rate (cosine decay to 0 over the run).
    draws : int
        Noise draws (``noise``) or Rademacher vectors (``hessian``) per step.
    hessian_weight : float
        Weight of the curvature penalty (1 = the expected-loss expansion).
    hessian_step : float
        Finite-difference step of the penalty estimator, in units of the noise scale
        (default 0.01; patterns frozen, see the module docstring).
    val_draws : int
        Fixed chips used to score each epoch on the validation split.
    curvature_sigma : float, optional
        Noise level at which the chosen model's curvature term is reported (default:
        ``train_noise``, or 0.15 for ``plain``); use one value to compare models.
    curvature_samples : int
        Rademacher vectors of that report (0: no report).
    activation_bits : int
        Quantisation-aware training: every matmul layer's input quantised to this
        many bits with the straight-through estimator (:mod:`xbar.network.qat`),
        also when scoring epochs; 0 = off.
    progress : callable, optional
        ``progress(done_steps, total_steps)``.

    Returns
    -------
    TrainResult
    """
    sigma = validate_train_args(
        method, train_noise, epochs, batch_size, lr, draws, hessian_weight, hessian_step
    )
    c_sigma = check_sigma(
        sigma
        if curvature_sigma is None and sigma > 0
        else DEFAULT_CURVATURE_SIGMA
        if curvature_sigma is None
        else curvature_sigma,
        "curvature_sigma",
    )
    if (
        not isinstance(curvature_samples, int | np.integer)
        or curvature_samples == 1
        or curvature_samples < 0
    ):
        raise ConfigError(
            f"curvature_samples must be 0 or an integer >= 2, got {curvature_samples!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    data = load_dataset(dataset) if not isinstance(dataset, Dataset) else dataset
    model = _resolve_model(model_or_name, seed)
    data.check_model(model)
    if data.x_val.shape[0] == 0:
        raise ModelError(f"data set {data.name!r} has no validation split")

    t_start = time.perf_counter()
    ss = np.random.SeedSequence(seed)
    s_shuffle, s_noise, s_val = ss.spawn(3)
    rng_shuffle = np.random.default_rng(s_shuffle)
    rng_noise = np.random.default_rng(s_noise)
    val_seeds = s_val.spawn(int(val_draws))

    act = ActivationQuantizer(activation_bits) if activation_bits else None
    hook = act.eval_hook if act else None
    flat = _Flat(model)
    theta = flat.get()
    opt = _Adam(theta.size, lr)
    n = data.x_train.shape[0]
    steps_per_epoch = math.ceil(n / batch_size)
    total = steps_per_epoch * epochs
    step = 0
    history: list[dict] = []
    best = (-1.0, math.inf)
    best_state, best_epoch = model.state(), 0

    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        order = rng_shuffle.permutation(n)
        loss_sum = pen_sum = 0.0
        correct = 0
        for b0 in range(0, n, batch_size):
            idx = order[b0 : b0 + batch_size]
            xb, yb = data.x_train[idx], data.y_train[idx]
            if method == "plain":
                loss, g, logits = _loss_grad(model, flat, xb, yb, act)
            elif method == "noise":
                g = np.zeros_like(theta)
                loss = 0.0
                for _ in range(draws):
                    delta = flat.pack(draw_weight_noise(model, sigma, rng_noise))
                    flat.set(theta + delta)
                    lk, gk, logits = _loss_grad(model, flat, xb, yb, act)
                    loss += lk / draws
                    g += gk / draws
                flat.set(theta)
            else:  # hessian

                def loss_grad(th, xb=xb, yb=yb):
                    flat.set(th)
                    lk, gk, _ = _loss_grad(model, flat, xb, yb, act)
                    return lk, gk

                loss, g0, logits = _loss_grad(model, flat, xb, yb, act)
                buffers = {k: v.copy() for k, v in _buffers(model).items()}
                with frozen_pattern(model):  # the smooth piece active at theta
                    pen, gp = hessian_penalty(
                        loss_grad,
                        theta,
                        noise_scales(model, sigma, flat),
                        rng_noise,
                        draws=draws,
                        step=hessian_step,
                        loss0=loss,
                        grad0=g0,
                    )
                flat.set(theta)
                _restore_buffers(model, buffers)
                g = g0 + hessian_weight * gp
                pen_sum += pen * len(idx)
            loss_sum += loss * len(idx)
            correct += int((logits.argmax(axis=1) == yb).sum())
            lr_t = 0.5 * lr * (1 + math.cos(math.pi * step / total))
            theta = opt.step(theta, g, lr_t)
            flat.set(theta)
            step += 1
            if progress is not None:
                progress(step, total)

        # ---- validation: clean and under the training noise (fixed chips)
        val_logits = model.forward(data.x_val, mvm=hook)
        val_loss, _ = cross_entropy(val_logits, data.y_val)
        val_acc = float(np.mean(val_logits.argmax(axis=1) == data.y_val))
        if sigma > 0:
            accs = [
                perturb_model(model, sigma, np.random.default_rng(vs)).accuracy(
                    data.x_val, data.y_val, mvm=hook
                )
                for vs in val_seeds
            ]
            val_noisy = float(np.mean(accs))
        else:
            val_noisy = val_acc
        rec = {
            "epoch": epoch,
            "loss": loss_sum / n,
            "penalty": pen_sum / n,
            "train_accuracy": correct / n,
            "val_accuracy": val_acc,
            "val_loss": val_loss,
            "val_noisy_accuracy": val_noisy,
            "seconds": time.perf_counter() - t0,
        }
        history.append(rec)
        log.info("epoch %d: %s", epoch, rec)
        if not math.isfinite(rec["loss"]):
            raise ModelError(
                f"training diverged at epoch {epoch} (loss {rec['loss']})", hint="lower lr"
            )
        if (val_noisy, -val_loss) > (best[0], -best[1]):
            best = (val_noisy, val_loss)
            best_state, best_epoch = model.state(), epoch

    final = model.with_params(best_state)
    curv = None
    if curvature_samples and c_sigma > 0:
        curv = curvature_term(
            final,
            data.x_train[:CURVATURE_IMAGES],
            data.y_train[:CURVATURE_IMAGES],
            c_sigma,
            samples=int(curvature_samples),
            step=hessian_step,
            seed=seed,
        )
    return TrainResult(
        model=final,
        history=history,
        best_epoch=best_epoch,
        method=method,
        train_noise=sigma,
        seconds=time.perf_counter() - t_start,
        curvature=curv,
    )


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
