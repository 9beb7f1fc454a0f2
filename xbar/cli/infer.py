"""``xbar infer``: test accuracy of a network on simulated crossbar arrays.

Every :class:`xbar.network.AnalogConfig` field can be set in a TOML file
(``--config``) or as a flag (``adc_bits`` -> ``--adc-bits``); flags override the
file.  ``--ideal`` turns every non-ideality off.

Examples::

    xbar infer --limit 200
    xbar infer --config chip.toml --adc-bits 8 --r-col 2.5 --json
    xbar infer --programming-error state_proportional --programming-sigma 0.1 --repeats 20
    xbar infer --config examples/rram_128.toml --layer '#0:digital' --layer 'dense:adc_bits=10'

Per-layer settings: --layer PATTERN:FIELD=VALUE[,FIELD=VALUE...] (repeatable) sets fields
on the matmul layers whose name matches PATTERN (a name, a glob such as 'fc*', or '#N' for
the N-th layer, '#-1' the last); 'PATTERN:digital' keeps them digital.  The same as a
section [layers."PATTERN"] of the TOML file (flags add to the file's sections).

Output: accuracy on the analog chips (mean over chips) and digitally (exact weights), then
one row per matmul layer:

    n_in, n_out  rows and output columns of the layer's weight matrix
    tiles        crossbar arrays the layer occupies per chip
    rel.err      relative error of the layer's analog matrix-vector products on the test
                 images, ||Y_analog - X W|| / ||X W|| (X the layer's actual inputs on the
                 chip, W the digital weights; 0 = exact, 0.01 = 1 %)
    clip         fraction of ADC conversions whose current fell outside the ADC range and
                 was clipped to it (0 without an ADC)
    adc ranges   the ADC full-scale current [A] of each cell plane (mean over chips)

With no non-ideality configured nothing analog is simulated (analog = digital): give effects
with --config FILE.toml (e.g. examples/rram_128.toml) or flags (--adc-bits, --r-row, ...).
"""

from __future__ import annotations

import argparse
import json
import sys

from ._data import DATASET_HELP, add_data_arguments, load_for_model, load_model_for_data

HELP = "evaluate a network on simulated crossbar arrays (accuracy, per-layer statistics)"


#: What a field's special values mean, shown in ``--help`` (an effect at 0 is off).
FIELD_NOTES = {
    "weight_bits": "0 = unquantised analog weights",
    "weight_slices": "needs weight_bits > 0 when > 1",
    "input_bits": "resolution of bit_serial inputs",
    "dac_bits": "0 = no DAC quantisation; must be 0 with bit_serial inputs",
    "adc_bits": "0 = no ADC; negative is an error",
    "adc_range": "none = calibrated when the ADC is on; needs adc_bits >= 1",
    "programming_error": "weight_range = paper 2's model as its released code applies "
    "it: every layer's weight W and bias b get p + sigma r n, one draw per chip, with the "
    "merged-range rule r_W = R(concat(b/f, W)), r_b = f r_W, f = R(b)/R(W), R = half "
    "range (biases on their own scale); a batch-norm's effective affine is perturbed as "
    "a layer of its own by the same rule, before it is folded into the conductances",
    "programming_sigma": "0 = off; the sigma of weight_range",
    "programming_mu": "paper 2's mean offset of weight_range error: p + r (sigma n + mu); "
    "0 = none (default)",
    "weight_range_fraction": "paper 2's noise_range: the half ranges of weight_range error "
    "over the inner fraction of each tensor's values; 1 = (max - min) / 2",
    "output_levels": "0 = off; paper 2's ADC: each analog layer's output X W + b quantised "
    "to N uniform levels over its min..max on the calibration (training) images",
    "weight_range_rule": "match_range = paper 2's code (above); separate_range = its "
    "match_range=False (each tensor its own range); absolute = its use_range=False (r = 1); "
    "folded_layer = xbar's "
    "earlier rule: sigma R(W) on the BN-folded W and b, unfoldable batch-norms noise-free",
    "read_noise_sigma": "0 = off",
    "drift_time": "seconds, 0 = no drift",
    "stuck_rate": "fraction of cells, 0 = off",
    "r_row": "ohm, 0 = ideal wire",
    "r_col": "ohm, 0 = ideal wire",
    "r_driver": "ohm, 0 = ideal driver",
    "r_sense": "ohm, 0 = ideal sense amplifier",
    "r_source": "ohm, source-line wire of input_switched arrays",
    "r_on": "ohm, access-transistor on-resistance of input_switched arrays",
    "g_min": "siemens",
    "g_max": "siemens",
    "v_read": "volts",
    "threads": "BLAS and numba threads; 0 = automatic: $XBAR_THREADS, else 1 BLAS thread",
    "read_pulse": "seconds per read (per input bit for bit_serial), > 0",
    "dac_energy": "joules per DAC conversion",
    "adc_fom": "joules per conversion step; an ADC conversion costs adc_fom * 2**adc_bits",
    "digital_energy": "joules per digital shift-and-add",
    "energy_chips": "chips whose energy is metered: the first N evaluated; 0 or all = every "
    "chip (more than one: the chip-to-chip spread is reported)",
    "energy_images": "test images whose array energy is metered: a seeded random sample of N "
    "(95%% CI reported); 0 = every image (DAC, ADC and digital energy count every image)",
    "biscale_shift": "k: small weights are stored amplified by 2**k (biscale scaling)",
    "biscale_threshold": "fraction of the layer's largest |w| below which a weight is small "
    "(biscale scaling); biscale_threshold * 2**biscale_shift <= 1",
    "array_rows": "cells per column of one physical array (tile)",
    "array_cols": "cells per row of one physical array (tile)",
    "adc_percentile": "percent of the calibration currents |I| inside a calibrated range",
    "programming_clip": "clip programmed conductances to [g_min, g_max] (true), at 0 S "
    "(false) or not at all (none: the Gaussian idealisation)",
    "read_noise_kind": "sigma relative to g_max or to the cell's conductance",
    "drift_nu": "drift exponent: G (drift_time / drift_t0)**-drift_nu",
    "drift_t0": "seconds, reference time of the drift law",
    "stuck_high_fraction": "fraction of the stuck cells stuck at g_max (the rest at g_min)",
    "device_k": "1/V, nonlinearity of sinh cells: I = G sinh(k V) / k",
    "nonlinear_mode": "nonlinear cells with parasitics: cached linearisation plus correction, "
    "or an exact Newton solve per MVM",
    "device_v0": "V, exponential cells: I = G v0 (exp(V / v0) - 1)",
    "device_alpha": "power_law cells: I = G (V + v_ref sign(V) |V / v_ref|**alpha), alpha >= 1",
    "device_v_ref": "V, power_law cells (see --device-alpha)",
    "device_table": "measured I-V table of tabulated cells: two columns, voltage [V] and "
    "current [A] (CSV or whitespace); normalised by its slope at 0 V",
    "seed": "seed of every random draw; chip k is the same chip in every run",
    "repeats": "independently programmed chips",
    "calibration_size": "training images that calibrate the input and ADC ranges",
    "calibration": "design = once on the error-free design, kept for every chip; chip = "
    "every chip on its own",
    "adc_pow2": "calibrated ranges of a weight's bit slices differ by powers of two",
    "activation_bits": "0 = off; quantise every matmul layer's input to B bits",
    "pad_tiles": "simulate partly used tiles with wires as the whole physical array",
}


def add_config_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per AnalogConfig field (``adc_bits`` -> ``--adc-bits``, dest ``cfg_adc_bits``).

    Values are kept as strings and converted (and validated) by
    :meth:`AnalogConfig.from_dict`, so a bad value is reported as a ConfigError
    naming the field.
    """
    from ..network.config import CHOICES, AnalogConfig

    group = parser.add_argument_group("configuration fields (override --config)")
    defaults = AnalogConfig()
    group.add_argument(
        "--layer",
        dest="layer_rules",
        action="append",
        default=None,
        metavar="PATTERN:FIELD=VALUE[,...]",
        help="per-layer settings for the matmul layers matching PATTERN (name, glob such as "
        "'fc*', or '#N' = N-th layer, '#-1' the last); repeatable; 'PATTERN:digital' keeps "
        "them digital; e.g. --layer 'conv1:adc_bits=10,r_row=2'",
    )
    for name, typ in AnalogConfig.field_types().items():
        if name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        metavar = {bool: "BOOL", int: "N", float: "X", str: "NAME"}[typ]
        extra = f"; one of {', '.join(CHOICES[name])}" if name in CHOICES else ""
        if name in FIELD_NOTES:
            extra += f" ({FIELD_NOTES[name]})"
        group.add_argument(
            flag,
            dest=f"cfg_{name}",
            default=None,
            metavar=metavar,
            help=f"{typ.__name__}, default {getattr(defaults, name)!r}{extra}",
        )


def config_overrides(args) -> dict:
    """The configuration fields given as flags (``cfg_<name>`` attributes that are set)."""
    from ..network.layerwise import parse_layer_option

    out = {}
    for key, value in vars(args).items():
        if key.startswith("cfg_") and value is not None:
            name = key[4:]
            if name == "adc_range" and str(value).lower() in ("none", "off", ""):
                value = None
            out[name] = value
    layers: dict[str, dict] = {}
    for text in getattr(args, "layer_rules", None) or ():
        pattern, fields = parse_layer_option(text)
        if str(fields.get("adc_range", "x")).lower() in ("none", "off"):
            fields["adc_range"] = None
        layers.setdefault(pattern, {}).update(fields)
    if layers:
        out["layers"] = layers
    return out


def resolve_config(args):
    """AnalogConfig from ``--config`` plus flags (plus ``--ideal``)."""
    from ..network.config import AnalogConfig

    overrides = config_overrides(args)
    if getattr(args, "config", None):
        cfg = AnalogConfig.from_toml(args.config, **overrides)
    else:
        cfg = AnalogConfig.from_dict(overrides, source="command line")
    if getattr(args, "ideal", False):
        cfg = cfg.as_ideal()
    return cfg


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "infer",
        help=HELP,
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    p.add_argument(
        "--model",
        default="default",
        help="shipped model name (default, default_noise, default_hessian, default_act4, "
        "wrn-D-K), a saved model path or an .onnx file (FILE.onnx#OUTPUT picks one output of "
        "a graph with several; default: default, the digits CNN)",
    )
    p.add_argument("--dataset", default="digits", help=DATASET_HELP)
    p.add_argument("--config", metavar="FILE.toml", help="analog configuration file")
    p.add_argument(
        "--limit", type=int, default=None, help="evaluate the first N test images (default: all)"
    )
    p.add_argument(
        "--chips",
        default=None,
        metavar="LIST",
        help="comma-separated chip indices (default: 0..repeats-1)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--ideal", action="store_true", help="turn every non-ideality off")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-energy",
        action="store_true",
        help="skip the energy accounting (array power, DAC, ADC, digital)",
    )
    p.add_argument(
        "--energy-plot",
        metavar="OUT.png",
        default=None,
        help="write a figure of the energy per image by layer and part",
    )
    add_config_arguments(p)
    add_data_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``xbar infer``: evaluate a model on simulated analog chips and report accuracy,
    timing, per-layer statistics and energy."""
    from ..errors import ConfigError
    from ..network.evaluate import evaluate
    from ._progress import ProgressBar
    from ._threads import apply_threads

    config = resolve_config(args)  # every config error before any loading
    apply_threads(config.threads)
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: must be at least 1")
    chips = _parse_chips(args.chips)
    if args.energy_plot:
        if args.no_energy:
            raise ConfigError("--energy-plot needs the energy accounting (drop --no-energy)")
        from ..plot import check_path

        check_path(args.energy_plot)  # before the evaluation, not after it
    model = load_model_for_data(args, config.calibration_size)
    dataset = load_for_model(args, model, config.calibration_size)
    bar = ProgressBar("infer", enabled=False if args.no_progress else None)
    try:
        result = evaluate(
            model,
            config,
            dataset=dataset,
            limit=args.limit,
            chips=chips,
            progress=bar,
            energy=not args.no_energy,
        )
    finally:
        bar.finish()
    notes = config_notes(config, len(result.chips), ideal=args.ideal)
    if str(getattr(dataset, "name", "")).startswith("synthetic"):
        notes.append(
            f"{dataset.name} is seeded random images with random labels, for timing "
            f"only: every accuracy is chance (about 1/{dataset.classes}), so "
            f"{result.n_images} image(s) can well score 0"
        )
    if args.energy_plot:
        from ..network.energy import plot_breakdown

        plot_breakdown(
            {s.name: s.energy for s in result.layer_stats},
            args.energy_plot,
            title=f"{args.model}: energy per image ({len(result.chips)} chip(s))",
        )
    if args.json:
        d = result.to_dict()
        d["model"] = str(args.model)
        d["dataset"] = str(args.dataset)
        d["notes"] = notes
        json.dump(d, sys.stdout)
        sys.stdout.write("\n")
        return 0
    _print_result(result, args, notes)
    return 0


def _parse_chips(text: str | None) -> list[int] | None:
    """``--chips 0,3,7``: the chip indices, each once (None: the configured chips)."""
    from ..errors import ConfigError

    if not text:
        return None
    try:
        chips = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise ConfigError(f"--chips {text!r}: expected comma-separated integers") from None
    dupes = sorted({c for c in chips if chips.count(c) > 1})
    if dupes:
        raise ConfigError(
            f"--chips {text!r}: chip {', '.join(map(str, dupes))} is listed more than once",
            hint="list every chip index once",
        )
    return chips


def _print_result(result, args, notes: list[str]) -> None:
    """Notes on stderr, then accuracy, timing, the per-layer table and energy on stdout."""
    notes = notes + [
        f"layer {s.name!r}: {100 * s.input_clip_fraction:.2g} % of its quantised inputs "
        "exceeded the calibrated input range and were applied at full scale"
        for s in result.layer_stats
        if s.input_clip_fraction > 0
    ]
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    out = sys.stdout
    out.write(
        f"model {args.model}  data set {args.dataset}  {result.n_images} test images  "
        f"{len(result.chips)} chip(s)\n"
    )
    out.write(f"analog accuracy   {result.accuracy:.4f}")
    if len(result.chips) > 1:
        lo, hi = result.accuracy_ci95
        out.write(
            f"  (95% CI of the mean [{lo:.4f}, {hi:.4f}], s.e. {result.accuracy_sem:.4f}; "
            f"std {result.accuracy_std:.4f}, min {result.accuracy_min:.4f})"
        )
    out.write(f"\ndigital accuracy  {result.ideal_accuracy:.4f}\n")
    out.write(
        f"time {result.seconds:.2f} s (setup {result.setup_seconds:.2f} s, "
        f"{result.per_image_seconds * 1e3:.3f} ms per image and chip); transfer-matrix "
        f"cache: {result.cache['misses']} computed, {result.cache['hits']} hits\n"
    )
    out.write(layer_table(result.layer_stats))
    out.write(layer_settings_lines(result.layer_stats))
    if result.energy:
        _write_energy(out, result)
    if args.energy_plot:
        out.write(f"energy figure {args.energy_plot}\n")


def config_notes(config, chips: int, *, ideal: bool = False) -> list[str]:
    """What the user may not expect: nothing analog simulated, identical chips."""
    notes = []
    if not config.nonidealities and not ideal:
        notes.append(
            "no non-ideality is configured, so nothing analog was simulated and the "
            "analog accuracy equals the digital one; set effects with --config "
            "FILE.toml (e.g. examples/rram_128.toml) or flags such as --adc-bits, "
            "--programming-error/--programming-sigma, --r-row"
        )
    elif chips > 1 and not config.random_effects:
        notes.append(
            f"the {chips} chips are identical: no random effect (programming "
            "error, read noise, stuck cells) is configured, so repeats only repeat "
            "the same chip"
        )
    return notes


def layer_table(stats) -> str:
    """The per-layer table, every column as wide as its widest entry (header included)."""
    head = ["layer", "n_in", "n_out", "tiles", "rel.err", "clip", "adc ranges [A]"]
    # (a digital layer: 0 tiles, "digital" in place of its ADC ranges)
    rows = [
        [
            s.name,
            str(s.n_in),
            str(s.n_out),
            str(s.tiles),
            f"{s.rel_error:.4f}",
            f"{s.clip_fraction:.2e}",
            "digital"
            if s.settings.get("digital")
            else " ".join(f"{r:.3g}" for r in s.adc_ranges) or "-",
        ]
        for s in stats
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = []
    for r in [head, *rows]:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:-1], widths[1:-1], strict=True)
        ]
        lines.append("  ".join(cells) + "  " + r[-1])
    return "\n".join(lines) + "\n"


def layer_settings_lines(stats) -> str:
    """One line per layer that per-layer rules changed: its settings and the sections."""
    lines = []
    for s in stats:
        if not s.settings:
            continue
        what = ", ".join(
            "digital"
            if k == "digital"
            else f"{k}={v!r}"
            if isinstance(v, str)
            else f"{k}={v:g}"
            if isinstance(v, float)
            else f"{k}={v}"
            for k, v in s.settings.items()
        )
        sections = ", ".join(f'[layers."{p}"]' for p in s.sections)
        lines.append(f"layer {s.name}: {what}  ({sections})\n")
    return "".join(lines)


def metered_line(result) -> str:
    """Which chips the energy was metered on and, for several, its chip-to-chip spread."""
    chips = result.energy_chips
    names = ", ".join(map(str, chips[:8])) + (", ..." if len(chips) > 8 else "")
    n_all = len(result.chips)
    if len(chips) < 2:
        more = " (--energy-chips N or all to meter more)" if n_all > len(chips) else ""
        return f"energy metered on chip {names} of {n_all}{more}"
    sp = result.energy_spread
    lo, hi = sp["total"]["ci95"]
    return (
        f"energy metered on {len(chips)} of {n_all} chips ({names}): chip-to-chip std "
        f"{100 * sp['total']['rel_std']:.2g} % of the total, {100 * sp['array']['rel_std']:.2g} "
        f"% of the array energy; 95% CI of the mean total [{lo * 1e9:.4g}, {hi * 1e9:.4g}] nJ"
    )


def sample_line(result) -> str:
    """With a sample of images metered: the array energy's estimate and its 95 % CI."""
    s = getattr(result, "energy_sample", None)
    if not s:
        return ""
    lo, hi = s["ci95"]
    std = 100 * s["std"] / s["mean"] if s["mean"] > 0 else float("nan")
    return (
        f"array energy from a seeded sample of {s['images']} of {s['of']} images: "
        f"{s['mean'] * 1e9:.4g} nJ per image, 95% CI [{lo * 1e9:.4g}, {hi * 1e9:.4g}] "
        f"(+-{100 * s['rel_ci95']:.2g} %; image-to-image std {std:.2g} %; "
        "--energy-images 0 meters every image)"
    )


def _write_energy(out, result) -> None:
    """Energy per image: the network's split, then one line per layer [nJ]."""
    e = result.energy
    nj = 1e9
    out.write(
        f"energy per image  {e['total'] * nj:.4g} nJ: array {e['array'] * nj:.4g} "
        f"(cells {e['cells'] * nj:.4g}, wires {e['wires'] * nj:.4g}, drivers+sense "
        f"{(e['drivers'] + e['sense']) * nj:.4g}), DAC {e['dac'] * nj:.4g}, ADC "
        f"{e['adc'] * nj:.4g}, digital {e['digital'] * nj:.4g}; "
        f"{e['ops_per_joule'] / 1e12:.4g} effective TOPS/W\n"
    )
    out.write(metered_line(result) + "\n")
    sampled = sample_line(result)
    if sampled:
        out.write(sampled + "\n")
    out.write(
        f"{'layer':<16}{'total nJ':>10}{'array':>10}{'wires':>10}{'DAC':>10}"
        f"{'ADC':>10}{'digital':>10}{'TOPS/W':>9}\n"
    )
    for s in result.layer_stats:
        le = s.energy
        if not le:  # a digital layer: not metered
            out.write(f"{s.name:<16}{'digital (not metered)':>30}\n")
            continue
        out.write(
            f"{s.name:<16}{le['total'] * nj:>10.4g}{le['array'] * nj:>10.4g}"
            f"{le['wires'] * nj:>10.4g}{le['dac'] * nj:>10.4g}{le['adc'] * nj:>10.4g}"
            f"{le['digital'] * nj:>10.4g}{le['ops_per_joule'] / 1e12:>9.4g}\n"
        )
