"""ONNX / CIFAR-scale benchmark (issue 11): ResNet-20 on 32x32x3 images.

Prints, measured in the same run (best of ``--repeats`` timings, so that other jobs on
a shared machine disturb the numbers less):

1. digital forward per image of the imported ResNet-20 (torch-style graph from
   :mod:`xbar.network.onnx_zoo`): xbar (float64 numpy) against the ONNX reference
   evaluator (``onnx.reference``) and onnxruntime when it is installed;
2. analog inference per image and chip (``evaluate(...).per_image_seconds``) with
   exact wire parasitics from cached transfer matrices (second evaluation on a warm
   cache) and without parasitics, against xbar's own digital forward of the same
   batch-norm-folded model (target: analog with parasitics <= 1.5x digital), without
   and with the energy report (``evaluate(energy=True)``, the default, which adds the
   power forms of every tile read);
3. the setup (mapping, programming, transfer matrices, calibration) of one chip.

Usage: ``python benchmarks/bench_onnx.py [--images N] [--repeats R]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    from onnx.reference import ReferenceEvaluator

    from xbar.network import AnalogConfig, evaluate, load_onnx, onnx_zoo
    from xbar.network.data import synthetic_dataset
    from xbar.network.evaluate import default_batch_size
    from xbar.network.tiles import TransferCache

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"load {os.getloadavg()[0]:.1f}; numpy threads "
        f"{os.environ.get('OPENBLAS_NUM_THREADS')}"
    )
    proto = onnx_zoo.resnet20()
    model = load_onnx(proto)
    folded = model.fold_batchnorm()
    n = args.images
    data = synthetic_dataset((32, 32, 3), sizes=(256, 16, n))
    x = data.x_test
    x32 = x.transpose(0, 3, 1, 2).astype(np.float32)
    bs = default_batch_size(model)

    def xbar_digital():
        for s in range(0, n, bs):
            folded.forward(x[s : s + bs])

    t_x = best(xbar_digital, args.repeats) / n
    print(f"1. digital ResNet-20 forward per image ({n} images, batch {bs})")
    print(f"   xbar (folded BN)          {t_x * 1e3:9.3f} ms")
    t_u = best(lambda: model.forward(x[:bs]), args.repeats) / min(bs, n)
    print(f"   xbar (unfolded BN)        {t_u * 1e3:9.3f} ms")
    ref = ReferenceEvaluator(proto)
    k = min(n, 8)
    t_r = best(lambda: ref.run(None, {"input": x32[:k]}), args.repeats) / k
    print(f"   onnx.reference            {t_r * 1e3:9.3f} ms   (xbar {t_r / t_x:.1f}x faster)")
    try:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(proto.SerializeToString(), so)
        t_o = best(lambda: sess.run(None, {"input": x32}), args.repeats) / n
        print(f"   onnxruntime (1 thread)    {t_o * 1e3:9.3f} ms   (xbar {t_x / t_o:.1f}x slower)")
    except ImportError:
        print("   onnxruntime               not installed")

    print(
        "2. analog inference per image and chip (evaluate, 128x128 arrays, ideal "
        "peripherals, warm transfer-matrix cache)"
    )
    base = AnalogConfig().as_ideal().replace(array_rows=128, array_cols=128)
    wires = base.replace(r_row=1.0, r_col=1.0, r_driver=10.0, r_sense=10.0)
    for label, cfg, energy in (
        ("no parasitics", base, False),
        ("exact parasitics (1 ohm wires)", wires, False),
        ("exact parasitics + energy report", wires, True),
    ):
        cache = TransferCache()
        t0 = time.perf_counter()
        r = evaluate(
            model, cfg, dataset=data, chips=[0], cache=cache, ideal_accuracy=0.0, energy=energy
        )
        cold = time.perf_counter() - t0
        pers, ratios = [], []
        for _ in range(args.repeats):  # digital right before each analog run: paired ratios
            t_d = best(xbar_digital, 1) / n
            q = evaluate(
                model, cfg, dataset=data, chips=[0], cache=cache, ideal_accuracy=0.0, energy=energy
            )
            pers.append(q.per_image_seconds)
            ratios.append(q.per_image_seconds / t_d)
        per = min(pers)
        print(
            f"   {label:<34} {per * 1e3:8.3f} ms = {per / t_x:.2f}x xbar digital (paired "
            f"ratios {', '.join(f'{v:.2f}' for v in ratios)});  "
            f"first call {cold:.1f} s (setup {r.setup_seconds:.1f} s, "
            f"{r.cache['misses']} transfer matrices in {r.cache['seconds']:.1f} s)",
            flush=True,
        )
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
