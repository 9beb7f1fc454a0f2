"""Regenerate tests/data/onnx/*.onnx: small real PyTorch exports for the ONNX import tests.

Needs PyTorch (and onnxscript for the dynamo exporter); xbar itself does not.  Run:

    pip install torch onnxscript && python scripts/make_onnx_fixtures.py

Each network is small (a few KB of weights) but uses what real image classifiers
use; both exporters (TorchScript, ``dynamo=False``, and torch.export, ``dynamo=True``)
and several opsets are covered, with static and dynamic batch axes.  Weights come
from ``torch.manual_seed(0)``; batch-norm statistics are randomised so that they
matter.  Written with torch 2.13.0 (CPU).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "onnx"


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.f1, self.f2, self.f3 = nn.Linear(400, 32), nn.Linear(32, 16), nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.c2(x)), 2)
        x = x.view(x.size(0), -1)
        return self.f3(F.relu(self.f2(F.dropout(F.relu(self.f1(x)), 0.5, self.training))))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU()
        )
        self.layers = nn.Sequential(Block(8, 8, 1), Block(8, 16, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool(self.layers(self.stem(x)))
        return self.fc(torch.flatten(x, 1))


class TinyMobileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish()
        )
        self.dw = nn.Sequential(
            nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6()
        )
        self.se1, self.se2 = nn.Conv2d(8, 4, 1), nn.Conv2d(4, 8, 1)
        self.pw = nn.Sequential(nn.Conv2d(8, 12, 1, bias=False), nn.BatchNorm2d(12))
        self.head = nn.Sequential(
            nn.Conv2d(12, 24, 1),
            nn.Hardswish(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(24, 10),
        )

    def forward(self, x):
        x = self.dw(self.stem(x))
        s = F.hardsigmoid(self.se2(F.relu(self.se1(F.adaptive_avg_pool2d(x, 1)))))
        return self.head(self.pw(x * s))


class TwoBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 1)
        self.fc = nn.Linear(10 * 4 * 4, 10)

    def forward(self, x):
        a = F.max_pool2d(F.leaky_relu(self.a(x), 0.1), 3, 2, 1)
        b = F.avg_pool2d(torch.sigmoid(self.b(F.pad(x, (1, 1, 1, 1)))), 2, 2, ceil_mode=True)
        b = b[:, :, :4, :4]
        y = torch.cat([a, b], dim=1)
        return torch.softmax(self.fc(y.reshape(-1, 10 * 4 * 4)), dim=1)


class Activations(nn.Module):
    """GELU (Erf or Gelu), SiLU (Sigmoid * x), ELU, SELU, PReLU (per channel), Softplus and a
    mean over the image axes (ReduceMean) instead of a pooling layer."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1)
        self.prelu = nn.PReLU(6, init=0.2)
        self.fc = nn.Linear(6, 10, bias=False)

    def forward(self, x):
        x = F.silu(F.gelu(self.c1(x)))
        x = self.prelu(F.elu(self.c2(x), 0.7)) + F.selu(x) + F.softplus(x)
        return self.fc(x.mean((2, 3)))


class Shuffle(nn.Module):
    """ShuffleNet-style: chunk (Split), concat, channel shuffle through a rank-5 reshape."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.fc = (
            nn.Conv2d(3, 8, 3, padding=1),
            nn.Conv2d(4, 4, 1),
            nn.Linear(8, 10),
        )

    def forward(self, x):
        x = F.relu(self.c1(x))
        a, b = x.chunk(2, dim=1)
        x = torch.cat([a, F.relu(self.c2(b))], 1)
        n, c, h, w = x.shape
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Sigmoid(), nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)


class Misc(nn.Module):
    """Hardtanh (Clip), a grouped convolution, arithmetic with scalars, adaptive average
    pooling to 2x2, nn.Flatten and log-softmax."""

    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1, groups=4)
        self.fc = nn.Linear(8 * 2 * 2, 10)

    def forward(self, x):
        x = F.hardtanh(self.bn(self.c(x)), -1.0, 2.0)
        x = F.relu6(self.c2(x)) * 0.5 + x / 3.0 - 1.0
        x = F.adaptive_avg_pool2d(x, 2)
        return F.log_softmax(self.fc(nn.Flatten()(x)), dim=-1)


class LayerNormHead(nn.Module):
    """LayerNorm over the features: LayerNormalization (dynamo), or ReduceMean, Sub, Pow,
    Sqrt and Div at opset 13 (TorchScript); ConvNeXt normalises this way."""

    def __init__(self):
        super().__init__()
        self.c, self.fc, self.ln = nn.Conv2d(3, 4, 3), nn.Linear(4 * 6 * 6, 10), nn.LayerNorm(10)

    def forward(self, x):
        return self.ln(self.fc(self.c(x).flatten(1)))


class ConvNeXtBlock(nn.Module):
    """A ConvNeXt block: depthwise 7x7, channels-last LayerNorm and MLP (Linear on a rank-4
    tensor, GELU), layer scale, residual; head: mean over the image, LayerNorm, Linear."""

    def __init__(self, c=8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 2, stride=2)
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.ln, self.fc1, self.fc2 = nn.LayerNorm(c), nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.scale = nn.Parameter(torch.full((c, 1, 1), 0.5))
        self.head_ln, self.head = nn.LayerNorm(c), nn.Linear(c, 10)

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.ln(y)))).permute(0, 3, 1, 2)
        x = x + self.scale * y
        return self.head(self.head_ln(x.mean((2, 3))))


class Upsample(nn.Module):
    """Resize (nearest upsampling): not supported, the importer must name it."""

    def __init__(self):
        super().__init__()
        self.c, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4 * 16 * 16, 10)

    def forward(self, x):
        return self.fc(F.interpolate(self.c(x), scale_factor=2).flatten(1))


def _randomise_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
            m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(m.num_features, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))


CASES = [  # file stem, network, input shape, exporter (dynamo?), opset, dynamic batch
    ("lenet5_torchscript_op11", LeNet, (1, 1, 28, 28), False, 11, True),
    ("resnet_torchscript_op13", TinyResNet, (2, 3, 16, 16), False, 13, False),
    ("resnet_dynamo_op18", TinyResNet, (2, 3, 16, 16), True, 18, True),
    ("mobilenet_torchscript_op17", TinyMobileNet, (1, 3, 16, 16), False, 17, True),
    ("mobilenet_dynamo_op20", TinyMobileNet, (2, 3, 16, 16), True, 20, False),
    ("two_branch_torchscript_op14", TwoBranch, (1, 3, 8, 8), False, 14, True),
    ("mlp_dynamo_op21", MLP, (2, 1, 8, 8), True, 21, True),
    ("activations_torchscript_op13", Activations, (1, 3, 6, 6), False, 13, True),
    ("activations_dynamo_op20", Activations, (2, 3, 6, 6), True, 20, True),
    ("shuffle_torchscript_op13", Shuffle, (2, 3, 8, 8), False, 13, True),
    ("shuffle_dynamo_op18", Shuffle, (2, 3, 8, 8), True, 18, True),
    ("misc_dynamo_op21", Misc, (2, 3, 8, 8), True, 21, True),
    # weights in a separate file beside the graph (misc_dynamo_op18_external.onnx.data)
    ("misc_dynamo_op18_external", Misc, (2, 3, 8, 8), True, 18, True),
    ("layernorm_dynamo_op18", LayerNormHead, (2, 3, 8, 8), True, 18, True),
    ("layernorm_torchscript_op13", LayerNormHead, (2, 3, 8, 8), False, 13, True),
    ("convnext_dynamo_op18", ConvNeXtBlock, (2, 3, 16, 16), True, 18, True),
    ("convnext_torchscript_op13", ConvNeXtBlock, (2, 3, 16, 16), False, 13, True),
    # graphs the importer must refuse with a named error
    ("resize_dynamo_op18", Upsample, (2, 3, 8, 8), True, 18, True),
]


def export(stem, cls, shape, dynamo, opset, dynamic) -> Path:
    torch.manual_seed(0)
    model = cls().eval()
    _randomise_bn(model)
    x = torch.randn(*shape)
    path = OUT / f"{stem}.onnx"
    kw = dict(input_names=["input"], output_names=["logits"], opset_version=opset, dynamo=dynamo)
    if dynamic and dynamo:
        kw["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=1024)},)
    elif dynamic:
        kw["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
    if dynamo:
        kw["external_data"] = stem.endswith("_external")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), **kw)
    return path


def main() -> None:
    import sys

    (OUT / "unsupported").mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1:])  # regenerate only these stems (default: all)
    for case in CASES:
        if only and case[0] not in only:
            continue
        path = export(*case)
        print(f"{path.relative_to(OUT.parent.parent.parent)}  {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
