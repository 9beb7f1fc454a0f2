"""Training methods at equal gradient cost over several training seeds (issue 12 item 7).

Trains the default digits CNN with each method and seed, then measures every model on
the same chips (common random numbers): clean test accuracy, mean test accuracy over
``--chips`` chips of paper 2's weight-range error at each sigma, and the curvature term
``(1/2) sum s_i^2 H_ii`` at sigma 0.15 on 512 training images.  Methods (gradients per
step in brackets):

* ``plain`` (1): reference, a third of the others' cost;
* ``noise`` (3): noise injection, ``draws=3`` fresh draws averaged per step;
* ``hessian`` (3): the explicit curvature penalty, one Rademacher vector per step
  (3 gradients), finite-difference step 0.01 of the noise scale, activation patterns
  frozen (the library default).

Writes ``docs/figures/hessian_study.csv`` (one row per method and seed; rerunning
reuses finished rows) and ``docs/figures/hessian_study.md`` (means with 95% t-intervals
over seeds, and paired differences between methods with their intervals).

Usage: ``python experiments/hessian_study.py [--seeds 5] [--chips 50] [--epochs 30]``
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

from xbar.network import load_dataset
from xbar.network.noise import chip_accuracies
from xbar.network.train import CURVATURE_IMAGES, curvature_term, train

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"
SIGMA = 0.15
EVAL_SIGMAS = (0.1, 0.15, 0.2)
CHIP_SEED = 1
METHODS = {
    "plain": dict(method="plain", train_noise=0.0),
    "noise": dict(method="noise", train_noise=SIGMA, draws=3),
    "hessian": dict(method="hessian", train_noise=SIGMA, draws=1, hessian_step=0.01),
}
GRADS = {"plain": 1, "noise": 3, "hessian": 3}
FIELDS = (
    ["method", "seed", "grads_per_step", "epochs", "train_seconds", "best_epoch", "clean"]
    + [f"acc_{s}" for s in EVAL_SIGMAS]
    + ["curvature", "curvature_se"]
)


def measure(method: str, seed: int, epochs: int, chips: int, data) -> dict:
    t0 = time.perf_counter()
    res = train("default", data, epochs=epochs, seed=seed, curvature_samples=0, **METHODS[method])
    secs = time.perf_counter() - t0
    m = res.model
    row = {
        "method": method,
        "seed": seed,
        "grads_per_step": GRADS[method],
        "epochs": epochs,
        "train_seconds": round(secs, 2),
        "best_epoch": res.best_epoch,
        "clean": m.accuracy(data.x_test, data.y_test),
    }
    for s in EVAL_SIGMAS:
        row[f"acc_{s}"] = float(
            chip_accuracies(m, data.x_test, data.y_test, s, chips, CHIP_SEED).mean()
        )
    c = curvature_term(
        m,
        data.x_train[:CURVATURE_IMAGES],
        data.y_train[:CURVATURE_IMAGES],
        SIGMA,
        samples=64,
        step=0.01,
        seed=12345,
    )
    row["curvature"], row["curvature_se"] = c.value, c.stderr
    return row


def interval(x: np.ndarray) -> tuple[float, float]:
    """Mean and 95% t half-width over seeds."""
    x = np.asarray(x, float)
    half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return float(x.mean()), float(half)


def fmt(mean: float, half: float, scale: float = 100.0, digits: int = 1) -> str:
    return f"{scale * mean:.{digits}f} +/- {scale * half:.{digits}f}"


def report(rows: list[dict], chips: int, epochs: int) -> str:
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    seeds = sorted({int(r["seed"]) for r in rows})
    get = {(r["method"], int(r["seed"])): r for r in rows}
    cols = ["clean"] + [f"acc_{s}" for s in EVAL_SIGMAS]
    lines = [
        f"Default CNN on digits, {epochs} epochs, training seeds {seeds}; accuracy on "
        f"all 539 test images, {chips} chips per (model, sigma), the same chips for every "
        "model; mean over seeds +/- 95% t half-width (n = number of seeds).",
        "",
        "| method | grads/step | clean (%) | "
        + " | ".join(f"sigma {s} (%)" for s in EVAL_SIGMAS)
        + " | curvature at 0.15 | "
        "train s |",
        "|---" * (5 + len(EVAL_SIGMAS)) + "|",
    ]
    for m in methods:
        rs = [get[(m, s)] for s in seeds if (m, s) in get]
        cells = [fmt(*interval([float(r[c]) for r in rs])) for c in cols]
        cu = fmt(*interval([float(r["curvature"]) for r in rs]), scale=1, digits=3)
        ts = np.mean([float(r["train_seconds"]) for r in rs])
        lines.append(
            f"| {m} (n={len(rs)}) | {GRADS[m]} | " + " | ".join(cells) + f" | {cu} | {ts:.0f} |"
        )
    lines += [
        "",
        "Paired differences (same seed, same chips), first minus second, "
        "percentage points (curvature: absolute); 'none' when the 95% interval "
        "contains 0:",
        "",
        "| comparison | "
        + " | ".join(c.replace("acc_", "sigma ") for c in cols)
        + " | curvature |",
        "|---" * (2 + len(cols)) + "|",
    ]
    for a, b in (("hessian", "noise"), ("noise", "plain"), ("hessian", "plain")):
        common = [s for s in seeds if (a, s) in get and (b, s) in get]
        if len(common) < 2:
            continue
        cells = []
        for c in cols + ["curvature"]:
            d = [float(get[(a, s)][c]) - float(get[(b, s)][c]) for s in common]
            mean, half = interval(d)
            scale, dg = (1, 3) if c == "curvature" else (100, 2)
            verdict = "none" if abs(mean) <= half else ("higher" if mean > 0 else "lower")
            cells.append(f"{fmt(mean, half, scale, dg)} ({verdict})")
        lines.append(f"| {a} - {b} (n={len(common)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument(
        "--first-seed", type=int, default=0, help="train seeds first-seed .. first-seed + seeds - 1"
    )
    ap.add_argument("--chips", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "hessian_study.csv"
    rows = list(csv.DictReader(open(path))) if path.exists() else []
    done = {(r["method"], int(r["seed"])) for r in rows}
    data = load_dataset("digits")
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for m in args.methods:
            if (m, seed) in done:
                continue
            row = measure(m, seed, args.epochs, args.chips, data)
            rows.append(row)
            new = not path.exists()
            with open(path, "a", newline="") as f:
                w = csv.DictWriter(f, FIELDS)
                if new:
                    w.writeheader()
                w.writerow(row)
            print(f"{m} seed {seed}: {row}", file=sys.stderr, flush=True)
    text = report(rows, args.chips, args.epochs)
    (args.out / "hessian_study.md").write_text(text)
    if args.out == OUT:  # the numbers of docs/training.md
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _common import fill_doc

        fill_doc(ROOT / "docs" / "training.md", "hessian_study", text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
