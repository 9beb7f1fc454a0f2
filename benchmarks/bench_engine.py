"""Engine benchmark: whole-process ``xbar solve FILE --json`` versus ``ngspice -b``.

For crossbars of 16x16 .. 128x128 cells (linear resistors and sinh
behavioural sources, netlists from :mod:`crossbar_netlist`), this script
times both simulators as separate processes on the same file, reports
xbar's parse and solve time (from its JSON ``timing``), the peak resident
memory of each process, the ratio ngspice/xbar, and the largest relative
difference of the column output currents between the two (a sanity check
that both solved the same circuit).

ngspice runs as ``ngspice -b -r out.raw FILE`` (batch mode writing the
results, as xbar's cross-check runner does: without an output request
ngspice skips the analysis).  Its time is measured in the same run, on the
same machine.  Usage::

    python benchmarks/bench_engine.py                  # 16, 32, 64 and 128
    python benchmarks/bench_engine.py --sizes 16 32 64 --cells linear
    python benchmarks/bench_engine.py --ngspice-max 64 # skip ngspice above 64x64

How long: about 6 minutes with the defaults, nearly all of it ngspice on the 128x128
netlists (192 s linear and 139 s sinh in RESULTS.md; xbar takes about a second per
netlist); ``--ngspice-max 64`` skips those two and finishes in well under a minute.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crossbar_netlist import crossbar_netlist  # noqa: E402

# runs a command, prints wall time and the child's peak RSS as JSON on stderr
_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "w"), stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(p.stderr[-2000:])
sys.stderr.write("\n@@" + json.dumps({"wall": wall, "rss_kb": rss, "rc": p.returncode}))
"""


def measure(cmd: list[str], stdout_path: Path, timeout: float, cwd: Path) -> dict:
    """Run ``cmd`` in a fresh wrapper process; return wall time [s] and peak RSS [MiB]."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _WRAPPER, str(stdout_path), *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        return {"wall": float("nan"), "rss_mib": float("nan"), "rc": "timeout"}
    tail = proc.stderr.rsplit("@@", 1)
    info = json.loads(tail[1])
    if info["rc"] != 0:
        raise RuntimeError(f"{cmd[0]} failed ({info['rc']}): {tail[0][-800:]}")
    return {"wall": info["wall"], "rss_mib": info["rss_kb"] / 1024.0, "rc": 0}


def output_currents_xbar(path: Path, cols: int) -> np.ndarray:
    obj = json.loads(path.read_text())
    return np.array([obj["currents"][f"v_sense{j}"] for j in range(cols)])


def output_currents_ngspice(raw: Path, cols: int) -> np.ndarray:
    from xbar.spice.ngspice import _parse_raw

    res = _parse_raw(raw.read_text())[0]
    return np.array([res.currents[f"v_sense{j}"][0] for j in range(cols)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64, 128])
    ap.add_argument(
        "--cells", nargs="+", default=["linear", "sinh"], choices=["linear", "sinh", "1s1r"]
    )
    ap.add_argument(
        "--ngspice-max",
        type=int,
        default=128,
        help="largest size to run ngspice on (it takes minutes at 128x128)",
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="per-process limit [s]")
    ap.add_argument("--repeat", type=int, default=1, help="xbar runs per case (best is kept)")
    ap.add_argument(
        "--levels",
        type=int,
        default=8,
        help="distinct cell conductances (0: a different one per cell)",
    )
    args = ap.parse_args(argv)

    ngspice = subprocess.run(["which", "ngspice"], capture_output=True, text=True).stdout.strip()
    xbar_cmd = [sys.executable, "-m", "xbar.cli", "solve"]
    tmp = Path(tempfile.mkdtemp(prefix="xbar-bench-"))
    # baseline: the interpreter importing numpy + scipy's sparse solver (xbar's floor)
    base = measure(
        [sys.executable, "-c", "import numpy, scipy.sparse.linalg"], tmp / "base.out", 120, tmp
    )
    print(f"machine: {_cpu()}, {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print(
        f"baseline: python + import numpy, scipy.sparse.linalg = {base['wall']:.3f} s, "
        f"{base['rss_mib']:.0f} MiB\n"
    )
    head = (
        f"{'case':<16}{'unknowns':>9}{'xbar s':>9}{'parse s':>9}{'solve s':>9}{'iter':>6}"
        f"{'xbar MiB':>10}{'ngspice s':>11}{'ngsp MiB':>10}{'ratio':>8}{'max rel diff':>14}"
    )
    print(head)
    print("-" * len(head))
    rows = []
    for cell in args.cells:
        for n in args.sizes:
            net = tmp / f"crossbar_{cell}_{n}x{n}.cir"
            net.write_text(crossbar_netlist(n, n, cell=cell, seed=n, levels=args.levels or n * n))
            best = None
            for _ in range(max(args.repeat, 1)):
                m = measure(xbar_cmd + [str(net), "--json"], tmp / "xbar.json", args.timeout, tmp)
                if best is None or m["wall"] < best["wall"]:
                    best = m
            obj = json.loads((tmp / "xbar.json").read_text())
            timing = obj["timing"]
            unknowns = len(obj["voltages"]) + len(obj["currents"])
            row = dict(
                case=f"{cell} {n}x{n}",
                n=n,
                cell=cell,
                unknowns=unknowns,
                xbar_s=best["wall"],
                parse_s=timing["parse_s"],
                solve_s=timing["solve_s"],
                iterations=obj["iterations"],
                xbar_mib=best["rss_mib"],
                ngspice_s=float("nan"),
                ngspice_mib=float("nan"),
                diff=float("nan"),
            )
            if ngspice and n <= args.ngspice_max:
                raw = tmp / "out.raw"
                env_cmd = ["env", "SPICE_ASCIIRAWFILE=1", ngspice, "-b", "-r", str(raw), str(net)]
                m = measure(env_cmd, tmp / "ngspice.out", args.timeout, tmp)
                row["ngspice_s"], row["ngspice_mib"] = m["wall"], m["rss_mib"]
                if m["rc"] == 0:
                    a = output_currents_xbar(tmp / "xbar.json", n)
                    b = output_currents_ngspice(raw, n)
                    row["diff"] = float(np.max(np.abs(a - b) / np.abs(b)))
            rows.append(row)
            ratio = row["ngspice_s"] / row["xbar_s"]
            print(
                f"{row['case']:<16}{unknowns:>9}{row['xbar_s']:>9.3f}{row['parse_s']:>9.3f}"
                f"{row['solve_s']:>9.3f}{row['iterations']:>6}{row['xbar_mib']:>10.0f}"
                f"{row['ngspice_s']:>11.3f}{row['ngspice_mib']:>10.0f}{ratio:>8.1f}"
                f"{row['diff']:>14.2e}",
                flush=True,
            )
    print("\nratio = ngspice wall time / xbar wall time (whole processes, same machine, same run)")
    return 0


def _cpu() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    print(f"(benchmark took {time.perf_counter() - t0:.0f} s)")
    sys.exit(code)
