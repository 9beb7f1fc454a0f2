"""``xbar sweep``: network accuracy over one or two configuration fields, many chips per point.

Examples::

    xbar sweep --field programming_sigma --values 0,0.05,0.1 \\
        --field2 mapping --values2 differential,offset --repeats 5 --limit 200 \\
        --out sweep.csv --plot sweep.png
    xbar sweep --field adc_bits --values 4,6,8 --scheduler local --workers 2 --json
    xbar sweep --field 'dense:adc_bits' --values 4,6,8 --config examples/rram_128.toml \\
        --repeats 5                     # one layer's field (PATTERN:FIELD, see --layer)
"""

from __future__ import annotations

import argparse

from ._data import DATASET_HELP, add_data_arguments, load_for_model, refuse_preparation_flags

HELP = "sweep one or two configuration fields over many simulated chips (CSV + plot)"


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per AnalogConfig field (``adc_bits`` -> ``--adc-bits``), shared with ``infer``."""
    from .infer import add_config_arguments

    add_config_arguments(parser, skip=("repeats",))


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help=HELP,
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    p.add_argument(
        "--field",
        required=True,
        help="configuration field to sweep (x axis); PATTERN:FIELD sweeps it on the layers "
        "matching PATTERN only (e.g. 'dense:adc_bits', '#0:r_row')",
    )
    p.add_argument("--values", required=True, help="comma-separated values of --field")
    p.add_argument("--field2", help="second field: one curve per value (e.g. mapping)")
    p.add_argument("--values2", help="comma-separated values of --field2")
    p.add_argument(
        "--model",
        default="default",
        help="shipped model name, saved model path or .onnx file (FILE.onnx#OUTPUT picks "
        "one output of a graph with several; default: default, the digits CNN)",
    )
    p.add_argument("--dataset", default="digits", help=DATASET_HELP)
    p.add_argument("--config", metavar="FILE.toml", help="base analog configuration")
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="chips (independent programming draws) per grid point (default: the "
        "configuration's repeats, 1)",
    )
    p.add_argument(
        "--limit", type=int, default=None, help="evaluate the first N test images (default: all)"
    )
    p.add_argument(
        "--out",
        default="sweep.csv",
        help="CSV of every (point, chip) result; rerun to resume (default sweep.csv); "
        "locked while the sweep runs: a second sweep on it is refused",
    )
    p.add_argument("--plot", metavar="PNG", help="write accuracy vs --field here")
    p.add_argument(
        "--energy",
        action="store_true",
        help="also plot the mean energy per image (nJ) next to the accuracy",
    )
    p.add_argument(
        "--band",
        choices=("std", "ci", "minmax", "none"),
        default="std",
        help="band around the mean in the plot: +/- one std over chips (default), "
        "95%% CI of the mean, min-max, none",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS|local",
        help="run on a Dask cluster (tcp://host:8786) or a LocalCluster ('local')",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (local processes or LocalCluster; default: CPUs)",
    )
    p.add_argument("--serial", action="store_true", help="run every task in this process")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _config_flags(p)
    add_data_arguments(p)
    p.set_defaults(func=run)


def _overrides(args) -> dict:
    from .infer import config_overrides

    out = config_overrides(args)
    if args.repeats is not None:
        out["repeats"] = args.repeats
    return out


def _base_config(args, overrides: dict):
    """The base AnalogConfig from ``--config`` and flags, type-checked but not validated.

    Field values are converted and checked for type (unknown fields and bad types are
    errors here), but the cross-field validation is left to :func:`xbar.network.sweep`,
    which validates every grid point's configuration (base + swept values) before any
    work: the base alone may be invalid on the swept fields, e.g. ``--adc-range
    calibrated`` with the default ``adc_bits=0`` when ``adc_bits`` is swept.
    """
    import dataclasses

    from ..network.config import AnalogConfig

    class _Unvalidated(AnalogConfig):
        def validate(self):
            return self

    if args.config:
        raw = _Unvalidated.from_toml(args.config, **overrides)
    else:
        raw = _Unvalidated.from_dict(overrides, source="command line")
    return AnalogConfig(**{f.name: getattr(raw, f.name) for f in dataclasses.fields(raw)})


def _dataset(args, base):
    """The prepared ``--dataset``, or None for the model's own test set (the digits)."""
    if str(args.dataset) == "digits":
        refuse_preparation_flags(args, "digits")
        return None
    return load_for_model(args, args.model, base.calibration_size)


def _axes(args, base):
    """The swept fields and their values (``--field``/``--values``, ``--field2``/
    ``--values2``), and the base configuration adjusted for them."""
    import dataclasses
    import sys

    from ..errors import ConfigError
    from ..network.sweep import parse_values

    if (args.field2 is None) != (args.values2 is None):
        raise ConfigError("--field2 and --values2 go together")
    axes = {args.field: parse_values(base, args.field, args.values)}
    if args.field2:
        if args.field2 == args.field:
            raise ConfigError(f"--field2 {args.field2!r} repeats --field")
        axes[args.field2] = parse_values(base, args.field2, args.values2)
    for field, kind, what in _ERROR_KIND_FOR:
        if field in axes and base.programming_error == "none":
            base = dataclasses.replace(base, programming_error=kind)
            print(
                f"note: sweeping {field}{what} with programming_error='none'; using "
                f"{kind} (set --programming-error to choose)",
                file=sys.stderr,
            )
    return axes, base


#: the error kind a sweep of an error field uses when none is chosen (field, kind, note)
_ERROR_KIND_FOR = (
    ("programming_mu", "weight_range", " (paper 2's mean offset)"),
    ("programming_sigma", "state_independent", ""),
)


def _executor(args) -> str:
    """The executor the flags ask for (checking ``--limit``, ``--workers`` and the plot
    directory first): a Dask scheduler address, ``"serial"`` or ``"processes"``."""
    from ..errors import ConfigError

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.scheduler and args.serial:
        raise ConfigError("--serial and --scheduler exclude each other")
    if args.plot:
        from pathlib import Path

        plot_dir = Path(args.plot).parent
        if not plot_dir.is_dir():
            raise ConfigError(
                f"cannot write plot {args.plot!r}: directory {str(plot_dir)!r} does not exist"
            )
    if args.scheduler:
        return args.scheduler
    if args.serial or args.workers == 1:
        return "serial"
    return "processes"


def _print_table(table, args, seconds: float) -> None:
    """One line per point: the swept values, accuracy statistics and energy."""
    names = list(table.fields)
    head = "  ".join(f"{n:>18}" for n in names)
    print(
        f"{head}  {'mean %':>7}  {'95% CI of mean':>15}  {'std':>5}  {'min %':>6}  "
        f"{'max %':>6}  {'nJ/image':>9}"
    )

    def pct(x):
        return "   nan" if x is None else f"{100 * x:6.2f}"

    for row in table.summary():
        vals = "  ".join(f"{row[n]!s:>18}" for n in names)
        lo, hi = row["accuracy_ci95"]
        ci = f"[{pct(lo).strip()}, {pct(hi).strip()}]" if lo is not None else "-"
        e = row.get("energy_per_image")
        print(
            f"{vals}  {pct(row['accuracy']):>7}  {ci:>15}  {pct(row['accuracy_std'])[1:]:>5}  "
            f"{pct(row['accuracy_min'])}  {pct(row['accuracy_max'])}  "
            f"{'nan' if e is None else format(1e9 * e, '.4g'):>9}"
        )
    print(
        f"{table.chips} chip(s) per point; {table.computed} task(s) run, {table.reused} "
        f"reused from {args.out}; {seconds:.1f} s" + (f"; plot {args.plot}" if args.plot else "")
    )


def run(args) -> int:
    import json
    import time

    from ..network.sweep import plot_sweep, sweep
    from ._progress import ProgressBar
    from ._threads import apply_threads

    overrides = _overrides(args)
    base = _base_config(args, overrides)
    apply_threads(base.threads)  # workers get one thread each unless --threads is given
    axes, base = _axes(args, base)
    executor = _executor(args)

    dataset = _dataset(args, base)
    bar = ProgressBar("sweep")
    t0 = time.perf_counter()
    # what `xbar` adds to its one line on Ctrl-C or SIGTERM
    args.interrupt_hint = f"finished points are kept in {args.out} (rerun to resume)"
    table = sweep(  # SIGTERM unwinds as Ctrl-C does (xbar.cli.main): workers are stopped
        args.model,
        base,
        axes,
        out=args.out,
        executor=executor,
        workers=args.workers,
        limit=args.limit,
        dataset=dataset,
        progress=bar,
    )
    args.interrupt_hint = ""
    seconds = time.perf_counter() - t0
    if args.plot:
        title = f"{args.model}: {table.chips} chip(s) per point"
        plot_sweep(table, args.plot, band=args.band, title=title, energy=args.energy)

    if args.json:
        print(
            json.dumps(
                {
                    "fields": list(table.fields),
                    "values": [list(v) for v in table.values],
                    "chips": table.chips,
                    "points": table.summary(),
                    "computed": table.computed,
                    "reused": table.reused,
                    "seconds": seconds,
                    "out": str(args.out),
                    "plot": args.plot,
                    "fingerprint": table.fingerprint,
                    "model": str(args.model),
                    "dataset": str(args.dataset),
                    "limit": args.limit,
                    "executor": str(executor),
                    "config": base.to_dict(),
                },
                indent=None,
            )
        )
        return 0
    _print_table(table, args, seconds)
    return 0
