"""``xbar crossbar``: solve a random or given crossbar array and report IR drop and error."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "crossbar",
        help="solve a crossbar array (random or .npz conductances)",
        description=(
            "Solve a resistive crossbar exactly (wire, driver and sense resistances) for "
            "random inputs; print the solve time, the largest IR drop and the output error "
            "against the ideal product V @ G."
        ),
    )
    p.add_argument("--rows", type=int, default=128, help="number of rows M (default 128)")
    p.add_argument("--cols", type=int, default=128, help="number of columns N (default 128)")
    p.add_argument(
        "--r-wire",
        type=float,
        default=1.0,
        help="wire resistance per segment [ohm] for rows and columns (default 1)",
    )
    p.add_argument(
        "--r-row", type=float, default=None, help="row segment resistance [ohm] (default: --r-wire)"
    )
    p.add_argument(
        "--r-col",
        type=float,
        default=None,
        help="column segment resistance [ohm] (default: --r-wire)",
    )
    p.add_argument(
        "--r-driver", type=float, default=0.0, help="driver resistance [ohm] (default 0)"
    )
    p.add_argument("--r-sense", type=float, default=0.0, help="sense resistance [ohm] (default 0)")
    p.add_argument(
        "--device", choices=["linear", "sinh"], default="linear", help="cell model (default linear)"
    )
    p.add_argument("--k", type=float, default=3.0, help="sinh nonlinearity k [1/V] (default 3)")
    p.add_argument(
        "--iv",
        metavar="FILE.csv",
        default=None,
        help="cell model from a measured I-V table (two columns: voltage [V], current [A]; "
        "replaces --device).  Beyond the table the curve continues linearly with its end "
        "slope (like ngspice's pwl() in a B source) and a note names the cells and voltages",
    )
    p.add_argument(
        "--g-min", type=float, default=1e-6, help="smallest conductance [S] (default 1e-6)"
    )
    p.add_argument(
        "--g-max", type=float, default=1e-4, help="largest conductance [S] (default 1e-4)"
    )
    p.add_argument(
        "--v-max", type=float, default=0.3, help="inputs uniform in [0, v-max] [V] (default 0.3)"
    )
    p.add_argument("--inputs", type=int, default=1, help="number of input vectors K (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--conductances",
        metavar="FILE.npz",
        default=None,
        help="read G [S] from an .npz (array 'G' or the first array)",
    )
    p.add_argument(
        "--tol",
        type=float,
        default=1e-10,
        help="relative KCL residual of the solve (default 1e-10)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--plot",
        metavar="OUT.png",
        default=None,
        help="save voltages, IR drop, cell currents and output error",
    )
    p.set_defaults(func=run)
    return p


def _load_g(path: str) -> np.ndarray:
    """Conductances [S] from an .npz (array 'G' or the first array), validated."""
    import numpy as np

    from ..checks import real_array
    from ..errors import ConfigError, ShapeError, ValueRangeError
    from ..network.data import read_npz  # no pickle; names the file and what is wrong

    arrays = read_npz(path, "conductance file")
    if not arrays:
        raise ConfigError(
            f"{path}: no arrays in the .npz file", hint="write it with numpy.savez(path, G=G)"
        )
    name = "G" if "G" in arrays else next(iter(arrays))
    G = real_array(f"{path}: array {name!r}", arrays[name])
    if G.ndim != 2 or 0 in G.shape:
        raise ShapeError(
            f"{path}: array {name!r} has shape {G.shape}; conductances must be a "
            "2-D array (rows, columns) with at least one cell"
        )
    bad = ~(np.isfinite(G) & (G >= 0))
    if bad.any():
        where = tuple(int(k) for k in np.argwhere(bad)[0])
        raise ValueRangeError(
            f"{path}: G at index {where} is {G[where]:g} ({int(bad.sum())} bad cell(s) in "
            f"array {name!r}); conductances must be finite and >= 0 S"
        )
    return G


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse flag values that have no meaning (before any work)."""
    import math

    from ..errors import ConfigError

    if args.inputs < 1:
        raise ConfigError(f"--inputs must be >= 1, got {args.inputs}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {args.seed}")
    for flag in ("v_max", "g_min", "g_max", "k", "tol"):
        value = getattr(args, flag)
        if not math.isfinite(value):
            raise ConfigError(f"--{flag.replace('_', '-')} must be a finite number, got {value}")
    if not args.v_max > 0:
        raise ConfigError(
            f"--v-max must be > 0 (inputs are uniform in [0, v-max]), got {args.v_max}"
        )


def _device(args: argparse.Namespace):
    """The cell model of ``--iv`` (a measured table) or ``--device``."""
    from ..crossbar import Linear, Sinh, Tabulated

    if args.iv:
        args.device = f"table {args.iv}"
        return Tabulated.from_csv(args.iv)
    return Linear() if args.device == "linear" else Sinh(args.k)


def _extrapolated(sol) -> list[dict]:
    """The I-V table extrapolations of a solve, noted on stderr and returned for JSON."""
    import sys

    for x in sol.extrapolated:
        print(f"note: {x}", file=sys.stderr)
    return [
        {
            "element": x.element,
            "table_volts": list(x.table_range),
            "volts": list(x.voltage_range),
            "count": x.count,
            "furthest_cell": [int(c) for c in x.cells[0]],
        }
        for x in sol.extrapolated
    ]


# measured peak memory of this command (linear cells, node arrays kept): about 270 bytes
# per cell for one input plus about 80 bytes per cell for each further input
BYTES_PER_CELL = 200
BYTES_PER_CELL_INPUT = 80


def _available_memory() -> float | None:
    from ..checks import available_memory

    return available_memory()


def _gib(x: float) -> str:
    return f"{x / 2**30:.3g} GiB"


def _check_memory(M: int, N: int, K: int) -> None:
    """Refuse, before allocating anything, a run that cannot fit in memory."""
    from ..errors import ConfigError

    need = float(M) * float(N) * (BYTES_PER_CELL + BYTES_PER_CELL_INPUT * K)
    avail = _available_memory()
    if avail is not None and need > avail:
        raise ConfigError(
            f"a {M}x{N} array ({float(M) * N:.3g} cells) with {K} input(s) needs about "
            f"{_gib(need)} of memory; about {_gib(avail)} is available",
            hint="use fewer rows/columns or inputs",
        )


_POWER_PARTS = ("cells", "selectors", "access", "row_wires", "col_wires", "drivers", "sense")


def _power_report(p: Any) -> dict:
    """Mean power [W] per input of every part of the split, the supplied power and the
    relative power balance error (see :mod:`xbar.crossbar.power`)."""
    out = {k: float(getattr(p, k).mean()) for k in ("supplied",) + _POWER_PARTS}
    out["balance_error"] = p.balance_error
    return out


def _conductances(args: argparse.Namespace, rng) -> np.ndarray:
    """The array's conductances: read from ``--conductances`` or drawn uniformly."""
    from ..errors import ConfigError

    if args.conductances:
        G = _load_g(args.conductances)
        _check_memory(G.shape[0], G.shape[1], args.inputs)
        return G
    if args.rows < 1 or args.cols < 1:
        raise ConfigError("--rows and --cols must be >= 1")
    if not 0 <= args.g_min <= args.g_max:
        raise ConfigError("need 0 <= --g-min <= --g-max")
    _check_memory(args.rows, args.cols, args.inputs)
    return rng.uniform(args.g_min, args.g_max, (args.rows, args.cols))


def _timed_solve(xb, V: np.ndarray, tol: float | None):
    """``(solution, setup seconds, solve seconds)``, the compiled kernels loaded first."""
    import time

    import numpy as np

    from ..crossbar import Crossbar

    warm = Crossbar(np.full((2, 2), 1e-4), 1.0, 1.0, device=xb.device)
    warm.solve(np.zeros((min(V.shape[0], 2), 2)))  # numba cache, outside the timing
    t0 = time.perf_counter()
    xb.setup()
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    sol = xb.solve(V, return_nodes=True, tol=tol)
    return sol, t_build, time.perf_counter() - t0


def _print_report(report: dict, device: str) -> None:
    """The report in words (``--json`` prints the dictionary instead)."""
    n = report["inputs"]
    t_solve = report["solve_seconds"]
    print(
        f"crossbar {report['rows']}x{report['cols']}, {device} cells, "
        f"r_row {report['r_row']:g} ohm, r_col {report['r_col']:g} ohm, {n} input(s)"
    )
    print(
        f"  solve time        {t_solve:.4f} s ({t_solve / n:.4g} s per input), "
        f"{report['iterations_max']} iterations, residual {report['residual_max']:.2g}"
    )
    if report["roundoff_limited_inputs"]:
        print(
            f"  note: --tol is below the round-off floor of this array for "
            f"{report['roundoff_limited_inputs']} input(s): the residual shown is that "
            "floor, as exact as double precision allows"
        )
    print(f"  max IR drop       {report['max_ir_drop_volts']:.4g} V")
    print(
        f"  output error      max {report['max_output_error_vs_ideal']:.4g}, "
        f"mean {report['mean_output_error_vs_ideal']:.4g} (fraction of the largest ideal "
        "output of the same input, as in the plot)"
    )
    pw = report["power_watts"]
    total = pw["supplied"]
    split = "  ".join(
        f"{k} {pw[k]:.4g}" + (f" ({100 * pw[k] / total:.2f} %)" if total else "")
        for k in _POWER_PARTS
        if pw[k] or k in ("cells", "row_wires", "col_wires")
    )
    print(
        f"  power (mean/input) supplied {total:.4g} W = {split}"
        f"  [W; balance {pw['balance_error']:.1e}]"
    )
    if "plot" in report:
        print(f"  plot              {report['plot']}")


def run(args: argparse.Namespace) -> int:
    """``xbar crossbar``: solve a random (or given) array and report time, IR drop,
    output error and power."""
    import json

    import numpy as np

    from ..crossbar import Crossbar
    from ..plot import output_error

    _check_flags(args)
    if args.plot:
        from ..plot import check_path

        check_path(args.plot)  # before the solve, not after it
    rng = np.random.default_rng(args.seed)
    G = _conductances(args, rng)
    r_row = args.r_wire if args.r_row is None else args.r_row
    r_col = args.r_wire if args.r_col is None else args.r_col
    xb = Crossbar(G, r_row, r_col, args.r_driver, args.r_sense, _device(args))
    V = rng.uniform(0.0, args.v_max, (args.inputs, xb.M))
    sol, t_build, t_solve = _timed_solve(xb, V, args.tol)
    err = np.abs(output_error(sol.output, V @ G))  # the plot's normalisation too
    drop = V[:, :, None] - (sol.row_voltages - sol.col_voltages)
    report = {
        "rows": xb.M,
        "cols": xb.N,
        "device": args.device,
        "inputs": int(args.inputs),
        "r_row": float(r_row),
        "r_col": float(r_col),
        "build_seconds": t_build,
        "solve_seconds": t_solve,
        "seconds_per_input": t_solve / args.inputs,
        "iterations_max": int(sol.iterations.max()),
        "residual_max": float(sol.residual.max()),
        "roundoff_limited_inputs": int(sol.roundoff_limited.sum()),
        "max_ir_drop_volts": float(drop.max()),
        "max_output_error_vs_ideal": float(err.max()),
        "mean_output_error_vs_ideal": float(err.mean()),
        "power_watts": _power_report(sol.power),
        "extrapolated": _extrapolated(sol),
    }
    if args.plot:
        from ..plot import overview

        overview(xb, V[:1], args.plot)
        report["plot"] = args.plot
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report, args.device)
    return 0
