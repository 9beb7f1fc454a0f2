"""ONNX graphs of standard image classifiers, written the way ``torch.onnx.export`` writes them.

For tests, examples and benchmarks of the ONNX import without PyTorch: the graphs
use what the TorchScript exporter emits for ``eval()`` models (opset 17 by
default): ``Conv`` without bias followed by an unfolded ``BatchNormalization``,
``Relu``, residual ``Add``, ``GlobalAveragePool``, a ``Shape -> Gather ->
Unsqueeze -> Concat -> Reshape`` flatten (``x.view(x.size(0), -1)``) or a
``Flatten``, and ``Gemm`` with ``transB=1``; the batch axis is dynamic.
Weights are He-normal from a seed and batch-norm statistics are random but
plausible, so the networks are untrained (accuracy is chance); they exist to
check the import and to time CIFAR-scale evaluation.

>>> from xbar.network.onnx_zoo import resnet20
>>> proto = resnet20()
>>> sum(n.op_type == "Conv" for n in proto.graph.node)
21
"""

from __future__ import annotations

import numpy as np

from .onnx_import import require_onnx

__all__ = [
    "resnet20",
    "wide_resnet",
    "mlp",
    "lenet5",
    "mobilenet_style",
    "two_branch",
    "GraphBuilder",
]


class GraphBuilder:
    """Build an ONNX graph node by node in torch's export style (NCHW, float32).

    Parameters
    ----------
    input_shape : tuple of int
        Per-sample ONNX input shape, e.g. ``(3, 32, 32)``.
    seed : int
        Seed of the weights.
    opset : int
        Opset written in the model.
    """

    def __init__(self, input_shape: tuple[int, ...], seed: int = 0, opset: int = 17):
        self.onnx = require_onnx()
        self.h = self.onnx.helper
        self.rng = np.random.default_rng(seed)
        self.opset = opset
        self.nodes: list = []
        self.inits: list = []
        self.k = 0
        self.input_shape = tuple(input_shape)

    def _name(self, base: str) -> str:
        self.k += 1
        return f"/{base}_{self.k}"

    def init(self, base: str, value, dtype=np.float32) -> str:
        name = f"{base}.{self.k}"
        self.k += 1
        self.inits.append(self.onnx.numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs) -> str:
        name = self._name(op_type)
        outs = [f"{name}_output_{i}" for i in range(n_out)]
        self.nodes.append(self.h.make_node(op_type, inputs, outs, name=name, **attrs))
        return outs[0]

    def conv(
        self,
        x: str,
        cin: int,
        cout: int,
        k: int = 3,
        stride: int = 1,
        pad: int = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> str:
        fan_in = cin // groups * k * k
        W = self.rng.normal(0, np.sqrt(2.0 / fan_in), (cout, cin // groups, k, k))
        ins = [x, self.init("conv.weight", W)]
        if bias:
            ins.append(self.init("conv.bias", self.rng.normal(0, 0.05, cout)))
        return self.op(
            "Conv",
            ins,
            dilations=[1, 1],
            group=groups,
            kernel_shape=[k, k],
            pads=[pad] * 4,
            strides=[stride, stride],
        )

    def bn(self, x: str, c: int) -> str:
        r = self.rng
        ins = [
            x,
            self.init("bn.weight", r.uniform(0.5, 1.5, c)),
            self.init("bn.bias", r.normal(0, 0.1, c)),
            self.init("bn.running_mean", r.normal(0, 0.1, c)),
            self.init("bn.running_var", r.uniform(0.5, 1.5, c)),
        ]
        # (onnx.reference runs opset < 14 BatchNormalization with momentum in training mode)
        extra = {"momentum": 0.9} if self.opset >= 14 else {}
        return self.op("BatchNormalization", ins, epsilon=1e-5, **extra)

    def hardswish(self, x: str) -> str:
        """HardSwish (opset 14+), or HardSigmoid * x as torch writes it for older opsets."""
        if self.opset >= 14:
            return self.op("HardSwish", [x])
        return self.op("Mul", [x, self.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)])

    def relu(self, x: str) -> str:
        return self.op("Relu", [x])

    def gemm(self, x: str, n_in: int, n_out: int) -> str:
        W = self.rng.normal(0, np.sqrt(1.0 / n_in), (n_out, n_in))
        return self.op(
            "Gemm",
            [x, self.init("fc.weight", W), self.init("fc.bias", self.rng.normal(0, 0.05, n_out))],
            alpha=1.0,
            beta=1.0,
            transB=1,
        )

    def view_flatten(self, x: str) -> str:
        """``x.view(x.size(0), -1)``: the Shape-Gather-Unsqueeze-Concat-Reshape subgraph."""
        shape = self.op("Shape", [x])
        n = self.op("Gather", [shape, self.init("idx", np.array(0, np.int64), np.int64)], axis=0)
        if self.opset >= 13:
            n = self.op("Unsqueeze", [n, self.init("axes", [0], np.int64)])
        else:
            n = self.op("Unsqueeze", [n], axes=[0])
        target = self.op("Concat", [n, self.init("minus1", [-1], np.int64)], axis=0)
        return self.op("Reshape", [x, target])

    def model(self, x_out: str, classes: int, name: str):
        """The finished ModelProto (input ``"input"``, output ``"logits"``)."""
        h, f32 = self.h, self.onnx.TensorProto.FLOAT
        self.nodes.append(h.make_node("Identity", [x_out], ["logits"], name="/output"))
        graph = h.make_graph(
            self.nodes,
            name,
            [h.make_tensor_value_info("input", f32, ["batch", *self.input_shape])],
            [h.make_tensor_value_info("logits", f32, ["batch", classes])],
            initializer=self.inits,
        )
        proto = h.make_model(
            graph,
            opset_imports=[h.make_opsetid("", self.opset)],
            producer_name="pytorch-style (xbar.network.onnx_zoo)",
        )
        proto.ir_version = 8
        self.onnx.checker.check_model(proto)
        return proto


def _basic_block(g: GraphBuilder, x: str, cin: int, cout: int, stride: int) -> str:
    y = g.relu(g.bn(g.conv(x, cin, cout, 3, stride), cout))
    y = g.bn(g.conv(y, cout, cout, 3, 1), cout)
    if stride != 1 or cin != cout:
        x = g.bn(g.conv(x, cin, cout, 1, stride, 0), cout)
    return g.relu(g.op("Add", [y, x]))


def resnet20(classes: int = 10, seed: int = 0, opset: int = 17):
    """ResNet-20 for 32x32x3 images (He et al. 2016, CIFAR variant, projection shortcuts).

    conv3x3(16)-BN-ReLU, three stages of three basic blocks (16, 32, 64 channels,
    strides 1, 2, 2), global average pooling, ``x.view(x.size(0), -1)``, linear.
    """
    g = GraphBuilder((3, 32, 32), seed, opset)
    x = g.relu(g.bn(g.conv("input", 3, 16), 16))
    cin = 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            x = _basic_block(g, x, cin, cout, stride if i == 0 else 1)
            cin = cout
    x = g.view_flatten(g.op("GlobalAveragePool", [x]))
    return g.model(g.gemm(x, 64, classes), classes, "resnet20")


def wide_resnet(depth: int = 16, width: int = 4, classes: int = 10, seed: int = 0, opset: int = 17):
    """Pre-activation Wide ResNet WRN-depth-width for 32x32x3 images (torch style)."""
    g = GraphBuilder((3, 32, 32), seed, opset)
    n = (depth - 4) // 6
    x = g.conv("input", 3, 16)
    cin = 16
    for cout, stride in ((16 * width, 1), (32 * width, 2), (64 * width, 2)):
        for i in range(n):
            s = stride if i == 0 else 1
            pre = g.relu(g.bn(x, cin))
            y = g.relu(g.bn(g.conv(pre, cin, cout, 3, s), cout))
            y = g.conv(y, cout, cout, 3, 1)
            short = g.conv(pre, cin, cout, 1, s, 0) if (cin != cout or s != 1) else x
            x = g.op("Add", [y, short])
            cin = cout
    x = g.relu(g.bn(x, cin))
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    return g.model(g.gemm(x, cin, classes), classes, f"wrn-{depth}-{width}")


def mlp(sizes: tuple[int, ...] = (784, 128, 64, 10), seed: int = 0, opset: int = 17):
    """A multilayer perceptron on flat inputs: Gemm-ReLU ... Gemm."""
    g = GraphBuilder((sizes[0],), seed, opset)
    x = "input"
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        x = g.gemm(x, a, b)
        if k < len(sizes) - 2:
            x = g.relu(x)
    return g.model(x, sizes[-1], "mlp")


def lenet5(classes: int = 10, seed: int = 0, opset: int = 17):
    """LeNet-5 on 28x28x1 images (conv5 pad 2, max pools, conv5, average pool, three linear)."""
    g = GraphBuilder((1, 28, 28), seed, opset)
    x = g.op(
        "MaxPool",
        [g.relu(g.conv("input", 1, 6, 5, 1, 2, bias=True))],
        kernel_shape=[2, 2],
        strides=[2, 2],
        pads=[0, 0, 0, 0],
        ceil_mode=0,
    )
    x = g.op(
        "AveragePool",
        [g.op("Tanh", [g.conv(x, 6, 16, 5, 1, 0, bias=True)])],
        kernel_shape=[2, 2],
        strides=[2, 2],
        pads=[0, 0, 0, 0],
    )
    x = g.view_flatten(x)
    x = g.relu(g.gemm(g.relu(g.gemm(x, 400, 120)), 120, 84))
    return g.model(g.gemm(x, 84, classes), classes, "lenet5")


def mobilenet_style(classes: int = 10, seed: int = 0, opset: int = 17):
    """A small MobileNetV3-style net: depthwise-separable blocks, HardSwish, ReLU6, SE gate.

    32x32x3 -> conv3x3 s2 (16) BN HardSwish -> [depthwise 3x3 BN ReLU6 -> pointwise 1x1 BN]
    x3 (one with a residual add and a squeeze-excite gate: GlobalAveragePool, 1x1 convs,
    HardSigmoid, Mul) -> 1x1 conv HardSwish -> GlobalAveragePool -> Flatten -> Gemm.
    """
    g = GraphBuilder((3, 32, 32), seed, opset)
    six = g.init("six", 6.0)
    zero = g.init("zero", 0.0)
    x = g.hardswish(g.bn(g.conv("input", 3, 16, 3, 2, 1), 16))
    cin = 16
    for cout, stride, se in ((16, 1, True), (24, 2, False), (24, 1, False)):
        y = g.bn(g.conv(x, cin, cin, 3, stride, 1, groups=cin), cin)
        y = g.op("Clip", [y, zero, six])
        if se:
            s = g.op("GlobalAveragePool", [y])
            s = g.relu(g.conv(s, cin, 8, 1, 1, 0, bias=True))
            s = g.op(
                "HardSigmoid", [g.conv(s, 8, cin, 1, 1, 0, bias=True)], alpha=1.0 / 6.0, beta=0.5
            )
            y = g.op("Mul", [y, s])
        y = g.bn(g.conv(y, cin, cout, 1, 1, 0), cout)
        x = g.op("Add", [y, x]) if (stride == 1 and cin == cout) else y
        cin = cout
    x = g.hardswish(g.conv(x, cin, 64, 1, 1, 0, bias=True))
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    return g.model(g.gemm(x, 64, classes), classes, "mobilenet_style")


def two_branch(classes: int = 10, seed: int = 0, opset: int = 17):
    """Two branches (3x3 and 5x5 convolutions with padding, then a MaxPool and an
    AveragePool) concatenated on the channels, then a LeakyRelu, Flatten and Gemm."""
    g = GraphBuilder((3, 16, 16), seed, opset)
    a = g.relu(g.bn(g.conv("input", 3, 8, 3, 1, 1), 8))
    a = g.op("MaxPool", [a], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    b = g.op("Sigmoid", [g.conv("input", 3, 4, 5, 1, 2, bias=True)])
    b = g.op(
        "AveragePool",
        [b],
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 1],
        count_include_pad=1,
    )
    x = g.op("LeakyRelu", [g.op("Concat", [a, b], axis=1)], alpha=0.1)
    x = g.op("Flatten", [x], axis=1)
    return g.model(g.gemm(x, 12 * 8 * 8, classes), classes, "two_branch")
