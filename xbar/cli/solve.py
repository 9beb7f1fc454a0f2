"""``xbar solve [FILE] [--json] [--csv]``: DC solution of a SPICE netlist.

Without FILE it solves the bundled ``netlists/crossbar_linear_4x4.cir``.
Prints node voltages and voltage-source currents (SPICE sign: positive into
the source's + terminal) as a table, as one JSON object (``--json``) or as
CSV with one row per sweep point (``--csv``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

DEFAULT_NETLIST = "crossbar_linear_4x4.cir"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "solve",
        help="solve a SPICE netlist (.op or .dc) and print node voltages and source currents",
        description="Solve the DC analysis (.op or .dc) of a SPICE netlist. Without FILE, "
        f"solves the bundled netlists/{DEFAULT_NETLIST}.",
    )
    p.add_argument("file", nargs="?", help="netlist file (default: the bundled 4x4 crossbar)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print exactly one JSON object")
    fmt.add_argument("--csv", action="store_true", help="print CSV, one row per sweep point")
    p.set_defaults(func=run)


def netlists_dir() -> Path:
    """The bundled ``netlists/`` folder (next to the installed package's source tree)."""
    import xbar

    return Path(xbar.__file__).resolve().parents[1] / "netlists"


def default_netlist() -> Path:
    """Path of the bundled default netlist; XbarError if it is missing."""
    from ..errors import XbarError

    path = netlists_dir() / DEFAULT_NETLIST
    if not path.is_file():
        raise XbarError(
            f"the bundled default netlist {path} is missing",
            hint="pass a netlist file: xbar solve FILE (the netlists/ folder ships with the "
            "source tree; install from a checkout with pip install -e .)",
        )
    return path


def run(args) -> int:
    from ..spice import newton, topology  # noqa: F401  (load the solver before timing it)
    from ..spice.dc import solve_dc
    from ..spice.netlist import read_netlist

    path = Path(args.file) if args.file else default_netlist()
    t0 = time.perf_counter()
    circuit = read_netlist(path)
    t1 = time.perf_counter()
    for note in circuit.notes:  # what the reader skipped or defaulted (as ngspice would)
        sys.stderr.write(f"note: {note}\n")
    progress = None
    if circuit.analyses and getattr(circuit.analyses[0], "source", None):
        from ._progress import ProgressBar

        progress = ProgressBar("dc sweep")
    result = solve_dc(circuit, progress=progress)
    t2 = time.perf_counter()
    out = sys.stdout
    if args.json:
        out.write(to_json(result, parse_s=t1 - t0, solve_s=t2 - t1, notes=circuit.notes) + "\n")
    elif args.csv:
        write_csv(result, out)
    else:
        write_table(result, out, title=circuit.title, parse_s=t1 - t0, solve_s=t2 - t1)
    return 0


def to_json(result, *, parse_s: float, solve_s: float, notes=()) -> str:
    """One JSON object: analysis, voltages, currents, [sweep], iterations, strategy, timing
    and the reader's notes (also on standard error), so that a program reading the JSON
    learns what was skipped or defaulted."""
    import json

    import numpy as np

    def val(v):
        if isinstance(v, np.ndarray):
            return [float(x) for x in v]
        return float(v)

    obj = {
        "analysis": result.analysis,
        "voltages": {k: val(v) for k, v in result.voltages.items()},
        "currents": {k: val(v) for k, v in result.currents.items()},
    }
    if result.analysis == "dc":
        obj["sweep"] = val(result.sweep)
        obj["sweep_source"] = result.source
        if result.outer_sweep is not None:
            obj["outer_sweep"] = val(result.outer_sweep)
            obj["outer_source"] = result.outer_source
        obj["iterations"] = [int(i) for i in result.iterations]
        obj["strategy"] = list(result.strategies)
    else:
        obj["iterations"] = int(result.iterations)
        obj["strategy"] = result.strategy
    obj["timing"] = {"parse_s": parse_s, "solve_s": solve_s}
    obj["notes"] = [str(n) for n in notes]
    return json.dumps(obj, allow_nan=False)


def write_csv(result, out) -> None:
    """CSV: header then one row per sweep point (one row for ``.op``)."""
    import csv

    import numpy as np

    w = csv.writer(out, lineterminator="\n")
    vnames = list(result.voltages)
    inames = list(result.currents)
    head = []
    cols = []
    if result.analysis == "dc":
        head.append(result.source)
        cols.append(result.sweep)
        if result.outer_sweep is not None:
            head.append(result.outer_source)
            cols.append(result.outer_sweep)
    head += [f"v({n})" for n in vnames] + [f"i({n})" for n in inames]
    cols += [np.atleast_1d(v) for v in result.voltages.values()]
    cols += [np.atleast_1d(v) for v in result.currents.values()]
    w.writerow(head)
    if not cols:
        return
    # repr of Python floats: the shortest text that reads back to the same double
    out.writelines(",".join(map(repr, row)) + "\n" for row in np.column_stack(cols).tolist())


def write_table(result, out, *, title: str, parse_s: float, solve_s: float) -> None:
    """A readable table of node voltages and source currents."""
    import numpy as np

    out.write(f"{title}\n" if title else "")
    if result.analysis == "op":
        out.write(
            f"operating point ({result.strategy}, {result.iterations} iteration"
            f"{'s' if result.iterations != 1 else ''})\n\n"
        )
        width = max([len(n) for n in list(result.voltages) + list(result.currents)] + [4])
        out.write(f"{'node':<{width}}  {'voltage [V]':>16}\n")
        for n, v in result.voltages.items():
            out.write(f"{n:<{width}}  {v:>16.9g}\n")
        if result.currents:
            out.write(f"\n{'source':<{width}}  {'current [A]':>16}\n")
            for n, v in result.currents.items():
                out.write(f"{n:<{width}}  {v:>16.9g}\n")
    else:
        npts = len(result.sweep)
        out.write(
            f"dc sweep of {result.source}"
            + (f" and {result.outer_source}" if result.outer_source else "")
            + f": {npts} points ({result.strategy}, {int(np.sum(result.iterations))} "
            "iterations in all)\n\n"
        )
        head = [result.source] + ([result.outer_source] if result.outer_source else [])
        head += [f"v({n})" for n in result.voltages] + [f"i({n})" for n in result.currents]
        cols = [result.sweep] + ([result.outer_sweep] if result.outer_source else [])
        cols += list(result.voltages.values()) + list(result.currents.values())
        width = max(13, *(len(h) for h in head))
        out.write("  ".join(f"{h:>{width}}" for h in head) + "\n")
        fmt = "  ".join([f"{{:>{width}.6g}}"] * len(cols)) + "\n"
        out.writelines(fmt.format(*row) for row in np.column_stack(cols).tolist())
    out.write(f"\nparse {parse_s * 1e3:.1f} ms, solve {solve_s * 1e3:.1f} ms\n")
