"""Held-out robustness, round 4 (onnx8): model families users bring, hostile files, data.

One compact regression test per class of problem found by exporting real PyTorch models
(TorchScript exporter at opsets 13-18 and dynamo at 18-20, torch 2.13) and comparing
xbar with onnxruntime 1.32: 1-D convolution nets (audio, time series), vision
transformers with hand-written attention and a class token, MLP-Mixers, recurrent
nets.  The graphs here are rebuilt with ``onnx.helper`` in the exporters' shapes (node
for node where it matters); reference values come from ``onnx.reference`` (torch and
onnxruntime are not needed).
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto as TP  # noqa: E402
from onnx import helper as oh  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402
from onnx_builders import init as _init  # noqa: E402
from onnx_builders import model as _model  # noqa: E402

from xbar.errors import ModelError  # noqa: E402
from xbar.network import (  # noqa: E402
    AnalogConfig,
    evaluate,
    load_model,
    load_onnx,
    save_model,
    save_onnx,
)
from xbar.network.data import synthetic_dataset  # noqa: E402

RNG = np.random.default_rng(8)


def _w(*shape, scale=0.5):
    return RNG.standard_normal(shape).astype(np.float32) * scale


def _compare(m, n=3, rtol=1e-5):
    """Import ``m``; its forward pass on ONNX-layout inputs (NCHW images go in NHWC) must
    equal onnx.reference's.  Returns the model."""
    model = load_onnx(m)
    dims = [d.dim_value or n for d in m.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(1).standard_normal(dims).astype(np.float32)
    ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
    inside = x.transpose(0, 2, 3, 1) if model.meta["input_layout"] == "NCHW" else x
    got = model.forward(inside.astype(float))
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= rtol * np.abs(ref).max(), np.abs(got - ref).max()
    return model


def _round_trip(model, tmp_path, opset=18):
    """save_onnx and xbar's own format keep the network (same outputs)."""
    x = np.random.default_rng(2).standard_normal((2, *model.input_shape))
    path = save_onnx(model, tmp_path / "m.onnx", opset=opset)
    np.testing.assert_allclose(load_onnx(path).forward(x), model.forward(x), rtol=1e-5, atol=1e-6)
    save_model(model, tmp_path / "own")
    np.testing.assert_array_equal(load_model(tmp_path / "own").forward(x), model.forward(x))


def _weight_nodes(m):
    """Conv/Gemm/MatMul nodes with a constant (initializer) operand: what must be mapped."""
    inits = {i.name for i in m.graph.initializer}
    return [
        n
        for n in m.graph.node
        if n.op_type in ("Conv", "Gemm", "MatMul") and any(i in inits for i in n.input)
    ]


def _mapped_ideally(model, proto):
    """Every weight node is a layer on the arrays, and ideal arrays compute it exactly."""
    folded = model.fold_batchnorm()
    assert len(folded.matmul_layers()) == len(_weight_nodes(proto))
    data = synthetic_dataset(model.input_shape, classes=model.classes, sizes=(8, 4, 8))
    res = evaluate(model, AnalogConfig().as_ideal(), dataset=data, chips=[0])
    assert res.accuracy == res.ideal_accuracy
    assert {s.name for s in res.layer_stats} == {la.name for la in folded.matmul_layers()}
    assert all(s.rel_error < 1e-9 for s in res.layer_stats)


# ------------------------------------------------------------ 1. 1-D convolution nets


def _conv1d_net(opset=17):
    """An M5-style audio net as torch exports nn.Conv1d/BatchNorm1d/MaxPool1d/AvgPool1d/
    AdaptiveAvgPool1d(1): rank-3 (N, C, L) tensors, 1-D window attributes."""
    nodes = [
        oh.make_node("Conv", ["x", "W1", "b1"], ["c1"], pads=[4, 4], strides=[4], name="c1"),
        oh.make_node(
            "BatchNormalization", ["c1", "g", "be", "mu", "var"], ["n1"], epsilon=1e-5, name="bn"
        ),
        oh.make_node("Relu", ["n1"], ["r1"]),
        oh.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3], strides=[2], ceil_mode=1),
        oh.make_node("Conv", ["p1", "W2"], ["c2"], pads=[2, 2], dilations=[2], name="c2"),
        oh.make_node("Relu", ["c2"], ["r2"]),
        oh.make_node(
            "AveragePool", ["r2"], ["p2"], kernel_shape=[3], strides=[2], pads=[1, 1], name="ap"
        ),
        oh.make_node("Conv", ["p2", "Wd", "bd"], ["c3"], pads=[2, 2], group=8, name="dw"),
        oh.make_node("HardSwish", ["c3"], ["h3"]),
        oh.make_node("GlobalAveragePool", ["h3"], ["gp"]),
        oh.make_node("Flatten", ["gp"], ["f"]),
        oh.make_node("Gemm", ["f", "Wf", "bf"], ["y"], transB=1, name="fc"),
    ]
    inits = [
        _init("W1", _w(8, 2, 9)),
        _init("b1", _w(8)),
        _init("g", 1 + _w(8, scale=0.1)),
        _init("be", _w(8)),
        _init("mu", _w(8)),
        _init("var", 1 + np.abs(_w(8))),
        _init("W2", _w(8, 8, 3)),
        _init("Wd", _w(8, 1, 5)),
        _init("bd", _w(8)),
        _init("Wf", _w(6, 8)),
        _init("bf", _w(6)),
    ]
    return _model(nodes, inits, ("N", 2, 64), ("N", 6), opset=opset)


@pytest.mark.parametrize("opset", [14, 17, 18])
def test_conv1d_nets_are_mapped_and_match(opset, tmp_path):
    """nn.Conv1d (strides, pads, dilations, groups), BatchNorm1d, 1-D pools and a global
    pool over time were refused ('only 2-D convolutions'); each 1-D window op now runs as
    its 2-D twin on a (1, L) image, every Conv1d is a layer on the arrays and the
    BatchNorm1d after a Conv1d folds into its weights as in 2-D nets."""
    proto = _conv1d_net(opset)
    model = _compare(proto)
    assert model.input_shape == (2, 64)  # the data come in ONNX's (C, L) order
    assert not any(type(la).__name__ == "BatchNorm" for la in model.fold_batchnorm().layers)
    _mapped_ideally(model, proto)
    if opset == 17:
        _round_trip(model, tmp_path)


def test_keras_conv1d_through_tf2onnx_takes_nwc_data():
    """Keras' Conv1D is channels-last: tf2onnx writes (N, L, C) -> Transpose -> Conv with
    SAME_UPPER padding; the Transpose only moves bookkeeping (no data transpose)."""
    nodes = [
        oh.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
        oh.make_node("Conv", ["t", "W", "b"], ["c"], auto_pad="SAME_UPPER", strides=[2]),
        oh.make_node("Relu", ["c"], ["r"]),
        oh.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2], strides=[2]),
        oh.make_node("Transpose", ["p"], ["pt"], perm=[0, 2, 1]),
        oh.make_node("Flatten", ["pt"], ["f"]),
        oh.make_node("MatMul", ["f", "Wf"], ["y"]),
    ]
    inits = [_init("W", _w(6, 3, 4)), _init("b", _w(6)), _init("Wf", _w(6 * 5, 4))]
    model = _compare(_model(nodes, inits, ("N", 19, 3), ("N", 4)))
    assert model.input_shape == (19, 3)
    assert not any(type(la).__name__ == "Transpose" for la in model.layers)


@pytest.mark.parametrize(
    "node, weight, match",
    [
        (dict(pads=[1, 1, 1, 1]), (4, 2, 3), r"pads \[1, 1, 1, 1\] on a 1-D input"),
        (dict(strides=[1, 1]), (4, 2, 3), r"strides \[1, 1\] on a 1-D input"),
        (dict(), (4, 2, 3, 3), r"weight of rank 4 on an input of rank 3"),
        (dict(), (4, 2, 3, 3, 3), r"weight of rank 5 on an input of rank 3"),
    ],
)
def test_conv_attributes_that_do_not_fit_1d_are_named(node, weight, match):
    proto = _model(
        [oh.make_node("Conv", ["x", "W"], ["y"], name="conv", **node)],
        [_init("W", _w(*weight))],
        ("N", 2, 16),
        ("N", 4, 14),
    )
    with pytest.raises(ModelError, match=match) as err:
        load_onnx(proto)
    assert "'conv' (op Conv)" in str(err.value)


# ------------------------------------------------------------ 1. recurrent layers


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_recurrent_layers_are_refused_by_name_not_at_their_zero_state(op):
    """torch exports nn.LSTM/GRU with a zero initial state built from the batch size
    (Shape -> Gather -> Concat -> ConstantOfShape); the error named that ConstantOfShape
    ('arithmetic on the batch size'), now it names the recurrent node and why."""
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    nodes = [
        oh.make_node("Shape", ["x"], ["s"]),
        oh.make_node("Gather", ["s", "one"], ["n"], axis=0),
        oh.make_node("Unsqueeze", ["n", "zero"], ["nu"]),
        oh.make_node("Concat", ["one1", "nu", "hid"], ["hs"], axis=0),
        oh.make_node("ConstantOfShape", ["hs"], ["h0"]),
        oh.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        oh.make_node(op, ["xt", "W", "R", "", "", "h0"], ["o"], hidden_size=8, name="rnn"),
        oh.make_node("ReduceMean", ["o"], ["y"], axes=[0, 1], keepdims=0),
    ]
    inits = [
        _init("one", 1, np.int64),
        _init("zero", [0], np.int64),
        _init("one1", [1], np.int64),
        _init("hid", [8], np.int64),
        _init("W", _w(1, gates * 8, 6)),
        _init("R", _w(1, gates * 8, 8)),
    ]
    proto = _model(nodes, inits, ("N", 7, 6), ("N", 8))
    with pytest.raises(ModelError, match=rf"'rnn' \(op {op}\).*recurrent layers") as err:
        load_onnx(proto)
    assert "nn.Conv1d" in err.value.hint


# ------------------------------------------------------------ 1. transformers


def _cls_token(style, d, nodes, inits):
    """The class token (1, 1, d) for every sample, as each exporter writes it."""
    if style == "static":  # a batch-1 export folds cls.expand(1, -1, -1) to the constant
        return "cls"
    if style == "dynamo":  # Concat(Shape(x)[0:1], [1], [1]) -> Expand
        nodes += [
            oh.make_node("Shape", ["x"], ["n"], start=0, end=1),
            oh.make_node("Concat", ["n", "one1", "one1"], ["es"], axis=0),
        ]
    else:  # TorchScript opset 17: Shape -> Gather -> Unsqueeze -> Concat -> Reshape ->
        # Shape -> ConstantOfShape -> Mul -> Equal -> Where (expand's -1 handling)
        nodes += [
            oh.make_node("Shape", ["tok"], ["ts"]),
            oh.make_node("Gather", ["ts", "zero"], ["n0"], axis=0),
            oh.make_node("Unsqueeze", ["n0", "zero1"], ["nu"]),
            oh.make_node("Concat", ["nu", "m1", "m1"], ["c3"], axis=0),
            oh.make_node("Reshape", ["c3", "m1"], ["c3r"]),
            oh.make_node("Shape", ["c3r"], ["c3s"]),
            oh.make_node("ConstantOfShape", ["c3s"], ["ones"], value=_init("v", [1], np.int64)),
            oh.make_node("Mul", ["ones", "m1"], ["neg"]),
            oh.make_node("Equal", ["c3r", "neg"], ["eq"]),
            oh.make_node("Where", ["eq", "ones", "c3r"], ["es"]),
        ]
    nodes.append(oh.make_node("Expand", ["cls", "es"], ["ce"]))
    return "ce"


def _heads(attention, t, heads, hd, nodes, inits):
    """q (B, H, T, hd), k^T (B, H, hd, T) and v from qkv (B, T, 3 H hd), batch first at the
    end, in the shapes of: ``chunk`` (qkv.chunk(3, -1), reshape, transpose), ``timm``
    (reshape(B, T, 3, H, hd).permute(2, 0, 3, 1, 4) then unbind: TorchScript's Split +
    Squeeze or dynamo's Slice + Squeeze: the batch axis is second in between) and
    ``sdpa`` (dynamo's scaled_dot_product_attention: k^T through a reshape that merges the
    batch with the heads)."""
    inits += [_init("s_heads", [0, t, heads, hd], np.int64), _init("a0", [0], np.int64)]
    if attention.startswith("timm"):
        inits += [_init("s5", [0, t, 3, heads, hd], np.int64), _init("ones3", [1, 1, 1], np.int64)]
        nodes += [
            oh.make_node("Reshape", ["qkv", "s5"], ["q5"]),
            oh.make_node("Transpose", ["q5"], ["qp"], perm=[2, 0, 3, 1, 4]),
        ]
        if attention == "timm_split":
            nodes.append(oh.make_node("Split", ["qp", "ones3"], ["qs", "ks", "vs"], axis=0))
        else:
            for j, a in enumerate("qkv"):
                inits += [_init(f"b{j}", [j], np.int64), _init(f"e{j}", [j + 1], np.int64)]
                nodes.append(oh.make_node("Slice", ["qp", f"b{j}", f"e{j}", "a0"], [f"{a}s"]))
        for a in "qkv":
            nodes.append(oh.make_node("Squeeze", [f"{a}s", "a0"], [a if a != "k" else "k"]))
        nodes.append(oh.make_node("Transpose", ["k"], ["kT"], perm=[0, 1, 3, 2]))
        return
    inits.append(_init("thirds", [hd * heads] * 3, np.int64))
    nodes.append(oh.make_node("Split", ["qkv", "thirds"], ["q0", "k0", "v0"], axis=2))
    for a in "qkv":
        nodes.append(oh.make_node("Reshape", [f"{a}0", "s_heads"], [f"{a}h"]))
    nodes += [
        oh.make_node("Transpose", ["qh"], ["q"], perm=[0, 2, 1, 3]),
        oh.make_node("Transpose", ["vh"], ["v"], perm=[0, 2, 1, 3]),
    ]
    if attention == "chunk":
        nodes.append(oh.make_node("Transpose", ["kh"], ["kT"], perm=[0, 2, 3, 1]))
        return
    inits += [
        _init("s_m", [-1, t, hd], np.int64),
        _init("hdT", [hd, t], np.int64),
    ]
    nodes += [  # dynamo: Reshape(k, [-1, T, hd]) -> Transpose -> Reshape(Shape(k)[:-2] + [hd, T])
        oh.make_node("Transpose", ["kh"], ["k"], perm=[0, 2, 1, 3]),
        oh.make_node("Reshape", ["k", "s_m"], ["km"]),
        oh.make_node("Transpose", ["km"], ["kmT"], perm=[0, 2, 1]),
        oh.make_node("Shape", ["k"], ["ks"], end=-2),
        oh.make_node("Concat", ["ks", "hdT"], ["kTs"], axis=0),
        oh.make_node("Reshape", ["kmT", "kTs"], ["kT"]),
    ]


def _vit(cls_style="dynamo", opset=18, attention="chunk", d=8, heads=2):
    """A one-block ViT as torch exports it: patch Conv -> Reshape -> Transpose, a class
    token for every sample concatenated, position embedding, pre-norm attention
    written with q @ k^T (MatMul of two network tensors) and softmax, a GELU MLP,
    ``x[:, 0]`` (Gather) and the head.  ``cls_style`` "static" is a batch-1 export."""
    hd, t = d // heads, 5
    batch = 1 if cls_style == "static" else 0
    nodes = [
        oh.make_node("Conv", ["x", "Wp", "bp"], ["p"], kernel_shape=[4, 4], strides=[4, 4]),
        oh.make_node("Reshape", ["p", "s_flat"], ["pf"]),
        oh.make_node("Transpose", ["pf"], ["tok"], perm=[0, 2, 1]),
    ]
    inits = [
        _init("Wp", _w(d, 3, 4, 4, scale=0.2)),
        _init("bp", _w(d)),
        _init("s_flat", [batch, d, 4], np.int64),
        _init("cls", _w(1, 1, d)),
        _init("pos", _w(1, t, d)),
        _init("m1", [-1], np.int64),
        _init("one1", [1], np.int64),
        _init("zero", 0, np.int64),
        _init("zero1", [0], np.int64),
    ]
    cls = _cls_token(cls_style, d, nodes, inits)
    nodes += [
        oh.make_node("Concat", [cls, "tok"], ["cat"], axis=1),
        oh.make_node("Add", ["cat", "pos"], ["h"]),
        oh.make_node("LayerNormalization", ["h", "lg", "lb"], ["ln"], axis=-1),
        oh.make_node("MatMul", ["ln", "Wqkv"], ["qkv0"]),
        oh.make_node("Add", ["qkv0", "bqkv"], ["qkv"]),
    ]
    inits += [
        _init("lg", 1 + _w(d, scale=0.1)),
        _init("lb", _w(d, scale=0.1)),
        _init("Wqkv", _w(d, 3 * d)),
        _init("bqkv", _w(3 * d)),
        _init("scale", 1 / np.sqrt(hd)),
        _init("s_merge", [batch, t, d], np.int64),
        _init("Wo", _w(d, d)),
        _init("W1", _w(d, 16)),
        _init("W2", _w(16, d)),
        _init("c0", 0, np.int64),
        _init("Wh", _w(4, d)),
        _init("bh", _w(4)),
    ]
    _heads(attention, t, heads, hd, nodes, inits)
    nodes += [
        oh.make_node("MatMul", ["q", "kT"], ["att0"], name="scores"),
        oh.make_node("Mul", ["att0", "scale"], ["att1"]),
        oh.make_node("Softmax", ["att1"], ["att"], axis=-1),
        oh.make_node("MatMul", ["att", "v"], ["o"], name="mix"),
        oh.make_node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]),
        oh.make_node("Reshape", ["ot", "s_merge"], ["om"]),
        oh.make_node("MatMul", ["om", "Wo"], ["proj"]),
        oh.make_node("Add", ["h", "proj"], ["h2"]),
        oh.make_node("MatMul", ["h2", "W1"], ["m1o"]),
        oh.make_node("Gelu", ["m1o"], ["g"])
        if opset >= 20
        else oh.make_node("Erf", ["m1o"], ["g"]),
        oh.make_node("MatMul", ["g", "W2"], ["m2"]),
        oh.make_node("Add", ["h2", "m2"], ["h3"]),
        oh.make_node("Gather", ["h3", "c0"], ["clsout"], axis=1, name="select"),
        oh.make_node("Gemm", ["clsout", "Wh", "bh"], ["y"], transB=1),
    ]
    in_dims = (1 if cls_style == "static" else "N", 3, 8, 8)
    return _model(nodes, inits, in_dims, (in_dims[0], 4), opset=opset)


@pytest.mark.parametrize(
    "cls_style, opset, attention",
    [
        ("dynamo", 18, "chunk"),
        ("dynamo", 20, "sdpa"),
        ("ts", 17, "chunk"),
        ("ts", 17, "timm_split"),
        ("dynamo", 18, "timm_slice"),
        ("static", 17, "timm_split"),
        ("static", 18, "sdpa"),
    ],
)
def test_vit_with_class_token_and_attention(cls_style, opset, attention, tmp_path):
    """Refusals that stood between small ViTs and xbar: the class token's Expand to the
    batch size ('arithmetic on the batch size'), Shape of a folded shape vector, a batch-1
    export's class token as a constant in a Concat, MatMul of two network tensors (q @ k^T,
    attention @ v), Gather on a network tensor (x[:, 0]), timm's permute that puts the
    batch axis second until unbind, and dynamo's reshape that merges the batch with the
    heads.  Now: every weight is on the arrays, the attention products run digitally, and
    a batch-1 export runs on any batch."""
    proto = _vit(cls_style, opset, attention)
    model = _compare(proto)
    kinds = [type(la).__name__ for la in model.layers]
    assert kinds.count("BatchMatMul") == 2 and "Gather" in kinds
    _mapped_ideally(model, proto)
    if cls_style == "static":  # the batch-1 graph, run on 3 images, gives each its own logits
        x = np.random.default_rng(4).standard_normal((3, 3, 8, 8)).astype(np.float32)
        ref = np.concatenate([ReferenceEvaluator(proto).run(None, {"x": xi[None]})[0] for xi in x])
        got = model.forward(x.transpose(0, 2, 3, 1).astype(float))
        assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
    if opset == 18:
        _round_trip(model, tmp_path)


def test_static_batch_constants_in_a_concat_must_be_one_sample():
    """A Concat constant whose batch rows differ (a batch-2 export's per-sample values)
    is refused: it is not one value for every sample; nor is a batch-1 constant in a
    dynamic-batch graph (found by differential fuzzing: onnxruntime refuses batch 2)."""
    nodes = [
        oh.make_node("Concat", ["c", "x"], ["cx"], axis=1),
        oh.make_node("Flatten", ["cx"], ["y"]),
    ]
    c = np.stack([np.ones((1, 4)), 2 * np.ones((1, 4))]).astype(np.float32)
    with pytest.raises(ModelError, match=r"shape \(2, 1, 4\).*the export's batch \(2\) of equal"):
        load_onnx(_model(nodes, [_init("c", c)], (2, 3, 4), (2, 16)))
    same = np.ones((2, 1, 4), np.float32)
    _compare(_model(nodes, [_init("c", same)], (2, 3, 4), (2, 16)))
    # with a dynamic batch, a (1, ...) constant fits batch 1 only: onnxruntime refuses others
    with pytest.raises(ModelError, match=r"in a graph with a dynamic batch"):
        load_onnx(_model(nodes, [_init("c", same[:1])], ("N", 3, 4), ("N", 16)))


@pytest.mark.parametrize("pads", [[3, 0], [1, 4]])
def test_pools_with_pads_not_smaller_than_the_kernel_are_refused(pads):
    """Found by differential fuzzing against onnxruntime, which refuses such pools."""
    nodes = [
        oh.make_node("AveragePool", ["x"], ["a"], kernel_shape=[3], pads=pads, name="ap"),
        oh.make_node("Flatten", ["a"], ["y"]),
    ]
    with pytest.raises(ModelError, match=r"'ap'.*not all smaller than the kernel"):
        load_onnx(_model(nodes, [], ("N", 2, 8), ("N", 20)))


@pytest.mark.parametrize(
    "tail, match",
    [
        ("matmul", r"batch axis moved to axis 1 \(by node 'to_tnd'\).*not Flatten"),
        ("output", r"the graph output 'y' has its batch axis on axis 1"),
        ("merged_reduce", r"ReduceSum over every axis \(including the batch\)"),
        ("merged_bad_split", r"not a merge of the batch with its neighbours"),
    ],
)
def test_tensors_with_the_batch_axis_elsewhere_are_named(tail, match):
    """nn.MultiheadAttention transposes (B, T, D) to (T, B, D) and multiplies its weights
    there; a tensor whose batch axis moved (or merged) may be used by ops that act on its
    other axes (round 5: tests/test_heldout_models5.py); anything else names the node
    that moved it, with a hint on writing attention batch first."""
    inits = [_init("W", _w(4, 4)), _init("s", [-1, 4], np.int64), _init("s2", [-1, 5], np.int64)]
    if tail in ("matmul", "output"):
        nodes = [
            oh.make_node(
                "Transpose",
                ["x"],
                ["t" if tail == "matmul" else "y"],
                perm=[1, 0, 2],
                name="to_tnd",
            )
        ]
        if tail == "matmul":
            nodes.append(oh.make_node("Flatten", ["t"], ["y"]))
    else:
        nodes = [oh.make_node("Reshape", ["x", "s"], ["r"])]
        nodes.append(
            oh.make_node("ReduceSum", ["r"], ["y"], keepdims=0)
            if tail == "merged_reduce"
            else oh.make_node("Reshape", ["r", "s2"], ["y"])
        )
    with pytest.raises(ModelError, match=match) as err:
        load_onnx(_model(nodes, inits, ("N", 3, 4), (3, "N", 4)))
    if tail == "matmul":
        assert "nn.MultiheadAttention" in err.value.hint


def test_constant_of_shape_over_the_batch_is_a_network_tensor(tmp_path):
    """``torch.zeros(x.size(0), k)`` concatenated to the features (a padding column):
    ConstantOfShape of (batch, k) with its value attribute, as a per-sample constant."""
    nodes = [
        oh.make_node("Shape", ["x"], ["s"], start=0, end=1),
        oh.make_node("Concat", ["s", "k"], ["zs"], axis=0),
        oh.make_node("ConstantOfShape", ["zs"], ["z"], value=_init("v", [0.5])),
        oh.make_node("Concat", ["x", "z"], ["xz"], axis=1),
        oh.make_node("MatMul", ["xz", "W"], ["y"]),
    ]
    proto = _model(nodes, [_init("k", [3], np.int64), _init("W", _w(7, 2))], ("N", 4), ("N", 2))
    _round_trip(_compare(proto), tmp_path)


@pytest.mark.parametrize(
    "before, after, match",
    [
        ([2], [], r"Expand to shape \[2, 'batch'\]: the batch size is not the first axis"),
        ([], [-1], r"Expand of shape \(1, 1\) to \['batch', -1\]: the shapes do not"),
    ],
)
def test_expand_over_the_batch_that_cannot_be_a_tensor_is_named(before, after, match):
    """An Expand whose target puts the batch size anywhere but first, or a target that
    does not broadcast, is named with 'batch' in the shape (not the internal marker)."""
    nodes = [
        oh.make_node("Shape", ["x"], ["s"], start=0, end=1),
        oh.make_node(
            "Concat", [*(["a"] if before else []), "s", *(["b"] if after else [])], ["es"], axis=0
        ),
        oh.make_node("Expand", ["c", "es"], ["ce"]),
        oh.make_node("Add", ["x", "ce"], ["y"]),
    ]
    inits = [_init("c", [[1.0]])]
    inits += [_init("a", before, np.int64)] if before else []
    inits += [_init("b", after, np.int64)] if after else []
    with pytest.raises(ModelError, match=match):
        load_onnx(_model(nodes, inits, ("N", 4), ("N", 4)))


def test_token_mixing_weight_on_the_left_is_mapped(tmp_path):
    """MLP-Mixer's token mixing written as ``W @ x`` (a constant on the left of MatMul)
    was refused; it is a Dense layer on x with its last two axes swapped."""
    nodes = [
        oh.make_node("MatMul", ["Wt", "x"], ["m"], name="token_mix"),
        oh.make_node("Relu", ["m"], ["r"]),
        oh.make_node("MatMul", ["r", "Wc"], ["c"]),
        oh.make_node("ReduceMean", ["c"], ["y"], axes=[1], keepdims=0),
    ]
    proto = _model(nodes, [_init("Wt", _w(5, 6)), _init("Wc", _w(4, 3))], ("N", 6, 4), ("N", 3))
    model = _compare(proto)
    _mapped_ideally(model, proto)
    _round_trip(model, tmp_path)


@pytest.mark.parametrize(
    "axis, idx, ok",
    [
        (1, [2, 0, -1], True),  # channel pick with a negative index
        (3, [[1, 2], [0, 0]], True),  # a 2-D index array replaces the axis
        (-1, -2, True),  # scalar: drops the axis
        (0, 0, "along the batch axis"),
        (1, [3], "outside -3..2"),
        (2, [0.0], "expected integers"),
    ],
)
def test_gather_on_network_tensors(axis, idx, ok, tmp_path):
    """Gather with constant indices on any axis after the batch (x[:, 0], x[..., idx])."""
    dt = np.float32 if isinstance(ok, str) and "integers" in ok else np.int64
    idx_arr = np.asarray(idx, dtype=dt)
    out_rank = 4 - 1 + idx_arr.ndim
    nodes = [
        oh.make_node("Gather", ["x", "i"], ["g"], axis=axis, name="pick"),
        oh.make_node("ReduceSum", ["g"], ["y"], axes=list(range(1, out_rank)), keepdims=0),
    ]
    proto = _model(nodes, [_init("i", idx_arr, dt)], ("N", 3, 4, 5), ("N",))
    if ok is True:
        nodes[1] = oh.make_node("Flatten", ["g"], ["y"])
        proto = _model(nodes, [_init("i", idx_arr, dt)], ("N", 3, 4, 5), ("N", 1))
        proto.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "F"
        _round_trip(_compare(proto), tmp_path)
    else:
        with pytest.raises(ModelError, match=ok):
            load_onnx(proto)


@pytest.mark.parametrize(
    "a_dims, b_perm, match",
    [
        (("N", 4), None, "would multiply across the batch axis"),
        (("N", 3, 4), [0, 2, 1], None),
    ],
)
def test_matmul_of_two_network_tensors(a_dims, b_perm, match, tmp_path):
    """x @ x^T per sample (a Gram matrix, attention scores) runs digitally; rank-2
    network tensors would multiply across the batch and are refused."""
    if b_perm is None:
        nodes = [oh.make_node("MatMul", ["x", "x"], ["y"], name="mm")]
        proto = _model(nodes, [], a_dims, ("N", 4))
        with pytest.raises(ModelError, match=match):
            load_onnx(proto)
        return
    nodes = [
        oh.make_node("Transpose", ["x"], ["xt"], perm=b_perm),
        oh.make_node("MatMul", ["x", "xt"], ["g"], name="gram"),
        oh.make_node("Flatten", ["g"], ["f"]),
        oh.make_node("MatMul", ["f", "W"], ["y"]),
    ]
    proto = _model(nodes, [_init("W", _w(9, 2))], a_dims, ("N", 2))
    model = _compare(proto)
    _round_trip(model, tmp_path)
    with pytest.raises(ModelError, match="BatchMatMul"):
        model.check_trainable()


@pytest.mark.parametrize("fmod", [0, 1])
def test_mod_in_shape_computations_is_folded(fmod):
    """torch's nn.MultiheadAttention export checks ``embed_dim % num_heads`` with a Mod on
    constants; it is folded (ONNX's two sign rules: fmod=1 follows the dividend)."""
    a = np.array([7, -7, 7, -7], np.int64)
    b = np.array([3, 3, -3, -3], np.int64)
    nodes = [
        oh.make_node("Mod", ["a", "b"], ["m"], fmod=fmod),
        oh.make_node("Cast", ["m"], ["mf"], to=TP.FLOAT),
        oh.make_node("Add", ["x", "mf"], ["y"]),
    ]
    model = _compare(
        _model(nodes, [_init("a", a, np.int64), _init("b", b, np.int64)], ("N", 4), ("N", 4))
    )
    expect = (np.fmod if fmod else np.mod)(a, b)
    np.testing.assert_array_equal(model.forward(np.zeros((1, 4))), expect[None].astype(float))


# ------------------------------------------------------------ 4. hostile graphs


@pytest.mark.parametrize(
    "case, match",
    [
        ("init_and_output", r"'a' is defined twice: initializer 'a' and an output of node 'r'"),
        ("two_outputs", r"'a' is defined twice: an output of node 'r' \(op Relu\) and an output"),
        ("input_as_output", r"'x' is defined twice: graph input 'x' and an output of node 'r'"),
    ],
)
def test_a_tensor_name_defined_twice_is_refused(case, match):
    """A name defined twice made xbar read one definition silently (an initializer won
    over the node output of the same name, giving other logits than the graph meant);
    onnxruntime refuses such files ('Duplicate definition of name')."""
    inits = [_init("W", _w(4, 2))]
    out = "x" if case == "input_as_output" else "a"
    nodes = [oh.make_node("Relu", ["x"], [out], name="r")]
    if case == "init_and_output":
        inits.append(_init("a", np.ones((1, 4))))
    if case == "two_outputs":
        nodes.append(oh.make_node("Neg", ["x"], ["a"], name="n"))
    nodes.append(oh.make_node("MatMul", [out, "W"], ["y"]))
    with pytest.raises(ModelError, match=match):
        load_onnx(_model(nodes, inits, ("N", 4), ("N", 2)))


# ------------------------------------------------------------ 3. data sets


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_kaggle_mnist_csv_feeds_an_image_model(tmp_path):
    """Kaggle's MNIST CSVs (header ``label,pixel0,...``, 0..255 pixels) were not read at
    all; rows are now feature vectors, ``--std 255`` scales them, and a single-channel
    image model gets them reshaped row by row."""
    from xbar.network import load_dataset, onnx_zoo
    from xbar.network.data import shaped_for
    from xbar.network.datasets import DataOptions

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (6, 784)), rng.integers(0, 10, 6)
    head = "label," + ",".join(f"pixel{i}" for i in range(784))
    rows = [f"{b}," + ",".join(map(str, a)) for a, b in zip(x, y, strict=True)]
    _write(tmp_path / "mnist_test.csv", [head, *rows])
    _write(tmp_path / "mnist_train.csv", rows)  # no header: the label is the first column
    data = load_dataset(str(tmp_path), DataOptions(std=(255.0,)))
    assert data.name.startswith("csv:") and data.classes == int(y.max()) + 1
    np.testing.assert_array_equal(data.y_test, y)
    np.testing.assert_allclose(data.x_test, x / 255.0)
    model = load_onnx(onnx_zoo.lenet5())
    fitted = shaped_for(data, model)
    assert fitted.x_test.shape == (6, 28, 28, 1)
    np.testing.assert_allclose(fitted.x_test[2, 3, :, 0], x[2, 84:112] / 255.0)
    res = evaluate(model, AnalogConfig().as_ideal(), dataset=fitted, chips=[0])
    assert res.accuracy == res.ideal_accuracy


@pytest.mark.parametrize(
    "lines, x0, y",
    [
        (["f1;f2;target", "0.5;-1;2", "1.5;2e-3;0"], [0.5, -1.0], [2, 0]),  # semicolons, last
        (["2\t0.25\t4", "1\t1\t1"], [0.25, 4.0], [2, 1]),  # tabs, no header
        ([",a,b,Label", "0,1,2,1", "1,3,4,0"], [1.0, 2.0], [1, 0]),  # to_csv's index column
    ],
)
def test_csv_separators_headers_and_label_columns(lines, x0, y, tmp_path):
    from xbar.network import load_dataset

    data = load_dataset(f"csv:{_write(tmp_path / 'd.csv', lines)}")
    np.testing.assert_array_equal(data.x_test[0], x0)
    np.testing.assert_array_equal(data.y_test, y)


@pytest.mark.parametrize(
    "lines, match",
    [
        (["label,a,b", "1,2,3", "0,1"], r"line 3: 2 fields, the first row \(header\) has 3"),
        (["label,a", "1,x"], r"line 2, column 2: 'x' is not a number"),
        (["a,label", "1,1.5"], r"line 2: label 1.5 \(column 2\) is not a class index"),
        (["a,b", "1,2"], r"no label column among \['a', 'b'\]"),
        (["label,y", "1,2"], r"several label columns"),
        (["label,a", "1,nan"], r"line 2: value nan is not finite"),
        (["", ""], r"is empty"),
        (["label,a"], r"holds no samples"),
    ],
)
def test_csv_errors_name_the_line_and_column(lines, match, tmp_path):
    from xbar.network import load_dataset

    with pytest.raises(ModelError, match=match):
        load_dataset(f"csv:{_write(tmp_path / 'd.csv', lines)}")


def test_csv_folder_without_a_test_file_and_resize_of_features(tmp_path):
    from xbar.network import load_dataset
    from xbar.network.datasets import DataOptions

    _write(tmp_path / "train.csv", ["1,2,3"])
    with pytest.raises(ModelError, match=r"no \*test.csv file"):
        load_dataset(f"csv:{tmp_path}")
    f = _write(tmp_path / "x_test.csv", ["1,2,3"])
    with pytest.raises(ModelError, match="resize and crop apply to images"):
        load_dataset(f"csv:{f}", DataOptions(size=(2, 2)))


def test_npz_sequences_feed_a_conv1d_net(tmp_path):
    """(N, C, L) arrays in an .npz (a 1-D net's data, ONNX order) reach the 1-D net."""
    from xbar.network import load_dataset
    from xbar.network.data import shaped_for

    proto = _conv1d_net()
    model = load_onnx(proto)
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "seq.npz", x=rng.standard_normal((12, 2, 64)), y=rng.integers(0, 6, 12))
    data = shaped_for(load_dataset(f"npz:{tmp_path / 'seq.npz'}"), model)  # as the CLI does
    assert data.input_shape == (2, 64)
    res = evaluate(model, AnalogConfig().as_ideal(), dataset=data, chips=[0])
    assert res.accuracy == res.ideal_accuracy


# ------------------------------------------------------------ round 3 leftovers


def _lrn_torch(size=3, alpha=1e-4, beta=0.75, k=1.0, opset=17):
    """nn.LocalResponseNorm as torch exports it: x*x -> Unsqueeze(1) -> Pad the channel
    axis -> AveragePool (size, 1, 1) -> Squeeze(1) -> * alpha + k -> ^ beta -> x / it."""
    half = size // 2
    nodes = [
        oh.make_node("Mul", ["x", "x"], ["sq"]),
        oh.make_node("Unsqueeze", ["sq", "one"], ["u"]),
        oh.make_node("Pad", ["u", "pads"], ["p"]),
        oh.make_node("AveragePool", ["p"], ["a"], kernel_shape=[size, 1, 1], name="avg3d"),
        oh.make_node("Squeeze", ["a", "one"], ["s"]),
        oh.make_node("Mul", ["s", "alpha"], ["sa"]),
        oh.make_node("Add", ["sa", "k"], ["sk"]),
        oh.make_node("Pow", ["sk", "beta"], ["d"]),
        oh.make_node("Div", ["x", "d"], ["n"]),
        oh.make_node("GlobalAveragePool", ["n"], ["g"]),
        oh.make_node("Flatten", ["g"], ["y"]),
    ]
    inits = [
        _init("one", [1], np.int64),
        _init("pads", [0, 0, half, 0, 0, 0, 0, size - 1 - half, 0, 0], np.int64),
        _init("alpha", alpha),
        _init("k", k),
        _init("beta", beta),
    ]
    return _model(nodes, inits, ("N", 6, 5, 5), ("N", 6), opset=opset)


@pytest.mark.parametrize("size", [2, 3, 5])
def test_torch_local_response_norm_export(size, tmp_path):
    """torch's nn.LocalResponseNorm (a 3-D average pool along the channels) was refused;
    a 3-D pool whose window spans only its first spatial axis is a 2-D pool of
    (D, H*W) images.  Matches torch's export through onnxruntime to 5.7e-8."""
    _round_trip(_compare(_lrn_torch(size, alpha=0.5, beta=0.75, k=2.0)), tmp_path)


def test_3d_pools_other_than_along_one_axis_are_named():
    nodes = [
        oh.make_node("Unsqueeze", ["x", "one"], ["u"]),
        oh.make_node("MaxPool", ["u"], ["a"], kernel_shape=[2, 2, 1], name="mp3"),
        oh.make_node("ReduceMean", ["a"], ["y"], axes=[1, 2, 3, 4], keepdims=0),
    ]
    with pytest.raises(ModelError, match=r"'mp3'.*kernel_shape \[2, 2, 1\].*only windows along"):
        load_onnx(_model(nodes, [_init("one", [1], np.int64)], ("N", 2, 4, 4), ("N",)))


@pytest.mark.parametrize("size, taken", [(4, "then"), (5, "else")])
def test_if_with_a_constant_condition_imports_the_taken_branch(size, taken):
    """TorchScript writes ``If(Shape(t)[k] == 1)`` around a squeeze (in its export of
    nn.LocalResponseNorm): a condition that folds to a constant now imports the taken
    branch, whose nodes read tensors of the outer graph; one computed from the data is
    still refused as control flow."""
    then = oh.make_graph(
        [oh.make_node("Neg", ["r"], ["t_out"])],
        "then",
        [],
        [oh.make_tensor_value_info("t_out", TP.FLOAT, None)],
    )
    other = oh.make_graph(
        [oh.make_node("Identity", ["r"], ["e_out"])],
        "else",
        [],
        [oh.make_tensor_value_info("e_out", TP.FLOAT, None)],
    )
    nodes = [
        oh.make_node("Relu", ["x"], ["r"]),
        oh.make_node("Shape", ["r"], ["s"]),
        oh.make_node("Gather", ["s", "one"], ["n"], axis=0),
        oh.make_node("Equal", ["n", "four"], ["c"]),
        oh.make_node("If", ["c"], ["b"], then_branch=then, else_branch=other, name="if"),
        oh.make_node("MatMul", ["b", "W"], ["y"]),
    ]
    inits = [_init("one", 1, np.int64), _init("four", 4, np.int64), _init("W", _w(size, 2))]
    model = _compare(_model(nodes, inits, ("N", size), ("N", 2)))
    assert any(type(la).__name__ == "ConstOp" for la in model.layers) == (taken == "then")
    nodes[3] = oh.make_node("ReduceMax", ["r"], ["rs"], axes=[1], keepdims=0)
    nodes.insert(4, oh.make_node("Greater", ["rs", "zf"], ["c"]))
    inits.append(_init("zf", 0.0))
    with pytest.raises(ModelError, match=r"'if' \(op If\).*condition depends on the network input"):
        load_onnx(_model(nodes, inits, ("N", size), ("N", 2)))


@pytest.mark.parametrize(
    "target, match", [([-2], "sizes must be >= -1"), ([-1, -1], "one -1 at most")]
)
def test_reshape_of_constants_checks_the_target(target, match):
    """numpy reads any negative size as -1: a folded Reshape to [-2] was accepted where
    onnxruntime refuses (found by differential fuzzing)."""
    nodes = [
        oh.make_node("Reshape", ["c", "s"], ["cr"], name="rs"),
        oh.make_node("Add", ["x", "cr"], ["y"]),
    ]
    inits = [_init("c", [1.0, 2.0, 3.0, 4.0]), _init("s", target, np.int64)]
    with pytest.raises(ModelError, match=rf"'rs'.*{match}"):
        load_onnx(_model(nodes, inits, ("N", 4), ("N", 4)))


def test_graphs_that_do_not_type_check_are_refused_stale_shapes_are_not():
    """Round 3 left graphs that onnxruntime refuses for type errors (a Concat of int64 and
    int8 shape tensors) imported; ONNX's strict type inference now runs on what xbar
    imports.  Declared intermediate shapes that are stale (a file edited by hand) are not
    a reason to refuse: onnxruntime runs such files."""
    nodes = [
        oh.make_node("Shape", ["x"], ["s"], start=0, end=1),
        oh.make_node("Concat", ["s", "k"], ["t"], axis=0, name="cat"),
        oh.make_node("Reshape", ["x", "t"], ["r"]),
        oh.make_node("MatMul", ["r", "W"], ["y"]),
    ]
    inits = [_init("k", [-1], np.int8), _init("W", _w(4, 2))]
    with pytest.raises(ModelError, match=r"does not type-check: .*Concat"):
        load_onnx(_model(nodes, inits, ("N", 2, 2), ("N", 2)))
    inits[0] = _init("k", [-1], np.int64)
    m = _model(nodes, inits, ("N", 2, 2), ("N", 2))
    m.graph.value_info.append(oh.make_tensor_value_info("r", TP.FLOAT, ["N", 7]))  # stale
    _compare(m)


def test_image_folders_ignore_exif_rotation_as_torchvision_does(tmp_path):
    """An image with an EXIF orientation tag is read as stored, not rotated: torchvision's
    ImageFolder loader (Pillow's open().convert('RGB')) ignores the tag, so a model was
    trained on the stored pixels.  LA and palette images become RGB as with Pillow."""
    Image = pytest.importorskip("PIL.Image")
    from xbar.network import load_dataset

    arr = np.random.default_rng(0).integers(0, 255, (6, 10, 3), dtype=np.uint8)
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(arr).save(tmp_path / "a" / "rot.png", exif=exif.tobytes())
    Image.fromarray(arr[..., 0]).convert("LA").save(tmp_path / "a" / "la.png")
    Image.fromarray(arr).convert("P").save(tmp_path / "b" / "pal.png")
    data = load_dataset(f"folder:{tmp_path}")
    assert data.x_test.shape == (3, 6, 10, 3)
    for f in ("a/la.png", "a/rot.png", "b/pal.png"):
        with Image.open(tmp_path / f) as im:
            ref = np.asarray(im.convert("RGB")) / 255.0
        assert any(np.array_equal(x, ref) for x in data.x_test), f


def test_odd_tensor_and_node_names_survive_import_and_both_formats(tmp_path):
    """Names with spaces, '/', ':', '#', non-ASCII, '..', 300 characters, empty and
    repeated node names: layer names are sanitised and unique, and the model is saved
    and read back in xbar's format and as ONNX with the same outputs."""
    names = ["input with space", "weight/\u03a9:0", "n#1", "a" * 300, "../../etc/passwd", "x.npz"]
    nodes = [
        oh.make_node("Relu", [names[0]], [names[2]], name=""),
        oh.make_node("Relu", [names[2]], [names[3]], name="dup"),
        oh.make_node("Neg", [names[3]], [names[4]], name="dup"),
        oh.make_node("MatMul", [names[4], names[1]], [names[5]], name="../x"),
    ]
    g = oh.make_graph(
        nodes,
        "g/../..",
        [oh.make_tensor_value_info(names[0], TP.FLOAT, ["N", 4])],
        [oh.make_tensor_value_info(names[5], TP.FLOAT, ["N", 2])],
        initializer=[_init(names[1], _w(4, 2))],
    )
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17)])
    m.ir_version = 8
    model = load_onnx(m)
    assert len({la.name for la in model.layers}) == len(model.layers)
    assert all("/" not in la.name for la in model.layers)
    x = np.random.default_rng(0).standard_normal((3, 4))
    ref = ReferenceEvaluator(m).run(None, {names[0]: x.astype(np.float32)})[0]
    np.testing.assert_allclose(model.forward(x), ref, rtol=1e-5, atol=1e-6)
    _round_trip(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "own.json", "own.npz"]
