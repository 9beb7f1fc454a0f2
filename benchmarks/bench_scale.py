"""Whole-network scale (issue 13 item 5): analog vs digital per image, images/s per core, Dask.

1. WRN-16-4 and ResNet-20 (the ONNX helper's graph) on 32x32x3 synthetic images:
   per-image time of the analog forward pass
   (exact parasitics, transfer matrices cached: setup excluded) against the digital
   forward pass of the same folded model on the same images, same batch size, in
   this run; with and without energy accounting (``evaluate(energy=...)``).  Each
   ``evaluate`` call streams 1 and ``--batches`` batches through its chip: the first
   batch after programming a chip also pays for memory the chip's setup gave back to
   the system (page faults, about 1 ms per image of ResNet-20 at batch 4), which a
   stream of images pays once per chip.
2. Images per second per core for the default CNN and for WRN-16-4 (1 chip, 1
   thread), and the same work spread over a Dask LocalCluster of 1 and 2 workers
   (one thread each): wall time, images/s, and each worker's peak memory.

Usage::

    python benchmarks/bench_scale.py                        # all, WRN 8 images
    python benchmarks/bench_scale.py --wrn-images 4 --no-wrn-parasitics   # quicker
    python benchmarks/bench_scale.py --skip-dask
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

# run from a checkout without installing: the repository root first on the path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def _model(name: str):
    from xbar.network import load_model

    if name == "resnet-20":  # the ONNX helper's torch-style graph (needs the onnx package)
        from xbar.network.onnx_import import load_onnx
        from xbar.network.onnx_zoo import resnet20

        return load_onnx(resnet20())
    return load_model(name)


def per_image_times(name: str, n: int, batches: int, repeats: int, parasitics: bool = True):
    """(digital, analog, analog + energy) seconds per image, each (repeats,): a stream of
    ``batches`` batches of ``n`` synthetic images per ``evaluate`` call (one chip, its
    transfer matrices and power forms cached, one thread), the digital forward pass of
    the same folded model on the same images and batches; interleaved repeats.  The
    process keeps freed memory as the ``xbar`` command does (:mod:`xbar.memory`)."""
    from xbar import memory
    from xbar.network import AnalogConfig, Dataset, evaluate

    memory.apply()  # as the xbar command does (XBAR_KEEP_MEMORY=0 measures without)
    from xbar.network.data import synthetic_images
    from xbar.network.tiles import TransferCache
    from xbar.threads import limit

    model = _model(name)
    k = n * batches
    x = synthetic_images(k + 2, (32, 32, 3), seed=0)
    y = np.zeros(k + 2, dtype=np.int64)
    ds = Dataset(x[:2], y[:2], x[:1], y[:1], x[2:], y[2:], "synthetic", 10)
    folded = model.fold_batchnorm()
    r = dict(r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0) if parasitics else {}
    cfg = AnalogConfig(**r)
    cache = TransferCache(max_bytes=1 << 31)
    opts = dict(dataset=ds, batch_size=n, cache=cache, ideal_accuracy=0.0)
    rows = []
    with limit(1):
        evaluate(model, cfg, energy=True, **opts)  # programs the chip, fills the cache
        for _ in range(repeats):
            t0 = time.perf_counter()
            folded.predict(x[2:], batch_size=n)
            dig = (time.perf_counter() - t0) / k
            an = evaluate(model, cfg, energy=False, **opts).per_image_seconds
            en = evaluate(model, cfg, energy=True, **opts).per_image_seconds
            rows.append((dig, an, en))
    return tuple(np.array(v) for v in zip(*rows, strict=True))


def analog_vs_digital(name: str, n: int, parasitics: bool, batches: int = 5) -> None:
    print(f"\n## {name} per image, {n} images per batch ({load()})")
    w = "exact parasitics, cached W_eff" if parasitics else "no parasitics (same matmuls)"
    print(f"| per image | digital forward | analog ({w}) | ratio | analog + energy | ratio |")
    print("|---|---|---|---|---|---|")
    for b in sorted({1, batches}):
        dig, an, en = per_image_times(name, n, b, 2, parasitics)
        d, a, e = dig.min(), an.min(), en.min()
        print(
            f"| {name}, {b} batch{'es' if b > 1 else ''} of {n} | {d * 1e3:.1f} ms "
            f"| {a * 1e3:.1f} ms | **{a / d:.2f}x** | {e * 1e3:.1f} ms | {e / d:.2f}x |"
        )
    print(f"  (best of 2; {load()} after)")


def _task(model_name: str, dataset: str, chip: int, limit_images: int, parasitics: bool):
    """One chip's evaluation on a worker (one thread); returns (images, seconds, max RSS MiB)."""
    from xbar.network import AnalogConfig, evaluate, load_dataset, load_model
    from xbar.threads import limit

    with limit(1):
        model = load_model(model_name)
        ds = load_dataset(dataset)
        cfg = AnalogConfig(
            programming_error="state_proportional",
            programming_sigma=0.05,
            **(dict(r_row=1.0, r_col=1.0) if parasitics else {}),
        )
        t0 = time.perf_counter()
        res = evaluate(model, cfg, dataset=ds, chips=[chip], limit=limit_images, energy=False)
        sec = time.perf_counter() - t0
    return res.n_images, sec, _peak_mib()


def _peak_mib() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's over
    fork + exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM"):
                    return int(line.split()[1]) / 1024.0
    except OSError:  # pragma: no cover - not Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def dask_scaling(tasks: int) -> None:
    from distributed import Client, LocalCluster

    print(f"\n## images per second: one core, Dask LocalCluster 1 and 2 workers ({load()})")
    print("| model | where | tasks (chips) | wall | images/s | per-worker peak MiB |")
    print("|---|---|---|---|---|---|")
    # WRN without wires here: its 331 exact 128x128 transfer matrices take minutes per chip on
    # this machine, and the per-image work with cached matrices is the same matmuls
    for model, data, n_img, wires in (
        ("default", "digits", 539, True),
        ("wrn-16-4", "synthetic-32x32x3", 8, False),
    ):
        t0 = time.perf_counter()
        n, sec, rss = _task(model, data, 0, n_img, wires)
        wall = time.perf_counter() - t0
        label = f"{model}{' (1-ohm wires)' if wires else ''}"
        print(
            f"| {label} | this process, 1 thread | 1 | {wall:.2f} s (eval {sec:.2f} s) | "
            f"{n / sec:.1f} | {rss:.0f} (this process) |"
        )
        for workers in (1, 2):
            with (
                LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cluster,
                Client(cluster) as client,
            ):
                client.submit(_task, model, data, 0, 1, wires).result()  # warm the workers
                t0 = time.perf_counter()
                futs = [
                    client.submit(_task, model, data, c, n_img, wires, pure=False)
                    for c in range(tasks)
                ]
                res = client.gather(futs)
                wall = time.perf_counter() - t0
                images = sum(r[0] for r in res)
                peaks = sorted({round(r[2]) for r in res})
                print(
                    f"| {label} | Dask, {workers} worker(s) | {tasks} | {wall:.2f} s | "
                    f"{images / wall:.1f} | {peaks} |"
                )
    print(f"  ({load()} after)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wrn-images", type=int, default=8)
    ap.add_argument(
        "--no-wrn-parasitics",
        action="store_true",
        help="skip the 331 exact 128x128 transfer matrices (same per-image matmuls)",
    )
    ap.add_argument(
        "--batches", type=int, default=5, help="batches per evaluate call (and 1) per image"
    )
    ap.add_argument("--skip-wrn", action="store_true")
    ap.add_argument("--models", nargs="+", default=["wrn-16-4", "resnet-20"])
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--tasks", type=int, default=4, help="chips per Dask run")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs, {load()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if not args.skip_wrn:
        for name in args.models:
            analog_vs_digital(name, args.wrn_images, not args.no_wrn_parasitics, args.batches)
    if not args.skip_dask:
        dask_scaling(args.tasks)


if __name__ == "__main__":
    main()
