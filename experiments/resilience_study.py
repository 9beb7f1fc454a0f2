"""Issue 7, item 6: Wan et al. (2022) at small scale on the digits CNN.

Accuracy versus the paper's programming error (kind ``weight_range``: W' = W + sigma R n, R
half the layer's weight range) for sigma 0 to 0.3, 20 chips per point, for the shipped
models trained ``plain`` (``default``), with noise injection (``default_noise``) and with the
Hessian penalty (``default_hessian``), each with ``layer``, ``column`` and ``biscale``
weight scaling.  Then the same with wire resistance and an 8-bit calibrated ADC on
(``--circuit`` part), which the paper could not simulate.

Writes ``docs/figures/wan_<condition>_<model>.csv``, ``wan_<condition>.png`` (one panel per
model, one curve per scaling), ``wan_<condition>_layer.png`` (models compared) and
``wan_summary.json`` / ``wan_summary.md`` with the recovery numbers of the issue's judging
criterion.  Run: ``python experiments/resilience_study.py [--chips 20] [--limit N]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402

MODELS = {"plain": "default", "noise": "default_noise", "hessian": "default_hessian"}
SIGMAS = [0.0, 0.05, 0.1, 0.12, 0.15, 0.2, 0.3]
SCALINGS = ["layer", "column", "biscale"]
#: the sigma where the judging comparisons are made with --judge-chips chips (common seeds)
JUDGE = {"ideal_circuit": 0.12, "circuit": 0.1}


def conditions(args):
    from xbar.network.config import AnalogConfig

    base = AnalogConfig(programming_error="weight_range", mapping="differential", g_min=0.0, seed=7)
    return {
        "ideal_circuit": (base, "weight error only (the paper's model)"),
        "circuit": (
            base.replace(r_col=args.wire_r, adc_bits=8, adc_range="calibrated"),
            f"+ bit-line wires {args.wire_r:g} ohm/cell, 8-bit calibrated ADC",
        ),
    }


def paired(judge):
    """Paired differences (common chip seeds) at the judging sigma: every (model, scaling)
    minus plain/layer, and bi-scale minus layer per model, in points with 95 % CI."""
    from xbar.network.stats import mean_ci, paired_difference

    def acc(t, s):
        return t.accuracies[0, t.values[1].index(s)] if s in t.values[1] else None

    base = acc(judge["plain"], "layer")
    out = {
        "sigma": judge["plain"].values[0][0],
        "chips": judge["plain"].chips,
        "accuracy": {},
        "vs_plain_layer": {},
        "biscale_vs_layer": {},
        "column_vs_layer": {},
    }
    for k, t in judge.items():
        for s in t.values[1]:
            a = acc(t, s)
            out["accuracy"][f"{k}/{s}"] = {**mean_ci(a).to_dict(), "min": float(a.min())}
            if (k, s) != ("plain", "layer"):
                out["vs_plain_layer"][f"{k}/{s}"] = paired_difference(a, base).to_dict()
        for s in ("biscale", "column"):
            if s in t.values[1]:
                out[f"{s}_vs_layer"][k] = paired_difference(acc(t, s), acc(t, "layer")).to_dict()
    if "hessian" in judge and "noise" in judge:
        out["hessian_vs_noise_layer"] = paired_difference(
            acc(judge["hessian"], "layer"), acc(judge["noise"], "layer")
        ).to_dict()
    return out


def _ci(d, scale=100.0):
    """``mean [low, high]`` of a MeanCI dict, in points."""
    return f"{scale * d['mean']:+.1f} [{scale * d['low']:+.1f}, {scale * d['high']:+.1f}]" + (
        "" if d["low"] > 0 or d["high"] < 0 else " (none)"
    )


def judge_report(pj) -> list[str]:
    lines = [
        f"At sigma = {pj['sigma']}, {pj['chips']} chips (common seeds), mean accuracy "
        "[95% CI] and paired differences in points [95% CI]; '(none)': the interval "
        "contains 0.\n",
        "| model / scaling | accuracy % | std | worst chip | minus plain/layer (points) |",
        "|---|---|---|---|---|",
    ]
    for key, acc in pj["accuracy"].items():
        d = pj["vs_plain_layer"].get(key)
        lines.append(
            f"| {key} | {100 * acc['mean']:.1f} [{100 * acc['low']:.1f}, "
            f"{100 * acc['high']:.1f}] | {100 * acc['std']:.1f} | {100 * acc['min']:.1f} | "
            f"{_ci(d) if d else '-'} |"
        )
    lines += ["", "| model | biscale minus layer | column minus layer |", "|---|---|---|"]
    for k in pj["biscale_vs_layer"]:
        col = pj["column_vs_layer"].get(k)
        lines.append(f"| {k} | {_ci(pj['biscale_vs_layer'][k])} | {_ci(col) if col else '-'} |")
    if "hessian_vs_noise_layer" in pj:
        lines.append(
            f"\nhessian minus noise training (layer scaling): {_ci(pj['hessian_vs_noise_layer'])}"
        )
    return lines + [""]


def judge_loss(pj, digital) -> list[str]:
    """Plain/layer's loss at the judging point and the share of it each remedy recovers
    (mean paired difference over the loss; the intervals are those of the table)."""
    acc = pj["accuracy"]["plain/layer"]
    loss = digital["plain"] - acc["mean"]
    lines = [
        f"plain / layer: digital {100 * digital['plain']:.2f}% -> {100 * acc['mean']:.1f}% "
        f"at sigma = {pj['sigma']} (loss {100 * loss:.1f} points; chip-to-chip std "
        f"{100 * acc['std']:.1f}, worst chip {100 * acc['min']:.1f}%)."
    ]
    if loss > 0:
        shares = [
            f"{key} {100 * d['mean'] / loss:.0f}%"
            + ("" if d["low"] > 0 or d["high"] < 0 else " (none)")
            for key, d in pj["vs_plain_layer"].items()
        ]
        lines.append("Share of that loss recovered: " + ", ".join(shares) + ".")
    return lines + [""]


def recovery(tables, clean_index=0, threshold=0.10):
    """Judging numbers: where plain/layer loses >= threshold, how much each remedy recovers."""
    plain = tables["plain"]
    j_layer = SCALINGS.index("layer")
    m_plain = plain.mean[:, j_layer]
    clean = m_plain[clean_index]
    loss = clean - m_plain
    hit = np.nonzero(loss >= threshold)[0]
    if len(hit) == 0:
        return {"sigma": None, "note": f"plain/layer never loses {100 * threshold:.0f} points"}
    i = int(hit[0])
    out = {
        "sigma": plain.values[0][i],
        "plain_layer_clean": clean,
        "plain_layer_at_sigma": m_plain[i],
        "loss_points": 100 * loss[i],
        "remedies": {},
    }
    cands = {f"{k}/layer": (k, "layer") for k in ("noise", "hessian") if k in tables}
    cands.update({f"plain/{s}": ("plain", s) for s in ("column", "biscale")})
    cands.update(
        {
            f"{k}/{s}": (k, s)
            for k in ("noise", "hessian")
            if k in tables
            for s in ("column", "biscale")
        }
    )
    for label, (k, s) in cands.items():
        j = SCALINGS.index(s)
        m = tables[k].mean[:, j]
        out["remedies"][label] = {
            "clean": m[clean_index],
            "at_sigma": m[i],
            "std_at_sigma": tables[k].std[i, j],
            "recovered_fraction": (m[i] - m_plain[i]) / loss[i],
            "clean_drop_points_vs_plain": 100 * (clean - m[clean_index]),
        }
    return out


def main(argv=None) -> int:
    p = C.parser(__doc__.split("\n")[0])
    p.add_argument(
        "--wire-r",
        type=float,
        default=10.0,
        help="bit-line (column) wire resistance per cell in the circuit condition "
        "[ohm]; rows are ideal, as in Xiao et al.'s parasitics model",
    )
    p.add_argument(
        "--circuit-chips",
        type=int,
        default=None,
        help="chips per point in the circuit condition (default: --chips)",
    )
    p.add_argument(
        "--circuit-sigmas",
        type=float,
        nargs="*",
        default=None,
        help="sigma grid of the circuit condition (default: the full grid)",
    )
    p.add_argument("--models", nargs="*", default=list(MODELS))
    p.add_argument(
        "--judge-chips",
        type=int,
        default=100,
        help="chips at the judging sigma of each condition (paired comparisons)",
    )
    p.add_argument(
        "--circuit-judge-chips",
        type=int,
        default=None,
        help="chips at the judging sigma of the circuit condition",
    )
    p.add_argument(
        "--sigmas",
        type=float,
        nargs="*",
        default=None,
        help="sigma grid of the curves (default: the full grid)",
    )
    p.add_argument(
        "--curve-limit",
        type=int,
        default=None,
        help="test images of the curves (the judging points use --limit)",
    )
    args = p.parse_args(argv)
    chips = args.chips or 20
    from xbar.network import plot_sweep
    from xbar.network.sweep import SweepTable

    summary = {"chips": chips, "limit": args.limit, "sigmas": SIGMAS, "conditions": {}}
    digital = {k: C.digital_accuracy(MODELS[k], args.limit) for k in args.models}
    summary["digital_accuracy"] = digital
    for cond, (base, title) in conditions(args).items():
        if args.only and cond not in args.only:
            continue
        n_chips = args.circuit_chips if cond == "circuit" and args.circuit_chips else chips
        sigmas = (
            args.circuit_sigmas
            if cond == "circuit" and args.circuit_sigmas
            else (args.sigmas or SIGMAS)
        )
        j_chips = (
            args.circuit_judge_chips
            if cond == "circuit" and args.circuit_judge_chips
            else args.judge_chips
        )
        judge = {
            key: C.run(
                f"wan_{cond}_{MODELS[key]}_judge",
                MODELS[key],
                base,
                {
                    "programming_sigma": [JUDGE[cond]],
                    "weight_scaling": SCALINGS if key == "plain" else ["layer", "biscale"],
                },
                args,
                chips=j_chips,
            )
            for key in args.models
        }
        tables = {}
        for key in args.models:
            tables[key] = C.run(
                f"wan_{cond}_{MODELS[key]}",
                MODELS[key],
                base,
                {"programming_sigma": sigmas, "weight_scaling": SCALINGS},
                args,
                chips=n_chips,
                limit=args.curve_limit,
            )
        fig, axes = C.figure(len(tables))
        for ax, (key, t) in zip(axes[0], tables.items(), strict=True):
            plot_sweep(
                t, ax=ax, title=f"{key} training ({MODELS[key]})", digital=digital[key], band="ci"
            )
            ax.set_ylim(0, 100)
        fig.suptitle(f"{title}; mean and 95% CI over {n_chips} chips", fontsize=10)
        fig.savefig(args.out / f"wan_{cond}.png", dpi=150)
        # the three trainings compared, one panel per scaling
        fig, axes = C.figure(len(SCALINGS))
        for j, (ax, s) in enumerate(zip(axes[0], SCALINGS, strict=True)):
            acc = np.stack([t.accuracies[:, j, :] for t in tables.values()], axis=1)
            comb = SweepTable(
                fields=("programming_sigma", "training"),
                values=(tuple(sigmas), tuple(tables)),
                accuracies=acc,
                seconds=np.zeros_like(acc),
            )
            plot_sweep(comb, ax=ax, title=f"{s} scaling", band="ci")
            ax.set_ylim(0, 100)
        fig.suptitle(f"{title}; mean and 95% CI over {n_chips} chips", fontsize=10)
        fig.savefig(args.out / f"wan_{cond}_by_training.png", dpi=150)

        pj = paired(judge)
        rec = recovery(tables)
        C.save_json(
            args.out / f"wan_{cond}.json",
            {
                "title": title,
                "chips": n_chips,
                "limit": args.limit,
                "config": base.to_dict(),
                "tables": {k: t.summary() for k, t in tables.items()},
                "recovery": rec,
                "judge": pj,
            },
        )
        report = [f"### {cond}: {title} ({n_chips} chips per point)\n"]
        for key, t in tables.items():
            report.append(f"**{key}** ({MODELS[key]})\n\n" + C.markdown_table(t) + "\n")
        if rec.get("sigma") is None:
            report.append(rec["note"] + "\n")
        else:
            report.append(
                f"plain/layer loses {rec['loss_points']:.1f} points at sigma = {rec['sigma']} "
                f"({100 * rec['plain_layer_clean']:.1f}% -> "
                f"{100 * rec['plain_layer_at_sigma']:.1f}%).\n"
            )
            report.append("| remedy | clean % | at sigma % | recovered | clean drop (pts) |")
            report.append("|---|---|---|---|---|")
            for label, r in rec["remedies"].items():
                report.append(
                    f"| {label} | {100 * r['clean']:.1f} | {100 * r['at_sigma']:.1f}"
                    f" +/- {100 * r['std_at_sigma']:.1f} | "
                    f"{100 * r['recovered_fraction']:.0f}% | "
                    f"{r['clean_drop_points_vs_plain']:+.1f} |"
                )
            report.append("")
        report += [
            f"#### Paired comparisons at sigma = {JUDGE[cond]} ({j_chips} chips)\n"
        ] + judge_report(pj)
        (args.out / f"wan_{cond}.md").write_text("\n".join(report))
        if args.out == C.FIGURES:  # the numbers of docs/resilience.md
            images = f"first {args.limit}" if args.limit else "all 539"
            block = [
                f"Judging point sigma = {JUDGE[cond]}, {j_chips} chips, {images} test "
                "images, common chip seeds (from `experiments/resilience_study.py`):\n"
            ]
            block += judge_report(pj)[1:] + judge_loss(pj, digital)
            C.fill_doc(C.ROOT / "docs" / "resilience.md", cond, "\n".join(block))
    # the summary collects every condition done so far (this run or earlier ones)
    header = (
        "digital accuracy: "
        + ", ".join(f"{k} ({MODELS[k]}) {100 * v:.2f}%" for k, v in digital.items())
        + "\n"
    )
    C.write_summary(args.out, "wan", conditions(args), header, summary, "conditions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
