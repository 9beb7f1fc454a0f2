"""Held-out robustness, round 5 (onnx9): attention layers, exporters' patterns, data sets.

One compact regression test per class of problem found by exporting real PyTorch models
(TorchScript exporter at opsets 14-17, dynamo at 18-20, torch 2.13) and comparing xbar
with onnxruntime 1.32.  Real exports of nn.MultiheadAttention / nn.TransformerEncoder
models are committed under ``tests/data/onnx/attention`` (``scripts/
make_attention_fixtures.py``) with torch's own logits; the other graphs are rebuilt with
``onnx.helper`` in the exporters' shapes and checked against ``onnx.reference``.  Neither
torch nor onnxruntime is needed.
"""

from __future__ import annotations

from pathlib import Path

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

RNG = np.random.default_rng(9)
ATTENTION = Path(__file__).parent / "data" / "onnx" / "attention"


def _w(*shape, scale=0.5):
    return RNG.standard_normal(shape).astype(np.float32) * scale


def _inside(model, x):
    """An ONNX-layout input as xbar takes it (NCHW images go in NHWC)."""
    return x.transpose(0, 2, 3, 1) if model.meta["input_layout"] == "NCHW" else x


def _compare(m, n=3, rtol=1e-5):
    """Import ``m``; its forward pass must equal onnx.reference's.  Returns the model."""
    model = load_onnx(m)
    dims = [d.dim_value or n for d in m.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(1).standard_normal(dims).astype(np.float32)
    ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
    got = model.forward(_inside(model, x).astype(float))
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= rtol * np.abs(ref).max(), np.abs(got - ref).max()
    return model


def _weight_nodes(m):
    """Conv/Gemm/MatMul nodes with an initializer operand: what must be on the arrays."""
    inits = {i.name for i in m.graph.initializer}
    return [
        n
        for n in m.graph.node
        if n.op_type in ("Conv", "Gemm", "MatMul") and any(i in inits for i in n.input)
    ]


# ------------------------------------------------ 1. nn.MultiheadAttention, real exports

_FIXTURES = sorted(p.name for p in ATTENTION.glob("*.onnx"))


def test_the_attention_fixtures_are_there():
    assert len(_FIXTURES) == 8


@pytest.mark.parametrize("name", _FIXTURES)
def test_multihead_attention_exports_match_torch(name):
    """nn.MultiheadAttention (batch second, or batch first and transposed inside it) and
    nn.TransformerEncoder: (T, B, D) tensors, the (T, B*heads, d) reshape from
    ``Shape -> Gather -> Mul`` (TorchScript) or a -1 (dynamo), torch's bmm path of
    ``need_weights=True``, the packed in-projection split into q/k/v weights, and
    exports with a fixed batch of 1 (torch.onnx.export's default: every shape folded,
    (T, 1*h, d) written (T, h, d)).  They were refused before; now they match torch's
    logits on a batch of several, and every projection with a weight is a layer on the
    arrays."""
    ref = np.load(ATTENTION / "reference.npz")
    stem = name[: -len(".onnx")]
    x, y = ref[f"{stem}.x"], ref[f"{stem}.y"]
    model = load_onnx(ATTENTION / name)
    got = model.forward(_inside(model, x).astype(float))
    assert got.shape == y.shape
    assert np.abs(got - y).max() <= 1e-5 * np.abs(y).max()
    one = model.forward(_inside(model, x[1:2]).astype(float))  # the batch is per sample
    np.testing.assert_allclose(one, got[1:2], rtol=1e-9, atol=1e-12)
    # input embedding, in-projection, out-projection, head (x layers), + patches; the
    # cross-attention's learned query times its projection is a folded constant
    mapped = {"mha_seq": 4, "mha_batch": 4, "mha_fixed": 4, "mha_cross": 5, "vit_seq": 10}
    mapped["vit_norm"] = 6
    assert len(model.matmul_layers()) == mapped["_".join(name.split("_")[:2])]


def test_attention_on_ideal_arrays_equals_digital(tmp_path):
    model = load_onnx(ATTENTION / "vit_seq_first_torchscript_op17.onnx")
    data = synthetic_dataset(model.input_shape, classes=model.classes, sizes=(8, 4, 8))
    res = evaluate(model, AnalogConfig().as_ideal(), dataset=data, chips=[0])
    assert res.accuracy == res.ideal_accuracy
    assert all(s.rel_error < 1e-9 for s in res.layer_stats)
    x = np.random.default_rng(2).standard_normal((2, *model.input_shape))
    path = save_onnx(model, tmp_path / "m.onnx", opset=18)
    np.testing.assert_allclose(load_onnx(path).forward(x), model.forward(x), rtol=1e-5, atol=1e-6)
    save_model(model, tmp_path / "own")
    np.testing.assert_array_equal(load_model(tmp_path / "own").forward(x), model.forward(x))


# ------------------------------------------------ 2. the view rules, one by one


def _shape_of(src, out, index, nodes):
    """``out = Shape(src)[index]`` as a 1-element vector (TorchScript's size(i))."""
    nodes += [
        oh.make_node("Shape", [src], [out + "_s"]),
        oh.make_node("Gather", [out + "_s", f"i{index}"], [out + "_g"], axis=0),
        oh.make_node("Unsqueeze", [out + "_g", "zero"], [out]),
    ]


def _mha_core(heads=2, d=3, T=4):
    """(B, T, D) -> Transpose -> (T, B, D) -> in-projection -> Reshape (T, B*h, d) with
    B*h from Shape -> Gather -> Mul -> Transpose -> q @ k^T -> Softmax -> @ v ->
    Transpose -> Reshape (T*B, D) -> Gemm -> Reshape (T, B, D) -> Transpose: what
    TorchScript writes for nn.MultiheadAttention, with its shape arithmetic."""
    D = heads * d
    nodes = [oh.make_node("Transpose", ["x"], ["tbd"], perm=[1, 0, 2], name="to_tbd")]
    nodes.append(oh.make_node("MatMul", ["tbd", "Wq"], ["q0"]))
    nodes.append(oh.make_node("Add", ["q0", "bq"], ["q1"]))
    _shape_of("tbd", "T", 0, nodes)
    _shape_of("tbd", "B", 1, nodes)
    nodes += [
        oh.make_node("Mul", ["B", "heads"], ["Bh"]),
        oh.make_node("Concat", ["T", "Bh", "dd"], ["s1"], axis=0),
        oh.make_node("Reshape", ["q1", "s1"], ["q2"]),  # (T, B*h, d)
        oh.make_node("Transpose", ["q2"], ["q3"], perm=[1, 0, 2]),  # (B*h, T, d)
        oh.make_node("Transpose", ["q3"], ["k3"], perm=[0, 2, 1]),  # (B*h, d, T)
        oh.make_node("MatMul", ["q3", "k3"], ["s"]),
        oh.make_node("Softmax", ["s"], ["p"], axis=-1),
        oh.make_node("MatMul", ["p", "q3"], ["o1"]),  # (B*h, T, d)
        oh.make_node("Transpose", ["o1"], ["o2"], perm=[1, 0, 2]),  # (T, B*h, d)
        oh.make_node("Mul", ["T", "B"], ["TB"]),
        oh.make_node("Concat", ["TB", "DD"], ["s2"], axis=0),
        oh.make_node("Reshape", ["o2", "s2"], ["o3"]),  # (T*B, D)
        oh.make_node("Gemm", ["o3", "Wo", "bo"], ["o4"], transB=1),
        oh.make_node("Concat", ["T", "B", "DD"], ["s3"], axis=0),
        oh.make_node("Reshape", ["o4", "s3"], ["o5"]),  # (T, B, D)
        oh.make_node("Transpose", ["o5"], ["o6"], perm=[1, 0, 2]),
        oh.make_node("ReduceMean", ["o6"], ["y"], axes=[1], keepdims=0),
    ]
    inits = [
        _init("Wq", _w(D, D)),
        _init("bq", _w(D)),
        _init("Wo", _w(D, D)),
        _init("bo", _w(D)),
        _init("i0", 0, np.int64),
        _init("i1", 1, np.int64),
        _init("zero", [0], np.int64),
        _init("heads", [heads], np.int64),
        _init("dd", [d], np.int64),
        _init("DD", [D], np.int64),
    ]
    return nodes, inits, (D, T)


def test_batch_times_heads_reshapes_are_followed():
    nodes, inits, (D, T) = _mha_core()
    model = _compare(_model(nodes, inits, ("N", T, D), ("N", D)))
    assert len(model.matmul_layers()) == 2


@pytest.mark.parametrize(
    "change, match",
    [
        ("heads", r"the batch axis would hold batch\*2, not batch\*3"),
        ("sum", r"arithmetic on the batch size"),
        ("bias", r"varies along the axis that holds the batch"),
        ("flatten", r"batch axis merged with other axes \(by node 'to_tbd'\).*not Flatten"),
        ("mixed", r"inputs whose batch axes are in different places"),
    ],
)
def test_what_views_cannot_do_is_named(change, match):
    """A bsz*heads that does not fit the shapes, a sum with the batch size, a constant
    that varies along the merged axis, an op that needs the batch first, a view added to
    a batch-first tensor: each refused naming the culprit (onnxruntime would compute
    something else, or per-sample semantics would be lost)."""
    nodes, inits, (D, T) = _mha_core()
    if change == "heads":  # Mul by 3 where the shapes give 2 heads of 3
        inits = [i if i.name != "heads" else _init("heads", [3], np.int64) for i in inits]
    elif change == "sum":
        nodes[[n.op_type for n in nodes].index("Mul")].op_type = "Add"
    elif change == "bias":  # a (B*h, 1, 1)-shaped constant needs the batch size
        nodes.insert(-10, oh.make_node("Add", ["q3", "perrow"], ["q3b"]))
        nodes[-10].input[0] = "q3b"
        inits.append(_init("perrow", _w(2, 1, 1)))
    elif change == "flatten":
        nodes.insert(-10, oh.make_node("Flatten", ["q3"], ["bad"]))
        nodes[-1] = oh.make_node("ReduceMean", ["bad"], ["y"], axes=[1], keepdims=0)
    else:
        nodes.insert(1, oh.make_node("Add", ["tbd", "x"], ["tbd2"]))
        nodes[2].input[0] = "tbd2"
    with pytest.raises(ModelError, match=match):
        load_onnx(_model(nodes, inits, ("N", T, D), ("N", D)))


def test_ops_on_sequence_first_tensors():
    """nn.TransformerEncoderLayer(batch_first=False) runs on (T, B, D): residual adds,
    LayerNorm over D, a feed-forward MatMul, ReduceMean over T without keepdims (the
    batch moves from axis 1 to 0), Squeeze of an axis after the batch, Gather of a token
    and a Slice on D."""
    D, T = 6, 5
    nodes = [
        oh.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]),  # (T, B, D)
        oh.make_node("LayerNormalization", ["t", "g", "b"], ["n"], axis=-1),
        oh.make_node("MatMul", ["n", "W"], ["f"]),
        oh.make_node("Relu", ["f"], ["r"]),
        oh.make_node("Add", ["r", "t"], ["res"]),
        oh.make_node("Unsqueeze", ["res", "three"], ["u"]),  # (T, B, D, 1)
        oh.make_node("Squeeze", ["u", "three"], ["sq"]),  # the axis after the batch goes
        oh.make_node("Gather", ["sq", "first"], ["tok"], axis=0),  # (B, D): batch first
        oh.make_node("ReduceMean", ["sq"], ["avg"], axes=[0], keepdims=0),  # (B, D)
        oh.make_node("Slice", ["sq", "s0", "s1", "two"], ["half"]),  # (T, B, 3)
        oh.make_node("ReduceMax", ["half"], ["hm"], axes=[0], keepdims=0),  # (B, 3)
        oh.make_node("Concat", ["tok", "avg", "hm"], ["y"], axis=1),
    ]
    inits = [
        _init("g", _w(D) + 1),
        _init("b", _w(D)),
        _init("W", _w(D, D)),
        _init("three", [3], np.int64),
        _init("first", 0, np.int64),
        _init("s0", [0], np.int64),
        _init("s1", [3], np.int64),
        _init("two", [2], np.int64),
    ]
    _compare(_model(nodes, inits, ("N", T, D), ("N", 2 * D + 3)))


def test_split_and_matmul_of_constants_fold():
    """The packed in-projection split into q/k/v weights (dynamo) and a learned query
    times its projection (TorchScript) are constants: folded, the rest imports."""
    nodes = [
        oh.make_node("Split", ["Wqkv"], ["Wq", "Wk", "Wv"], axis=1, num_outputs=3),
        oh.make_node("MatMul", ["query", "Wq"], ["q"]),  # (1, 6) constant
        oh.make_node("MatMul", ["x", "Wk"], ["k"]),  # (N, 4, 6)
        oh.make_node("MatMul", ["x", "Wv"], ["v"]),
        oh.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
        oh.make_node("MatMul", ["q", "kt"], ["s"]),  # (N, 1, 4)
        oh.make_node("Softmax", ["s"], ["p"], axis=-1),
        oh.make_node("MatMul", ["p", "v"], ["o"]),
        oh.make_node("Flatten", ["o"], ["y"]),
    ]
    inits = [_init("Wqkv", _w(6, 18)), _init("query", _w(1, 6))]
    model = _compare(_model(nodes, inits, ("N", 4, 6), ("N", 6), opset=18))
    assert len(model.matmul_layers()) == 3  # k, v and the constant query's q @ k^T


def test_two_layouts_of_one_tensor_are_not_confused():
    """x (N, C, H, W) and Transpose(x) to (N, C, W, H) share their data inside xbar; each
    Flatten needs its own transpose of it.  Both asked for the same target layout, and
    the second got the first's (cached by name and target only): other logits, silently
    (max difference 2.0 before the fix)."""
    nodes = [
        oh.make_node("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2]),
        oh.make_node("Flatten", ["x"], ["f1"]),
        oh.make_node("Flatten", ["t"], ["f2"]),
        oh.make_node("Concat", ["f1", "f2"], ["y"], axis=1),
    ]
    _compare(_model(nodes, [], ("N", 3, 2, 4), ("N", 48)))


# ------------------------------------------------ 3. data sets in the forms users have


def _images_and_labels(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 4, 4, 3), dtype=np.uint8), rng.integers(0, 3, n)


@pytest.mark.parametrize(
    "names",
    [
        ("X", "y"),  # scikit-learn
        ("images", "labels"),
        ("data", "targets"),
        ("test_images", "test_labels"),
        ("X_test", "y_test"),
        ("x_valid", "y_valid"),  # a validation split and no test split
    ],
)
def test_npz_arrays_named_as_users_name_them(names, tmp_path):
    """An .npz whose arrays are not called x/y was refused ("expected x and y"); the
    usual names are read as x and y, through load_dataset's path and npz:."""
    from xbar.network import load_dataset

    x, y = _images_and_labels()
    path = tmp_path / "d.npz"
    np.savez(path, **{names[0]: x, names[1]: y})
    for spec in (str(path), f"npz:{path}"):
        data = load_dataset(spec)
        np.testing.assert_array_equal(data.x_test, x / 255.0)
        np.testing.assert_array_equal(data.y_test, y)


def test_npz_positional_arrays_and_training_splits(tmp_path):
    """``np.savez(path, images, labels)`` writes arr_0 / arr_1 (the labels are the 1-D
    one, in either order); X_train / y_train beside X_test / y_test are the training
    split; two arrays that both look like the images are refused naming both."""
    from xbar.network import load_dataset

    x, y = _images_and_labels()
    np.savez(tmp_path / "pos.npz", y, x)
    data = load_dataset(f"npz:{tmp_path / 'pos.npz'}")
    np.testing.assert_array_equal(data.y_test, y)
    np.savez(tmp_path / "split.npz", X_train=x[:4], y_train=y[:4], X_test=x[4:], y_test=y[4:])
    data = load_dataset(f"npz:{tmp_path / 'split.npz'}")
    assert len(data.y_train) + len(data.y_val) == 4  # a part is kept for validation
    np.testing.assert_array_equal(data.x_test, x[4:] / 255.0)
    np.savez(tmp_path / "bad.npz", images=x, inputs=x, labels=y)
    with pytest.raises(ModelError, match=r"arrays 'images' and 'inputs' both look like"):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")
    (tmp_path / "npy").mkdir()
    np.save(tmp_path / "npy" / "X_test.npy", x)
    np.save(tmp_path / "npy" / "y_test.npy", y)
    np.save(tmp_path / "npy" / "notes.npy", np.array([1.0]))  # not part of the data set
    np.testing.assert_array_equal(load_dataset(f"npy:{tmp_path / 'npy'}").y_test, y)


def test_image_folders_as_torchvision_finds_them(tmp_path):
    """torchvision's ImageFolder finds a class's images in its sub-folders too, with its
    own extension list, and ImageNet-style trees have train/ and val/: xbar read only
    the files directly in each class folder (here: 2 of 4 images, silently a smaller
    data set), read .gif files torchvision leaves out, and took train/ and val/ for two
    classes."""
    Image = pytest.importorskip("PIL.Image")
    from xbar.network import load_dataset

    rng = np.random.default_rng(3)
    files = ["a/1.png", "a/sub/2.jpg", "a/sub/deeper/3.PNG", "b/4.bmp", "b/skip.gif"]
    for split in ("train", "val"):
        for f in files:
            (tmp_path / split / f).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)).save(
                tmp_path / split / f
            )
    data = load_dataset(f"folder:{tmp_path}")
    assert data.classes == 2
    assert len(data.x_test) == len(data.x_train) + len(data.x_val) == 4
    np.testing.assert_array_equal(data.y_test, [0, 0, 0, 1])
    with Image.open(tmp_path / "val" / "a" / "sub" / "deeper" / "3.PNG") as im:
        np.testing.assert_array_equal(data.x_test[2], np.asarray(im.convert("RGB")) / 255.0)


# ------------------------------------------------ 4. Einsum, circular padding


@pytest.mark.parametrize(
    "equation, x_dims, w_shape",
    [
        ("btd,dc->btc", ("N", 4, 6), (6, 5)),  # a Linear written as einsum
        ("btd,dc->bc", ("N", 4, 6), (6, 5)),  # ... summed over the tokens
        ("dc,btd->bct", ("N", 4, 6), (6, 5)),  # the weight first, the output transposed
        ("...d,dhe->...he", ("N", 4, 6), (6, 2, 3)),  # an ellipsis; per-head projection
        ("bchw,oc->bohw", ("N", 3, 4, 4), (5, 3)),  # a 1x1 convolution
        ("bij,jk", ("N", 4, 6), (6, 5)),  # implicit output (bik)
    ],
)
def test_einsum_with_a_weight_is_a_layer_on_the_arrays(equation, x_dims, w_shape):
    """torch.einsum exports as ONNX Einsum (every exporter, every opset), which was
    refused.  With a constant weight it is one Dense layer (the weight on the arrays),
    the tensor's other axes summed or moved around it."""
    nodes = [oh.make_node("Einsum", ["x", "W"], ["e"], equation=equation)]
    if equation.startswith("dc,"):
        nodes[0].input[:] = ["W", "x"]
    nodes.append(oh.make_node("Flatten", ["e"], ["y"]))
    proto = _model(nodes, [_init("W", _w(*w_shape))], x_dims, ("N", "F"), opset=13)
    model = _compare(proto)
    assert len(model.matmul_layers()) == 1


def test_einsum_of_two_tensors_is_attention(tmp_path):
    """``einsum("bhqd,bhkd->bhqk", q, k)`` and ``einsum("bhqk,bhkd->bhqd", a, v)``:
    digital products (no stored weight), exported again as Einsum."""
    nodes = [
        oh.make_node("MatMul", ["x", "Wqkv"], ["qkv"]),
        oh.make_node("Reshape", ["qkv", "s"], ["r"]),
        oh.make_node("Transpose", ["r"], ["p"], perm=[2, 0, 3, 1, 4]),
        oh.make_node("Split", ["p"], ["q1", "k1", "v1"], axis=0, num_outputs=3),
        *(oh.make_node("Squeeze", [f"{c}1", "zero"], [c]) for c in "qkv"),
        oh.make_node("Einsum", ["q", "k"], ["s1"], equation="bhqd,bhkd->bhqk"),
        oh.make_node("Softmax", ["s1"], ["a"], axis=-1),
        oh.make_node("Einsum", ["a", "v"], ["o"], equation="...qk,...kd->...qd"),
        oh.make_node("Flatten", ["o"], ["y"]),
    ]
    inits = [_init("Wqkv", _w(6, 18)), _init("s", [0, 4, 3, 2, 3], np.int64)]
    inits.append(_init("zero", [0], np.int64))
    model = _compare(_model(nodes, inits, ("N", 4, 6), ("N", 24), opset=18))
    x = np.random.default_rng(2).standard_normal((2, *model.input_shape))
    path = save_onnx(model, tmp_path / "m.onnx", opset=18)
    np.testing.assert_allclose(load_onnx(path).forward(x), model.forward(x), rtol=1e-9)
    save_model(model, tmp_path / "own")
    np.testing.assert_array_equal(load_model(tmp_path / "own").forward(x), model.forward(x))


@pytest.mark.parametrize(
    "equation, match",
    [
        ("bhd,hde->bhe", r"no axis shared by both kept"),  # per-head weights
        ("btd,td->bd", r"no axis shared by both kept"),
        ("bii,ij->bj", r"repeated|no axis shared"),
    ],
)
def test_einsum_that_is_not_one_weight_matrix_is_named(equation, match):
    nodes = [oh.make_node("Einsum", ["x", "W"], ["y"], equation=equation)]
    shape = {"bhd,hde->bhe": (2, 3, 4), "btd,td->bd": (2, 3), "bii,ij->bj": (3, 3)}[equation]
    x_dims = {"bhd,hde->bhe": ("N", 2, 3), "btd,td->bd": ("N", 2, 3), "bii,ij->bj": ("N", 3, 3)}
    with pytest.raises(ModelError, match=match):
        load_onnx(_model(nodes, [_init("W", _w(*shape))], x_dims[equation], ("N", 4)))


def test_circular_padding_of_dynamo_exports(tmp_path):
    """nn.Conv2d(padding_mode="circular") exports from dynamo (opset 19 and later) as
    Pad mode="wrap", which was refused with a message naming no file or node."""
    nodes = [
        oh.make_node("Pad", ["x", "pads"], ["p"], mode="wrap"),
        oh.make_node("Conv", ["p", "W"], ["c"], kernel_shape=[3, 3]),
        oh.make_node("Flatten", ["c"], ["y"]),
    ]
    inits = [_init("pads", [0, 0, 1, 1, 0, 0, 1, 1], np.int64), _init("W", _w(2, 3, 3, 3))]
    model = _compare(_model(nodes, inits, ("N", 3, 5, 4), ("N", 40), opset=19))
    x = np.random.default_rng(2).standard_normal((2, *model.input_shape))
    path = save_onnx(model, tmp_path / "m.onnx", opset=19)
    np.testing.assert_allclose(load_onnx(path).forward(x), model.forward(x), rtol=1e-9)
    with pytest.raises(ModelError, match=r"'wrap' \(circular\) needs opset 19"):
        save_onnx(model, tmp_path / "m17.onnx", opset=17)
    nodes[0] = oh.make_node("Pad", ["x", "pads"], ["p"], mode="mirror", name="pd")
    with pytest.raises(ModelError, match=r"'pd' \(op Pad\): pad mode 'mirror' is not supported"):
        load_onnx(_model(nodes, inits, ("N", 3, 5, 4), ("N", 40), opset=19))


# ------------------------------------------------ 5. dynamic image sizes


def _dynamic_hw_net():
    """torch.onnx.export(..., dynamic_axes={"input": {0: "b", 2: "h", 3: "w"}}): a conv net
    ending in a global average pool, whose input's height and width are named, not sized."""
    nodes = [
        oh.make_node("Conv", ["x", "W", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        oh.make_node("Relu", ["c"], ["r"]),
        oh.make_node("GlobalAveragePool", ["r"], ["g"]),
        oh.make_node("Flatten", ["g"], ["f"]),
        oh.make_node("Gemm", ["f", "Wd", "bd"], ["y"], transB=1),
    ]
    inits = [
        _init("W", _w(4, 3, 3, 3)),
        _init("b", _w(4)),
        _init("Wd", _w(5, 4)),
        _init("bd", _w(5)),
    ]
    return _model(nodes, inits, ("b", 3, "h", "w"), ("b", 5))


def test_dynamic_image_sizes_take_the_size_of_the_data(tmp_path, capsys):
    """An export with dynamic height and width was refused ("only the batch axis may be
    dynamic"); load_onnx(input_shape=...) imports it for a size, and ``xbar infer`` takes
    the size from --dataset."""
    from onnx.reference import ReferenceEvaluator as Ref

    from xbar.cli import main
    from xbar.network.onnx_import import DynamicInputError

    proto = _dynamic_hw_net()
    with pytest.raises(DynamicInputError, match=r"dynamic dimension 2 \(h\).*unless the input"):
        load_onnx(proto)
    for h, w in ((6, 6), (9, 5)):
        model = load_onnx(proto, input_shape=(h, w, 3))
        assert model.input_shape == (h, w, 3)
        x = np.random.default_rng(h).standard_normal((2, 3, h, w)).astype(np.float32)
        ref = Ref(proto).run(None, {"x": x})[0]
        np.testing.assert_allclose(model.forward(x.transpose(0, 2, 3, 1)), ref, rtol=1e-5)
    with pytest.raises(ModelError, match=r"input_shape \(6, 6, 1\) \(as ONNX \[1, 6, 6\]\)"):
        load_onnx(proto, input_shape=(6, 6, 1))  # the channels are static: 3
    onnx.save(proto, str(tmp_path / "dyn.onnx"))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.integers(0, 256, (4, 9, 7, 3)), y=rng.integers(0, 5, 4))
    args = ["infer", "--model", str(tmp_path / "dyn.onnx"), "--no-progress", "--json"]
    args += ["--dataset", f"npz:{tmp_path / 'd.npz'}", "--ideal"]
    assert main(args) == 0
    assert '"n_images": 4' in capsys.readouterr().out


# ------------------------------------------------ 6. Keras attention through tf2onnx

KERAS = Path(__file__).parent / "data" / "onnx" / "keras_attention"


@pytest.mark.parametrize("name", sorted(p.name for p in KERAS.glob("*.onnx")))
def test_keras_attention_exports_match_keras(name):
    """keras.layers.MultiHeadAttention through tf2onnx: its shape arithmetic takes the
    ReduceProd of a shape holding the batch size (refused as "arithmetic on the batch
    size"), and Keras' exact GELU is written as Erfc (refused as an unknown op)."""
    ref = np.load(KERAS / "reference.npz")
    stem = name[: -len(".onnx")]
    model = load_onnx(KERAS / name)
    got = model.forward(ref[f"{stem}.x"].astype(float))
    y = ref[f"{stem}.y"]
    assert np.abs(got - y).max() <= 1e-5 * np.abs(y).max()
    assert len(model.matmul_layers()) == (8 if "transformer" in name else 6)


def test_the_element_count_of_a_shape_holding_the_batch():
    """ReduceProd of (batch, 4) is batch*4: a reshape to it merges the batch with the
    tokens (Keras' einsum lowering), and one back restores it."""
    nodes = [
        oh.make_node("Shape", ["x"], ["s"]),
        oh.make_node("Slice", ["s", "z", "two"], ["bt"]),
        oh.make_node("ReduceProd", ["bt"], ["n"], keepdims=1),
        oh.make_node("Concat", ["n", "six"], ["s1"], axis=0),
        oh.make_node("Reshape", ["x", "s1"], ["flat"]),  # (batch*4, 6)
        oh.make_node("MatMul", ["flat", "W"], ["m"]),
        oh.make_node("Concat", ["bt", "five"], ["s2"], axis=0),
        oh.make_node("Reshape", ["m", "s2"], ["r"]),  # (batch, 4, 5)
        oh.make_node("ReduceMean", ["r"], ["y"], axes=[1], keepdims=0),
    ]
    inits = [_init("z", [0], np.int64), _init("two", [2], np.int64), _init("W", _w(6, 5))]
    inits += [_init("six", [6], np.int64), _init("five", [5], np.int64)]
    _compare(_model(nodes, inits, ("N", 4, 6), ("N", 5)))


# ------------------------------------------------ 7. transposed convolutions


def _conv_transpose(
    x,
    W,
    b,
    strides=(1, 1),
    pads=(0, 0, 0, 0),
    dilations=(1, 1),
    output_padding=(0, 0),
    group=1,
    output_shape=None,
):
    """ONNX ConvTranspose by its definition: every input pixel scatters its kernel."""
    (n, cin, h, w), (_, cog, kh, kw) = x.shape, W.shape
    (s0, s1), (d0, d1), cig = strides, dilations, cin // group
    full = [(h - 1) * s0 + (kh - 1) * d0 + 1, (w - 1) * s1 + (kw - 1) * d1 + 1]
    if output_shape is not None:
        total = [
            full[0] + output_padding[0] - output_shape[0],
            full[1] + output_padding[1] - output_shape[1],
        ]
        pads = (total[0] - total[0] // 2, total[1] - total[1] // 2, total[0] // 2, total[1] // 2)
    out = np.zeros((n, cog * group, full[0] + output_padding[0], full[1] + output_padding[1]))
    for c in range(cin):
        gi = c // cig
        for p in range(kh):
            for q in range(kw):
                wk = W[c, :, p, q][None, :, None, None]
                rows = slice(p * d0, p * d0 + (h - 1) * s0 + 1, s0)
                cols = slice(q * d1, q * d1 + (w - 1) * s1 + 1, s1)
                out[:, gi * cog : (gi + 1) * cog, rows, cols] += x[:, c : c + 1] * wk
    out = out[:, :, pads[0] : out.shape[2] - pads[2], pads[1] : out.shape[3] - pads[3]]
    return out + b[None, :, None, None]


@pytest.mark.parametrize(
    "attrs, cin, cout, k",
    [
        (dict(strides=[2, 2], pads=[1, 1, 1, 1]), 4, 3, (4, 4)),  # torch's usual x2 upsampling
        (dict(strides=[2, 2]), 3, 2, (3, 3)),  # Keras Conv2DTranspose(padding="valid")
        (dict(strides=[3, 2], pads=[0, 1, 2, 0], output_padding=[1, 1]), 2, 2, (3, 2)),
        (dict(strides=[1, 2], dilations=[2, 1], group=2), 4, 4, (3, 3)),
        (dict(strides=[2, 2], output_shape=[8, 5]), 2, 3, (3, 2)),
        (dict(pads=[2, 2, 2, 2]), 2, 2, (3, 3)),  # more padding than the kernel: a crop
    ],
)
def test_transposed_convolutions_are_on_the_arrays(attrs, cin, cout, k):
    """nn.ConvTranspose2d / Keras Conv2DTranspose (ONNX ConvTranspose) was refused; it is
    zeros between the pixels, padding and a convolution with the flipped kernel, which
    is a Conv2D layer on the arrays (torch's own exports matched onnxruntime to 1.7e-7).
    The reference scatters every pixel's kernel (onnx.reference fails on groups)."""
    g = attrs.get("group", 1)
    W, b = _w(cin, cout // g, *k), _w(cout)
    nodes = [
        oh.make_node("ConvTranspose", ["x", "W", "b"], ["c"], **attrs),
        oh.make_node("Flatten", ["c"], ["y"]),
    ]
    model = load_onnx(_model(nodes, [_init("W", W), _init("b", b)], ("N", cin, 4, 3), ("N", "F")))
    assert len(model.matmul_layers()) == 1
    x = np.random.default_rng(1).standard_normal((2, cin, 4, 3))
    ref = _conv_transpose(x, W.astype(float), b.astype(float), **attrs).reshape(2, -1)
    np.testing.assert_allclose(model.forward(x.transpose(0, 2, 3, 1)), ref, rtol=1e-9, atol=1e-12)


def test_transposed_convolutions_onnxruntime_refuses_are_named():
    nodes = [
        oh.make_node("ConvTranspose", ["x", "W"], ["y"], strides=[2, 2], output_padding=[2, 0])
    ]
    with pytest.raises(ModelError, match=r"output padding must be smaller than the stride"):
        load_onnx(_model(nodes, [_init("W", _w(2, 2, 3, 3))], ("N", 2, 4, 4), ("N", 2, 9, 9)))


def test_constant_masks_built_with_range_and_scatter_fold():
    """torchvision's Swin-T (TorchScript) builds its shifted-window mask with Range and
    ScatterND on constants: they were refused as unknown ops; they fold (Swin-T then
    imports and matches onnxruntime to 1.0e-6)."""
    nodes = [
        oh.make_node("Range", ["r0", "r1", "r2"], ["pos"]),  # 0, 1, 2, 3 (int64)
        oh.make_node("Cast", ["pos"], ["posf"], to=TP.FLOAT),
        oh.make_node("ScatterND", ["base", "idx", "upd"], ["mask"]),
        oh.make_node("Add", ["mask", "posf"], ["bias"]),
        oh.make_node("Add", ["x", "bias"], ["xb"]),
        oh.make_node("Flatten", ["xb"], ["y"]),
    ]
    inits = [_init(f"r{k}", v, np.int64) for k, v in enumerate((0, 4, 1))]
    inits += [_init("base", np.zeros((3, 4))), _init("idx", [[0, 1], [2, 3]], np.int64)]
    inits.append(_init("upd", [-100.0, 5.0]))
    _compare(_model(nodes, inits, ("N", 3, 4), ("N", 12)))
    nodes[2] = oh.make_node("ScatterND", ["base", "idx", "upd"], ["mask"], reduction="add")
    _compare(_model(nodes, inits, ("N", 3, 4), ("N", 12), opset=18))


@pytest.mark.parametrize("upper, k", [(1, 1), (0, 0), (1, -1)])
def test_causal_masks_from_trilu_fold(upper, k):
    """``F.scaled_dot_product_attention(..., is_causal=True)`` exports (every exporter) a
    Trilu of a constant matrix of ones: it was refused as an unknown op; it folds (the
    causal attention then matches onnxruntime to 6.3e-8)."""
    nodes = [
        oh.make_node("Trilu", ["ones", "k"], ["tri"], upper=upper),
        oh.make_node("Cast", ["tri"], ["mask"], to=TP.BOOL),
        oh.make_node("Where", ["mask", "neg", "x"], ["masked"]),
        oh.make_node("Softmax", ["masked"], ["p"], axis=-1),
        oh.make_node("Flatten", ["p"], ["y"]),
    ]
    inits = [_init("ones", np.ones((4, 4))), _init("k", k, np.int64), _init("neg", -1e4)]
    _compare(_model(nodes, inits, ("N", 4, 4), ("N", 16), opset=14))


@pytest.mark.parametrize("opset", [11, 13])
def test_batchnorm_exported_in_training_mode_before_opset_14_is_refused(opset):
    """torch.onnx.export(..., training=TrainingMode.TRAINING) at opsets 9-13 writes a
    BatchNormalization with five outputs (running and batch statistics), which means
    training mode: onnxruntime normalises with the batch's statistics.  xbar read it as
    an inference batch norm: other logits, silently (0.66 relative from onnxruntime)."""
    nodes = [
        oh.make_node(
            "BatchNormalization",
            ["x", "g", "b", "m", "v"],
            ["y", "rm", "rv", "sm", "sv"],
            momentum=0.9,
        )
    ]
    inits = [_init(n, np.ones(3) if n in "gv" else np.zeros(3)) for n in "gbmv"]
    proto = _model(nodes, inits, ("N", 3), ("N", 3), opset=opset)
    with pytest.raises(ModelError, match=rf"statistics as outputs \(opset {opset}: training mode"):
        load_onnx(proto)
    del nodes[0].output[1:]  # the eval-mode export: one output (onnx.reference runs
    model = load_onnx(_model(nodes, inits, ("N", 3), ("N", 3), opset=opset))  # it in
    x = np.random.default_rng(0).standard_normal((4, 3))  # training mode: closed form)
    np.testing.assert_allclose(model.forward(x), x / np.sqrt(1 + 1e-5), rtol=1e-7)


# ------------------------------------------------ 8. ONNX Attention (opset 23)


@pytest.mark.parametrize(
    "attrs, mask, hk",
    [
        ({}, None, 2),  # what dynamo writes for scaled_dot_product_attention at opset 23
        ({"is_causal": 1}, None, 2),
        ({"scale": 0.3, "softcap": 2.0}, None, 2),
        ({}, np.tril(np.ones((5, 5), bool)), 2),  # a boolean mask (True: attend)
        ({}, np.random.default_rng(0).standard_normal((1, 5, 5)), 2),  # an additive mask
        ({"is_causal": 1}, None, 1),  # grouped heads: one key/value head for two queries
    ],
)
def test_onnx_attention_from_dynamo_at_opset_23(attrs, mask, hk):
    """torch's dynamo exporter writes F.scaled_dot_product_attention (and so every
    nn.MultiheadAttention, nn.TransformerEncoderLayer and torchvision ViT) as ONNX
    ``Attention`` from opset 23: it was refused as an unknown op."""
    nodes = [
        oh.make_node("MatMul", ["x", "Wq"], ["q0"]),
        oh.make_node("MatMul", ["x", "Wk"], ["k0"]),
        oh.make_node("MatMul", ["x", "Wv"], ["v0"]),
        oh.make_node("Reshape", ["q0", "sq"], ["q1"]),
        oh.make_node("Reshape", ["k0", "sk"], ["k1"]),
        oh.make_node("Reshape", ["v0", "sk"], ["v1"]),
        *(oh.make_node("Transpose", [f"{c}1"], [c], perm=[0, 2, 1, 3]) for c in "qkv"),
        oh.make_node("Attention", ["q", "k", "v", "m" if mask is not None else ""], ["a"], **attrs),
        oh.make_node("Flatten", ["a"], ["y"]),
    ]
    inits = [_init("Wq", _w(6, 8)), _init("Wk", _w(6, 4 * hk)), _init("Wv", _w(6, 4 * hk))]
    inits += [_init("sq", [0, 5, 2, 4], np.int64), _init("sk", [0, 5, hk, 4], np.int64)]
    if mask is not None:
        inits.append(_init("m", mask, bool if mask.dtype == bool else np.float32))
    model = _compare(_model(nodes, inits, ("N", 5, 6), ("N", 40), opset=23))
    assert len(model.matmul_layers()) == 3


# ------------------------------------------------ 9. quantised weights: blocks, float8


@pytest.mark.parametrize(
    "dtype, block",
    [(TP.INT4, 4), (TP.UINT4, 2), (TP.INT8, 3), (TP.FLOAT8E4M3FN, 4), (TP.FLOAT8E4M3FN, 0)],
)
def test_blocked_and_float8_weight_quantisation(dtype, block):
    """Opset 21's blocked quantisation (one scale per block_size weights along an axis:
    int4 weight-only models) was refused; its weights fold like per-channel ones.  float8
    weights too (onnxruntime's unoptimised session agrees to 8e-8; its optimised one fuses
    the integer cases into kernels that quantise the activations, 5e-3 away)."""
    rng = np.random.default_rng(0)
    lo, hi = {TP.INT4: (-8, 8), TP.UINT4: (0, 16), TP.INT8: (-20, 20)}.get(dtype, (0, 0))
    q = rng.integers(lo, hi, (6, 5)) if hi else rng.standard_normal((6, 5))
    scale = (np.abs(rng.standard_normal((-(-6 // block), 5) if block else ())) + 0.1) / 10
    attrs = {"axis": 0, "block_size": block} if block else {}
    nodes = [
        oh.make_node("DequantizeLinear", ["Wq", "s"], ["W"], **attrs),
        oh.make_node("MatMul", ["x", "W"], ["y"]),
    ]
    inits = [oh.make_tensor("Wq", dtype, q.shape, q.reshape(-1).tolist()), _init("s", scale)]
    model = _compare(_model(nodes, inits, ("N", 6), ("N", 5), opset=21))
    assert len(model.matmul_layers()) == 1
    bad = _init("s", np.ones((1, 5)))  # one block row for six rows in blocks of 4
    if block == 4:
        with pytest.raises(ModelError, match=r"expected \(2, 5\) for a \(6, 5\) tensor"):
            load_onnx(_model(nodes, [inits[0], bad], ("N", 6), ("N", 5), opset=21))
