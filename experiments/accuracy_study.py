"""Issue 5, item 7: the qualitative findings of Xiao et al. (2022) on the digits CNN.

Parts (each one sweep, CSV + PNG in docs/figures/, summarised in docs/network.md):

* ``slicing``   -- state-proportional programming error: one 8-bit cell (pair) per weight
  versus four 2-bit slices, sigma 0 to 0.3 (finding 1: about as robust);
* ``slicing_si`` -- the same with state-independent error, for contrast;
* ``map_sigma`` -- differential versus offset mapping under state-independent programming
  error (finding 2);
* ``map_adc``   -- differential versus offset mapping versus ADC bits, calibrated ranges;
* ``map_wires`` -- differential versus offset mapping versus bit-line (column) wire
  resistance per cell, exact circuit solves;
* ``map_wires_ref`` -- offset mapping with the offset removed digitally or by an analog
  reference column, versus wire resistance;
* ``adc_range`` -- calibrated versus fixed (full-scale) ADC ranges versus ADC bits, for
  both mappings (finding 3).

Run: ``python experiments/accuracy_study.py [--chips N] [--limit N] [--workers N]``.
Rerunning resumes from the CSV files.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

MODEL = "default"
SIGMAS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3]
SIGMAS_SI = [0.0, 0.02, 0.05, 0.1, 0.15, 0.2]
ADC_BITS = [3, 4, 5, 6, 7, 8]
WIRE_R = [0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]
MAPPINGS = ["differential", "offset"]
RANGES = ["calibrated", "max", "full_scale"]


def parts(args):
    from xbar.network.config import AnalogConfig

    chips = args.chips or 10
    base = AnalogConfig(weight_bits=8, seed=1)
    return {
        # name: (base config, axes, chips, plot title)
        "slicing": (base.replace(programming_error="state_proportional"),
                    {"programming_sigma": SIGMAS, "weight_slices": [1, 4]}, chips,
                    "state-proportional error: 1 x 8-bit cell vs 4 x 2-bit slices"),
        "slicing_si": (base.replace(programming_error="state_independent"),
                       {"programming_sigma": SIGMAS_SI, "weight_slices": [1, 4]}, chips,
                       "state-independent error: 1 x 8-bit cell vs 4 x 2-bit slices"),
        "map_sigma": (base.replace(programming_error="state_independent"),
                      {"programming_sigma": SIGMAS_SI, "mapping": MAPPINGS}, chips,
                      "state-independent programming error"),
        "map_adc": (base.replace(adc_range="calibrated", adc_bits=8),
                    {"adc_bits": ADC_BITS, "mapping": MAPPINGS}, 1,
                    "ADC resolution (calibrated ranges)"),
        "map_wires": (base, {"r_col": WIRE_R, "mapping": MAPPINGS}, 1,
                      "bit-line wire resistance (exact solves)"),
        "map_wires_ref": (base.replace(mapping="offset"),
                          {"r_col": WIRE_R, "offset_subtraction": ["digital", "reference_column"]},
                          1, "offset mapping: digital vs reference-column subtraction, wires"),
        "adc_range": (base.replace(adc_bits=8, adc_range="calibrated"),
                      {"adc_bits": ADC_BITS, "adc_range": RANGES}, 1,
                      "calibrated vs full-scale ADC range (differential)"),
        "adc_range_offset": (base.replace(adc_bits=8, adc_range="calibrated", mapping="offset"),
                             {"adc_bits": ADC_BITS, "adc_range": RANGES},
                             1, "calibrated vs full-scale ADC range (offset)"),
    }


def main(argv=None) -> int:
    args = C.parser(__doc__.split("\n")[0]).parse_args(argv)

    from xbar.network import plot_sweep

    digital = C.digital_accuracy(MODEL, args.limit)
    for name, (base, axes, chips, title) in parts(args).items():
        if args.only and name not in args.only:
            continue
        table = C.run(f"xiao_{name}", MODEL, base, axes, args, chips=chips)
        plot_sweep(table, args.out / f"xiao_{name}.png", title=title, digital=digital,
                   band="ci" if table.chips > 1 else "none",
                   xscale="symlog" if name.startswith("map_wires") else "linear")
        C.save_json(args.out / f"xiao_{name}.json",
                    {"title": title, "fields": table.fields, "chips": table.chips,
                     "limit": args.limit, "config": base.to_dict(),
                     "points": table.summary()})
        md = f"### {name}: {title} ({table.chips} chip(s) per point)\n\n"
        (args.out / f"xiao_{name}.md").write_text(md + C.markdown_table(table) + "\n")
    # the summary collects every part done so far (this run or earlier ones)
    header = (f"digital accuracy of `{MODEL}`: {100 * digital:.2f}% "
              f"({args.limit or 'all'} test images)\n")
    C.write_summary(args.out, "xiao", parts(args), header,
                    {"model": MODEL, "digital_accuracy": digital}, "parts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
