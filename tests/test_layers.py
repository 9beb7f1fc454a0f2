"""Every layer's backward pass against central finite differences (float64, rel err <= 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

from xbar.network.layers import (
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Flatten,
    GlobalAvgPool,
    MaxPool2D,
    ReLU,
    Residual,
    cross_entropy,
    im2col,
    softmax,
)

H = 1e-6
TOL = 1e-6


def rel_err(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-300)


def fd_grad(f, x, h=H):
    """Central finite differences of scalar f at array x (modified in place, restored)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def check_layer(layer, x, training=False, seed=0):
    """Check d/dx and d/dparams of sum(R * layer(x)) against finite differences."""
    rng = np.random.default_rng(seed)
    y = layer.forward(x, training=training)
    R = rng.standard_normal(y.shape)

    def f():
        saved = {k: v.copy() for k, v in layer.buffers().items()}
        out = float(np.sum(R * layer.forward(x, training=training)))
        for k, v in saved.items():  # running-stat updates must not leak between calls
            setattr(layer, k, v)
        return out

    layer.forward(x, training=training)
    dx = layer.backward(R)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert dx.shape == x.shape
    err = rel_err(dx, fd_grad(f, x))
    assert err <= TOL, f"{type(layer).__name__} input gradient rel err {err:.2e}"
    for k, p in layer.params().items():
        err = rel_err(grads[k], fd_grad(f, p))
        assert err <= TOL, f"{type(layer).__name__}.{k} gradient rel err {err:.2e}"
    return dx


def away_from_zero(rng, shape, margin=1e-3):
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, margin * np.sign(x + 1e-12) * 3, x)


def test_dense_gradients():
    rng = np.random.default_rng(1)
    layer = Dense(5, 4, W=rng.standard_normal((5, 4)), b=rng.standard_normal(4), name="d")
    check_layer(layer, rng.standard_normal((3, 5)))


@pytest.mark.parametrize(
    "kernel,stride,padding,hw",
    [(3, 1, 1, (5, 5)), (3, 2, 0, (7, 6)), (3, 2, 1, (6, 5)), (1, 2, 0, (5, 5)), (2, 1, 0, (4, 3))],
)
def test_conv2d_gradients(kernel, stride, padding, hw):
    rng = np.random.default_rng(2)
    layer = Conv2D(
        2,
        3,
        kernel,
        stride=stride,
        padding=padding,
        name="c",
        W=rng.standard_normal((kernel, kernel, 2, 3)),
        b=rng.standard_normal(3),
    )
    check_layer(layer, rng.standard_normal((2, *hw, 2)))


def naive_conv(x, W, b, stride, padding):
    """Direct loops: out[n, i, j, o] = sum xpad[n, s i + di, s j + dj, c] W[di, dj, c, o]."""
    B, Hh, Ww, C = x.shape
    k = W.shape[0]
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    OH = (Hh + 2 * padding - k) // stride + 1
    OW = (Ww + 2 * padding - k) // stride + 1
    out = np.zeros((B, OH, OW, W.shape[3]))
    for n in range(B):
        for i in range(OH):
            for j in range(OW):
                patch = xp[n, i * stride : i * stride + k, j * stride : j * stride + k, :]
                out[n, i, j] = np.tensordot(patch, W, axes=([0, 1, 2], [0, 1, 2])) + b
    return out


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 0), (2, 1)])
def test_conv2d_matches_direct_loops(stride, padding):
    rng = np.random.default_rng(3)
    W, b = rng.standard_normal((3, 3, 3, 4)), rng.standard_normal(4)
    layer = Conv2D(3, 4, 3, stride=stride, padding=padding, W=W, b=b, name="c")
    x = rng.standard_normal((2, 7, 6, 3))
    np.testing.assert_allclose(
        layer.forward(x), naive_conv(x, W, b, stride, padding), rtol=1e-12, atol=1e-12
    )


def test_im2col_row_and_column_order():
    x = np.arange(2 * 4 * 4 * 3, dtype=float).reshape(2, 4, 4, 3)
    cols = im2col(x, 2, 2, 2, 0)
    assert cols.shape == (2 * 2 * 2, 2 * 2 * 3)
    # row 3 = image 0, output pixel (1, 1): window rows 2..3, cols 2..3, order (kh, kw, c)
    np.testing.assert_array_equal(cols[3], x[0, 2:4, 2:4, :].reshape(-1))


def test_conv2d_chunked_inference_equals_unchunked(monkeypatch):
    import xbar.network.layers as L

    rng = np.random.default_rng(4)
    layer = Conv2D(2, 3, 3, padding=1, W=rng.standard_normal((3, 3, 2, 3)), name="c")
    x = rng.standard_normal((5, 4, 4, 2))
    full = layer.forward(x)
    calls = []
    monkeypatch.setattr(L, "IM2COL_MAX_ENTRIES", 4 * 4 * 18 * 2)  # two images per chunk
    chunked = layer.forward(x, mvm=lambda la, X: calls.append(X.shape) or X @ la.W2d)
    np.testing.assert_allclose(chunked, full, rtol=1e-13)
    assert calls == [(32, 18), (32, 18), (16, 18)]


@pytest.mark.parametrize("size,stride", [(2, None), (3, 2), (2, 1)])
def test_maxpool_gradients(size, stride):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 5, 3))
    check_layer(MaxPool2D(size, stride, name="p"), x)


def test_maxpool_values():
    x = np.array([[1, 5, 2, 0], [3, 4, 9, 1], [0, 0, 1, 2], [7, 1, 3, 8]], float)
    y = MaxPool2D(2, name="p").forward(x.reshape(1, 4, 4, 1))
    np.testing.assert_array_equal(y[0, :, :, 0], [[5, 9], [7, 8]])


def _maxpool_reference(layer, x):
    """Max pooling through the windows' argmax (the general path), for comparison."""
    flat, arg = layer._flat_windows(np.asarray(x, float), None)
    return np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0], arg


@pytest.mark.parametrize(
    "size,shape", [(2, (3, 6, 8, 4)), (2, (2, 7, 5, 3)), (3, (2, 9, 7, 2)), ((2, 3), (2, 6, 7, 1))]
)
def test_maxpool_tiled_path_equals_argmax_path(size, shape):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape)
    x[0, 0, 0, 0] = np.nan
    x[-1, 1, 1, -1] = -np.inf
    x[0, 2:4, 2:4, 0] = 7.0  # ties pick the same value
    layer = MaxPool2D(size, name="p")
    assert layer._tiled
    ref, arg = _maxpool_reference(layer, x)
    y = layer.forward(x)
    assert y.shape == ref.shape == (shape[0], *layer.output_shape(shape[1:]))
    np.testing.assert_array_equal(y, ref)  # NaN where the reference has NaN
    np.testing.assert_array_equal(layer._winners(), arg)  # lazily found winners


def test_maxpool_1x1_and_single_pixel_are_copies():
    x = np.arange(6.0).reshape(1, 2, 3, 1)
    y = MaxPool2D(1, name="p").forward(x)
    np.testing.assert_array_equal(y, x)
    assert not np.shares_memory(y, x)
    z = MaxPool2D(2, name="q").forward(np.full((1, 2, 2, 1), -3.0))
    np.testing.assert_array_equal(z, [[[[-3.0]]]])


def test_maxpool_frozen_pattern_after_tiled_forward():
    """A frozen pass reuses the winners of the last unfrozen (tiled, lazy) pass."""
    rng = np.random.default_rng(12)
    x, x2 = rng.standard_normal((2, 2, 4, 4, 3))
    layer = MaxPool2D(2, name="p")
    layer.forward(x)
    _, arg = _maxpool_reference(layer, x)
    layer.freeze_pattern = True
    flat, _ = layer._flat_windows(x2, None)
    want = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
    np.testing.assert_array_equal(layer.forward(x2), want)
    layer.freeze_pattern = False
    np.testing.assert_array_equal(layer.forward(x2), _maxpool_reference(layer, x2)[0])


def test_maxpool_general_path_when_windows_overlap():
    layer = MaxPool2D(3, 2, name="p")
    assert not layer._tiled
    x = np.random.default_rng(13).standard_normal((2, 7, 7, 2))
    np.testing.assert_array_equal(layer.forward(x), _maxpool_reference(layer, x)[0])


@pytest.mark.parametrize("size,stride", [(2, None), (3, 1)])
def test_avgpool_gradients(size, stride):
    rng = np.random.default_rng(6)
    check_layer(AvgPool2D(size, stride, name="p"), rng.standard_normal((2, 5, 6, 2)))


def test_globalavgpool_gradients():
    rng = np.random.default_rng(7)
    check_layer(GlobalAvgPool(name="g"), rng.standard_normal((3, 4, 5, 2)))


def test_relu_and_flatten_gradients():
    rng = np.random.default_rng(8)
    check_layer(ReLU(name="r"), away_from_zero(rng, (3, 4, 2)))
    check_layer(Flatten(name="f"), rng.standard_normal((2, 3, 3, 2)))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 4), (3, 3, 2, 4)])
def test_batchnorm_gradients(training, shape):
    rng = np.random.default_rng(9)
    bn = BatchNorm(4, name="bn")
    bn.gamma = rng.uniform(0.5, 2, 4)
    bn.beta = rng.standard_normal(4)
    bn.running_mean = rng.standard_normal(4)
    bn.running_var = rng.uniform(0.5, 2, 4)
    check_layer(bn, rng.standard_normal(shape) * 2 + 1, training=training)


def test_batchnorm_statistics():
    rng = np.random.default_rng(10)
    bn = BatchNorm(3, momentum=0.0, name="bn")
    x = rng.standard_normal((50, 3)) * [1, 2, 3] + [0, 1, -1]
    y = bn.forward(x, training=True)
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1, rtol=1e-4)
    np.testing.assert_allclose(bn.running_mean, x.mean(axis=0))
    np.testing.assert_allclose(bn.running_var, x.var(axis=0, ddof=1))
    # evaluation mode uses the running statistics
    np.testing.assert_allclose(bn.forward(x), (x - x.mean(0)) / np.sqrt(x.var(0, ddof=1) + 1e-5))


@pytest.mark.parametrize("projection", [False, True])
def test_residual_gradients(projection):
    rng = np.random.default_rng(11)
    c_out = 3 if projection else 2
    body = [
        BatchNorm(2, name="bn"),
        ReLU(name="r"),
        Conv2D(2, c_out, 3, padding=1, W=rng.standard_normal((3, 3, 2, c_out)), name="c"),
    ]
    sc = (
        [Conv2D(2, c_out, 1, W=rng.standard_normal((1, 1, 2, c_out)), name="s")]
        if projection
        else None
    )
    block = Residual(body, sc, name="blk")
    x = rng.standard_normal((2, 4, 4, 2))
    check_layer(block, x, training=True)
    # parameters of nested layers too
    R = rng.standard_normal(block.forward(x, training=True).shape)

    def f():
        return float(np.sum(R * block.forward(x, training=True)))

    block.forward(x, training=True)
    block.backward(R)
    for layer in block.children():
        grads = {k: v.copy() for k, v in layer.grads.items()}
        for k, p in layer.params().items():
            err = rel_err(grads[k], fd_grad(f, p))
            assert err <= TOL, f"{layer.name}.{k}: {err:.2e}"


def test_cross_entropy_gradient_and_value():
    rng = np.random.default_rng(12)
    logits = rng.standard_normal((5, 4)) * 3
    y = np.array([0, 3, 1, 1, 2])
    loss, d = cross_entropy(logits, y)
    p = softmax(logits)
    np.testing.assert_allclose(loss, -np.mean(np.log(p[np.arange(5), y])), rtol=1e-13)
    assert rel_err(d, fd_grad(lambda: cross_entropy(logits, y)[0], logits)) <= TOL
    # stable for huge logits
    big, _ = cross_entropy(np.array([[1000.0, 0.0]]), np.array([1]))
    assert np.isclose(big, 1000.0)


def test_whole_model_gradient_small_wrn():
    """A tiny pre-activation WRN end to end (training-mode BN, residuals, pooling, dense)."""
    from xbar.network.zoo import wrn

    model = wrn(depth=10, width=1, input_shape=(6, 6, 2), classes=3, seed=3)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((3, 6, 6, 2))
    y = np.array([0, 2, 1])

    def f():
        saved = {
            la.name: {k: v.copy() for k, v in la.buffers().items()} for la in model.all_layers()
        }
        loss = cross_entropy(model.forward(x, training=True), y)[0]
        for la in model.all_layers():
            for k, v in saved[la.name].items():
                setattr(la, k, v)
        return loss

    loss, d = cross_entropy(model.forward(x, training=True), y)
    dx = model.backward(d)
    grads = {k: v.copy() for k, v in model.gradients().items()}
    assert rel_err(dx, fd_grad(f, x)) <= TOL
    params = model.parameters()
    for key in ("conv0/W", "g1b1.conv1/W", "g2b1.shortcut/W", "g3b1.bn2/gamma", "fc/b"):
        err = rel_err(grads[key], fd_grad(f, params[key]))
        assert err <= TOL, f"{key}: {err:.2e}"
