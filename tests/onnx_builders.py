"""Small ONNX graph builders shared by the held-out model tests (rounds 4 and 5)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto as TP
from onnx import helper as oh
from onnx import numpy_helper as nh


def init(name, value, dtype=np.float32):
    """An initializer ``name`` holding ``value``."""
    return nh.from_array(np.asarray(value, dtype=dtype), name)


def model(nodes, inits, in_dims, out_dims, opset=17):
    """A one-input (``x``) one-output (``y``) float model of ``nodes`` at ``opset``."""
    graph = oh.make_graph(
        nodes,
        "g",
        [oh.make_tensor_value_info("x", TP.FLOAT, list(in_dims))],
        [oh.make_tensor_value_info("y", TP.FLOAT, list(out_dims))],
        initializer=inits,
    )
    m = oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 17 else 9
    return m
