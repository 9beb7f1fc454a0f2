"""Training and digital-forward timings of the network core (issue 7 speed targets).

Prints the wall time of training the default model with ``plain``, ``noise`` and
``hessian`` (30 epochs, as ``scripts/train_default.py`` ships them), each as a ratio
of the 5-minute budget, and the per-image digital forward time of WRN-16-4 on 32x32x3
inputs (random He-initialised weights, BN folded and unfolded), measured in the same run.

Usage: ``python benchmarks/bench_train.py [--epochs 30] [--wrn-images 32]``

How long: 611 s (10 min) on the shared 2-core machine at load average 27-30 (2026-11-25:
plain 118 s, noise 141 s, hessian 327 s, where a quiet machine trains plain and noise in
about 3 s each); ``--skip-hessian`` leaves out the longest part.
"""

from __future__ import annotations

import argparse
import os
import time

from xbar.network import load_dataset, load_model, synthetic_images
from xbar.network.train import train

BUDGET_S = 300.0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--sigma", type=float, default=0.15)
    ap.add_argument("--wrn-images", type=int, default=32)
    ap.add_argument("--skip-hessian", action="store_true")
    args = ap.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()}")
    data = load_dataset("digits")
    methods = [("plain", 0.0), ("noise", args.sigma)]
    if not args.skip_hessian:
        methods.append(("hessian", args.sigma))
    for method, sigma in methods:
        t0 = time.perf_counter()
        r = train("default", data, method=method, train_noise=sigma, epochs=args.epochs, seed=0)
        dt = time.perf_counter() - t0
        acc = r.model.accuracy(data.x_test, data.y_test)
        print(
            f"train default {method:8s} sigma {sigma:.2f}: {dt:7.1f} s "
            f"({dt / BUDGET_S:.3f} of the 5-minute budget), test accuracy {acc:.4f}"
        )

    model = load_model("wrn-16-4")
    folded = model.fold_batchnorm()
    x = synthetic_images(args.wrn_images, (32, 32, 3), seed=0)
    model.forward(x[:2])  # warm-up
    for label, m in (("unfolded", model), ("BN folded", folded)):
        t0 = time.perf_counter()
        m.predict(x, batch_size=16)
        dt = time.perf_counter() - t0
        print(
            f"WRN-16-4 digital forward ({label}, {m.n_parameters()} parameters): "
            f"{1e3 * dt / len(x):.1f} ms per image over {len(x)} images"
        )
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
