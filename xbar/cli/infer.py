"""``xbar infer``: test accuracy of a network on simulated crossbar arrays.

Every :class:`xbar.network.AnalogConfig` field can be set in a TOML file
(``--config``) or as a flag (``adc_bits`` -> ``--adc-bits``); flags override the
file.  ``--ideal`` turns every non-ideality off.

Examples::

    xbar infer --limit 200
    xbar infer --config chip.toml --adc-bits 8 --r-col 2.5 --json
    xbar infer --programming-error state_proportional --programming-sigma 0.1 --repeats 20
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "evaluate a network on simulated crossbar arrays (accuracy, per-layer statistics)"


#: What a field's special values mean, shown in ``--help`` (an effect at 0 is off).
FIELD_NOTES = {
    "weight_bits": "0 = unquantised analog weights",
    "weight_slices": "needs weight_bits > 0 when > 1",
    "input_bits": "resolution of bit_serial inputs",
    "dac_bits": "0 = no DAC quantisation; must be 0 with bit_serial inputs",
    "adc_bits": "0 = no ADC; negative is an error",
    "adc_range": "none = calibrated when the ADC is on; needs adc_bits >= 1",
    "programming_sigma": "0 = off",
    "read_noise_sigma": "0 = off",
    "drift_time": "seconds, 0 = no drift",
    "stuck_rate": "fraction of cells, 0 = off",
    "r_row": "ohm, 0 = ideal wire",
    "r_col": "ohm, 0 = ideal wire",
    "r_driver": "ohm, 0 = ideal driver",
    "r_sense": "ohm, 0 = ideal sense amplifier",
    "g_min": "siemens",
    "g_max": "siemens",
    "v_read": "volts",
    "read_pulse": "seconds per read (per input bit for bit_serial), > 0",
    "dac_energy": "joules per DAC conversion",
    "adc_fom": "joules per conversion step; an ADC conversion costs adc_fom * 2**adc_bits",
    "digital_energy": "joules per digital shift-and-add",
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
    for name, typ in AnalogConfig.field_types().items():
        if name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        metavar = {bool: "BOOL", int: "N", float: "X", str: "NAME"}[typ]
        extra = f"; one of {', '.join(CHOICES[name])}" if name in CHOICES else ""
        if name in FIELD_NOTES:
            extra += f" ({FIELD_NOTES[name]})"
        group.add_argument(flag, dest=f"cfg_{name}", default=None, metavar=metavar,
                           help=f"{typ.__name__}, default {getattr(defaults, name)!r}{extra}")


def config_overrides(args) -> dict:
    """The configuration fields given as flags (``cfg_<name>`` attributes that are set)."""
    out = {}
    for key, value in vars(args).items():
        if key.startswith("cfg_") and value is not None:
            name = key[4:]
            if name == "adc_range" and str(value).lower() in ("none", "off", ""):
                value = None
            out[name] = value
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
    p = subparsers.add_parser("infer", help=HELP, description=HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              epilog=__doc__.split("Examples::", 1)[1])
    p.add_argument("--model", default="default",
                   help="shipped model name (default, wrn-16-4, ...) or a saved model path")
    p.add_argument("--dataset", default="digits",
                   help="digits (default); synthetic-HxWxC, e.g. synthetic-32x32x3 for "
                        "wrn-16-4 (seeded random images and labels: timing only, accuracy is "
                        "chance); or an .npz with x_train, y_train, x_val, y_val, x_test, "
                        "y_test (NHWC)")
    p.add_argument("--config", metavar="FILE.toml", help="analog configuration file")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N test images")
    p.add_argument("--chips", default=None, metavar="LIST",
                   help="comma-separated chip indices (default: 0..repeats-1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--ideal", action="store_true", help="turn every non-ideality off")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-energy", action="store_true",
                   help="skip the energy accounting (array power, DAC, ADC, digital)")
    p.add_argument("--energy-plot", metavar="OUT.png", default=None,
                   help="write a figure of the energy per image by layer and part")
    add_config_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import ConfigError
    from ..network.data import load_dataset
    from ..network.evaluate import evaluate
    from ..network.model import load_model
    from ._progress import ProgressBar

    config = resolve_config(args)  # every config error before any loading
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit {args.limit}: must be at least 1")
    chips = None
    if args.chips:
        try:
            chips = [int(c) for c in args.chips.split(",") if c.strip()]
        except ValueError:
            raise ConfigError(f"--chips {args.chips!r}: expected comma-separated integers"
                              ) from None
        dupes = sorted({c for c in chips if chips.count(c) > 1})
        if dupes:
            raise ConfigError(f"--chips {args.chips!r}: chip {', '.join(map(str, dupes))} is "
                              "listed more than once", hint="list every chip index once")
    if args.energy_plot:
        if args.no_energy:
            raise ConfigError("--energy-plot needs the energy accounting (drop --no-energy)")
        from ..plot import check_path

        check_path(args.energy_plot)  # before the evaluation, not after it
    model = load_model(args.model)
    dataset = load_dataset(args.dataset)
    bar = ProgressBar("infer", enabled=False if args.no_progress else None)
    result = evaluate(model, config, dataset=dataset, limit=args.limit, chips=chips,
                      progress=bar, energy=not args.no_energy)
    if args.energy_plot:
        from ..network.energy import plot_breakdown

        plot_breakdown({s.name: s.energy for s in result.layer_stats}, args.energy_plot,
                       title=f"{args.model}: energy per image ({len(result.chips)} chip(s))")
    if args.json:
        d = result.to_dict()
        d["model"] = str(args.model)
        d["dataset"] = str(args.dataset)
        json.dump(d, sys.stdout)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"model {args.model}  data set {args.dataset}  {result.n_images} test images  "
              f"{len(result.chips)} chip(s)\n")
    out.write(f"analog accuracy   {result.accuracy:.4f}")
    if len(result.chips) > 1:
        out.write(f"  (std {result.accuracy_std:.4f}, min {result.accuracy_min:.4f})")
    out.write(f"\ndigital accuracy  {result.ideal_accuracy:.4f}\n")
    out.write(f"time {result.seconds:.2f} s (setup {result.setup_seconds:.2f} s, "
              f"{result.per_image_seconds * 1e3:.3f} ms per image and chip); transfer-matrix "
              f"cache: {result.cache['misses']} computed, {result.cache['hits']} hits\n")
    out.write(f"{'layer':<16}{'n_in':>6}{'n_out':>6}{'tiles':>6}{'rel.err':>10}"
              f"{'clip':>9}  adc ranges [A]\n")
    for s in result.layer_stats:
        ranges = " ".join(f"{r:.3g}" for r in s.adc_ranges) or "-"
        out.write(f"{s.name:<16}{s.n_in:>6}{s.n_out:>6}{s.tiles:>6}{s.rel_error:>10.4f}"
                  f"{s.clip_fraction:>9.2e}  {ranges}\n")
    if result.energy:
        _write_energy(out, result)
    if args.energy_plot:
        out.write(f"energy figure {args.energy_plot}\n")
    return 0


def _write_energy(out, result) -> None:
    """Energy per image: the network's split, then one line per layer [nJ]."""
    e = result.energy
    nj = 1e9
    out.write(f"energy per image  {e['total'] * nj:.4g} nJ: array {e['array'] * nj:.4g} "
              f"(cells {e['cells'] * nj:.4g}, wires {e['wires'] * nj:.4g}, drivers+sense "
              f"{(e['drivers'] + e['sense']) * nj:.4g}), DAC {e['dac'] * nj:.4g}, ADC "
              f"{e['adc'] * nj:.4g}, digital {e['digital'] * nj:.4g}; "
              f"{e['ops_per_joule'] / 1e12:.4g} effective TOPS/W\n")
    out.write(f"{'layer':<16}{'total nJ':>10}{'array':>10}{'wires':>10}{'DAC':>10}"
              f"{'ADC':>10}{'digital':>10}{'TOPS/W':>9}\n")
    for s in result.layer_stats:
        le = s.energy
        out.write(f"{s.name:<16}{le['total'] * nj:>10.4g}{le['array'] * nj:>10.4g}"
                  f"{le['wires'] * nj:>10.4g}{le['dac'] * nj:>10.4g}{le['adc'] * nj:>10.4g}"
                  f"{le['digital'] * nj:>10.4g}{le['ops_per_joule'] / 1e12:>9.4g}\n")
