"""Regenerate tests/data/onnx/keras_attention/: Keras attention models through tf2onnx.

keras.layers.MultiHeadAttention converts to Reshape/Transpose/MatMul chains whose shape
arithmetic multiplies the batch size (``ReduceProd`` of a shape holding it); Keras'
exact GELU converts to ``Erfc`` (not an ONNX op).  Needs TensorFlow and tf2onnx (see
``scripts/make_keras_onnx_fixtures.py`` for the environment):

    /tmp/tfenv/bin/python scripts/make_keras_attention_fixtures.py

Writes the ``.onnx`` files and ``reference.npz`` (for each file ``NAME``: input
``NAME.x``, NHWC or (N, T, D), and Keras' logits ``NAME.y``).  Weights come from
``keras.utils.set_random_seed(0)``.  Written with tensorflow-cpu 2.21.0, keras 3.15.1
and tf2onnx 1.17.0.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf2onnx  # noqa: E402
from keras import layers as L  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "onnx" / "keras_attention"


def transformer():
    """Tokens -> Dense -> MultiHeadAttention -> Add & LayerNormalization -> exact-GELU
    feed-forward -> GlobalAveragePooling1D -> Dense."""
    i = keras.Input((6, 8))
    x = L.Dense(16)(i)
    a = L.MultiHeadAttention(num_heads=2, key_dim=8)(x, x)
    x = L.LayerNormalization()(x + a)
    f = L.Dense(32, activation="gelu")(x)
    x = L.LayerNormalization()(x + L.Dense(16)(f))
    x = L.GlobalAveragePooling1D()(x)
    return keras.Model(i, L.Dense(5)(x), name="transformer")


def vit():
    """Conv2D patches -> Reshape -> + Embedding(arange) positions -> MultiHeadAttention."""
    i = keras.Input((16, 16, 3))
    x = L.Reshape((16, 16))(L.Conv2D(16, 4, strides=4)(i))
    x = x + L.Embedding(16, 16)(keras.ops.arange(16))
    a = L.MultiHeadAttention(num_heads=4, key_dim=4)(x, x)
    x = L.Flatten()(L.LayerNormalization(epsilon=1e-6)(x + a))
    return keras.Model(i, L.Dense(10)(x), name="vit")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    ref = {}
    for build, opset in ((transformer, 17), (vit, 13)):
        model = build()
        shape = model.input_shape[1:]
        x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
        spec = (tf.TensorSpec((None, *shape), tf.float32, name="input"),)
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset)
        stem = f"keras_{model.name}_tf2onnx_op{opset}"
        onnx.save(proto, str(OUT / f"{stem}.onnx"))
        ref[f"{stem}.x"], ref[f"{stem}.y"] = x, model(x, training=False).numpy()
    np.savez_compressed(OUT / "reference.npz", **ref)


if __name__ == "__main__":
    main()
