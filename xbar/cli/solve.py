"""``xbar solve [FILE] [--json] [--csv]``: DC solution of a SPICE netlist.

Without FILE it solves the bundled ``netlists/crossbar_linear_4x4.cir``.
Prints node voltages and voltage-source currents (SPICE sign: positive into
the source's + terminal) as a table, as one JSON object (``--json``) or as
CSV with one row per sweep point (``--csv``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_NETLIST = "crossbar_linear_4x4.cir"


_EXAMPLES = """\
examples:
  xbar solve netlists/diode_nested_dc.cir --csv > sweep.csv   # one row per sweep point
  xbar solve circuit.cir --nodes 'out,v(a,b),i(v1)'   # these outputs (voltages [V],
                                                      # currents [A] into the source's +)
  gen_netlist | xbar solve /dev/stdin --json          # a netlist from a pipe

Outputs: the netlist's .print dc/op cards and .control print commands (else .save/.probe
cards and .control save, else every node and source), as ngspice; --nodes overrides them.
Notes on what was skipped or defaulted go to standard error.
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "solve",
        help="solve a SPICE netlist (.op, .dc, or the operating point before a .tran) and "
        "print node voltages and source currents",
        description="Solve the DC analysis (.op or .dc, or the operating point ngspice computes\n"
        "before a .tran) of a SPICE netlist.\nWithout FILE, "
        f"solves the bundled netlists/{DEFAULT_NETLIST}.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXAMPLES,
    )
    p.add_argument("file", nargs="?", help="netlist file (default: the bundled 4x4 crossbar)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print exactly one JSON object")
    fmt.add_argument("--csv", action="store_true", help="print CSV, one row per sweep point")
    p.add_argument(
        "--engine",
        choices=("auto", "compiled", "python"),
        default="auto",
        help="Newton and linear solves in numba kernels or in Python (default auto: "
        "compiled for sweeps long enough to pay for numba's 0.5 s start-up); results agree "
        "to rounding",
    )
    p.add_argument(
        "--nodes",
        metavar="LIST",
        help="report only these outputs, comma-separated: node names, v(a), v(a,b), i(v1) "
        "(default: the netlist's .print/.save cards, else everything)",
    )
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
    from ..spice.outputs import columns

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
    items, notes = _selection(circuit, getattr(args, "nodes", None))
    for note in notes:
        sys.stderr.write(f"note: {note}\n")
    result = solve_dc(circuit, progress=progress, engine=getattr(args, "engine", "auto"))
    t2 = time.perf_counter()
    cols = columns(result, items)  # (checks the requested names before printing)
    out = sys.stdout
    if args.json:
        out.write(
            to_json(result, parse_s=t1 - t0, solve_s=t2 - t1, notes=circuit.notes, items=items)
            + "\n"
        )
    elif args.csv:
        write_csv(result, out, cols)
    else:
        write_table(result, out, cols, title=circuit.title, parse_s=t1 - t0, solve_s=t2 - t1)
    return 0


def _selection(circuit, nodes: str | None):
    """The outputs to report: ``--nodes`` items, else the netlist's .print/.save cards
    (None: everything), and notes on skipped items."""
    from ..spice.outputs import parse_items, requested

    if nodes is None:
        return requested(circuit)
    items, notes = parse_items(nodes)
    if not items:
        from ..errors import XbarError

        raise XbarError(f"--nodes {nodes!r} names no output", hint="e.g. --nodes out,i(v1)")
    return (None if any(it.kind == "all" for it in items) else items), notes


def to_json(result, *, parse_s: float, solve_s: float, notes=(), items=None) -> str:
    """One JSON object: analysis, voltages, currents, [sweep], iterations, strategy, timing
    and the reader's notes (also on standard error), so that a program reading the JSON
    learns what was skipped or defaulted.  With an output selection (``items``, from
    :mod:`xbar.spice.outputs`) voltages and currents hold the selected nodes and sources
    and ``outputs`` every selected column (differences ``v(a,b)`` included) in order."""
    import json

    import numpy as np

    from ..spice.outputs import columns

    def val(v):
        if isinstance(v, np.ndarray):
            return [float(x) for x in v]
        return float(v)

    volts, amps = result.voltages, result.currents
    if items is not None:
        single = [it.names[0] for it in items if it.kind == "v" and len(it.names) == 1]
        volts = {k: result.voltage(k) for k in single if k not in ("0", "gnd")}
        amps = {it.names[0]: result.current(it.names[0]) for it in items if it.kind == "i"}
    obj = {
        "analysis": result.analysis,
        "voltages": {k: val(v) for k, v in volts.items()},
        "currents": {k: val(v) for k, v in amps.items()},
    }
    if items is not None:
        obj["outputs"] = {label: val(v) for label, v in columns(result, items)}
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


def write_csv(result, out, cols=None) -> None:
    """CSV: header then one row per sweep point (one row for ``.op``); ``cols`` the
    ``(label, values)`` columns to write (default: every voltage and current)."""
    import csv

    import numpy as np

    from ..spice.outputs import columns

    cols = columns(result, None) if cols is None else cols
    head, data = [], []
    if result.analysis == "dc":
        head.append(result.source)
        data.append(result.sweep)
        if result.outer_sweep is not None:
            head.append(result.outer_source)
            data.append(result.outer_sweep)
    head += [label for label, _ in cols]
    data += [np.atleast_1d(v) for _, v in cols]
    csv.writer(out, lineterminator="\n").writerow(head)
    if not data:
        return
    # repr of Python floats: the shortest text that reads back to the same double
    out.writelines(",".join(map(repr, row)) + "\n" for row in np.column_stack(data).tolist())


def write_table(result, out, cols=None, *, title: str, parse_s: float, solve_s: float) -> None:
    """A readable table of the ``(label, values)`` columns (default: every node voltage
    and source current)."""
    import numpy as np

    from ..spice.outputs import columns

    cols = columns(result, None) if cols is None else cols
    out.write(f"{title}\n" if title else "")
    if result.analysis == "op":
        out.write(
            f"operating point ({result.strategy}, {result.iterations} iteration"
            f"{'s' if result.iterations != 1 else ''})\n\n"
        )
        _op_rows(out, cols)
    else:
        npts = len(result.sweep)
        out.write(
            f"dc sweep of {result.source}"
            + (f" and {result.outer_source}" if result.outer_source else "")
            + f": {npts} points ({result.strategy}, {int(np.sum(result.iterations))} "
            "iterations in all)\n\n"
        )
        head = [result.source] + ([result.outer_source] if result.outer_source else [])
        head += [label for label, _ in cols]
        data = [result.sweep] + ([result.outer_sweep] if result.outer_source else [])
        data += [v for _, v in cols]
        width = max(13, *(len(h) for h in head))
        out.write("  ".join(f"{h:>{width}}" for h in head) + "\n")
        fmt = "  ".join([f"{{:>{width}.6g}}"] * len(data)) + "\n"
        out.writelines(fmt.format(*row) for row in np.column_stack(data).tolist())
    out.write(f"\nparse {parse_s * 1e3:.1f} ms, solve {solve_s * 1e3:.1f} ms\n")


def _op_rows(out, cols) -> None:
    """An operating point's voltages then currents, one per line (names without v()/i())."""
    volts = [(label[2:-1], v) for label, v in cols if label.startswith("v(")]
    amps = [(label[2:-1], v) for label, v in cols if label.startswith("i(")]
    width = max([len(n) for n, _ in volts + amps] + [4])
    if volts:
        out.write(f"{'node':<{width}}  {'voltage [V]':>16}\n")
        for n, v in volts:
            out.write(f"{n:<{width}}  {float(v):>16.9g}\n")
    if amps:
        out.write(("\n" if volts else "") + f"{'source':<{width}}  {'current [A]':>16}\n")
        for n, v in amps:
            out.write(f"{n:<{width}}  {float(v):>16.9g}\n")
