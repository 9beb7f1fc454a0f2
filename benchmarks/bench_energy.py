"""Energy reporting benchmark (issue 14): what the energy accounting adds.

Prints ratios against a baseline measured in the same run:

1. a network evaluation with exact parasitics (``examples/rram_128.toml``: 128 x 128
   arrays, 2.5 ohm wires, 10 ohm drivers and sense, programming error, so every chip
   has its own tiles), cold transfer-matrix cache, with and without energy
   (``evaluate(..., energy=True/False)``), interleaved repeats; target <= 1.2x;
2. per tile shape of the default network, the power forms against the transfer
   matrix they sit beside (both computed once per programmed tile);
3. one crossbar solve with and without reading ``solution.power``;
4. (``--process``) whole ``xbar infer`` processes with energy (the default, metered on
   ``energy_chips = 1`` chip) and with ``--no-energy``, interleaved: the README command
   (``--config examples/rram_128.toml``, 5 chips), the default CNN with 1-ohm wires on 1
   and 20 chips, with and without programming error, without wires, and WRN-16-4 on 2
   synthetic images (``--wrn-wires``: also with 1-ohm wires, 343 exact 128 x 128 tiles);
5. (``--per-image``) ``bench_scale.py``'s per-image rows: ResNet-20 and WRN-16-4 with
   exact parasitics (2.5-ohm wires, 10-ohm ends), transfer matrices cached, analog per
   image with and without energy against the digital forward pass, interleaved; one
   batch and ``--batches`` batches per ``evaluate`` call;
6. (``--spread``) the chip-to-chip spread of the energy per image over 20 chips, each
   metered (``energy_chips = all``): the README configuration and the default CNN with
   1-ohm wires and programming error (``docs/energy.md``);
7. (``--floor``) the exact forms of one 128 x 128 tile against its transfer matrix, step
   by step in time and flops, and the least they can add at this machine's dgemm peak;
8. (``--sampled``) a large test set metered on a sample of its images (``energy_images``):
   ResNet-20 on ``--sampled-images`` synthetic images, 2.5-ohm wires, matrices cached,
   per image without energy / with every image metered / with a tenth of the images
   metered (as the default 1000 does for CIFAR-10's 10 000), interleaved; and the
   image-to-image spread of the array energy behind the interval (the README
   configuration on the digits, ResNet-20 on synthetic images).

Usage: ``python benchmarks/bench_energy.py [--chips N] [--repeats R] [--limit N]
[--process [--wrn-wires]] [--per-image [--images N]] [--spread [--spread-chips N]]
[--floor] [--sampled [--sampled-images N]]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402


def _load() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def network(chips: int, repeats: int, limit: int | None) -> float:
    from pathlib import Path

    from xbar.network import AnalogConfig, evaluate, load_dataset, load_model
    from xbar.network.tiles import TransferCache

    root = Path(__file__).resolve().parents[1]
    model, data = load_model("default"), load_dataset("digits")
    cfg = AnalogConfig.from_toml(root / "examples" / "rram_128.toml").replace(repeats=chips)
    evaluate(model, cfg, dataset=data, limit=20, cache=TransferCache())  # warm numba / imports
    times = {False: [], True: []}
    for _ in range(repeats):
        for energy in (False, True):
            t0 = time.perf_counter()
            r = evaluate(
                model, cfg, dataset=data, limit=limit, cache=TransferCache(), energy=energy
            )
            times[energy].append(time.perf_counter() - t0)
            if energy:
                forms = r.cache["forms_seconds"]
    off, on = np.array(times[False]), np.array(times[True])
    ratio_min = on.min() / off.min()
    ratio_med = np.median(on) / np.median(off)
    print(
        f"1. network, {chips} chip(s), {r.n_images} images, exact parasitics, cold cache "
        f"(load {_load()}):"
    )
    print(f"   without energy  min {off.min():.3f} s  median {np.median(off):.3f} s")
    print(
        f"   with energy     min {on.min():.3f} s  median {np.median(on):.3f} s  "
        f"(power forms {forms:.3f} s of it)"
    )
    print(
        f"   ratio           {ratio_min:.3f}x (min/min), {ratio_med:.3f}x (median/median);"
        f" target <= 1.2x",
        flush=True,
    )
    return ratio_med


def tiles() -> None:
    import xbar

    rng = np.random.default_rng(0)
    print(f"2. power forms vs transfer matrix per tile (load {_load()}):")
    for M, N in ((9, 16), (72, 32), (128, 20), (128, 128)):
        G = rng.uniform(1e-6, 1e-4, (M, N))
        best_w, best_f = np.inf, np.inf
        for _ in range(3):
            xb = xbar.Crossbar(G, 2.5, 2.5, 10.0, 10.0)
            t0 = time.perf_counter()
            xb.transfer_matrix()
            t1 = time.perf_counter()
            xb.power_forms()
            t2 = time.perf_counter()
            best_w, best_f = min(best_w, t1 - t0), min(best_f, t2 - t1)
        print(
            f"   {M:>4} x {N:<4} transfer {best_w * 1e3:8.2f} ms   forms {best_f * 1e3:8.2f} ms"
            f"   ratio {best_f / best_w:5.2f}",
            flush=True,
        )


def floor() -> None:
    """What the exact power forms of one unpadded 128 x 128 tile cost against its transfer
    matrix, step by step, in time and flops (one thread, process CPU time, medians; the
    allocator set as the ``xbar`` command sets it):
    the transfer matrix is one block sweep (a Cholesky inverse per line, ~P^3 flops)
    and the forward carry of the used columns (~P^2 n^2 flops in all); the forms add the
    back substitution of every node's voltage for the m inputs (2 P^2 m per line), two
    Grams over every node (row and column wire segments: P m^2 per line each, BLAS
    ``syrk``) and the line solves (O(P m) per line); the cells are what is left
    (Tellegen), the drivers and sense ends are rank-P products."""
    from xbar.crossbar import lapack, sweep
    from xbar.memory import keep_freed_memory

    keep_freed_memory()  # as the xbar command does (no fresh pages for the temporaries)
    P = m = n = 128
    rng = np.random.default_rng(0)
    G = rng.uniform(1e-6, 1e-4, (P, P))

    def cpu(f, repeats=7):
        f()
        ts = []
        for _ in range(repeats):
            t0 = time.process_time()
            f()
            ts.append(time.process_time() - t0)
        return float(np.median(ts))

    t_w = cpu(lambda: sweep.tile_solve(G, 1.0, 1.0, 0.0, 0.0, forms=False))
    t_f = cpu(lambda: sweep.tile_solve(G, 1.0, 1.0, 0.0, 0.0, forms=True))
    R = rng.uniform(0.0, 1.0, (P, P))
    A = R @ R.T / P + np.eye(P)  # a stand-in SPD block for the BLAS steps alone
    S = np.repeat(np.tril(A)[None], P, axis=0)
    C = np.empty((P, P))
    X = np.zeros((P, P, m))
    X[:, -1] = rng.standard_normal((P, m))
    B = rng.standard_normal((P * (P - 1), m))
    t_inv = cpu(lambda: [lapack.cholesky_inverse(np.copyto(C, A) or C) for _ in range(P)])
    t_back = cpu(lambda: lapack.symmetric_chain(S, X, 0.5))
    t_gram = cpu(lambda: B.T @ B)
    t_gemm = cpu(lambda: [np.matmul(A, R, out=C) for _ in range(P)])
    rate = lambda flops, t: f"{flops / t / 1e9:5.1f} GFlop/s"  # noqa: E731
    print(f"7. exact forms of one 128 x 128 tile, 1-ohm wires, one thread (load {_load()}):")
    print(
        f"   transfer matrix alone {t_w * 1e3:6.1f} ms; with the forms {t_f * 1e3:6.1f} ms "
        f"({t_f / t_w:.2f}x, forms add {(t_f - t_w) * 1e3:.1f} ms)"
    )
    print(
        f"   in it: {P} Cholesky inverses {t_inv * 1e3:5.1f} ms ({rate(P * P**3, t_inv)}); "
        f"back substitution, {P - 1} dsymm {t_back * 1e3:5.1f} ms "
        f"({rate(2 * (P - 1) * P * P * m, t_back)}); one Gram over every node "
        f"{t_gram * 1e3:5.1f} ms ({rate(P * (P - 1) * m * m, t_gram)}), two of them"
    )
    print(
        f"   flops: transfer matrix {(P**4 + P**2 * n * n) / 1e6:.0f} M (sweep + forward "
        f"carry); forms add {(2 * P**3 * m + 2 * P**2 * m * m - P**2 * n * n) / 1e6:.0f} M "
        f"(back substitution + 2 Grams - the forward carry they replace); dgemm peak here "
        f"{rate(P * 2 * P**3, t_gemm)}: the forms' extra is at least "
        f"{(2 * P**3 * m + 2 * P**2 * m * m - P**2 * n * n) / (P * 2 * P**3 / t_gemm) * 1e3:.1f}"
        f" ms at that peak",
        flush=True,
    )


def solve() -> None:
    import xbar

    rng = np.random.default_rng(1)
    G = rng.uniform(1e-6, 1e-4, (256, 256))
    V = rng.uniform(0, 0.3, (16, 256))
    print(f"3. one 256 x 256 solve of 16 inputs, with and without .power (load {_load()}):")
    for device in (xbar.Linear(), xbar.Sinh(3.0)):
        xb = xbar.Crossbar(G, 1.0, 1.0, 10.0, 10.0, device)
        xb.solve(V[:2])
        a, b = np.inf, np.inf
        for _ in range(3):
            t0 = time.perf_counter()
            sol = xb.solve(V)
            t1 = time.perf_counter()
            sol.power  # noqa: B018
            t2 = time.perf_counter()
            a, b = min(a, t1 - t0), min(b, t2 - t1)
        print(
            f"   {type(device).__name__:<7} solve {a * 1e3:8.1f} ms   power {b * 1e3:6.1f} ms"
            f"   (+{100 * b / a:.1f} %)",
            flush=True,
        )


_WIRES = ["--r-row", "1", "--r-col", "1"]
_PE = ["--programming-error", "state_proportional", "--programming-sigma", "0.05"]
PROCESS_CASES = {
    "README: --config examples/rram_128.toml": ["--config", "examples/rram_128.toml"],
    "default CNN, 1-ohm wires, 1 chip": _WIRES,
    "default CNN, 1-ohm wires, 20 chips": _WIRES + ["--repeats", "20"],
    "default CNN, 1-ohm wires, prog. error, 1 chip": _WIRES + _PE,
    "default CNN, 1-ohm wires, prog. error, 20 chips": _WIRES + _PE + ["--repeats", "20"],
    "default CNN, ideal wires, 1 chip": [],
    "WRN-16-4, 2 images, ideal wires": ["--model", "wrn-16-4", "--dataset", "synthetic-32x32x3"]
    + ["--limit", "2"],
}
WRN_WIRES = PROCESS_CASES["WRN-16-4, 2 images, ideal wires"] + ["--r-row", "1", "--r-col", "1"]


def process(repeats: int, wrn_wires: bool) -> None:
    import subprocess

    cases = dict(PROCESS_CASES)
    if wrn_wires:
        cases["WRN-16-4, 2 images, 1-ohm wires"] = WRN_WIRES
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    base = [sys.executable, "-m", "xbar.cli", "infer", "--no-progress"]
    print(f"4. whole xbar infer processes, with energy / --no-energy (load {_load()}):")
    for name, flags in cases.items():
        times = {False: [], True: []}
        cpu = {False: [], True: []}
        for _ in range(repeats):
            for energy in (False, True):
                cmd = base + flags + ([] if energy else ["--no-energy"])
                c0 = _children_cpu()
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True, cwd=root, env=env)
                times[energy].append(time.perf_counter() - t0)
                cpu[energy].append(_children_cpu() - c0)
        off, on = np.median(times[False]), np.median(times[True])
        pairs = np.array(times[True]) / np.array(times[False])
        c_off, c_on = np.median(cpu[False]), np.median(cpu[True])
        print(
            f"   {name:<48} without {off:6.2f} s  with {on:6.2f} s  ratio {on / off:.3f}x"
            f" (pairs {pairs.min():.2f}-{pairs.max():.2f}); CPU {c_off:.2f} / {c_on:.2f} s, "
            f"{c_on / c_off:.3f}x (medians of {repeats}; load {_load()})",
            flush=True,
        )


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def per_image(images: int, repeats: int, batches: int) -> None:
    """bench_scale.py's per-image rows, with and without energy, in one run."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_scale import per_image_times

    print(f"5. analog per image with / without energy, exact parasitics (load {_load()}):")
    for name in ("resnet-20", "wrn-16-4"):
        for b in sorted({1, batches}):
            dig, off, on = per_image_times(name, images, b, repeats)
            ratio = on / off
            print(
                f"   {name:<10} {b} x batch {images}: digital {dig.min() * 1e3:6.1f} ms  analog "
                f"{off.min() * 1e3:6.1f} ms ({off.min() / dig.min():.2f}x digital; pairs "
                f"{(off / dig).min():.2f}-{(off / dig).max():.2f})  with energy "
                f"{on.min() * 1e3:6.1f} ms ({on.min() / dig.min():.2f}x digital); energy / no "
                f"energy {on.min() / off.min():.3f}x (min/min; pairs {ratio.min():.2f}-"
                f"{ratio.max():.2f}, {repeats} pairs; load {_load()})",
                flush=True,
            )


def spread(chips: int) -> None:
    """Chip-to-chip spread of the energy per image, every chip metered."""
    from pathlib import Path

    from xbar.network import AnalogConfig, evaluate, load_dataset, load_model

    root = Path(__file__).resolve().parents[1]
    model, data = load_model("default"), load_dataset("digits")
    wires = dict(r_row=1.0, r_col=1.0, energy_chips=0, repeats=chips)
    cases = {
        "examples/rram_128.toml": AnalogConfig.from_toml(
            root / "examples" / "rram_128.toml", repeats=chips, energy_chips=0
        ),
        "1-ohm wires, state_proportional 0.05": AnalogConfig(
            programming_error="state_proportional", programming_sigma=0.05, **wires
        ),
        "1-ohm wires, weight_range 0.1": AnalogConfig(
            programming_error="weight_range", programming_sigma=0.1, **wires
        ),
    }
    print(f"6. energy per image over {chips} chips, each metered (load {_load()}):")
    for name, cfg in cases.items():
        r = evaluate(model, cfg, dataset=data)
        sp = r.energy_spread
        layers = ", ".join(
            f"{s.name} {100 * s.energy_spread['array']['rel_std']:.2g} %" for s in r.layer_stats
        )
        print(
            f"   {name:<38} total {r.energy['total'] * 1e9:.4g} nJ (rel. std "
            f"{100 * sp['total']['rel_std']:.2g} %), array {r.energy['array'] * 1e9:.4g} nJ "
            f"(rel. std {100 * sp['array']['rel_std']:.2g} %; per layer {layers})",
            flush=True,
        )


def sampled(n_images: int, repeats: int) -> None:
    """Per image: no energy, every image metered, a tenth of the images metered."""
    from pathlib import Path

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_scale import _model

    from xbar import memory
    from xbar.network import AnalogConfig, Dataset, evaluate, load_dataset, load_model
    from xbar.network.data import synthetic_images
    from xbar.network.tiles import TransferCache

    memory.apply()
    model = _model("resnet-20")
    x = synthetic_images(n_images + 2, (32, 32, 3), seed=0)
    y = np.zeros(n_images + 2, dtype=np.int64)
    ds = Dataset(x[:2], y[:2], x[:1], y[:1], x[2:], y[2:], "synthetic", 10)
    cfg = AnalogConfig(r_row=2.5, r_col=2.5, r_driver=10.0, r_sense=10.0)
    cache = TransferCache(max_bytes=1 << 31)
    opts = dict(dataset=ds, cache=cache, ideal_accuracy=0.0)
    k = n_images // 10
    runs = {
        "no energy": (cfg, False),
        "every image metered": (cfg.replace(energy_images=0), True),
        f"{k} of {n_images} images metered": (cfg.replace(energy_images=k), True),
    }
    evaluate(model, cfg, limit=2, **opts)  # programs the chip, fills the cache
    times: dict = {name: [] for name in runs}
    cpu: dict = {name: [] for name in runs}
    print(f"8. ResNet-20, {n_images} images, batch 21, per image (load {_load()}):")
    for _ in range(repeats):
        for name, (c, energy) in runs.items():
            c0 = time.process_time()
            r = evaluate(model, c, energy=energy, **opts)
            cpu[name].append((time.process_time() - c0) / n_images)
            times[name].append(r.per_image_seconds)
            if energy and r.energy_sample:
                s = r.energy_sample
    base, base_cpu = np.array(times["no energy"]), np.median(cpu["no energy"])
    for name, t in times.items():
        t = np.array(t)
        print(
            f"   {name:<32} {t.min() * 1e3:6.2f} ms  ratio {t.min() / base.min():.3f}x (min/min; "
            f"pairs {(t / base).min():.2f}-{(t / base).max():.2f}); CPU per image "
            f"{np.median(cpu[name]) * 1e3:.2f} ms, {np.median(cpu[name]) / base_cpu:.3f}x "
            f"(medians of {repeats})",
            flush=True,
        )
    print(
        f"   array energy {s['mean'] * 1e9:.4g} nJ per image, image-to-image std "
        f"{100 * s['std'] / s['mean']:.2g} %, 95 % CI half-width {100 * s['rel_ci95']:.2g} % "
        f"({s['images']} of {s['of']}; load {_load()})"
    )
    root = Path(__file__).resolve().parents[1]
    readme = AnalogConfig.from_toml(root / "examples" / "rram_128.toml", repeats=1)
    r = evaluate(
        load_model("default"), readme.replace(energy_images=100), dataset=load_dataset("digits")
    )
    s = r.energy_sample
    print(
        f"   README configuration, digits, 100 of 539 images: image-to-image std "
        f"{100 * s['std'] / s['mean']:.2g} % of the array energy, half-width "
        f"{100 * s['rel_ci95']:.2g} %",
        flush=True,
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chips", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--process", action="store_true", help="only the whole-process cases")
    ap.add_argument("--wrn-wires", action="store_true", help="with --process: WRN with wires")
    ap.add_argument("--per-image", action="store_true", help="only bench_scale's per-image rows")
    ap.add_argument("--images", type=int, default=4, help="with --per-image: batch size")
    ap.add_argument(
        "--batches", type=int, default=5, help="with --per-image: batches per evaluate (and 1)"
    )
    ap.add_argument("--spread", action="store_true", help="only the chip-to-chip spread")
    ap.add_argument("--spread-chips", type=int, default=20)
    ap.add_argument("--floor", action="store_true", help="only the forms' cost breakdown")
    ap.add_argument("--sampled", action="store_true", help="only the sampled-images case")
    ap.add_argument("--sampled-images", type=int, default=1050)
    args = ap.parse_args(argv)
    if args.floor:
        floor()
        return 0
    if args.sampled:
        sampled(args.sampled_images, args.repeats)
        return 0
    if args.process or args.per_image or args.spread:
        if args.process:
            process(args.repeats, args.wrn_wires)
        if args.per_image:
            per_image(args.images, args.repeats, args.batches)
        if args.spread:
            spread(args.spread_chips)
        return 0
    network(args.chips, args.repeats, args.limit)
    tiles()
    solve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
