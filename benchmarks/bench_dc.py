"""``.dc`` sweeps of small circuits and ``.op`` of medium ones: xbar against ngspice.

For every case of :mod:`dc_cases` (diode + resistor, CMOS inverter, R-2R ladder,
8x8 and 32x32 crossbars with linear, 1S1R and sinh cells) this script measures,
in the same run:

* xbar in-process: ``solve_dc`` of the parsed circuit, best of ``--repeat``,
  after a warm-up solve (numba's cached kernels loaded), per sweep point, with
  ``engine="compiled"`` and with ``engine="python"`` (the Python Newton path, the
  engine before the compiled path; on at most ``--python-points`` points), the two
  alternated run by run;
* whole processes: ``python -m xbar.cli solve --engine compiled FILE --csv`` and ``ngspice -b -r
  RAW FILE`` on the full sweep and on a 3-point sweep of the same circuit; the
  per-point cost is the difference divided by the extra points (start-up
  removed), and the full wall time is reported as well;
* the largest difference between xbar's and ngspice's node voltages [V] and
  source currents (relative to the largest current) over all points.

Usage::

    python benchmarks/bench_dc.py                   # every case
    python benchmarks/bench_dc.py --cases diode inverter --repeat 5
    python benchmarks/bench_dc.py --op 64           # also .op of 64x64 crossbars
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crossbar_netlist import crossbar_netlist  # noqa: E402
from dc_cases import CASES  # noqa: E402

from xbar.spice.dc import solve_dc  # noqa: E402
from xbar.spice.netlist import read_netlist  # noqa: E402
from xbar.spice.ngspice import ngspice_available, run_ngspice  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def in_process(text: str, repeat: int, engine: str = "auto") -> tuple[float, object]:
    """Best solve time [s] of ``text`` (parse excluded) and the last result."""
    circuit = read_netlist(text)
    best, res = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        res = solve_dc(circuit, engine=engine)
        best = min(best, time.perf_counter() - t)
    return best, res


def alternating(runs: list[tuple[str, str]], repeat: int) -> list[tuple[float, object]]:
    """Best solve time [s] and last result of each ``(netlist text, engine)``, the runs
    alternated ``repeat`` times (so that a change of machine load hits all alike)."""
    circuits = [read_netlist(text) for text, _ in runs]
    best = [np.inf] * len(runs)
    results = [None] * len(runs)
    for _ in range(repeat):
        for k, (circuit, (_, engine)) in enumerate(zip(circuits, runs, strict=True)):
            t = time.perf_counter()
            results[k] = solve_dc(circuit, engine=engine)
            best[k] = min(best[k], time.perf_counter() - t)
    return list(zip(best, results, strict=True))


def process_time(cmd: list[str], repeat: int) -> float:
    """Best wall time [s] of a whole process (output discarded)."""
    best = np.inf
    env = dict(os.environ, PYTHONPATH=str(ROOT), SPICE_ASCIIRAWFILE="1")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True
        )
        best = min(best, time.perf_counter() - t)
    return best


def differences(res, ng) -> tuple[float, float]:
    """Largest |V_xbar - V_ngspice| [V] and largest current difference relative to the
    largest current, over every node, source and point."""
    dv = max(
        (
            float(np.max(np.abs(v - ng.voltages[k])))
            for k, v in res.voltages.items()
            if k in ng.voltages
        ),
        default=np.nan,
    )
    di, scale = 0.0, 0.0
    for k, i in res.currents.items():
        if k in ng.currents:
            di = max(di, float(np.max(np.abs(i - ng.currents[k]))))
            scale = max(scale, float(np.max(np.abs(ng.currents[k]))))
    return dv, (di / scale if scale else np.nan)


def run_case(name: str, make, points: int, args, tmp: Path) -> dict:
    text, small = make(points), make(3)
    full, tiny = tmp / f"{name}.cir", tmp / f"{name}_3.cir"
    full.write_text(text)
    tiny.write_text(small)
    py_points = min(points, args.python_points)
    (t_x, res), (t_py, _) = alternating(
        [(text, "compiled"), (make(py_points), "python")], args.repeat
    )
    row = dict(case=name, unknowns=res.x.shape[1], points=points)
    row["xbar_us"] = t_x / points * 1e6
    row["python_us"] = t_py / py_points * 1e6
    xcmd = [sys.executable, "-m", "xbar.cli", "solve", "--engine", "compiled"]
    px_full = process_time(xcmd + [str(full), "--csv"], args.repeat)
    px_tiny = process_time(xcmd + [str(tiny), "--csv"], args.repeat)
    row["xbar_proc_s"] = px_full
    row["xbar_proc_us"] = (px_full - px_tiny) / (points - 3) * 1e6
    row.update(ngspice_s=np.nan, ngspice_us=np.nan, dv=np.nan, di=np.nan)
    if ngspice_available() and not args.no_ngspice:
        ng = run_ngspice(full)
        ngcmd = ["ngspice", "-b", "-r", str(tmp / "out.raw")]
        ng_full = process_time(ngcmd + [str(full)], args.repeat)
        ng_tiny = process_time(ngcmd + [str(tiny)], args.repeat)
        row["ngspice_s"] = ng_full
        row["ngspice_us"] = (ng_full - ng_tiny) / (points - 3) * 1e6
        row["dv"], row["di"] = differences(res, ng)
    return row


def op_case(size: int, cell: str, args, tmp: Path) -> dict:
    """``.op`` of a size x size crossbar: xbar in-process (compiled and Python engine;
    ``auto`` picks the Python one for an operating point) and ngspice's whole process."""
    text = crossbar_netlist(size, size, cell=cell, seed=size)
    path = tmp / f"op_{cell}_{size}.cir"
    path.write_text(text)
    (t_x, res), (t_py, _) = alternating([(text, "compiled"), (text, "python")], args.repeat)
    row = dict(case=f".op {cell} {size}x{size}", unknowns=len(res.x), t_xbar=t_x, t_python=t_py)
    row.update(ngspice_s=np.nan, dv=np.nan, di=np.nan)
    if ngspice_available() and not args.no_ngspice:
        ng = run_ngspice(path, timeout=900)
        row["ngspice_s"] = ng.seconds
        row["dv"], row["di"] = differences(res, ng)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    ap.add_argument("--points", type=int, default=0, help="points per sweep (0: each case's own)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    ap.add_argument("--python-points", type=int, default=1001, help="points for engine=python")
    ap.add_argument("--op", type=int, nargs="*", default=[], help=".op crossbar sizes (e.g. 64)")
    ap.add_argument("--no-ngspice", action="store_true")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="xbar-bench-dc-"))
    in_process(CASES["diode"][0](3), 1, "compiled")  # warm-up: numba's cached kernels
    in_process(CASES["inverter"][0](3), 1, "compiled")
    in_process(CASES["xbar8_sinh"][0](3), 1, "compiled")
    in_process(CASES["ladder"][0](3), 1, "compiled")
    print(f"load before: {os.getloadavg()[0]:.2f}; python {sys.version.split()[0]}")
    head = (
        f"{'case':<15}{'unk':>6}{'points':>7}{'xbar us/pt':>11}{'python':>9}{'speedup':>8}"
        f"{'ngspice':>9}{'xbar/ng':>8}{'proc us/pt':>11}{'xbar s':>8}{'ng s':>7}"
        f"{'max dV':>10}{'max dI rel':>11}"
    )
    print(head + "\n" + "-" * len(head))
    for name in args.cases:
        make, pts = CASES[name]
        r = run_case(name, make, args.points or pts, args, tmp)
        print(
            f"{name:<15}{r['unknowns']:>6}{r['points']:>7}{r['xbar_us']:>11.1f}"
            f"{r['python_us']:>9.0f}{r['python_us'] / r['xbar_us']:>7.0f}x"
            f"{r['ngspice_us']:>9.1f}{r['xbar_us'] / r['ngspice_us']:>8.1f}"
            f"{r['xbar_proc_us']:>11.1f}{r['xbar_proc_s']:>8.2f}{r['ngspice_s']:>7.2f}"
            f"{r['dv']:>10.1e}{r['di']:>11.1e}",
            flush=True,
        )
    for size in args.op:
        for cell in ("linear", "sinh", "1s1r"):
            r = op_case(size, cell, args, tmp)
            print(
                f"{r['case']:<22}{r['unknowns']:>7} compiled {r['t_xbar']:.3f} s, python engine "
                f"{r['t_python']:.3f} s, ngspice process {r['ngspice_s']:.2f} s, "
                f"max dV {r['dv']:.1e}, max dI rel {r['di']:.1e}",
                flush=True,
            )
    print(f"load after: {os.getloadavg()[0]:.2f}")
    print(
        "us/pt: in-process solve time per sweep point (parse excluded); python: engine='python'; "
        "ngspice: per point from two whole processes (full and 3-point sweeps); proc us/pt: the "
        "same for `xbar solve --csv`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
