"""Write ResNet-20 and WRN-16-4 as ONNX files in torch.onnx.export's style (no PyTorch needed).

    python examples/onnx/make_cifar_models.py --out models/

writes ``models/resnet20.onnx`` (0.27 M parameters, 1.1 MB) and
``models/wrn-16-4.onnx`` (2.7 M parameters, 11 MB): NCHW inputs ``(batch, 3, 32,
32)``, unfolded ``BatchNormalization``, ``Gemm`` with ``transB=1``, and for
ResNet-20 the ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` flatten that
``x.view(x.size(0), -1)`` exports to (see :mod:`xbar.network.onnx_zoo`).  The
weights are He-normal from ``--seed`` (untrained: accuracy is chance level), so
the files time and exercise the CIFAR-scale path; a trained network exported by
``torch.onnx.export`` goes through the same commands.  Then, for example::

    xbar infer --model models/resnet20.onnx --dataset cifar10:~/data/cifar-10-batches-bin \\
        --mean 0.4914,0.4822,0.4465 --std 0.2470,0.2435,0.2616 --limit 200 \\
        --config examples/rram_128.toml --repeats 2
    xbar infer --model models/resnet20.onnx --dataset synthetic-32x32x3 --limit 16 \\
        --config examples/rram_128.toml --repeats 1      # no CIFAR on disk
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv=None) -> int:
    import onnx

    from xbar.network import onnx_zoo

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="models", help="output folder (created)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--opset", type=int, default=17)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, proto in (
        ("resnet20", onnx_zoo.resnet20(seed=args.seed, opset=args.opset)),
        ("wrn-16-4", onnx_zoo.wide_resnet(16, 4, seed=args.seed, opset=args.opset)),
    ):
        path = out / f"{name}.onnx"
        onnx.save(proto, str(path))
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {len(proto.graph.node)} nodes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
