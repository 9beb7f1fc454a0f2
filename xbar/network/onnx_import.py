"""ONNX import: :func:`load_onnx` turns an ONNX image classifier into a :class:`Model` graph.

What torch.onnx.export and tf2onnx emit for image classifiers (opsets 11 to 21) is
covered; see :data:`SUPPORTED_OPS`.  Every node with a constant weight that
multiplies a matrix (``Conv`` including groups and depthwise, ``Gemm``, ``MatMul``)
becomes a matmul layer that the evaluator maps onto crossbar tiles; everything
else runs digitally.  Subgraphs that compute constants (weights stored through
``Transpose``/``Cast``, ``Shape -> Gather -> Unsqueeze -> Concat`` shape
computations) are folded at import; the batch size stays symbolic, so a graph
exported with batch 1 runs on any batch.

Layouts
-------
ONNX images are NCHW; inside xbar every image tensor is NHWC.  The importer
keeps, for every tensor, the permutation that takes the ONNX tensor to the
internal one (``(0, 2, 3, 1)`` for images, identity for features) and inserts
a :class:`~xbar.network.ops.Transpose` only where an op needs another layout
(e.g. before a ``Flatten`` of NCHW feature maps, so that the following
``Gemm`` sees the features in ONNX order).  ``Transpose`` nodes of the graph only
change the bookkeeping.  The model input is NHWC (``model.input_shape``); for a
graph whose input is already NHWC (Keras through tf2onnx, detected by its
leading ``Transpose``, also behind ``Cast``/element-wise ops) nothing changes.  A uint8
input (raw pixels) gets xbar's [0, 1] images multiplied by 255.

Errors
------
Anything that cannot be imported (an unknown op or attribute, a dynamic shape,
a reshape that mixes the batch axis, a weight that is not constant) raises
:class:`~xbar.errors.ModelError` naming the file, the node and its op type, and
listing what is supported, before any evaluation starts.

``onnx`` is an optional dependency: ``pip install "xbar[onnx]"``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..errors import ModelError, XbarError
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
)
from .model import INPUT, Model, Node, iter_layers
from .onnx_graph import (
    check_external_data,
    check_model_size,
    check_types,
    export_hint,
    pick_output,
    sniff_format,
    sorted_nodes,
)

if TYPE_CHECKING:
    import onnx
from .ops import (
    LRN,
    NEAREST_MODES,
    RESIZE_TRANSFORMS,
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
    ReduceL1,
    ReduceL2,
    ReduceLogSumExp,
    ReduceMax,
    ReduceMean,
    ReduceMin,
    ReduceProd,
    ReduceSum,
    ReduceSumSquare,
    Reshape,
    Resize,
    Slice,
    Softmax,
    Tile,
    Transpose,
    Where,
)

__all__ = ["load_onnx", "SUPPORTED_OPS", "require_onnx", "DynamicInputError"]

#: attributes each supported op may carry (anything else is refused by name)
#: ONNX ops that are one parameterless element-wise activation (:class:`Activation` kind).
_PLAIN_ACTIVATIONS = {
    "Sigmoid": "sigmoid",
    "HardSwish": "hard_swish",
    "Tanh": "tanh",
    "Erf": "erf",
    "Abs": "abs",
    "Exp": "exp",
    "Log": "log",
    "Sign": "sign",
    "Mish": "mish",
    "Round": "round",
    "Sqrt": "sqrt",
    "Softplus": "softplus",
}


SUPPORTED_OPS: dict[str, tuple[str, ...]] = {
    "Conv": ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"),
    "Gemm": ("alpha", "beta", "transA", "transB"),
    "MatMul": (),
    "Einsum": ("equation",),
    "Attention": (
        "is_causal",
        "kv_num_heads",
        "q_num_heads",
        "qk_matmul_output_mode",
        "scale",
        "softcap",
        "softmax_precision",
    ),
    "Range": (),
    "ScatterND": ("reduction",),
    "Trilu": ("upper",),
    "ConvTranspose": (
        "auto_pad",
        "dilations",
        "group",
        "kernel_shape",
        "output_padding",
        "output_shape",
        "pads",
        "strides",
    ),
    "Erfc": (),
    "Add": (),
    "Sub": (),
    "Mul": (),
    "Div": (),
    "Pow": (),
    "Max": (),
    "Min": (),
    "Not": (),
    "Reciprocal": (),
    "BatchNormalization": ("epsilon", "momentum", "training_mode", "spatial"),
    "LayerNormalization": ("axis", "epsilon", "stash_type"),
    "Relu": (),
    "Clip": ("min", "max"),
    "LeakyRelu": ("alpha",),
    "Sigmoid": (),
    "HardSigmoid": ("alpha", "beta"),
    "HardSwish": (),
    "Tanh": (),
    "Erf": (),
    "Gelu": ("approximate",),
    "Elu": ("alpha",),
    "Selu": ("alpha", "gamma"),
    "Softplus": (),
    "PRelu": (),
    "MaxPool": (
        "auto_pad",
        "ceil_mode",
        "dilations",
        "kernel_shape",
        "pads",
        "storage_order",
        "strides",
    ),
    "AveragePool": (
        "auto_pad",
        "ceil_mode",
        "count_include_pad",
        "dilations",
        "kernel_shape",
        "pads",
        "strides",
    ),
    "GlobalAveragePool": (),
    "GlobalMaxPool": (),
    "Flatten": ("axis",),
    "Reshape": ("allowzero",),
    "Squeeze": ("axes",),
    "Unsqueeze": ("axes",),
    "Transpose": ("perm",),
    "Concat": ("axis",),
    "Split": ("axis", "split", "num_outputs"),
    "Pad": ("mode", "pads", "value"),
    "Softmax": ("axis",),
    "LogSoftmax": ("axis",),
    "ReduceMean": ("axes", "keepdims", "noop_with_empty_axes"),
    "ReduceMax": ("axes", "keepdims", "noop_with_empty_axes"),
    "ReduceSum": ("axes", "keepdims", "noop_with_empty_axes"),
    "ReduceMin": ("axes", "keepdims", "noop_with_empty_axes"),
    "ReduceL1": ("axes", "keepdims", "noop_with_empty_axes"),
    "ReduceL2": ("axes", "keepdims", "noop_with_empty_axes"),
    "ReduceLogSumExp": ("axes", "keepdims", "noop_with_empty_axes"),
    "ReduceSumSquare": ("axes", "keepdims", "noop_with_empty_axes"),
    "Resize": (
        "antialias",
        "axes",
        "coordinate_transformation_mode",
        "cubic_coeff_a",
        "exclude_outside",
        "extrapolation_value",
        "keep_aspect_ratio_policy",
        "mode",
        "nearest_mode",
    ),
    "Upsample": ("mode", "scales"),
    "Tile": (),
    "Abs": (),
    "Exp": (),
    "Log": (),
    "Round": (),
    "Sign": (),
    "Mish": (),
    "Celu": ("alpha",),
    "GreaterOrEqual": (),
    "LessOrEqual": (),
    "And": (),
    "Or": (),
    "Xor": (),
    "InstanceNormalization": ("epsilon",),
    "DepthToSpace": ("blocksize", "mode"),
    "SpaceToDepth": ("blocksize",),
    "CumSum": ("exclusive", "reverse"),
    "LRN": ("alpha", "beta", "bias", "size"),
    "QuantizeLinear": ("axis", "saturate", "block_size", "output_dtype", "precision"),
    "DequantizeLinear": ("axis", "block_size"),
    "Identity": (),
    "Dropout": ("ratio", "seed"),
    "Constant": ("value", "value_float", "value_floats", "value_int", "value_ints"),
    "Cast": ("to", "saturate", "round_mode"),
    "Shape": ("start", "end"),
    "Gather": ("axis",),
    "Slice": (),
    "Neg": (),
    "Sqrt": (),
    "ReduceProd": ("axes", "keepdims", "noop_with_empty_axes"),
    "ConstantOfShape": ("value",),
    "Equal": (),
    "Where": (),
    "Expand": (),
    "Greater": (),
    "Less": (),
    "Mod": ("fmod",),
    "If": ("then_branch", "else_branch"),
}

#: ops that run on a view (:meth:`_Importer.on_view`) as on its batch-first tensor
_VIEW_BROADCAST = (
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Pow",
    "Max",
    "Min",
    "Where",
    "Equal",
    "Greater",
    "Less",
    "GreaterOrEqual",
    "LessOrEqual",
    "And",
    "Or",
    "Xor",
)
_VIEW_OPS = (
    *_VIEW_BROADCAST,
    *_PLAIN_ACTIVATIONS,
    *("Relu", "Clip", "LeakyRelu", "HardSigmoid", "Gelu", "Elu", "Selu", "Celu", "PRelu"),
    *("Identity", "Dropout", "Cast", "Neg", "Reciprocal", "Not", "Erfc"),
    *("MatMul", "Gemm", "Softmax", "LogSoftmax", "LayerNormalization"),
    *("Slice", "Split", "Gather", "ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin"),
    *("ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp", "ReduceProd"),
)
#: ops that handle views themselves
_VIEW_SELF = ("Reshape", "Transpose", "Squeeze", "Unsqueeze")

#: ops that only ever compute constants here (shape arithmetic, weight preprocessing)
_CONST_ONLY = (
    "Trilu",
    "Range",
    "ScatterND",
    "Cast",
    "Shape",
    "ConstantOfShape",
    "Mod",
)

#: the batch size inside folded shape tensors (a marker; only a product with, or a
#: quotient by, a constant integer reaches arithmetic: see :func:`_bmark`)
_BATCH = -(2**61) + 12345

#: spacing of the markers of the batch size times m (nn.MultiheadAttention's bsz * heads)
_MARK_STEP = 1 << 24


def _bmark(m):
    """The marker of the batch size times ``m`` (an integer >= 1, or an array of them)."""
    return _BATCH - (np.asarray(m, dtype=np.int64) - 1) * _MARK_STEP


def _bmult(v) -> np.ndarray:
    """For each value of the integer array ``v``: m where it marks the batch size times m,
    else 0."""
    v = np.asarray(v)
    if v.dtype.kind not in "iu":
        return np.zeros(v.shape, dtype=np.int64)
    v = v.astype(np.int64)
    low = _BATCH - (1 << 56)
    d = _BATCH - np.clip(v, low, _BATCH)
    ok = (v <= _BATCH) & (v > low) & (d % _MARK_STEP == 0)
    return np.where(ok, d // _MARK_STEP + 1, 0)


def _said(values) -> list:
    """Shape entries as a message shows them: 'batch', 'batch*4' for the markers."""
    out = []
    for v in np.asarray(values).reshape(-1):
        m = int(_bmult(v))
        out.append(int(v) if not m else "batch" if m == 1 else f"batch*{m}")
    return out


_NHWC = (0, 2, 3, 1)

#: integer range of each quantised type (ONNX TensorProto data type -> (low, high))
_QUANT_RANGES = {
    2: (0, 255),  # uint8
    3: (-128, 127),  # int8
    4: (0, 65535),  # uint16
    5: (-32768, 32767),  # int16
    6: (-(2**31), 2**31 - 1),  # int32 (biases)
    21: (0, 15),  # uint4
    22: (-8, 7),  # int4
}


#: attributes that are flags (0 or 1)
_FLAGS = (
    "keepdims",
    "ceil_mode",
    "count_include_pad",
    "transA",
    "transB",
    "exclusive",
    "reverse",
    "allowzero",
    "noop_with_empty_axes",
    "training_mode",
    "antialias",
    "exclude_outside",
    "select_last_index",
    "is_causal",
    "upper",
)

#: input element types xbar feeds: float32, uint8 (pixels), float16, float64, bfloat16
_INPUT_TYPES = (1, 2, 10, 11, 16)


def _describe_input(vi) -> str:
    """``'name' (int64, batch x 5)``: a graph input's name, element type and shape."""
    from onnx import helper

    tt = vi.type.tensor_type
    dims = [d.dim_param or str(d.dim_value) for d in tt.shape.dim] if tt.HasField("shape") else []
    kind = helper.tensor_dtype_to_string(tt.elem_type).replace("TensorProto.", "").lower()
    return f"{vi.name!r} ({kind}{', ' + ' x '.join(dims) if dims else ''})"


#: ops of other model families, each refused with what to do instead
_REFUSED = {
    ("Loop", "Scan"): (
        "control flow (If/Loop/Scan) is not supported: xbar imports feed-forward graphs",
        "export without data-dependent Python control flow (a traced torch.onnx.export "
        "of the model in eval mode); a constant condition can be folded with "
        "onnxsim or onnxoptimizer",
    ),
    ("QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "QLinearAdd"): (
        "integer operator-format quantisation (QOperator) is not supported",
        "quantise in QDQ format (onnxruntime.quantization.quantize_static(..., "
        "quant_format=QuantFormat.QDQ)) or import the float model: xbar reads the "
        "dequantised weights and fake-quantised activations of QDQ graphs",
    ),
    ("LSTM", "GRU", "RNN"): (
        "recurrent layers are not supported: xbar maps feed-forward layers, each weight "
        "matrix applied once per input, onto its arrays (a recurrent layer applies its "
        "weights once per time step to its own state)",
        "classify sequences with a feed-forward net (nn.Conv1d, nn.Linear, attention "
        "written with MatMul); or keep the recurrent part digital and give xbar the "
        "feed-forward part as its own ONNX graph",
    ),
    ("DynamicQuantizeLinear",): (
        "dynamic quantisation (scales computed from each batch) is not supported",
        "quantise statically in QDQ format (onnxruntime.quantization.quantize_static)",
    ),
}


_CONTRIB_HINT = (
    "com.microsoft ops are onnxruntime's own (its graph optimiser, quantiser and "
    "transformer tools write them); give xbar the model as exported, before optimisation"
)


def _captured(node) -> list[str]:
    """Names the subgraphs of ``node`` (an If's branches) read from outside themselves."""
    out = []
    for a in node.attribute:
        graphs = [a.g] if a.HasField("g") else list(a.graphs)
        for g in graphs:
            inner = {o for n in g.node for o in n.output} | {i.name for i in g.initializer}
            for n in g.node:
                out += [i for i in n.input if i and i not in inner]
                out += [i for i in _captured(n) if i not in inner]
    return out


def _attribute_type_name(kind: int) -> str:
    """``INTS``, ``FLOAT``, ...: the name of an ONNX AttributeProto type number."""
    from onnx import AttributeProto

    try:
        return AttributeProto.AttributeType.Name(kind)
    except ValueError:
        return f"type {kind}"


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _quant_dtype(self: _Importer, zp: np.ndarray | None, attrs: dict) -> int:
    """ONNX data type of a Q/DQ node's integers: its zero point's, else ``output_dtype``,
    else uint8 (the default of QuantizeLinear)."""
    from onnx import helper

    if zp is not None:
        dtype = int(helper.np_dtype_to_tensor_dtype(zp.dtype))
        name = self.node.input[2]
        init = next((i for i in self.graph.initializer if i.name == name), None)
        dtype = init.data_type if init is not None else dtype  # int4 is stored wider
    else:
        dtype = int(attrs.get("output_dtype", 0)) or 2
    if dtype not in _QUANT_RANGES:
        name = helper.tensor_dtype_to_string(dtype) if dtype else "?"
        raise self.fail(
            f"quantisation to {name} is not supported",
            hint="int8, uint8, int16, uint16, int4 and uint4 QDQ graphs are imported",
        )
    return dtype


def require_onnx():
    """The ``onnx`` module, or a :class:`~xbar.errors.ModelError` saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise ModelError(
            "reading and writing ONNX files needs the 'onnx' package",
            hint='pip install "xbar[onnx]" (or pip install onnx)',
        ) from None
    return onnx


def _ident(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def _image_perm(rank: int) -> tuple[int, ...]:
    """Internal layout of an ONNX (N, C, D1, ...) tensor: channels last."""
    return (0, *range(2, rank), 1) if rank > 2 else _ident(rank)


class _Tensor:
    """A dynamic tensor: internal name, ONNX per-sample shape, ONNX->internal permutation."""

    def __init__(self, name: str, shape: tuple[int, ...], perm: tuple[int, ...]):
        self.name, self.shape, self.perm = name, tuple(shape), tuple(perm)

    @property
    def rank(self) -> int:
        return len(self.shape) + 1

    @property
    def internal_shape(self) -> tuple[int, ...]:
        full = (1, *self.shape)
        return tuple(full[p] for p in self.perm)[1:]


class _View(NamedTuple):
    """An ONNX tensor whose batch axis is not first, or is merged with its neighbours
    (attention's (T, B, D) and (T, B*H, d)).  Unmerged, it is ``t`` (the same data as a
    batch-first tensor) with the batch axis moved to axis ``at``; ``group`` = (g0, g1)
    says that the ONNX tensor merges those unmerged axes (the batch's among them) into
    its axis g0."""

    t: _Tensor
    at: int
    group: tuple[int, int] | None
    by: str

    def udims(self) -> list[int]:
        """The unmerged shape, the batch size as its marker."""
        return [*self.t.shape[: self.at], _BATCH, *self.t.shape[self.at :]]

    def dims(self) -> list[int]:
        """The ONNX shape, the merged axis as the marker of the batch times the rest."""
        u = self.udims()
        if self.group is None:
            return u
        g0, g1 = self.group
        rest = math.prod(x for k, x in enumerate(u[g0:g1]) if g0 + k != self.at)
        return [*u[:g0], int(_bmark(rest)), *u[g1:]]

    def m_to_u(self) -> list[list[int]]:
        """For each ONNX axis, the unmerged axes it holds."""
        r = self.t.rank
        if self.group is None:
            return [[k] for k in range(r)]
        g0, g1 = self.group
        return [[k] for k in range(g0)] + [list(range(g0, g1))] + [[k] for k in range(g1, r)]

    def u_to_t(self, k: int) -> int:
        """The batch-first tensor's axis holding unmerged axis ``k``."""
        return 0 if k == self.at else k + 1 if k < self.at else k


class DynamicInputError(ModelError):
    """The graph's input has dynamic dimensions besides the batch (an export with
    ``dynamic_axes`` for the height and width) and no ``input_shape`` was given."""


_SHAPE_HINT = (
    "export with an example input of the real image size (torch.onnx.export(model, "
    "torch.randn(1, C, H, W), ...); only the batch axis may be dynamic)"
)


class _Importer:
    def __init__(
        self,
        graph,
        opset: int,
        source: str,
        input_layout: str | None,
        producer: str = "",
        output: str | None = None,
        input_shape: tuple[int, ...] | None = None,
    ):
        from onnx import numpy_helper

        self.to_array = numpy_helper.to_array
        self.graph, self.opset, self.source = graph, opset, source
        self.input_layout, self.producer, self.output = input_layout, producer, output
        self.given_shape = None if input_shape is None else tuple(int(v) for v in input_shape)
        self.init_names = {i.name for i in graph.initializer}
        self.consts: dict[str, np.ndarray] = {}
        self.tensors: dict[str, _Tensor] = {}
        self.nodes: list[Node] = []
        self.names: set[str] = {INPUT}
        self.transposed: dict[tuple[str, tuple[int, ...]], str] = {}
        self.static_batch: int | None = None
        #: internal names of lowered 1-D outputs -> the rank-4 tensors they reshape
        self.lowered: dict[str, str] = {}
        #: ONNX tensors whose batch axis is not first, or is merged with other axes
        #: (attention's (T, B, D) and (B*H, T, d)): name -> :class:`_View`
        self.views: dict[str, _View] = {}
        #: while an op runs on a view: its ONNX axes -> the batch-first tensor's (None:
        #: the axis that merges the batch), and how many axes the merge hides
        self.axis_map: tuple[int | None, ...] | None = None
        self.axis_shift = 0
        self.node = None

    # -- errors and names ---------------------------------------------------------------
    def fail(self, what: str, hint: str | None = None) -> ModelError:
        n = self.node
        where = (
            f"{self.source}: node {n.name or '(unnamed)'!r} (op {n.op_type})" if n else self.source
        )
        return ModelError(
            f"{where}: {what}", hint=hint or "supported ops: " + ", ".join(sorted(SUPPORTED_OPS))
        )

    def fresh(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.\-]+", ".", base.strip("/")).strip(".") or "node"
        name, k = base, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def emit(self, layer: Layer, inputs: list[str]) -> str:
        self.nodes.append(Node(layer, tuple(inputs)))
        return layer.name

    # -- inputs -------------------------------------------------------------------------
    def attrs(self) -> dict:
        from onnx import helper

        out = {}
        allowed = SUPPORTED_OPS[self.node.op_type]
        for a in self.node.attribute:
            if a.name not in allowed:
                raise self.fail(
                    f"attribute {a.name!r} is not supported",
                    hint=f"{self.node.op_type} supports attributes "
                    f"{', '.join(allowed) or '(none)'}",
                )
            expected = self.attribute_type(a.name)
            if expected == 0:
                raise self.fail(
                    f"attribute {a.name!r} is not defined for {self.node.op_type} at the "
                    f"graph's opset {self.opset}",
                    hint="onnxruntime refuses it too: export again, or fix the opset_import",
                )
            if expected is not None and a.type != expected:
                names = _attribute_type_name
                raise self.fail(
                    f"attribute {a.name!r} is of type {names(a.type)}, but "
                    f"{self.node.op_type} takes {names(expected)}",
                    hint="the file is corrupted or was not written by an exporter",
                )
            out[a.name] = helper.get_attribute_value(a)
            if a.name in _FLAGS and out[a.name] not in (0, 1):
                raise self.fail(
                    f"attribute {a.name}={out[a.name]} must be 0 or 1",
                    hint="the file is corrupted or was not written by an exporter "
                    "(onnxruntime reads values other than 1 as 0)",
                )
        return out

    def check_opset(self, op: str) -> None:
        """Refuse an op the graph's opset does not define (Mish in an opset-13 graph) or
        has deprecated (Upsample from opset 10): onnxruntime refuses such graphs too."""
        from onnx import defs

        if op == "Erfc" and self.producer == "tf2onnx":
            return  # not an ONNX op, but what tf2onnx writes for Keras' exact GELU
        try:
            schema = defs.get_schema(op, self.opset)
        except Exception:  # noqa: BLE001 - SchemaError: not defined at this opset
            first = min(
                (s.since_version for s in defs.get_all_schemas_with_history() if s.name == op),
                default=None,
            )
            raise self.fail(
                f"op {op!r} is not defined at the graph's opset {self.opset}"
                + (f" (it exists from opset {first})" if first else ""),
                hint="export again with a newer opset (opset_version=...), or fix the "
                "opset_import of the file",
            ) from None
        if schema.deprecated:
            raise self.fail(
                f"op {op!r} is deprecated at opset {self.opset}",
                hint="Upsample became Resize at opset 10; export again"
                if op == "Upsample"
                else None,
            )

    def attribute_type(self, name: str) -> int | None:
        """The AttributeProto type the op's schema (at the graph's opset) gives ``name``:
        0 when the schema has no such attribute, None when there is no schema."""
        from onnx import defs

        try:
            schema = defs.get_schema(self.node.op_type, self.opset, self.node.domain or "")
        except Exception:  # noqa: BLE001 - SchemaError: op unknown at this opset
            return None
        spec = schema.attributes.get(name)
        return 0 if spec is None else int(spec.type.value)

    def const(self, i: int, optional: bool = False) -> np.ndarray | None:
        ins = self.node.input
        if i >= len(ins) or not ins[i]:
            if optional:
                return None
            raise self.fail(f"input {i} is missing")
        if ins[i] not in self.consts:
            if optional is None:
                return None
            raise self.fail(
                f"input {i} ({ins[i]!r}) must be a constant (an initializer or a "
                "folded constant), but it depends on the network input"
            )
        return self.consts[ins[i]]

    def weight(self, i: int, optional: bool = False) -> np.ndarray | None:
        """Constant input ``i`` as float64 (a weight, bias or statistic); NaN or infinite
        values are refused naming the tensor (the initializer) and the index in ONNX order."""
        w = self.const(i, optional=optional)
        if w is None:
            return None
        w = w.astype(float)
        bad = ~np.isfinite(w)
        if bad.any():
            at = tuple(int(k) for k in np.argwhere(bad)[0])
            kind = "initializer" if self.node.input[i] in self.init_names else "constant"
            raise self.fail(
                f"input {i}, {kind} {self.node.input[i]!r} of shape {w.shape}, holds "
                f"{'NaN' if np.isnan(w[at]) else w[at]} at index {at} "
                f"({int(bad.sum())} non-finite value(s))",
                hint="the exported model is broken (weights trained to NaN or a corrupted "
                "file); re-export it from a checkpoint with finite weights",
            )
        return w

    def axis(self, a, rank: int) -> int:
        """Axis ``a`` of a rank-``rank`` tensor as 0..rank-1; outside [-rank, rank) refused
        (onnxruntime refuses such graphs; wrapping them round gave another axis).  While an
        op runs on a view, ``a`` is an axis of the view, the result the batch-first one's."""
        a, rank = int(a), rank - (self.axis_shift if self.axis_map is not None else 0)
        if not -rank <= a < rank:
            raise self.fail(f"axis {a} is outside a rank-{rank} tensor (axes -{rank}..{rank - 1})")
        if self.axis_map is None:
            return a % rank
        if self.axis_map[a % rank] is None:
            raise self.fail(
                f"axis {a} merges the batch with other axes; {self.node.op_type} over it "
                "is not supported"
            )
        return self.axis_map[a % rank]

    def dyn(self, i: int) -> _Tensor:
        name = self.node.input[i]
        if name in self.views:
            v = self.views[name]
            how = f"moved to axis {v.at}" if v.group is None else "merged with other axes"
            raise self.fail(
                f"input {i} ({name!r}) has its batch axis {how} (by node {v.by!r}); only "
                "reshapes, transposes, element-wise ops, MatMul/Gemm with a constant weight, "
                "Softmax, LayerNormalization, reductions and Split/Slice/Gather on other axes "
                f"may use such a tensor until the batch axis is first again, not "
                f"{self.node.op_type}",
                hint="nn.MultiheadAttention (and nn.Transformer*) compute attention with the "
                "batch axis second; write attention batch first (q, k, v = qkv.chunk(3, -1); "
                "q.reshape(B, T, H, d).transpose(1, 2); q @ k.transpose(-2, -1))",
            )
        if name not in self.tensors:
            raise self.fail(f"input {i} ({name!r}) is not a tensor computed from the network input")
        return self.tensors[name]

    def is_const(self, i: int) -> bool:
        ins = self.node.input
        return i >= len(ins) or not ins[i] or ins[i] in self.consts

    def as_perm(self, t: _Tensor, perm: tuple[int, ...]) -> str:
        """Internal name of ``t`` laid out as ``onnx.transpose(perm)`` (adds a Transpose)."""
        if t.perm == perm:
            return t.name
        inv = np.argsort(t.perm)
        r = tuple(int(inv[p]) for p in perm)  # internal_in.transpose(r) == onnx.transpose(perm)
        key = (t.name, r)  # by the move of the internal data: tensors share internal names
        if key not in self.transposed:
            full = (2, *t.shape)  # the batch axis counts as long
            if [p for p in t.perm if full[p] != 1] == [p for p in perm if full[p] != 1]:
                # only size-1 axes move (e.g. (C, 1, 1) <-> (1, 1, C)): a reshape will do
                shape = tuple(full[p] for p in perm)[1:]
                layer = Reshape(shape, name=self.fresh(f"{t.name}.reshape"))
            else:
                layer = Transpose([k - 1 for k in r[1:]], name=self.fresh(f"{t.name}.transpose"))
            self.transposed[key] = self.emit(layer, [t.name])
        return self.transposed[key]

    def out(self, name: str, shape, perm, i: int = 0) -> None:
        shape = self.plausible(shape)
        self.tensors[self.node.output[i]] = _Tensor(name, shape, perm)

    def plausible(self, shape) -> tuple[int, ...]:
        """``shape`` (per sample), refused when it holds more than MAX_SAMPLE_ELEMENTS (a
        corrupted size, a Tile/Resize/Pad/Expand by a huge factor): evaluating it would
        exhaust the memory before any error."""
        shape = tuple(int(s) for s in shape)
        if math.prod(shape) > MAX_SAMPLE_ELEMENTS:
            raise self.fail(
                f"its output would hold {math.prod(shape):.3g} values per image (shape "
                f"{shape}); more than {MAX_SAMPLE_ELEMENTS:.3g} is not a plausible classifier",
                hint="the file is corrupted, or a size or scale in it is far too large",
            )
        return shape

    def check_outputs(self, used: int = 1) -> None:
        for extra in self.node.output[used:]:
            if extra and extra in self.needed:
                raise self.fail(
                    f"output {extra!r} is used, but only the first output of "
                    f"{self.node.op_type} is supported"
                )

    # -- driver -------------------------------------------------------------------------
    def run(self, name: str) -> Model:
        g = self.graph
        inp = self.graph_input()
        choice = pick_output(g, self.output, self.source)
        self.needed = self.needed_names(choice.tensor)
        for init in g.initializer:  # only what the output needs (an unused one stays unread)
            if init.name in self.needed:
                self.consts[init.name] = self.array(init)
        order = sorted_nodes(g, {i.name for i in g.input} | self.init_names, self.source)
        self.order = order
        order = [n for n in order if any(o in self.needed for o in n.output)]
        for node in order:  # an unsupported op is named first, not a shape computation
            self.node = node  # before it that fails for want of it (an LSTM's zero state)
            self.check_supported()
        for node in order:
            self.node = node
            try:
                self.convert()
            except XbarError:
                raise
            except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
                # a malformed node (wrong input count, empty attribute): named, not a traceback
                raise self.fail(
                    f"malformed node ({type(exc).__name__}: {exc})",
                    hint="the file is corrupted or was not written by an exporter",
                ) from None
        self.node = None
        out = self.output_tensor(choice, inp)
        meta = {
            "source": "onnx",
            "file": Path(self.source).name,
            "opset": self.opset,
            "onnx_input": inp,
            "onnx_output": choice.tensor,
            "input_layout": self.layout,
            "producer": self.producer,
        }
        if choice.argmax:
            meta["onnx_argmax"] = (
                f"the graph output {choice.argmax!r} is the ArgMax of these logits"
            )
        if choice.note:
            meta["onnx_outputs"] = choice.note
        if self.input_dtype == 2:
            meta["input_pixels"] = "uint8 (images in [0, 1] are multiplied by 255)"
        nodes = self.prune(out.name)
        if not nodes:
            raise self.fail("the graph computes nothing from its input")
        model = Model(nodes, self.tensors[inp].internal_shape, out.shape[0], name=name, meta=meta)
        _check_values(model, self.source)
        if getattr(self, "model", None) is not None:  # what xbar reads, onnxruntime must too
            check_types(self.model, self.source, self.order)
        return model

    def output_tensor(self, choice, inp: str) -> _Tensor:
        """The imported logits tensor (per-sample shape ``(classes,)``)."""
        what = f"the graph output {choice.tensor!r}"
        if choice.argmax:
            what = (
                f"the logits {choice.tensor!r} (the input of the ArgMax giving {choice.argmax!r})"
            )
        out = self.tensors.get(choice.tensor)
        if out is None:
            if choice.tensor in self.consts:
                raise self.fail(f"{what} does not depend on the input {inp!r}")
            if choice.tensor in self.views:
                v = self.views[choice.tensor]
                where = f"on axis {v.at}" if v.group is None else "merged with other axes"
                raise self.fail(f"{what} has its batch axis {where} (by node {v.by!r})")
            raise self.fail(f"{what} is not computed by any node")
        if len(out.shape) != 1:
            raise self.fail(f"{what} has per-sample shape {out.shape}, expected (classes,) logits")
        if choice.argmax and choice.axis % 2 != 1:
            raise self.fail(
                f"the ArgMax giving {choice.argmax!r} takes axis {choice.axis} of "
                f"(batch, {out.shape[0]}) logits; only the class axis (1 or -1) is supported"
            )
        return out

    def needed_names(self, output: str) -> set[str]:
        producers = {o: n for n in self.graph.node for o in n.output}
        need, stack = set(), [output]
        while stack:
            t = stack.pop()
            if t in need:
                continue
            need.add(t)
            n = producers.get(t)
            if n is not None:
                stack.extend(i for i in n.input if i)
                stack.extend(_captured(n))
        return need

    def prune(self, output: str) -> list[Node]:
        keep, stack = set(), [output]
        by_name = {n.output: n for n in self.nodes}
        while stack:
            t = stack.pop()
            if t in keep or t == INPUT:
                continue
            keep.add(t)
            stack.extend(by_name[t].inputs)
        nodes = [n for n in self.nodes if n.output in keep]
        # the output node must come last (it does: nodes are appended in graph order)
        if nodes and nodes[-1].output != output:
            raise self.fail("the output is not computed by the last node")
        return nodes

    def array(self, tensor) -> np.ndarray:
        try:
            return np.asarray(self.to_array(tensor))
        except Exception as exc:  # noqa: BLE001 - external data missing, bad types
            raise ModelError(
                f"{self.source}: cannot read initializer {tensor.name!r}: {exc}",
                hint="external-data files must sit next to the .onnx file",
            ) from None

    def graph_input(self) -> str:
        real = [i for i in self.graph.input if i.name not in self.init_names]
        if len(real) != 1:
            raise self.fail(
                f"the graph has {len(real)} non-constant inputs "
                f"({', '.join(_describe_input(i) for i in real)}), expected one "
                "image/feature input",
                hint="an image classifier takes one input tensor; export the others as "
                "constants (initializers)",
            )
        inp = real[0]
        tt = inp.type.tensor_type
        if tt.elem_type not in _INPUT_TYPES:
            raise self.fail(
                f"input {_describe_input(inp)} is not a float or uint8 image/feature tensor"
                + (
                    " (integer ids, e.g. the tokens of a text model?)"
                    if tt.elem_type in (6, 7)
                    else ""
                ),
                hint="xbar evaluates image and feature-vector classifiers: the input must be "
                "float (float32/float16/float64) or uint8 pixels",
            )
        if not tt.HasField("shape"):
            raise self.fail(f"input {inp.name!r} has no shape", hint=_SHAPE_HINT)
        dims = [
            int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in tt.shape.dim
        ]
        if len(dims) < 2:
            raise self.fail(
                f"input {inp.name!r} has shape {dims}; expected (batch, ...)", hint=_SHAPE_HINT
            )
        layout = self.input_layout
        if layout is None:
            layout = self.default_layout(inp.name, len(dims))
        if layout not in ("NCHW", "NHWC", "flat"):
            raise ModelError(f"input_layout {layout!r}: expected 'NCHW', 'NHWC' or None")
        self.layout = layout
        perm = _NHWC if (layout == "NCHW" and len(dims) == 4) else _ident(len(dims))
        dims[1:] = self.sized_input(inp, tt, dims, perm)
        self.static_batch = dims[0]
        per = self.plausible(dims[1:])
        self.tensors[inp.name] = _Tensor(INPUT, per, perm)
        self.input_dtype = tt.elem_type
        self.onnx_input = inp.name
        if tt.elem_type == 2:  # uint8 pixels 0..255; xbar's images are scaled to [0, 1]
            scale = ConstOp(
                "mul", (1,) * len(dims), np.full((1,) * len(dims), 255.0), name="pixels_255"
            )
            self.tensors[inp.name] = _Tensor(self.emit(scale, [INPUT]), per, perm)
        return inp.name

    def sized_input(self, inp, tt, dims: list, perm: tuple[int, ...]) -> list[int]:
        """The input's per-sample dimensions (ONNX order): dynamic ones besides the batch
        from ``input_shape`` (given in xbar's layout), which must fit the static ones."""
        if self.given_shape is None:
            for k, d in enumerate(dims[1:], 1):
                if d is None:
                    raise DynamicInputError(
                        f"{self.source}: input {inp.name!r} has a dynamic dimension {k} "
                        f"({tt.shape.dim[k].dim_param or '?'}); only the batch axis may be "
                        "dynamic unless the input's size is given",
                        hint="give the size of the data: load_onnx(path, input_shape=(H, W, "
                        "C)) (xbar infer takes it from --dataset), or export with a fixed "
                        "image size",
                    )
            return dims[1:]
        inv = np.argsort(perm)  # internal (given) axis of each ONNX axis
        full = (None, *self.given_shape)
        if len(full) != len(dims):
            raise self.fail(
                f"input_shape {self.given_shape} has {len(full) - 1} axes; the input "
                f"{inp.name!r} has {len(dims) - 1} per sample"
            )
        given = [full[int(inv[k])] for k in range(1, len(dims))]
        if any(d is not None and d != g for d, g in zip(dims[1:], given, strict=True)):
            said = ["?" if d is None else d for d in dims[1:]]
            raise self.fail(
                f"input_shape {self.given_shape} (as ONNX {given}) does not fit the input "
                f"{inp.name!r} of per-sample shape {said}"
            )
        return given

    def default_layout(self, inp: str, rank: int) -> str:
        """NHWC for a rank-4 input that tf2onnx wrote (Keras is channels-last) or that
        only feeds Transposes to NCHW; else NCHW for rank 4 and flat otherwise."""
        if rank != 4:
            return "flat"
        if self.producer == "tf2onnx":
            return "NHWC"
        consumers = self.first_consumers(inp)
        to_nchw = [[0, 3, 1, 2]]
        if consumers and all(
            n.op_type == "Transpose"
            and [a.ints for a in n.attribute if a.name == "perm"] == to_nchw
            for n in consumers
        ):
            return "NHWC"
        return "NCHW"

    def first_consumers(self, inp: str) -> list:
        """The nodes that use ``inp``, looking through the element-wise ops that keep its
        layout (``Cast -> Div 255 -> Transpose`` of a model taking uint8 NHWC images)."""
        passthrough = ("Cast", "Identity", "Add", "Sub", "Mul", "Div", "Relu")
        consts = set(self.init_names) | {
            o for n in self.graph.node if n.op_type == "Constant" for o in n.output
        }
        nodes = list(self.graph.node)
        seen, frontier, out = set(), [inp], []
        while frontier:
            name = frontier.pop()
            for k, n in enumerate(nodes):
                if name not in n.input or k in seen:
                    continue
                seen.add(k)
                others = [i for i in n.input if i and i != name]
                if n.op_type in passthrough and all(i in consts for i in others):
                    frontier.extend(n.output)
                else:
                    out.append(n)
        return out

    def check_supported(self) -> None:
        """Refuse the current node's op if it is not imported at all."""
        op = self.node.op_type
        for ops, (what, hint) in _REFUSED.items():
            if op in ops:
                raise self.fail(f"op {op!r}: {what}", hint=hint)
        if self.node.domain not in ("", "ai.onnx") or op not in SUPPORTED_OPS:
            raise self.fail(
                f"op {op!r}"
                + (
                    f" of domain {self.node.domain!r}"
                    if self.node.domain not in ("", "ai.onnx")
                    else ""
                )
                + " is not supported",
                hint=_CONTRIB_HINT if self.node.domain == "com.microsoft" else None,
            )

    def convert(self) -> None:
        op = self.node.op_type
        self.check_supported()
        self.check_opset(op)
        attrs = self.attrs()
        ins = [i for i in self.node.input if i]
        if op == "Constant":
            self.consts[self.node.output[0]] = self.constant_value(attrs)
            return
        if op == "Shape" and ins[0] not in self.consts:
            if ins[0] in self.views:  # the batch size where the batch axis went
                dims = self.views[ins[0]].dims()
            else:
                dims = [_BATCH, *self.dyn(0).shape]
            full = np.array(dims, dtype=np.int64)
            self.consts[self.node.output[0]] = full[attrs.get("start", 0) : attrs.get("end")]
            return
        if all(i in self.consts for i in ins) and op != "If":  # an If's branch reads more
            if op in ("Expand", "ConstantOfShape") and self.batch_constant(op, attrs):
                return
            if op == "Split":  # nn.MultiheadAttention's in_proj_weight split into q, k, v
                return self.fold_split(attrs)
            self.consts[self.node.output[0]] = self.fold(op, attrs)
            return
        if any(i in self.views for i in ins) and op not in _VIEW_SELF:
            if op not in _VIEW_OPS:
                self.dyn(next(k for k, i in enumerate(self.node.input) if i in self.views))
            return self.on_view(lambda a: self.dispatch(op, a), attrs)
        self.dispatch(op, attrs)

    def dispatch(self, op: str, attrs: dict) -> None:
        """Convert the current node (its inputs not all constants)."""
        ins = [i for i in self.node.input if i]
        if op in _CONST_ONLY:
            if op == "Cast" and ins[0] in self.tensors and attrs.get("to") in (1, 10, 11):
                return self.alias()
            if op == "Cast" and ins[0] in self.tensors and attrs.get("to") == 9:  # to bool
                t = self.dyn(0)
                zero = np.zeros((1,) * t.rank)
                layer = ConstOp("not_equal", zero.shape, zero, name=self.name_for("to_bool"))
                return self.out(self.emit(layer, [t.name]), t.shape, t.perm)
            raise self.fail(
                f"{op} is only supported on constants (here its input depends on the network input)"
            )
        if op in _PLAIN_ACTIVATIONS:
            kind = _PLAIN_ACTIVATIONS[op]
            return self.unary(Activation(kind, name=self.name_for(kind)))
        getattr(self, "op_" + op)(attrs)

    def fold_split(self, attrs: dict) -> None:
        """Split of a constant (a weight cut into parts) into its outputs."""
        x = np.asarray(self.const(0))
        if x.ndim == 0:
            raise self.fail("Split of a scalar")
        axis = self.axis(attrs.get("axis", 0), x.ndim)
        n_out, size = len(self.node.output), x.shape[axis]
        if int(attrs.get("num_outputs", n_out)) != n_out:
            raise self.fail(f"num_outputs={attrs['num_outputs']} but the node has {n_out} outputs")
        sizes = attrs.get("split")
        if sizes is None and self.node.input[1:2] and self.node.input[1]:
            sizes = self.const(1).reshape(-1)
        if sizes is None:
            part = -(-size // n_out)
            sizes = [min(part, size - k * part) for k in range(n_out)]
        sizes = [int(v) for v in sizes]
        if len(sizes) != n_out or sum(sizes) != size or min(sizes) < 0:
            raise self.fail(f"split sizes {sizes} do not cut axis {axis} of size {size}")
        parts = np.split(x, np.cumsum(sizes)[:-1], axis=axis)
        for out, part in zip(self.node.output, parts, strict=True):
            if out:
                self.consts[out] = part

    def batch_constant(self, op: str, attrs: dict) -> bool:
        """An Expand/ConstantOfShape of constants to a shape that holds the batch size
        (a ViT's ``cls_token.expand(x.shape[0], -1, -1)``, ``torch.zeros(x.size(0), k)``):
        the constant repeated for every sample, a tensor of the network.  False when the
        shape does not hold the batch size (an ordinary constant)."""
        shape = np.asarray(self.consts[self.node.input[1 if op == "Expand" else 0]])
        if shape.dtype.kind not in "iu" or not (shape == _BATCH).any():
            return False
        shape = [int(v) for v in shape.reshape(-1)]
        said = ["batch" if v == _BATCH else v for v in shape]
        if op == "ConstantOfShape":
            value = attrs.get("value")
            x = np.asarray(0.0 if value is None else self.to_array(value)).reshape(-1)[:1]
            x = x.reshape((1,) * len(shape))
        else:
            x = np.asarray(self.consts[self.node.input[0]])
        rank = max(len(shape), x.ndim)
        a = [1] * (rank - x.ndim) + list(x.shape)
        b = [1] * (rank - len(shape)) + shape
        if _BATCH in b[1:] or b[0] != _BATCH or a[0] != 1:
            raise self.fail(
                f"{op} to shape {said}: the batch "
                "size is not the first axis of the result; not supported"
            )
        if any(v < 0 for v in b[1:]) or any(
            p != q and 1 not in (p, q) for p, q in zip(a, b, strict=True)
        ):
            raise self.fail(f"{op} of shape {x.shape} to {said}: the shapes do not broadcast")
        per = self.plausible([max(p, q) for p, q in zip(a[1:], b[1:], strict=True)])
        if x.dtype.kind not in "fiub":
            raise self.fail(f"{op} of a {x.dtype} constant over the batch is not supported")
        c = np.broadcast_to(x.reshape(a).astype(float), (1, *per))
        self.out(self.per_sample(c, self.node.name or op.lower()).name, per, _ident(len(per) + 1))
        return True

    def per_sample(self, c: np.ndarray, base: str) -> _Tensor:
        """A network tensor holding the constant ``c`` (ONNX shape ``(1, ...)``) for every
        sample: ``fill`` of a (batch, 1, ..., 1) tensor taken from the input's batch size."""
        src = self.tensors[self.onnx_input]
        key = ("batch", c.ndim)
        if key not in self.transposed:  # (batch, 1, ..., 1) from the input, for its batch size
            r = src.rank - 1
            red = ReduceMax(tuple(range(r)), keepdims=True, name=self.fresh("batch_size"))
            one = Reshape((1,) * (c.ndim - 1), name=self.fresh("batch_size.reshape"))
            self.transposed[key] = self.emit(one, [self.emit(red, [src.name])])
        layer = ConstOp("fill", c.shape, c.astype(float), name=self.fresh(base))
        name = self.emit(layer, [self.transposed[key]])
        return _Tensor(name, self.plausible(c.shape[1:]), _ident(c.ndim))

    def alias(self, attrs=None) -> None:
        t = self.dyn(0)
        self.check_outputs(1)
        self.tensors[self.node.output[0]] = t

    op_Identity = alias

    def op_If(self, attrs):
        """An If whose condition folds to a constant (TorchScript's squeeze of an axis
        whose size the export checks, in nn.LocalResponseNorm): the taken branch's nodes
        are imported in its place.  A condition computed from the data is refused."""
        if not self.is_const(0):
            raise self.fail(
                "control flow (If/Loop/Scan) is not supported: xbar imports feed-forward "
                "graphs (this If's condition depends on the network input)",
                hint=_REFUSED[("Loop", "Scan")][1],
            )
        outer = self.node
        branch = attrs[
            "then_branch" if bool(np.asarray(self.const(0)).reshape(-1)[0]) else "else_branch"
        ]
        if len(branch.output) != len(outer.output):
            raise self.fail(
                f"the branch has {len(branch.output)} outputs, the If {len(outer.output)}"
            )
        for node in sorted_nodes(branch, set(self.consts) | set(self.tensors), self.source):
            self.node = node
            self.check_supported()
            self.convert()
        self.node = outer
        for out, inner in zip(outer.output, branch.output, strict=True):
            for table in (self.consts, self.tensors, self.views):
                if inner.name in table:
                    table[out] = table[inner.name]

    def op_Dropout(self, attrs):
        training = self.const(2, optional=True) if len(self.node.input) > 2 else None
        if training is not None and bool(np.asarray(training).reshape(-1)[0]):
            ratio = self.const(1, optional=True)
            if ratio is None or float(np.asarray(ratio).reshape(-1)[0]) > 0:
                raise self.fail(
                    "training_mode=True (random dropout at every run) is not supported",
                    hint="export the model in eval mode (model.eval() before torch.onnx.export)",
                )
        self.alias()

    def constant_value(self, attrs: dict) -> np.ndarray:
        if "value" in attrs:
            return np.asarray(self.to_array(attrs["value"]))
        for key, dtype in (
            ("value_float", np.float32),
            ("value_floats", np.float32),
            ("value_int", np.int64),
            ("value_ints", np.int64),
        ):
            if key in attrs:
                return np.asarray(attrs[key], dtype=dtype)
        raise self.fail("Constant without a supported value attribute")

    # -- matmul ops -----------------------------------------------------------------------
    def spatial(self, attrs: dict, t: _Tensor, kernel: tuple[int, int], what: str):
        """Strides, (top, left, bottom, right) pads and dilations of a 2-D window op."""
        if t.rank != 4:
            raise self.fail(
                f"{what} on a rank-{t.rank} tensor; only 2-D images (N, C, H, W) are supported"
            )
        strides = tuple(attrs.get("strides", (1, 1)))
        dil = tuple(attrs.get("dilations", (1, 1)))
        auto = attrs.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else str(auto)
        if auto in ("NOTSET", ""):
            p = tuple(attrs.get("pads", (0, 0, 0, 0)))
            pads = (p[0], p[1], p[2], p[3])
        elif auto == "VALID":
            pads = (0, 0, 0, 0)
        elif auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = [0, 0, 0, 0]
            for ax, size in enumerate(t.shape[1:3]):
                out = -(-size // strides[ax])
                total = max(0, (out - 1) * strides[ax] + (kernel[ax] - 1) * dil[ax] + 1 - size)
                small, big = total // 2, total - total // 2
                pads[ax], pads[ax + 2] = (small, big) if auto == "SAME_UPPER" else (big, small)
            pads = tuple(pads)
        else:
            raise self.fail(f"auto_pad {auto!r} is not supported")
        if len(strides) != 2 or len(dil) != 2:
            raise self.fail("strides and dilations must have two entries (2-D)")
        return strides, pads, dil

    # -- 1-D window ops (Conv1d, MaxPool1d, AvgPool1d, BatchNorm1d) -----------------------
    def lift_1d(self, t: _Tensor, attrs: dict | None = None) -> tuple[_Tensor, dict]:
        """A rank-3 (N, C, L) tensor as the rank-4 (N, C, 1, L) image its 2-D twin takes, and
        a 1-D op's window attributes as 2-D ones (a height-1 window).  The internal (L, C)
        layout becomes (1, L, C) by a reshape (none when ``t`` was just lowered)."""
        a = dict(attrs or {})
        for key, n in (("kernel_shape", 1), ("strides", 1), ("dilations", 1), ("pads", 2)):
            if key in a:
                v = tuple(int(k) for k in a[key])
                if len(v) != n:
                    raise self.fail(f"{key} {list(v)} on a 1-D input (N, C, L): expected {n}")
                a[key] = (1, *v) if n == 1 else (0, v[0], 0, v[1])
        C, L = t.shape
        if t.name in self.lowered:
            return _Tensor(self.lowered[t.name], (C, 1, L), _NHWC), a
        x = self.as_perm(t, (0, 2, 1))
        name = self.emit(Reshape((1, L, C), name=self.fresh(f"{t.name}.as_2d")), [x])
        return _Tensor(name, (C, 1, L), _NHWC), a

    def lower_1d(self) -> None:
        """The rank-4 (N, M, 1, L') output just computed by a lifted op as the node's
        rank-3 (N, M, L') output (internal (L', M)); :meth:`lift_1d` undoes it for free."""
        t = self.tensors[self.node.output[0]]
        (M, _, L), lifted = t.shape, t.name
        name = self.emit(Reshape((L, M), name=self.fresh(f"{lifted}.as_1d")), [lifted])
        self.lowered[name] = lifted
        self.out(name, (M, L), (0, 2, 1))

    def window_1d(self, attrs: dict, handler) -> bool:
        """Run ``handler(attrs, lifted)`` for a 1-D window op; False for a 2-D one."""
        t = self.dyn(0)
        if t.rank != 3:
            return False
        lifted, a = self.lift_1d(t, attrs)
        handler(a, lifted)
        self.lower_1d()
        return True

    def op_Conv(self, attrs):
        W = self.weight(1)
        t = self.dyn(0)
        if W.ndim != t.rank or W.ndim not in (3, 4):
            raise self.fail(
                f"weight of rank {W.ndim} on an input of rank {t.rank}; 1-D (N, C, L) and "
                "2-D (N, C, H, W) convolutions are supported"
            )
        if not self.window_1d(attrs, lambda a, lifted: self.conv(a, lifted, W[:, :, None, :])):
            self.conv(attrs, t, W)

    def op_ConvTranspose(self, attrs):
        """A transposed convolution (nn.ConvTranspose2d, Keras Conv2DTranspose) as what it
        is: zeros put between the input's pixels (the stride), padding, and a convolution
        with the kernel flipped and its channel axes swapped, which goes on the arrays."""
        W, t = self.weight(1), self.dyn(0)
        if t.rank != 4 or W.ndim != 4:
            raise self.fail(f"a rank-{t.rank} input; 2-D (N, C, H, W) transposed convolutions only")
        cin, cog, kh, kw = W.shape
        g = int(attrs.get("group", 1))
        if g < 1 or cin != t.shape[0] or cin % g:
            raise self.fail(f"weight of shape {W.shape} with group={g} on {t.shape[0]} channels")
        if "kernel_shape" in attrs and tuple(attrs["kernel_shape"]) != (kh, kw):
            raise self.fail(f"kernel_shape {attrs['kernel_shape']} does not match the weight")
        s, d = tuple(attrs.get("strides", (1, 1))), tuple(attrs.get("dilations", (1, 1)))
        op = tuple(attrs.get("output_padding", (0, 0)))
        if min(*s, *d) < 1 or min(op) < 0 or any(o >= a for o, a in zip(op, s, strict=True)):
            raise self.fail(
                f"strides {s}, dilations {d}, output_padding {op}: out of range (the output "
                "padding must be smaller than the stride, as onnxruntime requires)"
            )
        auto = _text(attrs.get("auto_pad", "NOTSET"))
        if auto not in ("NOTSET", "VALID", ""):
            raise self.fail(f"auto_pad={auto} is not supported (explicit pads or VALID are)")
        pads = [0, 0, 0, 0] if auto == "VALID" else [int(v) for v in attrs.get("pads", [0] * 4)]
        k, n = (kh, kw), t.shape[1:]
        if "output_shape" in attrs:  # the spec's split of the total padding (NOTSET)
            out = [int(v) for v in attrs["output_shape"]][-2:]
            total = [s[i] * (n[i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 - out[i] for i in (0, 1)]
            if min(total) < 0:
                raise self.fail(
                    f"output_shape {out} is larger than the transposed convolution gives "
                    f"without padding; onnxruntime refuses it"
                )
            pads = [total[0] - total[0] // 2, total[1] - total[1] // 2]
            pads += [total[0] // 2, total[1] // 2]
        if len(pads) != 4 or min(pads) < 0:
            raise self.fail(f"pads {pads}: four values >= 0 expected")
        x = self.stuffed(t, s)
        before = [d[i] * (k[i] - 1) - pads[i] for i in (0, 1)]
        after = [d[i] * (k[i] - 1) - pads[i + 2] + op[i] - (s[i] - 1) for i in (0, 1)]
        if min(before + after) < 0:  # more padding than the kernel reaches: a crop
            size = (n[0] * s[0], n[1] * s[1])
            cut = [(max(0, -before[i]), size[i] - max(0, -after[i]), 1) for i in (0, 1)]
            if any(a >= b for a, b, _ in cut):
                raise self.fail(f"pads {pads} leave nothing of the output")
            crop = Slice([*cut, (0, None, 1)], name=self.name_for("convtranspose.crop"))
            x = _Tensor(self.emit(crop, [x.name]), (cin, *(b - a for a, b, _ in cut)), _NHWC)
        cig = cin // g
        flip = [W[j * cig : (j + 1) * cig, :, ::-1, ::-1].transpose(1, 0, 2, 3) for j in range(g)]
        conv = {"pads": [*(max(v, 0) for v in before), *(max(v, 0) for v in after)]}
        self.conv({**conv, "dilations": list(d), "group": g}, x, np.concatenate(flip, axis=0))

    def stuffed(self, t: _Tensor, s: tuple[int, int]) -> _Tensor:
        """``t`` (N, C, H, W) with s - 1 zeros after each pixel along each axis (internal
        NHWC: a reshape to (H, 1, W, 1, C), a pad of the size-1 axes, a reshape back)."""
        C, H, W = t.shape
        x = self.as_perm(t, _NHWC)
        if s == (1, 1):
            return _Tensor(x, t.shape, _NHWC)
        split = Reshape((H, 1, W, 1, C), name=self.name_for("convtranspose.split"))
        zeros = [(0, 0), (0, s[0] - 1), (0, 0), (0, s[1] - 1), (0, 0)]
        pad = Pad(zeros, name=self.name_for("convtranspose.zeros"))
        join = Reshape((H * s[0], W * s[1], C), name=self.name_for("convtranspose.join"))
        y = self.emit(join, [self.emit(pad, [self.emit(split, [x])])])
        return _Tensor(y, (C, H * s[0], W * s[1]), _NHWC)

    def conv(self, attrs: dict, t: _Tensor, W: np.ndarray) -> None:
        b = self.weight(2, optional=True)
        M, cig, kh, kw = W.shape
        group = int(attrs.get("group", 1))
        if "kernel_shape" in attrs and tuple(attrs["kernel_shape"]) != (kh, kw):
            raise self.fail(f"kernel_shape {attrs['kernel_shape']} does not match the weight")
        strides, pads, dil = self.spatial(attrs, t, (kh, kw), "Conv")
        C = t.shape[0]
        if cig * group != C:
            raise self.fail(
                f"weight of shape {W.shape} with group={group} expects {cig * group} input "
                f"channels ({cig} per group), but the input has {C}"
            )
        if group < 1 or M % group:
            raise self.fail(f"{M} output channels do not split into group={group} groups")
        layer = Conv2D(
            C,
            M,
            (kh, kw),
            strides,
            pads,
            W=W.transpose(2, 3, 1, 0),
            b=None if b is None else b.astype(float).reshape(M),
            name=self.fresh(self.node.name or "conv"),
            groups=group,
            dilation=dil,
        )
        x = self.as_perm(t, _NHWC)
        OH, OW, _ = layer.output_shape(
            t.internal_shape if t.perm == _NHWC else (t.shape[1], t.shape[2], C)
        )
        self.out(self.emit(layer, [x]), (M, OH, OW), _NHWC)

    def dense(self, t: _Tensor, W: np.ndarray, b: np.ndarray | None) -> None:
        K, N = W.shape
        if t.shape[-1] != K:
            raise self.fail(f"weight has {K} rows, input has {t.shape[-1]} features")
        x = self.as_perm(t, _ident(t.rank))
        layer = Dense(
            K,
            N,
            W=W,
            b=None if b is None else b,
            name=self.fresh(self.node.name or self.node.op_type.lower()),
        )
        self.out(self.emit(layer, [x]), (*t.shape[:-1], N), _ident(t.rank))

    def op_Gemm(self, attrs):
        if not self.is_const(1) or self.is_const(0):
            raise self.fail(
                "only Gemm(x, constant B[, constant C]) is supported (the weight "
                "must be the second input)"
            )
        if attrs.get("transA", 0):
            raise self.fail("transA=1 would put the batch on the second axis; not supported")
        t = self.dyn(0)
        rank = t.rank if self.axis_map is None else len(self.axis_map)
        if rank != 2:
            raise self.fail(f"input of rank {rank}; Gemm takes (batch, features)")
        B = self.weight(1)
        W = float(attrs.get("alpha", 1.0)) * (B.T if attrs.get("transB", 0) else B)
        C = self.weight(2, optional=True)
        b = None
        if C is not None:
            C = float(attrs.get("beta", 1.0)) * C.astype(float)
            if C.ndim == 2 and C.shape[0] != 1 or C.size not in (1, W.shape[1]):
                raise self.fail(
                    f"bias C of shape {C.shape} depends on the batch row; "
                    f"expected ({W.shape[1]},), (1, {W.shape[1]}) or a scalar"
                )
            b = np.broadcast_to(C.reshape(-1), (W.shape[1],)).copy()
        self.dense(t, W, b)

    def op_MatMul(self, attrs):
        """x @ W (a Dense layer), W @ x (a Dense layer on the last two axes swapped, e.g. a
        token-mixing weight), x @ y of two network tensors (attention; digital)."""
        if not self.is_const(0) and not self.is_const(1):
            return self.batch_matmul()
        W = self.weight(0 if self.is_const(0) else 1)
        if W.ndim != 2:
            raise self.fail(f"weight of rank {W.ndim}; expected a matrix")
        if self.is_const(1):
            return self.dense(self.dyn(0), W, None)
        t = self.dyn(1)
        if t.rank < 3:
            raise self.fail(
                f"MatMul(constant, x) of a rank-{t.rank} x would multiply across the batch "
                "axis; only MatMul(x, constant W) is supported there"
            )
        swap = (*range(t.rank - 2), t.rank - 1, t.rank - 2)
        if t.shape[-2] != W.shape[1]:
            raise self.fail(f"weight has {W.shape[1]} columns, input has {t.shape[-2]} rows")
        tt = _Tensor(self.as_perm(t, swap), tuple(t.shape[k - 1] for k in swap[1:]), _ident(t.rank))
        self.dense(tt, W.T, None)  # (W x)^T = x^T W^T: the output in the swapped layout
        y = self.tensors[self.node.output[0]]
        self.out(y.name, tuple(y.shape[k - 1] for k in swap[1:]), swap)

    def op_Gather(self, attrs):
        """``x[:, i]``, ``x[..., idx]``: constant indices on an axis after the batch."""
        t = self.dyn(0)
        if not self.is_const(1):
            raise self.fail("Gather with indices computed from the network input is not supported")
        idx = np.asarray(self.const(1))
        if idx.dtype.kind not in "iu":
            raise self.fail(f"indices of type {idx.dtype}; expected integers")
        ax = self.axis(attrs.get("axis", 0), t.rank)
        if ax == 0:
            raise self.fail("Gather along the batch axis (picking samples) is not supported")
        n = t.shape[ax - 1]
        if idx.size and not ((idx >= -n) & (idx < n)).all():
            raise self.fail(f"indices {idx.reshape(-1).tolist()[:8]} outside -{n}..{n - 1}")
        layer = Gather(ax - 1, np.where(idx < 0, idx + n, idx), name=self.name_for("gather"))
        shape = layer.output_shape(t.shape)
        self.out(self.emit(layer, [self.as_perm(t, _ident(t.rank))]), shape, _ident(len(shape) + 1))

    def einsum_terms(self, ranks: list[int]) -> tuple[list[str], str]:
        """The current Einsum's input terms and output, one letter per axis (an ellipsis
        spelt out with unused capitals; an implicit output: the letters used once, sorted)."""
        eq = next((_text(a.s) for a in self.node.attribute if a.name == "equation"), None)
        if eq is None:
            raise self.fail("Einsum without an equation")
        lhs, arrow, rhs = eq.replace(" ", "").partition("->")
        terms = lhs.split(",")
        if len(terms) != len(ranks):
            raise self.fail(f"equation {eq!r} has {len(terms)} terms for {len(ranks)} inputs")
        spare = [c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBA" if c not in eq]
        width = max(
            (r - len(t.replace("...", "")) for t, r in zip(terms, ranks, strict=True)), default=0
        )
        dots = "".join(spare[:width][::-1])
        out = []
        for t, r in zip(terms, ranks, strict=True):
            n = r - len(t.replace("...", ""))
            t = t.replace("...", dots[len(dots) - n :] if n > 0 else "")
            if len(t) != r or not t.isalpha():
                raise self.fail(f"equation {eq!r}: term {t!r} does not name the {r} axes")
            out.append(t)
        if not arrow:
            used = "".join(out)
            rhs = dots + "".join(
                sorted(c for c in set(used) if used.count(c) == 1 and c not in dots)
            )
        rhs = rhs.replace("...", dots)
        if not rhs.isalpha() and rhs or len(set(rhs)) != len(rhs):
            raise self.fail(f"equation {eq!r}: output {rhs!r} is not a list of distinct axes")
        return out, rhs

    def op_Einsum(self, attrs):
        """Einsum of two network tensors (attention's ``bhqd,bhkd->bhqk``; digital), or
        of a network tensor and a constant weight (``btd,dc->btc``: a Dense layer on the
        arrays, the axes summed or moved around it)."""
        ins = list(self.node.input)
        if len(ins) != 2:
            raise self.fail(f"Einsum of {len(ins)} inputs; two are supported")
        if self.is_const(0) or self.is_const(1):
            return self.einsum_weight()
        a, b = self.dyn(0), self.dyn(1)
        (ta, tb), out = self.einsum_terms([a.rank, b.rank])
        batch = ta[0]
        if tb[0] != batch or out[:1] != batch or batch in ta[1:] + tb[1:] + out[1:]:
            raise self.fail(
                f"equation '{ta},{tb}->{out}': the batch axis ({batch!r}) must be the first "
                "axis of both inputs and of the output, and no other"
            )
        eq = f"{ta[1:]},{tb[1:]}->{out[1:]}"
        if any(len(set(t)) != len(t) for t in (ta, tb)):
            raise self.fail(f"equation '{ta},{tb}->{out}': repeated axes (diagonals)")
        layer = Einsum(eq, name=self.fresh(self.node.name or "einsum"))
        try:
            shape = layer.output_shape([a.shape, b.shape])
        except XbarError:
            raise self.fail(
                f"equation {eq!r} does not fit shapes {a.shape} and {b.shape}"
            ) from None
        ident = _ident(a.rank)
        x, y = self.as_perm(a, ident), self.as_perm(b, _ident(b.rank))
        self.out(self.emit(layer, [x, y]), shape, _ident(len(shape) + 1))

    def einsum_weight(self) -> None:
        """Einsum of a network tensor (batch letter first) and a constant weight: the
        tensor's axes only it has and the output lacks are summed, the rest transposed to
        (batch, kept..., contracted...) and multiplied by the weight as one Dense layer."""
        ci = 0 if self.is_const(0) else 1
        t, W = self.dyn(1 - ci), self.weight(ci)
        terms, out = self.einsum_terms([t.rank, W.ndim] if ci else [W.ndim, t.rank])
        X, Wt = terms[1 - ci], terms[ci]
        b = X[0]
        eq = f"{terms[0]},{terms[1]}->{out}"
        shared = [c for c in X if c in Wt and c in out]
        K = [c for c in X if c in Wt and c not in out]
        M = [c for c in X[1:] if c not in Wt and c in out]
        N = [c for c in Wt if c not in X and c in out]
        if (
            any(len(set(q)) != len(q) for q in (X, Wt))
            or shared
            or not K
            or b in Wt
            or out[:1] != b
            or sorted(out) != sorted([b, *M, *N])
        ):
            raise self.fail(
                f"equation {eq!r} with a constant weight: only a product that contracts "
                "axes of the tensor with the weight, the batch first in the output and "
                "no axis shared by both kept (no per-group weights), is supported"
            )
        size = dict(zip(X, (1, *t.shape), strict=True))
        gone = [X.index(c) for c in X[1:] if c not in Wt and c not in out]
        x = _Tensor(self.as_perm(t, _ident(t.rank)), t.shape, _ident(t.rank))
        if gone:  # axes only the tensor has and the output lacks: summed first
            layer = ReduceSum([a - 1 for a in gone], keepdims=False, name=self.name_for("sum"))
            left = [c for c in X if X.index(c) not in gone]
            x = _Tensor(self.emit(layer, [x.name]), [size[c] for c in left[1:]], _ident(len(left)))
            X = "".join(left)
        order = tuple(X.index(c) for c in [b, *M, *K])
        x = _Tensor(self.as_perm(x, order), [size[c] for c in [*M, *K]], _ident(len(order)))
        kn = math.prod(size[c] for c in K)
        self.reshape_to(x, (*[size[c] for c in M], kn), "einsum.reshape")
        x = self.tensors.pop(self.node.output[0])
        Wm = np.einsum(f"{Wt}->{''.join(K + N)}", W).reshape(kn, -1)
        self.dense(x, Wm, None)
        y = self.tensors.pop(self.node.output[0])
        size.update(zip(N, [W.shape[Wt.index(c)] for c in N], strict=True))
        self.reshape_to(y, tuple(size[c] for c in [*M, *N]), "einsum.reshape")
        y = self.tensors[self.node.output[0]]
        have = [b, *M, *N]
        self.out(y.name, [size[c] for c in out[1:]], tuple(out.index(c) for c in have))

    def op_Attention(self, attrs):
        """ONNX Attention (opset 23: torch's scaled_dot_product_attention from the dynamo
        exporter at opset 23 and later) on (batch, heads, tokens, d) tensors: the two
        products run digitally, as when it is written out; a constant mask, is_causal,
        scale, softcap and grouped key/value heads are followed."""
        self.check_outputs(1)
        ins = list(self.node.input) + [""] * 7
        if any(ins[4:7]):
            raise self.fail(
                "a key/value cache (past_key, past_value, nonpad_kv_seqlen) is not supported"
            )
        q, k, v = self.dyn(0), self.dyn(1), self.dyn(2)
        if not q.rank == k.rank == v.rank == 4:
            raise self.fail(
                f"inputs of ranks {q.rank}, {k.rank}, {v.rank}; (batch, heads, tokens, d) "
                "inputs are supported (the 3-D form with q_num_heads is not)"
            )
        (hq, L, d), (hk, S, dk), (hv, Sv, dv) = q.shape, k.shape, v.shape
        if dk != d or Sv != S or hv != hk or hq % hk:
            raise self.fail(f"shapes {q.shape}, {k.shape}, {v.shape} do not fit attention")
        bias = self.attention_bias(attrs, L, S)
        ident, base = _ident(4), self.node.name or "attention"
        kt, vn = self.as_perm(k, (0, 1, 3, 2)), self.as_perm(v, ident)
        if hq != hk:  # grouped heads: each key/value head serves hq / hk query heads
            reps = np.repeat(np.arange(hk), hq // hk)
            kt = self.emit(Gather(0, reps, name=self.fresh(base + ".k_heads")), [kt])
            vn = self.emit(Gather(0, reps, name=self.fresh(base + ".v_heads")), [vn])
        qk = self.emit(BatchMatMul(name=self.fresh(base + ".qk")), [self.as_perm(q, ident), kt])
        scores = _Tensor(qk, (hq, L, S), ident)
        scale = attrs.get("scale", 1.0 / math.sqrt(d))
        scores = self.with_const(scores, np.array(scale), "mul", False, base + ".scale")
        cap = float(attrs.get("softcap", 0.0))
        if cap > 0:
            scores = self.with_const(scores, np.array(cap), "div", False, base + ".cap")
            tanh = self.emit(Activation("tanh", name=self.fresh(base + ".tanh")), [scores.name])
            scores = self.with_const(
                _Tensor(tanh, scores.shape, ident), np.array(cap), "mul", False, base + ".cap"
            )
        if bias is not None:
            scores = self.with_const(scores, bias, "add", False, base + ".mask")
        p = self.emit(Softmax(2, name=self.fresh(base + ".softmax")), [scores.name])
        y = self.emit(BatchMatMul(name=self.fresh(base + ".pv")), [p, vn])
        self.out(y, (hq, L, dv), ident)

    def attention_bias(self, attrs: dict, L: int, S: int) -> np.ndarray | None:
        """The additive mask of an Attention node: its constant attn_mask (booleans: 0 or
        -inf), plus the causal mask when is_causal (query i sees keys j <= i)."""
        given = len(self.node.input) > 3 and bool(self.node.input[3])
        if given and not self.is_const(3):
            raise self.fail("an attention mask computed from the network input is not supported")
        mask = self.const(3) if given else None
        bias = None
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape[-1] < S:  # the spec pads a short mask: masked
                fill = False if mask.dtype == bool else -np.inf
                mask = np.pad(
                    mask,
                    [(0, 0)] * (mask.ndim - 1) + [(0, S - mask.shape[-1])],
                    constant_values=fill,
                )
            bias = np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask.astype(float)
        if attrs.get("is_causal", 0):
            causal = np.where(np.arange(S)[None, :] <= np.arange(L)[:, None], 0.0, -np.inf)
            bias = causal if bias is None else bias + causal
        if (
            bias is not None
            and np.isneginf(np.broadcast_to(bias, (*bias.shape[:-2], L, S))).all(-1).any()
        ):
            raise self.fail("the attention mask masks every key of some query; not supported")
        return bias

    def batch_matmul(self) -> None:
        a, b = self.dyn(0), self.dyn(1)
        if min(a.rank, b.rank) < 3:
            raise self.fail(
                f"MatMul of two network tensors of ranks {a.rank} and {b.rank} would multiply "
                "across the batch axis; a product of two tensors needs (batch, rows, columns)"
            )
        if a.rank != b.rank:
            raise self.fail(
                f"MatMul of two network tensors of ranks {a.rank} and {b.rank}; both must "
                "have the same rank (the batch axis comes first)"
            )
        try:
            shape = BatchMatMul().output_shape([a.shape, b.shape])
        except XbarError:
            raise self.fail(f"cannot multiply shapes {a.shape} and {b.shape}") from None
        layer = BatchMatMul(name=self.fresh(self.node.name or "matmul"))
        ident = _ident(a.rank)
        x, y = self.as_perm(a, ident), self.as_perm(b, ident)
        self.out(self.emit(layer, [x, y]), shape, ident)

    # -- element-wise ---------------------------------------------------------------------
    def with_const(self, t: _Tensor, c: np.ndarray, op: str, reverse: bool, base: str) -> _Tensor:
        """Emit ``t op c`` (``c op t`` when ``reverse``) for an ONNX-layout constant ``c``."""
        c = np.asarray(c, dtype=float)
        if c.ndim > t.rank:
            raise self.fail(f"constant of shape {c.shape} has more axes than the input")
        c = c.reshape((1,) * (t.rank - c.ndim) + c.shape)
        if c.shape[0] != 1:
            raise self.fail(f"constant of shape {c.shape} varies along the batch axis")
        try:
            shape = np.broadcast_shapes((1, *t.shape), c.shape)
        except ValueError:
            raise self.fail(
                f"constant of shape {c.shape} does not broadcast against "
                f"the input (per-sample shape {t.shape})"
            ) from None
        c = c.transpose(t.perm)
        layer = ConstOp(op, c.shape, c, reverse=reverse, name=self.fresh(base))
        return _Tensor(self.emit(layer, [t.name]), self.plausible(shape[1:]), t.perm)

    def binary(self, attrs, op: str | None = None):
        op = op or self.node.op_type.lower()
        if op == "prelu" and not self.is_const(1):
            raise self.fail("PRelu needs a constant slope")
        if self.is_const(0) or self.is_const(1):
            ci = 0 if self.is_const(0) else 1
            t = self.dyn(1 - ci)
            self.tensors[self.node.output[0]] = self.with_const(
                t, self.const(ci), op, reverse=ci == 0, base=self.node.name or op
            )
            return
        a, b = self.dyn(0), self.dyn(1)
        if a.rank != b.rank:
            raise self.fail(
                f"inputs of ranks {a.rank} and {b.rank}; both must have the same "
                "rank (the batch axis comes first)"
            )
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise self.fail(f"input shapes {a.shape} and {b.shape} do not broadcast") from None
        layer = Binary(op, name=self.fresh(self.node.name or op))
        self.out(self.emit(layer, [a.name, self.as_perm(b, a.perm)]), shape, a.perm)

    op_Add = op_Sub = op_Mul = op_Div = op_Greater = op_Less = binary

    def comparison(self, attrs):
        """Equal, GreaterOrEqual, LessOrEqual, And, Or, Xor: 1.0 / 0.0 as xbar's booleans."""
        names = {"GreaterOrEqual": "greater_equal", "LessOrEqual": "less_equal"}
        self.binary(attrs, op=names.get(self.node.op_type, self.node.op_type.lower()))

    op_Equal = op_GreaterOrEqual = op_LessOrEqual = op_And = op_Or = op_Xor = comparison

    def op_Pow(self, attrs):
        if not self.is_const(1) or self.is_const(0):
            raise self.fail("only Pow(x, constant exponent) is supported")
        self.binary(attrs, op="pow")

    def op_Max(self, attrs):
        if len([i for i in self.node.input if i]) != 2:
            raise self.fail(f"{self.node.op_type} of {len(self.node.input)} inputs; two supported")
        self.binary(attrs, op=self.node.op_type.lower())

    op_Min = op_Max

    def op_Not(self, attrs):  # booleans are 1.0 / 0.0 inside xbar: not x = 1 - x
        t = self.dyn(0)
        c = np.ones((1,) * t.rank)
        layer = ConstOp("sub", c.shape, c, reverse=True, name=self.name_for("not"))
        self.out(self.emit(layer, [t.name]), t.shape, t.perm)

    def op_Reciprocal(self, attrs):  # 1 / x (tf2onnx's Rsqrt in Keras LayerNormalization)
        t = self.dyn(0)
        c = np.ones((1,) * t.rank)
        layer = ConstOp("div", c.shape, c, reverse=True, name=self.name_for("reciprocal"))
        self.out(self.emit(layer, [t.name]), t.shape, t.perm)

    def op_Erfc(self, attrs):
        """1 - erf(x): tf2onnx writes it for Keras' exact GELU (``activation="gelu"``),
        although ONNX has no such op (onnxruntime refuses the file)."""
        t = self.dyn(0)
        erf = self.emit(Activation("erf", name=self.name_for("erf")), [t.name])
        c = np.ones((1,) * t.rank)
        layer = ConstOp("sub", c.shape, c, reverse=True, name=self.name_for("erfc"))
        self.out(self.emit(layer, [erf]), t.shape, t.perm)

    def op_Neg(self, attrs):
        t = self.dyn(0)
        c = -np.ones((1,) * t.rank)
        layer = ConstOp("mul", c.shape, c, name=self.name_for("neg"))
        self.out(self.emit(layer, [t.name]), t.shape, t.perm)

    def op_Where(self, attrs):
        """Where of tensors; a constant condition or branch (torch's Hardshrink,
        Threshold: where(x <= t, 0, x)) is the constant broadcast to a tensor's shape."""
        anchor = next(self.dyn(i) for i in range(3) if not self.is_const(i))
        ts = [
            self.with_const(
                anchor, self.const(i), "fill", False, (self.node.name or "where") + ".c"
            )
            if self.is_const(i)
            else self.dyn(i)
            for i in range(3)
        ]
        if len({t.rank for t in ts}) != 1:
            raise self.fail("Where inputs must have the same rank")
        try:
            shape = np.broadcast_shapes(*(t.shape for t in ts))
        except ValueError:
            raise self.fail(
                f"Where input shapes {[t.shape for t in ts]} do not broadcast"
            ) from None
        perm = ts[0].perm
        layer = Where(name=self.name_for("where"))
        self.out(self.emit(layer, [self.as_perm(t, perm) for t in ts]), shape, perm)

    def unary(self, layer: Layer) -> None:
        t = self.dyn(0)
        self.out(self.emit(layer, [t.name]), t.shape, t.perm)

    def name_for(self, default: str) -> str:
        return self.fresh(self.node.name or default)

    def op_Relu(self, attrs):
        self.unary(ReLU(name=self.name_for("relu")))

    def op_Clip(self, attrs):
        lo = attrs.get("min", self.const(1, optional=True))
        hi = attrs.get("max", self.const(2, optional=True))
        lo = None if lo is None else float(np.asarray(lo).reshape(-1)[0])
        hi = None if hi is None else float(np.asarray(hi).reshape(-1)[0])
        if lo == 0.0 and hi is None:
            return self.unary(ReLU(name=self.name_for("relu")))
        self.unary(Activation("clip", low=lo, high=hi, name=self.name_for("clip")))

    def op_LeakyRelu(self, attrs):
        self.unary(
            Activation(
                "leaky_relu", alpha=attrs.get("alpha", 0.01), name=self.name_for("leaky_relu")
            )
        )

    def op_HardSigmoid(self, attrs):
        self.unary(
            Activation(
                "hard_sigmoid",
                alpha=attrs.get("alpha", 0.2),
                beta=attrs.get("beta", 0.5),
                name=self.name_for("hard_sigmoid"),
            )
        )

    def op_Gelu(self, attrs):
        approx = attrs.get("approximate", b"none")
        approx = approx.decode() if isinstance(approx, bytes) else str(approx)
        self.unary(
            Activation("gelu", beta=1.0 if approx == "tanh" else 0.0, name=self.name_for("gelu"))
        )

    def op_Elu(self, attrs):
        self.unary(Activation("elu", alpha=attrs.get("alpha", 1.0), name=self.name_for("elu")))

    def op_Selu(self, attrs):
        self.unary(
            Activation(
                "selu",
                alpha=attrs.get("alpha", 1.6732632423543772),
                beta=attrs.get("gamma", 1.0507009873554805),
                name=self.name_for("selu"),
            )
        )

    def op_Celu(self, attrs):
        alpha = float(attrs.get("alpha", 1.0))
        if alpha == 0:
            raise self.fail("alpha=0 divides by zero")
        self.unary(Activation("celu", alpha=alpha, name=self.name_for("celu")))

    def op_InstanceNormalization(self, attrs):
        """Normalise every channel of every sample over its spatial axes, then the
        per-channel scale and bias (nn.InstanceNorm2d; nn.GroupNorm's export)."""
        t = self.dyn(0)
        if t.rank < 3:
            raise self.fail(f"input of rank {t.rank}; expected (N, C, spatial...)")
        C = t.shape[0]
        scale, bias = self.weight(1).reshape(-1), self.weight(2).reshape(-1)
        if scale.size != C or bias.size != C:
            raise self.fail(f"{scale.size} scales and {bias.size} biases for {C} channels")
        axes = [t.perm.index(a) - 1 for a in range(2, t.rank)]
        eps = float(attrs.get("epsilon", 1e-5))
        layer = Normalize(axes, eps=eps, name=self.name_for("instance_norm"))
        y = _Tensor(self.emit(layer, [t.name]), t.shape, t.perm)
        per_channel = (1, C) + (1,) * (t.rank - 2)
        y = self.with_const(y, scale.reshape(per_channel), "mul", False, layer.name + ".scale")
        y = self.with_const(y, bias.reshape(per_channel), "add", False, layer.name + ".bias")
        self.tensors[self.node.output[0]] = y

    def op_DepthToSpace(self, attrs, inverse: bool = False):
        """DepthToSpace (nn.PixelShuffle: mode CRD; DCR) and SpaceToDepth
        (nn.PixelUnshuffle) as reshape -> transpose -> reshape of the NCHW tensor."""
        t = self.dyn(0)
        b = int(attrs.get("blocksize", 0))
        if t.rank != 4 or b < 1:
            raise self.fail(f"needs an (N, C, H, W) input and blocksize >= 1, got {b}")
        C, H, W = t.shape
        mode = _text(attrs.get("mode", "DCR"))
        if inverse:
            if H % b or W % b:
                raise self.fail(f"blocksize {b} does not divide the image size {H}x{W}")
            steps = [(C, H // b, b, W // b, b), (2, 4, 0, 1, 3), (C * b * b, H // b, W // b)]
        elif C % (b * b) or mode not in ("DCR", "CRD"):
            raise self.fail(f"{C} channels and mode {mode!r} (DCR or CRD) do not fit blocksize {b}")
        elif mode == "DCR":
            steps = [(b, b, C // b // b, H, W), (2, 3, 0, 4, 1), (C // b // b, H * b, W * b)]
        else:
            steps = [(C // b // b, b, b, H, W), (0, 3, 1, 4, 2), (C // b // b, H * b, W * b)]
        x = self.as_perm(t, _ident(4))
        base = self.node.op_type.lower()
        x = self.emit(Reshape(steps[0], name=self.name_for(base + ".split")), [x])
        x = self.emit(Transpose(steps[1], name=self.name_for(base + ".move")), [x])
        x = self.emit(Reshape(steps[2], name=self.name_for(base)), [x])
        self.out(x, steps[2], _ident(4))

    def op_CumSum(self, attrs):
        t = self.dyn(0)
        axis = self.axis(np.asarray(self.const(1)).reshape(-1)[0], t.rank)
        if axis == 0:
            raise self.fail("CumSum along the batch axis is not supported")
        layer = CumSum(
            t.perm.index(axis) - 1,
            exclusive=bool(attrs.get("exclusive", 0)),
            reverse=bool(attrs.get("reverse", 0)),
            name=self.name_for("cumsum"),
        )
        self.out(self.emit(layer, [t.name]), t.shape, t.perm)

    def op_LRN(self, attrs):
        t = self.dyn(0)
        if t.rank < 3 or "size" not in attrs:
            raise self.fail("LRN needs an (N, C, ...) input and a size")
        layer = LRN(
            t.perm.index(1) - 1,
            int(attrs["size"]),
            alpha=float(attrs.get("alpha", 1e-4)),
            beta=float(attrs.get("beta", 0.75)),
            bias=float(attrs.get("bias", 1.0)),
            name=self.name_for("lrn"),
        )
        self.out(self.emit(layer, [t.name]), t.shape, t.perm)

    def op_SpaceToDepth(self, attrs):
        self.op_DepthToSpace(attrs, inverse=True)

    def op_Expand(self, attrs):  # broadcast to a shape: adding zeros of that shape does it
        t = self.dyn(0)
        target = [int(v) for v in self.const(1).reshape(-1)]
        if len(target) > t.rank:
            raise self.fail(
                f"Expand of a rank-{t.rank} tensor to rank {len(target)} (adds axes before "
                "the batch axis); not supported"
            )
        full = [1] * (t.rank - len(target)) + target
        if full[0] not in (1, _BATCH, self.static_batch or 1):
            raise self.fail(f"Expand to {target} changes the batch axis; not supported")
        zeros = np.zeros([1, *(max(v, 1) for v in full[1:])])
        self.tensors[self.node.output[0]] = self.with_const(
            t, zeros, "add", False, self.node.name or "expand"
        )

    def op_PRelu(self, attrs):
        self.binary(attrs, op="prelu")

    def op_LayerNormalization(self, attrs):
        self.check_outputs(1)
        if attrs.get("stash_type", 1) != 1:
            raise self.fail(f"stash_type {attrs['stash_type']} (only float32, 1, is supported)")
        t = self.dyn(0)
        axis = self.axis(attrs.get("axis", -1), t.rank)
        if axis == 0:
            raise self.fail("LayerNormalization over the batch axis is not supported")
        axes = [t.perm.index(a) - 1 for a in range(axis, t.rank)]
        eps = float(attrs.get("epsilon", 1e-5))
        layer = Normalize(axes, eps=eps, name=self.name_for("layer_norm"))
        y = _Tensor(self.emit(layer, [t.name]), t.shape, t.perm)
        y = self.with_const(y, self.const(1), "mul", False, layer.name + ".scale")
        bias = self.const(2, optional=True)
        if bias is not None:
            y = self.with_const(y, bias, "add", False, layer.name + ".bias")
        self.tensors[self.node.output[0]] = y

    def op_BatchNormalization(self, attrs):
        if attrs.get("training_mode", 0):
            raise self.fail(
                "training_mode=1 (batch statistics) is not supported; export the model in eval mode"
            )
        if self.opset < 14 and len([o for o in self.node.output if o]) > 1:
            # before opset 14 the outputs say the mode: running and saved statistics as
            # outputs mean training (onnxruntime then normalises with batch statistics)
            raise self.fail(
                "a BatchNormalization with the running and batch statistics as outputs "
                f"(opset {self.opset}: training mode, batch statistics) is not supported",
                hint="export the model in eval mode (model.eval(); torch.onnx.export(..., "
                "training=TrainingMode.EVAL))",
            )
        self.check_outputs(1)
        t = self.dyn(0)
        gamma, beta, mean, var = (self.weight(i).reshape(-1) for i in range(1, 5))
        C = t.shape[0]
        if gamma.size != C:
            raise self.fail(f"{gamma.size} scale values for {C} channels")
        layer = BatchNorm(C, eps=float(attrs.get("epsilon", 1e-5)), name=self.name_for("bn"))
        layer.gamma, layer.beta, layer.running_mean, layer.running_var = gamma, beta, mean, var
        if t.name in self.lowered:  # BatchNorm1d right after a Conv1d: on the conv's output,
            lifted, _ = self.lift_1d(t)  # so that the evaluator folds it into the weights
            self.out(self.emit(layer, [lifted.name]), lifted.shape, _NHWC)
            return self.lower_1d()
        perm = _image_perm(t.rank)
        self.out(self.emit(layer, [self.as_perm(t, perm)]), t.shape, perm)

    # -- pooling --------------------------------------------------------------------------
    def pool(self, attrs, cls, **extra):
        self.check_outputs(1)
        if self.dyn(0).rank == 5:
            return self.pool_3d(attrs, cls, **extra)
        if not self.window_1d(attrs, lambda a, t: self.pool_2d(a, t, cls, **extra)):
            self.pool_2d(attrs, self.dyn(0), cls, **extra)

    def pool_3d(self, attrs, cls, **extra):
        """A 3-D pool whose window spans only the first spatial axis (torch's
        nn.LocalResponseNorm: an average over neighbouring channels, exported as a
        (size, 1, 1) AveragePool of (N, 1, C, H, W)): a 2-D pool of (D, H*W) images."""
        t = self.dyn(0)
        k = [int(v) for v in attrs.get("kernel_shape", ())]
        st = [int(v) for v in attrs.get("strides", (1, 1, 1))]
        dil = [int(v) for v in attrs.get("dilations", (1, 1, 1))]
        p = [int(v) for v in attrs.get("pads", (0,) * 6)]
        if len(k) != 3 or len(st) != 3 or len(dil) != 3 or len(p) != 6:
            raise self.fail("kernel_shape, strides and dilations need 3 entries, pads 6 (3-D)")
        if k[1:] != [1, 1] or st[1:] != [1, 1] or dil[1:] != [1, 1] or p[1:3] + p[4:] != [0] * 4:
            raise self.fail(
                f"3-D pooling with kernel_shape {k}, strides {st}, pads {p}: only windows "
                "along the first spatial axis (kernel (k, 1, 1), unpadded height and width; "
                "nn.LocalResponseNorm's export) are supported"
            )
        C, D, H, W = t.shape
        x = self.as_perm(t, (0, 2, 3, 4, 1))
        flat = self.emit(Reshape((D, H * W, C), name=self.fresh(f"{t.name}.as_2d")), [x])
        a = {**attrs, "kernel_shape": (k[0], 1), "strides": (st[0], 1), "dilations": (dil[0], 1)}
        a["pads"] = (p[0], 0, p[3], 0)
        self.pool_2d(a, _Tensor(flat, (C, D, H * W), _NHWC), cls, **extra)
        y = self.tensors[self.node.output[0]]
        D2 = y.shape[1]
        back = self.emit(Reshape((D2, H, W, C), name=self.fresh(f"{y.name}.as_3d")), [y.name])
        self.out(back, (C, D2, H, W), (0, 2, 3, 4, 1))

    def pool_2d(self, attrs, t: _Tensor, cls, **extra):
        kernel = tuple(attrs.get("kernel_shape", ()))
        if len(kernel) != 2:
            raise self.fail(f"kernel_shape {list(kernel)}; only 1-D and 2-D pooling is supported")
        strides, pads, dil = self.spatial(attrs, t, kernel, self.node.op_type)
        if any(p >= k for p, k in zip(pads, kernel * 2, strict=True)):
            raise self.fail(
                f"pads {list(attrs.get('pads', pads))} are not all smaller than the kernel "
                f"{list(attrs.get('kernel_shape', kernel))} (onnxruntime refuses such pools: a "
                "window of padding only)"
            )
        layer = cls(
            kernel,
            strides,
            name=self.name_for(self.node.op_type.lower()),
            padding=pads,
            ceil_mode=bool(attrs.get("ceil_mode", 0)),
            dilation=dil,
            **extra,
        )
        x = self.as_perm(t, _NHWC)
        OH, OW, C = layer.output_shape((t.shape[1], t.shape[2], t.shape[0]))
        self.out(self.emit(layer, [x]), (C, OH, OW), _NHWC)

    def op_MaxPool(self, attrs):
        self.pool(attrs, MaxPool2D)

    def op_AveragePool(self, attrs):
        self.pool(attrs, AvgPool2D, count_include_pad=bool(attrs.get("count_include_pad", 0)))

    def op_GlobalAveragePool(self, attrs):
        if not self.window_1d(attrs, self.global_avg_pool):
            self.global_avg_pool(attrs, self.dyn(0))

    def global_avg_pool(self, attrs, t: _Tensor) -> None:
        if t.rank != 4:
            raise self.fail(f"input of rank {t.rank}; expected (N, C, L) or (N, C, H, W)")
        layer = GlobalAvgPool(name=self.name_for("global_avg_pool"), keepdims=True)
        self.out(self.emit(layer, [self.as_perm(t, _NHWC)]), (t.shape[0], 1, 1), _NHWC)

    def op_GlobalMaxPool(self, attrs):
        if not self.window_1d(attrs, self.global_max_pool):
            self.global_max_pool(attrs, self.dyn(0))

    def global_max_pool(self, attrs, t: _Tensor) -> None:
        if t.rank != 4:
            raise self.fail(f"input of rank {t.rank}; expected (N, C, L) or (N, C, H, W)")
        layer = MaxPool2D(t.shape[1:3], 1, name=self.name_for("global_max_pool"))
        self.out(self.emit(layer, [self.as_perm(t, _NHWC)]), (t.shape[0], 1, 1), _NHWC)

    # -- shapes ---------------------------------------------------------------------------
    def reshape_to(self, t: _Tensor, shape: tuple[int, ...], default: str) -> None:
        """Emit a per-sample reshape of ``t`` (ONNX order) to ``shape`` (per-sample)."""
        shape = tuple(int(s) for s in shape)
        if shape == t.shape:  # a reshape to the same shape keeps the data and layout
            self.out(t.name, shape, t.perm)
            return
        full = (2, *t.shape)  # the batch axis counts as long
        if [p for p in t.perm if full[p] != 1] == [k for k in range(t.rank) if full[k] != 1]:
            x = t.name  # only size-1 axes move: the elements are already in ONNX order
        else:
            x = self.as_perm(t, _ident(t.rank))
        layer = (
            Flatten(name=self.name_for(default))
            if len(shape) == 1
            else Reshape(shape, name=self.name_for(default))
        )
        self.out(self.emit(layer, [x]), shape, _ident(len(shape) + 1))

    def op_Flatten(self, attrs):
        t = self.dyn(0)
        axis = int(attrs.get("axis", 1))
        if not -t.rank <= axis <= t.rank:
            raise self.fail(f"axis {axis} is outside a rank-{t.rank} tensor")
        axis %= t.rank + (axis == t.rank)  # Flatten's axis may equal the rank
        if axis != 1:
            raise self.fail(
                f"axis={attrs.get('axis')} would mix the batch axis into the "
                "features; only axis=1 is supported"
            )
        self.reshape_to(t, (int(np.prod(t.shape)),), "flatten")

    def op_Reshape(self, attrs):
        name = self.node.input[0]
        target = [int(v) for v in self.const(1).reshape(-1)]
        if name in self.views:
            v = self.views[name]
            if not attrs.get("allowzero", 0):  # a 0 copies the input's size (a marker too)
                dims = v.dims()
                target = [dims[k] if x == 0 and k < len(dims) else x for k, x in enumerate(target)]
            return self.view_reshape(v, target)
        t = self.dyn(0)
        full = [_BATCH, *t.shape]
        if not attrs.get("allowzero", 0):
            target = [full[k] if v == 0 and k < len(full) else v for k, v in enumerate(target)]
        first, rest = target[0], target[1:]
        marks = _bmult(target)
        if marks[1:].any() or marks[0] > 1:  # the batch goes elsewhere, or merges
            return self.view_reshape(_View(t, 0, None, self.node.name or "Reshape"), target)
        batch_ok = (
            first == _BATCH
            or (first == -1 and -1 not in rest)
            or (self.static_batch is not None and first == self.static_batch)
        )
        if self.static_batch and first not in (-1, _BATCH, self.static_batch) and -1 not in rest:
            # a fixed-batch export's folded (B*h, T, d): the batch merged, if it fits
            return self.view_reshape(_View(t, 0, None, self.node.name or "Reshape"), target)
        if first == -1 and -1 not in rest and rest and int(np.prod(rest)) < int(np.prod(t.shape)):
            # (B, h, T, d) -> (B*h, T, d): torch's lowering of scaled_dot_product_attention
            return self.view_reshape(_View(t, 0, None, self.node.name or "Reshape"), target)
        if not batch_ok:
            raise self.fail(
                f"Reshape to {_said(target)} mixes the batch axis with the features; the "
                "first entry must be the batch size (or 0 / -1)"
            )
        size = int(np.prod(t.shape))
        if first == -1 and int(np.prod(rest)) != size:
            raise self.fail(
                f"Reshape to {target} mixes the batch axis with the features "
                f"(per-sample size {size})"
            )
        if rest.count(-1) > 1:
            raise self.fail(f"Reshape to {target} has more than one -1")
        if -1 in rest:
            known = int(np.prod([v for v in rest if v != -1]))
            if known == 0 or size % known:
                raise self.fail(f"cannot reshape per-sample shape {t.shape} to {target}")
            rest = [size // known if v == -1 else v for v in rest]
        if int(np.prod(rest)) != size:
            raise self.fail(f"cannot reshape per-sample shape {t.shape} to {target}")
        self.reshape_to(t, tuple(rest), "reshape")

    def axes_arg(self, attrs, i: int = 1) -> list[int] | None:
        if "axes" in attrs:
            return [int(a) for a in attrs["axes"]]
        c = self.const(i, optional=True)
        return None if c is None else [int(a) for a in c.reshape(-1)]

    def op_Squeeze(self, attrs):
        if self.node.input[0] in self.views:
            return self.view_squeeze(attrs)
        t = self.dyn(0)
        axes = self.axes_arg(attrs)
        full = (1, *t.shape)
        if axes is None:
            axes = [k for k in range(1, t.rank) if full[k] == 1]
        axes = [self.axis(a, t.rank) for a in axes]
        if 0 in axes or any(full[a] != 1 for a in axes):
            raise self.fail(f"cannot squeeze axes {axes} of (batch, {t.shape})")
        self.reshape_to(t, tuple(s for k, s in enumerate(full) if k not in axes)[1:], "squeeze")

    def op_Unsqueeze(self, attrs):
        if self.node.input[0] in self.views:
            return self.view_squeeze(attrs)
        t = self.dyn(0)
        axes = self.axes_arg(attrs)
        if axes is None:
            raise self.fail("Unsqueeze without axes")
        r = t.rank + len(axes)
        axes = sorted(self.axis(a, r) for a in axes)
        if 0 in axes:
            raise self.fail("Unsqueeze at axis 0 would move the batch axis")
        shape = list(t.shape)
        for a in axes:
            shape.insert(a - 1, 1)
        self.reshape_to(t, tuple(shape), "unsqueeze")

    def op_Transpose(self, attrs):
        name = self.node.input[0]
        v = self.views.get(name) or _View(self.dyn(0), 0, None, "")
        rank = len(v.dims())
        p = [int(k) for k in attrs.get("perm", list(range(rank))[::-1])]
        if sorted(p) != list(range(rank)):
            raise self.fail(f"perm {p} is not a permutation of the {rank} axes")
        m2u = v.m_to_u()
        q = [u for k in p for u in m2u[k]]  # the result's unmerged axes, as v's
        group = None
        if v.group is not None:
            g0 = q.index(v.group[0])
            group = (g0, g0 + v.group[1] - v.group[0])
        qt = [v.u_to_t(k) for k in q]  # ... as axes of the batch-first tensor
        order = [0] + [a for a in qt if a != 0]  # the result with its batch first
        inv = np.argsort(order)
        t = v.t  # the data stay as they are; only the bookkeeping permutation changes
        y = _Tensor(
            t.name, [(1, *t.shape)[k] for k in order][1:], tuple(int(inv[k]) for k in t.perm)
        )
        self.set_view(0, y, qt.index(0), group, v.by)

    def set_view(self, i: int, t: _Tensor, at: int, group, by: str | None) -> None:
        """Output ``i`` is ``t`` with its batch axis moved to axis ``at`` and the unmerged
        axes ``group`` merged (a regular tensor when neither happens)."""
        out = self.node.output[i]
        if group is not None and group[1] - group[0] < 2:
            group = None
        if at == 0 and group is None:
            self.tensors[out] = _Tensor(t.name, self.plausible(t.shape), t.perm)
        else:
            self.plausible(t.shape)
            self.views[out] = _View(t, at, group, by or self.node.name or self.node.op_type)

    def view_reshape(self, v: _View, target: list[int]) -> None:
        """Reshape of a view (or of a regular tensor to a shape that moves or merges the
        batch axis) to ``target``: the entry holding the batch (its marker, the batch
        times m, or the -1) stays a batch axis, merged with the factors of the axes
        before (A) and after (C) it that the target does not keep."""
        t, at, u = v.t, v.at, v.udims()
        marks, size = _bmult(target), math.prod(t.shape)
        said = _said(target)
        where = f"of a tensor of shape {_said(v.dims())} (batch axis by node {v.by!r})"
        js = [k for k, m in enumerate(marks) if m]
        if not js and -1 not in target and self.static_batch:
            js, marks = self.static_batch_entry(u, at, target)
        if len(js) > 1 or (not js and target.count(-1) != 1) or target.count(-1) > 1:
            raise self.fail(
                f"Reshape to {said} {where}: cannot tell where the batch axis goes",
                hint="export with a dynamic batch (torch.onnx.export(..., dynamic_axes="
                "{'input': {0: 'batch'}}), or dynamo=True with dynamic_shapes)",
            )
        j = js[0] if js else target.index(-1)
        m = int(marks[j]) if js else None
        rest = [x for k, x in enumerate(target) if k != j]
        if -1 in rest:
            known = math.prod(x for x in rest if x != -1) * m
            if known <= 0 or size % known:
                raise self.fail(f"Reshape to {said} {where}: the sizes do not fit")
            target = [size // known if x == -1 else x for x in target]
        pre, post = target[:j], target[j + 1 :]
        bad = min(pre + post, default=1) < 1
        a, c = math.prod(u[:at]), math.prod(u[at + 1 :])
        if bad or a % max(math.prod(pre), 1) or c % max(math.prod(post), 1):
            raise self.fail(
                f"Reshape to {said} {where} mixes the batch axis with other axes in a way "
                "that is not a merge of the batch with its neighbours; not supported"
            )
        a, c = a // math.prod(pre), c // math.prod(post)
        if m is not None and m != a * c:
            raise self.fail(
                f"Reshape to {said} {where}: the batch axis would hold batch*{a * c}, not batch*{m}"
            )
        ua = [a] if a > 1 else []
        uc = [c] if c > 1 else []
        self.reshape_to(t, (*pre, *ua, *uc, *post), "reshape")
        y = self.tensors.pop(self.node.output[0])
        group = (j, j + len(ua) + 1 + len(uc))
        self.set_view(0, y, j + len(ua), group, v.by if v.at or v.group else None)

    def static_batch_entry(self, u: list[int], at: int, target: list[int]):
        """In a graph exported with a fixed batch b (folded shapes: (T, b, D) -> (T, b*h,
        d) is written (T, h, d) when b = 1), the entry of ``target`` that holds the batch
        of a tensor of unmerged shape ``u`` (batch at ``at``): among the entries (not the
        last) that can hold it, the one merging it with no axis before it (A = 1), then
        with the fewest values after it: nn.MultiheadAttention's bsz * num_heads,
        tgt_len * bsz and their un-merges.  Returns ([j], marks) or ([], marks)."""
        b, a_all, c_all = self.static_batch, math.prod(u[:at]), math.prod(u[at + 1 :])
        found = []
        for j, v in enumerate(target[: max(len(target) - 1, 1)]):
            pre, post = math.prod(target[:j]), math.prod(target[j + 1 :])
            if v < 1 or v % b or min(target, default=1) < 1 or a_all % pre or c_all % post:
                continue
            a, c = a_all // pre, c_all // post
            if a * c == v // b:
                found.append((a != 1, c, j, a * c))
        if not found:
            return [], _bmult(target)
        _, _, j, m = min(found)
        return [j], [m if k == j else 0 for k in range(len(target))]

    def view_squeeze(self, attrs) -> None:
        """Squeeze/Unsqueeze of a view: the reshape to the shape they give."""
        v = self.views[self.node.input[0]]
        dims, axes = v.dims(), self.axes_arg(attrs)
        if self.node.op_type == "Unsqueeze":
            if axes is None:
                raise self.fail("Unsqueeze without axes")
            r = len(dims) + len(axes)
            for a in sorted(self.axis(a, r) for a in axes):
                dims.insert(a, 1)
        else:
            r = len(dims)
            axes = (
                [k for k, x in enumerate(dims) if x == 1]
                if axes is None
                else [self.axis(a, r) for a in axes]
            )
            if any(dims[a] != 1 for a in axes):
                raise self.fail(f"cannot squeeze axes {axes} of shape {_said(dims)}")
            dims = [x for k, x in enumerate(dims) if k not in axes]
        self.view_reshape(v, dims)

    def on_view(self, handler, attrs) -> None:
        """Run ``handler`` (an element-wise op, MatMul/Gemm, Softmax, a reduction, ...) on
        views: on the same data with the batch first, the op's axes and broadcast
        constants moved there; its outputs are views again (less the axes it removed)."""
        names = [i for i in self.node.input if i in self.views]
        v = self.views[names[0]]
        if any(
            (w.at, w.group, w.t.rank) != (v.at, v.group, v.t.rank)
            for w in (self.views[n] for n in names)
        ) or any(i in self.tensors for i in self.node.input):
            raise self.fail(
                "inputs whose batch axes are in different places (or merged differently); "
                "not supported"
            )
        m2u = v.m_to_u()
        amap = tuple(v.u_to_t(us[0]) if len(us) == 1 else None for us in m2u)
        self.check_view_op(v, amap, attrs)
        removed = self.removed_axes(attrs, len(amap))
        saved = {n: self.views.pop(n) for n in names}
        consts = {}
        for i in self.broadcast_inputs():
            name = self.node.input[i]
            consts[name] = self.consts[name]
            self.consts[name] = self.view_const(v, np.asarray(consts[name]))
        self.tensors.update({n: w.t for n, w in saved.items()})
        self.axis_map, self.axis_shift = amap, v.t.rank - len(amap)
        try:
            handler(attrs)
        finally:
            self.axis_map, self.axis_shift = None, 0
            for n in saved:
                del self.tensors[n]
            self.views.update(saved)
            self.consts.update(consts)
        ru = [m2u[k][0] for k in removed]
        at = v.at - sum(k < v.at for k in ru)
        group = v.group and tuple(g - sum(k < g for k in ru) for g in v.group)
        for i, out in enumerate(self.node.output):
            if out in self.tensors:
                self.set_view(i, self.tensors.pop(out), at, group, v.by)

    def check_view_op(self, v: _View, amap: tuple, attrs: dict) -> None:
        """Refuse an op on a view that would not act on the axes it names there: MatMul
        and Gemm contract the last axis (W @ x and a product of views the last two),
        LayerNormalization normalises the last axis."""
        op, r, tr = self.node.op_type, len(amap), v.t.rank
        last = 2 if op == "MatMul" and (self.is_const(0) or not self.is_const(1)) else 1
        if op == "LayerNormalization":
            axis = int(attrs.get("axis", -1))
            last = r - (axis % r if -r <= axis < r else 0)
        if op in ("MatMul", "Gemm", "LayerNormalization") and any(
            amap[r - k] != tr - k for k in range(1, last + 1)
        ):
            raise self.fail(
                f"{op} over the axis that holds the batch (its batch axis moved or merged by "
                f"node {v.by!r}); not supported"
            )

    def removed_axes(self, attrs: dict, rank: int) -> list[int]:
        """The axes of its input (a view, rank ``rank``) that the current op removes."""
        op = self.node.op_type
        if op == "Gather":
            idx = np.asarray(self.const(1))
            if idx.ndim > 1:
                raise self.fail("Gather with indices of rank > 1 on a view is not supported")
            return [int(attrs.get("axis", 0)) % rank] if idx.ndim == 0 else []
        if op.startswith("Reduce") and not attrs.get("keepdims", 1):
            axes = self.axes_arg(attrs)
            return list(range(rank)) if not axes else sorted({int(a) % rank for a in axes})
        return []

    def broadcast_inputs(self) -> list[int]:
        """The current op's constant inputs that broadcast against its tensor inputs."""
        op, ins = self.node.op_type, self.node.input
        if op in _VIEW_BROADCAST or op == "PRelu":
            keep = range(len(ins))
        elif op == "LayerNormalization":
            keep = (1, 2)
        else:
            return []
        return [i for i in keep if i < len(ins) and ins[i] and ins[i] in self.consts]

    def view_const(self, v: _View, c: np.ndarray) -> np.ndarray:
        """A constant broadcast against view ``v``, laid out against its batch-first
        tensor (it may not vary along the batch or the merged axis)."""
        m2u = v.m_to_u()
        if c.ndim > len(m2u):
            raise self.fail(f"constant of shape {c.shape} has more axes than the input")
        c = c.reshape((1,) * (len(m2u) - c.ndim) + c.shape)
        if any(c.shape[k] != 1 for k, us in enumerate(m2u) if len(us) > 1 or v.at in us):
            raise self.fail(
                f"constant of shape {c.shape} varies along the axis that holds the batch "
                f"(moved or merged by node {v.by!r}); not supported"
            )
        u = c.reshape([1 if len(us) > 1 else c.shape[k] for k, us in enumerate(m2u) for _ in us])
        return u.transpose([v.at, *(k for k in range(u.ndim) if k != v.at)])

    def op_Concat(self, attrs):
        ts = [self.concat_input(i) for i in range(len(self.node.input))]
        axis = self.axis(attrs["axis"], ts[0].rank)
        if axis == 0:
            raise self.fail("Concat along the batch axis is not supported")
        others = [[s for k, s in enumerate(t.shape) if k != axis - 1] for t in ts]
        if any(o != others[0] or t.rank != ts[0].rank for o, t in zip(others, ts, strict=True)):
            raise self.fail(
                f"Concat on axis {axis} of tensors of shapes "
                + ", ".join(str(("batch", *t.shape)) for t in ts)
                + ": the other axes must agree"
            )
        perm = ts[0].perm
        layer = Concat(perm.index(axis) - 1, name=self.name_for("concat"))
        names = [self.as_perm(t, perm) for t in ts]
        shape = list(ts[0].shape)
        shape[axis - 1] = sum(t.shape[axis - 1] for t in ts)
        self.out(self.emit(layer, names), shape, perm)

    def concat_input(self, i: int) -> _Tensor:
        """Input ``i`` of a Concat; a constant whose batch axis is one sample (a class token
        that a batch-1 export folded, ``cls.expand(1, -1, -1)``), or the export's batch of
        equal rows, is that sample's values for every sample."""
        if not self.is_const(i):
            return self.dyn(i)
        c = np.asarray(self.const(i))
        if c.ndim < 2 or c.dtype.kind not in "fiub":
            raise self.fail(
                f"Concat of a constant of shape {c.shape} with network tensors is not supported"
            )
        n = c.shape[0]
        if self.static_batch is None:
            raise self.fail(
                f"Concat of a constant of shape {c.shape} with network tensors in a graph with "
                "a dynamic batch (it holds one batch size only; onnxruntime refuses other "
                "batches)",
                hint="expand the constant to the batch size (cls.expand(x.shape[0], -1, -1)) "
                "or export with a fixed batch",
            )
        if n != self.static_batch or not (c == c[:1]).all():
            raise self.fail(
                f"Concat of a constant of shape {c.shape} with network tensors: its first "
                f"axis must be the export's batch ({self.static_batch}) of equal rows (one "
                "value for every sample)"
            )
        return self.per_sample(c[:1], self.node.input[i] or "const")

    def op_Pad(self, attrs):
        t = self.dyn(0)
        mode = attrs.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        pads = attrs.get("pads")
        pads = [int(v) for v in (pads if pads is not None else self.const(1).reshape(-1))]
        value = attrs.get("value", self.const(2, optional=True))
        value = 0.0 if value is None or np.size(value) == 0 else float(np.asarray(value).flat[0])
        axes = self.const(3, optional=True)
        axes = list(range(t.rank)) if axes is None else [self.axis(a, t.rank) for a in axes]
        n = len(axes)
        if len(pads) != 2 * n:
            raise self.fail(f"{len(pads)} pads for {n} axes")
        pairs = {a: (pads[k], pads[k + n]) for k, a in enumerate(axes)}
        if pairs.get(0, (0, 0)) != (0, 0):
            raise self.fail("padding the batch axis is not supported")
        if mode not in Pad.MODES:
            raise self.fail(f"pad mode {mode!r} is not supported ({', '.join(Pad.MODES)} are)")
        internal = [pairs.get(p, (0, 0)) for p in t.perm[1:]]
        layer = Pad(internal, mode=mode, value=value, name=self.name_for("pad"))
        shape = [s + sum(pairs.get(k + 1, (0, 0))) for k, s in enumerate(t.shape)]
        self.out(self.emit(layer, [t.name]), shape, t.perm)

    def softmax(self, attrs, log: bool):
        t = self.dyn(0)
        default = -1 if self.opset >= 13 else 1
        axis = self.axis(attrs.get("axis", default), t.rank)
        if axis == 0:
            raise self.fail("softmax over the batch axis is not supported")
        if self.opset < 13 and axis != t.rank - 1:
            raise self.fail(
                f"opset {self.opset} Softmax with axis={axis} on a rank-{t.rank} "
                "input (flattening semantics) is not supported"
            )
        layer = Softmax(t.perm.index(axis) - 1, log=log, name=self.name_for("softmax"))
        self.out(self.emit(layer, [t.name]), t.shape, t.perm)

    def op_Softmax(self, attrs):
        self.softmax(attrs, False)

    def op_LogSoftmax(self, attrs):
        self.softmax(attrs, True)

    def op_Slice(self, attrs):
        t = self.dyn(0)
        starts, ends = self.const(1).reshape(-1), self.const(2).reshape(-1)
        axes = self.const(3, optional=True)
        steps = self.const(4, optional=True)
        axes = [
            self.axis(a, t.rank) for a in (range(len(starts)) if axes is None else axes.reshape(-1))
        ]
        steps = [1] * len(starts) if steps is None else [int(v) for v in steps.reshape(-1)]
        full = (None, *t.shape)
        per = {k: (0, None, 1) for k in range(1, t.rank)}
        for a, s0, e0, st in zip(axes, starts, ends, steps, strict=True):
            big = 2**62
            s0, e0 = int(s0), int(e0)
            if a == 0:  # the whole batch: end INT64_MAX (torch) or INT32_MAX (tf2onnx)
                if (s0, st) != (0, 1) or e0 < 2**31 - 1:
                    raise self.fail("slicing the batch axis is not supported")
                continue
            r = range(full[a])[slice(s0, None if abs(e0) >= big else e0, st)]
            if len(r) == 0:
                raise self.fail(f"slice of axis {a} is empty")
            per[a] = (r.start, r.stop if r.stop >= 0 else None, r.step)
        layer = Slice([per[p] for p in t.perm[1:]], name=self.name_for("slice"))
        shape = [len(range(n)[slice(*per[k + 1])]) for k, n in enumerate(t.shape)]
        self.out(self.emit(layer, [t.name]), shape, t.perm)

    def op_Split(self, attrs):
        t = self.dyn(0)
        axis = self.axis(attrs.get("axis", 0), t.rank)
        if axis == 0:
            raise self.fail("Split along the batch axis is not supported")
        n_out, size = len(self.node.output), t.shape[axis - 1]
        if int(attrs.get("num_outputs", n_out)) != n_out:
            raise self.fail(f"num_outputs={attrs['num_outputs']} but the node has {n_out} outputs")
        sizes = attrs.get("split")
        if sizes is None and self.node.input[1:2] and self.node.input[1]:
            sizes = self.const(1).reshape(-1)
        if sizes is None:  # equal parts, the last one smaller (opset 18 num_outputs)
            part = -(-size // n_out)
            sizes = [min(part, size - k * part) for k in range(n_out)]
        sizes = [int(v) for v in sizes]
        if len(sizes) != n_out or sum(sizes) != size or min(sizes) < 1:
            raise self.fail(
                f"split sizes {sizes} do not cut axis {axis} of size {size} into {n_out} parts"
            )
        start = 0
        for k, n in enumerate(sizes):
            per = {a: (0, None, 1) for a in range(1, t.rank)}
            per[axis] = (start, start + n, 1)
            layer = Slice([per[p] for p in t.perm[1:]], name=self.name_for(f"split{k}"))
            shape = list(t.shape)
            shape[axis - 1] = n
            self.out(self.emit(layer, [t.name]), shape, t.perm, i=k)
            start += n

    def op_ReduceMean(self, attrs, cls=ReduceMean):
        t = self.dyn(0)
        op = self.node.op_type
        axes = self.axes_arg(attrs)
        if axes is None or not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return self.alias()
            raise self.fail(f"{op} over every axis (including the batch) is not supported")
        axes = sorted({self.axis(a, t.rank) for a in axes})
        if 0 in axes:
            raise self.fail(f"{op} over the batch axis is not supported")
        keep = bool(attrs.get("keepdims", 1))
        layer = cls(
            [t.perm.index(a) - 1 for a in axes], keepdims=keep, name=self.name_for(op.lower())
        )
        full = (1, *t.shape)
        if keep:
            shape, perm = [1 if k + 1 in axes else s for k, s in enumerate(t.shape)], t.perm
        else:
            left = [k for k in range(t.rank) if k not in axes]
            new = {a: i for i, a in enumerate(left)}
            shape = [full[k] for k in left][1:]
            perm = tuple(new[p] for p in t.perm if p not in axes)
        self.out(self.emit(layer, [t.name]), shape, perm)

    def op_ReduceMax(self, attrs):
        self.op_ReduceMean(attrs, cls=ReduceMax)

    def op_ReduceSum(self, attrs):
        self.op_ReduceMean(attrs, cls=ReduceSum)

    def op_ReduceMin(self, attrs):
        self.op_ReduceMean(attrs, cls=ReduceMin)

    def op_ReduceProd(self, attrs):
        self.op_ReduceMean(attrs, cls=ReduceProd)

    def op_ReduceL1(self, attrs):
        self.op_ReduceMean(attrs, cls=ReduceL1)

    def op_ReduceL2(self, attrs):
        self.op_ReduceMean(attrs, cls=ReduceL2)

    def op_ReduceLogSumExp(self, attrs):
        self.op_ReduceMean(attrs, cls=ReduceLogSumExp)

    def op_ReduceSumSquare(self, attrs):
        self.op_ReduceMean(attrs, cls=ReduceSumSquare)

    def op_Tile(self, attrs):
        t = self.dyn(0)
        reps = [int(v) for v in self.const(1).reshape(-1)]
        if len(reps) != t.rank or min(reps) < 1:
            raise self.fail(f"repeats {reps} do not fit a rank-{t.rank} input")
        if reps[0] != 1:
            raise self.fail(f"repeats {reps} repeat the batch axis; not supported")
        layer = Tile([reps[p] for p in t.perm[1:]], name=self.name_for("tile"))
        shape = [s * r for s, r in zip(t.shape, reps[1:], strict=True)]
        self.out(self.emit(layer, [t.name]), shape, t.perm)

    def op_Resize(self, attrs):
        t = self.dyn(0)
        new = self.opset >= 11 and self.node.op_type == "Resize"
        mode = _text(attrs.get("mode", "nearest"))
        transform = _text(attrs.get("coordinate_transformation_mode", "half_pixel"))
        nearest = _text(attrs.get("nearest_mode", "round_prefer_floor"))
        if nearest not in NEAREST_MODES[:4]:
            raise self.fail(f"nearest_mode {nearest!r} is not supported")
        if not new:  # Upsample (opsets 7-9) and Resize-10: asymmetric, truncating
            transform, nearest = "asymmetric", "simple"
        if mode not in ("nearest", "linear", "cubic"):
            raise self.fail(f"mode {mode!r} is not supported (nearest, linear and cubic are)")
        if transform not in RESIZE_TRANSFORMS:
            raise self.fail(
                f"coordinate_transformation_mode {transform!r} is not supported",
                hint="one of " + ", ".join(RESIZE_TRANSFORMS),
            )
        sizes, scales = self.resize_targets(attrs, t, new)
        axes = [k for k in range(1, t.rank) if sizes[k] != t.shape[k - 1] or scales[k] != 1]
        if attrs.get("antialias", 0) and mode != "nearest" and any(scales[k] < 1 for k in axes):
            raise self.fail("antialiased downsampling (antialias=1) is not supported")
        if not axes:
            return self.alias()
        layer = Resize(
            [t.perm.index(k) - 1 for k in axes],
            [sizes[k] for k in axes],
            [scales[k] for k in axes],
            mode,
            transform,
            nearest,
            name=self.name_for("resize"),
            cubic_a=float(attrs.get("cubic_coeff_a", -0.75)),
            exclude_outside=bool(attrs.get("exclude_outside", 0)),
        )
        self.out(self.emit(layer, [t.name]), sizes[1:], t.perm)

    op_Upsample = op_Resize

    def resize_targets(self, attrs, t: _Tensor, new: bool) -> tuple[list[int], list[float]]:
        """Output size and coordinate scale of every ONNX axis of a Resize/Upsample."""
        n_in = [1, *t.shape]
        if not new:
            scales = attrs.get("scales")
            scales = self.const(1) if scales is None else np.asarray(scales, np.float32)
            scales, sizes = np.asarray(scales, np.float32).reshape(-1), None
        else:
            scales = self.const(2, optional=True)
            sizes = self.const(3, optional=True)
            if scales is not None and scales.size == 0:
                scales = None
            if sizes is not None and sizes.size == 0:
                sizes = None
            if (scales is None) == (sizes is None):
                raise self.fail("exactly one of the inputs scales and sizes must be given")
        axes = attrs.get("axes")
        axes = list(range(t.rank)) if axes is None else [self.axis(a, t.rank) for a in axes]
        given = sizes if sizes is not None else scales
        given = np.asarray(given).reshape(-1)
        if len(given) != len(axes):
            raise self.fail(
                f"{len(given)} {'sizes' if sizes is not None else 'scales'} for {len(axes)} axes"
            )
        out_n, out_s = list(n_in), [1.0] * t.rank
        policy = _text(attrs.get("keep_aspect_ratio_policy", "stretch"))
        if sizes is not None and policy != "stretch":
            raise self.fail(f"keep_aspect_ratio_policy {policy!r} is not supported (stretch is)")
        for a, v in zip(axes, given, strict=True):
            if a == 0:
                ok = v == 1 if sizes is None else v in (_BATCH, self.static_batch or _BATCH)
                if not ok:
                    raise self.fail(f"resizing the batch axis ({v}) is not supported")
                continue
            if sizes is not None:
                out_n[a] = int(v)
                out_s[a] = float(np.float32(v) / np.float32(n_in[a]))
            else:
                out_s[a] = float(np.float32(v))
                out_n[a] = int(np.floor(np.float32(n_in[a]) * np.float32(v)))
            if out_n[a] < 1 or not np.isfinite(out_s[a]) or out_s[a] <= 0:
                raise self.fail(
                    f"resize of axis {a} (size {n_in[a]}) to {out_n[a]} "
                    f"(scale {out_s[a]:g}) is not a valid size"
                )
        return out_n, out_s

    # -- quantisation (QDQ: QuantizeLinear / DequantizeLinear pairs) -----------------------
    def quant_params(self, attrs, rank: int, shape: tuple[int, ...] | None = None):
        """Scale, zero point (ONNX layout, broadcastable) and the integer range of a Q/DQ
        node; ``shape``: the quantised constant's, for blocked quantisation (int4 weights)."""
        scale = self.const(1).astype(np.float32)
        zp = self.const(2, optional=True)
        dtype = _quant_dtype(self, zp, attrs)
        zp = np.zeros((), np.float32) if zp is None else zp.astype(np.float32)
        if int(attrs.get("block_size", 0)):
            scale, zp = self.blocked(attrs, shape, scale, zp)
        elif scale.size > 1 or zp.size > 1:
            axis = int(attrs.get("axis", 1))
            if not -rank <= axis < rank:
                raise self.fail(f"axis {axis} is outside a rank-{rank} tensor")
            axis %= rank
            shape = [1] * rank
            shape[axis] = max(scale.size, zp.size)
            scale, zp = scale.reshape(-1), zp.reshape(-1)
            scale = np.broadcast_to(scale, (shape[axis],)).reshape(shape)
            zp = np.broadcast_to(zp, (shape[axis],)).reshape(shape)
        if not (np.isfinite(scale).all() and (scale > 0).all()):
            raise self.fail(f"quantisation scale {scale.reshape(-1)[:4]} must be finite and > 0")
        return scale, zp, _QUANT_RANGES[dtype]

    def blocked(self, attrs, shape, scale: np.ndarray, zp: np.ndarray):
        """Scale and zero point of blocked quantisation (opset 21: one per ``block_size``
        values along ``axis``) repeated to the constant's ``shape``."""
        block = int(attrs["block_size"])
        if shape is None:
            raise self.fail("blocked quantisation (block_size) of activations is not supported")
        rank = len(shape)
        axis = int(attrs.get("axis", 1))
        if block < 1 or not -rank <= axis < rank:
            raise self.fail(f"block_size {block} / axis {axis} do not fit a rank-{rank} tensor")
        axis %= rank
        want = list(shape)
        want[axis] = -(-shape[axis] // block)
        if zp.ndim == 0:
            zp = np.zeros(want, np.float32) + zp
        if list(scale.shape) != want or list(zp.shape) != want:
            raise self.fail(
                f"scale {scale.shape} / zero point {zp.shape} of blocked quantisation: "
                f"expected {tuple(want)} for a {tuple(shape)} tensor, blocks of {block}"
            )
        n = shape[axis]
        return (np.repeat(a, block, axis=axis).take(range(n), axis=axis) for a in (scale, zp))

    def op_QuantizeLinear(self, attrs, step: str = "quantize"):
        t = self.dyn(0)
        scale, zp, (lo, hi) = self.quant_params(attrs, t.rank)
        scale = scale.reshape((1,) * (t.rank - scale.ndim) + scale.shape).transpose(t.perm)
        zp = zp.reshape((1,) * (t.rank - zp.ndim) + zp.shape).transpose(t.perm)
        if scale.shape[0] != 1 or any(
            c not in (1, s) for c, s in zip(scale.shape[1:], t.internal_shape, strict=True)
        ):
            raise self.fail(
                f"{scale.size} scales do not fit the input (per-sample shape {t.shape})"
            )
        layer = Quantize(step, scale, zp, lo, hi, name=self.name_for(step))
        self.out(self.emit(layer, [t.name]), t.shape, t.perm)

    def op_DequantizeLinear(self, attrs):
        self.op_QuantizeLinear(attrs, step="dequantize")


#: constant-folding ops that compute numbers (refused on the symbolic batch size)
_ARITHMETIC = (
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Neg",
    "Sqrt",
    "Pow",
    "ReduceProd",
    "MatMul",
    "Gemm",
    "Conv",
    "Expand",
    "ConstantOfShape",
)


def _check_values(model: Model, source: str) -> None:
    """Refuse NaN anywhere in the imported numbers, infinite weights, biases and batch-norm
    statistics, and batch-norm variances that make ``var + eps`` non-positive (each would
    give NaN or infinite logits far from its cause, or a mapping error that names no layer);
    the message names the layer (named after its ONNX node), the array and the first bad
    index.  Infinite elementwise constants stay legal (``Max(x, -inf)``, ``Clip`` bounds)."""
    for la in iter_layers(model.layers):
        arrays = {**la.params(), **la.buffers()}
        weights = set(la.params()) | ({"running_var", "running_mean"} & set(arrays))
        for key, arr in arrays.items():
            arr = np.asarray(arr, dtype=float)
            bad = np.isnan(arr) | (~np.isfinite(arr) if key in weights else False)
            if key == "running_var":
                bad = bad | (arr + la.eps <= 0)
            if not np.any(bad):
                continue
            at = tuple(int(k) for k in np.argwhere(bad)[0])
            value = float(arr[at])
            what = (
                "NaN"
                if np.isnan(value)
                else "an infinite value"
                if np.isinf(value)
                else f"a variance with var + epsilon ({la.eps:g}) <= 0"
            )
            raise ModelError(
                f"{source}: layer {la.name!r} ({type(la).__name__}): {key} holds {what} "
                f"at index {at} (value {value!r})",
                hint="the exported model is broken (weights trained to NaN or a corrupted "
                "file); re-export it from a checkpoint with finite weights",
            )


def _fold(self: _Importer, op: str, attrs: dict) -> np.ndarray:
    """Compute a node whose inputs are all constants (numpy, ONNX semantics)."""
    ins = [self.consts[i] if i else None for i in self.node.input]
    if op in _ARITHMETIC and any(a is not None and _bmult(a).any() for a in ins):
        y = _fold_batch_product(op, ins)
        if y is None and op == "ReduceProd":
            y = _fold_batch_reduce_prod(attrs, ins)
        if y is None:
            raise self.fail(
                "arithmetic on the batch size (a dynamic shape) is not supported; only its "
                "product with a constant integer (and the quotient of such a product by a "
                "divisor of that integer) is followed",
                hint="export with constant shapes, e.g. x.flatten(1) or x.view(x.size(0), -1)",
            )
        return y
    for fold in (_fold_elementwise, _fold_shape_op, _fold_other):
        y = fold(self, op, attrs, ins)
        if y is not None:
            return y
    raise self.fail(f"{op} on constants is not supported")


def _fold_batch_reduce_prod(attrs: dict, ins: list) -> np.ndarray | None:
    """The product of a 1-D shape vector holding one batch marker (tf2onnx's element
    count of (batch, ...) axes): the marker of the batch times the other entries."""
    x = np.asarray(ins[0])
    axes = attrs.get("axes", None if len(ins) < 2 or ins[1] is None else list(ins[1]))
    if x.ndim != 1 or axes not in (None, [0], [-1]) or x.dtype.kind not in "iu":
        return None
    marks = _bmult(x)
    if (marks > 0).sum() != 1 or (x[marks == 0] <= 0).any():
        return None
    y = _bmark(int(marks.max()) * math.prod(int(v) for v in x[marks == 0]))
    return np.asarray([y] if attrs.get("keepdims", 1) else y, dtype=np.int64)


def _fold_batch_product(op: str, ins: list) -> np.ndarray | None:
    """``batch * k`` (nn.MultiheadAttention's ``bsz * num_heads``) and ``(batch * m) / k``
    for k dividing m, on folded shape values holding batch markers; None otherwise."""
    if op not in ("Mul", "Div") or len(ins) != 2 or any(a is None for a in ins):
        return None
    a, b = (np.asarray(v) for v in ins)
    if a.dtype.kind not in "iu" or b.dtype.kind not in "iu":
        return None
    ma, mb = _bmult(a), _bmult(b)
    if op == "Div" and mb.any() or ma.any() and mb.any():
        return None
    if op == "Mul" and mb.any():
        a, b, ma = b, a, mb
    a, b, ma = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64), ma)
    marked = ma > 0
    if (b[marked] <= 0).any():
        return None
    plain = np.where(marked, 0, a)
    if op == "Mul":
        return np.where(marked, _bmark(np.maximum(ma * b, 1)), plain * b)
    if (ma[marked] % b[marked]).any():
        return None
    if (b == 0).any():
        return None
    return np.where(marked, _bmark(np.maximum(ma // b, 1)), np.trunc(plain / b).astype(np.int64))


def _fold_elementwise(self: _Importer, op: str, attrs: dict, ins: list) -> np.ndarray | None:
    """Identity, Cast, arithmetic and comparisons on constants (None: not one of these)."""
    x = ins[0]
    if op in ("Identity", "Dropout"):
        return x
    if op == "Cast":
        from onnx import helper

        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(attrs["to"]))
        if dtype.kind in "iu" and _bmult(x).any():
            return x  # tf2onnx casts shapes to int32 and back; the batch marker stays int64
        return x.astype(dtype)
    if op == "Div":
        if x.dtype.kind in "iu":
            return np.trunc(x / ins[1]).astype(x.dtype)
        return (x / ins[1]).astype(x.dtype)
    binary = {
        "Add": np.add,
        "Sub": np.subtract,
        "Mul": np.multiply,
        "Pow": np.power,
        "Equal": np.equal,
        "Greater": np.greater,
        "Less": np.less,
        "GreaterOrEqual": np.greater_equal,
        "LessOrEqual": np.less_equal,
        "And": np.logical_and,
        "Or": np.logical_or,
        "Xor": np.logical_xor,
        "Max": np.maximum,
        "Min": np.minimum,
    }
    if op in binary:
        y = binary[op](x, ins[1])
        return y if y.dtype == bool else y.astype(x.dtype)
    unary = {"Neg": np.negative, "Abs": np.abs, "Sign": np.sign, "Round": np.rint}
    if op in unary:
        return unary[op](x)
    if op in ("Exp", "Log"):
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return (np.exp if op == "Exp" else np.log)(x)
    if op == "Mod":  # fmod=1: the sign of the dividend (C's fmod); else of the divisor
        if _bmult(x).any() or _bmult(ins[1]).any():
            return None
        return (np.fmod if attrs.get("fmod", 0) else np.mod)(x, ins[1]).astype(x.dtype)
    if op == "Reciprocal":
        return 1.0 / x
    if op == "Not":
        return np.logical_not(x)
    if op == "Sqrt":
        return np.sqrt(x)
    if op == "Where":
        return np.where(x, ins[1], ins[2])
    return None


def _fold_shape_op(self: _Importer, op: str, attrs: dict, ins: list) -> np.ndarray | None:
    """Gather, (Un)squeeze, Concat, Slice, Reshape, Transpose on constants."""
    x = ins[0]
    if op == "Gather":
        return np.take(x, ins[1].astype(np.int64), axis=int(attrs.get("axis", 0)))
    if op in ("Unsqueeze", "Squeeze"):
        axes = attrs.get("axes", None if len(ins) < 2 or ins[1] is None else list(ins[1]))
        if op == "Unsqueeze":
            r = x.ndim + len(axes)
            return np.expand_dims(x, tuple(sorted(self.axis(a, r) for a in axes)))
        if axes is None:
            return np.squeeze(x)
        return np.squeeze(x, axis=tuple(self.axis(a, x.ndim) for a in axes))
    if op == "Concat":
        arrays = [np.atleast_1d(a) for a in ins if a is not None]
        return np.concatenate(arrays, axis=self.axis(attrs["axis"], arrays[0].ndim))
    if op == "Slice":
        return _slice(self, x, ins)
    if op == "Reshape":
        keep_zero = attrs.get("allowzero", 0)
        shape = [int(v) for v in ins[1]]
        shape = [x.shape[k] if (v == 0 and not keep_zero) else v for k, v in enumerate(shape)]
        if any(v < -1 for v in shape) or shape.count(-1) > 1:  # numpy reads any negative as -1
            raise self.fail(
                f"Reshape of a constant to {shape}: sizes must be >= -1, one -1 at most"
            )
        try:
            return x.reshape(shape)
        except ValueError:
            raise self.fail(f"cannot reshape a constant of shape {x.shape} to {shape}") from None
    if op == "Transpose":
        return np.transpose(x, attrs.get("perm"))
    if op == "Shape":  # of a folded shape vector (torch's Expand of a cls token at opset 17)
        return np.array(x.shape, dtype=np.int64)[attrs.get("start", 0) : attrs.get("end")]
    return None


def _fold_other(self: _Importer, op: str, attrs: dict, ins: list) -> np.ndarray | None:
    """ReduceProd, ConstantOfShape, Expand, Tile and Q/DQ (quantised weights) on constants."""
    x = ins[0]
    if op in ("QuantizeLinear", "DequantizeLinear"):
        scale, zp, (lo, hi) = self.quant_params(attrs, max(x.ndim, 1), x.shape)
        if op == "DequantizeLinear":  # (x - zero point) * scale in float32, as onnxruntime
            return ((x.astype(np.float64) - zp).astype(np.float32) * scale).astype(np.float32)
        q = np.clip(np.rint(x.astype(np.float32) / scale) + zp, lo, hi)
        return q.astype(np.int64 if lo < -128 or hi > 255 else np.int16)
    if op == "MatMul" and x.dtype.kind == "f" and ins[1].dtype.kind == "f":
        if x.ndim == 0 or ins[1].ndim == 0:
            raise self.fail("MatMul of a scalar")
        try:  # a learned query times its projection (attention pooling)
            return np.matmul(x, ins[1])
        except ValueError:
            raise self.fail(
                f"cannot multiply constants of shapes {x.shape} and {ins[1].shape}"
            ) from None
    if op == "Range":  # arange of constants (Swin's window masks, relative positions)
        start, limit, delta = (np.asarray(a).reshape(-1)[0] for a in ins[:3])
        if delta == 0 or (limit - start) / delta > MAX_CONST_ELEMENTS:
            raise self.fail(f"Range({start}, {limit}, {delta}) is not a plausible constant")
        return np.arange(start, limit, delta).astype(np.asarray(ins[0]).dtype)
    if op == "Trilu":  # a causal mask (scaled_dot_product_attention(is_causal=True))
        k = 0 if len(ins) < 2 or ins[1] is None else int(np.asarray(ins[1]).reshape(-1)[0])
        if x.ndim < 2:
            raise self.fail(f"Trilu of a rank-{x.ndim} constant")
        return np.triu(x, k) if attrs.get("upper", 1) else np.tril(x, k)
    if op == "ScatterND":  # a mask written element by element (Swin's shifted windows)
        return _scatter_nd(self, x, np.asarray(ins[1]), np.asarray(ins[2]), attrs)
    if op == "Einsum" and all(a is not None and a.dtype.kind == "f" for a in ins):
        terms, out = self.einsum_terms([a.ndim for a in ins])
        return np.einsum(",".join(terms) + "->" + out, *ins)
    if op == "Tile":
        _check_size(self, op, [a * int(r) for a, r in zip(x.shape, ins[1], strict=True)], x)
        return np.tile(x, [int(r) for r in ins[1]])
    if op == "ReduceProd":
        axes = attrs.get("axes", None if len(ins) < 2 or ins[1] is None else tuple(ins[1]))
        keep = bool(attrs.get("keepdims", 1))
        return np.prod(x, axis=None if axes is None else tuple(axes), keepdims=keep)
    if op in ("ConstantOfShape", "Expand"):
        _check_size(self, op, [int(v) for v in (x if op == "ConstantOfShape" else ins[1])], x)
    if op == "ConstantOfShape":
        value = np.zeros(1, np.float32)
        if "value" in attrs:
            value = np.asarray(self.to_array(attrs["value"]))
        return np.full([int(v) for v in x], value.reshape(-1)[0], dtype=value.dtype)
    if op == "Expand":
        return x * np.ones([int(v) for v in ins[1]], dtype=x.dtype)
    return None


#: most elements a folded constant may have (a graph's shape computations need a few)
MAX_CONST_ELEMENTS = 1 << 26

#: most values one image's tensor may have anywhere in the graph (2**26: 512 MB of float64
#: per image; an ImageNet classifier's largest feature map has a few million)
MAX_SAMPLE_ELEMENTS = 1 << 26


def _scatter_nd(self: _Importer, x: np.ndarray, idx: np.ndarray, upd: np.ndarray, attrs):
    """ONNX ScatterND on constants (reduction none, add, mul, max or min)."""
    red = _text(attrs.get("reduction", "none"))
    k = idx.shape[-1] if idx.ndim else 0
    if idx.dtype.kind not in "iu" or k > x.ndim or upd.shape != idx.shape[:-1] + x.shape[k:]:
        raise self.fail(f"ScatterND of indices {idx.shape} and updates {upd.shape} into {x.shape}")
    y = x.copy()
    flat = idx.reshape(-1, k)
    if ((flat < -np.array(x.shape[:k])) | (flat >= np.array(x.shape[:k]))).any():
        raise self.fail("ScatterND indices outside the data")
    u = upd.reshape(len(flat), *x.shape[k:])
    ops = {"none": lambda a, b: b, "add": np.add, "mul": np.multiply}
    ops.update({"max": np.maximum, "min": np.minimum})
    if red not in ops:
        raise self.fail(f"ScatterND reduction {red!r} is not supported")
    for i, v in zip(flat, u, strict=True):
        y[tuple(i)] = ops[red](y[tuple(i)], v)
    return y


def _check_size(self: _Importer, op: str, shape: list[int], x: np.ndarray) -> None:
    """Refuse a ConstantOfShape/Expand whose result would be huge, before allocating it."""
    if op == "Expand":  # the result broadcasts the input against the shape
        rank = max(len(shape), x.ndim)
        a = [1] * (rank - x.ndim) + list(x.shape)
        b = [1] * (rank - len(shape)) + shape
        shape = [max(p, q) for p, q in zip(a, b, strict=True)]
    if any(v < 0 for v in shape) or math.prod(shape) > MAX_CONST_ELEMENTS:
        raise self.fail(
            f"{op} to shape {shape} ({math.prod(shape):.3g} elements) is not a plausible "
            f"constant (at most {MAX_CONST_ELEMENTS} elements are folded)",
            hint="the shape is corrupted, or it depends on the batch size",
        )


def _slice(self: _Importer, x: np.ndarray, ins: list) -> np.ndarray:
    starts, ends = ins[1], ins[2]
    axes = ins[3] if len(ins) > 3 and ins[3] is not None else np.arange(len(starts))
    steps = ins[4] if len(ins) > 4 and ins[4] is not None else np.ones(len(starts), np.int64)
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps, strict=True):
        big = 2**62
        e = None if (st > 0 and e >= big) or (st < 0 and e <= -big) else int(e)
        index[self.axis(a, x.ndim)] = slice(int(s), e, int(st))
    return x[tuple(index)]


_Importer.fold = _fold


def load_onnx(
    source: str | Path | onnx.ModelProto,
    *,
    name: str | None = None,
    input_layout: str | None = None,
    output: str | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> Model:
    """Import an ONNX image classifier as a :class:`~xbar.network.Model` graph.

    Parameters
    ----------
    source : str, Path or onnx.ModelProto
        An ``.onnx`` file (initializers stored as external data are read from
        beside it) or a loaded model.
    name : str, optional
        Model name (default: the file's stem, or the graph name).
    input_layout : {"NCHW", "NHWC", "flat"}, optional
        Layout of the graph's input; by default NCHW for rank-4 inputs, unless the
        file was written by tf2onnx (Keras models, through ``tf2onnx.convert`` or
        Keras 3's ``model.export(..., format="onnx")``) or every consumer of the input
        is a ``Transpose`` to NCHW, which means NHWC.
    output : str, optional
        The tensor that holds the logits, for a graph with several outputs (any tensor
        of the graph may be named).  By default the only output; of several, the one
        left after dropping the ``Softmax``/``LogSoftmax``/``Sigmoid`` of another.  An
        output that is the ``ArgMax`` of the logits (classification by index) stands for
        the logits: xbar takes the argmax itself, so accuracy is unchanged.
    input_shape : tuple of int, optional
        Per-sample shape of the data, in xbar's layout (``(H, W, C)`` for images, as
        ``Dataset.input_shape``), for a graph whose input has dynamic dimensions besides
        the batch (exported with ``dynamic_axes`` for the height and width): the model
        is imported for that size.  Static dimensions must agree with it.

    Returns
    -------
    Model
        Inputs NHWC (``model.input_shape``, e.g. ``(32, 32, 3)``), logits
        ``(batch, classes)``; ``model.meta`` records the source, opset and layout.

    Raises
    ------
    ModelError
        For a missing or unreadable file (a PyTorch checkpoint, a Keras model, ... is
        named as such), missing external data, a model over 2 GiB, or a graph that uses
        anything not supported (naming the node, its op type and what is supported);
        :class:`DynamicInputError` for dynamic input dimensions without ``input_shape``.

    Examples
    --------
    >>> from xbar.network import load_model, save_onnx, load_onnx
    >>> import tempfile, os, numpy as np
    >>> m = load_model("default")
    >>> path = os.path.join(tempfile.mkdtemp(), "default.onnx")
    >>> _ = save_onnx(m, path)
    >>> m2 = load_onnx(path)
    >>> x = np.random.default_rng(0).random((3, 8, 8, 1))
    >>> bool(np.allclose(m2.forward(x), m.forward(x), rtol=1e-5, atol=1e-6))
    True
    """
    onnx = require_onnx()
    if isinstance(source, onnx.ModelProto):
        proto, where = source, f"<onnx model {source.graph.name or 'graph'}>"
        default = source.graph.name or "onnx_model"
    else:
        proto, where = _read_file(onnx, source)
        default = Path(where).stem
    if not proto.HasField("graph") or not (proto.graph.node or proto.graph.input):
        raise ModelError(
            f"{where}: the ONNX model holds no graph (no nodes and no inputs)",
            hint="write it with torch.onnx.export, tf2onnx or onnx.save",
        )
    opset = next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise ModelError(f"{where}: no default-domain opset import")
    importer = _Importer(
        proto.graph, opset, where, input_layout, proto.producer_name, output, input_shape
    )
    importer.model = proto
    return importer.run(name or default)


def _read_file(onnx, source: str | Path):
    """The ``ModelProto`` of an ``.onnx`` file with its external data, and its name for
    messages; files that are something else, too large or missing data are named."""
    from ..checks import path_arg, special_file

    path = path_arg(source, "ONNX model")
    where = str(path)
    if special_file(path):
        raise ModelError(f"ONNX model {where!r} is {special_file(path)}, not a file")
    if not path.is_file():
        raise ModelError(
            f"ONNX model {where!r} does not exist"
            + (" (it is a directory)" if path.is_dir() else "")
        )
    if path.stat().st_size == 0:
        raise ModelError(f"ONNX model {where!r} is empty (0 bytes)")
    check_model_size(path, where)
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf decode errors
        kind = sniff_format(path)
        if kind is not None:
            raise ModelError(
                f"{where}: this is {kind}, not an ONNX model", hint=export_hint()
            ) from None
        raise ModelError(
            f"{where}: not a readable ONNX model ({type(exc).__name__}: {exc}); the file "
            "is truncated, corrupted or in another format",
            hint=export_hint(),
        ) from None
    check_external_data(proto, path.parent, where)
    try:
        from onnx.external_data_helper import load_external_data_for_model

        load_external_data_for_model(proto, str(path.parent))
    except Exception as exc:  # noqa: BLE001 - traversal, short data files
        raise ModelError(
            f"{where}: cannot read its external data ({type(exc).__name__}: {exc})",
            hint="keep the data file the exporter wrote (e.g. model.onnx.data) next to "
            "the .onnx file, unchanged",
        ) from None
    return proto, where
