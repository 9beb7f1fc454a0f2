"""Model structure, the mvm hook, batch-norm folding, save/load and the zoo."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xbar.errors import ModelError, ShapeError
from xbar.network import (
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    Model,
    ReLU,
    load_dataset,
    load_model,
    save_model,
)
from xbar.network.zoo import wrn


def reference_default_forward(model, x):
    """Straightforward numpy reference of the default CNN (direct loops, no im2col)."""

    def conv(x, W, b):
        B, H, Wd, C = x.shape
        xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = np.zeros((B, H, Wd, W.shape[3]))
        for di in range(3):
            for dj in range(3):
                out += np.einsum("bhwc,co->bhwo", xp[:, di : di + H, dj : dj + Wd, :], W[di, dj])
        return out + b

    c1, c2, d = (model.layer(n) for n in ("conv1", "conv2", "dense"))
    h = np.maximum(conv(x, c1.W, c1.b), 0)
    h = np.maximum(conv(h, c2.W, c2.b), 0)
    B, H, Wd, C = h.shape
    h = h.reshape(B, H // 2, 2, Wd // 2, 2, C).max(axis=(2, 4))
    return h.reshape(B, -1) @ d.W + d.b


def test_default_model_matches_reference_and_accuracy():
    model = load_model("default")
    data = load_dataset("digits")
    logits = model.forward(data.x_test)
    ref = reference_default_forward(model, data.x_test)
    np.testing.assert_allclose(logits, ref, rtol=1e-12, atol=1e-12)
    assert [la.name for la in model.matmul_layers()] == ["conv1", "conv2", "dense"]
    assert model.accuracy(data.x_test, data.y_test) >= 0.97
    for la in model.matmul_layers():
        assert 50 <= la.W2d.size <= 5000


@pytest.mark.parametrize("name", ["default_noise", "default_hessian"])
def test_shipped_robust_models_load(name):
    model = load_model(name)
    data = load_dataset("digits")
    assert model.accuracy(data.x_test, data.y_test) >= 0.96


def test_shipped_act4_model_loads_by_name():
    # docs/network.md (finding 4) names it; its files ship in xbar/data/models
    model = load_model("default_act4")
    data = load_dataset("digits")
    assert model.accuracy(data.x_test, data.y_test) >= 0.96


def test_mvm_hook_sees_every_matmul_layer_with_2d_rows():
    model = load_model("default")
    x = load_dataset("digits").x_test[:5]
    seen = []

    def mvm(layer, X):
        seen.append((layer.name, layer.kind, X.shape, layer.W2d.shape))
        return X @ layer.W2d

    np.testing.assert_array_equal(model.forward(x, mvm=mvm), model.forward(x))
    assert seen == [
        ("conv1", "conv2d", (5 * 64, 9), (9, 8)),
        ("conv2", "conv2d", (5 * 64, 72), (72, 16)),
        ("dense", "dense", (5, 256), (256, 10)),
    ]
    # the bias is added by the layer, after the hook
    zero = model.forward(x, mvm=lambda la, X: np.zeros((X.shape[0], la.W2d.shape[1])))
    np.testing.assert_allclose(zero, np.broadcast_to(model.layer("dense").b, (5, 10)))
    # predict passes the hook through
    flipped = model.predict(x, mvm=lambda la, X: -(X @ la.W2d))
    assert flipped.shape == (5,)


def test_save_load_roundtrip(tmp_path):
    model = wrn(depth=10, width=1, input_shape=(8, 8, 3), classes=4, seed=1)
    jpath, npath = save_model(model, tmp_path / "sub" / "m.npz")
    assert jpath.name == "m.json" and npath.name == "m.npz"
    cfg = json.loads(jpath.read_text())
    assert cfg["layout"] == "NHWC" and cfg["input_shape"] == [8, 8, 3]
    for arg in (tmp_path / "sub" / "m", jpath, npath, str(npath)):
        back = load_model(arg)
        x = np.random.default_rng(0).random((2, 8, 8, 3))
        np.testing.assert_array_equal(back.forward(x), model.forward(x))
    assert [la.name for la in back.all_layers()] == [la.name for la in model.all_layers()]


def test_load_errors(tmp_path):
    with pytest.raises(ModelError, match="no model 'nope'"):
        load_model("nope")
    model = load_model("default")
    jpath, npath = save_model(model, tmp_path / "m")
    cfg = json.loads(jpath.read_text())
    cfg["layers"][-1]["n_in"] = 100  # dense no longer fits the flattened 256 features
    jpath.write_text(json.dumps(cfg))
    with pytest.raises(ShapeError, match="dense"):
        load_model(tmp_path / "m")
    cfg["layers"][-1]["n_in"] = 256
    cfg["layers"][0]["type"] = "Conv3D"
    jpath.write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="unknown layer type 'Conv3D'"):
        load_model(tmp_path / "m")
    jpath.write_text("{not json")
    with pytest.raises(ModelError, match="invalid JSON"):
        load_model(tmp_path / "m")


def test_shapes_must_chain():
    with pytest.raises(ShapeError, match="'c2'.*expects 4 input channels, got 3"):
        Model([Conv2D(1, 3, 3, name="c1"), Conv2D(4, 2, 3, name="c2")], (8, 8, 1), 2)
    with pytest.raises(ShapeError, match="Flatten"):
        Model([Conv2D(1, 3, 3), Dense(108, 2)], (8, 8, 1), 2)
    with pytest.raises(ShapeError, match="expected \\(3,\\) logits"):
        Model([Flatten(), Dense(64, 2)], (8, 8, 1), 3)
    with pytest.raises(ModelError, match="duplicate layer name"):
        Model([Flatten(name="a"), Dense(64, 2, name="a")], (8, 8, 1), 2)
    m = load_model("default")
    with pytest.raises(ShapeError, match="expects inputs of shape"):
        m.forward(np.zeros((2, 8, 8)))


def test_fold_batchnorm_equals_original_and_keeps_unfoldable():
    model = wrn(depth=10, width=2, input_shape=(8, 8, 3), classes=5, seed=2)
    rng = np.random.default_rng(5)
    for la in model.all_layers():  # non-trivial affine parameters
        if isinstance(la, BatchNorm):
            la.gamma = rng.uniform(0.5, 1.5, la.channels)
            la.beta = rng.normal(0, 0.2, la.channels)
    x = rng.random((4, 8, 8, 3))
    folded = model.fold_batchnorm()
    y, yf = model.forward(x), folded.forward(x)
    np.testing.assert_allclose(yf, y, rtol=1e-10, atol=1e-12 * np.abs(y).max())
    names = {la.name for la in folded.all_layers() if isinstance(la, BatchNorm)}
    # BN right after conv0 and every inner bn2 fold; pre-activation BNs after adds stay
    assert "g1b1.bn1" not in names and not any(n.endswith(".bn2") for n in names)
    assert {"g2b1.bn1", "g3b1.bn1", "bn_final"} <= names
    assert [la.name for la in folded.matmul_layers()] == [la.name for la in model.matmul_layers()]
    # the original is untouched
    assert any(isinstance(la, BatchNorm) and la.name == "g1b1.bn2" for la in model.all_layers())


def test_fold_dense_batchnorm():
    rng = np.random.default_rng(6)
    bn = BatchNorm(3, name="bn")
    bn.running_mean, bn.running_var = rng.normal(size=3), rng.uniform(0.5, 2, 3)
    bn.gamma, bn.beta = rng.uniform(0.5, 2, 3), rng.normal(size=3)
    m = Model(
        [Flatten(), Dense(16, 3, W=rng.normal(size=(16, 3)), b=rng.normal(size=3)), bn],
        (4, 4, 1),
        3,
    )
    f = m.fold_batchnorm()
    assert not any(isinstance(la, BatchNorm) for la in f.all_layers())
    x = rng.random((3, 4, 4, 1))
    np.testing.assert_allclose(f.forward(x), m.forward(x), rtol=1e-12)


def test_copy_and_with_params_are_independent():
    m = load_model("default")
    c = m.copy()
    c.layer("conv1").W[...] = 0
    assert np.abs(m.layer("conv1").W).sum() > 0
    W2d = m.layer("conv2").W2d * 2
    m2 = m.with_params({"conv2/W": W2d}, name="chip")
    np.testing.assert_array_equal(m2.layer("conv2").W2d, W2d)
    assert m2.name == "chip"
    m3 = m.with_params(dense={"b": np.ones(10)})
    np.testing.assert_array_equal(m3.layer("dense").b, 1)
    with pytest.raises(ShapeError):
        m.with_params({"dense/b": np.ones(3)})
    with pytest.raises(ModelError, match="no array"):
        m.with_params({"dense/gamma": np.ones(10)})


def test_wrn_16_4_structure_and_forward():
    m = load_model("wrn-16-4")
    assert m.input_shape == (32, 32, 3)
    convs = [la for la in m.matmul_layers() if la.kind == "conv2d"]
    assert len(convs) == 1 + 3 * 2 * 2 + 3  # stem, 2 convs per block, 3 projections
    assert m.layer("g3b2.conv2").W2d.shape == (9 * 256, 256)
    x = np.random.default_rng(0).random((2, 32, 32, 3))
    y = m.forward(x)
    assert y.shape == (2, 10) and np.all(np.isfinite(y))
    with pytest.raises(ModelError, match="depth"):
        wrn(depth=15)


def test_pool_layers_in_models():
    m = Model(
        [Conv2D(1, 2, 3, padding=1), ReLU(), MaxPool2D(2), Flatten(), Dense(32, 3)], (8, 8, 1), 3
    )
    assert m.forward(np.zeros((1, 8, 8, 1))).shape == (1, 3)
    assert [la.name for la in m.all_layers()] == [
        "conv2d1",
        "relu1",
        "maxpool2d1",
        "flatten1",
        "dense1",
    ]


def test_models_pickle_for_worker_processes():
    import pickle

    m = load_model("default")
    x = load_dataset("digits").x_test[:3]
    m.forward(x, training=True)  # leaves caches behind; they must not travel
    back = pickle.loads(pickle.dumps(m))
    assert all(la._cache is None for la in back.all_layers())
    np.testing.assert_array_equal(back.forward(x), m.forward(x))


def test_bad_weight_files_are_clear_model_errors(tmp_path):
    model = load_model("default")
    jpath, npath = save_model(model, tmp_path / "m")
    npath.write_bytes(b"junk")
    with pytest.raises(ModelError, match="m.npz.*not an .npz archive"):
        load_model(tmp_path / "m")
    state = model.state()
    key = next(iter(state))
    np.savez(npath, **{k: v for k, v in state.items() if k != key})
    with pytest.raises(ModelError, match=f"m.npz.*missing.*{key}"):
        load_model(tmp_path / "m")
    bad = dict(state)
    bad[key] = np.zeros(3)
    np.savez(npath, **bad)
    with pytest.raises(ModelError, match=rf"m.npz.*{key}.*shape \(3,\).*needs"):
        load_model(tmp_path / "m")
    bad[key] = np.full(state[key].shape, np.nan)
    np.savez(npath, **bad)
    with pytest.raises(ModelError, match="finite"):
        load_model(tmp_path / "m")
    np.savez(npath, **state)
    cfg = json.loads(jpath.read_text())
    for field, value in [("input_shape", "8x8"), ("classes", 0), ("layers", {})]:
        jpath.write_text(json.dumps({**cfg, field: value}))
        with pytest.raises(ModelError, match=f"m.json.*{field}"):
            load_model(tmp_path / "m")
    jpath.write_text(json.dumps({**cfg, "layers": [{"type": "Dense", "n_in": "x"}]}))
    with pytest.raises(ModelError, match="m.json"):
        load_model(tmp_path / "m")
