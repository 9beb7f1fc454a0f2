"""Graph operations beyond the zoo's layers (element-wise, shape and multi-input ops).

These are the digital steps of imported graphs (see :mod:`xbar.network.onnx_io`):
tensors are batch-first and images NHWC as everywhere in :mod:`xbar.network`.
Axes given to these ops (``axis``, ``axes``, ``perm``, ``pads``) count the
**per-sample** axes, i.e. axis 0 is the first axis after the batch axis.

Ops with several inputs (``arity = None``) take a list of arrays in ``forward``
and return a list of input gradients from ``backward``.  Ops whose
``supports_backward`` is False run in inference only; :func:`xbar.network.train`
refuses graphs that contain them.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError, ShapeError
from .layers import MVM, Layer

__all__ = [
    "Einsum",
    "Binary",
    "ConstOp",
    "Activation",
    "Reshape",
    "Transpose",
    "Concat",
    "Pad",
    "AlongAxis",
    "Softmax",
    "ReduceMean",
    "ReduceMax",
    "ReduceSum",
    "ReduceMin",
    "ReduceProd",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSumExp",
    "ReduceSumSquare",
    "Normalize",
    "Slice",
    "Where",
    "Tile",
    "Resize",
    "Quantize",
    "CumSum",
    "LRN",
    "OP_TYPES",
]


def _greater(a, b):
    return np.greater(a, b).astype(float)


def _less(a, b):
    return np.less(a, b).astype(float)


def _not_equal(a, b):
    return np.not_equal(a, b).astype(float)


def _logical(f):
    """A boolean op on values read as booleans (non-zero is true), giving 1.0 / 0.0."""
    return lambda a, b: f(np.not_equal(a, 0), np.not_equal(b, 0)).astype(float)


def _compare(f):
    return lambda a, b: f(a, b).astype(float)


#: element-wise binary ops (comparisons and logical ops give 1.0 / 0.0)
_BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "greater": _greater,
    "less": _less,
    "not_equal": _not_equal,
    "equal": _compare(np.equal),
    "greater_equal": _compare(np.greater_equal),
    "less_equal": _compare(np.less_equal),
    "and": _logical(np.logical_and),
    "or": _logical(np.logical_or),
    "xor": _logical(np.logical_xor),
    "max": np.maximum,
    "min": np.minimum,
}


def _prelu(x, slope):
    return np.where(x >= 0, x, slope * x)


#: element-wise ops with a constant: the binary ones, PReLU (``x`` if x >= 0 else ``c x``)
#: and ``pow`` (``x ** c``, as tf2onnx writes the cube in the tanh form of GELU)
def _fill(x, c):
    """The constant broadcast against ``x`` (its values unused: no NaN from inf * 0)."""
    return np.broadcast_to(c, np.broadcast_shapes(np.shape(x), np.shape(c))).astype(float)


#: ``fill`` gives the constant itself at the input's shape (a Where's constant branch)
_WITH_CONST = {**_BINARY, "prelu": _prelu, "pow": np.power, "fill": _fill}


def _reduce_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back to ``shape`` (same rank)."""
    axes = tuple(
        i for i, (a, b) in enumerate(zip(g.shape, shape, strict=True)) if b == 1 and a != 1
    )
    return g.sum(axis=axes, keepdims=True) if axes else g


def _shape_error(layer: Layer, what: str) -> ShapeError:
    return ShapeError(f"layer {layer.name!r} ({type(layer).__name__}): {what}")


class Binary(Layer):
    """Element-wise ``add``, ``sub``, ``mul``, ``div``, comparison, ``max`` or ``min`` of two
    tensors (numpy broadcasting).

    Parameters
    ----------
    op : {"add", "sub", "mul", "div", "greater", "less", "not_equal", "equal",
        "greater_equal", "less_equal", "and", "or", "xor", "max", "min"}
        The operation, applied left to right over the inputs (comparisons and logical
        ops give 1.0 / 0.0; logical ops read non-zero as true).
    """

    kind = "binary"
    arity = None

    def __init__(self, op: str = "add", name: str | None = None) -> None:
        super().__init__(name)
        if op not in _BINARY:
            raise ModelError(
                f"layer {name!r}: unknown binary op {op!r}", hint="one of " + ", ".join(_BINARY)
            )
        self.op = op

    @property
    def supports_backward(self) -> bool:
        return self.op in ("add", "sub", "mul")

    def config(self) -> dict:
        return {**super().config(), "op": self.op}

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        shapes = [tuple(s) for s in input_shapes]
        if len(shapes) != 2 or len(shapes[0]) != len(shapes[1]):
            raise _shape_error(self, f"needs two inputs of equal rank, got shapes {shapes}")
        try:
            return tuple(np.broadcast_shapes(*shapes))
        except ValueError:
            raise _shape_error(self, f"input shapes {shapes} do not broadcast") from None

    def forward(
        self, xs: list[np.ndarray], *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        a, b = (np.asarray(x, dtype=float) for x in xs)
        self._cache = (a, b)
        return _BINARY[self.op](a, b)

    def backward(self, dy: np.ndarray) -> list[np.ndarray]:
        a, b = self._cache
        if self.op == "add":
            ga, gb = dy, dy
        elif self.op == "sub":
            ga, gb = dy, -dy
        elif self.op == "mul":
            ga, gb = dy * b, dy * a
        else:
            raise ModelError(f"layer {self.name!r}: no backward pass for 'div'")
        return [
            _reduce_to(np.broadcast_to(ga, np.broadcast_shapes(a.shape, dy.shape)), a.shape),
            _reduce_to(np.broadcast_to(gb, np.broadcast_shapes(b.shape, dy.shape)), b.shape),
        ]


class ConstOp(Layer):
    """Element-wise op with a constant: ``x op c`` (or ``c op x`` when ``reverse``).

    Parameters
    ----------
    op : str
        One of the binary ops of :class:`Binary`, ``prelu``, ``pow`` or ``fill`` (the
        constant broadcast to the input's shape).
    shape : sequence of int
        Shape of the constant, broadcastable against ``(batch, *per-sample shape)``
        and of the same rank (leading axis 1).
    const : ndarray, optional
        The constant (zeros when omitted; saved with the model as a buffer).
    reverse : bool
        Compute ``c op x``.
    """

    kind = "constop"
    buffer_names = ("const",)

    def __init__(
        self,
        op: str = "add",
        shape: tuple[int, ...] = (1,),
        const: np.ndarray | float | None = None,
        reverse: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if op not in _WITH_CONST or (op in ("prelu", "pow", "fill") and reverse):
            raise ModelError(
                f"layer {name!r}: unknown op {op!r}", hint="one of " + ", ".join(_WITH_CONST)
            )
        self.op, self.reverse = op, bool(reverse)
        shape = tuple(int(s) for s in shape)
        self.const = np.zeros(shape) if const is None else np.asarray(const, dtype=float)
        if self.const.shape != shape:
            raise ShapeError(
                f"layer {name!r}: const has shape {self.const.shape}, expected {shape}"
            )

    @property
    def supports_backward(self) -> bool:
        return self.op in ("add", "sub", "mul") or (self.op == "div" and not self.reverse)

    def config(self) -> dict:
        return {
            **super().config(),
            "op": self.op,
            "shape": list(self.const.shape),
            "reverse": self.reverse,
        }

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        full = (1, *input_shape)
        if len(self.const.shape) != len(full):
            raise _shape_error(
                self,
                f"constant of shape {self.const.shape} does not match "
                f"inputs of per-sample shape {tuple(input_shape)}",
            )
        try:
            out = np.broadcast_shapes(full, self.const.shape)
        except ValueError:
            raise _shape_error(
                self,
                f"constant of shape {self.const.shape} does not broadcast "
                f"against per-sample shape {tuple(input_shape)}",
            ) from None
        return tuple(out[1:])

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        self._cache = x
        f = _WITH_CONST[self.op]
        return f(self.const, x) if self.reverse else f(x, self.const)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, c = self._cache, self.const
        if self.op == "add":
            g = dy
        elif self.op == "sub":
            g = -dy if self.reverse else dy
        elif self.op == "mul":
            g = dy * c
        elif not self.reverse:
            g = dy / c
        else:
            raise ModelError(f"layer {self.name!r}: no backward pass for constant / x")
        return _reduce_to(np.broadcast_to(g, np.broadcast_shapes(g.shape, x.shape)), x.shape)


def _hard_sigmoid(x, alpha, beta):
    return np.clip(alpha * x + beta, 0.0, 1.0)


class Activation(Layer):
    """Element-wise activation (ONNX semantics).

    ``function`` is one of ``clip`` (``low``/``high``; ReLU6 is clip 0..6),
    ``leaky_relu`` (``alpha``, default 0.01), ``sigmoid``, ``hard_sigmoid``
    (``max(0, min(1, alpha x + beta))``, defaults 0.2 and 0.5), ``hard_swish``
    (``x * max(0, min(1, x / 6 + 1 / 2))``), ``tanh``.
    """

    kind = "activation"
    #: numeric fields that may be negative in a saved model (clip bounds, slopes)
    signed_fields = ("alpha", "beta", "low", "high")
    FUNCTIONS = (
        "clip",
        "leaky_relu",
        "sigmoid",
        "hard_sigmoid",
        "hard_swish",
        "tanh",
        "erf",
        "gelu",
        "elu",
        "selu",
        "softplus",
        "sqrt",
        "round",
        "abs",
        "exp",
        "log",
        "mish",
        "celu",
        "sign",
    )
    _NO_BACKWARD = (
        "erf",
        "gelu",
        "elu",
        "selu",
        "softplus",
        "sqrt",
        "round",
        "abs",
        "exp",
        "log",
        "mish",
        "celu",
        "sign",
    )

    def __init__(
        self,
        function: str,
        alpha: float | None = None,
        beta: float | None = None,
        low: float | None = None,
        high: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if function not in self.FUNCTIONS:
            raise ModelError(
                f"layer {name!r}: unknown activation {function!r}",
                hint="one of " + ", ".join(self.FUNCTIONS),
            )
        self.function = function
        defaults = {
            "leaky_relu": (0.01, None),
            "hard_sigmoid": (0.2, 0.5),
            "elu": (1.0, None),
            "celu": (1.0, None),
            "gelu": (None, 0.0),
            "selu": (1.6732632423543772, 1.0507009873554805),
        }.get(function, (None, None))
        self.alpha = defaults[0] if alpha is None else float(alpha)
        self.beta = defaults[1] if beta is None else float(beta)
        self.low = -np.inf if low is None else float(low)
        self.high = np.inf if high is None else float(high)

    @property
    def supports_backward(self) -> bool:
        return self.function not in self._NO_BACKWARD

    def config(self) -> dict:
        cfg = {**super().config(), "function": self.function}
        if self.function in ("leaky_relu", "hard_sigmoid", "elu", "selu", "celu"):
            cfg["alpha"] = self.alpha
        if self.function in ("hard_sigmoid", "selu", "gelu"):
            cfg["beta"] = self.beta
        if self.function == "clip":
            cfg["low"] = None if np.isinf(self.low) else self.low
            cfg["high"] = None if np.isinf(self.high) else self.high
        return cfg

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        self._cache = x
        f = self.function
        if f == "clip":
            return np.clip(x, self.low, self.high)
        if f == "leaky_relu":
            return np.where(x >= 0, x, self.alpha * x)
        if f == "sigmoid":
            return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warnings
        if f == "hard_sigmoid":
            return _hard_sigmoid(x, self.alpha, self.beta)
        if f == "hard_swish":
            return x * _hard_sigmoid(x, 1.0 / 6.0, 0.5)
        if f in self._NO_BACKWARD:
            return _smooth(f, x, self.alpha, self.beta)
        return np.tanh(x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, f = self._cache, self.function
        if f == "clip":
            d = (x > self.low) & (x < self.high)
        elif f == "leaky_relu":
            d = np.where(x >= 0, 1.0, self.alpha)
        elif f == "sigmoid":
            s = 0.5 * (1.0 + np.tanh(0.5 * x))
            d = s * (1.0 - s)
        elif f == "hard_sigmoid":
            v = self.alpha * x + self.beta
            d = self.alpha * ((v > 0) & (v < 1))
        elif f == "hard_swish":
            d = _hard_sigmoid(x, 1.0 / 6.0, 0.5) + x / 6.0 * ((x > -3) & (x < 3))
        else:
            d = 1.0 - np.tanh(x) ** 2
        return dy * d


def _smooth(f: str, x: np.ndarray, alpha, beta) -> np.ndarray:
    """The inference-only activations (ONNX semantics)."""
    from scipy.special import erf

    if f == "erf":
        return erf(x)
    if f == "gelu":
        if beta:  # approximate="tanh"
            return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))
        return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))
    if f == "softplus":
        return np.logaddexp(0.0, x)
    if f == "round":  # halves to even, as ONNX Round and QuantizeLinear
        return np.rint(x)
    if f == "abs":
        return np.abs(x)
    if f == "sign":
        return np.sign(x)
    if f == "mish":  # x tanh(softplus(x))
        return x * np.tanh(np.logaddexp(0.0, x))
    if f == "celu":  # max(0, x) + min(0, alpha (exp(x / alpha) - 1))
        return np.maximum(x, 0.0) + alpha * np.expm1(np.minimum(x, 0.0) / alpha)
    if f in ("exp", "log"):  # overflow gives inf, log of x <= 0 gives -inf / NaN, as in ONNX
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return np.exp(x) if f == "exp" else np.log(x)
    if f == "sqrt":  # of a variance (a decomposed LayerNorm); negative inputs give NaN as in ONNX
        with np.errstate(invalid="ignore"):
            return np.sqrt(x)
    neg = alpha * np.expm1(np.minimum(x, 0.0))
    y = np.where(x > 0, x, neg)
    return beta * y if f == "selu" else y


class Reshape(Layer):
    """Reshape every sample to ``shape`` (per-sample, C order; sizes must agree)."""

    kind = "reshape"

    def __init__(self, shape: tuple[int, ...], name: str | None = None) -> None:
        super().__init__(name)
        self.shape = tuple(int(s) for s in shape)

    def config(self) -> dict:
        return {**super().config(), "shape": list(self.shape)}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if int(np.prod(input_shape)) != int(np.prod(self.shape)):
            raise _shape_error(
                self, f"cannot reshape per-sample shape {tuple(input_shape)} to {self.shape}"
            )
        return self.shape

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        self._cache = x.shape
        return x.reshape(x.shape[0], *self.shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return np.asarray(dy).reshape(self._cache)


class Transpose(Layer):
    """Permute the per-sample axes (``perm`` of ``range(rank)``; the batch stays first)."""

    kind = "transpose"

    def __init__(self, perm: tuple[int, ...], name: str | None = None) -> None:
        super().__init__(name)
        self.perm = tuple(int(p) for p in perm)
        if sorted(self.perm) != list(range(len(self.perm))):
            raise ModelError(f"layer {name!r}: perm {list(self.perm)} is not a permutation")

    def config(self) -> dict:
        return {**super().config(), "perm": list(self.perm)}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != len(self.perm):
            raise _shape_error(
                self, f"perm {list(self.perm)} does not fit per-sample shape {tuple(input_shape)}"
            )
        return tuple(input_shape[p] for p in self.perm)

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        return np.asarray(x, dtype=float).transpose(0, *(p + 1 for p in self.perm))

    def backward(self, dy: np.ndarray) -> np.ndarray:
        inv = np.argsort(self.perm)
        return np.asarray(dy).transpose(0, *(int(p) + 1 for p in inv))


class Concat(Layer):
    """Concatenate the inputs along per-sample axis ``axis``."""

    kind = "concat"
    arity = None

    def __init__(self, axis: int, name: str | None = None) -> None:
        super().__init__(name)
        self.axis = int(axis)

    def config(self) -> dict:
        return {**super().config(), "axis": self.axis}

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        shapes = [tuple(s) for s in input_shapes]
        ax = self.axis
        if (
            not shapes
            or any(len(s) != len(shapes[0]) or not 0 <= ax < len(s) for s in shapes)
            or any(s[:ax] + s[ax + 1 :] != shapes[0][:ax] + shapes[0][ax + 1 :] for s in shapes)
        ):
            raise _shape_error(self, f"cannot concatenate per-sample shapes {shapes} on axis {ax}")
        return shapes[0][:ax] + (sum(s[ax] for s in shapes),) + shapes[0][ax + 1 :]

    def forward(
        self, xs: list[np.ndarray], *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        xs = [np.asarray(x, dtype=float) for x in xs]
        self._cache = [x.shape[self.axis + 1] for x in xs]
        return np.concatenate(xs, axis=self.axis + 1)

    def backward(self, dy: np.ndarray) -> list[np.ndarray]:
        cuts = np.cumsum(self._cache)[:-1]
        return np.split(np.asarray(dy), cuts, axis=self.axis + 1)


class Pad(Layer):
    """Pad per-sample axes: ``pads`` is one ``(before, after)`` pair per axis.

    ``mode`` is ``constant`` (with ``value``), ``reflect``, ``edge`` or ``wrap`` (ONNX names;
    ``wrap`` is torch's circular padding).
    """

    kind = "pad"
    signed_fields = ("value",)
    MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}

    def __init__(
        self,
        pads: tuple[int, ...],
        mode: str = "constant",
        value: float = 0.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        self.pads = tuple((int(a), int(b)) for a, b in pads)
        if mode not in self.MODES:
            raise ModelError(
                f"layer {name!r}: pad mode {mode!r} unsupported",
                hint="one of " + ", ".join(self.MODES),
            )
        if any(a < 0 or b < 0 for a, b in self.pads):
            raise ModelError(f"layer {name!r}: negative pads (cropping) are not supported")
        self.mode, self.value = mode, float(value)

    @property
    def supports_backward(self) -> bool:
        return False

    def config(self) -> dict:
        return {
            **super().config(),
            "pads": [list(p) for p in self.pads],
            "mode": self.mode,
            "value": self.value,
        }

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != len(self.pads):
            raise _shape_error(
                self, f"{len(self.pads)} pad pairs for per-sample shape {tuple(input_shape)}"
            )
        return tuple(s + a + b for s, (a, b) in zip(input_shape, self.pads, strict=True))

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        widths = ((0, 0), *self.pads)
        if self.mode == "constant":
            return np.pad(x, widths, constant_values=self.value)
        return np.pad(x, widths, mode=self.MODES[self.mode])


class AlongAxis(Layer):
    """An inference-only layer that keeps its input's shape and works along one per-sample
    ``axis`` (0 = the first axis after the batch): the shared part of :class:`Softmax`,
    :class:`CumSum` and :class:`LRN`."""

    def __init__(self, axis: int, name: str | None = None) -> None:
        super().__init__(name)
        self.axis = int(axis)

    @property
    def supports_backward(self) -> bool:
        return False

    def config(self) -> dict:
        return {**super().config(), "axis": self.axis}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if not 0 <= self.axis < len(input_shape):
            raise _shape_error(
                self, f"axis {self.axis} outside per-sample shape {tuple(input_shape)}"
            )
        return tuple(input_shape)


class Softmax(AlongAxis):
    """Softmax (or log-softmax) along per-sample axis ``axis``."""

    kind = "softmax"

    def __init__(self, axis: int = 0, log: bool = False, name: str | None = None) -> None:
        super().__init__(axis, name)
        self.log = bool(log)

    def config(self) -> dict:
        return {**super().config(), "log": self.log}

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        z = x - x.max(axis=self.axis + 1, keepdims=True)
        if self.log:
            return z - np.log(np.exp(z).sum(axis=self.axis + 1, keepdims=True))
        e = np.exp(z)
        return e / e.sum(axis=self.axis + 1, keepdims=True)


def _check_axes(layer: Layer, input_shape: tuple[int, ...], nonempty: bool = False) -> None:
    """Raise the layer's shape error unless its per-sample ``axes`` lie inside ``input_shape``
    (and, with ``nonempty``, name at least one axis)."""
    axes = layer.axes
    if (nonempty and not axes) or any(not 0 <= a < len(input_shape) for a in axes):
        raise _shape_error(
            layer, f"axes {list(axes)} outside per-sample shape {tuple(input_shape)}"
        )


class ReduceMean(Layer):
    """Mean over per-sample ``axes`` (kept as size-1 axes when ``keepdims``)."""

    kind = "reducemean"
    #: the numpy reduction (``np.mean``; the subclasses' ``np.max``, ``np.sum``)
    reduce = staticmethod(np.mean)

    def __init__(
        self, axes: tuple[int, ...], keepdims: bool = True, name: str | None = None
    ) -> None:
        super().__init__(name)
        self.axes = tuple(sorted(int(a) for a in axes))
        self.keepdims = bool(keepdims)

    @property
    def supports_backward(self) -> bool:
        return False

    def config(self) -> dict:
        return {**super().config(), "axes": list(self.axes), "keepdims": self.keepdims}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        _check_axes(self, input_shape)
        if self.keepdims:
            return tuple(1 if i in self.axes else s for i, s in enumerate(input_shape))
        return tuple(s for i, s in enumerate(input_shape) if i not in self.axes)

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        return self.reduce(
            np.asarray(x, dtype=float),
            axis=tuple(a + 1 for a in self.axes),
            keepdims=self.keepdims,
        )


class Normalize(Layer):
    """``(x - mean) / sqrt(var + eps)`` over per-sample ``axes`` (ONNX LayerNormalization
    without its scale and bias, which follow as constant ops)."""

    kind = "normalize"

    def __init__(self, axes: tuple[int, ...], eps: float = 1e-5, name: str | None = None) -> None:
        super().__init__(name)
        self.axes = tuple(sorted(int(a) for a in axes))
        self.eps = float(eps)

    @property
    def supports_backward(self) -> bool:
        return False

    def config(self) -> dict:
        return {**super().config(), "axes": list(self.axes), "eps": self.eps}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        _check_axes(self, input_shape, nonempty=True)
        return tuple(input_shape)

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        axes = tuple(a + 1 for a in self.axes)
        d = x - x.mean(axis=axes, keepdims=True)
        return d / np.sqrt((d * d).mean(axis=axes, keepdims=True) + self.eps)


class ReduceMax(ReduceMean):
    """Maximum over per-sample ``axes`` (Keras' GlobalMaxPooling2D through tf2onnx)."""

    kind = "reducemax"
    reduce = staticmethod(np.max)


class ReduceSum(ReduceMean):
    """Sum over per-sample ``axes`` (``x.sum(dims)`` of a torch model)."""

    kind = "reducesum"
    reduce = staticmethod(np.sum)


class ReduceMin(ReduceMean):
    """Minimum over per-sample ``axes`` (``x.amin(dims)``)."""

    kind = "reducemin"
    reduce = staticmethod(np.min)


class ReduceProd(ReduceMean):
    """Product over per-sample ``axes`` (``x.prod(dim)``)."""

    kind = "reduceprod"
    reduce = staticmethod(np.prod)


def _l1(x, axis, keepdims):
    return np.abs(x).sum(axis=axis, keepdims=keepdims)


def _l2(x, axis, keepdims):
    return np.sqrt((x * x).sum(axis=axis, keepdims=keepdims))


def _sum_square(x, axis, keepdims):
    return (x * x).sum(axis=axis, keepdims=keepdims)


def _log_sum_exp(x, axis, keepdims):
    m = x.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # all -inf stays -inf, +inf stays +inf
    with np.errstate(divide="ignore"):
        y = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return y if keepdims else np.squeeze(y, axis=axis)


class ReduceL1(ReduceMean):
    """Sum of absolute values over per-sample ``axes`` (``x.norm(p=1, dim=...)``)."""

    kind = "reducel1"
    reduce = staticmethod(_l1)


class ReduceL2(ReduceMean):
    """Euclidean norm over per-sample ``axes`` (``x.norm(dim=...)``, ``F.normalize``)."""

    kind = "reducel2"
    reduce = staticmethod(_l2)


class ReduceLogSumExp(ReduceMean):
    """``log(sum(exp(x)))`` over per-sample ``axes``, computed without overflow."""

    kind = "reducelogsumexp"
    reduce = staticmethod(_log_sum_exp)


class ReduceSumSquare(ReduceMean):
    """Sum of squares over per-sample ``axes``."""

    kind = "reducesumsquare"
    reduce = staticmethod(_sum_square)


class CumSum(AlongAxis):
    """Cumulative sum along per-sample ``axis`` (ONNX ``CumSum``: ``exclusive`` leaves each
    element out of its own sum, ``reverse`` sums from the end).

    >>> import numpy as np
    >>> CumSum(0, exclusive=True).forward(np.array([[1.0, 2.0, 3.0]])).tolist()
    [[0.0, 1.0, 3.0]]
    """

    kind = "cumsum"

    def __init__(
        self, axis: int, exclusive: bool = False, reverse: bool = False, name: str | None = None
    ) -> None:
        super().__init__(axis, name)
        self.exclusive, self.reverse = bool(exclusive), bool(reverse)

    def config(self) -> dict:
        return {**super().config(), "exclusive": self.exclusive, "reverse": self.reverse}

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        a = self.axis + 1
        if self.reverse:
            x = np.flip(x, axis=a)
        y = np.cumsum(x, axis=a)
        if self.exclusive:
            y = y - x
        return np.flip(y, axis=a) if self.reverse else y


class LRN(AlongAxis):
    """Local response normalisation across channels (ONNX ``LRN``, AlexNet/GoogLeNet):
    ``x / (bias + alpha / size * sum of x**2 over the size nearest channels) ** beta``.

    >>> import numpy as np
    >>> LRN(0, size=1, alpha=1.0, beta=1.0, bias=0.0).forward(np.array([[2.0, -4.0]])).tolist()
    [[0.5, -0.25]]
    """

    kind = "lrn"

    def __init__(
        self,
        axis: int,
        size: int,
        alpha: float = 1e-4,
        beta: float = 0.75,
        bias: float = 1.0,
        name: str | None = None,
    ) -> None:
        super().__init__(axis, name)
        self.size = int(size)
        self.alpha, self.beta, self.bias = float(alpha), float(beta), float(bias)
        if self.size < 1:
            raise ModelError(f"layer {name!r}: LRN size {self.size} must be >= 1")

    def config(self) -> dict:
        extra = {"size": self.size, "alpha": self.alpha, "beta": self.beta, "bias": self.bias}
        return {**super().config(), **extra}

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        a = self.axis + 1
        sq = np.moveaxis(x * x, a, -1)
        lo, hi = (self.size - 1) // 2, -(-(self.size - 1) // 2)  # floor and ceil
        padded = np.pad(sq, [(0, 0)] * (sq.ndim - 1) + [(lo, hi)])
        csum = np.concatenate([np.zeros(sq.shape[:-1] + (1,)), np.cumsum(padded, -1)], -1)
        window = csum[..., self.size :] - csum[..., : -self.size]
        denom = (self.bias + self.alpha / self.size * np.moveaxis(window, -1, a)) ** self.beta
        return x / denom


class Tile(Layer):
    """Repeat every sample ``repeats[k]`` times along per-sample axis ``k`` (``np.tile``;
    ONNX ``Tile`` with the batch repeated once, as Keras' UpSampling2D is converted)."""

    kind = "tile"

    def __init__(self, repeats: tuple[int, ...], name: str | None = None) -> None:
        super().__init__(name)
        self.repeats = tuple(int(r) for r in repeats)
        if any(r < 1 for r in self.repeats):
            raise ModelError(f"layer {name!r}: repeats {list(self.repeats)} must be >= 1")

    @property
    def supports_backward(self) -> bool:
        return False

    def config(self) -> dict:
        return {**super().config(), "repeats": list(self.repeats)}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != len(self.repeats):
            raise _shape_error(
                self, f"{len(self.repeats)} repeats for per-sample shape {tuple(input_shape)}"
            )
        return tuple(s * r for s, r in zip(input_shape, self.repeats, strict=True))

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        return np.tile(np.asarray(x, dtype=float), (1, *self.repeats))


class Slice(Layer):
    """Crop per-sample axes: ``slices`` holds one ``[start, stop, step]`` per axis.

    ``stop`` may be ``None`` (run to the end, or past the start for negative steps),
    as in a Python slice; indices are non-negative.
    """

    kind = "slice"

    def __init__(self, slices: list[tuple[int, int | None, int]], name: str | None = None) -> None:
        super().__init__(name)
        self.slices = [(int(a), None if b is None else int(b), int(c)) for a, b, c in slices]

    @property
    def supports_backward(self) -> bool:
        return False

    def config(self) -> dict:
        return {**super().config(), "slices": [list(s) for s in self.slices]}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != len(self.slices):
            raise _shape_error(
                self, f"{len(self.slices)} slices for per-sample shape {tuple(input_shape)}"
            )
        out = tuple(len(range(n)[slice(*s)]) for n, s in zip(input_shape, self.slices, strict=True))
        if 0 in out:
            raise _shape_error(self, f"slices {self.slices} leave nothing of {input_shape}")
        return out

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        return np.asarray(x, dtype=float)[(slice(None), *(slice(*s) for s in self.slices))]


class Gather(Layer):
    """Pick entries along per-sample axis ``axis`` by constant integer ``indices`` (numpy's
    ``take``; ONNX Gather): a scalar index drops the axis (``x[:, 0]``, a ViT's class
    token), an index array of shape S replaces it by S."""

    kind = "gather"

    def __init__(
        self, axis: int = 0, indices: np.ndarray | int = 0, name: str | None = None
    ) -> None:
        super().__init__(name)
        self.axis = int(axis)
        self.indices = np.asarray(indices, dtype=np.int64)

    @property
    def supports_backward(self) -> bool:
        return False

    def config(self) -> dict:
        return {**super().config(), "axis": self.axis, "indices": self.indices.tolist()}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        s, ax = tuple(input_shape), self.axis
        if not 0 <= ax < len(s):
            raise _shape_error(self, f"axis {ax} is outside per-sample shape {s}")
        if self.indices.size and not ((self.indices >= 0).all() and (self.indices < s[ax]).all()):
            raise _shape_error(self, f"indices outside 0..{s[ax] - 1} on axis {ax} of {s}")
        return (*s[:ax], *self.indices.shape, *s[ax + 1 :])

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        return np.take(np.asarray(x, dtype=float), self.indices, axis=self.axis + 1)


class BatchMatMul(Layer):
    """Matrix product of two network tensors, sample by sample (attention's ``q @ k^T``
    and ``softmax(...) @ v``): digital, since neither factor is a stored weight.

    Both inputs have the same per-sample rank (at least 2): ``(..., M, K)`` and
    ``(..., K, P)`` give ``(..., M, P)``, the leading axes broadcast as in numpy.
    """

    kind = "batchmatmul"
    arity = 2

    @property
    def supports_backward(self) -> bool:
        return False

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        a, b = (tuple(s) for s in input_shapes)
        if len(a) != len(b) or len(a) < 2 or a[-1] != b[-2]:
            raise _shape_error(self, f"cannot multiply per-sample shapes {a} and {b}")
        try:
            lead = np.broadcast_shapes(a[:-2], b[:-2])
        except ValueError:
            raise _shape_error(self, f"leading axes of {a} and {b} do not broadcast") from None
        return (*lead, a[-2], b[-1])

    def forward(
        self, xs: list[np.ndarray], *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        a, b = (np.asarray(x, dtype=float) for x in xs)
        return np.matmul(a, b)


class Einsum(Layer):
    """``numpy.einsum`` of two network tensors, sample by sample (attention written as
    ``einsum("bhqd,bhkd->bhqk", q, k)``): digital, since neither factor is a stored weight.

    ``equation`` names the per-sample axes only (``"hqd,hkd->hqk"``); the batch axis
    is added in front of both inputs and the output.
    """

    kind = "einsum"
    arity = 2

    def __init__(self, equation: str, name: str | None = None) -> None:
        super().__init__(name)
        self.equation = str(equation)
        ins, _, out = self.equation.partition("->")
        terms = ins.split(",")
        letters = set(ins.replace(",", "")) | set(out)
        if len(terms) != 2 or not _ or not all(c.isalpha() for c in letters):
            raise ModelError(f"einsum equation {self.equation!r} must be 'IN1,IN2->OUT' in letters")
        self.batch = next(c for c in "zyxwvutsrqponmlkjihgfedcbaZYXW" if c not in letters)

    @property
    def supports_backward(self) -> bool:
        return False

    def config(self) -> dict:
        return {**super().config(), "equation": self.equation}

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        ins, _, out = self.equation.partition("->")
        sizes: dict[str, int] = {}
        for term, shape in zip(ins.split(","), input_shapes, strict=True):
            if len(term) != len(shape):
                raise _shape_error(self, f"{term!r} names {len(term)} axes of {tuple(shape)}")
            for c, n in zip(term, shape, strict=True):
                if sizes.setdefault(c, int(n)) != int(n):
                    raise _shape_error(self, f"axis {c!r} has sizes {sizes[c]} and {n}")
        if any(c not in sizes for c in out):
            raise _shape_error(self, f"output axes {out!r} not all among the inputs'")
        return tuple(sizes[c] for c in out)

    def forward(
        self, xs: list[np.ndarray], *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        ins, _, out = self.equation.partition("->")
        a, b = ins.split(",")
        eq = f"{self.batch}{a},{self.batch}{b}->{self.batch}{out}"
        return np.einsum(eq, *(np.asarray(x, dtype=float) for x in xs))


class Where(Layer):
    """``where(condition != 0, a, b)`` of three tensors (numpy broadcasting, equal ranks)."""

    kind = "where"
    arity = 3

    @property
    def supports_backward(self) -> bool:
        return False

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        shapes = [tuple(s) for s in input_shapes]
        if len({len(s) for s in shapes}) != 1:
            raise _shape_error(self, f"inputs of different ranks {shapes}")
        try:
            return tuple(np.broadcast_shapes(*shapes))
        except ValueError:
            raise _shape_error(self, f"input shapes {shapes} do not broadcast") from None

    def forward(
        self, xs: list[np.ndarray], *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        c, a, b = (np.asarray(x, dtype=float) for x in xs)
        return np.where(c != 0, a, b)


class Quantize(Layer):
    """ONNX ``QuantizeLinear`` then ``DequantizeLinear`` (fake quantisation), or either alone.

    ``quantize``: ``q = clip(round(x / scale) + zero_point, low, high)`` (halves to even),
    ``dequantize``: ``(q - zero_point) * scale``; ``both`` does one after the other.
    Computed in float32 as onnxruntime does (the input rounded to float32, the
    division and the product rounded once), so the integers agree with onnxruntime's
    for the same float32 inputs.

    Parameters
    ----------
    step : {"quantize", "dequantize", "both"}
    scale, zero_point : ndarray
        Broadcastable against ``(batch, *per-sample shape)`` (same rank, leading axis 1):
        one value, or one per channel along an axis.
    low, high : float
        The integer range (e.g. -128 and 127 for int8).

    Examples
    --------
    >>> import numpy as np
    >>> q = Quantize("both", np.full((1, 1), 0.5), np.zeros((1, 1)), -128, 127)
    >>> q.forward(np.array([[0.2, 0.3, 0.75, 100.0]])).tolist()
    [[0.0, 0.5, 1.0, 63.5]]
    """

    kind = "quantize"
    buffer_names = ("scale", "zero_point")
    signed_fields = ("low", "high")
    STEPS = ("quantize", "dequantize", "both")

    def __init__(
        self,
        step: str = "both",
        scale: np.ndarray | float = 1.0,
        zero_point: np.ndarray | float = 0.0,
        low: float = -128,
        high: float = 127,
        name: str | None = None,
        shape: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__(name)
        if step not in self.STEPS:
            raise ModelError(
                f"layer {name!r}: step {step!r}", hint="one of " + ", ".join(self.STEPS)
            )
        self.step, self.low, self.high = step, float(low), float(high)
        shape = np.shape(scale) if shape is None else tuple(int(s) for s in shape)
        self.scale = np.broadcast_to(np.asarray(scale, dtype=float), shape).copy()
        self.zero_point = np.broadcast_to(np.asarray(zero_point, dtype=float), shape).copy()
        if not (np.isfinite(self.scale).all() and (self.scale > 0).all()):
            raise ModelError(f"layer {name!r}: quantisation scales must be finite and > 0")

    @property
    def supports_backward(self) -> bool:
        return False

    def config(self) -> dict:
        return {
            **super().config(),
            "step": self.step,
            "low": self.low,
            "high": self.high,
            "shape": list(self.scale.shape),
        }

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        full = (1, *input_shape)
        if self.scale.ndim != len(full) or np.broadcast_shapes(full, self.scale.shape) != full:
            raise _shape_error(
                self,
                f"scales of shape {self.scale.shape} do not fit per-sample shape "
                f"{tuple(input_shape)}",
            )
        return tuple(input_shape)

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        f32 = np.float32
        y = np.asarray(x, dtype=float)
        s, zp = self.scale.astype(f32), self.zero_point
        if self.step != "dequantize":
            with np.errstate(over="ignore", invalid="ignore"):
                q = np.rint(y.astype(f32) / s).astype(float) + zp
            y = np.clip(q, self.low, self.high)  # NaN stays NaN, as in ONNX
        if self.step != "quantize":
            y = ((y - zp) * s).astype(f32).astype(float)
        return y


#: ONNX Resize coordinate_transformation_mode values (output pixel -> input coordinate)
RESIZE_TRANSFORMS = (
    "half_pixel",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_half_pixel_for_nn",
    "half_pixel_symmetric",
)
#: ONNX nearest_mode values, and "simple" (the deprecated Upsample op's rounding)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")


def resize_coordinates(n_in: int, n_out: int, scale: float, transform: str) -> np.ndarray:
    """Input coordinate of every output position along one axis (ONNX Resize, float32
    arithmetic as onnxruntime computes it).

    >>> resize_coordinates(2, 4, 2.0, "asymmetric").tolist()
    [0.0, 0.5, 1.0, 1.5]
    >>> resize_coordinates(2, 4, 2.0, "align_corners").tolist()
    [0.0, 0.3333333432674408, 0.6666666865348816, 1.0]
    """
    f32 = np.float32
    x, s = np.arange(n_out, dtype=f32), f32(scale)
    if transform == "asymmetric":
        return x / s
    if transform == "tf_half_pixel_for_nn":
        return (x + f32(0.5)) / s
    if transform == "align_corners":
        if n_out == 1:
            return np.zeros(1, f32)
        return x * f32(n_in - 1) / f32(n_out - 1)
    if transform == "pytorch_half_pixel" and n_out == 1:
        return np.zeros(1, f32)
    if transform == "half_pixel_symmetric":
        adjust = f32(n_out) / (s * f32(n_in))
        offset = f32(n_in) / f32(2) * (f32(1) - adjust)
        return offset + (x + f32(0.5)) / s - f32(0.5)
    return (x + f32(0.5)) / s - f32(0.5)  # half_pixel, pytorch_half_pixel


def _nearest_index(c: np.ndarray, mode: str, downsample: bool) -> np.ndarray:
    if mode == "floor" or (mode == "simple" and not downsample):
        return np.floor(c)
    if mode == "ceil" or mode == "simple":
        return np.ceil(c)
    half = c == np.trunc(c) + np.float32(0.5)  # exactly between two pixels
    tie = np.floor(c) if mode == "round_prefer_floor" else np.ceil(c)
    return np.where(half, tie, np.sign(c) * np.floor(np.abs(c) + 0.5))  # C's round()


def _cubic_taps(c: np.ndarray, n_in: int, a: float, exclude_outside: bool):
    """Indices (P, 4) and weights (P, 4) of ONNX's cubic convolution at coordinates ``c``
    (Keys' kernel with coefficient ``a``; taps outside the axis are clamped to its edge, or
    dropped and the rest renormalised with ``exclude_outside``)."""
    x0 = np.floor(c)
    s = (c - x0).astype(float)[:, None]
    d = np.concatenate([s + 1, s, 1 - s, 2 - s], axis=1)  # distances to the 4 taps
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    w = np.where(d <= 1, near, far)
    idx = x0.astype(np.intp)[:, None] + np.arange(-1, 3)
    if exclude_outside:
        w = np.where((idx >= 0) & (idx < n_in), w, 0.0)
        w = w / w.sum(axis=1, keepdims=True)
    return np.clip(idx, 0, n_in - 1), w


class Resize(Layer):
    """Resize per-sample ``axes`` to ``sizes`` (ONNX ``Resize``: nearest, linear or cubic).

    Parameters
    ----------
    axes : sequence of int
        Per-sample axes to resize (e.g. ``(0, 1)``, the height and width of NHWC images).
    sizes : sequence of int
        Output length of each axis.
    scales : sequence of float
        The scale of each axis that the coordinate transformation divides by (the
        ``scales`` input of the ONNX node, or ``sizes / input sizes``).
    mode : {"nearest", "linear", "cubic"}
        Nearest neighbour, (multi)linear interpolation between the two nearest inputs
        along every axis (bilinear for images), or cubic convolution of four (bicubic).
    transform : str
        ONNX ``coordinate_transformation_mode`` (:data:`RESIZE_TRANSFORMS`).
    nearest_mode : str
        ONNX ``nearest_mode`` (:data:`NEAREST_MODES`).
    cubic_a : float
        ONNX ``cubic_coeff_a`` (-0.75, torch's; -0.5 TensorFlow's).
    exclude_outside : bool
        ONNX ``exclude_outside``: cubic weights of taps outside the image are dropped.

    Examples
    --------
    >>> import numpy as np
    >>> r = Resize((0,), (4,), (2.0,), "nearest", "asymmetric", "floor")
    >>> r.forward(np.array([[1.0, 2.0]])).tolist()
    [[1.0, 1.0, 2.0, 2.0]]
    """

    kind = "resize"
    signed_fields = ("cubic_a",)

    def __init__(
        self,
        axes: tuple[int, ...],
        sizes: tuple[int, ...],
        scales: tuple[float, ...],
        mode: str = "nearest",
        transform: str = "half_pixel",
        nearest_mode: str = "round_prefer_floor",
        name: str | None = None,
        cubic_a: float = -0.75,
        exclude_outside: bool = False,
    ) -> None:
        super().__init__(name)
        self.cubic_a, self.exclude_outside = float(cubic_a), bool(exclude_outside)
        self.axes = tuple(int(a) for a in axes)
        self.sizes = tuple(int(s) for s in sizes)
        self.scales = tuple(float(s) for s in scales)
        self.mode, self.transform, self.nearest_mode = str(mode), str(transform), str(nearest_mode)
        for what, value, allowed in (
            ("mode", self.mode, ("nearest", "linear", "cubic")),
            ("transform", self.transform, RESIZE_TRANSFORMS),
            ("nearest_mode", self.nearest_mode, NEAREST_MODES),
        ):
            if value not in allowed:
                raise ModelError(
                    f"layer {name!r}: Resize {what} {value!r} is not supported",
                    hint="one of " + ", ".join(allowed),
                )
        if (
            not len(self.axes) == len(self.sizes) == len(self.scales)
            or min(self.sizes, default=1) < 1
        ):
            raise ModelError(
                f"layer {name!r}: Resize needs one size >= 1 and one scale per axis, got "
                f"axes {list(self.axes)}, sizes {list(self.sizes)}, scales {list(self.scales)}"
            )
        if any(not (np.isfinite(v) and v > 0) for v in self.scales):
            raise ModelError(f"layer {name!r}: Resize scales {list(self.scales)} must be > 0")

    @property
    def supports_backward(self) -> bool:
        return False

    def config(self) -> dict:
        return {
            **super().config(),
            "axes": list(self.axes),
            "sizes": list(self.sizes),
            "scales": list(self.scales),
            "mode": self.mode,
            "transform": self.transform,
            "nearest_mode": self.nearest_mode,
            "cubic_a": self.cubic_a,
            "exclude_outside": self.exclude_outside,
        }

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        _check_axes(self, input_shape, nonempty=True)
        out = list(input_shape)
        for a, n in zip(self.axes, self.sizes, strict=True):
            out[a] = n
        return tuple(out)

    def forward(
        self, x: np.ndarray, *, training: bool = False, mvm: MVM | None = None
    ) -> np.ndarray:
        y = np.asarray(x, dtype=float)
        for a, n, s in zip(self.axes, self.sizes, self.scales, strict=True):
            n_in = y.shape[a + 1]
            c = resize_coordinates(n_in, n, s, self.transform)
            if self.mode == "nearest":
                i = _nearest_index(c, self.nearest_mode, downsample=s < 1)
                y = y.take(np.clip(i, 0, n_in - 1).astype(np.intp), axis=a + 1)
                continue
            if self.mode == "cubic":
                idx, w = _cubic_taps(c, n_in, self.cubic_a, self.exclude_outside)
                shape = (n, 4) + (1,) * (y.ndim - a - 2)
                taps = y.take(idx.reshape(-1), axis=a + 1)
                taps = taps.reshape(y.shape[: a + 1] + (n, 4) + y.shape[a + 2 :])
                y = (taps * w.reshape(shape)).sum(axis=a + 2)
                continue
            c = np.clip(c, np.float32(0), np.float32(n_in - 1))
            i0 = np.floor(c).astype(np.intp)
            i1 = np.minimum(i0 + 1, n_in - 1)
            w = (c - i0).astype(float).reshape((-1,) + (1,) * (y.ndim - a - 2))
            y = y.take(i0, axis=a + 1) * (1.0 - w) + y.take(i1, axis=a + 1) * w
        return y


#: op classes by JSON ``type`` name
OP_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Binary,
        ConstOp,
        Activation,
        Reshape,
        Transpose,
        Concat,
        Pad,
        Softmax,
        ReduceMean,
        ReduceMax,
        ReduceSum,
        ReduceMin,
        ReduceProd,
        ReduceL1,
        ReduceL2,
        ReduceLogSumExp,
        ReduceSumSquare,
        Normalize,
        Slice,
        Where,
        Tile,
        Resize,
        Quantize,
        CumSum,
        LRN,
        BatchMatMul,
        Einsum,
        Gather,
    )
}
