"""Whole-process network commands as a user runs them (issue 13): busy machine, wires, WRN.

Every case runs ``python -m xbar.cli ...`` as a fresh process with default settings
(no thread environment variables: the script removes OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS, MKL_NUM_THREADS, NUMBA_NUM_THREADS and XBAR_THREADS from the
children's environment, and PYTHONDONTWRITEBYTECODE, so that the children import
compiled modules as an installed xbar does; one unrecorded warm-up run comes first)
and reports the median wall time of ``--repeat`` runs and the peak resident memory
(``ru_maxrss`` of the child).  Ratios compare cases measured in this same run.

Cases:

* ``busy``: ``xbar infer --config examples/rram_128.toml`` alone, then while two
  CPU-bound processes (started by this script, one per core of a 2-core machine)
  run; goal busy <= 2x quiet.  With ``--threads2``, the same pair with ``--threads 2``
  (two BLAS threads, OpenBLAS's old default on 2 cores; one run each, since it takes
  minutes when busy) shows what the thread cap buys.
* ``wires``: ``xbar infer`` (default model, whole test set) with exact 1-ohm wires
  (``--r-row 1 --r-col 1``) against no wires, 1 chip and 20 chips; goal <= 1.3x.
  The two commands run alternately; the ratio column gives the ratio of the medians
  and the range of the run-by-run ratios.
  Also with programming error (every chip needs its own transfer matrices), and each
  pair with the default energy report and with ``--no-energy``.  A second table gives
  the time per additional chip, ``(t(20 chips) - t(1 chip)) / 19``, of every variant.
* ``wrn``: the README's ``xbar infer --model wrn-16-4 --dataset synthetic-32x32x3
  --limit 2``; goal < 10 s and < 600 MB.

With ``--compare DIR`` (another checkout of xbar, e.g. ``git worktree add /tmp/base
COMMIT``) every measurement is also taken with that checkout, alternating run by run,
and each time is followed by the ratio this / that.

Usage::

    python benchmarks/bench_process.py                 # all cases, 3 repeats
    python benchmarks/bench_process.py --cases busy --repeat 5 --threads2
    python benchmarks/bench_process.py --cases wires --compare /tmp/base
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "XBAR_THREADS",
    "NUMBA_NUM_THREADS",
    "PYTHONDONTWRITEBYTECODE",
)


#: the other checkout of ``--compare`` (None: this one only)
COMPARE: Path | None = None


def _env(root: Path = ROOT) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_once(args: list[str], root: Path = ROOT) -> tuple[float, float]:
    """Wall seconds and peak RSS [MiB] of one ``python -m xbar.cli ARGS`` process (run in
    the checkout ``root``)."""
    cmd = [sys.executable, "-m", "xbar.cli", *args, "--no-progress"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=root, env=_env(root), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err}")
    return seconds, usage.ru_maxrss / 1024.0


def measure(args: list[str], repeat: int) -> tuple[float, float, list[float]]:
    runs = [run_once(args) for _ in range(repeat)]
    times = [t for t, _ in runs]
    return statistics.median(times), max(m for _, m in runs), times


class Timed(float):
    """A median time [s] that remembers its runs (``runs``)."""

    runs: list[float]


def _timed(runs: list[float]) -> Timed:
    t = Timed(statistics.median(runs))
    t.runs = runs
    return t


def measure_ab(a: list[str], b: list[str], repeat: int):
    """``((a, a there), (b, b there), peak MiB of b)``: the commands ``a`` and ``b`` run
    alternately (a, b, a, b, ...; with ``COMPARE`` each also in that checkout right
    after), so that their ratio sees the same machine load."""
    here_a, here_b, there_a, there_b, peak = [], [], [], [], 0.0
    for _ in range(repeat):
        for cmd, here, there in ((a, here_a, there_a), (b, here_b, there_b)):
            t, mem = run_once(cmd)
            here.append(t)
            if cmd is b:
                peak = max(peak, mem)
            if COMPARE is not None:
                there.append(run_once(cmd, COMPARE)[0])
    other = (_timed(there_a), _timed(there_b)) if COMPARE is not None else (None, None)
    return (_timed(here_a), other[0]), (_timed(here_b), other[1]), peak


def _ratios(t: Timed, base: Timed) -> str:
    """The range of the run-by-run ratios of two alternately measured times."""
    ratios = [x / y for x, y in zip(t.runs, base.runs, strict=True)]
    return f"pairs {min(ratios):.2f}-{max(ratios):.2f}x"


def _shown(t: Timed, base: Timed | None) -> str:
    """``t`` in seconds (with the range of its runs), and the ratio to the other checkout's
    time (its runs' range of ratios) when there is one."""
    text = f"{t:.2f} s"
    if len(t.runs) > 1:
        text += f" [{min(t.runs):.2f}-{max(t.runs):.2f}]"
    if base is None:
        return text
    ratios = [a / b for a, b in zip(t.runs, base.runs, strict=True)]
    spread = f", runs {min(ratios):.2f}-{max(ratios):.2f}x" if len(ratios) > 1 else ""
    return f"{text} ({t / base:.2f}x of {base:.2f} s{spread})"


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


class Hogs:
    """Two CPU-bound Python processes (``while True: pass``) for the busy case."""

    def __init__(self, n: int = 2):
        self.n = n
        self.procs: list[subprocess.Popen] = []

    def __enter__(self):
        for _ in range(self.n):
            self.procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(5)


def case_busy(repeat: int, threads2: bool = False) -> None:
    cmd = ["infer", "--config", "examples/rram_128.toml"]
    print(f"\n## busy machine: xbar {' '.join(cmd)}  ({load()})")
    rows = []
    variants = [("default (threads = 0: 1 BLAS thread)", [], repeat)]
    if threads2:
        variants.append(("--threads 2 (2 BLAS threads)", ["--threads", "2"], 1))
    for label, extra, n in variants:
        quiet, mem_q, tq = measure(cmd + extra, n)
        with Hogs(2):
            busy, mem_b, tb = measure(cmd + extra, n)
        rows.append((label, quiet, busy, mem_q, tq, tb))
    print("| settings | quiet | with 2 CPU-bound processes | busy / quiet | peak MiB |")
    print("|---|---|---|---|---|")
    for label, quiet, busy, mem, _, _ in rows:
        print(f"| {label} | {quiet:.2f} s | {busy:.2f} s | **{busy / quiet:.2f}x** | {mem:.0f} |")
    for label, _, _, _, tq, tb in rows:
        print(
            f"  {label}: quiet runs {[round(t, 2) for t in tq]}, busy runs "
            f"{[round(t, 2) for t in tb]}"
        )
    print(f"  ({load()} after)")


def case_wires(repeat: int) -> None:
    print(
        f"\n## exact 1-ohm wires vs none, whole process, default model, whole test set ({load()})"
    )
    if COMPARE is not None:
        print(f"(each time: this checkout, then its ratio to {COMPARE}, measured alternately)")
    print(
        "| chips | programming error | energy | no wires | 1-ohm wires | ratio | peak MiB (wires) |"
    )
    print("|---|---|---|---|---|---|---|")
    perr = ["--programming-error", "state_proportional", "--programming-sigma", "0.05"]
    times: dict[tuple, tuple[float, float | None]] = {}
    for chips in (1, 20):
        for errors in ([], perr):
            for energy in ([], ["--no-energy"]):
                base = ["infer", "--repeats", str(chips), *errors, *energy]
                (t0, b0), (t1, b1), m1 = measure_ab(
                    base, base + ["--r-row", "1", "--r-col", "1"], repeat
                )
                variant = (bool(errors), bool(energy))
                times[(chips, *variant, False)], times[(chips, *variant, True)] = (t0, b0), (t1, b1)
                print(
                    f"| {chips} | {'state_proportional 0.05' if errors else 'none'} | "
                    f"{'off' if energy else 'on (default)'} | {_shown(t0, b0)} | "
                    f"{_shown(t1, b1)} | **{t1 / t0:.2f}x** ({_ratios(t1, t0)}) | {m1:.0f} |",
                    flush=True,
                )
    _per_chip_table(times)
    print(f"  ({load()} after)")


def _per_chip_table(times: dict) -> None:
    """Seconds per additional chip, (t(20 chips) - t(1 chip)) / 19, of every variant."""
    print("\n| programming error | energy | wires | per additional chip |")
    print("|---|---|---|---|")
    for (chips, errors, no_energy, wires), (t20, b20) in times.items():
        if chips != 20:
            continue
        t1, b1 = times[(1, errors, no_energy, wires)]
        per = (t20 - t1) / 19
        shown = f"{1e3 * per:.0f} ms"
        if b20 is not None and b1 is not None:
            shown += f" (other checkout {1e3 * (b20 - b1) / 19:.0f} ms)"
        print(
            f"| {'state_proportional 0.05' if errors else 'none'} | "
            f"{'off' if no_energy else 'on'} | {'1 ohm' if wires else 'none'} | {shown} |"
        )


def case_wrn(repeat: int) -> None:
    cmd = ["infer", "--model", "wrn-16-4", "--dataset", "synthetic-32x32x3", "--limit", "2"]
    print(f"\n## WRN-16-4, 2 images: xbar {' '.join(cmd)}  ({load()})")
    t, mem, times = measure(cmd, repeat)
    print(
        f"| whole process | {t:.2f} s (runs {[round(x, 2) for x in times]}) | "
        f"peak {mem:.0f} MiB | goal < 10 s, < 600 MB |"
    )
    print(f"  ({load()} after)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--cases", nargs="+", default=["busy", "wires", "wrn"], choices=["busy", "wires", "wrn"]
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--threads2", action="store_true", help="busy case: also --threads 2 (one run each)"
    )
    ap.add_argument(
        "--compare", type=Path, help="wires case: also time this other checkout (alternately)"
    )
    args = ap.parse_args()
    global COMPARE
    COMPARE = args.compare.resolve() if args.compare else None
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {load()}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    run_once(["infer", "--limit", "1"])  # warm-up: compiled modules, disk caches
    if COMPARE is not None:
        run_once(["infer", "--limit", "1"], COMPARE)
    for case in args.cases:
        if case == "busy":
            case_busy(args.repeat, args.threads2)
        else:
            {"wires": case_wires, "wrn": case_wrn}[case](args.repeat)


if __name__ == "__main__":
    main()
