"""``xbar train``: train a network (plain, noise-injection or Hessian-penalty) and save it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._data import DATASET_HELP, add_data_arguments, load_for_model


def _add_method_arguments(p: argparse.ArgumentParser) -> None:
    """The training method and its options: noise level, draws, the curvature penalty
    and its report, quantisation-aware training."""
    p.add_argument("--method", default="plain", help="plain | noise | hessian (default: plain)")
    p.add_argument(
        "--train-noise",
        type=float,
        default=0.0,
        metavar="SIGMA",
        help="relative weight error sigma for noise/hessian: paper 2's deployed error, "
        "the one of --programming-error weight_range (merged-range rule per layer's "
        "weight and bias, batch-norm affine as its own layer)",
    )
    p.add_argument(
        "--train-mu",
        type=float,
        default=0.0,
        metavar="MU",
        help="paper 2's mean offset of the training noise (--method noise): every draw is "
        "r (sigma n + mu), as --programming-mu on chips (default 0)",
    )
    p.add_argument(
        "--draws",
        type=int,
        default=1,
        help="noise draws (noise) or Rademacher vectors (hessian) per step (default 1)",
    )
    p.add_argument(
        "--hessian-weight",
        type=float,
        default=1.0,
        help="weight of the curvature penalty (hessian; 1 = the second-order "
        "expansion of the expected loss under the noise; default 1)",
    )
    p.add_argument(
        "--hessian-step",
        type=float,
        default=0.01,
        metavar="EPS",
        help="finite-difference step of the curvature estimate, in units of the "
        "noise scale (default 0.01)",
    )
    p.add_argument(
        "--curvature-sigma",
        type=float,
        default=None,
        metavar="SIGMA",
        help="noise level of the reported curvature term (1/2) sum s_i^2 H_ii "
        "(default: --train-noise, or 0.15 for plain)",
    )
    p.add_argument(
        "--curvature-samples",
        type=int,
        default=32,
        metavar="N",
        help="Rademacher vectors of the curvature report (0: no report; default 32)",
    )
    p.add_argument(
        "--activation-bits",
        type=int,
        default=0,
        metavar="B",
        help="quantisation-aware training: quantise every matmul layer's input to B "
        "bits (straight-through estimator); 0 = off",
    )


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help="train a network (embedded digits or a data set on disk) and save it",
        description="Train a model (numpy, hand-written backward passes) and save it as "
        "OUT.json + OUT.npz, loadable by `xbar infer --model OUT`.",
    )
    p.add_argument(
        "--model",
        default="default",
        help="architecture ('default', 'wrn-D-K') or a saved model to start from "
        "(default: default)",
    )
    p.add_argument("--dataset", default="digits", help=DATASET_HELP)
    p.add_argument(
        "--epochs",
        type=int,
        default=30,
        help="training epochs; the best validation epoch is kept (default 30)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of initialisation, batches and noise (default 0)"
    )
    p.add_argument(
        "--batch-size", type=int, default=32, help="images per training step (default 32)"
    )
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    _add_method_arguments(p)
    p.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="output stem; writes PATH.json and PATH.npz (the directory must "
        "exist and be writable)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    add_data_arguments(p)
    p.set_defaults(func=run)
    return p


def _check_out(path: str) -> Path:
    from ..errors import ConfigError

    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".npz", ".json") else p
    if stem.exists() and stem.is_dir():
        raise ConfigError(f"--out {path!r} is a directory", hint="give a file stem, e.g. out/m")
    parent = stem.parent if str(stem.parent) else Path(".")
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        raise ConfigError(
            f"--out {path!r}: directory {str(parent)!r} {what}",
            hint="create the directory first, or choose an existing one",
        )
    try:
        for suffix in (".json", ".npz"):
            f = stem.with_name(stem.name + suffix)
            if f.exists():
                with open(f, "ab"):
                    pass
        probe = parent / f".{stem.name}.xbar-write-test"
        with open(probe, "wb"):
            pass
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"--out {path!r} is not writable: {exc.strerror or exc}",
            hint="choose a writable directory",
        ) from None
    return stem


def _summary(args, res, paths: list[str], acc: float) -> dict:
    """The JSON summary of a training run (``--json``)."""
    best = res.history[res.best_epoch - 1]
    return {
        "out": paths,
        "method": res.method,
        "train_noise": res.train_noise,
        "train_mu": res.train_mu,
        "activation_bits": args.activation_bits,
        "epochs": args.epochs,
        "seed": args.seed,
        "best_epoch": res.best_epoch,
        "val_accuracy": best["val_accuracy"],
        "val_noisy_accuracy": best["val_noisy_accuracy"],
        "test_accuracy": acc,
        "hessian_step": args.hessian_step,
        "hessian_weight": args.hessian_weight,
        "curvature": res.curvature.as_dict() if res.curvature else None,
        "seconds": res.seconds,
    }


def run(args) -> int:
    from ..network.train import check_train_mu, train, validate_train_args
    from ._progress import ProgressBar

    validate_train_args(
        args.method,
        args.train_noise,
        args.epochs,
        args.batch_size,
        args.lr,
        args.draws,
        args.hessian_weight,
        args.hessian_step,
    )
    check_train_mu(args.train_mu, args.method)
    if args.activation_bits != 0 and not 2 <= args.activation_bits <= 32:
        from ..errors import ConfigError

        raise ConfigError(f"--activation-bits {args.activation_bits}: must be 0 (off) or 2 to 32")
    stem = _check_out(args.out)
    from ..network.model_io import save_model

    data = load_for_model(args, args.model)  # flat models (MLPs) get flat images
    bar = ProgressBar(f"train {args.method}")
    res = train(
        args.model,
        data,
        method=args.method,
        train_noise=args.train_noise,
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        lr=args.lr,
        draws=args.draws,
        hessian_weight=args.hessian_weight,
        hessian_step=args.hessian_step,
        curvature_sigma=args.curvature_sigma,
        curvature_samples=args.curvature_samples,
        progress=bar,
        activation_bits=args.activation_bits,
        train_mu=args.train_mu,
    )
    res.model.name = stem.name
    jpath, npath = save_model(res.model, stem)
    acc = res.model.accuracy(data.x_test, data.y_test)
    best = res.history[res.best_epoch - 1]
    summary = _summary(args, res, [str(jpath), str(npath)], acc)
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"saved {jpath} and {npath}\nmethod {res.method} (sigma {res.train_noise}), best "
            f"epoch {res.best_epoch}/{args.epochs}, validation accuracy "
            f"{best['val_accuracy']:.4f} (under noise {best['val_noisy_accuracy']:.4f}), "
            f"test accuracy {acc:.4f}, {res.seconds:.1f} s",
            file=sys.stdout,
        )
        if res.curvature is not None:
            c = res.curvature
            print(
                f"curvature term (1/2) sum s_i^2 H_ii at sigma {c.sigma:g}: "
                f"{c.value:.4g} +- {c.stderr:.2g} (std. error, {c.samples} vectors, "
                f"{c.images} training images, step {c.step:g})",
                file=sys.stdout,
            )
    return 0
