"""Quantisation-aware training of activations (straight-through estimator).

:class:`ActivationQuantizer` is an ``mvm`` hook that quantises every matmul
layer's input to ``bits`` bits with the quantiser the analog evaluator uses
(:func:`xbar.network.peripherals.quantize_activations`: unsigned levels for
non-negative inputs, i.e. after ReLU, signed ones otherwise), over a per-layer
range tracked during training as an exponential moving average of the batch's
``percentile`` of |x| (the evaluator calibrates the deployed range the same way,
on training images).

Straight-through estimator: the forward pass uses ``q(x)``; the backward pass
treats the quantiser as the identity for the input gradient (``dL/dx = dL/dq``)
and computes the weight gradient from the quantised input (``dL/dW = q(x)^T dy``),
by handing the layers the quantised input as what they saw (:meth:`store`).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .peripherals import quantize_activations

__all__ = ["ActivationQuantizer"]


class ActivationQuantizer:
    """``mvm`` hook quantising matmul inputs to ``bits`` bits (training and evaluation).

    Parameters
    ----------
    bits : int
        Activation bits (>= 2).
    percentile : float
        Percentile of |x| that sets a layer's range (as ``adc_percentile``).
    momentum : float
        Weight of the old range in the moving average (per training batch).

    Examples
    --------
    >>> import numpy as np
    >>> from xbar.network import Dense, Model
    >>> m = Model([Dense(2, 1, W=np.ones((2, 1)), name="fc")], (2,), 1)
    >>> q = ActivationQuantizer(2, percentile=100)
    >>> y = m.forward(np.array([[0.2, 0.9]]), mvm=q.training_hook)  # levels 0.3 k, k = 0..3
    >>> round(float(y[0, 0]), 12)  # 0.2 -> 0.3, 0.9 -> 0.9
    1.2
    """

    def __init__(self, bits: int, percentile: float = 99.98, momentum: float = 0.9):
        if int(bits) < 2:
            raise ConfigError(f"activation bits={bits}: at least 2 bits are needed")
        self.bits = int(bits)
        self.percentile = float(percentile)
        self.momentum = float(momentum)
        self.ranges: dict[str, float] = {}
        self.signed: dict[str, bool] = {}
        self._quantised: dict[str, np.ndarray] = {}

    def _quantise(self, layer, X: np.ndarray, update: bool) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        name = layer.name
        if update or name not in self.ranges:
            r = float(np.percentile(np.abs(X), self.percentile)) if X.size else 0.0
            old = self.ranges.get(name)
            self.ranges[name] = r if old is None else self.momentum * old + (1 - self.momentum) * r
            self.signed[name] = self.signed.get(name, False) or bool(X.size and X.min() < 0)
        return quantize_activations(X, self.ranges[name], self.bits, self.signed[name])

    def training_hook(self, layer, X2d: np.ndarray) -> np.ndarray:
        """Quantise (updating the range) and keep q(x) for :meth:`store`."""
        Xq = self._quantise(layer, X2d, update=True)
        self._quantised[layer.name] = Xq
        return Xq @ layer.W2d

    def eval_hook(self, layer, X2d: np.ndarray) -> np.ndarray:
        """Quantise with the current ranges (no update)."""
        return self._quantise(layer, X2d, update=False) @ layer.W2d

    def store(self, model) -> None:
        """After a training forward pass: make every matmul layer back-propagate from the
        quantised input it used (the weight gradient of the straight-through estimator)."""
        for layer in model.matmul_layers():
            Xq = self._quantised.pop(layer.name, None)
            cache = getattr(layer, "_cache", None)
            # Dense and Conv2D keep (matmul input, shape) for their backward pass
            if (
                Xq is not None
                and isinstance(cache, tuple)
                and cache
                and np.shape(cache[0]) == Xq.shape
            ):
                layer._cache = (Xq, *cache[1:])
