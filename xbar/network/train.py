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
    Loss plus the curvature penalty ``(1/2) sum_i s_i^2 H_ii`` with ``s_i = sigma * R``
    of parameter i's layer (0 for parameters outside matmul layers).  The weighted
    diagonal ``s_i^2 H_ii`` is estimated by Hutchinson's method applied to the scaled
    Hessian ``S H S`` (``S = diag(s)``): with a Rademacher vector ``v`` and
    ``w = s * v``, ``E[w_i (H w)_i] = s_i^2 H_ii``, so
    ``P = (1/2) E[w^T H w]``.  ``H w`` comes from a central finite difference of
    gradients with step ``h * w`` (``hessian_step=h``, default 1, i.e. at the noise
    scale), which makes the per-draw estimator
    ``P_v = (L(W + h w) - 2 L(W) + L(W - h w)) / (2 h^2)``.  Its gradient is taken
    **exactly** (no further approximation) by differentiating that estimator:
    ``grad P_v = (g(W + h w) - 2 g(W) + g(W - h w)) / (2 h^2)``, i.e. finite
    differences of gradients again.  A finite step is deliberate: with ReLU kinks an
    infinitesimal one would turn rare activation flips into huge spikes.  The step is
    ``g(W) + hessian_weight * grad P`` (averaged over ``draws`` vectors v).

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
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, ModelError
from .data import Dataset, load_dataset
from .layers import cross_entropy
from .model import Model, load_model
from .noise import check_sigma, draw_weight_noise, perturb_model, weight_range_sigma

log = logging.getLogger(__name__)

METHODS = ("plain", "noise", "hessian")


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
    """

    model: Model
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    method: str = "plain"
    train_noise: float = 0.0
    seconds: float = 0.0


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
        return np.concatenate([arrays[k].ravel() if k in arrays
                               else np.zeros(self.params[k].size) for k in self.keys])


def _loss_grad(model: Model, flat: _Flat, xb, yb) -> tuple[float, np.ndarray, np.ndarray]:
    logits = model.forward(xb, training=True)
    loss, d = cross_entropy(logits, yb)
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


def hutchinson_diagonal(grad: Callable[[np.ndarray], np.ndarray], theta: np.ndarray,
                        samples: int, rng: np.random.Generator, eps: float = 1e-4
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


def hessian_penalty(loss_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
                    theta: np.ndarray, s: np.ndarray, rng: np.random.Generator, *,
                    draws: int = 1, h: float = 1.0, loss0: float | None = None,
                    grad0: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Estimate ``P = (1/2) sum_i s_i^2 H_ii`` and its gradient (see the module docstring).

    Per Rademacher vector ``v`` with ``w = s * v``:
    ``P_v = (L(theta + h w) - 2 L(theta) + L(theta - h w)) / (2 h^2)`` and its exact
    gradient ``(g(theta + h w) - 2 g(theta) + g(theta - h w)) / (2 h^2)``; both are
    averaged over ``draws`` vectors.  ``E[P_v] = (1/2) sum_i s_i^2 H_ii`` up to the
    finite-difference error (exact for a quadratic loss).

    Parameters
    ----------
    loss_grad : callable
        ``theta -> (loss, gradient)``.
    theta : ndarray
        Parameters ``(n,)``.
    s : ndarray
        Noise scale per parameter ``(n,)``.
    rng : numpy.random.Generator
        Source of the Rademacher vectors.
    draws : int
        Number of vectors.
    h : float
        Step in units of ``w``.
    loss0, grad0 : optional
        ``loss_grad(theta)`` when already known.

    Returns
    -------
    penalty : float
    gradient : ndarray
    """
    if loss0 is None or grad0 is None:
        loss0, grad0 = loss_grad(theta)
    pen = 0.0
    gp = np.zeros_like(theta)
    for _ in range(int(draws)):
        w = s * rng.choice(np.array([-1.0, 1.0]), size=theta.shape)
        lp, gpl = loss_grad(theta + h * w)
        lm, gmi = loss_grad(theta - h * w)
        pen += (lp - 2 * loss0 + lm) / (2 * h * h)
        gp += (gpl - 2 * grad0 + gmi) / (2 * h * h)
    return pen / draws, gp / draws


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
        mhat = self.m / (1 - self.b1 ** self.t)
        vhat = self.v / (1 - self.b2 ** self.t)
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


def validate_train_args(method: str, train_noise: float, epochs: int, batch_size: int = 32,
                        lr: float = 3e-3, draws: int = 1, hessian_weight: float = 1.0
                        ) -> float:
    """Check training arguments (raises ConfigError/ValueRangeError naming the field)."""
    if method not in METHODS:
        raise ConfigError(f"unknown training method {method!r}",
                          hint="method is one of " + ", ".join(METHODS))
    sigma = check_sigma(train_noise, "train_noise")
    if method != "plain" and sigma == 0:
        raise ConfigError(f"method {method!r} needs train_noise > 0",
                          hint="e.g. --train-noise 0.1, or use --method plain")
    for fname, value, lo in (("epochs", epochs, 1), ("batch_size", batch_size, 1),
                             ("draws", draws, 1)):
        if not isinstance(value, int | np.integer) or value < lo:
            shown = value if isinstance(value, int | float | np.number) else repr(value)
            raise ConfigError(f"{fname} must be an integer >= {lo}, got {shown}")
    for fname, value in (("lr", lr), ("hessian_weight", hessian_weight)):
        if not math.isfinite(float(value)) or value <= 0:
            raise ConfigError(f"{fname} must be finite and > 0, got {float(value):g}")
    return sigma


def train(model_or_name: Model | str = "default", dataset: Dataset | str = "digits", *,
          method: str = "plain", train_noise: float = 0.0, epochs: int = 30, seed: int = 0,
          batch_size: int = 32, lr: float = 3e-3, draws: int = 1,
          hessian_weight: float = 1.0, hessian_step: float = 1.0, val_draws: int = 5,
          progress: Callable[[int, int], None] | None = None) -> TrainResult:
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
        Finite-difference step of the penalty estimator, in units of the noise scale.
    val_draws : int
        Fixed chips used to score each epoch on the validation split.
    progress : callable, optional
        ``progress(done_steps, total_steps)``.

    Returns
    -------
    TrainResult
    """
    sigma = validate_train_args(method, train_noise, epochs, batch_size, lr, draws,
                                hessian_weight)
    if not math.isfinite(hessian_step) or hessian_step <= 0:
        raise ConfigError(f"hessian_step must be finite and > 0, got {float(hessian_step):g}")
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
            idx = order[b0:b0 + batch_size]
            xb, yb = data.x_train[idx], data.y_train[idx]
            if method == "plain":
                loss, g, logits = _loss_grad(model, flat, xb, yb)
            elif method == "noise":
                g = np.zeros_like(theta)
                loss = 0.0
                for _ in range(draws):
                    delta = flat.pack(draw_weight_noise(model, sigma, rng_noise))
                    flat.set(theta + delta)
                    lk, gk, logits = _loss_grad(model, flat, xb, yb)
                    loss += lk / draws
                    g += gk / draws
                flat.set(theta)
            else:  # hessian
                def loss_grad(th, xb=xb, yb=yb):
                    flat.set(th)
                    lk, gk, _ = _loss_grad(model, flat, xb, yb)
                    return lk, gk

                loss, g0, logits = _loss_grad(model, flat, xb, yb)
                buffers = {k: v.copy() for k, v in _buffers(model).items()}
                pen, gp = hessian_penalty(loss_grad, theta, noise_scales(model, sigma, flat),
                                          rng_noise, draws=draws, h=hessian_step,
                                          loss0=loss, grad0=g0)
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
        val_logits = model.forward(data.x_val)
        val_loss, _ = cross_entropy(val_logits, data.y_val)
        val_acc = float(np.mean(val_logits.argmax(axis=1) == data.y_val))
        if sigma > 0:
            accs = [perturb_model(model, sigma, np.random.default_rng(vs)).accuracy(
                data.x_val, data.y_val) for vs in val_seeds]
            val_noisy = float(np.mean(accs))
        else:
            val_noisy = val_acc
        rec = {"epoch": epoch, "loss": loss_sum / n, "penalty": pen_sum / n,
               "train_accuracy": correct / n, "val_accuracy": val_acc, "val_loss": val_loss,
               "val_noisy_accuracy": val_noisy, "seconds": time.perf_counter() - t0}
        history.append(rec)
        log.info("epoch %d: %s", epoch, rec)
        if not math.isfinite(rec["loss"]):
            raise ModelError(f"training diverged at epoch {epoch} (loss {rec['loss']})",
                             hint="lower lr")
        if (val_noisy, -val_loss) > (best[0], -best[1]):
            best = (val_noisy, val_loss)
            best_state, best_epoch = model.state(), epoch

    final = model.with_params(best_state)
    return TrainResult(model=final, history=history, best_epoch=best_epoch, method=method,
                       train_noise=sigma, seconds=time.perf_counter() - t_start)


def _buffers(model: Model) -> dict[str, np.ndarray]:
    return {f"{la.name}/{k}": v for la in model.all_layers() for k, v in la.buffers().items()}


def _restore_buffers(model: Model, saved: dict[str, np.ndarray]) -> None:
    for key, v in saved.items():
        lname, _, k = key.partition("/")
        setattr(model.layer(lname), k, v)
