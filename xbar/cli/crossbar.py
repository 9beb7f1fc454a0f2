"""``xbar crossbar``: solve a random or given crossbar array and report IR drop and error."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "crossbar",
        help="solve a crossbar array (random or your own conductances and voltages)",
        description=(
            "Solve a resistive crossbar exactly (wire, driver and sense resistances) for "
            "random inputs or those of --voltages; print the solve time, the largest IR "
            "drop and the output error against the ideal product V @ G.  Bring your own "
            "array with --conductances or --resistances (badcrossbar's convention) and "
            "keep every result with --save."
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
        "--v-max",
        type=float,
        default=None,
        help="random inputs uniform in [0, v-max] [V] (default 0.3)",
    )
    p.add_argument(
        "--inputs", type=int, default=None, help="number of random input vectors K (default 1)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    _add_data_args(p)
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


def _add_data_args(p: argparse.ArgumentParser) -> None:
    """The options that bring a user's own data in and the results out."""
    p.add_argument(
        "--voltages",
        metavar="FILE",
        default=None,
        help="input voltages [V] from a file instead of random ones: .npy, .npz (array 'V' "
        "or the first array) or text (.csv/.txt: numbers separated by commas or "
        "whitespace, one input per line, '#' comments); shape (M,) for one input or "
        "(K, M) for K inputs, M = rows of the array (replaces --inputs and --v-max)",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--conductances",
        metavar="FILE.npz",
        default=None,
        help="read G [S] (M, N) from an .npz (array 'G' or the first array)",
    )
    src.add_argument(
        "--resistances",
        metavar="FILE.npz",
        default=None,
        help="read cell resistances R [ohm] (M, N) from an .npz (array 'R' or the first "
        "array; badcrossbar's convention); G = 1/R, every R finite and > 0",
    )
    p.add_argument(
        "--save",
        metavar="OUT.npz",
        default=None,
        help="write the results to an .npz with arrays V (K, M) input voltages [V], "
        "G (M, N) conductances [S], I (K, N) output currents [A], I_ideal (K, N) the "
        "ideal V @ G [A], V_row and V_col (K, M, N) row and column node voltages [V] "
        "and I_cell (K, M, N) cell currents [A]; load with numpy.load",
    )


def _load_g(path: str, resistances: bool = False) -> np.ndarray:
    """Conductances [S] (M, N) from an .npz, validated.

    Parameters
    ----------
    path : str
        The ``.npz`` archive; array ``'G'`` (``'R'`` for resistances) or the first array.
    resistances : bool
        The file holds cell resistances R [ohm] (badcrossbar's convention): every
        entry must be finite and > 0, and the result is ``1 / R``.

    Returns
    -------
    array (M, N)
        Conductances [S].

    Raises
    ------
    ConfigError, ModelError, ShapeError, InputTypeError, ValueRangeError
        Naming the file, the array and the first bad cell.
    """
    import numpy as np

    from ..checks import real_array
    from ..errors import ConfigError, ShapeError, ValueRangeError
    from ..network.data import read_npz  # no pickle; names the file and what is wrong

    sym, what = ("R", "resistance") if resistances else ("G", "conductance")
    arrays = read_npz(path, f"{what} file")
    if not arrays:
        raise ConfigError(
            f"{path}: no arrays in the .npz file",
            hint=f"write it with numpy.savez(path, {sym}={sym})",
        )
    name = sym if sym in arrays else next(iter(arrays))
    X = real_array(f"{path}: array {name!r}", arrays[name])
    if X.ndim != 2 or 0 in X.shape:
        raise ShapeError(
            f"{path}: array {name!r} has shape {X.shape}; {what}s must be a "
            "2-D array (rows, columns) with at least one cell"
        )
    if resistances:
        bad, rule = ~(np.isfinite(X) & (X > 0)), "resistances must be finite and > 0 ohm"
    else:
        bad, rule = ~(np.isfinite(X) & (X >= 0)), "conductances must be finite and >= 0 S"
    if bad.any():
        where = tuple(int(k) for k in np.argwhere(bad)[0])
        raise ValueRangeError(
            f"{path}: {sym} at index {where} is {X[where]:g} ({int(bad.sum())} bad cell(s) in "
            f"array {name!r}); {rule}"
        )
    return 1.0 / X if resistances else X


def _read_text_numbers(path: str) -> np.ndarray:
    """Numbers of a text file (commas or whitespace between them, ``#`` comments), one
    row per non-blank line; (rows, numbers per row)."""
    import re

    import numpy as np

    from ..errors import ConfigError, ShapeError

    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except UnicodeDecodeError:
        raise ConfigError(
            f"voltage file {path!r} is neither a .npy/.npz array nor text",
            hint="write it with numpy.save / numpy.savez, or as comma-separated numbers",
        ) from None
    rows: list[list[float]] = []
    for lineno, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = [f for f in re.split(r"[,;\s]+", text) if f]
        try:
            row = [float(f) for f in fields]
        except ValueError:
            bad = next(f for f in fields if not _is_float(f))
            raise ConfigError(
                f"{path}:{lineno}: {bad!r} is not a number",
                hint="voltages [V] separated by commas or whitespace, one input per line",
            ) from None
        if rows and len(row) != len(rows[0]):
            raise ShapeError(
                f"{path}:{lineno}: {len(row)} number(s) on this line but {len(rows[0])} "
                "on the first; every input (line) needs one voltage per row of the array"
            )
        rows.append(row)
    if not rows:
        raise ConfigError(f"voltage file {path!r} holds no numbers (it is empty)")
    return np.array(rows, dtype=float)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_voltages(path: str) -> np.ndarray:
    """The array of a voltage file (.npy, .npz or text), not yet checked against M."""
    import os

    import numpy as np

    from ..checks import real_array
    from ..errors import ConfigError
    from ..network.data import read_npz

    if not os.path.isfile(path):
        from ..checks import special_file

        kind = special_file(path) or ("a directory" if os.path.isdir(path) else "")
        raise ConfigError(
            f"voltage file {path!r} " + (f"is {kind}, not a file" if kind else "does not exist")
        )
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise ConfigError(f"cannot read voltage file {path!r}: {exc.strerror or exc}") from None
    if not magic:
        raise ConfigError(f"voltage file {path!r} is empty")
    if magic == b"\x93NUMPY":
        try:
            with open(path, "rb") as fh:
                V = np.load(fh, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise ConfigError(
                f"voltage file {path!r} is not a valid .npy array ({exc})",
                hint="write it with numpy.save (numbers, no objects)",
            ) from None
        name = f"voltage file {path!r}"
    elif magic[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        arrays = read_npz(path, "voltage file")
        if not arrays:
            raise ConfigError(
                f"voltage file {path!r}: no arrays in the .npz file",
                hint="write it with numpy.savez(path, V=V)",
            )
        key = "V" if "V" in arrays else next(iter(arrays))
        V, name = arrays[key], f"{path}: array {key!r}"
    else:
        V, name = _read_text_numbers(path), f"voltage file {path!r}"
    return real_array(name, V)


def _check_voltages(path: str, V: np.ndarray, M: int) -> np.ndarray:
    """Input voltages [V] of ``--voltages`` as (K, M), or a clear error naming ``path``."""
    import numpy as np

    from ..errors import ShapeError, ValueRangeError

    expected = f"expected ({M},) for one input or (K, {M}) for K inputs ({M} = rows of the array)"
    if V.ndim == 2 and V.shape[1] == 1 and V.shape[0] == M and M > 1:
        V = V.T  # a single column of M numbers is one input
    if V.ndim == 1:
        V = V[None, :]
    if V.ndim != 2 or V.shape[1] != M or V.shape[0] == 0:
        raise ShapeError(f"{path}: voltages have shape {V.shape}; {expected}")
    bad = ~np.isfinite(V)
    if bad.any():
        k, i = (int(x) for x in np.argwhere(bad)[0])
        raise ValueRangeError(
            f"{path}: voltage of input {k}, row {i} is {V[k, i]:g} ({int(bad.sum())} bad "
            "value(s)); voltages must be finite"
        )
    return np.ascontiguousarray(V, dtype=float)


_RESISTANCE_FLAGS = ("r_wire", "r_row", "r_col", "r_driver", "r_sense")


def _check_flags(args: argparse.Namespace) -> None:
    """Refuse flag values that have no meaning (before any work), naming the flag typed."""
    import math

    from ..errors import ConfigError

    if args.voltages is not None:
        given = [f for f in ("inputs", "v_max") if getattr(args, f) is not None]
        if given:
            flags = " and ".join(f"--{f.replace('_', '-')}" for f in given)
            raise ConfigError(
                f"{flags} {'do' if len(given) > 1 else 'does'} not apply with --voltages: "
                f"{args.voltages!r} gives the inputs",
                hint=f"drop {flags}",
            )
    if args.inputs is None:
        args.inputs = 1
    if args.v_max is None:
        args.v_max = 0.3
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
    for flag in _RESISTANCE_FLAGS:
        value = getattr(args, flag)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ConfigError(
                f"--{flag.replace('_', '-')} must be a finite resistance >= 0 [ohm], got {value}",
                hint="use 0 for an ideal (zero-resistance) wire or contact",
            )
    if not 0 < args.tol < 1:
        raise ConfigError(f"--tol must be a number with 0 < tol < 1, got {args.tol}")
    if args.device == "sinh" and not args.iv and not args.k > 0:
        raise ConfigError(f"--k (sinh nonlinearity) must be > 0 [1/V], got {args.k}")


def _save(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to the .npz ``path`` exactly (no suffix added), through a
    temporary file beside it so that a failed write leaves no partial file."""
    from pathlib import Path

    import numpy as np

    from ..checks import write_files

    try:
        write_files({Path(path): lambda fh: np.savez(fh, **arrays)})
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), path) from None


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


def _gib(x: float) -> str:
    return f"{x / 2**30:.3g} GiB"


def _check_memory(M: int, N: int, K: int) -> None:
    """Refuse, before allocating anything, a run that cannot fit in memory."""
    from ..checks import available_memory
    from ..errors import ConfigError

    need = float(M) * float(N) * (BYTES_PER_CELL + BYTES_PER_CELL_INPUT * K)
    avail = available_memory()
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
    """The array's conductances: read from ``--conductances`` / ``--resistances`` or
    drawn uniformly."""
    from ..errors import ConfigError

    if args.conductances or args.resistances:
        if args.conductances:
            G = _load_g(args.conductances)
        else:
            G = _load_g(args.resistances, resistances=True)
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
    if "save" in report:
        print(f"  results           {report['save']}")
    if "plot" in report:
        print(f"  plot              {report['plot']}")


def _crossbar(args: argparse.Namespace, G, r_row: float, r_col: float):
    """The Crossbar of the flags; an error about r_row/r_col set by --r-wire names it."""
    from ..crossbar import Crossbar
    from ..errors import XbarError

    try:
        return Crossbar(G, r_row, r_col, args.r_driver, args.r_sense, _device(args))
    except XbarError as exc:
        for field, own in (("r_row", args.r_row), ("r_col", args.r_col)):
            if exc.message.startswith(field) and own is None:
                exc.add_context("--r-wire")
        raise


def run(args: argparse.Namespace) -> int:
    """``xbar crossbar``: solve a random (or given) array and report time, IR drop,
    output error and power."""
    import json

    import numpy as np

    from ..plot import output_error

    _check_flags(args)
    if args.plot:
        from ..plot import check_path

        check_path(args.plot)  # before the solve, not after it
    if args.save:
        from ..checks import output_path

        output_path(args.save, "--save file")  # before the solve, not after it
    V_file = None
    if args.voltages is not None:
        V_file = _read_voltages(args.voltages)
        args.inputs = int(V_file.shape[0]) if V_file.ndim == 2 else 1
    rng = np.random.default_rng(args.seed)
    G = _conductances(args, rng)
    r_row = args.r_wire if args.r_row is None else args.r_row
    r_col = args.r_wire if args.r_col is None else args.r_col
    xb = _crossbar(args, G, r_row, r_col)
    if V_file is not None:
        V = _check_voltages(args.voltages, V_file, xb.M)
        args.inputs = V.shape[0]
    else:
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
    if args.voltages is not None:
        report["voltages"] = args.voltages
    if args.save:
        arrays = {"V": V, "G": G, "I": sol.output, "I_ideal": V @ G}
        for key, value in (
            ("V_row", sol.row_voltages),
            ("V_col", sol.col_voltages),
            ("I_cell", sol.cell_currents),
        ):
            if value is not None:
                arrays[key] = value
        _save(args.save, arrays)
        report["save"] = args.save
    if args.plot:
        from ..plot import overview

        overview(xb, V[:1], args.plot)
        report["plot"] = args.plot
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report, args.device)
    return 0
