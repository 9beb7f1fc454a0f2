"""Energy reporting benchmark (issue 14): what the energy accounting adds.

Prints ratios against a baseline measured in the same run:

1. a network evaluation with exact parasitics (``examples/rram_128.toml``: 128 x 128
   arrays, 2.5 ohm wires, 10 ohm drivers and sense, programming error, so every chip
   has its own tiles), cold transfer-matrix cache, with and without energy
   (``evaluate(..., energy=True/False)``), interleaved repeats; target <= 1.2x;
2. per tile shape of the default network, the power forms against the transfer
   matrix they sit beside (both computed once per programmed tile);
3. one crossbar solve with and without reading ``solution.power``;
4. (``--process``) whole ``xbar infer`` processes with energy (the default) and with
   ``--no-energy``, interleaved: the default CNN without wires, with 1-ohm wires on 1
   and 20 chips, and WRN-16-4 on 2 synthetic images (``--wrn-wires``: also with 1-ohm
   wires, 343 exact 128 x 128 tiles).

Usage: ``python benchmarks/bench_energy.py [--chips N] [--repeats R] [--limit N]
[--process [--wrn-wires]]``
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


PROCESS_CASES = {
    "default CNN, ideal wires, 1 chip": [],
    "default CNN, 1-ohm wires, 1 chip": ["--r-row", "1", "--r-col", "1"],
    "default CNN, 1-ohm wires, 20 chips": ["--r-row", "1", "--r-col", "1", "--repeats", "20"],
    "WRN-16-4, 2 images, ideal wires": ["--model", "wrn-16-4", "--dataset", "synthetic-32x32x3"]
    + ["--limit", "2"],
}
WRN_WIRES = PROCESS_CASES["WRN-16-4, 2 images, ideal wires"] + ["--r-row", "1", "--r-col", "1"]


def process(repeats: int, wrn_wires: bool) -> None:
    import subprocess

    cases = dict(PROCESS_CASES)
    if wrn_wires:
        cases["WRN-16-4, 2 images, 1-ohm wires"] = WRN_WIRES
    base = [sys.executable, "-m", "xbar.cli", "infer", "--no-progress"]
    print(f"4. whole xbar infer processes, with energy / --no-energy (load {_load()}):")
    for name, flags in cases.items():
        times = {False: [], True: []}
        for _ in range(repeats):
            for energy in (False, True):
                cmd = base + flags + ([] if energy else ["--no-energy"])
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                times[energy].append(time.perf_counter() - t0)
        off, on = np.median(times[False]), np.median(times[True])
        print(
            f"   {name:<36} without {off:7.2f} s  with {on:7.2f} s  ratio {on / off:.3f}x"
            f"  (medians of {repeats}; load {_load()})",
            flush=True,
        )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chips", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--process", action="store_true", help="only the whole-process cases")
    ap.add_argument("--wrn-wires", action="store_true", help="with --process: WRN with wires")
    args = ap.parse_args(argv)
    if args.process:
        process(args.repeats, args.wrn_wires)
        return 0
    network(args.chips, args.repeats, args.limit)
    tiles()
    solve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
