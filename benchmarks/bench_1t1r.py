"""Large 1T1R crossbar netlists as a device researcher writes them: xbar against ngspice.

Each cell is a subcircuit (``X`` instance) of a memristor resistance in series with an
NMOS access transistor (level 1, body effect and channel-length modulation); word
lines drive the gates, bit lines carry the read voltages through wire resistances,
source lines end in 0 V sense sources.  The netlist uses ``.param``, ``{}`` values,
``.options`` and a ``.model`` card, and ends in ``.op``.

For each size (``--sizes``, default 32 64 128) the script runs, in the same run and
at normal priority, ``python -m xbar.cli solve --json`` and ``ngspice -b -r RAW`` on
the same file (best of ``--repeat`` whole processes) and prints the largest
difference of node voltages [V] and of sense currents relative to the largest one,
and the wall-time ratio.  Record ``uptime`` with the numbers (benchmarks/RESULTS.md).

Usage::

    python benchmarks/bench_1t1r.py --sizes 32 64 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from xbar.spice.ngspice import ngspice_available, run_ngspice  # noqa: E402


def netlist_1t1r(n: int, seed: int = 0, r_wire: float = 2.5) -> str:
    """An ``n`` x ``n`` 1T1R crossbar netlist (text); half the word lines are on."""
    rng = np.random.default_rng(seed)
    r_cell = rng.choice([5e3, 1e4, 2e4, 5e4, 1e5], size=(n, n))
    v_read = np.round(rng.uniform(0.1, 0.3, size=n), 4)
    out = [
        f"{n}x{n} 1T1R crossbar, level-1 access transistors, wire resistance",
        f".param rw={r_wire} vg_on=1.8 vg_off=0",
        ".options reltol=1e-6 abstol=1e-14 vntol=1e-9",
        ".model nacc nmos level=1 vto=0.45 kp=120u lambda=0.02 gamma=0.4 phi=0.7",
        ".subckt cell bl wl sl params: rm=10k",
        "rm bl mid {rm}",
        "macc mid wl sl 0 nacc w=0.5u l=0.18u",
        ".ends cell",
    ]
    for i in range(n):
        out.append(f"vbl{i} bl{i}_in 0 dc {v_read[i]}")
        out.append(f"vwl{i} wl{i} 0 {{{'vg_on' if i % 2 == 0 else 'vg_off'}}}")
        out.append(f"rbl{i}_0 bl{i}_in bl{i}_0 {{rw}}")
        for j in range(1, n):
            out.append(f"rbl{i}_{j} bl{i}_{j - 1} bl{i}_{j} {{rw}}")
    for j in range(n):
        for i in range(1, n):
            out.append(f"rsl{i}_{j} sl{i - 1}_{j} sl{i}_{j} {{rw}}")
        out.append(f"rsl_out{j} sl{n - 1}_{j} sense{j} {{rw}}")
        out.append(f"vsense{j} sense{j} 0 0")
    for i in range(n):
        for j in range(n):
            out.append(f"x{i}_{j} bl{i}_{j} wl{i} sl{i}_{j} cell rm={r_cell[i, j]:g}")
    out += [".op", ".end", ""]
    return "\n".join(out)


def best_wall(cmd: list[str], repeat: int) -> tuple[float, str]:
    """Best wall time [s] of a whole process and its standard output."""
    best, out = np.inf, ""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
        best = min(best, time.perf_counter() - t)
        out = proc.stdout
    return best, out


def compare(size: int, repeat: int, tmp: Path) -> dict:
    path = tmp / f"x1t1r_{size}.cir"
    path.write_text(netlist_1t1r(size))
    t_x, text = best_wall([sys.executable, "-m", "xbar.cli", "solve", "--json", str(path)], repeat)
    res = json.loads(text)
    row = {"size": size, "xbar_s": t_x}
    if ngspice_available():
        ng = run_ngspice(path)
        t_n, _ = best_wall(["ngspice", "-b", "-r", str(tmp / "o.raw"), str(path)], repeat)
        dv = max(abs(res["voltages"][k] - float(v[0])) for k, v in ng.voltages.items())
        sense = [k for k in ng.currents if k.startswith("vsense")]
        scale = max(abs(float(ng.currents[k][0])) for k in sense)
        di = max(abs(res["currents"][k] - float(ng.currents[k][0])) for k in sense) / scale
        row.update(ngspice_s=t_n, ratio=t_n / t_x, dv=dv, di=di)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"load: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as d:
        for size in args.sizes:
            row = compare(size, args.repeat, Path(d))
            print(
                " ".join(
                    f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
