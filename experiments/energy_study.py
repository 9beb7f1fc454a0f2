"""Accuracy versus energy per image for the default network (docs/energy.md).

Starts from ``examples/rram_128.toml`` (differential mapping, 128 x 128 arrays, 8-bit
DAC and calibrated ADC, 5 % programming error, 1 % read noise, exact 2.5 ohm wires, 10
ohm drivers and sense resistors) and trades one field at a time: the ADC bits, the
conductance range (g_max, with g_min = g_max / 100) and the wire resistance
(r_row = r_col), plus the read pulse.  Every point is evaluated on ``--chips``
independently programmed chips over the whole test set, with the exact circuit
(cached exact transfer matrices and power forms).  Writes
``docs/figures/energy_study.csv`` (one row per point and chip, every energy part per
image) and ``docs/figures/energy_study.json`` (means and 95 % intervals over chips),
and the figure ``energy_tradeoff.png``.

Usage: ``python experiments/energy_study.py [--chips 10] [--limit N]``
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from pathlib import Path

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"

AXES = {
    "adc_bits": [3, 4, 5, 6, 8, 10],
    "g_max": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3],
    "r_wire": [0.0, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0],
    "read_pulse": [1e-9, 10e-9, 100e-9],
}
PARTS = ("cells", "row_wires", "col_wires", "drivers", "sense", "dac", "adc", "digital")


def _config(base, field, value):
    if field == "g_max":
        return base.replace(g_max=value, g_min=value / 100)
    if field == "r_wire":
        return base.replace(r_row=value, r_col=value)
    return base.replace(**{field: value})


def _interval(x):
    """Mean and half-width of the 95 % t interval over chips."""
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return float(x.mean()), 0.0
    from scipy.stats import t

    return float(x.mean()), float(t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chips", type=int, default=10)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=FIGURES)
    args = ap.parse_args(argv)
    from xbar.network import AnalogConfig, evaluate, load_dataset, load_model
    from xbar.network.tiles import TransferCache

    model, data = load_model("default"), load_dataset("digits")
    base = AnalogConfig.from_toml(ROOT / "examples" / "rram_128.toml")
    rows = []
    summary = {"base": base.to_dict(), "chips": args.chips, "axes": {}}
    cache = TransferCache(max_bytes=1 << 30)
    t0 = time.perf_counter()
    for field, values in AXES.items():
        summary["axes"][field] = []
        for value in values:
            cfg = _config(base, field, value)
            per_chip = []
            for chip in range(args.chips):
                r = evaluate(model, cfg, dataset=data, limit=args.limit, chips=[chip], cache=cache)
                row = {"field": field, "value": value, "chip": chip, "accuracy": r.accuracy}
                row.update(
                    {k: r.energy[k] for k in PARTS + ("array", "wires", "total", "ops_per_joule")}
                )
                rows.append(row)
                per_chip.append(row)
            point = {"value": value}
            for key in (
                "accuracy",
                "total",
                "array",
                "wires",
                "adc",
                "cells",
                "dac",
                "digital",
                "ops_per_joule",
            ):
                m, h = _interval([c[key] for c in per_chip])
                point[key] = m
                point[key + "_ci95"] = h
            point["wire_fraction_of_array"] = (
                point["wires"] / point["array"] if point["array"] else 0.0
            )
            point["adc_fraction"] = point["adc"] / point["total"]
            summary["axes"][field].append(point)
            print(
                f"{field}={value:g}: accuracy {point['accuracy']:.4f} +/- "
                f"{point['accuracy_ci95']:.4f}, energy {point['total'] * 1e9:.3f} nJ/image "
                f"(array {point['array'] * 1e9:.4f}, wires "
                f"{100 * point['wire_fraction_of_array']:.1f} % of array, ADC "
                f"{100 * point['adc_fraction']:.1f} %)  [{time.perf_counter() - t0:.0f} s]",
                file=sys.stderr,
                flush=True,
            )
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "energy_study.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    summary["seconds"] = time.perf_counter() - t0
    (args.out / "energy_study.json").write_text(json.dumps(summary, indent=1))
    plot(summary, args.out)
    return 0


def plot(summary: dict, out: Path) -> None:
    """Accuracy against energy per image, one panel per traded field."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fields = [f for f in ("adc_bits", "g_max", "r_wire") if f in summary["axes"]]
    fig, axes = plt.subplots(1, len(fields), figsize=(4.2 * len(fields), 3.6))
    labels = {"adc_bits": "ADC bits", "g_max": "g_max [S]", "r_wire": "wire [ohm/segment]"}
    for ax, f in zip(np.atleast_1d(axes), fields, strict=True):
        pts = summary["axes"][f]
        e = np.array([p["total"] for p in pts]) * 1e9
        a = np.array([p["accuracy"] for p in pts])
        ea = np.array([p["accuracy_ci95"] for p in pts])
        ax.errorbar(e, a, yerr=ea, marker="o", capsize=3)
        for p, x, y in zip(pts, e, a, strict=True):
            ax.annotate(
                f"{p['value']:g}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8
            )
        if e.max() > 3 * e.min():  # the ADC bits span decades; the others move by a few %
            ax.set_xscale("log")
        else:
            ax.ticklabel_format(axis="x", style="plain", useOffset=False)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.set_xlabel("energy per image [nJ]")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"trading {labels[f]}")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "energy_tradeoff.png", dpi=130)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
