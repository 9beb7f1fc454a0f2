"""Crossbar solver benchmarks: ratios against baselines measured in the same run.

    python benchmarks/bench_crossbar.py            # everything except splu at 1024
    python benchmarks/bench_crossbar.py --splu-1024
    python benchmarks/bench_crossbar.py --quick    # smaller, for a smoke test
    python benchmarks/bench_crossbar.py --batch-only   # batch of 64 vs single (~1 min)
    python benchmarks/bench_crossbar.py --batch-only --hog  # the same beside a busy process

How long: the default run took 860 s (14 min) on the shared 2-core machine at load
average 32 (2026-11-25), most of it scipy ``splu`` and badcrossbar at 512x512 (65 s and
60 s per call there, 7 s and ~9 s quiet); on the quiet machine of RESULTS.md that is
about 2 minutes.  ``--splu-1024`` adds about 3 x 50 s quiet; ``--quick`` is a short smoke test.

Baselines: scipy ``splu`` on the same reduced nodal matrix (factorise + one
solve), badcrossbar (``pip install --no-deps badcrossbar sigfig pathvalidate``;
not an xbar dependency; skipped when missing), ngspice on the exported netlist
(``SpiceResult.seconds``, the ngspice process).  OPENBLAS_NUM_THREADS defaults
to 1 (see below); numba threads follow xbar's own rule (parallel only from about
a million cell-inputs; ``--threads`` caps them).  Every timing is the best of
``--repeat`` runs after one warm-up call (numba compilation is excluded; it is
cached on disk).  Typical parameters: G uniform in [1e-6, 1e-4] S, 1 ohm per
wire segment, inputs uniform in [0, 0.3] V; the "strong IR drop" case uses
G uniform in [1e-4, 1e-2] S (r_wire * g_max = 0.01).  Prints a markdown table.
"""

from __future__ import annotations

import os

# One OpenBLAS thread unless told otherwise: on the shared 2-core machine a multithreaded
# BLAS oversubscribes and the (M, M) LAPACK calls of transfer_matrix() become 10x slower.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import subprocess
import sys
import time
import warnings

import numpy as np  # noqa: E402

import xbar  # noqa: E402
from xbar.crossbar import kernels as _loaded  # noqa: E402, F401
from xbar.crossbar import system as xsys  # noqa: E402

# The compiled kernels are loaded up front, so kernel="auto" never takes the numpy twin of
# small first solves (xbar.crossbar.solver._numpy_pays): every figure here, baselines
# included, is the compiled path's.


ROWS: list[tuple[str, str, str, str]] = []


def best(fn, repeat, clock=time.perf_counter):
    fn()
    ts = []
    for _ in range(repeat):
        t = clock()
        fn()
        ts.append(clock() - t)
    return min(ts)


class one_thread:
    """Run the block on one numba thread (CPU-time comparisons)."""

    def __enter__(self) -> None:
        import numba

        self.prev = numba.get_num_threads()
        numba.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        import numba

        numba.set_num_threads(self.prev)


def row(what, ours, base, base_name, note=""):
    ratio = base / ours if ours > 0 else float("inf")
    ROWS.append(
        (
            what,
            f"{ours * 1e3:.2f} ms",
            f"{base_name} {base * 1e3:.1f} ms",
            f"{ratio:.1f}x" + (f" ({note})" if note else ""),
        )
    )
    print(
        f"{what:48s} ours {ours * 1e3:9.2f} ms  {base_name} {base * 1e3:10.1f} ms  "
        f"ratio {ratio:7.1f}x {note}",
        flush=True,
    )


def info(what, text):
    ROWS.append((what, text, "", ""))
    print(f"{what:48s} {text}", flush=True)


def array(M, rng, gmax=1e-4, gmin=1e-6):
    return rng.uniform(gmin, gmax, (M, M)), rng.uniform(0.0, 0.3, M)


def splu_time(xb, V, repeat):
    from scipy.sparse.linalg import splu

    st = xb.setup()
    A = xsys.nodal_matrix(st)
    rr, rc = xsys.rhs(st, xsys.source_voltages(st, V[None]), st.g[None, :])
    b = np.concatenate([rr[0], rc[0]])
    out = {}

    def factor():
        out["lu"] = splu(A)

    def run():
        out["x"] = splu(A).solve(b)

    t_fact = best(factor, max(1, repeat - 1))
    t_all = best(run, max(1, repeat - 1))
    return t_fact, t_all, out["x"][: st.rows.nS]


def batch_rows(M, rng, rep):
    """Section 4: a batch of 64 inputs at M x M, per input, against single solves.

    Two baselines: the best single solve of ``rep`` (a short run that can fall into
    a quiet moment of a busy machine) and the same 64 inputs solved one at a time
    (a run as long as the batch's, under the same load)."""
    G, _ = array(M, rng)
    V64 = rng.uniform(0, 0.3, (64, M))
    for dev in (xbar.Linear(), xbar.Sinh(3.0)):
        xb = xbar.Crossbar(G, 1.0, 1.0, device=dev)
        name = "" if dev.linear else "sinh "

        def batch(xb=xb):
            xb.solve(V64)

        def loop(xb=xb):
            for v in V64:
                xb.solve(v)

        for cpu in (False, True):
            clock = time.process_time if cpu else time.perf_counter
            how = ", 1 thread CPU" if cpu else ""
            with one_thread() if cpu else _nothing():
                t1 = best(lambda xb=xb: xb.solve(V64[0]), rep, clock)
                t64 = best(batch, max(1, rep - 1), clock) / 64
                tl = best(loop, max(1, rep - 1), clock) / 64
            row(
                f"{M}x{M} {name}batch of 64, per input vs single{how}",
                t64,
                t1,
                "single",
                f"{t64 / t1:.2f} of a single solve",
            )
            row(
                f"{M}x{M} {name}batch of 64 vs the 64 one at a time{how}",
                t64,
                tl,
                "one at a time",
                f"{t64 / tl:.2f} of a single solve",
            )


class _nothing:
    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        pass


class _hog:
    """One CPU-bound process beside the block (a shared machine's other job), or nothing."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.proc = None

    def __enter__(self) -> None:
        if self.on:
            self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            info("beside one CPU-bound process", f"pid {self.proc.pid}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--splu-1024", action="store_true", help="also time splu at 1024 (~50 s)")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--threads", type=int, default=None, help="numba threads")
    ap.add_argument("--json", default=None, help="write the rows to this JSON file")
    ap.add_argument("--batch-only", action="store_true", help="only the batch-vs-single rows")
    ap.add_argument(
        "--hog",
        action="store_true",
        help="run the batch rows beside one CPU-bound process of its own (killed at the end)",
    )
    args = ap.parse_args(argv)
    if args.threads:
        import numba

        numba.set_num_threads(args.threads)
    logging.disable(logging.INFO)
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    big = [64, 128] if args.quick else [256, 512]
    rep = args.repeat
    if args.batch_only:
        with _hog(args.hog):
            batch_rows(big[0], rng, rep)
        return print_rows(args)

    # 1. vs splu on the same nodal matrix; accuracy against it
    t_fact = {}
    t_splu = {}
    for M in big + ([1024] if args.splu_1024 else []):
        G, V = array(M, rng)
        xb = xbar.Crossbar(G, 1.0, 1.0)
        t = best(lambda xb=xb, V=V: xb.solve(V), rep)
        t_fact[M], t_splu[M], x_ref = splu_time(xb, V, rep)
        x = xb.solve(V).state["xr"][0]
        err = np.abs(x - x_ref).max() / np.abs(x_ref).max()
        row(f"{M}x{M} linear, 1 input vs splu", t, t_splu[M], "splu", f"max rel diff {err:.1e}")

    # 2. vs badcrossbar (same default topology)
    try:
        import badcrossbar
    except ImportError:
        badcrossbar = None
        info("badcrossbar", "not installed, skipped")
    if badcrossbar is not None:
        for M in big:
            G, V = array(M, rng)
            xb = xbar.Crossbar(G, 1.0, 1.0)
            t = best(lambda xb=xb, V=V: xb.solve(V), rep)
            res = {}

            def bc(G=G, V=V, res=res):
                res["s"] = badcrossbar.compute(V[:, None], 1.0 / G, r_i=1.0)

            tb = best(bc, 1)
            out = np.asarray(res["s"].currents.output).ravel()
            ours = xb.solve(V).output[0]
            err = np.abs(out - ours).max() / np.abs(ours).max()
            row(
                f"{M}x{M} linear, 1 input vs badcrossbar",
                t,
                tb,
                "badcrossbar",
                f"max rel diff {err:.1e}",
            )

    # 3. vs ngspice at 64x64 (linear and sinh)
    from xbar.crossbar.netlist import outputs_from_currents
    from xbar.spice.ngspice import ngspice_available, run_ngspice

    if ngspice_available():
        import tempfile

        for dev in (xbar.Linear(), xbar.Sinh(3.0)):
            G, V = array(64, rng)
            xb = xbar.Crossbar(G, 1.0, 1.0, device=dev)
            t = best(lambda xb=xb, V=V: xb.solve(V), rep)
            with tempfile.TemporaryDirectory() as d:
                path = f"{d}/xb.cir"
                xb.to_netlist(path, V)
                t0 = time.perf_counter()
                res = run_ngspice(path)
                t_wall = time.perf_counter() - t0
            out = outputs_from_currents(xb, res.currents)
            err = np.abs(out - xb.solve(V).output[0]).max() / np.abs(out).max()
            row(
                f"64x64 {type(dev).__name__}, 1 input vs ngspice",
                t,
                res.seconds,
                "ngspice",
                f"max rel diff {err:.1e}; ngspice call incl. I/O {t_wall:.2f} s",
            )
    else:
        info("ngspice", "not installed, skipped")

    batch_rows(big[0], rng, rep)

    # 5. transfer matrix vs one splu factorisation
    M = big[0]
    G, V = array(M, rng)
    xb = xbar.Crossbar(G, 1.0, 1.0)

    def tm():
        xb.clear_cache()
        xb.transfer_matrix()

    t = best(tm, max(1, rep - 1))
    err = np.abs(V @ xb.transfer_matrix() - xb.solve(V, tol=1e-13).output[0]).max()
    err /= np.abs(xb.solve(V).output).max()
    row(
        f"{M}x{M} transfer_matrix() vs one splu factorisation",
        t,
        t_fact[M],
        "splu factor",
        f"V@W vs solve {err:.1e}; {xb.transfer_method} sweep",
    )

    # 5b. the two exact orientations of transfer_matrix() (cost model picks one)
    shapes = (
        [(64, 64), (72, 16), (16, 72)]
        if args.quick
        else [(128, 128), (128, 16), (16, 128), (72, 16), (256, 20), (20, 256), (256, 64)]
    )
    for Mt, Nt in shapes:
        G = rng.uniform(1e-6, 1e-4, (Mt, Nt))
        xb = xbar.Crossbar(G, 1.0, 1.0, r_driver=2.0, r_sense=2.0)
        times = {}
        for how in ("columns", "rows"):

            def tm(how=how, xb=xb):
                xb.clear_cache()
                xb.transfer_matrix(how)

            times[how] = best(tm, max(1, rep - 1))
        xb.clear_cache()
        xb.transfer_matrix()
        picked = xb.transfer_method
        other = "rows" if picked == "columns" else "columns"
        diff = np.abs(xb.transfer_matrix("rows") - xb.transfer_matrix("columns")).max()
        diff /= np.abs(xb.transfer_matrix()).max()
        row(
            f"{Mt}x{Nt} transfer_matrix(): picked {picked} vs {other}",
            times[picked],
            times[other],
            other,
            f"orientations agree to {diff:.0e}",
        )

    # 5c. small network tiles: xbar.crossbar.uniform (what the network evaluator uses for
    # tiles up to 64 columns) vs Crossbar.transfer_matrix() on the same arrays
    from xbar.crossbar.uniform import transfer_matrices as uniform_tm

    for Mt, Nt in [(9, 8), (9, 16), (72, 16), (72, 32), (128, 20)]:
        G = rng.uniform(1e-6, 1e-4, (Mt, Nt))
        res = (2.5, 2.5, 10.0, 10.0)

        def general(G=G, res=res):
            xbar.Crossbar(G, res[0], res[1], r_driver=res[2], r_sense=res[3]).transfer_matrix()

        t_u = best(lambda G=G, res=res: uniform_tm([G], *res), rep + 2)
        t_g = best(general, rep + 2)
        ref = xbar.Crossbar(G, res[0], res[1], r_driver=res[2], r_sense=res[3]).transfer_matrix()
        diff = np.abs(uniform_tm([G], *res)[0] - ref).max() / np.abs(ref).max()
        row(
            f"{Mt}x{Nt} tile transfer matrix (uniform) vs Crossbar",
            t_u,
            t_g,
            "Crossbar.transfer_matrix",
            f"agree to {diff:.0e}",
        )

    # 6. 1024x1024 exact solve (and peak memory in a fresh process)
    Mx = 256 if args.quick else 1024
    G, V = array(Mx, rng)
    xb = xbar.Crossbar(G, 1.0, 1.0)
    t = best(lambda: xb.solve(V), max(1, rep - 1))
    ref = t_splu.get(1024, None)
    row(
        f"{Mx}x{Mx} linear, 1 input vs splu at {big[1]}",
        t,
        t_splu[big[1]],
        f"splu {big[1]}",
        "" if ref is None else f"splu {Mx}: {ref:.1f} s",
    )
    code = (
        "import numpy as np, xbar;"
        "xbar.Crossbar(np.full((4,4),1e-4),1.0,1.0).solve(np.ones(4));"  # load the JIT cache
        f"rng=np.random.default_rng(0); G=rng.uniform(1e-6,1e-4,({Mx},{Mx}));"
        f"xb=xbar.Crossbar(G,1.0,1.0); s=xb.solve(rng.uniform(0,0.3,{Mx}));"
        "print([ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0])"
    )  # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec from this big parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode == 0:
        info(
            f"{Mx}x{Mx} peak memory (fresh process, VmHWM)",
            f"{int(out.stdout.split()[-1]) / 1024:.0f} MiB",
        )

    # 7. strong IR drop (r_wire * g_max = 0.01)
    for M in big:
        G, V = array(M, rng, gmax=1e-2, gmin=1e-4)
        xb = xbar.Crossbar(G, 1.0, 1.0)
        t = best(lambda xb=xb, V=V: xb.solve(V), rep)
        sol = xb.solve(V)
        ideal = V @ G
        drop = np.abs(sol.output[0] - ideal).max() / ideal.max()
        base = t_splu.get(M)
        if base is not None:
            row(
                f"{M}x{M} strong IR drop vs splu",
                t,
                base,
                "splu",
                f"{int(sol.iterations[0])} CG iterations; output {drop:.0%} below ideal",
            )

    # 8. nonlinear single solves
    for M in big:
        G, V = array(M, rng)
        xs = xbar.Crossbar(G, 1.0, 1.0, device=xbar.Sinh(3.0))
        t = best(lambda xs=xs, V=V: xs.solve(V), rep)
        row(
            f"{M}x{M} sinh, 1 input vs splu (linear)",
            t,
            t_splu[M],
            "splu",
            f"{int(xs.solve(V).iterations[0])} Newton steps",
        )

    return print_rows(args)


def print_rows(args) -> int:
    print()
    print("| case | xbar | baseline | ratio |")
    print("|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(ROWS, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
