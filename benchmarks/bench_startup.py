"""Whole-process start-up of every CLI command, as a user runs it (issue: start-up).

Every case runs ``python -m xbar.cli ...`` as a fresh process with default settings
and reports the median wall time of ``--repeat`` runs (and the median CPU time, user +
system, which load disturbs less), alone and (with ``--load``)
beside CPU-bound processes that this script starts, one per core, and kills itself.
The children get no thread environment variables and no ``PYTHONDONTWRITEBYTECODE``
(so they import compiled ``.pyc`` files and numba's cache as an installed xbar does);
one unrecorded warm-up run of every command comes first.

Baselines measured in the same run, alternating run by run with xbar's runs:

* ``ngspice -b`` on the same netlist (``solve`` cases);
* with ``--compare DIR``, the same command from another checkout of xbar (e.g.
  ``git worktree add /tmp/base COMMIT``: the previous start-up), imported through
  ``PYTHONPATH=DIR``.

Cases (``--cases``):

* ``help``: ``xbar --help``;
* ``solve-tiny``: a 2-element ``.op`` netlist (a source and a resistor);
* ``solve-default``: ``xbar solve`` (the bundled 4x4 crossbar, the README's first command);
* ``solve-ladder``: ``netlists/ladder_dc.cir`` (an 11-point ``.dc`` sweep) with a
  ``.print dc`` card (without one ``ngspice -b`` runs nothing);
* ``solve-32``, ``solve-64``: a 32x32 and a 64x64 linear crossbar ``.op`` netlist
  (2240 and 8576 unknowns, ``benchmarks/crossbar_netlist.py``);
* ``solve-sweep200``: ``netlists/diode_nested_dc.cir`` as one 200-point ``.dc`` sweep with
  a ``.print dc`` card (a diode with series resistance: Newton at every point);
* ``validate-list``: ``xbar validate --list`` (the 70 cases' names);
* ``validate``: ``xbar validate --case ideal_zero_wire_resistance`` (one fast case: a
  24x17 array with ideal wires, so collapsed lines and numba's ``chains`` kernel);
* ``crossbar``: ``xbar crossbar`` (128x128 random array, defaults);
* ``infer``: ``xbar infer --config examples/rram_128.toml`` (the README's second command).

Usage::

    python benchmarks/bench_startup.py                           # default cases, 7 repeats
    python benchmarks/bench_startup.py --load --compare /tmp/base
    python benchmarks/bench_startup.py --cases solve-tiny solve-64 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from crossbar_netlist import crossbar_netlist  # noqa: E402

DROP_VARS = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "XBAR_THREADS",
    "NUMBA_NUM_THREADS",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPATH",
)
DEFAULT_CASES = (
    "help",
    "solve-tiny",
    "solve-default",
    "solve-ladder",
    "solve-32",
    "solve-64",
    "solve-sweep200",
    "validate-list",
    "validate",
    "crossbar",
    "infer",
)
ALL_CASES = DEFAULT_CASES


def write_netlists(folder: Path) -> dict[str, Path]:
    """The generated netlists of the solve cases, written into ``folder``."""
    tiny = folder / "tiny.cir"
    tiny.write_text("two-element divider\nv1 in 0 dc 1\nr1 in 0 1k\n.op\n.end\n")
    ladder = folder / "ladder_dc.cir"  # ngspice -b runs a .dc only with a .print card
    text = (ROOT / "netlists" / "ladder_dc.cir").read_text()
    ladder.write_text(text.replace("\n.end", "\n.print dc v(n1) v(n5)\n.end"))
    out = {"solve-tiny": tiny, "solve-ladder": ladder}
    sweep = folder / "diode_sweep_200.cir"  # 200 points of the bundled diode clamp
    text = (ROOT / "netlists" / "diode_nested_dc.cir").read_text()
    dc_card = next(line for line in text.splitlines() if line.lower().startswith(".dc"))
    sweep.write_text(text.replace(dc_card, f".dc vdd 0 3 {3 / 199!r}\n.print dc v(out)"))
    out["solve-sweep200"] = sweep
    out["solve-default"] = ROOT / "netlists" / "crossbar_linear_4x4.cir"
    for n in (32, 64):
        path = folder / f"crossbar_{n}x{n}.cir"
        path.write_text(crossbar_netlist(n, n, cell="linear", seed=0))  # ends .op, .end
        out[f"solve-{n}"] = path
    return out


def xbar_args(case: str, netlists: dict[str, Path]) -> list[str]:
    """The ``xbar`` arguments of one case."""
    if case == "help":
        return ["--help"]
    if case == "solve-default":
        return ["solve"]
    if case.startswith("solve-"):
        return ["solve", str(netlists[case])]
    if case == "validate-list":
        return ["validate", "--list"]
    if case == "validate":
        return ["validate", "--case", "ideal_zero_wire_resistance"]
    if case == "crossbar":
        return ["crossbar"]
    if case == "infer":
        return ["infer", "--config", str(ROOT / "examples" / "rram_128.toml")]
    raise ValueError(f"unknown case {case!r}")


def child_env(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROP_VARS}
    env["PYTHONPATH"] = str(checkout)
    return env


def run_once(cmd: list[str], env: dict[str, str] | None, cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one whole process; raises if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr.decode()[-2000:]}"
        )
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


def start_load(n: int) -> list[subprocess.Popen]:
    """``n`` CPU-bound processes (pure Python loops), killed by :func:`stop_load`."""
    code = "while True: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def stop_load(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def measure(case, netlists, checkouts, repeat, cwd):
    """Wall and CPU seconds of every run, per program (``"xbar"``, ``"base"``, ``"ngspice"``)."""
    runs: dict[str, tuple[list[str], dict | None]] = {}
    args = xbar_args(case, netlists)
    for label, checkout in checkouts.items():
        runs[label] = ([sys.executable, "-m", "xbar.cli", *args], child_env(checkout))
    if case.startswith("solve-") and shutil.which("ngspice"):
        runs["ngspice"] = (["ngspice", "-b", str(netlists[case])], None)
    for cmd, env in runs.values():  # warm-up: .pyc files, numba cache, disk cache
        run_once(cmd, env, cwd)
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in runs}
    for _ in range(repeat):  # the programs alternate, so load changes hit them alike
        for label, (cmd, env) in runs.items():
            times[label].append(run_once(cmd, env, cwd))
    return times


def fmt_row(case: str, times: dict[str, list[tuple[float, float]]]) -> str:
    wall = {k: statistics.median(t for t, _ in v) for k, v in times.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
    walls = [t for t, _ in times["xbar"]]
    cells = [case, f"{wall['xbar']:.3f} ({min(walls):.3f}-{max(walls):.3f})", f"{cpu['xbar']:.3f}"]
    for other in ("base", "ngspice"):
        if other in wall:
            cells.append(f"{wall[other]:.3f} / {cpu[other]:.3f}")
            cells.append(f"{wall['xbar'] / wall[other]:.2f}x / {cpu['xbar'] / cpu[other]:.2f}x")
        else:
            cells += ["", ""]
    return "| " + " | ".join(cells) + " |"


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def run_table(cases, netlists, checkouts, repeat, cwd, label) -> None:
    print(f"\n{label} (load average before: {load_average()})")
    print(
        "| case | xbar wall median (min-max) [s] | xbar CPU [s] | previous wall / CPU [s] "
        "| xbar/previous wall / CPU | ngspice -b wall / CPU [s] | xbar/ngspice wall / CPU |"
    )
    print("|---|---|---|---|---|---|---|")
    for case in cases:
        times = measure(case, netlists, checkouts, repeat, cwd)
        print(fmt_row(case, times), flush=True)
    print(f"(load average after: {load_average()})")


FLOORS = {
    "python -c pass": "pass",
    "python -c 'import numpy'": "import numpy",
    "python -c 'import scipy.sparse.linalg'": "import scipy.sparse.linalg",
}


def floor_table(repeat: int, cwd: Path) -> None:
    """What any Python process with numpy and scipy costs here (the floor of ``xbar solve``)."""
    env = child_env(ROOT)
    print(f"\nfloor (load average before: {load_average()})")
    print("| process | wall median [s] | CPU median [s] |")
    print("|---|---|---|")
    for label, code in FLOORS.items():
        cmd = [sys.executable, "-c", code]
        run_once(cmd, env, cwd)
        runs = [run_once(cmd, env, cwd) for _ in range(repeat)]
        wall = statistics.median(t for t, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"| `{label}` | {wall:.3f} | {cpu:.3f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES), choices=ALL_CASES)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--compare", type=Path, help="another xbar checkout (the baseline)")
    ap.add_argument("--load", action="store_true", help="also beside CPU-bound processes")
    ap.add_argument("--load-procs", type=int, default=os.cpu_count() or 2)
    opts = ap.parse_args()

    checkouts = {"xbar": ROOT}
    if opts.compare:
        checkouts["base"] = opts.compare.resolve()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"python {sys.version.split()[0]}, this checkout {ROOT}"
        + (f", previous {checkouts['base']}" if opts.compare else "")
    )
    with tempfile.TemporaryDirectory() as tmp:
        netlists = write_netlists(Path(tmp))
        floor_table(opts.repeat, Path(tmp))
        run_table(opts.cases, netlists, checkouts, opts.repeat, Path(tmp), "alone")
        if opts.load:
            procs = start_load(opts.load_procs)
            try:
                time.sleep(1.0)
                run_table(
                    opts.cases,
                    netlists,
                    checkouts,
                    opts.repeat,
                    Path(tmp),
                    f"beside {len(procs)} CPU-bound processes",
                )
            finally:
                stop_load(procs)


if __name__ == "__main__":
    main()
