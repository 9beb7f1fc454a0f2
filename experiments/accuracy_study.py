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
  both mappings (finding 3);
* ``act4`` -- finding 4: state-independent error on the model trained with 4-bit
  activations (``default_act4``, quantisation-aware training) evaluated with 4-bit
  activations, against the float model with float and with 4-bit activations.

Where a conclusion rests on a comparison, a *judging point* is run with ``--judge-chips``
chips (common chip seeds) and the paired differences with their 95 % CI are reported.

Run: ``python experiments/accuracy_study.py [--chips N] [--limit N] [--workers N]``.
Rerunning resumes from the CSV files.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

MODEL = "default"
SIGMAS = [0.0, 0.1, 0.2, 0.3]
SIGMAS_SI = [0.0, 0.02, 0.05, 0.1, 0.2]
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
        "slicing": (
            base.replace(programming_error="state_proportional"),
            {"programming_sigma": SIGMAS, "weight_slices": [1, 4]},
            chips,
            "state-proportional error: 1 x 8-bit cell vs 4 x 2-bit slices",
        ),
        "slicing_si": (
            base.replace(programming_error="state_independent"),
            {"programming_sigma": SIGMAS_SI, "weight_slices": [1, 4]},
            chips,
            "state-independent error: 1 x 8-bit cell vs 4 x 2-bit slices",
        ),
        "map_sigma": (
            base.replace(programming_error="state_independent"),
            {"programming_sigma": SIGMAS_SI, "mapping": MAPPINGS},
            chips,
            "state-independent programming error",
        ),
        "map_adc": (
            base.replace(adc_range="calibrated", adc_bits=8),
            {"adc_bits": ADC_BITS, "mapping": MAPPINGS},
            1,
            "ADC resolution (calibrated ranges)",
        ),
        "map_wires": (
            base,
            {"r_col": WIRE_R, "mapping": MAPPINGS},
            1,
            "bit-line wire resistance (exact solves)",
        ),
        "map_wires_ref": (
            base.replace(mapping="offset"),
            {"r_col": WIRE_R, "offset_subtraction": ["digital", "reference_column"]},
            1,
            "offset mapping: digital vs reference-column subtraction, wires",
        ),
        "adc_range": (
            base.replace(adc_bits=8, adc_range="calibrated"),
            {"adc_bits": ADC_BITS, "adc_range": RANGES},
            1,
            "calibrated vs full-scale ADC range (differential)",
        ),
        "adc_range_offset": (
            base.replace(adc_bits=8, adc_range="calibrated", mapping="offset"),
            {"adc_bits": ADC_BITS, "adc_range": RANGES},
            1,
            "calibrated vs full-scale ADC range (offset)",
        ),
    }


#: judging points: part -> (swept field and value, compared field and values, model(s))
JUDGES = {
    "map_sigma": (("programming_sigma", 0.05), ("mapping", MAPPINGS)),
    "slicing": (("programming_sigma", 0.3), ("weight_slices", [1, 4])),
}
ACT_SIGMAS = [0.0, 0.02, 0.05, 0.1]
ACT_JUDGE = 0.05
#: trained by ``xbar train --model default --epochs 30 --seed 0 --activation-bits 4``
ACT_MODEL = C.ROOT / "xbar" / "data" / "models" / "default_act4"


def act4(args, digital):
    """Finding 4: 4-bit activations (QAT model) vs float activations under SI error."""
    from xbar.network.config import AnalogConfig
    from xbar.network.stats import mean_ci, paired_difference

    base = AnalogConfig(weight_bits=8, seed=1, programming_error="state_independent")
    runs = {
        "float model, float activations": ("default", 0),
        "float model, 4-bit activations": ("default", 4),
        "QAT model (default_act4), 4-bit activations": (str(ACT_MODEL), 4),
    }
    curves, judge = {}, {}
    for label, (model, bits) in runs.items():
        cfg = base.replace(activation_bits=bits)
        tag = f"{Path(model).name}_a{bits}"
        curves[label] = C.run(
            f"xiao_act4_{tag}",
            model,
            cfg,
            {"programming_sigma": ACT_SIGMAS},
            args,
            chips=args.chips or 10,
            limit=args.curve_limit,
        )
        judge[label] = C.run(
            f"xiao_act4_{tag}_judge",
            model,
            cfg,
            {"programming_sigma": [ACT_JUDGE]},
            args,
            chips=args.judge_chips,
        )
    ref = judge["float model, float activations"].accuracies[0, 0]
    lines = [
        f"### act4: state-independent error, 4-bit activations (curves "
        f"{curves[next(iter(curves))].chips} chips; judging point alpha = {ACT_JUDGE}, "
        f"{args.judge_chips} chips)\n",
        "| alpha | " + " | ".join(runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for i, a in enumerate(ACT_SIGMAS):
        cells = [mean_ci(t.accuracies[i, 0]).format() for t in curves.values()]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines += ["", f"At alpha = {ACT_JUDGE} ({args.judge_chips} chips, common seeds):", ""]
    out = {}
    for label, t in judge.items():
        a = t.accuracies[0, 0]
        d = paired_difference(a, ref)
        out[label] = {"accuracy": mean_ci(a).to_dict(), "minus_float": d.to_dict()}
        lines.append(
            f"* {label}: {mean_ci(a).format()}; minus float/float "
            f"{d.format()} points" + ("" if d.excludes_zero else " (none)")
        )
    C.save_json(
        args.out / "xiao_act4.json",
        {"title": "4-bit activations", "judge": out, "digital": digital},
    )
    (args.out / "xiao_act4.md").write_text("\n".join(lines) + "\n")
    if args.out == C.FIGURES:  # the numbers of docs/network.md's finding-4 section
        C.fill_doc(C.ROOT / "docs" / "network.md", "act4", "\n".join(lines[1:]))


def judge_part(name, base, axes, args):
    """The judging point of a part: paired difference of the two compared values."""
    from xbar.network.stats import mean_ci, paired_difference

    (f1, v1), (f2, vals) = JUDGES[name]
    t = C.run(f"xiao_{name}_judge", MODEL, base, {f1: [v1], f2: vals}, args, chips=args.judge_chips)
    a, b = t.accuracies[0, 0], t.accuracies[0, 1]
    d = paired_difference(a, b)
    text = (
        f"\nJudging point {f1} = {v1}, {t.chips} chips (common seeds): {f2} = {vals[0]}: "
        f"{mean_ci(a).format()}, {f2} = {vals[1]}: {mean_ci(b).format()}; difference "
        f"{d.format()} points" + ("" if d.excludes_zero else " (none: within the interval)") + "\n"
    )
    return text, {
        "field": f1,
        "value": v1,
        "compared": f2,
        "values": vals,
        "a": mean_ci(a).to_dict(),
        "b": mean_ci(b).to_dict(),
        "a_minus_b": d.to_dict(),
    }


def main(argv=None) -> int:
    p = C.parser(__doc__.split("\n")[0])
    p.add_argument("--judge-chips", type=int, default=100, help="chips at judging points")
    p.add_argument(
        "--curve-limit",
        type=int,
        default=None,
        help="test images of the random-error curves (judging points: --limit)",
    )
    args = p.parse_args(argv)

    from xbar.network import plot_sweep

    digital = C.digital_accuracy(MODEL, args.limit)
    for name, (base, axes, chips, title) in parts(args).items():
        if args.only and name not in args.only:
            continue
        table = C.run(
            f"xiao_{name}",
            MODEL,
            base,
            axes,
            args,
            chips=chips,
            limit=args.curve_limit if chips > 1 else None,
        )
        plot_sweep(
            table,
            args.out / f"xiao_{name}.png",
            title=title,
            digital=digital,
            band="ci" if table.chips > 1 else "none",
            xscale="symlog" if name.startswith("map_wires") else "linear",
        )
        jtext, jdata = judge_part(name, base, axes, args) if name in JUDGES else ("", None)
        C.save_json(
            args.out / f"xiao_{name}.json",
            {
                "title": title,
                "fields": table.fields,
                "chips": table.chips,
                "limit": args.limit,
                "config": base.to_dict(),
                "points": table.summary(),
                "judge": jdata,
            },
        )
        md = f"### {name}: {title} ({table.chips} chip(s) per point)\n\n"
        (args.out / f"xiao_{name}.md").write_text(md + C.markdown_table(table) + "\n" + jtext)
    if not args.only or "act4" in args.only:
        act4(args, digital)
    # the summary collects every part done so far (this run or earlier ones)
    header = (
        f"digital accuracy of `{MODEL}`: {100 * digital:.2f}% ({args.limit or 'all'} test images)\n"
    )
    C.write_summary(
        args.out,
        "xiao",
        [*parts(args), "act4"],
        header,
        {"model": MODEL, "digital_accuracy": digital},
        "parts",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
