"""Neural-network layers in numpy (float64) with hand-written backward passes.

Layout
------
Every image tensor in :mod:`xbar.network` is **NHWC**: ``(batch, height, width,
channels)``.  Convolution kernels are stored ``(kh, kw, c_in, c_out)`` so that the
matrix a crossbar holds, :attr:`Conv2D.W2d`, is a plain reshape ``(kh*kw*c_in, c_out)``
and the im2col rows are ordered ``(kh, kw, c_in)``, matching it.

The matrix-multiply hook
------------------------
:class:`Dense` and :class:`Conv2D` are the *matmul layers*.  Each computes
``X2d @ W2d`` (``X2d`` of shape ``(P, n_in)``; ``P`` is the batch size for a dense
layer and batch x output pixels for a convolution, so each output pixel is one row)
as ``mvm(layer, X2d)`` when a hook ``mvm`` is given, and adds the bias ``b``
afterwards, digitally: ``y = mvm(layer, X2d) + layer.b``.  The analog evaluator
plugs crossbar simulations in through this hook.

Every layer keeps what its backward pass needs from the last forward call, so a
layer object is not re-entrant (one forward/backward at a time).  ``backward(dy)``
returns the gradient with respect to the layer input and stores parameter gradients
in ``layer.grads`` (same keys as :meth:`Layer.params`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ModelError, ShapeError

MVM = Callable[["Layer", np.ndarray], np.ndarray]

#: Largest im2col matrix (number of float64 entries) built at once when not training;
#: bigger inference batches are processed in chunks of images (about 256 MiB).
IM2COL_MAX_ENTRIES = 1 << 25


class Layer:
    """Base class: a named step of a model with forward and backward passes."""

    kind = "layer"
    #: trainable parameters (attribute names)
    param_names: tuple[str, ...] = ()
    #: non-trainable state saved with the model (attribute names)
    buffer_names: tuple[str, ...] = ()

    def __init__(self, name: str | None = None):
        self.name = name
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None

    # -- parameters -------------------------------------------------------------------
    def params(self) -> dict[str, np.ndarray]:
        """Trainable arrays by name (live references, not copies)."""
        return {k: getattr(self, k) for k in self.param_names}

    def buffers(self) -> dict[str, np.ndarray]:
        """Saved non-trainable arrays (e.g. batch-norm running statistics)."""
        return {k: getattr(self, k) for k in self.buffer_names}

    def children(self) -> list[Layer]:
        """Nested layers (only containers have any)."""
        return []

    # -- description ------------------------------------------------------------------
    def config(self) -> dict:
        """JSON-serialisable description (without arrays)."""
        return {"type": type(self).__name__, "name": self.name}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for a per-sample input shape (raises ShapeError)."""
        return tuple(input_shape)

    # -- computation ------------------------------------------------------------------
    def forward(self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None):
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __getstate__(self):
        # copies and pickles never carry forward caches or gradients
        state = dict(self.__dict__)
        state["_cache"] = None
        state["grads"] = {}
        return state

    def clear_cache(self) -> None:
        """Drop what the last forward pass kept for backward."""
        self._cache = None
        for child in self.children():
            child.clear_cache()

    def __repr__(self) -> str:
        cfg = {k: v for k, v in self.config().items() if k not in ("type", "name", "body",
                                                                   "shortcut")}
        args = ", ".join(f"{k}={v}" for k, v in cfg.items())
        return f"{type(self).__name__}({self.name!r}{', ' if args else ''}{args})"


def _check_rank(layer: Layer, shape: tuple[int, ...], rank: int, what: str) -> None:
    if len(shape) != rank:
        raise ShapeError(
            f"layer {layer.name!r} ({type(layer).__name__}) expects {what} per sample, "
            f"got shape {tuple(shape)}"
        )


# ====================================================================================
# matmul layers
# ====================================================================================
class Dense(Layer):
    """Fully connected layer ``y = x @ W + b``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output features.
    W : ndarray, optional
        Weights, shape ``(n_in, n_out)``; zeros when omitted.
    b : ndarray, optional
        Bias, shape ``(n_out,)``; zeros when omitted.
    """

    kind = "dense"
    param_names = ("W", "b")

    def __init__(self, n_in: int, n_out: int, W=None, b=None, name: str | None = None):
        super().__init__(name)
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.W = np.zeros((self.n_in, self.n_out)) if W is None else np.asarray(W, float)
        self.b = np.zeros(self.n_out) if b is None else np.asarray(b, float)
        if self.W.shape != (self.n_in, self.n_out) or self.b.shape != (self.n_out,):
            raise ShapeError(f"layer {name!r}: W must be ({n_in}, {n_out}) and b ({n_out},), "
                             f"got {self.W.shape} and {self.b.shape}")

    @property
    def W2d(self) -> np.ndarray:
        """The matrix an array holds, shape ``(n_in, n_out)`` (a view of ``W``)."""
        return self.W

    def config(self) -> dict:
        return {**super().config(), "n_in": self.n_in, "n_out": self.n_out}

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.n_in,):
            raise ShapeError(f"layer {self.name!r} (Dense) expects {self.n_in} input features, "
                             f"got per-sample shape {tuple(input_shape)}",
                             hint="insert a Flatten layer or fix n_in")
        return (self.n_out,)

    def forward(self, x, *, training=False, mvm=None):
        x = np.asarray(x, dtype=float)
        self._cache = x
        y = x @ self.W if mvm is None else np.asarray(mvm(self, x), dtype=float)
        return y + self.b

    def backward(self, dy):
        x = self._cache
        self.grads = {"W": x.T @ dy, "b": dy.sum(axis=0)}
        return dy @ self.W.T


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution or pooling window along one axis."""
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, padding: int) -> np.ndarray:
    """Unfold NHWC images into patch rows.

    Parameters
    ----------
    x : ndarray
        Images, shape ``(B, H, W, C)``.
    kh, kw, stride, padding : int
        Window size, stride and zero padding (same on both axes).

    Returns
    -------
    ndarray
        Shape ``(B * OH * OW, kh * kw * C)``; rows ordered ``(b, oh, ow)``,
        columns ordered ``(kh, kw, c)``.
    """
    if padding:
        x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    B, OH, OW, C = win.shape[:4]
    # (B, OH, OW, C, kh, kw) -> (B, OH, OW, kh, kw, C)
    return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(B * OH * OW,
                                                                          kh * kw * C)


def col2im(cols: np.ndarray, x_shape: tuple[int, ...], kh: int, kw: int, stride: int,
           padding: int) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add patch rows back onto NHWC images."""
    B, H, W, C = x_shape
    OH = conv_output_size(H, kh, stride, padding)
    OW = conv_output_size(W, kw, stride, padding)
    cols = cols.reshape(B, OH, OW, kh, kw, C)
    dx = np.zeros((B, H + 2 * padding, W + 2 * padding, C))
    for i in range(kh):
        for j in range(kw):
            dx[:, i:i + stride * OH:stride, j:j + stride * OW:stride, :] += cols[:, :, :, i, j, :]
    if padding:
        dx = dx[:, padding:padding + H, padding:padding + W, :]
    return dx


class Conv2D(Layer):
    """2-D convolution on NHWC images through im2col (each output pixel is one MVM row).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    kernel : int
        Square kernel size.
    stride, padding : int
        Stride and zero padding (same on both axes).
    W : ndarray, optional
        Kernel, shape ``(kernel, kernel, in_channels, out_channels)``.
    b : ndarray, optional
        Bias, shape ``(out_channels,)`` (zeros when omitted).
    """

    kind = "conv2d"
    param_names = ("W", "b")

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1,
                 padding: int = 0, W=None, b=None, name: str | None = None):
        super().__init__(name)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel, self.stride, self.padding = int(kernel), int(stride), int(padding)
        if self.kernel < 1 or self.stride < 1 or self.padding < 0:
            raise ModelError(f"layer {name!r}: kernel and stride must be >= 1 and padding >= 0")
        shape = (self.kernel, self.kernel, self.in_channels, self.out_channels)
        self.W = np.zeros(shape) if W is None else np.asarray(W, float)
        self.b = np.zeros(self.out_channels) if b is None else np.asarray(b, float)
        if self.W.shape != shape or self.b.shape != (self.out_channels,):
            raise ShapeError(f"layer {name!r}: W must be {shape} and b ({self.out_channels},), "
                             f"got {self.W.shape} and {self.b.shape}")

    @property
    def W2d(self) -> np.ndarray:
        """The matrix an array holds, ``(kernel*kernel*in_channels, out_channels)``."""
        return self.W.reshape(-1, self.out_channels)

    def config(self) -> dict:
        return {**super().config(), "in_channels": self.in_channels,
                "out_channels": self.out_channels, "kernel": self.kernel,
                "stride": self.stride, "padding": self.padding}

    def output_shape(self, input_shape):
        _check_rank(self, input_shape, 3, "(H, W, C) images")
        H, W, C = input_shape
        if C != self.in_channels:
            raise ShapeError(f"layer {self.name!r} (Conv2D) expects {self.in_channels} input "
                             f"channels, got {C} (per-sample shape {tuple(input_shape)})")
        OH = conv_output_size(H, self.kernel, self.stride, self.padding)
        OW = conv_output_size(W, self.kernel, self.stride, self.padding)
        if OH < 1 or OW < 1:
            raise ShapeError(f"layer {self.name!r} (Conv2D): kernel {self.kernel} does not fit "
                             f"a {H}x{W} input with padding {self.padding}")
        return (OH, OW, self.out_channels)

    def forward(self, x, *, training=False, mvm=None):
        x = np.asarray(x, dtype=float)
        B, H, W, _ = x.shape
        OH, OW, _ = self.output_shape(x.shape[1:])
        k, s, p = self.kernel, self.stride, self.padding
        per_image = OH * OW * k * k * self.in_channels
        chunk = B if training else max(1, IM2COL_MAX_ENTRIES // max(per_image, 1))
        W2d = self.W2d
        out = np.empty((B, OH, OW, self.out_channels))
        cols = None
        for start in range(0, B, chunk):
            cols = im2col(x[start:start + chunk], k, k, s, p)
            y = cols @ W2d if mvm is None else np.asarray(mvm(self, cols), dtype=float)
            out[start:start + chunk] = (y + self.b).reshape(-1, OH, OW, self.out_channels)
        self._cache = (cols, x.shape) if training or chunk >= B else None
        return out

    def backward(self, dy):
        if self._cache is None:
            raise ModelError(f"layer {self.name!r}: backward needs forward(..., training=True)")
        cols, x_shape = self._cache
        dy2 = dy.reshape(-1, self.out_channels)
        self.grads = {"W": (cols.T @ dy2).reshape(self.W.shape), "b": dy2.sum(axis=0)}
        dcols = dy2 @ self.W2d.T
        return col2im(dcols, x_shape, self.kernel, self.kernel, self.stride, self.padding)


# ====================================================================================
# pooling, activation, reshaping
# ====================================================================================
class _Pool2D(Layer):
    def __init__(self, size: int = 2, stride: int | None = None, name: str | None = None):
        super().__init__(name)
        self.size = int(size)
        self.stride = int(stride) if stride is not None else self.size
        if self.size < 1 or self.stride < 1:
            raise ModelError(f"layer {name!r}: pool size and stride must be >= 1")

    def config(self):
        return {**super().config(), "size": self.size, "stride": self.stride}

    def output_shape(self, input_shape):
        _check_rank(self, input_shape, 3, "(H, W, C) images")
        H, W, C = input_shape
        OH = conv_output_size(H, self.size, self.stride, 0)
        OW = conv_output_size(W, self.size, self.stride, 0)
        if OH < 1 or OW < 1:
            raise ShapeError(f"layer {self.name!r}: pool size {self.size} larger than the "
                             f"{H}x{W} input")
        return (OH, OW, C)

    def _windows(self, x):
        # (B, OH, OW, C, k, k)
        return sliding_window_view(x, (self.size, self.size), axis=(1, 2))[
            :, ::self.stride, ::self.stride]


class MaxPool2D(_Pool2D):
    """Max pooling over ``size x size`` windows (stride defaults to size), NHWC."""

    kind = "maxpool2d"
    #: keep the last forward's winners (see :class:`ReLU`'s ``freeze_pattern``)
    freeze_pattern = False

    def forward(self, x, *, training=False, mvm=None):
        x = np.asarray(x, dtype=float)
        win = self._windows(x)
        B, OH, OW, C, k, _ = win.shape
        flat = win.reshape(B, OH, OW, C, k * k)
        if self.freeze_pattern and self._cache is not None and self._cache[1] == x.shape:
            arg = self._cache[0]
        else:
            arg = flat.argmax(axis=-1)
        self._cache = (arg, x.shape)
        return np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]

    def backward(self, dy):
        arg, x_shape = self._cache
        _, OH, OW, _ = dy.shape
        k, s = self.size, self.stride
        dx = np.zeros(x_shape)
        for i in range(k):
            for j in range(k):
                mask = arg == i * k + j
                dx[:, i:i + s * OH:s, j:j + s * OW:s, :] += dy * mask
        return dx


class AvgPool2D(_Pool2D):
    """Average pooling over ``size x size`` windows (stride defaults to size), NHWC."""

    kind = "avgpool2d"

    def forward(self, x, *, training=False, mvm=None):
        x = np.asarray(x, dtype=float)
        self._cache = x.shape
        return self._windows(x).mean(axis=(-2, -1))

    def backward(self, dy):
        x_shape = self._cache
        _, OH, OW, _ = dy.shape
        k, s = self.size, self.stride
        dx = np.zeros(x_shape)
        g = dy / (k * k)
        for i in range(k):
            for j in range(k):
                dx[:, i:i + s * OH:s, j:j + s * OW:s, :] += g
        return dx


class GlobalAvgPool(Layer):
    """Mean over height and width: ``(B, H, W, C) -> (B, C)``."""

    kind = "globalavgpool"

    def output_shape(self, input_shape):
        _check_rank(self, input_shape, 3, "(H, W, C) images")
        return (input_shape[2],)

    def forward(self, x, *, training=False, mvm=None):
        x = np.asarray(x, dtype=float)
        self._cache = x.shape
        return x.mean(axis=(1, 2))

    def backward(self, dy):
        B, H, W, C = self._cache
        return np.broadcast_to(dy[:, None, None, :] / (H * W), (B, H, W, C)).copy()


class ReLU(Layer):
    """Rectified linear unit ``max(x, 0)``.

    With ``freeze_pattern`` set, forward passes reuse the activation pattern of the
    last unfrozen one (same input shape): the network is then the smooth piece that
    is active there, whose derivatives are the almost-everywhere derivatives that
    back-propagation gives (used by the curvature penalty of
    :mod:`xbar.network.train`; max pooling freezes its winners likewise).
    """

    kind = "relu"
    freeze_pattern = False

    def forward(self, x, *, training=False, mvm=None):
        x = np.asarray(x, dtype=float)
        if not (self.freeze_pattern and self._cache is not None
                and self._cache.shape == x.shape):
            self._cache = x > 0
        return np.where(self._cache, x, 0.0)

    def backward(self, dy):
        return dy * self._cache


class Flatten(Layer):
    """Reshape ``(B, H, W, C) -> (B, H*W*C)`` (NHWC order)."""

    kind = "flatten"

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, *, training=False, mvm=None):
        x = np.asarray(x, dtype=float)
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._cache)


class BatchNorm(Layer):
    """Batch normalisation over the last (channel) axis.

    In training mode the batch statistics normalise and the running statistics are
    updated (``running = momentum * running + (1 - momentum) * batch``, unbiased
    variance); in evaluation mode it is the per-channel affine map
    ``gamma * (x - running_mean) / sqrt(running_var + eps) + beta``.

    Parameters
    ----------
    channels : int
        Number of channels (features for 2-D inputs).
    momentum, eps : float
        Running-average factor and variance floor.
    """

    kind = "batchnorm"
    param_names = ("gamma", "beta")
    buffer_names = ("running_mean", "running_var")

    def __init__(self, channels: int, momentum: float = 0.9, eps: float = 1e-5,
                 name: str | None = None):
        super().__init__(name)
        self.channels = int(channels)
        self.momentum, self.eps = float(momentum), float(eps)
        self.gamma = np.ones(self.channels)
        self.beta = np.zeros(self.channels)
        self.running_mean = np.zeros(self.channels)
        self.running_var = np.ones(self.channels)

    def config(self):
        return {**super().config(), "channels": self.channels, "momentum": self.momentum,
                "eps": self.eps}

    def output_shape(self, input_shape):
        if not input_shape or input_shape[-1] != self.channels:
            raise ShapeError(f"layer {self.name!r} (BatchNorm) expects {self.channels} channels "
                             f"on the last axis, got per-sample shape {tuple(input_shape)}")
        return tuple(input_shape)

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """Evaluation-mode affine map as ``(scale, shift)``: ``y = x * scale + shift``."""
        scale = self.gamma / np.sqrt(self.running_var + self.eps)
        return scale, self.beta - self.running_mean * scale

    def forward(self, x, *, training=False, mvm=None):
        x = np.asarray(x, dtype=float)
        if not training:
            scale, shift = self.scale_shift()
            self._cache = ("eval", x, scale)
            return x * scale + shift
        axes = tuple(range(x.ndim - 1))
        n = x.size // self.channels
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = (x - mean) * inv
        m = self.momentum
        self.running_mean = m * self.running_mean + (1 - m) * mean
        self.running_var = m * self.running_var + (1 - m) * var * (n / max(n - 1, 1))
        self._cache = ("train", xhat, inv, axes)
        return self.gamma * xhat + self.beta

    def backward(self, dy):
        axes = tuple(range(dy.ndim - 1))
        if self._cache[0] == "eval":  # running statistics are constants
            _, x, scale = self._cache
            xhat = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
            self.grads = {"gamma": (dy * xhat).sum(axis=axes), "beta": dy.sum(axis=axes)}
            return dy * scale
        _, xhat, inv, axes = self._cache
        self.grads = {"gamma": (dy * xhat).sum(axis=axes), "beta": dy.sum(axis=axes)}
        dxhat = dy * self.gamma
        return inv * (dxhat - dxhat.mean(axis=axes) - xhat * (dxhat * xhat).mean(axis=axes))


class Residual(Layer):
    """Residual block ``y = body(x) + shortcut(x)`` (identity shortcut when ``None``).

    Parameters
    ----------
    body : list of Layer
        Main branch, applied in order.
    shortcut : list of Layer or None
        Projection branch (e.g. a 1x1 convolution); ``None`` is the identity.
    """

    kind = "residual"

    def __init__(self, body: list[Layer], shortcut: list[Layer] | None = None,
                 name: str | None = None):
        super().__init__(name)
        self.body = list(body)
        self.shortcut = None if shortcut is None else list(shortcut)

    def children(self):
        return self.body + (self.shortcut or [])

    def config(self):
        return {**super().config(), "body": [layer.config() for layer in self.body],
                "shortcut": None if self.shortcut is None
                else [layer.config() for layer in self.shortcut]}

    def output_shape(self, input_shape):
        a = chain_shapes(self.body, input_shape)
        b = tuple(input_shape) if self.shortcut is None else chain_shapes(self.shortcut,
                                                                          input_shape)
        if a != b:
            raise ShapeError(f"residual block {self.name!r}: body gives {a} but the shortcut "
                             f"gives {b}", hint="add a 1x1 projection convolution as shortcut")
        return a

    def forward(self, x, *, training=False, mvm=None):
        y = run_forward(self.body, x, training=training, mvm=mvm)
        if self.shortcut is None:
            return y + x
        return y + run_forward(self.shortcut, x, training=training, mvm=mvm)

    def backward(self, dy):
        dx = run_backward(self.body, dy)
        if self.shortcut is None:
            return dx + dy
        return dx + run_backward(self.shortcut, dy)


# ====================================================================================
# helpers: chains of layers, loss
# ====================================================================================
def chain_shapes(layers: list[Layer], input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Propagate a per-sample shape through ``layers`` (raises ShapeError naming the layer)."""
    shape = tuple(int(s) for s in input_shape)
    for layer in layers:
        shape = tuple(layer.output_shape(shape))
    return shape


def run_forward(layers: list[Layer], x: np.ndarray, *, training: bool = False,
                mvm: MVM | None = None) -> np.ndarray:
    """Apply ``layers`` in order."""
    for layer in layers:
        x = layer.forward(x, training=training, mvm=mvm)
    return x


def run_backward(layers: list[Layer], dy: np.ndarray) -> np.ndarray:
    """Back-propagate ``dy`` through ``layers`` in reverse order."""
    for layer in reversed(layers):
        dy = layer.backward(dy)
    return dy


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``(B, classes)`` logits (numerically stable)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient with respect to the logits.

    Parameters
    ----------
    logits : ndarray
        Shape ``(B, classes)``.
    labels : ndarray of int
        Shape ``(B,)``, class indices.

    Returns
    -------
    loss : float
        ``mean(-log softmax(logits)[b, labels[b]])`` (nats).
    dlogits : ndarray
        Gradient of ``loss``, shape ``(B, classes)``.
    """
    B = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    idx = np.arange(B)
    loss = -logp[idx, labels].mean()
    d = np.exp(logp)
    d[idx, labels] -= 1.0
    return float(loss), d / B


def argmax(logits: np.ndarray) -> np.ndarray:
    """Predicted class per row of ``(B, classes)`` logits."""
    return np.asarray(logits).argmax(axis=1)


#: layer classes by JSON ``type`` name
LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (Dense, Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool, ReLU, Flatten, BatchNorm,
                Residual)
}
