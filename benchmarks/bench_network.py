"""Network evaluator benchmark (issue 5 / 7): the cost of exact array parasitics.

Prints ratios against a baseline measured in the same run:

1. the whole default test set, one chip, with exact parasitics on every tile
   (cached transfer matrices) vs the same evaluation with parasitics off (same
   mapping, peripherals and errors); target <= 2x;
2. a 20-chip evaluation with vs without parasitics; target <= 3x;
3. per-image analog inference of WRN-16-4 on 32x32x3 synthetic inputs, with and
   without parasitics (a few images);
4. nonlinear (sinh) cells: the linearised scheme's error and time against exact
   per-MVM circuit solves (a few test images).

How long: the default run took 791 s (13 min) on the shared 2-core machine at load average
30 (2026-11-25); most of it is the WRN-16-4 part (``--skip-wrn`` leaves it out) and the
exact per-MVM sinh solves.  ``--quick`` is a smoke test.

Usage: ``python benchmarks/bench_network.py [--quick] [--chips N] [--wrn-images N]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

# one BLAS thread: on a shared 2-core machine OpenBLAS threads oversubscribe badly
# (small-matrix LAPACK calls become 10-50x slower); set the variable to override
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def _run(label, model, cfg, data, **kw):
    from xbar.network.evaluate import evaluate
    from xbar.network.tiles import TransferCache

    t0 = time.perf_counter()
    r = evaluate(model, cfg, dataset=data, cache=TransferCache(), **kw)  # a cold cache
    wall = time.perf_counter() - t0
    print(
        f"  {label:<34} acc {r.accuracy:.4f}  total {wall:7.2f} s  setup {r.setup_seconds:6.2f} s"
        f"  transfer {r.cache['seconds']:6.2f} s ({r.cache['misses']} tiles)"
        f"  per image {r.per_image_seconds * 1e3:8.3f} ms",
        flush=True,
    )
    return r, wall


def _nonlinear_error(model, cfg, data) -> None:
    """Per-layer error of the linearised scheme against exact solves on the same inputs."""
    from xbar.network.evaluate import plan_network, program_chip
    from xbar.network.tiles import TransferCache

    folded, plans = plan_network(model, cfg)
    net = program_chip(plans, folded, cfg, 0, TransferCache())
    net.calibrate(folded, np.asarray(data.x_train[: cfg.calibration_size]))
    exact_cfg = cfg.replace(nonlinear_mode="exact")
    wires_off = cfg.replace(r_row=0.0, r_col=0.0, r_driver=0.0, r_sense=0.0)
    errs: dict[str, list[float]] = {}

    def hook(layer, X):
        al = net.layers[layer.name]
        y_lin = al.mvm(X, None, track=False)
        al.config = exact_cfg
        y_ex = al.mvm(X, None, track=False)
        al.config = wires_off
        y_iw = al.mvm(X, None, track=False)
        al.config = cfg
        e = errs.setdefault(layer.name, [0.0, 0.0, 0.0])
        e[0] += float(np.sum((y_lin - y_ex) ** 2))
        e[1] += float(np.sum(y_ex**2))
        e[2] += float(np.sum((y_iw - y_ex) ** 2))
        return y_ex

    folded.forward(np.asarray(data.x_test[:20]), mvm=hook)
    for name, (num, den, iw) in errs.items():
        print(
            f"  {name:<10} ||Y_linearised - Y_exact|| / ||Y_exact|| = {np.sqrt(num / den):.2e}"
            f"  (ignoring the wires: {np.sqrt(iw / den):.2e})"
        )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer images / chips")
    ap.add_argument("--chips", type=int, default=20)
    ap.add_argument("--wrn-images", type=int, default=2)
    ap.add_argument("--skip-wrn", action="store_true")
    args = ap.parse_args(argv)

    from xbar.network import Dataset, load_dataset, load_model, synthetic_images
    from xbar.network.config import AnalogConfig

    model = load_model("default")
    data = load_dataset("digits")
    limit = 200 if args.quick else None
    chips = 4 if args.quick else args.chips
    base = AnalogConfig(
        adc_bits=8,
        programming_error="state_proportional",
        programming_sigma=0.05,
        read_noise_sigma=0.01,
    )
    par = base.replace(r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0)

    # warm-up (imports, first LAPACK calls) so that one-time costs are not timed
    from xbar.network.evaluate import evaluate
    from xbar.network.tiles import TransferCache

    for cfg in (base, par):
        evaluate(model, cfg, dataset=data, limit=5, chips=[99], cache=TransferCache())

    print(f"1. default test set ({limit or data.x_test.shape[0]} images), one chip")
    off, t_off = _run("parasitics off", model, base, data, limit=limit)
    on, t_on = _run("exact parasitics (cached W_eff)", model, par, data, limit=limit)
    print(f"  ratio on/off: {t_on / t_off:.2f}x (target <= 2x)\n")

    print(f"2. {chips} chips")
    off20, t_off20 = _run("parasitics off", model, base.replace(repeats=chips), data, limit=limit)
    on20, t_on20 = _run(
        "exact parasitics (cached W_eff)", model, par.replace(repeats=chips), data, limit=limit
    )
    print(
        f"  ratio on/off: {t_on20 / t_off20:.2f}x (target <= 3x); accuracy "
        f"{off20.accuracy:.4f} +/- {off20.accuracy_std:.4f} vs {on20.accuracy:.4f} +/- "
        f"{on20.accuracy_std:.4f}\n"
    )

    print("3. nonlinear sinh cells (k = 4 / V, v_read = 0.2 V), 20 test images")
    nl = par.replace(
        device="sinh", read_noise_sigma=0.0, adc_bits=0, adc_range=None, calibration_size=32
    )
    lin_r, t_lin = _run("linearised + correction", model, nl, data, limit=20)
    ex_r, t_ex = _run(
        "exact per-MVM solves", model, nl.replace(nonlinear_mode="exact"), data, limit=20
    )
    print(f"  time exact / linearised: {t_ex / t_lin:.1f}x")
    _nonlinear_error(model, nl, data)
    print()

    if not args.skip_wrn:
        n = args.wrn_images
        print(f"4. WRN-16-4 on 32x32x3 synthetic inputs ({n} images, 2 calibration images)")
        wrn = load_model("wrn-16-4")
        x = synthetic_images(n + 2, (32, 32, 3), seed=0)
        y = np.zeros(n + 2, dtype=np.int64)
        ds = Dataset(x[:2], y[:2], x[:1], y[:1], x[2:], y[2:], "synthetic", 10)
        t0 = time.perf_counter()
        wrn.fold_batchnorm().predict(x[2:], batch_size=n)
        t_dig = (time.perf_counter() - t0) / n
        print(f"  digital forward: {t_dig * 1e3:.1f} ms per image")
        w_base = AnalogConfig(adc_bits=8, calibration_size=2)
        r_off, _ = _run("parasitics off", wrn, w_base, ds, batch_size=n, ideal_accuracy=0.0)
        r_on, _ = _run(
            "exact parasitics (cached W_eff)",
            wrn,
            w_base.replace(r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0),
            ds,
            batch_size=n,
            ideal_accuracy=0.0,
        )
        print(
            f"  per image: {r_off.per_image_seconds:.3f} s without, "
            f"{r_on.per_image_seconds:.3f} s with parasitics; setup {r_off.setup_seconds:.1f} s"
            f" vs {r_on.setup_seconds:.1f} s ({r_on.cache['misses']} transfer matrices)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
