"""Model zoo: the default digits CNN and pre-activation Wide ResNets.

Shipped trained models live in ``xbar/data/models/<name>.json`` + ``.npz``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .layers import (
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
from .model import Model, iter_layers

#: trained models shipped with xbar (digits data set, NHWC 8x8x1 inputs)
SHIPPED = ("default", "default_noise", "default_hessian", "default_act4")


def _models_dir() -> Path:
    return Path(str(resources.files("xbar").joinpath("data", "models")))


def shipped_model_path(name: str) -> Path | None:
    """Stem path of a shipped model ``name``, or None if ``name`` is not one."""
    if name in SHIPPED:
        return _models_dir() / name
    return None


def available_models() -> list[str]:
    """Names :func:`~xbar.network.load_model` accepts besides paths."""
    return [*SHIPPED, "wrn-16-4 (any wrn-D-K with (D-4) % 6 == 0)"]


def he_init(model: Model, seed: int | np.random.Generator = 0) -> Model:
    """Initialise every Dense/Conv2D weight in place with He-normal values, zero biases.

    Weights are drawn in forward order of :meth:`Model.matmul_layers` from
    ``numpy.random.default_rng(seed)``; ``std = sqrt(2 / fan_in)``.
    """
    rng = np.random.default_rng(seed)
    for layer in model.matmul_layers():
        fan_in = layer.W2d.shape[0]
        layer.W = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=layer.W.shape)
        layer.b = np.zeros_like(layer.b)
    return model


def default_architecture(seed: int = 0, classes: int = 10) -> Model:
    """The default digits CNN, untrained (He-initialised with ``seed``).

    ``(8, 8, 1) -> conv3x3(8, pad 1) -> ReLU -> conv3x3(16, pad 1) -> ReLU -> maxpool 2
    -> flatten (256) -> dense(10)``: 80, 1168 and 2570 parameters per matmul layer,
    so every layer fits a handful of small arrays.
    """
    layers: list[Layer] = [
        Conv2D(1, 8, 3, padding=1, name="conv1"),
        ReLU(name="relu1"),
        Conv2D(8, 16, 3, padding=1, name="conv2"),
        ReLU(name="relu2"),
        MaxPool2D(2, name="pool"),
        Flatten(name="flatten"),
        Dense(4 * 4 * 16, classes, name="dense"),
    ]
    return he_init(Model(layers, (8, 8, 1), classes, name="default"), seed)


def wrn(
    depth: int = 16,
    width: int = 4,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    classes: int = 10,
    seed: int = 0,
) -> Model:
    """A pre-activation Wide ResNet WRN-depth-width, He-initialised (untrained).

    Structure (Zagoruyko & Komodakis): conv3x3(16) then three groups of
    ``n = (depth - 4) / 6`` blocks with ``16 k, 32 k, 64 k`` channels (strides 1, 2, 2),
    then BN-ReLU, global average pooling and a dense classifier.  A block is
    BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus a shortcut; when the shape changes the
    shortcut is a 1x1 convolution of the pre-activated input (so that block's first
    BN-ReLU sits before the :class:`Residual`).  No dropout.

    Parameters
    ----------
    depth, width : int
        ``depth`` with ``(depth - 4) % 6 == 0``; widening factor ``width >= 1``.
    input_shape : tuple
        NHWC per-sample shape, default ``(32, 32, 3)``.
    classes : int
        Output classes.
    seed : int
        Seed of the He-normal initialisation.
    """
    if depth < 10 or (depth - 4) % 6 != 0:
        raise ModelError(f"wrn: depth {depth} invalid", hint="depth = 6 n + 4, e.g. 10, 16, 22, 28")
    if width < 1:
        raise ModelError(f"wrn: width {width} must be >= 1")
    n = (depth - 4) // 6
    widths = [16, 16 * width, 32 * width, 64 * width]
    layers: list[Layer] = [Conv2D(input_shape[2], 16, 3, padding=1, name="conv0")]
    c_in = 16
    for g, (c_out, stride) in enumerate(zip(widths[1:], (1, 2, 2), strict=True), start=1):
        for i in range(1, n + 1):
            s = stride if i == 1 else 1
            p = f"g{g}b{i}"
            body_tail: list[Layer] = [
                Conv2D(c_in, c_out, 3, stride=s, padding=1, name=f"{p}.conv1"),
                BatchNorm(c_out, name=f"{p}.bn2"),
                ReLU(name=f"{p}.relu2"),
                Conv2D(c_out, c_out, 3, padding=1, name=f"{p}.conv2"),
            ]
            pre: list[Layer] = [BatchNorm(c_in, name=f"{p}.bn1"), ReLU(name=f"{p}.relu1")]
            if c_in != c_out or s != 1:
                layers += pre
                layers.append(
                    Residual(
                        body_tail, [Conv2D(c_in, c_out, 1, stride=s, name=f"{p}.shortcut")], name=p
                    )
                )
            else:
                layers.append(Residual(pre + body_tail, None, name=p))
            c_in = c_out
    layers += [
        BatchNorm(c_in, name="bn_final"),
        ReLU(name="relu_final"),
        GlobalAvgPool(name="pool"),
        Dense(c_in, classes, name="fc"),
    ]
    model = Model(layers, tuple(input_shape), classes, name=f"wrn-{depth}-{width}")
    he_init(model, seed)
    # non-trivial batch-norm statistics so that folding is exercised
    rng = np.random.default_rng([seed, 1])
    for layer in iter_layers(model.layers):
        if isinstance(layer, BatchNorm):
            layer.running_var = rng.uniform(0.5, 1.5, layer.channels)
            layer.running_mean = rng.normal(0.0, 0.1, layer.channels)
    return model


def default_input_shape() -> tuple[int, int, int]:
    """NHWC per-sample input shape of the default models."""
    return (8, 8, 1)
