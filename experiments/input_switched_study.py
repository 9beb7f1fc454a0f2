"""Input-switched arrays: MVM error per input bit and accuracy versus wire resistance.

Xiao et al. (section 7) read arrays whose cells are switched by the input bits, the
current supplied by a source line parallel to each bit line; the number of rows a bit
switches on sets the IR drop, so the least significant input bit (the densest one)
is the worst case.  This script measures that on the default digits CNN:

1. **MVM error per bit position**: the real inputs of every layer (64 test images,
   8-bit bit-serial, scaled by their largest value) on the programmed tiles
   (differential, g in [1, 100] uS, 128 x 128 arrays), solved exactly for each
   pattern; error = ||I - I_ideal|| / ||I_ideal|| of the analog differential
   currents of each bit step, for wire resistance r (source and bit line,
   per cell) in R_WIRES; also the mean fraction of rows switched on per bit.
2. **Accuracy**: all 539 test images, bit-serial 8-bit inputs, no ADC and no device
   error (to isolate the wires), input-switched arrays versus the crossbar topology
   with the same bit-line resistance (rows ideal), for each r.  One chip (there is no
   random error), so the interval is over test images (Wilson 95%).

Writes ``docs/figures/isw_bits.csv``, ``isw_accuracy.csv``, ``isw_summary.md`` and
``isw_bits.png``.  Usage: ``python experiments/input_switched_study.py``.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path

import numpy as np

from xbar.network import AnalogConfig, evaluate, load_dataset, load_model
from xbar.network.evaluate import plan_network, program_chip
from xbar.network.peripherals import input_steps
from xbar.network.tiles import TransferCache

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"
R_WIRES = (0.5, 1.0, 2.0, 5.0, 10.0)
BITS = 8
IMAGES = 64


def base_config(r: float, topology: str = "input_switched") -> AnalogConfig:
    kw = dict(input_mode="bit_serial", input_bits=BITS, r_col=r)
    if topology == "input_switched":
        kw.update(array_topology="input_switched", r_source=r)
    return AnalogConfig.from_dict(kw)


def layer_inputs(model, x) -> dict[str, np.ndarray]:
    """Every matmul layer's 2-D inputs on ``x`` (ideal forward pass)."""
    seen: dict[str, np.ndarray] = {}

    def hook(layer, X2d):
        seen[layer.name] = np.asarray(X2d, dtype=float)
        return X2d @ layer.W2d

    model.forward(x, mvm=hook)
    return seen


def bit_errors(model, x) -> list[dict]:
    rows = []
    for r in R_WIRES:
        cfg = base_config(r)
        folded, plans = plan_network(model, cfg)
        net = program_chip(plans, folded, cfg, 0, TransferCache())
        inputs = layer_inputs(folded, x)
        for name, al in net.layers.items():
            X = np.maximum(inputs[name], 0.0)
            xs = float(X.max()) or 1.0
            for t, (_, levels) in enumerate(input_steps(X / xs, cfg)):
                V = levels * cfg.v_read
                num = den = active = 0.0
                for tile in al.tiles:
                    s = tile.spec
                    Vt = V[:, s.r0 : s.r1]
                    A = tile.combine(tile.currents(Vt, cfg))
                    ref = tile.combine(Vt @ tile.G)
                    num += float(np.sum((A - ref) ** 2))
                    den += float(np.sum(ref**2))
                    active += float(np.mean(Vt > 0)) * s.rows
                frac = active / sum(tl.spec.rows for tl in al.tiles)
                rows.append(
                    {
                        "r_wire": r,
                        "r_g_max": r * cfg.g_max,
                        "layer": name,
                        "bit": t,
                        "active_fraction": frac,
                        "rel_error": math.sqrt(num / den) if den else 0.0,
                    }
                )
            print(f"r {r}: {name} done", file=sys.stderr, flush=True)
    return rows


def wilson(k: int, n: int) -> tuple[float, float]:
    z = 1.959964
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return c - h, c + h


def accuracies(model) -> list[dict]:
    rows = []
    for r in (0.0, *R_WIRES):
        for topo in ("input_switched", "crossbar"):
            t0 = time.perf_counter()
            res = evaluate(model, base_config(r, topo))
            n = res.n_images
            k = round(res.accuracy * n)
            lo, hi = wilson(k, n)
            err = {s.name: s.rel_error for s in res.layer_stats}
            rows.append(
                {
                    "r_wire": r,
                    "topology": topo,
                    "accuracy": res.accuracy,
                    "lo": lo,
                    "hi": hi,
                    "ideal_accuracy": res.ideal_accuracy,
                    "images": n,
                    **{f"err_{k_}": v for k_, v in err.items()},
                    "seconds": round(time.perf_counter() - t0, 1),
                }
            )
            print(f"accuracy r {r} {topo}: {res.accuracy:.4f}", file=sys.stderr, flush=True)
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = sorted({r["layer"] for r in rows}, key=lambda s: [r["layer"] for r in rows].index(s))
    fig, axes = plt.subplots(1, len(layers), figsize=(4.2 * len(layers), 3.4), squeeze=False)
    for ax, name in zip(axes[0], layers, strict=True):
        for rw in R_WIRES:
            pts = [r for r in rows if r["layer"] == name and r["r_wire"] == rw]
            ax.semilogy(
                [p["bit"] for p in pts],
                [p["rel_error"] for p in pts],
                "o-",
                label=f"r = {rw:g} ohm",
            )
        ax.set_title(f"{name}")
        ax.set_xlabel("input bit (0 = least significant)")
        ax.set_ylabel("relative MVM error of the bit step")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def summary(bits: list[dict], acc: list[dict]) -> str:
    layers = list(dict.fromkeys(r["layer"] for r in bits))
    out = ["## MVM error per input bit (relative, differential currents of each bit step)", ""]
    for name in layers:
        out += [
            f"### {name}",
            "",
            "| r (ohm) | r g_max | " + " | ".join(f"bit {t}" for t in range(BITS)) + " |",
            "|---" * (BITS + 2) + "|",
        ]
        for rw in R_WIRES:
            pts = sorted(
                (r for r in bits if r["layer"] == name and r["r_wire"] == rw),
                key=lambda p: p["bit"],
            )
            out.append(
                f"| {rw:g} | {rw * 1e-4:.0e} | "
                + " | ".join(f"{p['rel_error']:.2e}" for p in pts)
                + " |"
            )
        pts = sorted(
            (r for r in bits if r["layer"] == name and r["r_wire"] == R_WIRES[0]),
            key=lambda p: p["bit"],
        )
        out.append(
            "| rows on | | " + " | ".join(f"{100 * p['active_fraction']:.0f}%" for p in pts) + " |"
        )
        out.append("")
    out += [
        "## Accuracy (539 test images, Wilson 95% interval over images)",
        "",
        "| r (ohm) | input-switched | crossbar (bit line only) |",
        "|---|---|---|",
    ]
    for rw in (0.0, *R_WIRES):
        cells = []
        for topo in ("input_switched", "crossbar"):
            a = next(r for r in acc if r["r_wire"] == rw and r["topology"] == topo)
            cells.append(f"{100 * a['accuracy']:.1f} [{100 * a['lo']:.1f}, {100 * a['hi']:.1f}]")
        out.append(f"| {rw:g} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main() -> int:
    model = load_model("default")
    data = load_dataset("digits")
    OUT.mkdir(parents=True, exist_ok=True)
    bits = bit_errors(model, data.x_test[:IMAGES])
    write_csv(OUT / "isw_bits.csv", bits)
    figure(bits, OUT / "isw_bits.png")
    acc = accuracies(model)
    write_csv(OUT / "isw_accuracy.csv", acc)
    text = summary(bits, acc)
    (OUT / "isw_summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
