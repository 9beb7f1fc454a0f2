"""ONNX import and export: digital outputs against onnx.reference, round trips, errors."""

import re
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from xbar.errors import ModelError  # noqa: E402
from xbar.network import (  # noqa: E402
    AnalogConfig,
    evaluate,
    load_model,
    load_onnx,
    save_onnx,
    synthetic_images,
    wrn,
)
from xbar.network import onnx_zoo as zoo  # noqa: E402
from xbar.network.data import synthetic_dataset  # noqa: E402

FIXTURES = Path(__file__).parent / "data" / "onnx"


def _onnx_input(proto, n=3, seed=1):
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    n, dims = dims[0] or n, dims[1:]  # a static batch stays what it is
    return np.random.default_rng(seed).standard_normal((n, *dims)).astype(np.float32)


def _nhwc(x):
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def _check_against_reference(proto, model=None, rtol=1e-5):
    model = model if model is not None else load_onnx(proto)
    x = _onnx_input(proto)
    name = proto.graph.input[0].name
    ref = ReferenceEvaluator(proto).run(None, {name: x})[0]
    inside = x if model.meta["input_layout"] == "NHWC" else _nhwc(x)  # Keras: NHWC already
    got = model.forward(inside.astype(float))
    assert got.shape == ref.shape
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert err < rtol, err
    return model


BUILDERS = [zoo.mlp, zoo.lenet5, zoo.resnet20, zoo.wide_resnet, zoo.mobilenet_style, zoo.two_branch]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda f: f.__name__)
def test_torch_style_graphs_match_reference_evaluator(build):
    model = _check_against_reference(build())
    assert model.matmul_layers()


@pytest.mark.parametrize("opset", [11, 12, 13, 14, 15, 16, 18, 19, 20, 21])
@pytest.mark.parametrize(
    "build", [zoo.lenet5, zoo.mobilenet_style, zoo.resnet20], ids=lambda f: f.__name__
)
def test_every_opset_imports_the_same_network(build, opset):
    """Attribute vs input forms (Unsqueeze axes, Clip bounds, HardSwish decomposition) across
    opsets give the network of the opset-17 graph, which matches the reference evaluator
    (onnx.reference runs opset < 14 BatchNormalization in training mode, so it cannot be the
    reference there)."""
    x = _nhwc(_onnx_input(build())).astype(float)
    expect = load_onnx(build(opset=17)).forward(x)
    got = load_onnx(build(opset=opset)).forward(x)
    np.testing.assert_allclose(got, expect, rtol=1e-6, atol=1e-9)  # float32 1/6 in HardSigmoid
    if opset >= 14:
        _check_against_reference(build(opset=opset))


def test_onnxruntime_agrees_at_old_opsets():
    ort = pytest.importorskip("onnxruntime")
    proto = zoo.resnet20(opset=11)
    x = _onnx_input(proto)
    ref = ort.InferenceSession(proto.SerializeToString()).run(None, {"input": x})[0]
    got = load_onnx(proto).forward(_nhwc(x).astype(float))
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-5


@pytest.mark.parametrize("name", ["default", "default_noise", "default_hessian", "wrn-10-2"])
def test_zoo_export_round_trip(tmp_path, name):
    model = load_model(name)
    path = save_onnx(model, tmp_path / f"{name}.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    x = np.random.default_rng(0).random((3, *model.input_shape))
    ref = ReferenceEvaluator(proto).run(
        None, {"input": x.transpose(0, 3, 1, 2).astype(np.float32)}
    )[0]
    own = model.forward(x)
    assert np.abs(ref - own).max() / np.abs(own).max() < 1e-5
    back = load_onnx(path)
    assert back.input_shape == model.input_shape
    assert len(back.matmul_layers()) == len(model.matmul_layers())
    assert np.abs(back.forward(x) - own).max() / np.abs(own).max() < 1e-5


def test_imported_graph_exports_and_reimports(tmp_path):
    m = load_onnx(zoo.mobilenet_style())
    path = save_onnx(m, tmp_path / "m.onnx", opset=18)
    _check_against_reference(onnx.load(str(path)))
    x = synthetic_images(2, m.input_shape)
    np.testing.assert_allclose(load_onnx(path).forward(x), m.forward(x), rtol=1e-5, atol=1e-6)


def test_depthwise_is_block_diagonal_on_the_arrays():
    m = load_onnx(zoo.mobilenet_style())
    dw = [la for la in m.matmul_layers() if getattr(la, "groups", 1) > 1]
    assert dw and all(la.groups == la.in_channels for la in dw)
    W2d = dw[0].W2d
    assert W2d.shape == (9 * dw[0].in_channels, dw[0].out_channels)
    assert np.count_nonzero(W2d) <= 9 * dw[0].out_channels


def test_analog_ideal_equals_digital_on_imported_graph():
    m = load_onnx(zoo.mobilenet_style(classes=4))
    data = synthetic_dataset((32, 32, 3), classes=4, sizes=(16, 8, 24))
    res = evaluate(m, AnalogConfig().as_ideal(), dataset=data, chips=[0])
    assert res.accuracy == res.ideal_accuracy
    assert {s.name for s in res.layer_stats} == {
        la.name for la in m.fold_batchnorm().matmul_layers()
    }
    assert all(s.rel_error < 1e-9 for s in res.layer_stats)


@pytest.mark.parametrize(
    "source",
    [
        "two_branch",
        "convnext_dynamo_op18",
        "keras_relus_tf2onnx_op18",
        "keras_merges_tf2onnx_op13",
        "keras_activations_tf2onnx_op18",
    ],
)
def test_saved_graph_model_reloads(tmp_path, source):
    """xbar's own format keeps every graph op (Normalize, ReduceMax, max/min, pow, ...)."""
    from xbar.network import save_model

    path = FIXTURES / f"{source}.onnx"
    m = load_onnx(path if path.exists() else zoo.two_branch())
    save_model(m, tmp_path / "tb")
    back = load_model(tmp_path / "tb")
    assert not back.is_sequential
    x = synthetic_images(2, m.input_shape)
    np.testing.assert_array_equal(back.forward(x), m.forward(x))


def test_fold_batchnorm_on_graph_is_exact():
    m = load_onnx(zoo.resnet20())
    folded = m.fold_batchnorm()
    n_bn = sum(type(la).__name__ == "BatchNorm" for la in m.layers)
    assert n_bn == 21 and not any(type(la).__name__ == "BatchNorm" for la in folded.layers)
    x = synthetic_images(2, m.input_shape)
    np.testing.assert_allclose(folded.forward(x), m.forward(x), rtol=1e-10, atol=1e-10)


def test_training_refuses_graph_ops_without_backward():
    m = load_onnx(zoo.two_branch())  # padded pools have no backward pass
    with pytest.raises(ModelError, match="cannot be trained"):
        m.check_trainable()
    load_model("default").check_trainable()
    load_onnx(zoo.mlp()).check_trainable()


# ------------------------------------------------------------------ real exporter output
@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.onnx")), ids=lambda p: p.stem)
def test_real_torch_exports_match_reference(path):
    proto = onnx.load(str(path))
    _check_against_reference(proto, load_onnx(path))


@pytest.mark.parametrize(
    "stem",
    [
        "activations_dynamo_op20",
        "two_branch_torchscript_op14",
        "keras_activations_tf2onnx_op18",
        "keras_cnn_bn_tf2onnx_op13",
        "keras_merges_tf2onnx_op13",
        "keras_relus_tf2onnx_op18",
        "convnext_dynamo_op18",
        "layernorm_torchscript_op13",
    ],
)
def test_real_exports_round_trip_through_save_onnx(tmp_path, stem):
    m = load_onnx(FIXTURES / f"{stem}.onnx")
    path = save_onnx(m, tmp_path / "m.onnx", opset=20)
    _check_against_reference(onnx.load(str(path)), load_onnx(path))
    x = synthetic_images(2, m.input_shape)
    np.testing.assert_allclose(load_onnx(path).forward(x), m.forward(x), rtol=1e-5, atol=1e-6)


def test_fixtures_are_present():
    assert len(list(FIXTURES.glob("*.onnx"))) >= 3
    assert len(list(FIXTURES.glob("keras_*.onnx"))) >= 3


@pytest.mark.parametrize(
    "stem", ["keras_mlp_tf2onnx_op13", "keras_cnn_bn_tf2onnx_op17", "keras_mobilenet_export_op15"]
)
def test_keras_exports_keep_nhwc_input_with_no_transposes(stem):
    """tf2onnx keeps Keras' NHWC input and transposes to NCHW itself; the importer turns
    those Transposes (and the flatten of NHWC maps) into bookkeeping only."""
    proto = onnx.load(str(FIXTURES / f"{stem}.onnx"))
    assert proto.producer_name == "tf2onnx"
    m = load_onnx(FIXTURES / f"{stem}.onnx")
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert m.meta["input_layout"] == "NHWC" and m.input_shape == tuple(dims[1:])
    assert not any(type(la).__name__ == "Transpose" for la in m.layers)


@pytest.mark.parametrize(
    "stem,op",
    [
        ("gru_torchscript_op13", "GRU"),  # recurrent layers
    ],
)
def test_real_unsupported_op_is_a_named_error(stem, op):
    path = FIXTURES / "unsupported" / f"{stem}.onnx"
    with pytest.raises(ModelError, match=rf"(?s){stem}.onnx: node '[^']+' \(op {op}\).*supported"):
        load_onnx(path)


def test_keras_exact_gelu_erfc_is_one_minus_erf():
    """tf2onnx writes Keras' exact GELU with ``Erfc``, which ONNX does not define
    (onnxruntime refuses the file): xbar reads it as 1 - erf, checked against the same
    graph with ``Sub(1, Erf(x))`` in its place run by onnx.reference."""
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    proto = onnx.load(str(FIXTURES / "nonstandard" / "keras_exact_gelu_tf2onnx_op17.onnx"))
    m = load_onnx(FIXTURES / "nonstandard" / "keras_exact_gelu_tf2onnx_op17.onnx")
    nodes = []
    for n in proto.graph.node:
        if n.op_type != "Erfc":
            nodes.append(n)
            continue
        erf = helper.make_node("Erf", list(n.input), [n.output[0] + "_erf"])
        nodes += [erf, helper.make_node("Sub", ["one_", erf.output[0]], list(n.output))]
    proto.graph.ClearField("node")
    proto.graph.node.extend(nodes)
    proto.graph.initializer.append(numpy_helper.from_array(np.ones((), np.float32), "one_"))
    x = synthetic_images(3, m.input_shape).astype(np.float32)
    ref = ReferenceEvaluator(proto).run(None, {proto.graph.input[0].name: x})[0]
    np.testing.assert_allclose(m.forward(x), ref, rtol=1e-5, atol=1e-6)


def test_external_data_written_by_torch_dynamo():
    path = FIXTURES / "misc_dynamo_op18_external.onnx"
    assert path.with_suffix(".onnx.data").is_file()
    plain = load_onnx(FIXTURES / "misc_dynamo_op21.onnx")
    m = load_onnx(path)
    x = synthetic_images(2, m.input_shape)
    np.testing.assert_allclose(m.forward(x), plain.forward(x), rtol=1e-6, atol=1e-7)


def test_neg_and_pow_on_network_tensors():
    inits = {"three": np.array(3.0, np.float32), "W": np.ones((4, 2))}
    nodes = [
        helper.make_node("Neg", ["x"], ["n"]),
        helper.make_node("Pow", ["n", "three"], ["p"]),
        helper.make_node("MatMul", ["p", "W"], ["y"]),
    ]
    _check_against_reference(_graph(nodes, inits, ["N", 4], ["N", 2]))


@pytest.mark.parametrize("stem", ["keras_resnet_tf2onnx_op13", "keras_mobilenet_tf2onnx_op17"])
def test_analog_ideal_equals_digital_on_keras_graph(stem):
    m = load_onnx(FIXTURES / f"{stem}.onnx")
    data = synthetic_dataset(m.input_shape, classes=10, sizes=(16, 8, 24))
    res = evaluate(m, AnalogConfig().as_ideal(), dataset=data, chips=[0])
    assert res.accuracy == res.ideal_accuracy
    assert all(s.rel_error < 1e-9 for s in res.layer_stats)


# ------------------------------------------------------------------ hand-made graphs
def _graph(nodes, inits, in_shape, out_shape, opset=17, in_name="x"):
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        initializer=[
            numpy_helper.from_array(
                np.asarray(v, np.float32) if np.asarray(v).dtype.kind == "f" else np.asarray(v), k
            )
            for k, v in inits.items()
        ],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def test_gemm_alpha_beta_transposes_and_matmul_add():
    rng = np.random.default_rng(0)
    inits = {
        "B": rng.normal(size=(6, 4)),
        "C": rng.normal(size=(1, 4)),
        "W2": rng.normal(size=(4, 3)),
        "b2": rng.normal(size=3),
    }
    nodes = [
        helper.make_node("Gemm", ["x", "B", "C"], ["h"], alpha=0.5, beta=2.0),
        helper.make_node("MatMul", ["h", "W2"], ["m"]),
        helper.make_node("Add", ["m", "b2"], ["y"]),
    ]
    _check_against_reference(_graph(nodes, inits, ["N", 6], ["N", 3]))


def test_auto_pad_dilation_pads_ceil_mode_transpose_squeeze_softmax():
    rng = np.random.default_rng(0)
    inits = {
        "W": rng.normal(size=(4, 2, 3, 3)),
        "p": np.array([0, 0, 1, 2, 0, 0, 2, 1]),
        "W2": rng.normal(size=(4, 2, 3, 3)),
        "ax": np.array([2, 3]),
        "Wf": rng.normal(size=(8, 5)),
        "half": np.array([0.5], np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["c1"], auto_pad="SAME_UPPER", strides=[2, 2]),
        helper.make_node(
            "Conv", ["x", "W2"], ["c2"], pads=[2, 2, 2, 2], dilations=[2, 2], strides=[2, 2]
        ),
        helper.make_node("Concat", ["c1", "c2"], ["c"], axis=1),
        helper.make_node("Pad", ["c", "p"], ["cp"], mode="reflect"),
        helper.make_node(
            "MaxPool", ["cp"], ["mp"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1
        ),
        helper.make_node("Mul", ["mp", "half"], ["mh"]),
        helper.make_node("ReduceMean", ["mh", "ax"], ["r"], keepdims=1),
        helper.make_node("Squeeze", ["r", "ax"], ["s"]),
        helper.make_node("MatMul", ["s", "Wf"], ["z"]),
        helper.make_node("Softmax", ["z"], ["y"], axis=-1),
    ]
    _check_against_reference(_graph(nodes, inits, ["N", 2, 11, 9], ["N", 5], opset=18))


def test_nhwc_keras_style_input_with_transposes():
    rng = np.random.default_rng(0)
    inits = {
        "W": rng.normal(size=(3, 2, 3, 3)),
        "shape": np.array([-1, 48]),
        "Wf": rng.normal(size=(48, 4)),
    }
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "W"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Transpose", ["r"], ["back"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["back", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "Wf"], ["y"]),
    ]
    proto = _graph(nodes, inits, ["N", 4, 4, 2], ["N", 4])
    m = load_onnx(proto)
    assert m.meta["input_layout"] == "NHWC" and m.input_shape == (4, 4, 2)
    assert not any(type(la).__name__ == "Transpose" for la in m.layers)  # all bookkeeping
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 2)).astype(np.float32)
    ref = ReferenceEvaluator(proto).run(None, {"x": x})[0]
    np.testing.assert_allclose(m.forward(x.astype(float)), ref, rtol=1e-5, atol=1e-5)


def test_external_data_initializers(tmp_path):
    proto = zoo.lenet5()
    path = tmp_path / "lenet.onnx"
    onnx.save_model(
        proto,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="lenet.weights",
        size_threshold=0,
    )
    assert (tmp_path / "lenet.weights").exists()
    _check_against_reference(zoo.lenet5(), load_onnx(path))
    (tmp_path / "lenet.weights").unlink()
    with pytest.raises(ModelError, match="lenet"):
        load_onnx(path)


@pytest.mark.parametrize(
    "case,match",
    [
        ("unknown_op", r"(?s)node 'bad' \(op Acos\).*supported ops: Abs, Add"),
        ("attribute", r"attribute 'foo' is not supported"),
        ("dynamic", r"dynamic dimension 2"),
        ("batch_reshape", r"batch axis merged with other axes"),
        ("dynamic_weight", r"would multiply across the batch axis"),
    ],
)
def test_unsupported_graphs_name_node_and_op(case, match):
    W = {"W": np.ones((4, 2))}
    if case == "unknown_op":
        proto = _graph(
            [
                helper.make_node("Acos", ["x"], ["e"], name="bad"),
                helper.make_node("MatMul", ["e", "W"], ["y"]),
            ],
            W,
            ["N", 4],
            ["N", 2],
        )
    elif case == "attribute":
        proto = _graph(
            [
                helper.make_node("Relu", ["x"], ["e"], foo=1),
                helper.make_node("MatMul", ["e", "W"], ["y"]),
            ],
            W,
            ["N", 4],
            ["N", 2],
        )
    elif case == "dynamic":
        proto = _graph([helper.make_node("Flatten", ["x"], ["y"])], {}, ["N", 2, "H"], ["N", 2])
    elif case == "batch_reshape":
        proto = _graph(
            [
                helper.make_node("Reshape", ["x", "s"], ["r"]),
                helper.make_node("MatMul", ["r", "W"], ["y"]),
            ],
            {**W, "s": np.array([-1, 4])},
            ["N", 2, 4],
            ["N", 2],
        )
    else:
        proto = _graph([helper.make_node("MatMul", ["x", "x"], ["y"])], {}, [2, 2], [2, 2])
    with pytest.raises(ModelError, match=match):
        load_onnx(proto)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_onnx(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        load_onnx(bad)


def test_wrn_zoo_matches_torch_style_wrn_structure():
    a = load_onnx(zoo.wide_resnet(16, 4))
    b = wrn(16, 4)
    assert [la.W2d.shape for la in a.matmul_layers()] == [la.W2d.shape for la in b.matmul_layers()]


def test_cli_export_onnx_then_infer(tmp_path, capsys):
    from xbar.cli import main

    out = tmp_path / "d.onnx"
    assert main(["export-onnx", "default", "--out", str(out), "--json"]) == 0
    assert '"matmul_layers": 3' in capsys.readouterr().out
    assert main(["infer", "--model", str(out), "--limit", "50", "--ideal", "--no-progress"]) == 0
    text = capsys.readouterr().out
    acc = re.search(r"analog accuracy\s+([0-9.]+)", text).group(1)
    assert acc == re.search(r"digital accuracy\s+([0-9.]+)", text).group(1)
    assert main(["export-onnx", "default", "--out", str(out), "--opset", "9"]) == 2
    assert "--opset 9" in capsys.readouterr().err


def test_cli_train_refuses_inference_only_graph(tmp_path, capsys):
    from xbar.cli import main

    path = tmp_path / "tb.onnx"
    onnx.save(zoo.two_branch(), str(path))
    assert (
        main(
            [
                "train",
                "--model",
                str(path),
                "--dataset",
                "synthetic-16x16x3",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "cannot be trained" in err and "Traceback" not in err


def test_config_data_table(tmp_path, capsys):
    from xbar.cli import main

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 3, 28, 28), dtype=np.uint8)  # stored NCHW, 3 channels
    np.savez(tmp_path / "d.npz", x=x, y=rng.integers(0, 10, 6))
    onnx.save(zoo.lenet5(), str(tmp_path / "lenet.onnx"))
    cfg = tmp_path / "c.toml"
    cfg.write_text("adc_bits = 0\n[data]\nlayout = 'NCHW'\ncrop = [28, 28]\nmean = 0.5\n")
    # three channels do not fit LeNet's one: the error names both shapes
    assert (
        main(
            [
                "infer",
                "--model",
                str(tmp_path / "lenet.onnx"),
                "--dataset",
                f"npz:{tmp_path / 'd.npz'}",
                "--config",
                str(cfg),
                "--no-progress",
            ]
        )
        == 2
    )
    assert "(28, 28, 1)" in capsys.readouterr().err
    np.savez(tmp_path / "d.npz", x=x[:, :1], y=rng.integers(0, 10, 6))
    assert (
        main(
            [
                "infer",
                "--model",
                str(tmp_path / "lenet.onnx"),
                "--dataset",
                f"npz:{tmp_path / 'd.npz'}",
                "--config",
                str(cfg),
                "--no-progress",
                "--json",
            ]
        )
        == 0
    )
    assert '"n_images": 6' in capsys.readouterr().out


def test_flat_input_images_follow_the_exporters_channel_order():
    """torch flattens NCHW maps (C, H, W order), Keras NHWC maps (H, W, C order)."""
    from xbar.network.data import Dataset, shaped_for

    x = np.random.default_rng(0).random((2, 2, 2, 3))
    y = np.array([0, 1])
    data = Dataset(x, y, x, y, x, y, "t", 2)
    proto = _graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        {"W": np.ones((12, 2))},
        ["N", 12],
        ["N", 2],
    )
    torch_like = shaped_for(data, load_onnx(proto))
    np.testing.assert_array_equal(torch_like.x_test, x.transpose(0, 3, 1, 2).reshape(2, -1))
    proto.producer_name = "tf2onnx"
    keras_like = shaped_for(data, load_onnx(proto))
    np.testing.assert_array_equal(keras_like.x_test, x.reshape(2, -1))


def test_squeeze_excite_in_nhwc_style_needs_no_transpose():
    """A tf2onnx-style SE gate: pooled (C,) reshaped to NHWC (1, 1, C), transposed to NCHW
    for a 1x1 conv: only size-1 axes move, so no Transpose layer; Reciprocal on tensors."""
    rng = np.random.default_rng(0)
    inits = {
        "W": rng.normal(size=(5, 3, 3, 3)),
        "flat": np.array([-1, 5]),
        "nhwc": np.array([-1, 1, 1, 5]),
        "Wse": rng.normal(size=(5, 5, 1, 1)),
        "Wf": rng.normal(size=(5, 2)),
        "two": np.array(2.0, np.float32),
    }
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "W"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["g"]),
        helper.make_node("Reshape", ["g", "flat"], ["g2"]),
        helper.make_node("Reshape", ["g2", "nhwc"], ["g3"]),
        helper.make_node("Transpose", ["g3"], ["g4"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["g4", "Wse"], ["s"]),
        helper.make_node("Relu", ["s"], ["s1"]),
        helper.make_node("Add", ["s1", "two"], ["s2"]),
        helper.make_node("Reciprocal", ["s2"], ["gate"]),
        helper.make_node("Mul", ["c", "gate"], ["cg"]),
        helper.make_node("GlobalAveragePool", ["cg"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "Wf"], ["y"]),
    ]
    proto = _graph(nodes, inits, ["N", 4, 4, 3], ["N", 2])
    m = _check_against_reference(proto)
    assert m.meta["input_layout"] == "NHWC"
    assert not any(type(la).__name__ == "Transpose" for la in m.layers)
