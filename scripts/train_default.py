"""Train and ship the default digits models, then check their robustness digitally.

Writes ``xbar/data/models/{default,default_noise,default_hessian}.{json,npz}`` and
``xbar/data/models/README.md`` (training settings, times, accuracies and the 20-chip
robustness check of issue 7, with the paper-2 weight-range error of
``xbar.network.noise``).

Usage: ``python scripts/train_default.py [--out DIR] [--sigma 0.15] [--epochs 30]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from xbar.network import load_dataset, load_model, save_model
from xbar.network.noise import chip_accuracies
from xbar.network.train import train

ROOT = Path(__file__).resolve().parents[1]
SIGMAS = [0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.25, 0.3]
CHIPS = 20
#: what the table's differences can and cannot say (written under it)
_ONE_SEED_NOTE = (
    "These are point estimates over 20 chips of one trained model per method (one "
    "training seed each; the std is the chip-to-chip spread, not an interval). The 95 "
    "% intervals over 100 chips are in `docs/resilience.md`, over 5 training seeds in "
    "`docs/training.md` (there noise and hessian training both beat plain training at "
    "sigma 0.1-0.2, and hessian minus noise is none at sigma 0.1): a difference "
    "between two of these models is a property of these trained weights, not evidence "
    "about the training methods."
)
CHIP_SEED = 1


def _same_as_shipped(model, path: Path, atol: float = 1e-12) -> bool:
    """True when ``path`` already holds this model up to rounding (``atol``): the file is
    then kept, so a retrain that reproduces a model does not churn it."""
    if not path.with_suffix(".npz").exists():
        return False
    old = load_model(path)
    new, prev = model.parameters(), old.parameters()
    return new.keys() == prev.keys() and all(
        new[k].shape == prev[k].shape and np.allclose(new[k], prev[k], rtol=0, atol=atol)
        for k in new
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "xbar" / "data" / "models"))
    ap.add_argument("--sigma", type=float, default=0.15, help="training noise of the robust models")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = Path(args.out)
    data = load_dataset("digits")
    runs = {
        "default": dict(method="plain", train_noise=0.0),
        "default_noise": dict(method="noise", train_noise=args.sigma),
        "default_hessian": dict(method="hessian", train_noise=args.sigma),
    }
    results = {}
    for name, kw in runs.items():
        t0 = time.perf_counter()
        res = train(
            "default",
            data,
            epochs=args.epochs,
            seed=args.seed,
            curvature_sigma=args.sigma,
            curvature_samples=64,
            **kw,
        )
        secs = time.perf_counter() - t0
        res.model.name = name
        kept = _same_as_shipped(res.model, out / name)
        if not kept:
            save_model(res.model, out / name)
        acc = res.model.accuracy(data.x_test, data.y_test)
        curve = [
            chip_accuracies(res.model, data.x_test, data.y_test, s, CHIPS, CHIP_SEED)
            for s in SIGMAS
        ]
        results[name] = {
            "settings": {**kw, "epochs": args.epochs, "seed": args.seed},
            "train_seconds": secs,
            "best_epoch": res.best_epoch,
            "test_accuracy": acc,
            "kept_shipped_file": kept,
            "curvature": res.curvature.as_dict(),
            "mean": [float(c.mean()) for c in curve],
            "std": [float(c.std()) for c in curve],
        }
        print(
            f"{name}: {kw} {secs:.1f} s, best epoch {res.best_epoch}, test accuracy {acc:.4f}, "
            f"curvature {res.curvature.value:.4f} +- {res.curvature.stderr:.4f}"
        )

    plain = results["default"]
    clean = plain["test_accuracy"]
    # first sigma at which the plain model loses >= 10 points of mean accuracy
    k = next(i for i, m in enumerate(plain["mean"]) if clean - m >= 0.10)
    s_star = SIGMAS[k]
    lines = [
        "# Shipped models (digits, NHWC 8x8x1)",
        "",
        "Trained by `python scripts/train_default.py` (library `xbar.network.train.train`).",
        f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs (shared; other jobs ran).",
        "",
        "Noise and hessian training draw paper 2's deployed error (merged-range rule per "
        "layer's weight and bias; `xbar.network.noise.parameter_noise`, the code of "
        "`--programming-error weight_range` chips); `hessian` is the explicit curvature "
        "penalty (finite-difference step 0.01 of the noise scale, activation patterns "
        "frozen, one Rademacher vector per step).  Curvature term (1/2) E[d^T H d] of the "
        f"same error at sigma {args.sigma} on the first 512 training images, 64 vectors "
        "(mean +- standard error).",
        "",
        "| model | method | train sigma | epochs | train time (s) | best epoch | test accuracy "
        "| curvature term |",
        "|---|---|---|---|---|---|---|---|",
    ]
    kept = [name for name, r in results.items() if r["kept_shipped_file"]]
    if kept:
        lines[-2:-2] = [
            f"Kept as shipped (this run reproduced them to 1e-12): {', '.join(kept)}.",
            "",
        ]
    for name, r in results.items():
        st = r["settings"]
        lines.append(
            f"| {name} | {st['method']} | {st['train_noise']} | {st['epochs']} | "
            f"{r['train_seconds']:.1f} | {r['best_epoch']} | {r['test_accuracy']:.4f} | "
            f"{r['curvature']['value']:.3f} +- {r['curvature']['stderr']:.3f} |"
        )
    lines += [
        "",
        f"Mean test accuracy over {CHIPS} chips (paper 2's error, merged-range rule, chip k "
        f"seeded by SeedSequence({CHIP_SEED}).spawn({CHIPS})[k]; std in brackets):",
        "",
        "| sigma | " + " | ".join(results) + " |",
        "|---" * (len(results) + 1) + "|",
    ]
    for i, s in enumerate(SIGMAS):
        lines.append(
            f"| {s:.2f} | "
            + " | ".join(f"{r['mean'][i]:.4f} ({r['std'][i]:.4f})" for r in results.values())
            + " |"
        )
    lines += [
        "",
        f"Sigma where plain loses >= 10 points: **{s_star}** "
        f"(plain {plain['mean'][k]:.4f}, loss {clean - plain['mean'][k]:.4f}).",
        "",
    ]
    for name in ("default_noise", "default_hessian"):
        r = results[name]
        loss = clean - plain["mean"][k]
        recovered = (r["mean"][k] - plain["mean"][k]) / loss
        dclean = r["test_accuracy"] - clean
        ok = recovered >= 0.5 and abs(dclean) <= 0.01
        lines.append(
            f"- {name}: mean {r['mean'][k]:.4f} at sigma {s_star}, recovers "
            f"{100 * recovered:.0f}% of the loss; clean accuracy {dclean * 100:+.2f} "
            f"points vs plain -> {'PASS' if ok else 'FAIL'} (bar: >= 50%, within 1 point)"
        )
    lines += ["", _ONE_SEED_NOTE]
    text = "\n".join(lines) + "\n"
    (out / "README.md").write_text(text)
    (out / "training_summary.json").write_text(
        json.dumps(
            {"sigmas": SIGMAS, "chips": CHIPS, "sigma_star": s_star, "results": results}, indent=1
        )
    )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
