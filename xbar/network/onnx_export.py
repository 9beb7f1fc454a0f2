"""ONNX export: :func:`save_onnx` writes any :class:`~xbar.network.Model` as an ONNX graph.

The graph takes NCHW images (``(batch, C, H, W)``, batch dynamic) like a PyTorch
export, so xbar's models run in any ONNX runtime and round-trip through
:func:`~xbar.network.load_onnx`.  Inside xbar images are NHWC: every tensor of
per-sample rank 3 is written NCHW, convolution kernels become ``(out, in, kh,
kw)``, dense layers ``Gemm`` with ``transB=1``, batch-norm ``BatchNormalization``
(unfolded, as trained), and ops whose meaning depends on the element order
(``Flatten`` and ``Reshape`` of NHWC feature maps, ``Transpose``, ``ReduceMean``)
get a ``Transpose`` to NHWC first, so the exported graph computes exactly what
the model computes.  Weights are float32 (ONNX's usual type).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError
from .layers import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool,
    Layer,
    MaxPool2D,
    ReLU,
    Residual,
)
from .model import INPUT, Model
from .onnx_import import require_onnx

if TYPE_CHECKING:
    import onnx
from .ops import (
    LRN,
    Activation,
    BatchMatMul,
    Binary,
    Concat,
    ConstOp,
    CumSum,
    Einsum,
    Gather,
    Normalize,
    Pad,
    Quantize,
    ReduceMean,
    Reshape,
    Resize,
    Slice,
    Softmax,
    Tile,
    Transpose,
    Where,
)

__all__ = ["save_onnx", "to_onnx"]

#: full-tensor axis of an NHWC tensor -> the same axis in NCHW
_TO_NCHW = (0, 2, 3, 1)


class _Writer:
    def __init__(self, opset: int):
        self.onnx = require_onnx()
        self.helper = self.onnx.helper
        self.opset = opset
        self.nodes: list = []
        self.inits: list = []
        self.rank: dict[str, int] = {}  # per-sample rank of each tensor (3 = image, NCHW in ONNX)
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}__{self.count}"

    def const(self, base: str, value, dtype=np.float32) -> str:
        name = self.name(base)
        arr = np.asarray(value, dtype=dtype)
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def node(
        self, op: str, inputs: list[str], output: str, name: str | None = None, **attrs
    ) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=name or output, **attrs))
        return output

    def nhwc(self, x: str) -> str:
        """``x`` in NHWC order when it is an image (ONNX NCHW), else ``x``."""
        if self.rank[x] != 3:
            return x
        return self.node("Transpose", [x], self.name(x + ".nhwc"), perm=[0, 2, 3, 1])

    def finish(self, y: str, out: str, rank: int, nhwc: bool) -> str:
        """Name the result ``out``; an NHWC rank-3 result is turned back to NCHW."""
        self.rank[out] = rank
        if rank == 3 and nhwc:
            return self.node("Transpose", [y], out, perm=[0, 3, 1, 2])
        return self.node("Identity", [y], out) if y != out else out


def _write_conv(w: _Writer, layer: Conv2D, xs: list[str], out: str, rank: int) -> None:
    n = layer.name
    W = w.const(n + ".W", layer.W.transpose(3, 2, 0, 1))
    b = w.const(n + ".b", layer.b)
    w.node(
        "Conv",
        [xs[0], W, b],
        out,
        name=n,
        kernel_shape=[layer.kh, layer.kw],
        strides=list(layer.strides),
        pads=list(layer.pads),
        dilations=list(layer.dilations),
        group=layer.groups,
    )


def _write_dense(w: _Writer, layer: Dense, xs: list[str], out: str, rank: int) -> None:
    x, n = xs[0], layer.name
    if w.rank[x] == 1:
        W, b = w.const(n + ".W", layer.W.T), w.const(n + ".b", layer.b)
        w.node("Gemm", [x, W, b], out, name=n, transB=1)
        return
    y = w.node("MatMul", [w.nhwc(x), w.const(n + ".W", layer.W)], w.name(n + ".mm"))
    y = w.node("Add", [y, w.const(n + ".b", layer.b)], w.name(n + ".add"))
    w.finish(y, out, rank, nhwc=True)


def _write_batchnorm(w: _Writer, layer: BatchNorm, xs: list[str], out: str, rank: int) -> None:
    x, n = xs[0], layer.name
    if w.rank[x] not in (1, 3):
        raise ModelError(
            f"save_onnx: BatchNorm {n!r} on per-sample rank {w.rank[x]} cannot be written"
        )
    keys = ("gamma", "beta", "running_mean", "running_var")
    params = [w.const(f"{n}.{k}", getattr(layer, k)) for k in keys]
    w.node("BatchNormalization", [x, *params], out, name=n, epsilon=layer.eps)


def _write_relu(w: _Writer, layer: ReLU, xs: list[str], out: str, rank: int) -> None:
    w.node("Relu", [xs[0]], out, name=layer.name)


def _write_pool(w: _Writer, layer: MaxPool2D | AvgPool2D, xs, out: str, rank: int) -> None:
    attrs = dict(
        kernel_shape=[layer.kh, layer.kw],
        strides=list(layer.strides),
        pads=list(layer.pads),
        ceil_mode=int(layer.ceil_mode),
    )
    if layer.dilations != (1, 1):
        attrs["dilations"] = list(layer.dilations)
    op = "MaxPool"
    if isinstance(layer, AvgPool2D):
        attrs["count_include_pad"] = int(layer.count_include_pad)
        op = "AveragePool"
    w.node(op, [xs[0]], out, name=layer.name, **attrs)


def _write_global_pool(w: _Writer, layer: GlobalAvgPool, xs, out: str, rank: int) -> None:
    n = layer.name
    if layer.keepdims:
        w.node("GlobalAveragePool", [xs[0]], out, name=n)
    else:
        y = w.node("GlobalAveragePool", [xs[0]], w.name(n + ".pool"))
        w.node("Flatten", [y], out, name=n, axis=1)


def _write_reshape(w: _Writer, layer: Flatten | Reshape, xs, out: str, rank: int) -> None:
    n = layer.name
    shape = (-1,) if isinstance(layer, Flatten) else layer.shape
    target = w.const(n + ".shape", [0, *shape], np.int64)
    y = w.node("Reshape", [w.nhwc(xs[0]), target], w.name(n + ".reshape"))
    w.finish(y, out, rank, nhwc=True)


def _write_activation(w: _Writer, layer: Activation, xs: list[str], out: str, rank: int) -> None:
    x, n, f = xs[0], layer.name, layer.function
    if f == "clip":
        ins = [
            x,
            w.const(n + ".min", layer.low if np.isfinite(layer.low) else -np.inf),
            w.const(n + ".max", layer.high if np.isfinite(layer.high) else np.inf),
        ]
        w.node("Clip", ins, out, name=n)
    elif f == "leaky_relu":
        w.node("LeakyRelu", [x], out, name=n, alpha=layer.alpha)
    elif f == "hard_sigmoid":
        w.node("HardSigmoid", [x], out, name=n, alpha=layer.alpha, beta=layer.beta)
    elif f in ("elu", "selu", "celu"):
        extra = {"gamma": layer.beta} if f == "selu" else {}
        w.node(f.capitalize(), [x], out, name=n, alpha=layer.alpha, **extra)
    elif f == "mish" and w.opset < 18:  # Mish is an op from opset 18: x tanh(softplus(x))
        t = w.node("Tanh", [w.node("Softplus", [x], w.name(n + ".sp"))], w.name(n + ".t"))
        w.node("Mul", [x, t], out, name=n)
    elif f == "gelu":
        if w.opset < 20:
            raise ModelError(f"save_onnx: GELU {n!r} needs opset 20 or later")
        w.node("Gelu", [x], out, name=n, approximate="tanh" if layer.beta else "none")
    else:
        op = {
            "sigmoid": "Sigmoid",
            "hard_swish": "HardSwish",
            "tanh": "Tanh",
            "erf": "Erf",
            "softplus": "Softplus",
            "sqrt": "Sqrt",
            "round": "Round",
            "abs": "Abs",
            "exp": "Exp",
            "log": "Log",
            "sign": "Sign",
            "mish": "Mish",
        }[f]
        w.node(op, [x], out, name=n)


def _onnx_axis(w: _Writer, x: str, a: int) -> int:
    """Full ONNX axis of per-sample internal axis ``a`` of tensor ``x`` (images are NCHW)."""
    return _TO_NCHW[a + 1] if w.rank[x] == 3 else a + 1


def _write_elementwise(w: _Writer, layer: Binary | ConstOp, xs, out: str, rank: int) -> None:
    x, n = xs[0], layer.name
    ins = xs
    if isinstance(layer, ConstOp):
        c = layer.const.transpose(0, 3, 1, 2) if w.rank[x] == 3 else layer.const
        c = w.const(n + ".const", c)
        ins = [c, x] if layer.reverse else [x, c]
    op = {
        "prelu": "PRelu",
        "not_equal": "Equal",
        "greater_equal": "GreaterOrEqual",
        "less_equal": "LessOrEqual",
    }.get(layer.op, layer.op.capitalize())
    if layer.op in ("and", "or", "xor"):  # ONNX's take booleans: non-zero is true
        ins = [
            w.node(
                "Not",
                [w.node("Equal", [i, w.const(n + ".zero", 0.0)], w.name(n + ".z"))],
                w.name(n + ".b"),
            )
            for i in ins
        ]
    if layer.op == "fill":  # the constant at the broadcast shape: Where(x > x, c, c)
        false = w.node("Greater", [x, x], w.name(n + ".false"))
        w.node("Where", [false, ins[1], ins[1]], out, name=n)
    elif layer.op == "not_equal":
        y = w.node("Not", [w.node(op, ins, w.name(n + ".eq"))], w.name(n + ".bool"))
        w.node("Cast", [y], out, name=n, to=w.onnx.TensorProto.FLOAT)
    elif layer.op in (
        "greater",
        "less",
        "equal",
        "greater_equal",
        "less_equal",
        "and",
        "or",
        "xor",
    ):
        y = w.node(op, ins, w.name(n + ".bool"))  # ONNX compares to booleans; xbar: 1.0 / 0.0
        w.node("Cast", [y], out, name=n, to=w.onnx.TensorProto.FLOAT)
    else:
        w.node(op, ins, out, name=n)


def _write_where(w: _Writer, layer: Where, xs: list[str], out: str, rank: int) -> None:
    cond = w.node("Cast", [xs[0]], w.name(layer.name + ".cond"), to=w.onnx.TensorProto.BOOL)
    w.node("Where", [cond, xs[1], xs[2]], out, name=layer.name)


def _write_concat(w: _Writer, layer: Concat, xs: list[str], out: str, rank: int) -> None:
    w.node("Concat", xs, out, name=layer.name, axis=_onnx_axis(w, xs[0], layer.axis))


def _write_softmax(w: _Writer, layer: Softmax, xs: list[str], out: str, rank: int) -> None:
    op = "LogSoftmax" if layer.log else "Softmax"
    w.node(op, [xs[0]], out, name=layer.name, axis=_onnx_axis(w, xs[0], layer.axis))


def _write_pad(w: _Writer, layer: Pad, xs: list[str], out: str, rank: int) -> None:
    x, n = xs[0], layer.name
    full = [(0, 0), *layer.pads]
    if w.rank[x] == 3:
        full = [full[k] for k in (0, 3, 1, 2)]
    pads = [a for a, _ in full] + [b for _, b in full]
    ins = [x, w.const(n + ".pads", pads, np.int64), w.const(n + ".value", layer.value)]
    if layer.mode == "wrap" and w.opset < 19:
        raise ModelError(
            f"save_onnx: Pad {n!r} in mode 'wrap' (circular) needs opset 19 or later",
            hint="save_onnx(..., opset=19) / xbar export-onnx --opset 19",
        )
    w.node("Pad", ins, out, name=n, mode=layer.mode)


def _write_slice(w: _Writer, layer: Slice, xs: list[str], out: str, rank: int) -> None:
    n, big = layer.name, 2**62
    starts = [0] + [a for a, _, _ in layer.slices]
    ends = [big] + [(big if c > 0 else -big) if b is None else b for _, b, c in layer.slices]
    steps = [1] + [c for _, _, c in layer.slices]
    args = (("starts", starts), ("ends", ends), ("axes", list(range(len(starts)))))
    consts = [w.const(f"{n}.{k}", v, np.int64) for k, v in (*args, ("steps", steps))]
    y = w.node("Slice", [w.nhwc(xs[0]), *consts], w.name(n + ".slice"))
    w.finish(y, out, rank, nhwc=True)


def _write_gather(w: _Writer, layer: Gather, xs: list[str], out: str, rank: int) -> None:
    idx = w.const(layer.name + ".indices", layer.indices, np.int64)
    y = w.node("Gather", [w.nhwc(xs[0]), idx], w.name(layer.name + ".g"), axis=layer.axis + 1)
    w.finish(y, out, rank, nhwc=True)


def _write_batch_matmul(w: _Writer, layer: BatchMatMul, xs, out: str, rank: int) -> None:
    y = w.node("MatMul", [w.nhwc(xs[0]), w.nhwc(xs[1])], w.name(layer.name + ".mm"))
    w.finish(y, out, rank, nhwc=True)


def _write_einsum(w: _Writer, layer: Einsum, xs, out: str, rank: int) -> None:
    ins, _, res = layer.equation.partition("->")
    a, b = ins.split(",")
    eq = f"{layer.batch}{a},{layer.batch}{b}->{layer.batch}{res}"
    y = w.node("Einsum", [w.nhwc(xs[0]), w.nhwc(xs[1])], w.name(layer.name + ".e"), equation=eq)
    w.finish(y, out, rank, nhwc=True)


def _write_transpose(w: _Writer, layer: Transpose, xs: list[str], out: str, rank: int) -> None:
    perm = [0, *(p + 1 for p in layer.perm)]
    y = w.node("Transpose", [w.nhwc(xs[0])], w.name(layer.name + ".t"), perm=perm)
    w.finish(y, out, rank, nhwc=True)


def _write_reduce(w: _Writer, layer: ReduceMean, xs, out: str, rank: int) -> None:
    op = type(layer).__name__  # ReduceMean, ReduceMax, ReduceL2, ...: the ONNX op's name
    axes = [a + 1 for a in layer.axes]
    y = _reduce_node(w, op, w.nhwc(xs[0]), axes, int(layer.keepdims), layer.name)
    w.finish(y, out, rank, nhwc=True)


def _reduce_node(w: _Writer, op: str, x: str, axes: list[int], keep: int, base: str) -> str:
    """An ONNX reduction ``op`` (ReduceMean, ReduceL2, ...) over full-tensor ``axes`` of ``x``."""
    if w.opset >= (13 if op == "ReduceSum" else 18):  # axes became an input (ReduceSum: 13)
        ins = [x, w.const(base + ".axes", axes, np.int64)]
        return w.node(op, ins, w.name(base + ".reduce"), keepdims=keep)
    return w.node(op, [x], w.name(base + ".reduce"), axes=axes, keepdims=keep)


def _write_normalize(w: _Writer, layer: Normalize, xs: list[str], out: str, rank: int) -> None:
    """LayerNormalization's normalisation, decomposed (its axes need not trail in NCHW)."""
    n, axes = layer.name, [a + 1 for a in layer.axes]
    x = w.nhwc(xs[0])
    d = w.node("Sub", [x, _reduce_node(w, "ReduceMean", x, axes, 1, n)], w.name(n + ".d"))
    var = _reduce_node(w, "ReduceMean", w.node("Mul", [d, d], w.name(n + ".dd")), axes, 1, n)
    std = w.node(
        "Sqrt",
        [w.node("Add", [var, w.const(n + ".eps", layer.eps)], w.name(n + ".v"))],
        w.name(n + ".std"),
    )
    w.finish(w.node("Div", [d, std], w.name(n + ".y")), out, rank, nhwc=True)


def _onnx_per_sample(w: _Writer, x: str, values: list) -> list:
    """Per-sample internal values (one per axis) in the ONNX axis order of tensor ``x``
    (images: internal H, W, C -> C, H, W)."""
    return [values[k] for k in (2, 0, 1)] if w.rank[x] == 3 else list(values)


def _write_cumsum(w: _Writer, layer: CumSum, xs: list[str], out: str, rank: int) -> None:
    axis = w.const(layer.name + ".axis", _onnx_axis(w, xs[0], layer.axis), np.int64)
    attrs = dict(exclusive=int(layer.exclusive), reverse=int(layer.reverse))
    w.node("CumSum", [xs[0], axis], out, name=layer.name, **attrs)


def _write_lrn(w: _Writer, layer: LRN, xs: list[str], out: str, rank: int) -> None:
    if _onnx_axis(w, xs[0], layer.axis) != 1:
        raise ModelError(f"save_onnx: LRN {layer.name!r} is not across ONNX's channel axis")
    attrs = dict(size=layer.size, alpha=layer.alpha, beta=layer.beta, bias=layer.bias)
    w.node("LRN", [xs[0]], out, name=layer.name, **attrs)


def _write_tile(w: _Writer, layer: Tile, xs: list[str], out: str, rank: int) -> None:
    reps = [1, *_onnx_per_sample(w, xs[0], list(layer.repeats))]
    w.node("Tile", [xs[0], w.const(layer.name + ".repeats", reps, np.int64)], out, name=layer.name)


def _write_resize(w: _Writer, layer: Resize, xs: list[str], out: str, rank: int) -> None:
    """ONNX Resize with a scales input (its coordinates use exactly ``layer.scales``);
    at opset 18 and later a ``sizes`` input with ``axes`` when floor(in x scale) misses."""
    x, n = xs[0], layer.name
    shape = w.shape_of[x]
    scales, sizes = [1.0] * len(shape), list(shape)
    for a, size, s in zip(layer.axes, layer.sizes, layer.scales, strict=True):
        scales[a], sizes[a] = s, size
    attrs = dict(
        mode=layer.mode,
        coordinate_transformation_mode=layer.transform,
        nearest_mode={"simple": "floor"}.get(layer.nearest_mode, layer.nearest_mode),
    )
    if layer.mode == "cubic":
        attrs.update(cubic_coeff_a=layer.cubic_a, exclude_outside=int(layer.exclude_outside))
    if layer.nearest_mode == "simple" and any(s < 1 for s in layer.scales):
        raise ModelError(f"save_onnx: Resize {n!r} (Upsample's downsampling) has no ONNX form")
    f32 = np.float32
    fits = all(int(np.floor(f32(shape[a]) * f32(s))) == sizes[a] for a, s in enumerate(scales))
    roi = w.const(n + ".roi", [], np.float32)
    if fits:
        full = [1.0, *_onnx_per_sample(w, x, scales)]
        w.node("Resize", [x, roi, w.const(n + ".scales", full)], out, name=n, **attrs)
    elif w.opset >= 18 and all(  # sizes / input sizes give the same scales
        f32(sizes[a]) / f32(shape[a]) == f32(s) for a, s in enumerate(scales)
    ):
        axes = [_onnx_axis(w, x, a) for a in layer.axes]
        ins = [x, roi, "", w.const(n + ".sizes", list(layer.sizes), np.int64)]
        w.node("Resize", ins, out, name=n, axes=axes, **attrs)
    else:
        raise ModelError(f"save_onnx: Resize {n!r} needs opset 18 or later (sizes and axes)")


def _write_quantize(w: _Writer, layer: Quantize, xs: list[str], out: str, rank: int) -> None:
    """QuantizeLinear (then Cast to float: xbar's integers are floats), and the
    dequantisation as float32 ``(q - zero_point) * scale``, what DequantizeLinear computes."""
    x, n = xs[0], layer.name
    scale, zp = layer.scale, layer.zero_point
    if w.rank[x] == 3:
        scale, zp = scale.transpose(0, 3, 1, 2), zp.transpose(0, 3, 1, 2)
    y = x
    if layer.step != "dequantize":
        big = [k for k, v in enumerate(scale.shape) if v > 1]
        if len(big) > 1:
            raise ModelError(f"save_onnx: Quantize {n!r} varies along more than one axis")
        dtype = _quant_dtype(layer.low, layer.high, n)
        if np.dtype(dtype).itemsize > 1 and w.opset < 21:  # ONNX's Q/DQ take 16 bits from 21
            raise ModelError(
                f"save_onnx: Quantize {n!r} is {np.dtype(dtype).name}, which QuantizeLinear "
                f"takes from opset 21 (asked for {w.opset}); onnxruntime would refuse the file",
                hint="save_onnx(..., opset=21) / xbar export-onnx --opset 21",
            )
        s1, z1 = (scale, zp) if not big else (scale.reshape(-1), zp.reshape(-1))
        s1 = s1.reshape(-1)[:1].reshape(()) if not big else s1
        z1 = z1.reshape(-1)[:1].reshape(()) if not big else z1
        q_ins = [x, w.const(n + ".scale", s1), w.const(n + ".zero_point", z1, dtype)]
        q = w.node("QuantizeLinear", q_ins, w.name(n + ".q"), axis=big[0] if big else 1)
        y = w.node("Cast", [q], w.name(n + ".qf"), to=w.onnx.TensorProto.FLOAT)
    if layer.step != "quantize":
        if np.any(zp != 0):
            y = w.node("Sub", [y, w.const(n + ".zp", zp)], w.name(n + ".d"))
        y = w.node("Mul", [y, w.const(n + ".s", scale)], w.name(n + ".dq"))
    w.node("Identity", [y], out, name=n)


def _quant_dtype(low: float, high: float, name: str):
    for dtype in (np.uint8, np.int8, np.uint16, np.int16, np.int32):
        info = np.iinfo(dtype)
        if (info.min, info.max) == (low, high):
            return dtype
    raise ModelError(f"save_onnx: Quantize {name!r} range [{low:g}, {high:g}] has no ONNX type")


#: layer type(s) -> writer ``(w, layer, inputs, out, per-sample rank of out)``
_WRITERS = (
    (Conv2D, _write_conv),
    (Dense, _write_dense),
    (BatchNorm, _write_batchnorm),
    (ReLU, _write_relu),
    (Activation, _write_activation),
    (MaxPool2D | AvgPool2D, _write_pool),
    (GlobalAvgPool, _write_global_pool),
    (Flatten | Reshape, _write_reshape),
    (Binary | ConstOp, _write_elementwise),
    (Where, _write_where),
    (Concat, _write_concat),
    (Softmax, _write_softmax),
    (Pad, _write_pad),
    (Slice, _write_slice),
    (Transpose, _write_transpose),
    (Gather, _write_gather),
    (BatchMatMul, _write_batch_matmul),
    (Einsum, _write_einsum),
    (ReduceMean, _write_reduce),  # and the rest of the family (ReduceMax, ReduceL2, ...)
    (Normalize, _write_normalize),
    (Tile, _write_tile),
    (Resize, _write_resize),
    (Quantize, _write_quantize),
    (CumSum, _write_cumsum),
    (LRN, _write_lrn),
)


def _write_layer(w: _Writer, layer: Layer, xs: list[str], out: str, rank: int) -> None:
    """Append the ONNX nodes computing ``layer`` on tensors ``xs`` into tensor ``out``."""
    for types, write in _WRITERS:
        if isinstance(layer, types):
            write(w, layer, xs, out, rank)
            return
    raise ModelError(
        f"save_onnx: layer {layer.name!r} of type {type(layer).__name__} has no ONNX form"
    )


def _write_chain(w: _Writer, layers: list[Layer], x: str, shape: tuple[int, ...]) -> str:
    for layer in layers:
        out_shape = tuple(layer.output_shape(shape))
        _write_node(w, layer, [x], layer.name, out_shape)
        x, shape = layer.name, out_shape
    return x


def _write_node(w: _Writer, layer: Layer, xs: list[str], out: str, shape) -> None:
    if isinstance(layer, Residual):
        in_shape = w.shape_of[xs[0]]
        a = _write_chain(w, layer.body, xs[0], in_shape)
        b = xs[0] if layer.shortcut is None else _write_chain(w, layer.shortcut, xs[0], in_shape)
        w.node("Add", [a, b], out, name=layer.name)
    else:
        _write_layer(w, layer, xs, out, len(shape))
    w.rank[out] = len(shape)
    w.shape_of[out] = tuple(shape)


def to_onnx(model: Model, *, opset: int = 17) -> onnx.ModelProto:
    """The ONNX ``ModelProto`` of ``model`` (see :func:`save_onnx`)."""
    onnx = require_onnx()
    helper = onnx.helper
    if not 13 <= int(opset) <= 21:
        raise ModelError(f"save_onnx: opset {opset} unsupported", hint="13 to 21")
    w = _Writer(int(opset))
    shapes = model.shapes()
    w.rank[INPUT] = len(model.input_shape)
    w.shape_of = {INPUT: model.input_shape}
    for node in model.nodes:
        _write_node(w, node.layer, list(node.inputs), node.output, shapes[node.output])
    ishape = list(model.input_shape)
    if len(ishape) == 3:
        ishape = [ishape[2], ishape[0], ishape[1]]
    f32 = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        w.nodes,
        model.name,
        [helper.make_tensor_value_info(INPUT, f32, ["batch", *ishape])],
        [helper.make_tensor_value_info(model.output, f32, ["batch", model.classes])],
        initializer=w.inits,
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", int(opset))], producer_name="xbar"
    )
    proto.ir_version = min(proto.ir_version, 8 if opset <= 17 else 9)
    onnx.checker.check_model(proto)
    return proto


def save_onnx(model: Model, path: str | Path, *, opset: int = 17) -> Path:
    """Write ``model`` as an ONNX file that takes NCHW images with a dynamic batch.

    Parameters
    ----------
    model : Model
        Any xbar model (zoo, trained, imported); batch-norm is written unfolded.
    path : str or Path
        The ``.onnx`` file to write (parent directories are created).
    opset : int
        ONNX opset, 13 to 21 (default 17).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ModelError
        When ``onnx`` is not installed, a layer has no ONNX form, or the file
        cannot be written.
    """
    proto = to_onnx(model, opset=opset)
    path = Path(path)
    from ..checks import write_files

    data = proto.SerializeToString()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_files({path: lambda fh: fh.write(data)})  # no partial file on a full disk
    except OSError as exc:
        raise ModelError(f"cannot write ONNX model {str(path)!r}: {exc.strerror}") from None
    return path
