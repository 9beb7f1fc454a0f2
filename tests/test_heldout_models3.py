"""Held-out robustness, round 3 (onnx7): users' own models and data sets.

One compact regression test per class of problem found by importing graphs the way real
exporters write them (torch's TorchScript and dynamo exporters, tf2onnx, onnxruntime's
QDQ quantiser, onnx's version converter) and hostile files.  Graphs are built with
``onnx.helper`` in the exporters' shapes; reference values come from
``onnx.reference.ReferenceEvaluator`` (onnxruntime and torch are not needed).
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto as TP  # noqa: E402
from onnx import helper as oh  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from xbar.errors import ModelError  # noqa: E402
from xbar.network import load_model, load_onnx, save_model, save_onnx  # noqa: E402

RNG = np.random.default_rng(7)


def _init(name, value, dtype=np.float32):
    return nh.from_array(np.asarray(value, dtype=dtype), name)


def _model(nodes, inits, out_dims, opset=17, in_dims=("N", 3, 8, 8), in_type=TP.FLOAT, out=None):
    graph = oh.make_graph(
        nodes,
        "g",
        [oh.make_tensor_value_info("x", in_type, list(in_dims))],
        out or [oh.make_tensor_value_info("y", TP.FLOAT, list(out_dims))],
        initializer=inits,
    )
    m = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 17 else 9
    return m


def _conv(cout=4, cin=3, name="W"):
    w = RNG.standard_normal((cout, cin, 3, 3)).astype(np.float32) * 0.5
    return oh.make_node("Conv", ["x", name], ["c"], pads=[1, 1, 1, 1], name="conv"), _init(name, w)


def _compare(m, n=3, rtol=1e-5, model=None):
    """Import ``m``, run it and onnx.reference on the same NCHW inputs; return the model."""
    model = model if model is not None else load_onnx(m)
    dims = [d.dim_value or n for d in m.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(1).standard_normal(dims).astype(np.float32)
    ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
    inside = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
    got = model.forward(inside.astype(float))
    assert got.shape == ref.shape
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() <= rtol * scale, np.abs(got - ref).max() / scale
    return model


def _round_trip(model, tmp_path, opset=18):
    """save_onnx and xbar's own format keep the new ops (same outputs)."""
    x = np.random.default_rng(2).standard_normal((2, *model.input_shape))
    path = save_onnx(model, tmp_path / "m.onnx", opset=opset)
    np.testing.assert_allclose(load_onnx(path).forward(x), model.forward(x), rtol=1e-5, atol=1e-6)
    save_model(model, tmp_path / "own")
    np.testing.assert_array_equal(load_model(tmp_path / "own").forward(x), model.forward(x))


# ------------------------------------------------------------ 1. the Reduce family


@pytest.mark.parametrize(
    "op", ["ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceMin", "ReduceProd", "ReduceSumSquare"]
)
@pytest.mark.parametrize("opset,keep", [(13, 0), (18, 1)])
def test_reduce_family_as_exporters_write_it(op, opset, keep, tmp_path):
    """torch's x.norm(dim), F.normalize, logsumexp, amin, prod and (x*x).sum were refused
    ('op ReduceL2 is not supported'); axes are an attribute before opset 18, an input after."""
    conv, w = _conv()
    inits = [w, _init("k", 0.3)]  # 0.3 keeps the product of 64 values finite
    if opset >= 18:
        inits.append(_init("axes", [2, 3], np.int64))
        red = oh.make_node(op, ["ck", "axes"], ["r"], keepdims=keep)
    else:
        red = oh.make_node(op, ["ck"], ["r"], axes=[2, 3], keepdims=keep)
    tail = oh.make_node("Flatten" if keep else "Identity", ["r"], ["y"])
    nodes = [conv, oh.make_node("Mul", ["c", "k"], ["ck"]), red, tail]
    model = _compare(_model(nodes, inits, ["N", 4], opset=opset))
    _round_trip(model, tmp_path, opset=opset)


def test_log_sum_exp_does_not_overflow():
    from xbar.network.ops import ReduceLogSumExp

    x = np.array([[1000.0, 1000.0], [-np.inf, -np.inf]])
    got = ReduceLogSumExp([0], keepdims=False).forward(x)
    assert got[0] == pytest.approx(1000 + np.log(2)) and got[1] == -np.inf


# ------------------------------------------------------------ 1. Resize / Upsample / Tile

_RESIZE_CASES = [
    ("nearest", "asymmetric", "floor", [1, 1, 2, 2], None),  # torch nearest
    ("nearest", "half_pixel", "round_prefer_floor", [1, 1, 1.5, 1.5], None),
    ("nearest", "asymmetric", "floor", None, [0, 4, 7, 9]),  # F.interpolate(size=(7, 9))
    ("nearest", "half_pixel", "round_prefer_ceil", [1, 1, 2, 3], None),
    ("nearest", "half_pixel", "ceil", [1, 1, 0.5, 0.75], None),
    ("linear", "half_pixel", "round_prefer_floor", [1, 1, 2, 2], None),
    ("linear", "pytorch_half_pixel", "round_prefer_floor", None, [0, 4, 12, 1]),
    ("linear", "align_corners", "round_prefer_floor", [1, 1, 2, 2], None),
    ("linear", "asymmetric", "round_prefer_floor", [1, 1, 1.5, 0.5], None),
    ("linear", "half_pixel", "round_prefer_floor", [1, 1, 0.5, 0.5], None),  # downsampling
    ("cubic", "pytorch_half_pixel", "round_prefer_floor", [1, 1, 2, 2], None),  # torch bicubic
    ("cubic", "align_corners", "round_prefer_floor", None, [0, 4, 11, 5]),
    ("cubic", "half_pixel", "round_prefer_floor", [1, 1, 0.6, 1.7], None),
]


@pytest.mark.parametrize("mode,transform,nearest,scales,sizes", _RESIZE_CASES)
def test_resize_modes_torch_and_tf2onnx_emit(mode, transform, nearest, scales, sizes, tmp_path):
    """Resize (F.interpolate, nn.Upsample, Keras Resizing) was refused; now nearest and
    linear, every coordinate transformation, scales or sizes (the batch entry of sizes is
    the runtime batch, as a Shape -> Concat gives it)."""
    conv, w = _conv()
    inits = [w, _init("roi", [])]
    nodes = [conv]
    if scales is not None:
        inits.append(_init("scales", scales))
        ins = ["c", "roi", "scales"]
    else:  # sizes = Concat(Shape(x)[:1], [C, H, W]), as a dynamic-batch export computes it
        inits += [_init("chw", sizes[1:], np.int64), _init("0", [0], np.int64)]
        inits.append(_init("1", [1], np.int64))
        nodes.append(oh.make_node("Shape", ["x"], ["shape"]))
        nodes.append(oh.make_node("Slice", ["shape", "0", "1"], ["n"]))
        nodes.append(oh.make_node("Concat", ["n", "chw"], ["sizes"], axis=0))
        ins = ["c", "roi", "", "sizes"]
    attrs = dict(mode=mode, coordinate_transformation_mode=transform, nearest_mode=nearest)
    nodes += [
        oh.make_node("Resize", ins, ["r"], **attrs),
        oh.make_node("ReduceMean", ["r"], ["m"], axes=[2], keepdims=0),
        oh.make_node("Flatten", ["m"], ["y"]),
    ]
    m = _model(nodes, inits, None, opset=13, out=[oh.make_tensor_value_info("y", TP.FLOAT, None)])
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
    model = load_onnx(m)
    got = model.forward(x.transpose(0, 2, 3, 1).astype(float))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=2e-5)  # cubic weights in float32
    _round_trip(model, tmp_path)


def test_upsample_of_old_opsets_repeats_pixels():
    """Upsample (opsets 7-9; Resize-10 alike): nearest, asymmetric, truncating."""
    from xbar.network.ops import Resize

    conv, w = _conv()
    nodes = [
        conv,
        oh.make_node("Upsample", ["c", "s"], ["u"], mode="nearest"),
        oh.make_node("Flatten", ["u"], ["y"]),
    ]
    m = _model(nodes, [w, _init("s", [1, 1, 2, 3])], ["N", 4 * 16 * 24], opset=9)
    model = load_onnx(m)
    x = RNG.standard_normal((2, 8, 8, 3))
    c = load_onnx(_model([conv, oh.make_node("Flatten", ["c"], ["y"])], [w], ["N", 256]))
    feat = c.forward(x).reshape(2, 4, 8, 8)
    expect = feat.repeat(2, axis=2).repeat(3, axis=3).reshape(2, -1)
    np.testing.assert_allclose(model.forward(x), expect, rtol=1e-12)
    assert any(isinstance(la, Resize) for la in model.layers)


@pytest.mark.parametrize(
    "attrs,match",
    [
        (dict(mode="area"), "mode 'area' is not supported"),
        (dict(coordinate_transformation_mode="tf_crop_and_resize"), "tf_crop_and_resize"),
        (dict(mode="linear", antialias=1), "antialias"),
    ],
)
def test_resize_that_is_not_imported_is_named(attrs, match):
    conv, w = _conv()
    nodes = [conv, oh.make_node("Resize", ["c", "", "s"], ["r"], name="up", **attrs)]
    nodes.append(oh.make_node("ReduceMean", ["r"], ["y"], axes=[2, 3], keepdims=0))
    m = _model(nodes, [w, _init("s", [1, 1, 0.5, 0.5])], ["N", 4], opset=18)
    with pytest.raises(ModelError, match=rf"node 'up' \(op Resize\): .*{match}"):
        load_onnx(m)


def test_tile_as_keras_upsampling_writes_it(tmp_path):
    """Keras UpSampling2D through tf2onnx: Unsqueeze -> Tile -> Reshape, refused before."""
    conv, w = _conv()
    nodes = [
        conv,
        oh.make_node("Unsqueeze", ["c", "ax"], ["u"]),
        oh.make_node("Tile", ["u", "reps"], ["t"]),
        oh.make_node("Reshape", ["t", "shape"], ["y"]),
    ]
    inits = [w, _init("ax", [3], np.int64), _init("reps", [1, 1, 1, 2, 1], np.int64)]
    inits.append(_init("shape", [-1, 4 * 16 * 8], np.int64))
    model = _compare(_model(nodes, inits, ["N", 512], opset=13))
    _round_trip(model, tmp_path, opset=13)


# ------------------------------------------------------------ 1. ArgMax at the end


@pytest.mark.parametrize("keep,tail", [(0, None), (1, "Squeeze"), (0, "Cast")])
def test_argmax_output_is_classified_by_its_logits(keep, tail):
    """A graph ending in ArgMax (classification by index) was refused; the logits behind it
    are imported and xbar's argmax gives the graph's class indices."""
    conv, w = _conv()
    nodes = [
        conv,
        oh.make_node("GlobalAveragePool", ["c"], ["g"]),
        oh.make_node("Flatten", ["g"], ["logits"]),
        oh.make_node("ArgMax", ["logits"], ["idx" if tail else "y"], axis=-1, keepdims=keep),
    ]
    if tail == "Squeeze":
        nodes.append(oh.make_node("Squeeze", ["idx", "one"], ["y"]))
    elif tail == "Cast":
        nodes.append(oh.make_node("Cast", ["idx"], ["y"], to=TP.INT32))
    out = [oh.make_tensor_value_info("y", TP.INT32 if tail == "Cast" else TP.INT64, None)]
    m = _model(nodes, [w, _init("one", [1], np.int64)], None, opset=13, out=out)
    model = load_onnx(m)
    x = RNG.standard_normal((16, 3, 8, 8)).astype(np.float32)
    idx = ReferenceEvaluator(m).run(None, {"x": x})[0].reshape(-1)
    logits = model.forward(x.transpose(0, 2, 3, 1).astype(float))
    assert logits.shape == (16, 4)
    np.testing.assert_array_equal(logits.argmax(axis=1), idx)
    assert model.meta["onnx_output"] == "logits" and "ArgMax" in model.meta["onnx_argmax"]


def test_argmax_over_the_batch_is_refused():
    conv, w = _conv()
    nodes = [
        conv,
        oh.make_node("ReduceMean", ["c"], ["f"], axes=[2, 3], keepdims=0),
        oh.make_node("ArgMax", ["f"], ["y"], keepdims=0),  # default axis 0: the batch
    ]
    out = [oh.make_tensor_value_info("y", TP.INT64, None)]
    with pytest.raises(ModelError, match="ArgMax giving 'y' takes axis 0"):
        load_onnx(_model(nodes, [w], None, opset=13, out=out))


# ------------------------------------------------------------ 2. several outputs


def _two_outputs(second: str):
    conv, w = _conv()
    nodes = [conv, oh.make_node("ReduceMean", ["c"], ["logits"], axes=[2, 3], keepdims=0)]
    if second == "probs":
        nodes.append(oh.make_node("Softmax", ["logits"], ["probs"], axis=1))
    else:
        nodes.append(oh.make_node("Flatten", ["c"], ["features"]))
    outs = [
        oh.make_tensor_value_info("logits", TP.FLOAT, ["N", 4]),
        oh.make_tensor_value_info(second, TP.FLOAT, ["N", 4 if second == "probs" else 256]),
    ]
    return _model(nodes, [w], None, out=outs)


def test_several_outputs_pick_the_logits_or_ask(tmp_path):
    """Two outputs were refused outright; logits + their softmax now pick the logits, and
    logits + features are refused naming both (with shapes) and how to choose."""
    model = load_onnx(_two_outputs("probs"))
    assert model.meta["onnx_output"] == "logits" and "chosen" in model.meta["onnx_outputs"]
    m = _two_outputs("features")
    with pytest.raises(ModelError, match=r"2 outputs \('logits' \(N, 4\), 'features' \(N, 256\)\)"):
        load_onnx(m)
    assert load_onnx(m, output="logits").classes == 4
    onnx.save(m, tmp_path / "two.onnx")
    assert load_model(f"{tmp_path / 'two.onnx'}#logits").classes == 4
    with pytest.raises(ModelError, match="output 'nope' is not a tensor of the graph"):
        load_onnx(m, output="nope")


# ------------------------------------------------------------ 2. QDQ quantised graphs


def _qdq_graph(act_type, per_channel, opset=19):
    """onnxruntime's quantize_static QDQ layout: int8 weights with DequantizeLinear, each
    activation through QuantizeLinear -> DequantizeLinear, int32 bias."""
    np_type = {TP.UINT8: np.uint8, TP.INT8: np.int8, TP.INT16: np.int16}[act_type]
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    ws = np.abs(w).reshape(4, -1).max(1) / 127 if per_channel else np.abs(w).max() / 127
    ws = np.asarray(ws, np.float32)
    wq = np.round(w / (ws.reshape(-1, 1, 1, 1) if per_channel else ws)).astype(np.int8)
    zp = 0 if act_type != TP.UINT8 else 128
    inits = [
        _init("wq", wq, np.int8),
        _init("ws", ws),
        _init("wz", np.zeros(ws.shape), np.int8),
        _init("xs", 0.02),
        _init("xz", zp, np_type),
        _init("bq", [100, -200, 300, 0], np.int32),
        _init("bs", 0.02 * ws.reshape(-1)[:1].repeat(4)),
        _init("ys", 0.05),
        _init("yz", zp, np_type),
    ]
    nodes = [
        oh.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        oh.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        oh.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], axis=0),
        oh.make_node("DequantizeLinear", ["bq", "bs"], ["bd"], axis=0),
        oh.make_node("Conv", ["xd", "wd", "bd"], ["c"], pads=[1, 1, 1, 1]),
        oh.make_node("QuantizeLinear", ["c", "ys", "yz"], ["cq"]),
        oh.make_node("DequantizeLinear", ["cq", "ys", "yz"], ["cd"]),
        oh.make_node("Flatten", ["cd"], ["y"]),
    ]
    return _model(nodes, inits, ["N", 256], opset=opset)


@pytest.mark.parametrize("act", [TP.UINT8, TP.INT8, TP.INT16])
@pytest.mark.parametrize("per_channel", [False, True])
def test_qdq_graphs_import_dequantised_weights_and_fake_quant(act, per_channel, tmp_path):
    """QuantizeLinear/DequantizeLinear were refused; now int weights are dequantised at
    import and activations fake-quantised in float32 as onnxruntime does: every output is
    a multiple of the output scale, equal to the reference's (at most one step apart where
    float32 vs float64 rounding puts a value on a .5 tie)."""
    m = _qdq_graph(act, per_channel, opset=21 if act == TP.INT16 else 19)  # int16 Q/DQ: 21
    model = load_onnx(m)
    x = np.random.default_rng(3).standard_normal((4, 3, 8, 8)).astype(np.float32)
    ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
    got = model.forward(x.transpose(0, 2, 3, 1).astype(float))
    steps = np.abs(got - ref) / 0.05
    assert steps.max() <= 1.0 + 1e-6 and (steps > 1e-3).mean() < 0.01
    np.testing.assert_allclose(got / 0.05, np.round(got / 0.05), atol=1e-4)
    _round_trip(model, tmp_path, opset=21 if act == TP.INT16 else 19)
    if act == TP.INT16:  # 16-bit QuantizeLinear exists from opset 21 only (round 4)
        with pytest.raises(ModelError, match="takes from opset 21"):
            save_onnx(model, tmp_path / "old.onnx", opset=19)


def test_onnxruntime_contrib_ops_say_to_give_the_exported_model():
    node = oh.make_node("FusedConv", ["x", "W"], ["y"], name="fc", domain="com.microsoft")
    m = _model([node], [_conv()[1]], ["N", 4, 6, 6])
    m.opset_import.append(oh.make_opsetid("com.microsoft", 1))
    with pytest.raises(ModelError, match="'FusedConv' of domain 'com.microsoft'") as info:
        load_onnx(m)
    assert "before optimisation" in info.value.hint


@pytest.mark.parametrize(
    "op,match",
    [
        ("QLinearConv", "QOperator"),
        ("ConvInteger", "QOperator"),
        ("DynamicQuantizeLinear", "dynamic quantisation"),
    ],
)
def test_integer_quantised_formats_are_refused_with_the_qdq_hint(op, match):
    node = oh.make_node(op, ["x"], ["y"], name="q")
    with pytest.raises(ModelError, match=rf"node 'q' \(op {op}\): .*{match}") as info:
        load_onnx(_model([node], [], ["N", 3, 8, 8]))
    assert "QDQ" in info.value.hint or "quantize_static" in info.value.hint


def test_saved_models_keep_negative_clip_bounds_and_pad_values(tmp_path):
    """An imported nn.Hardtanh (Clip -1..1) or a Pad with value -1 saved by save_model
    (``xbar train --out``) could not be loaded back: 'field low = -1.0 must be >= 0'."""
    conv, w = _conv()
    nodes = [
        conv,
        oh.make_node("Clip", ["c", "lo", "hi"], ["h"]),
        oh.make_node("Pad", ["h", "pads", "v"], ["p"]),
        oh.make_node("Flatten", ["p"], ["y"]),
    ]
    inits = [w, _init("lo", -1.0), _init("hi", 1.0), _init("v", -1.0)]
    inits.append(_init("pads", [0, 0, 1, 1, 0, 0, 1, 1], np.int64))
    model = _compare(_model(nodes, inits, ["N", 400], opset=13))
    _round_trip(model, tmp_path, opset=13)


# ------------------------------------------------------------ 2. exporters' graph shapes


def test_tf2onnx_shaped_classifier(tmp_path):
    """Keras through tf2onnx: NHWC input + Transpose, Conv with auto_pad SAME_UPPER,
    batch-norm as Mul/Add constants, ReLU6 as Clip with min/max inputs, Identity chains,
    a Shape -> Gather -> Unsqueeze -> Concat -> Reshape flatten with a dynamic batch,
    MatMul + Add dense and Softmax on axis -1."""
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [
        oh.make_node("Mul", ["x", "in_s"], ["xs"]),  # a Normalization layer in NHWC: (C,)
        oh.make_node("Add", ["xs", "in_b"], ["xb"]),
        oh.make_node("Transpose", ["xb"], ["t"], perm=[0, 3, 1, 2]),
        oh.make_node("Conv", ["t", "W"], ["c"], auto_pad="SAME_UPPER", strides=[2, 2]),
        oh.make_node("Mul", ["c", "bn_s"], ["cm"]),
        oh.make_node("Add", ["cm", "bn_b"], ["cb"]),
        oh.make_node("Clip", ["cb", "zero", "six"], ["r6"]),
        oh.make_node("Identity", ["r6"], ["i1"]),
        oh.make_node("Identity", ["i1"], ["i2"]),
        oh.make_node("Transpose", ["i2"], ["nhwc"], perm=[0, 2, 3, 1]),
        oh.make_node("Shape", ["nhwc"], ["shape"]),
        oh.make_node("Gather", ["shape", "zero_i"], ["batch"], axis=0),
        oh.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"]),
        oh.make_node("Concat", ["batch1", "minus1"], ["target"], axis=0),
        oh.make_node("Reshape", ["nhwc", "target"], ["flat"]),
        oh.make_node("MatMul", ["flat", "D"], ["mm"]),
        oh.make_node("Add", ["mm", "db"], ["logits"]),
        oh.make_node("Softmax", ["logits"], ["y"], axis=-1),
    ]
    inits = [
        _init("W", w),
        _init("in_s", RNG.uniform(0.5, 1.5, 3)),
        _init("in_b", RNG.standard_normal(3)),
        _init("bn_s", RNG.uniform(0.5, 1.5, (1, 4, 1, 1))),
        _init("bn_b", RNG.standard_normal((1, 4, 1, 1))),
        _init("zero", 0.0),
        _init("six", 6.0),
        _init("zero_i", 0, np.int64),
        _init("axes0", [0], np.int64),
        _init("minus1", [-1], np.int64),
        _init("D", RNG.standard_normal((4 * 4 * 4, 5))),
        _init("db", RNG.standard_normal(5)),
    ]
    m = _model(nodes, inits, ["N", 5], opset=13, in_dims=("unk__1", 7, 7, 3))
    x = RNG.standard_normal((3, 7, 7, 3)).astype(np.float32)
    ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
    model = load_onnx(m)
    assert model.input_shape == (7, 7, 3) and model.meta["input_layout"] == "NHWC"
    np.testing.assert_allclose(model.forward(x.astype(float)), ref, rtol=1e-5, atol=1e-6)


def test_dynamo_opset20_shaped_block():
    """torch's dynamo exporter at opsets 18-21: Reshape allowzero=1, Split with a split
    input and with num_outputs, LayerNormalization, Gelu (opset 20), ReduceMean with an
    axes input, F.normalize's Expand of a norm to the tensor's shape."""
    conv, w = _conv(cout=6)
    nodes = [
        conv,
        oh.make_node("Reshape", ["c", "s1"], ["r"], allowzero=1),  # (N, 6, 64)
        oh.make_node("Split", ["r", "parts"], ["a", "b"], axis=1),
        oh.make_node("Split", ["b"], ["b1", "b2"], axis=1, num_outputs=2),
        oh.make_node("Concat", ["a", "b2", "b1"], ["cat"], axis=1),
        oh.make_node("LayerNormalization", ["cat", "g", "beta"], ["ln"], axis=-1),
        oh.make_node("Gelu", ["ln"], ["ge"]),
        oh.make_node("ReduceMean", ["ge", "ax"], ["m"], keepdims=0),  # (N, 6)
        oh.make_node("ReduceL2", ["m", "ax1"], ["norm"], keepdims=1),
        oh.make_node("Max", ["norm", "eps"], ["normc"]),
        oh.make_node("Shape", ["m"], ["mshape"]),
        oh.make_node("Expand", ["normc", "mshape"], ["nexp"]),
        oh.make_node("Div", ["m", "nexp"], ["y"]),
    ]
    inits = [
        w,
        _init("s1", [-1, 6, 64], np.int64),
        _init("parts", [2, 4], np.int64),
        _init("g", RNG.uniform(0.5, 1.5, 64)),
        _init("beta", RNG.standard_normal(64)),
        _init("ax", [2], np.int64),
        _init("ax1", [1], np.int64),
        _init("eps", 1e-12),
    ]
    _compare(_model(nodes, inits, ["N", 6], opset=20), rtol=1e-5)


def test_graph_nodes_out_of_order_import_and_cycles_are_named():
    """Nodes stored out of topological order (valid for onnxruntime) were refused as 'not a
    tensor computed from the network input'; a real cycle is named by its nodes only."""
    conv, w = _conv()
    nodes = [
        oh.make_node("Flatten", ["r"], ["y"], name="flat"),
        oh.make_node("Relu", ["c"], ["r"], name="relu"),
        conv,
    ]
    in_order = _model([nodes[2], nodes[1], nodes[0]], [w], ["N", 256])
    _compare(in_order, model=load_onnx(_model(nodes, [w], ["N", 256])))
    cyc = [
        conv,
        oh.make_node("Add", ["c", "d"], ["e"], name="add"),
        oh.make_node("Relu", ["e"], ["d"], name="relu"),
        oh.make_node("Flatten", ["d"], ["y"], name="flat"),
    ]
    with pytest.raises(ModelError, match=r"cycle: nodes 'add' \(op Add\), 'relu' \(op Relu\) wait"):
        load_onnx(_model(cyc, [w], ["N", 256]))


def test_opset_version_converter_output_imports_the_same_network():
    """onnx.version_converter (users upgrading old exports) from opset 11 to 21."""
    from onnx import version_converter

    from xbar.network import onnx_zoo as zoo

    base = zoo.lenet5(opset=11)
    x = RNG.standard_normal((2, *load_onnx(base).input_shape))
    expect = load_onnx(base).forward(x)
    for target in (13, 17, 21):
        got = load_onnx(version_converter.convert_version(base, target)).forward(x)
        np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("op", ["Abs", "Exp", "Log", "Round"])
def test_elementwise_math_ops(op, tmp_path):
    """Abs (torch's x.abs().sum() L1 norms), Exp, Log and Round were refused."""
    conv, w = _conv()
    nodes = [
        conv,
        oh.make_node("Sigmoid" if op == "Log" else "Identity", ["c"], ["a"]),
        oh.make_node(op, ["a"], ["e"]),
        oh.make_node("Flatten", ["e"], ["y"]),
    ]
    _round_trip(_compare(_model(nodes, [w], ["N", 256])), tmp_path)


# ------------------------------------------------------------ 2. inputs that are not images


def test_integer_and_multiple_inputs_are_refused_by_name_and_type():
    """A token-id (int64) input was refused at a Gather deep inside ('Gather is only
    supported on constants'); several inputs are listed with their types and shapes."""
    emb = _init("E", RNG.standard_normal((100, 8)))
    nodes = [
        oh.make_node("Gather", ["E", "x"], ["e"]),
        oh.make_node("ReduceMean", ["e"], ["y"], axes=[1], keepdims=0),
    ]
    m = _model(nodes, [emb], ["N", 8], opset=13, in_dims=("N", 5), in_type=TP.INT64)
    with pytest.raises(ModelError, match=r"input 'x' \(int64, N x 5\) is not a float .*token"):
        load_onnx(m)
    two = oh.make_graph(
        [oh.make_node("Add", ["a", "b"], ["y"])],
        "g",
        [
            oh.make_tensor_value_info("a", TP.FLOAT, ["N", 5]),
            oh.make_tensor_value_info("b", TP.INT64, ["N", 5]),
        ],
        [oh.make_tensor_value_info("y", TP.FLOAT, ["N", 5])],
    )
    with pytest.raises(ModelError, match=r"2 non-constant inputs \('a' \(float, N x 5\), 'b'"):
        load_onnx(oh.make_model(two, opset_imports=[oh.make_opsetid("", 13)]))


@pytest.mark.parametrize("op", ["If", "Loop", "Scan"])
def test_control_flow_is_refused_by_name(op):
    body = oh.make_graph([], "body", [], [])
    attrs = {
        "If": dict(then_branch=body, else_branch=body),
        "Loop": dict(body=body),
        "Scan": dict(body=body, num_scan_inputs=1),
    }[op]
    node = oh.make_node(op, ["x"], ["y"], name="cf", **attrs)
    with pytest.raises(ModelError, match=rf"node 'cf' \(op {op}\): .*control flow") as info:
        load_onnx(_model([node], [], ["N", 3, 8, 8]))
    assert "feed-forward" in str(info.value)


# ------------------------------------------------------------ 4. hostile models


def test_non_finite_weights_name_the_initializer_in_onnx_order():
    conv, _ = _conv()
    w = np.ones((4, 3, 3, 3), np.float32)
    w[2, 1, 0, 0] = np.inf
    m = _model([conv, oh.make_node("Flatten", ["c"], ["y"])], [_init("W", w)], ["N", 256])
    with pytest.raises(
        ModelError,
        match=r"initializer 'W' of shape \(4, 3, 3, 3\), holds inf at index \(2, 1, 0, 0\)",
    ):
        load_onnx(m)


def test_conv_group_mismatch_names_group_and_channels():
    w = _init("W", RNG.standard_normal((4, 2, 3, 3)))
    node = oh.make_node("Conv", ["x", "W"], ["c"], group=2, name="gc")
    m = _model([node, oh.make_node("Flatten", ["c"], ["y"])], [w], ["N", 144])
    msg = r"'gc' \(op Conv\): weight of shape \(4, 2, 3, 3\) with group=2 expects 4 input "
    with pytest.raises(ModelError, match=msg + r"channels \(2 per group\), but the input has 3"):
        load_onnx(m)


def test_unused_initializers_are_not_read():
    """A huge initializer nothing uses was converted to an array at import; now only the
    initializers the output needs are read (an unused NaN one is not even looked at)."""
    conv, w = _conv()
    bad = _init("unused", np.full((3, 3), np.nan))
    _compare(_model([conv, oh.make_node("Flatten", ["c"], ["y"])], [w, bad], ["N", 256]))


def _torch_save_like(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        zf.writestr("archive/version", b"3\n")


@pytest.mark.parametrize(
    "content,match",
    [
        (_torch_save_like, "PyTorch checkpoint"),
        (b"\x80\x02\x8a\x0alegacy torch", "Python pickle"),
        (b"\x89HDF\r\n\x1a\n" + bytes(64), "HDF5 file"),
        (b"\x1c\x00\x00\x00TFL3" + bytes(64), "TensorFlow Lite"),
    ],
)
def test_files_that_are_not_onnx_are_named(tmp_path, content, match):
    """A torch.save checkpoint given as --model said 'DecodeError: Wire format was corrupt'."""
    path = tmp_path / "model.onnx"
    if callable(content):
        content(path)
    else:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=rf"this is .*{match}.*not an ONNX model") as info:
        load_onnx(path)
    assert "torch.onnx.export" in info.value.hint
    pt = tmp_path / "model.pt"
    pt.write_bytes(path.read_bytes())
    with pytest.raises(ModelError, match=match):
        load_model(pt)  # any existing file is read as ONNX, not looked up as a .json


def test_truncated_onnx_files_never_give_a_raw_error(tmp_path):
    """Every prefix of a real model file: a named ModelError (or, cut at a field boundary,
    a smaller graph that is refused or imported), never another exception."""
    conv, w = _conv()
    data = _model([conv, oh.make_node("Flatten", ["c"], ["y"])], [w], ["N", 256])
    data = data.SerializeToString()
    path = tmp_path / "cut.onnx"
    for n in range(1, len(data), 7):
        path.write_bytes(data[:n])
        try:
            load_onnx(path)
        except ModelError:
            pass


def test_moved_external_data_names_the_missing_file(tmp_path):
    conv, w = _conv()
    m = _model([conv, oh.make_node("Flatten", ["c"], ["y"])], [w], ["N", 256])
    (tmp_path / "a").mkdir()
    onnx.save(
        m,
        tmp_path / "a" / "net.onnx",
        save_as_external_data=True,
        location="net.data",
        size_threshold=0,
    )
    assert load_onnx(tmp_path / "a" / "net.onnx").classes == 256
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "net.onnx").write_bytes((tmp_path / "a" / "net.onnx").read_bytes())
    with pytest.raises(
        ModelError,
        match=r"initializer 'W' is stored in the external data file 'net.data', which is missing",
    ):
        load_onnx(tmp_path / "b" / "net.onnx")


def test_models_over_2_gib_are_refused_before_reading(tmp_path):
    """A 2 GiB+ .onnx (sparse file here) or external data declaring more are refused by
    size, unread (the file of this test holds no data, reading it would take seconds)."""
    big = tmp_path / "big.onnx"
    with open(big, "wb") as fh:
        fh.truncate(2**31 + 1)
    with pytest.raises(ModelError, match=r"big.onnx: the ONNX file is 2.00 GiB"):
        load_onnx(big)
    conv, w = _conv()
    m = _model([conv, oh.make_node("Flatten", ["c"], ["y"])], [w], ["N", 256])
    onnx.save(
        m, tmp_path / "ext.onnx", save_as_external_data=True, location="ext.data", size_threshold=0
    )
    m = onnx.load(str(tmp_path / "ext.onnx"), load_external_data=False)
    for entry in m.graph.initializer[0].external_data:
        if entry.key == "length":
            entry.value = str(3 * 2**30)
    onnx.save(m, tmp_path / "ext.onnx")
    with pytest.raises(
        ModelError, match=r"external data declare more than 2 GiB \(at initializer 'W'\)"
    ):
        load_onnx(tmp_path / "ext.onnx")


# ------------------------------------------------------------ 3. data sets as distributed


def _idx(path, arr):
    import gzip

    arr = np.asarray(arr, np.uint8)
    head = (0x800 + arr.ndim).to_bytes(4, "big")
    head += b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(f"{path}.gz", "wb") as fh:
        fh.write(head + arr.tobytes())


@pytest.mark.parametrize("fmt", ["fashion-mnist", "kmnist", "mnist"])
def test_mnist_family_idx_files(tmp_path, fmt):
    """Fashion-MNIST and KMNIST come in MNIST's four idx files (torchvision's names)."""
    from xbar.network import load_dataset

    x = RNG.integers(0, 256, (6, 28, 28))
    for pre, n in (("train", 12), ("t10k", 6)):
        _idx(tmp_path / f"{pre}-images-idx3-ubyte", np.resize(x, (n, 28, 28)))
        _idx(tmp_path / f"{pre}-labels-idx1-ubyte", np.arange(n) % 10)
    d = load_dataset(f"{fmt}:{tmp_path}")
    assert d.x_test.shape == (6, 28, 28, 1) and d.classes == 10
    np.testing.assert_array_equal(d.x_test[..., 0] * 255, x)
    np.testing.assert_array_equal(d.y_test, np.arange(6))


def test_emnist_split_files_read_as_stored(tmp_path):
    """EMNIST idx files were not read; their images are kept as stored (transposed), as
    torchvision's EMNIST and tensorflow_datasets give them; 'letters' has 27 classes
    (labels 1..26, as torchvision counts them); a folder of several splits asks for one."""
    from xbar.network import load_dataset

    img = np.zeros((4, 28, 28), np.uint8)
    img[:, 2:5, 10:20] = 255
    for split, labels in (("letters", [1, 26, 5, 9]), ("balanced", [0, 46, 3, 3])):
        for pre in ("train", "test"):
            _idx(tmp_path / f"emnist-{split}-{pre}-images-idx3-ubyte", img)
            _idx(tmp_path / f"emnist-{split}-{pre}-labels-idx1-ubyte", labels)
    with pytest.raises(ModelError, match="holds the splits balanced, letters") as info:
        load_dataset(f"emnist:{tmp_path}")
    assert "emnist-balanced" in info.value.hint
    d = load_dataset(f"emnist:{tmp_path / 'emnist-letters'}")
    assert d.classes == 27 and d.y_test.tolist() == [1, 26, 5, 9]
    np.testing.assert_array_equal(d.x_test[0, :, :, 0] * 255, img[0])  # no transpose
    assert load_dataset(f"emnist:{tmp_path / 'emnist-balanced'}").classes == 47


def test_svhn_mat_files_map_label_10_to_digit_0(tmp_path):
    """SVHN's test_32x32.mat (X (32, 32, 3, N), y (N, 1) in 1..10) was not read; 10 is the
    digit 0, as torchvision's SVHN maps it."""
    from scipy.io import savemat

    from xbar.network import load_dataset

    X = RNG.integers(0, 256, (32, 32, 3, 5)).astype(np.uint8)
    y = np.array([[10], [1], [9], [10], [3]], np.uint8)
    savemat(tmp_path / "test_32x32.mat", {"X": X, "y": y})
    for spec in (f"svhn:{tmp_path}", str(tmp_path), str(tmp_path / "test_32x32.mat")):
        d = load_dataset(spec)
        assert d.classes == 10 and d.y_test.tolist() == [0, 1, 9, 0, 3]
        np.testing.assert_allclose(d.x_test, X.transpose(3, 0, 1, 2) / 255)
    savemat(tmp_path / "test_32x32.mat", {"X": X, "y": y - 1})
    with pytest.raises(ModelError, match=r"image 0 has label 9|image 1 has label 0"):
        load_dataset(f"svhn:{tmp_path}")


def test_npy_pairs_and_one_hot_or_float_labels(tmp_path):
    """A folder of x_test.npy / y_test.npy was not a data set, and Keras' one-hot labels
    (to_categorical) in an .npz were refused as 'one label per image'."""
    from xbar.network import load_dataset

    x = RNG.integers(0, 256, (8, 6, 6, 3), dtype=np.uint8)
    labels = np.array([0, 3, 1, 2, 3, 0, 1, 2])
    np.save(tmp_path / "x_test.npy", x)
    np.save(tmp_path / "y_test.npy", labels.astype(np.float32))
    for spec in (f"npy:{tmp_path}", str(tmp_path)):
        d = load_dataset(spec)
        assert d.y_test.tolist() == labels.tolist() and d.classes == 4
        np.testing.assert_allclose(d.x_test, x / 255)
    np.savez(tmp_path / "hot.npz", x=x, y=np.eye(4, dtype=np.float32)[labels])
    assert load_dataset(str(tmp_path / "hot.npz")).y_test.tolist() == labels.tolist()
    np.savez(tmp_path / "col.npz", x=x, y=labels[:, None].astype(np.uint8))  # Keras' CIFAR
    assert load_dataset(str(tmp_path / "col.npz")).y_test.tolist() == labels.tolist()
    np.savez(tmp_path / "soft.npz", x=x, y=np.full((8, 4), 0.25, np.float32))
    with pytest.raises(ModelError, match=r"y has shape \(8, 4\) but is not one-hot"):
        load_dataset(str(tmp_path / "soft.npz"))


def test_image_folder_with_grayscale_rgba_and_jpeg_reads_rgb_as_torchvision(tmp_path):
    """A folder whose first image was grayscale read every image as one channel (colour
    lost); torchvision's ImageFolder converts every image to RGB (alpha dropped)."""
    from PIL import Image

    from xbar.network import load_dataset

    files = {
        "a/0.png": Image.fromarray(RNG.integers(0, 256, (5, 5), dtype=np.uint8), "L"),
        "b/0.png": Image.fromarray(RNG.integers(0, 256, (5, 5, 4), dtype=np.uint8), "RGBA"),
        "c/0.jpg": Image.fromarray(RNG.integers(0, 256, (5, 5, 3), dtype=np.uint8), "RGB"),
    }
    for name, im in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        im.save(tmp_path / name)
    d = load_dataset(f"folder:{tmp_path}")
    expect = [np.asarray(Image.open(tmp_path / n).convert("RGB")) / 255 for n in sorted(files)]
    np.testing.assert_allclose(d.x_test, np.stack(expect))
    for name in ("b/0.png", "c/0.jpg"):
        (tmp_path / name).unlink()
        (tmp_path / name).parent.rmdir()
    assert load_dataset(f"folder:{tmp_path}").x_test.shape == (1, 5, 5, 1)  # all gray


def test_data_that_does_not_fit_the_model_names_both(tmp_path):
    """Images with other channels than the model's, and labels beyond its classes, are
    named with both shapes / ranges (channels got a resize hint before)."""
    from xbar.network import load_dataset

    conv, w = _conv()
    nodes = [conv, oh.make_node("ReduceMean", ["c"], ["y"], axes=[2, 3], keepdims=0)]
    model = load_onnx(_model(nodes, [w], ["N", 4]))
    np.savez(tmp_path / "gray.npz", x=np.zeros((4, 8, 8, 1), np.uint8), y=np.arange(4))
    with pytest.raises(ModelError, match=r"takes inputs \(8, 8, 3\).*has inputs \(8, 8, 1\)") as e:
        load_dataset(str(tmp_path / "gray.npz")).check_model(model)
    assert "1 channel(s), the model takes 3" in e.value.hint
    np.savez(tmp_path / "many.npz", x=np.zeros((6, 8, 8, 3), np.uint8), y=np.arange(6))
    with pytest.raises(ModelError, match=r"4 output classes, but .* labels 0..5 \(6 classes\)"):
        load_dataset(str(tmp_path / "many.npz")).check_model(model)


def test_argmax_and_probabilities_outputs_pick_one_tensor():
    """(label, probabilities) outputs as classifier converters write them: the label is
    the ArgMax of the probabilities, so one tensor is imported."""
    conv, w = _conv()
    nodes = [
        conv,
        oh.make_node("ReduceMean", ["c"], ["logits"], axes=[2, 3], keepdims=0),
        oh.make_node("Softmax", ["logits"], ["probs"], axis=1),
        oh.make_node("ArgMax", ["probs"], ["label"], axis=1, keepdims=0),
    ]
    outs = [
        oh.make_tensor_value_info("label", TP.INT64, ["N"]),
        oh.make_tensor_value_info("probs", TP.FLOAT, ["N", 4]),
    ]
    model = load_onnx(_model(nodes, [w], None, out=outs))
    assert model.meta["onnx_output"] == "probs" and model.classes == 4


def test_dropout_exported_in_training_mode_is_refused():
    """torch.onnx.export(..., training=TrainingMode.TRAINING) keeps Dropout active (random
    at every run in onnxruntime); it was imported as identity without a word."""
    conv, w = _conv()
    nodes = [
        conv,
        oh.make_node("Dropout", ["c", "ratio", "train"], ["d"], name="drop"),
        oh.make_node("Flatten", ["d"], ["y"]),
    ]
    inits = [w, _init("ratio", 0.5), _init("train", True, np.bool_)]
    with pytest.raises(ModelError, match=r"'drop' \(op Dropout\): training_mode=True"):
        load_onnx(_model(nodes, inits, ["N", 256], opset=13))
    inits[2] = _init("train", False, np.bool_)
    _compare(_model(nodes, inits, ["N", 256], opset=13))


def test_keras_mlp_on_unchannelled_images_gets_them_without_channel_axis():
    """A Keras MLP with Input(shape=(8, 8)) (ONNX input (N, 8, 8)) refused 8x8x1 images:
    'model takes inputs (8, 8) ... data set has inputs (8, 8, 1)'."""
    from xbar.network import AnalogConfig, evaluate, load_dataset
    from xbar.network.data import shaped_for

    nodes = [
        oh.make_node("Reshape", ["x", "shape"], ["f"]),
        oh.make_node("MatMul", ["f", "W"], ["y"]),
    ]
    inits = [_init("shape", [-1, 64], np.int64), _init("W", RNG.standard_normal((64, 10)))]
    model = load_onnx(_model(nodes, inits, ["N", 10], opset=13, in_dims=("N", 8, 8)))
    data = shaped_for(load_dataset("digits"), model)
    assert data.x_test.shape[1:] == (8, 8)
    data.check_model(model)
    result = evaluate(model, AnalogConfig(), dataset=data, limit=20)
    assert result.ideal_accuracy == model.accuracy(data.x_test[:20], data.y_test[:20])


def test_instance_and_group_norm_as_torch_exports_them(tmp_path):
    """nn.InstanceNorm2d, and nn.GroupNorm (Reshape -> InstanceNormalization -> Reshape ->
    Mul -> Add), were refused ('op InstanceNormalization is not supported')."""
    conv, w = _conv(cout=8)
    nodes = [
        conv,
        oh.make_node("Reshape", ["c", "groups"], ["g"]),
        oh.make_node("InstanceNormalization", ["g", "ones", "zeros"], ["gn"], epsilon=1e-5),
        oh.make_node("Reshape", ["gn", "back"], ["r"]),
        oh.make_node("Mul", ["r", "gamma"], ["rm"]),
        oh.make_node("Add", ["rm", "beta"], ["gn_out"]),
        oh.make_node("InstanceNormalization", ["gn_out", "s8", "b8"], ["inorm"], epsilon=1e-3),
        oh.make_node("Flatten", ["inorm"], ["y"]),
    ]
    inits = [
        w,
        _init("groups", [0, 2, -1], np.int64),
        _init("ones", np.ones(2)),
        _init("zeros", np.zeros(2)),
        _init("back", [-1, 8, 8, 8], np.int64),
        _init("gamma", RNG.uniform(0.5, 1.5, (8, 1, 1))),
        _init("beta", RNG.standard_normal((8, 1, 1))),
        _init("s8", RNG.uniform(0.5, 1.5, 8)),
        _init("b8", RNG.standard_normal(8)),
    ]
    _round_trip(_compare(_model(nodes, inits, ["N", 512], opset=13)), tmp_path)


@pytest.mark.parametrize("mode", ["DCR", "CRD", "space_to_depth"])
def test_pixel_shuffle_ops(mode, tmp_path):
    """nn.PixelShuffle (DepthToSpace, CRD) and nn.PixelUnshuffle (SpaceToDepth)."""
    conv, w = _conv(cout=8)
    if mode == "space_to_depth":
        node = oh.make_node("SpaceToDepth", ["c"], ["p"], blocksize=2)
    else:
        node = oh.make_node("DepthToSpace", ["c"], ["p"], blocksize=2, mode=mode)
    nodes = [conv, node, oh.make_node("Flatten", ["p"], ["y"])]
    _round_trip(_compare(_model(nodes, [w], ["N", 512], opset=13)), tmp_path)


@pytest.mark.parametrize(
    "op", ["GreaterOrEqual", "LessOrEqual", "Equal", "And", "Or", "Xor", "Sign", "Mish", "Celu"]
)
def test_comparison_logical_and_activation_ops(op, tmp_path):
    """torch's Hardshrink / Threshold (LessOrEqual, Or), LPPool (Sign), Mish (opset 18),
    CELU were refused; booleans are 1.0 / 0.0 inside xbar, cast back for ONNX."""
    conv, w = _conv()
    if op in ("Sign", "Mish", "Celu"):
        mid = [oh.make_node(op, ["c"], ["e"], **({"alpha": 0.7} if op == "Celu" else {}))]
    else:
        cmp = "Greater" if op in ("And", "Or", "Xor") else op
        mid = [oh.make_node(cmp, ["c", "k"], ["b1"])]
        if op in ("And", "Or", "Xor"):
            mid += [
                oh.make_node("Less", ["c", "k2"], ["b2"]),
                oh.make_node(op, ["b1", "b2"], ["b"]),
            ]
        else:
            mid[0].output[0] = "b"
        mid += [oh.make_node("Where", ["b", "c", "z"], ["e"])]
    nodes = [conv, *mid, oh.make_node("Flatten", ["e"], ["y"])]
    inits = [w, _init("k", 0.1), _init("k2", 0.5), _init("z", np.zeros((1, 4, 8, 8)))]
    model = _compare(_model(nodes, inits, ["N", 256], opset=18))
    _round_trip(model, tmp_path, opset=18)


@pytest.mark.parametrize(
    "node,inits",
    [
        (oh.make_node("Tile", ["c", "r"], ["t"]), [_init("r", [1, 1, 3000, 3000], np.int64)]),
        (oh.make_node("Resize", ["c", "", "r"], ["t"]), [_init("r", [1, 1, 1000, 1000])]),
        (
            oh.make_node("Pad", ["c", "r"], ["t"]),
            [_init("r", [0, 0, 0, 0, 0, 0, 9000, 9000], np.int64)],
        ),
    ],
    ids=["Tile", "Resize", "Pad"],
)
def test_huge_intermediate_tensors_are_refused_at_import(node, inits):
    """A Tile, Resize or Pad by a huge factor imported fine and exhausted the memory at
    the first image; refused at import, naming the node and the size."""
    conv, w = _conv()
    m = _model(
        [conv, node, oh.make_node("ReduceMean", ["t"], ["y"], axes=[2, 3], keepdims=0)],
        [w, *inits],
        ["N", 4],
        opset=13,
    )
    with pytest.raises(ModelError, match=r"would hold .* values per image"):
        load_onnx(m)


def test_axes_outside_the_tensor_are_refused_not_wrapped():
    """An Unsqueeze/Concat/Softmax axis outside [-rank, rank) (onnxruntime refuses the
    graph) was taken modulo the rank, i.e. as another axis; and a Split whose num_outputs
    disagrees with its outputs was imported (found by a differential fuzz)."""
    conv, w = _conv()
    for node in (
        oh.make_node("Softmax", ["c"], ["s"], axis=7),
        oh.make_node("Concat", ["c", "c"], ["s"], axis=-9),
        oh.make_node("Unsqueeze", ["c", "ax"], ["s"]),
    ):
        nodes = [conv, node, oh.make_node("Flatten", ["s"], ["y"])]
        m = _model(nodes, [w, _init("ax", [9], np.int64)], ["N", 256], opset=13)
        with pytest.raises(ModelError, match=r"axis -?\d is outside a rank-\d tensor"):
            load_onnx(m)
    nodes = [conv, oh.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 2, 1])]
    m = _model([*nodes, oh.make_node("Flatten", ["t"], ["y"])], [w], ["N", 256], opset=13)
    with pytest.raises(ModelError, match=r"perm \[0, 2, 2, 1\] is not a permutation"):
        load_onnx(m)
    split = oh.make_node("Split", ["c"], ["a", "b"], axis=1, num_outputs=3)
    nodes = [conv, split, oh.make_node("Flatten", ["a"], ["y"])]
    with pytest.raises(ModelError, match="num_outputs=3 but the node has 2 outputs"):
        load_onnx(_model(nodes, [w], ["N", 128], opset=18))


def test_ops_outside_the_graphs_opset_are_refused():
    """Mish in an opset-13 graph (it exists from opset 18) was imported although
    onnxruntime refuses the graph; Upsample at opset 10+ is deprecated (Resize)."""
    conv, w = _conv()
    nodes = [conv, oh.make_node("Mish", ["c"], ["e"]), oh.make_node("Flatten", ["e"], ["y"])]
    with pytest.raises(
        ModelError,
        match=r"'Mish' is not defined at the graph's opset 13 \(it exists from opset 18\)",
    ):
        load_onnx(_model(nodes, [w], ["N", 256], opset=13))
    nodes = [
        conv,
        oh.make_node("Upsample", ["c", "s"], ["u"]),
        oh.make_node("Flatten", ["u"], ["y"]),
    ]
    with pytest.raises(ModelError, match="'Upsample' is deprecated at opset 13") as info:
        load_onnx(_model(nodes, [w, _init("s", [1, 1, 2, 2])], ["N", 1024], opset=13))
    assert "Resize" in info.value.hint
    pool = oh.make_node("AveragePool", ["c"], ["p"], kernel_shape=[2, 2], dilations=[1, 1])
    nodes = [conv, pool, oh.make_node("Flatten", ["p"], ["y"])]
    with pytest.raises(
        ModelError, match="'dilations' is not defined for AveragePool at the graph's opset 14"
    ):
        load_onnx(_model(nodes, [w], ["N", 196], opset=14))  # AveragePool-19 has dilations


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumsum(exclusive, reverse, tmp_path):
    """torch's x.cumsum(dim) was refused ('op CumSum is not supported')."""
    conv, w = _conv()
    node = oh.make_node("CumSum", ["c", "ax"], ["s"], exclusive=exclusive, reverse=reverse)
    nodes = [conv, node, oh.make_node("Flatten", ["s"], ["y"])]
    m = _model(nodes, [w, _init("ax", -1, np.int64)], ["N", 256], opset=14)
    _round_trip(_compare(m), tmp_path, opset=14)


@pytest.mark.parametrize("a,exclude", [(-0.75, 0), (-0.5, 1)])
def test_cubic_weights_and_exclude_outside(a, exclude):
    """Keys' cubic kernel (cubic_coeff_a -0.75 as torch, -0.5 as TensorFlow); with
    exclude_outside the taps beyond the edge are dropped and the rest renormalised."""
    from xbar.network.ops import Resize

    x = RNG.standard_normal((1, 6))
    r = Resize((0,), (9,), (1.5,), "cubic", "half_pixel", cubic_a=a, exclude_outside=bool(exclude))
    got = r.forward(x)[0]

    def kernel(d):
        d = abs(d)
        if d <= 1:
            return ((a + 2) * d - (a + 3)) * d * d + 1
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a if d < 2 else 0.0

    for j in range(9):
        c = np.float32(j + 0.5) / np.float32(1.5) - np.float32(0.5)  # float32, as ONNX
        lo = int(np.floor(c))
        taps = [(k, kernel(float(c - np.float32(k)))) for k in range(lo - 1, lo + 3)]
        if exclude:
            taps = [(k, wk) for k, wk in taps if 0 <= k < 6]
            total = sum(wk for _, wk in taps)
            taps = [(k, wk / total) for k, wk in taps]
        expect = sum(wk * x[0, min(max(k, 0), 5)] for k, wk in taps)
        assert got[j] == pytest.approx(expect, rel=1e-6, abs=1e-9)


def test_shipped_names_win_over_a_file_of_the_same_name(tmp_path, monkeypatch):
    """A file called 'default' in the working directory must not shadow the shipped model."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").write_bytes(b"\x80\x02 not a model")
    assert load_model("default").input_shape == (8, 8, 1)


def test_flag_attributes_other_than_0_or_1_are_refused():
    """keepdims=3 was read as true; onnxruntime reads it as false (found by the fuzz)."""
    conv, w = _conv()
    nodes = [conv, oh.make_node("ReduceMean", ["c"], ["y"], axes=[2, 3], keepdims=3)]
    with pytest.raises(ModelError, match="attribute keepdims=3 must be 0 or 1"):
        load_onnx(_model(nodes, [w], ["N", 4], opset=13))


@pytest.mark.parametrize("size", [1, 2, 5])
def test_lrn_as_caffe_era_zoo_models_use_it(size, tmp_path):
    """ONNX LRN (AlexNet, GoogLeNet, CaffeNet of the ONNX model zoo) was refused.  The
    reference is the spec's formula written out (onnx.reference's LRN disagrees with the
    spec and with onnxruntime by up to 5 on such inputs; xbar matches onnxruntime to
    1.3e-6 for sizes 1, 3, 5; onnxruntime refuses even sizes)."""
    from xbar.network.ops import LRN

    conv, w = _conv(cout=8)
    lrn = oh.make_node("LRN", ["c"], ["n"], size=size, alpha=1e-2, beta=0.75, bias=2.0)
    model = load_onnx(_model([conv, lrn, oh.make_node("Flatten", ["n"], ["y"])], [w], ["N", 512]))
    x = RNG.standard_normal((2, 4, 3, 8))  # (batch, H, W, C) as xbar holds images
    got = LRN(2, size, alpha=1e-2, beta=0.75, bias=2.0).forward(x)
    expect = np.empty_like(x)
    for c in range(8):
        lo, hi = max(0, c - (size - 1) // 2), min(7, c + -(-(size - 1) // 2))
        square_sum = (x[..., lo : hi + 1] ** 2).sum(axis=-1)
        expect[..., c] = x[..., c] / (2.0 + 1e-2 / size * square_sum) ** 0.75
    np.testing.assert_allclose(got, expect, rtol=1e-12)
    _round_trip(model, tmp_path, opset=13)
