"""Regenerate tests/data/onnx/attention/: real PyTorch exports of attention models.

nn.MultiheadAttention and nn.TransformerEncoderLayer compute attention with the batch
axis second and reshape it to ``bsz * num_heads``; these small exports (dimension 16,
a few KB of weights) pin how xbar imports them.  Needs PyTorch and onnxscript; xbar
itself does not:

    pip install torch onnxscript && python scripts/make_attention_fixtures.py

It also writes ``../unsupported/gru_torchscript_op13.onnx`` (an nn.GRU classifier,
which the importer refuses by name).  Besides the ``.onnx`` files it writes
``reference.npz``: for each file ``NAME``, the
input ``NAME.x`` (float32, ONNX layout) and torch's logits ``NAME.y`` for it.  The
``*_static`` files are exported with a fixed batch of 1 (torch.onnx.export's default,
so their shapes are folded constants); their reference is still a batch of several.
Weights come from ``torch.manual_seed(0)``.  Written with torch 2.13.0 (CPU).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "onnx" / "attention"


class SelfAttention(nn.Module):
    """Tokens -> nn.MultiheadAttention (batch second, attention weights requested as
    by default: torch's bmm path) -> mean over tokens -> classes."""

    def __init__(self, batch_first: bool):
        super().__init__()
        self.batch_first = batch_first
        self.emb = nn.Linear(8, 16)
        self.att = nn.MultiheadAttention(16, 4, batch_first=batch_first)
        self.head = nn.Linear(16, 5)
        with torch.no_grad():
            self.att.out_proj.bias.normal_()

    def forward(self, x):
        h = self.emb(x)
        if not self.batch_first:
            h = h.transpose(0, 1)
        a, _ = self.att(h, h, h)
        if not self.batch_first:
            a = a.transpose(0, 1)
        return self.head(a.mean(1))


class CrossAttention(nn.Module):
    """A learned query attending to the tokens (attention pooling): the packed
    in-projection weight is split into q, k and v weights inside the graph."""

    def __init__(self):
        super().__init__()
        self.q = nn.Parameter(torch.randn(1, 2, 16))
        self.emb = nn.Linear(8, 16)
        self.att = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        h = self.emb(x)
        a, _ = self.att(self.q.expand(x.shape[0], -1, -1), h, h)
        return self.head(a.flatten(1))


class ViT(nn.Module):
    """Patches -> class token and positions -> nn.TransformerEncoder -> LayerNorm -> head."""

    def __init__(self, batch_first: bool, activation: str, layers: int, norm_first: bool):
        super().__init__()
        self.batch_first = batch_first
        self.patch = nn.Conv2d(3, 16, 4, 4)
        self.cls = nn.Parameter(torch.randn(1, 1, 16))
        self.pos = nn.Parameter(torch.randn(1, 17, 16))
        layer = nn.TransformerEncoderLayer(
            16, 4, 32, 0.1, activation, batch_first=batch_first, norm_first=norm_first
        )
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        p = self.patch(x).flatten(2).transpose(1, 2)
        p = torch.cat([self.cls.expand(x.shape[0], -1, -1), p], 1) + self.pos
        if not self.batch_first:
            p = p.transpose(0, 1)
        h = self.enc(p)
        if not self.batch_first:
            h = h.transpose(0, 1)
        return self.head(self.norm(h[:, 0]))


class Recurrent(nn.Module):
    """An nn.GRU classifier: refused by name (``unsupported/``), unlike attention."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 6, batch_first=True)
        self.head = nn.Linear(6, 5)

    def forward(self, x):
        return self.head(self.gru(x)[0][:, -1])


def export(model: nn.Module, x: torch.Tensor, path: Path, exporter: str, opset: int) -> None:
    model.eval()
    kw = dict(input_names=["input"], output_names=["logits"], opset_version=opset)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        if exporter.endswith("static"):  # torch.onnx.export's default: a fixed batch of 1
            dynamo = exporter.startswith("dynamo")
            extra = {"external_data": False} if dynamo else {}
            torch.onnx.export(model, (x[:1],), path, dynamo=dynamo, **extra, **kw)
        elif exporter == "torchscript":
            dyn = {"input": {0: "batch"}, "logits": {0: "batch"}}
            torch.onnx.export(model, (x,), path, dynamo=False, dynamic_axes=dyn, **kw)
        else:
            dim = torch.export.Dim("batch", min=1, max=1024)
            torch.onnx.export(
                model,
                (x,),
                path,
                dynamo=True,
                dynamic_shapes=({0: dim},),
                external_data=False,
                **kw,
            )


def main() -> None:
    warnings.filterwarnings("ignore")
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    tokens, images = torch.randn(3, 6, 8), torch.randn(2, 3, 16, 16)
    cases = [
        ("mha_seq_first", SelfAttention(False), tokens, [("torchscript", 17), ("dynamo", 18)]),
        ("mha_batch_first", SelfAttention(True), tokens, [("torchscript", 14)]),
        ("mha_fixed_batch", SelfAttention(False), tokens, [("torchscript_static", 17)]),
        ("mha_fixed_batch", SelfAttention(True), tokens, [("dynamo_static", 18)]),
        ("mha_cross", CrossAttention(), tokens, [("dynamo", 20)]),
        ("vit_seq_first", ViT(False, "relu", 2, False), images, [("torchscript", 17)]),
        ("vit_norm_first", ViT(True, "gelu", 1, True), images, [("dynamo", 18)]),
    ]
    ref = {}
    for name, model, x, exports in cases:
        model.eval()
        with torch.no_grad():
            y = model(x).numpy()
        for exporter, opset in exports:
            stem = f"{name}_{exporter}_op{opset}"
            export(model, x, OUT / f"{stem}.onnx", exporter, opset)
            ref[f"{stem}.x"], ref[f"{stem}.y"] = x.numpy(), y
    np.savez_compressed(OUT / "reference.npz", **ref)
    gru = OUT.parent / "unsupported" / "gru_torchscript_op13.onnx"
    export(Recurrent(), tokens, gru, "torchscript", 13)


if __name__ == "__main__":
    main()
