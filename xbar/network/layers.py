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
plugs crossbar simulations in through this hook.  A hook may also have a method
``columns(layer, x, compute)``: a convolution then takes its im2col columns of ``x``
from it (``compute()`` makes them), so that a caller running the same inputs through
many copies of a model (the chips of an evaluation) unfolds them once.

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
    #: inputs the layer takes: 1 (forward gets an array), or None (forward gets a list)
    arity: int | None = 1

    @property
    def supports_backward(self) -> bool:
        """Whether :meth:`backward` is implemented for this layer's settings (training)."""
        return True

    def __init__(self, name: str | None = None) -> None:
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
    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
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
        cfg = {
            k: v for k, v in self.config().items() if k not in ("type", "name", "body", "shortcut")
        }
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

    def __init__(
        self,
        n_in: int,
        n_out: int,
        W: np.ndarray | None = None,
        b: np.ndarray | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.W = np.zeros((self.n_in, self.n_out)) if W is None else np.asarray(W, float)
        self.b = np.zeros(self.n_out) if b is None else np.asarray(b, float)
        if self.W.shape != (self.n_in, self.n_out) or self.b.shape != (self.n_out,):
            raise ShapeError(
                f"layer {name!r}: W must be ({n_in}, {n_out}) and b ({n_out},), "
                f"got {self.W.shape} and {self.b.shape}"
            )

    @property
    def W2d(self) -> np.ndarray:
        """The matrix an array holds, shape ``(n_in, n_out)`` (a view of ``W``)."""
        return self.W

    def config(self) -> dict:
        return {**super().config(), "n_in": self.n_in, "n_out": self.n_out}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not input_shape or tuple(input_shape)[-1] != self.n_in:
            raise ShapeError(
                f"layer {self.name!r} (Dense) expects {self.n_in} input features, "
                f"got per-sample shape {tuple(input_shape)}",
                hint="insert a Flatten layer or fix n_in",
            )
        return (*tuple(input_shape)[:-1], self.n_out)

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        lead = x.shape[:-1]
        x = x.reshape(-1, self.n_in)  # extra leading axes (a MatMul on (B, T, n_in)) fold in
        self._cache = (x, lead)
        y = x @ self.W if mvm is None else np.asarray(mvm(self, x), dtype=float)
        return (y + self.b).reshape(*lead, self.n_out)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, lead = self._cache
        dy = np.asarray(dy).reshape(-1, self.n_out)
        self.grads = {"W": x.T @ dy, "b": dy.sum(axis=0)}
        return (dy @ self.W.T).reshape(*lead, self.n_in)


def pair(value, what: str = "value") -> tuple[int, int]:
    """``(a, b)`` from an int or a sequence of two ints."""
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    v = tuple(int(t) for t in value)
    if len(v) != 2:
        raise ModelError(f"{what} must be an int or two ints, got {list(value)}")
    return v


def quad(value, what: str = "padding") -> tuple[int, int, int, int]:
    """Padding ``(top, left, bottom, right)`` from an int, ``(ph, pw)`` or four ints."""
    if isinstance(value, int | np.integer):
        return (int(value),) * 4
    v = tuple(int(t) for t in value)
    if len(v) == 2:
        return v[0], v[1], v[0], v[1]
    if len(v) != 4:
        raise ModelError(
            f"{what} must be an int, two ints or four ints (top, left, bottom, "
            f"right), got {list(value)}"
        )
    return v


def _compact(v: tuple[int, ...]):
    """An int when every entry is equal, else a list (for JSON descriptions)."""
    return v[0] if len(set(v)) == 1 else list(v)


def conv_output_size(
    size: int,
    kernel: int,
    stride: int,
    padding: int,
    dilation: int = 1,
    pad_end: int | None = None,
    ceil: bool = False,
) -> int:
    """Output length of a convolution or pooling window along one axis.

    ``padding`` pads the start (and the end unless ``pad_end`` is given);
    ``ceil=True`` rounds the last partial window up (ONNX ``ceil_mode``).
    """
    end = padding if pad_end is None else pad_end
    span = size + padding + end - dilation * (kernel - 1) - 1
    if ceil:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:  # the last window must start inside
            out -= 1
        return out
    return span // stride + 1


def _windows(
    x: np.ndarray,
    kh: int,
    kw: int,
    stride,
    padding,
    dilation,
    fill: float = 0.0,
    ceil: bool = False,
) -> np.ndarray:
    """Sliding windows ``(B, OH, OW, C, kh, kw)`` of NHWC images (padding filled with ``fill``)."""
    sh, sw = pair(stride, "stride")
    t, l, b, r = quad(padding)
    dh, dw = pair(dilation, "dilation")
    B, H, W, C = x.shape
    OH = conv_output_size(H, kh, sh, t, dh, b, ceil)
    OW = conv_output_size(W, kw, sw, l, dw, r, ceil)
    eh, ew = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    b = max(b, (OH - 1) * sh + eh - H - t)  # room for ceil-mode windows
    r = max(r, (OW - 1) * sw + ew - W - l)
    if t or l or b or r:
        x = np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=fill)
    win = sliding_window_view(x, (eh, ew), axis=(1, 2))[:, ::sh, ::sw, :, ::dh, ::dw]
    return win[:, :OH, :OW]


def im2col(x: np.ndarray, kh: int, kw: int, stride, padding, dilation=1) -> np.ndarray:
    """Unfold NHWC images into patch rows.

    Parameters
    ----------
    x : ndarray
        Images, shape ``(B, H, W, C)``.
    kh, kw : int
        Window size.
    stride, dilation : int or pair of int
        Same on both axes when an int.
    padding : int, pair or (top, left, bottom, right)
        Zero padding.

    Returns
    -------
    ndarray
        Shape ``(B * OH * OW, kh * kw * C)``; rows ordered ``(b, oh, ow)``,
        columns ordered ``(kh, kw, c)``.
    """
    win = _windows(x, kh, kw, stride, padding, dilation)
    B, OH, OW, C = win.shape[:4]
    # (B, OH, OW, C, kh, kw) -> (B, OH, OW, kh, kw, C)
    return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(B * OH * OW, kh * kw * C)


def col2im(
    cols: np.ndarray, x_shape: tuple[int, ...], kh: int, kw: int, stride, padding, dilation=1
) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add patch rows back onto NHWC images."""
    B, H, W, C = x_shape
    sh, sw = pair(stride, "stride")
    t, l, b, r = quad(padding)
    dh, dw = pair(dilation, "dilation")
    OH = conv_output_size(H, kh, sh, t, dh, b)
    OW = conv_output_size(W, kw, sw, l, dw, r)
    cols = cols.reshape(B, OH, OW, kh, kw, C)
    dx = np.zeros((B, H + t + b + sh, W + l + r + sw, C))
    for i in range(kh):
        for j in range(kw):
            rows, cols_ = slice(i * dh, i * dh + sh * OH, sh), slice(j * dw, j * dw + sw * OW, sw)
            dx[:, rows, cols_, :] += cols[:, :, :, i, j, :]
    return dx[:, t : t + H, l : l + W, :]


class Conv2D(Layer):
    """2-D convolution on NHWC images through im2col (each output pixel is one MVM row).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    kernel : int or pair of int
        Kernel size ``kh, kw`` (square when an int).
    stride, dilation : int or pair of int
        Stride and dilation (same on both axes when an int).
    padding : int, pair or four ints
        Zero padding: all sides, ``(ph, pw)``, or ``(top, left, bottom, right)``.
    groups : int
        Grouped convolution (``groups == in_channels`` is depthwise); both channel
        counts must be divisible by it.  The matrix a crossbar holds (:attr:`W2d`) is
        then block diagonal, one block per group.
    W : ndarray, optional
        Kernel, shape ``(kh, kw, in_channels / groups, out_channels)``.
    b : ndarray, optional
        Bias, shape ``(out_channels,)`` (zeros when omitted).
    """

    kind = "conv2d"
    param_names = ("W", "b")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, ...] = 0,
        W: np.ndarray | None = None,
        b: np.ndarray | None = None,
        name: str | None = None,
        groups: int = 1,
        dilation: int | tuple[int, int] = 1,
    ) -> None:
        super().__init__(name)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kh, self.kw = pair(kernel, f"layer {name!r}: kernel")
        self.strides = pair(stride, f"layer {name!r}: stride")
        self.pads = quad(padding, f"layer {name!r}: padding")
        self.dilations = pair(dilation, f"layer {name!r}: dilation")
        self.groups = int(groups)
        if (
            min(self.kh, self.kw, *self.strides, *self.dilations, self.groups) < 1
            or min(self.pads) < 0
        ):
            raise ModelError(
                f"layer {name!r}: kernel, stride, dilation and groups must be >= 1 and padding >= 0"
            )
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ModelError(
                f"layer {name!r}: groups={self.groups} must divide in_channels "
                f"{self.in_channels} and out_channels {self.out_channels}"
            )
        # compatible scalar views (square kernels, equal strides/pads)
        self.kernel = _compact((self.kh, self.kw))
        self.stride = _compact(self.strides)
        self.padding = _compact(self.pads)
        shape = (self.kh, self.kw, self.in_channels // self.groups, self.out_channels)
        self.W = np.zeros(shape) if W is None else np.asarray(W, float)
        self.b = np.zeros(self.out_channels) if b is None else np.asarray(b, float)
        if self.W.shape != shape or self.b.shape != (self.out_channels,):
            raise ShapeError(
                f"layer {name!r}: W must be {shape} and b ({self.out_channels},), "
                f"got {self.W.shape} and {self.b.shape}"
            )

    @property
    def W2d(self) -> np.ndarray:
        """The matrix an array holds, ``(kh*kw*in_channels, out_channels)``.

        Rows are ordered ``(kh, kw, c_in)`` like :func:`im2col`'s columns; with
        groups the matrix is block diagonal (weights of other groups are zero).
        """
        if self.groups == 1:
            return self.W.reshape(-1, self.out_channels)
        g, cig, cog = self.groups, self.in_channels // self.groups, self.out_channels // self.groups
        full = np.zeros((self.kh * self.kw, self.in_channels, self.out_channels))
        Wr = self.W.reshape(self.kh * self.kw, cig, self.out_channels)
        for k in range(g):
            full[:, k * cig : (k + 1) * cig, k * cog : (k + 1) * cog] = Wr[
                :, :, k * cog : (k + 1) * cog
            ]
        return full.reshape(-1, self.out_channels)

    @property
    def supports_backward(self) -> bool:
        return self.groups == 1

    def config(self) -> dict:
        cfg = {
            **super().config(),
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel": self.kernel,
            "stride": self.stride,
            "padding": self.padding,
        }
        if self.groups != 1:
            cfg["groups"] = self.groups
        if self.dilations != (1, 1):
            cfg["dilation"] = _compact(self.dilations)
        return cfg

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        _check_rank(self, input_shape, 3, "(H, W, C) images")
        H, W, C = input_shape
        if C != self.in_channels:
            raise ShapeError(
                f"layer {self.name!r} (Conv2D) expects {self.in_channels} input "
                f"channels, got {C} (per-sample shape {tuple(input_shape)})"
            )
        t, l, b, r = self.pads
        OH = conv_output_size(H, self.kh, self.strides[0], t, self.dilations[0], b)
        OW = conv_output_size(W, self.kw, self.strides[1], l, self.dilations[1], r)
        if OH < 1 or OW < 1:
            raise ShapeError(
                f"layer {self.name!r} (Conv2D): kernel {self.kh}x{self.kw} does not "
                f"fit a {H}x{W} input with padding {list(self.pads)}"
            )
        return (OH, OW, self.out_channels)

    def _digital(self, cols: np.ndarray) -> np.ndarray:
        if self.groups == 1:
            return cols @ self.W2d
        g, cig, cog = self.groups, self.in_channels // self.groups, self.out_channels // self.groups
        c = cols.reshape(cols.shape[0], self.kh * self.kw, g, cig)
        Wr = self.W.reshape(self.kh * self.kw, cig, g, cog)
        return np.einsum("pkgc,kcgo->pgo", c, Wr, optimize=True).reshape(cols.shape[0], -1)

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        B = x.shape[0]
        OH, OW, _ = self.output_shape(x.shape[1:])
        per_image = OH * OW * self.kh * self.kw * self.in_channels
        chunk = B if training else max(1, IM2COL_MAX_ENTRIES // max(per_image, 1))
        if chunk >= B:  # one piece: the biased product is the output (no copy into `out`)
            cols = self._columns(x, mvm)
            self._cache = (cols, x.shape)
            return (self._product(cols, mvm) + self.b).reshape(B, OH, OW, self.out_channels)
        out = np.empty((B, OH, OW, self.out_channels))
        note = getattr(mvm, "chunk", None)  # (the hook is told which images a product holds)
        for start in range(0, B, chunk):
            cols = im2col(
                x[start : start + chunk], self.kh, self.kw, self.strides, self.pads, self.dilations
            )
            if note is not None:
                note(self, start, min(chunk, B - start))
            y = self._product(cols, mvm)
            out[start : start + chunk] = (y + self.b).reshape(-1, OH, OW, self.out_channels)
        self._cache = None
        return out

    def _columns(self, x: np.ndarray, mvm: MVM | None) -> np.ndarray:
        """im2col of ``x``, through the hook's ``columns`` method when it has one."""

        def compute() -> np.ndarray:
            return im2col(x, self.kh, self.kw, self.strides, self.pads, self.dilations)

        columns = getattr(mvm, "columns", None)
        return compute() if columns is None else columns(self, x, compute)

    def _product(self, cols: np.ndarray, mvm: MVM | None) -> np.ndarray:
        """``cols @ W2d``: digital, or through the ``mvm`` hook."""
        return self._digital(cols) if mvm is None else np.asarray(mvm(self, cols), dtype=float)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise ModelError(f"layer {self.name!r}: backward needs forward(..., training=True)")
        if self.groups != 1:
            raise ModelError(f"layer {self.name!r}: no backward pass for grouped convolutions")
        cols, x_shape = self._cache
        dy2 = dy.reshape(-1, self.out_channels)
        self.grads = {"W": (cols.T @ dy2).reshape(self.W.shape), "b": dy2.sum(axis=0)}
        dcols = dy2 @ self.W2d.T
        return col2im(dcols, x_shape, self.kh, self.kw, self.strides, self.pads, self.dilations)


# ====================================================================================
# pooling, activation, reshaping
# ====================================================================================
class _Pool2D(Layer):
    def __init__(
        self,
        size: int | tuple[int, int] = 2,
        stride: int | tuple[int, int] | None = None,
        name: str | None = None,
        padding: int | tuple[int, ...] = 0,
        ceil_mode: bool = False,
        dilation: int | tuple[int, int] = 1,
    ) -> None:
        super().__init__(name)
        self.kh, self.kw = pair(size, f"layer {name!r}: pool size")
        self.strides = (
            (self.kh, self.kw) if stride is None else pair(stride, f"layer {name!r}: stride")
        )
        self.pads = quad(padding, f"layer {name!r}: padding")
        self.dilations = pair(dilation, f"layer {name!r}: dilation")
        self.ceil_mode = bool(ceil_mode)
        if min(self.kh, self.kw, *self.strides, *self.dilations) < 1 or min(self.pads) < 0:
            raise ModelError(
                f"layer {name!r}: pool size, stride and dilation must be >= 1 and padding >= 0"
            )
        self.size = _compact((self.kh, self.kw))
        self.stride = _compact(self.strides)

    @property
    def _simple(self) -> bool:
        return (
            not any(self.pads)
            and not self.ceil_mode
            and self.dilations == (1, 1)
            and self.kh == self.kw
            and self.strides[0] == self.strides[1]
        )

    @property
    def supports_backward(self) -> bool:
        return self._simple

    def config(self) -> dict:
        cfg = {**super().config(), "size": self.size, "stride": self.stride}
        if any(self.pads):
            cfg["padding"] = _compact(self.pads)
        if self.ceil_mode:
            cfg["ceil_mode"] = True
        if self.dilations != (1, 1):
            cfg["dilation"] = _compact(self.dilations)
        return cfg

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        _check_rank(self, input_shape, 3, "(H, W, C) images")
        H, W, C = input_shape
        t, l, b, r = self.pads
        OH = conv_output_size(H, self.kh, self.strides[0], t, self.dilations[0], b, self.ceil_mode)
        OW = conv_output_size(W, self.kw, self.strides[1], l, self.dilations[1], r, self.ceil_mode)
        if OH < 1 or OW < 1:
            raise ShapeError(
                f"layer {self.name!r}: pool size {self.kh}x{self.kw} larger than the {H}x{W} input"
            )
        return (OH, OW, C)

    def _windows(self, x, fill=0.0):
        # (B, OH, OW, C, kh, kw)
        return _windows(
            x, self.kh, self.kw, self.strides, self.pads, self.dilations, fill, self.ceil_mode
        )

    def _check_simple(self):
        if not self._simple:
            raise ModelError(
                f"layer {self.name!r}: no backward pass for padded, dilated, "
                "ceil-mode or non-square pooling"
            )


class MaxPool2D(_Pool2D):
    """Max pooling over ``size`` windows (stride defaults to size), NHWC.

    ``padding`` (int, pair or top/left/bottom/right), ``ceil_mode`` and ``dilation``
    follow ONNX ``MaxPool``; padded cells never win.
    """

    kind = "maxpool2d"
    #: keep the last forward's winners (see :class:`ReLU`'s ``freeze_pattern``)
    freeze_pattern = False

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        frozen = self.freeze_pattern and self._cache is not None and self._cache[1] == x.shape
        if not frozen and self._tiled:
            # the winners (argmax) are found only when backward or a frozen pass asks
            self._cache = (None, x.shape, x)
            return self._tiled_max(x)
        arg = self._winners() if frozen else None
        flat, arg = self._flat_windows(x, arg)
        self._cache = (arg, x.shape, None)
        return np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]

    @property
    def _tiled(self) -> bool:
        """Windows that tile the input: no padding, dilation or ceil mode, stride = size."""
        return (
            not any(self.pads)
            and not self.ceil_mode
            and self.dilations == (1, 1)
            and self.strides == (self.kh, self.kw)
        )

    def _tiled_max(self, x: np.ndarray) -> np.ndarray:
        """The window maxima of tiling windows: ``kh + kw - 2`` elementwise maxima of
        strided views, the values :meth:`forward`'s argmax picks (NaN wins; a tie of
        +0 and -0 may keep either sign)."""
        OH, OW, _ = self.output_shape(x.shape[1:])
        kh, kw = self.kh, self.kw
        x = x[:, : OH * kh, : OW * kw]
        m = x[:, 0::kh] if kh > 1 else x
        for i in range(1, kh):
            m = np.maximum(m, x[:, i::kh])
        out = m[:, :, 0::kw] if kw > 1 else m
        for j in range(1, kw):
            out = np.maximum(out, m[:, :, j::kw])
        return out if kh * kw > 1 else out.copy()  # 1x1: a copy, never the input itself

    def _flat_windows(self, x: np.ndarray, arg: np.ndarray | None):
        """``(windows (B, OH, OW, C, kh * kw), winners)``: ``arg``, or the first maxima."""
        win = self._windows(x, -np.inf)
        B, OH, OW, C, kh, kw = win.shape
        flat = win.reshape(B, OH, OW, C, kh * kw)
        return flat, (flat.argmax(axis=-1) if arg is None else arg)

    def _winners(self) -> np.ndarray:
        """The flat window index of each output's maximum in the last unfrozen forward."""
        arg, shape, x = self._cache
        if arg is None:
            arg = self._flat_windows(x, None)[1]
            self._cache = (arg, shape, None)
        return arg

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self._check_simple()
        arg, x_shape = self._winners(), self._cache[1]
        _, OH, OW, _ = dy.shape
        k, s = self.kh, self.strides[0]
        dx = np.zeros(x_shape)
        for i in range(k):
            for j in range(k):
                mask = arg == i * k + j
                dx[:, i : i + s * OH : s, j : j + s * OW : s, :] += dy * mask
        return dx


class AvgPool2D(_Pool2D):
    """Average pooling over ``size`` windows (stride defaults to size), NHWC.

    With ``padding``, ``count_include_pad`` decides whether padded zeros count in
    the divisor (ONNX ``AveragePool``); cells that ``ceil_mode`` adds past the
    padding never count.
    """

    kind = "avgpool2d"

    def __init__(
        self,
        size: int | tuple[int, int] = 2,
        stride: int | tuple[int, int] | None = None,
        name: str | None = None,
        padding: int | tuple[int, ...] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = False,
        dilation: int | tuple[int, int] = 1,
    ) -> None:
        super().__init__(size, stride, name, padding, ceil_mode, dilation)
        self.count_include_pad = bool(count_include_pad)

    def config(self) -> dict:
        cfg = super().config()
        if self.count_include_pad:
            cfg["count_include_pad"] = True
        return cfg

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        self._cache = x.shape
        if self._simple:
            return self._windows(x).mean(axis=(-2, -1))
        total = self._windows(x).sum(axis=(-2, -1))
        ones = np.ones((1, *x.shape[1:3], 1))
        if self.count_include_pad:  # explicit padding counts, ceil-mode overhang does not
            t, l, b, r = self.pads
            ones = np.pad(ones, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=1.0)
            count = _windows(
                ones, self.kh, self.kw, self.strides, 0, self.dilations, 0.0, self.ceil_mode
            ).sum(axis=(-2, -1))
            count = count[:, : total.shape[1], : total.shape[2]]
        else:
            count = self._windows(ones).sum(axis=(-2, -1))
        return total / np.maximum(count, 1.0)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        self._check_simple()
        x_shape = self._cache
        _, OH, OW, _ = dy.shape
        k, s = self.kh, self.strides[0]
        dx = np.zeros(x_shape)
        g = dy / (k * k)
        for i in range(k):
            for j in range(k):
                dx[:, i : i + s * OH : s, j : j + s * OW : s, :] += g
        return dx


class GlobalAvgPool(Layer):
    """Mean over height and width: ``(B, H, W, C) -> (B, C)`` (``(B, 1, 1, C)`` with
    ``keepdims``)."""

    kind = "globalavgpool"

    def __init__(self, name: str | None = None, keepdims: bool = False) -> None:
        super().__init__(name)
        self.keepdims = bool(keepdims)

    def config(self) -> dict:
        cfg = super().config()
        if self.keepdims:
            cfg["keepdims"] = True
        return cfg

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        _check_rank(self, input_shape, 3, "(H, W, C) images")
        return (1, 1, input_shape[2]) if self.keepdims else (input_shape[2],)

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        self._cache = x.shape
        return x.mean(axis=(1, 2), keepdims=self.keepdims)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        B, H, W, C = self._cache
        dy = np.asarray(dy).reshape(B, 1, 1, C)
        return np.broadcast_to(dy / (H * W), (B, H, W, C)).copy()


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

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if not (self.freeze_pattern and self._cache is not None and self._cache.shape == x.shape):
            self._cache = x > 0
        return np.where(self._cache, x, 0.0)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return dy * self._cache


class Flatten(Layer):
    """Reshape ``(B, H, W, C) -> (B, H*W*C)`` (NHWC order)."""

    kind = "flatten"

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (int(np.prod(input_shape)),)

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
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

    def __init__(
        self, channels: int, momentum: float = 0.9, eps: float = 1e-5, name: str | None = None
    ) -> None:
        super().__init__(name)
        self.channels = int(channels)
        self.momentum, self.eps = float(momentum), float(eps)
        self.gamma = np.ones(self.channels)
        self.beta = np.zeros(self.channels)
        self.running_mean = np.zeros(self.channels)
        self.running_var = np.ones(self.channels)

    def config(self) -> dict:
        return {
            **super().config(),
            "channels": self.channels,
            "momentum": self.momentum,
            "eps": self.eps,
        }

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not input_shape or input_shape[-1] != self.channels:
            raise ShapeError(
                f"layer {self.name!r} (BatchNorm) expects {self.channels} channels "
                f"on the last axis, got per-sample shape {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """Evaluation-mode affine map as ``(scale, shift)``: ``y = x * scale + shift``."""
        scale = self.gamma / np.sqrt(self.running_var + self.eps)
        return scale, self.beta - self.running_mean * scale

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
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

    def backward(self, dy: np.ndarray) -> np.ndarray:
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

    def __init__(
        self, body: list[Layer], shortcut: list[Layer] | None = None, name: str | None = None
    ) -> None:
        super().__init__(name)
        self.body = list(body)
        self.shortcut = None if shortcut is None else list(shortcut)

    def children(self) -> list[Layer]:
        return self.body + (self.shortcut or [])

    def config(self) -> dict:
        return {
            **super().config(),
            "body": [layer.config() for layer in self.body],
            "shortcut": None
            if self.shortcut is None
            else [layer.config() for layer in self.shortcut],
        }

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        a = chain_shapes(self.body, input_shape)
        b = (
            tuple(input_shape)
            if self.shortcut is None
            else chain_shapes(self.shortcut, input_shape)
        )
        if a != b:
            raise ShapeError(
                f"residual block {self.name!r}: body gives {a} but the shortcut gives {b}",
                hint="add a 1x1 projection convolution as shortcut",
            )
        return a

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        y = run_forward(self.body, x, training=training, mvm=mvm)
        if self.shortcut is None:
            return y + x
        return y + run_forward(self.shortcut, x, training=training, mvm=mvm)

    def backward(self, dy: np.ndarray) -> np.ndarray:
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


def run_forward(
    layers: list[Layer], x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
) -> np.ndarray:
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
    for cls in (
        Dense,
        Conv2D,
        MaxPool2D,
        AvgPool2D,
        GlobalAvgPool,
        ReLU,
        Flatten,
        BatchNorm,
        Residual,
    )
}
