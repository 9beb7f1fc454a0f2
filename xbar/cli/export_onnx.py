"""``xbar export-onnx``: write a zoo, shipped, trained or imported model as an ONNX file.

The file takes NCHW images with a dynamic batch (like a PyTorch export), runs in
any ONNX runtime and imports back with ``xbar infer --model FILE.onnx``.

Examples::

    xbar export-onnx default --out default.onnx
    xbar export-onnx wrn-16-4 --out wrn.onnx --opset 18
    xbar export-onnx my_model --out my_model.onnx      # a model saved by `xbar train`
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "write a model as an ONNX file (NCHW input, dynamic batch)"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export-onnx",
        help=HELP,
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    p.add_argument(
        "model",
        metavar="NAME",
        help="shipped model (default, default_noise, default_hessian, default_act4), wrn-D-K, a "
        "model saved by `xbar train`, or an .onnx file",
    )
    p.add_argument("--out", required=True, metavar="FILE.onnx", help="file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset, 13 to 21 (default 17)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..checks import output_path
    from ..errors import ConfigError
    from ..network.model_io import load_model
    from ..network.onnx_export import save_onnx

    if not 13 <= args.opset <= 21:
        raise ConfigError(f"--opset {args.opset}: must be between 13 and 21")
    output_path(args.out, "--out file")  # a missing folder is named, not made
    model = load_model(args.model)
    path = save_onnx(model, args.out, opset=args.opset)
    summary = {
        "model": args.model,
        "out": str(path),
        "opset": args.opset,
        "input": ["batch", *_nchw(model.input_shape)],
        "classes": model.classes,
        "matmul_layers": len(model.matmul_layers()),
        "bytes": path.stat().st_size,
    }
    if args.json:
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(
            f"wrote {path} ({summary['bytes']} bytes, opset {args.opset}): input "
            f"{summary['input']} NCHW, {model.classes} logits, "
            f"{summary['matmul_layers']} matmul layers\n"
        )
    return 0


def _nchw(shape: tuple[int, ...]) -> list[int]:
    return [shape[2], shape[0], shape[1]] if len(shape) == 3 else list(shape)
