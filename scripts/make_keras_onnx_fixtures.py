"""Regenerate tests/data/onnx/keras_*.onnx: small real Keras models converted by tf2onnx.

Needs TensorFlow and tf2onnx; xbar itself does not.  They clash with nothing of xbar's
but are large, so a separate environment is the easy way::

    python -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu tf2onnx
    /tmp/tfenv/bin/python scripts/make_keras_onnx_fixtures.py

The networks are small (a few KB of weights) and written the way Keras users write
image classifiers: NHWC inputs, ``Conv2D`` + ``BatchNormalization``, ``Add`` residual
blocks, ``DepthwiseConv2D`` / ``SeparableConv2D`` with ReLU6 and hard-swish,
``Concatenate`` of two branches, ``GlobalAveragePooling2D``, ``Dropout``, ``Flatten``
and ``Dense``.  Each is converted with ``tf2onnx.convert.from_keras`` at opsets 13 and
17 (one also at 18, where GlobalMaxPooling2D becomes ReduceMax; tf2onnx keeps the NHWC
input and inserts the Transposes to NCHW itself); two are
also written by Keras 3's own ``model.export(path, format="onnx")`` (which runs tf2onnx
at opset 15).  Weights come from ``keras.utils.set_random_seed(0)``; biases and
batch-norm statistics are randomised so that they matter.  Written with
tensorflow-cpu 2.21.0, keras 3.15.1 and tf2onnx 1.17.0.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402
from keras import layers as L  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "onnx"


def mlp():
    i = keras.Input((8, 8, 1))
    x = L.Flatten()(i)
    x = L.Dense(32, activation="relu")(x)
    x = L.Dropout(0.3)(x)
    return keras.Model(i, L.Dense(10, activation="softmax")(x), name="mlp")


def cnn_bn():
    """Rescaling, Conv2D + BatchNormalization (folded by tf2onnx when it can), pools, Flatten."""
    i = keras.Input((16, 16, 3))
    x = L.Rescaling(1 / 127.5, offset=-1.0)(i)
    x = L.Conv2D(8, 3, padding="same", use_bias=False)(x)
    x = L.Activation("relu")(L.BatchNormalization()(x))
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(12, 3, strides=2, padding="valid")(x)
    x = L.ReLU()(L.BatchNormalization()(x))
    x = L.AveragePooling2D(2, padding="same")(x)
    x = L.Dropout(0.25)(L.Flatten()(x))
    return keras.Model(i, L.Dense(10)(x), name="cnn_bn")


def resnet():
    """Two residual blocks with Add (identity and 1x1 strided projection), global pooling."""
    i = keras.Input((16, 16, 3))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(i)))
    y = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(x)))
    y = L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(y))
    x = L.ReLU()(L.Add()([x, y]))
    s = L.BatchNormalization()(L.Conv2D(16, 1, strides=2, use_bias=False)(x))
    y = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, strides=2, padding="same")(x)))
    y = L.BatchNormalization()(L.Conv2D(16, 3, padding="same")(y))
    x = L.ReLU()(L.Add()([s, y]))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(i, L.Dense(10)(x), name="resnet")


def mobilenet():
    """Hard-swish stem, DepthwiseConv2D + BN + ReLU6, SeparableConv2D, squeeze-excite gate,
    a 1x1-conv classifier on the kept-dims global average (MobileNetV3 head)."""
    i = keras.Input((16, 16, 3))
    x = L.Conv2D(8, 3, strides=2, padding="same")(i)
    x = L.Activation("hard_swish")(L.BatchNormalization()(x))
    x = L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = L.ReLU(6.0)(L.BatchNormalization()(x))
    s = L.GlobalAveragePooling2D(keepdims=True)(x)
    s = L.Conv2D(4, 1, activation="relu")(s)
    s = L.Conv2D(8, 1, activation="hard_sigmoid")(s)
    x = L.Multiply()([x, s])
    x = L.SeparableConv2D(12, 3, padding="same")(x)
    x = L.Activation("relu6")(x)
    x = L.GlobalAveragePooling2D(keepdims=True)(x)
    x = L.Conv2D(10, 1)(L.Dropout(0.2)(x))
    return keras.Model(i, L.Flatten()(x), name="mobilenet")


def two_branch():
    """Two branches (sigmoid conv; tanh + LeakyReLU conv after ZeroPadding2D) concatenated."""
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(6, 3, padding="same", activation="sigmoid")(i)
    b = L.ZeroPadding2D(1)(i)
    b = L.Conv2D(4, 3, activation="tanh")(b)
    b = L.LeakyReLU(0.2)(b)
    x = L.Concatenate()([a, b])
    x = L.MaxPooling2D(3, 2, padding="same")(x)
    x = L.Flatten()(x)
    return keras.Model(i, L.Dense(10, activation="softmax")(x), name="two_branch")


def activations():
    """swish, gelu (tanh form: tf2onnx leaves the exact form's Erfc, not an ONNX op), elu,
    selu, softplus, GlobalMaxPooling2D (ReduceMax)."""
    i = keras.Input((6, 6, 3))
    x = L.Conv2D(6, 3, padding="same", activation="swish")(i)
    x = L.Conv2D(6, 3, padding="same")(x)
    x = L.Activation(lambda t: keras.activations.gelu(t, approximate=True))(x)
    x = L.Add()([L.Activation("elu")(x), L.Activation("selu")(x), L.Activation("softplus")(x)])
    x = L.GlobalMaxPooling2D()(x)
    return keras.Model(i, L.Dense(10, use_bias=False)(x), name="activations")


def merges():
    """Maximum, Minimum, Average and Subtract merges of a dilated and a plain convolution,
    Cropping2D (tf2onnx slices the batch axis too, to INT32_MAX), Permute, Softmax layer."""
    i = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 3, padding="same", dilation_rate=2)(i)
    b = L.Conv2D(4, 3, padding="same")(i)
    merged = [L.Maximum()([a, b]), L.Minimum()([a, b]), L.Average()([a, b]), L.Subtract()([a, b])]
    x = L.Cropping2D(((1, 0), (0, 1)))(L.Concatenate()(merged))
    x = L.Flatten()(L.Permute((3, 1, 2))(x))
    return keras.Model(i, L.Softmax()(L.Dense(5)(x)), name="merges")


def relus():
    """Normalization layer; ReLU with max_value, negative_slope and threshold (tf2onnx writes
    Greater, Not, Cast, Min, Max); PReLU shared over the image axes; ELU; Reshape layer."""
    i = keras.Input((8, 8, 3))
    x = L.Normalization(mean=[0.1, 0.2, 0.3], variance=[0.5, 0.6, 0.7])(i)
    x = L.Conv2D(6, 3, strides=2, padding="same")(x)
    x = L.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.2)(x)
    y = L.PReLU(shared_axes=[1, 2])(L.Conv2D(6, 1)(x))
    x = L.Add()([L.ELU(0.5)(x), y])
    x = L.Reshape((4 * 4 * 6,))(x)
    return keras.Model(i, L.Dense(5)(x), name="relus")


def upsampling():
    """UpSampling2D: tf2onnx writes Tile, which the importer does not support."""
    i = keras.Input((4, 4, 2))
    x = L.UpSampling2D()(L.Conv2D(3, 3, padding="same")(i))
    return keras.Model(i, L.Dense(5)(L.Flatten()(x)), name="upsampling")


def exact_gelu():
    """Keras' exact GELU: tf2onnx writes ``Erfc``, which is no ONNX op (onnxruntime refuses
    the file; xbar reads it as 1 - erf)."""
    i = keras.Input((4, 4, 2))
    x = L.Conv2D(3, 3, activation="gelu")(i)
    return keras.Model(i, L.Dense(5)(L.Flatten()(x)), name="exact_gelu")


def _randomise(model) -> None:
    """Non-trivial biases and batch-norm statistics (fresh Keras layers have zeros/ones)."""
    rng = np.random.default_rng(1)
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, L.BatchNormalization):
            n = weights[0].size
            layer.set_weights(
                [
                    0.5 + rng.random(n),
                    0.1 * rng.standard_normal(n),
                    0.1 * rng.standard_normal(n),
                    0.5 + rng.random(n),
                ]
            )
        elif weights:
            layer.set_weights(
                [w + 0.05 * rng.standard_normal(w.shape) if w.ndim == 1 else w for w in weights]
            )


CASES = [  # file stem, network, converter ("tf2onnx" or "keras"), opset, static batch
    ("keras_mlp_tf2onnx_op13", mlp, "tf2onnx", 13, None),
    ("keras_cnn_bn_tf2onnx_op13", cnn_bn, "tf2onnx", 13, None),
    ("keras_cnn_bn_tf2onnx_op17", cnn_bn, "tf2onnx", 17, 2),
    ("keras_resnet_tf2onnx_op13", resnet, "tf2onnx", 13, None),
    ("keras_resnet_tf2onnx_op17", resnet, "tf2onnx", 17, None),
    ("keras_mobilenet_tf2onnx_op13", mobilenet, "tf2onnx", 13, None),
    ("keras_mobilenet_tf2onnx_op17", mobilenet, "tf2onnx", 17, 1),
    ("keras_two_branch_tf2onnx_op17", two_branch, "tf2onnx", 17, None),
    ("keras_activations_tf2onnx_op17", activations, "tf2onnx", 17, None),
    ("keras_activations_tf2onnx_op18", activations, "tf2onnx", 18, None),  # ReduceMax
    ("keras_resnet_export_op15", resnet, "keras", 15, None),
    ("keras_mobilenet_export_op15", mobilenet, "keras", 15, None),
    ("keras_merges_tf2onnx_op13", merges, "tf2onnx", 13, None),
    ("keras_relus_tf2onnx_op18", relus, "tf2onnx", 18, None),
    ("nonstandard/keras_exact_gelu_tf2onnx_op17", exact_gelu, "tf2onnx", 17, None),
    ("keras_upsampling_tf2onnx_op17", upsampling, "tf2onnx", 17, None),
]


def export(stem, build, converter, opset, batch) -> Path:
    keras.utils.set_random_seed(0)
    model = build()
    _randomise(model)
    shape = model.input_shape[1:]
    path = OUT / f"{stem}.onnx"  # unsupported/: graphs the importer must refuse by name
    if converter == "keras":
        model(np.zeros((1, *shape), np.float32))  # Keras 3 exports only built-and-called models
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.export(str(path), format="onnx", verbose=False)
        return path
    spec = (tf.TensorSpec((batch, *shape), tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
    onnx.save(proto, str(path))
    return path


def main() -> None:
    import sys

    (OUT / "unsupported").mkdir(parents=True, exist_ok=True)
    (OUT / "nonstandard").mkdir(parents=True, exist_ok=True)  # not ONNX; read all the same
    only = set(sys.argv[1:])  # regenerate only these stems (default: all)
    for case in CASES:
        if only and case[0] not in only:
            continue
        path = export(*case)
        print(f"{path.relative_to(OUT.parent.parent.parent)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
