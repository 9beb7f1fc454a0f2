"""Solves over a :class:`~xbar.crossbar.CrossbarSystem`: linear CG, Newton, residual.

Linear cells: the nodal system is two families of tridiagonal chains (rows,
columns) coupled only through the cells.  Columns are eliminated exactly by
tridiagonal solves and CG runs on the Schur complement with the row chains as
preconditioner, to a relative KCL residual of ``tol``.  The kernel
(:mod:`xbar.crossbar.kernels`) is a parameter:

* ``"lanes"``: when no node is collapsed, groups of :data:`LANES` inputs in
  lockstep on the (M, N) grid (each grid row's conductances and pivots read
  once for the group), the groups in parallel;
* ``"inputs"``: when no node is collapsed, one serial CG per input on the
  (M, N) grid, the inputs in parallel;
* ``"lines"``: when no node is collapsed, one CG for the whole batch,
  parallel over lines (one large array);
* ``"chains"``: the general kernel on collapsed super-node chains;
* ``"numpy"``: when no node is collapsed, the readable twin of ``"inputs"``
  (:mod:`xbar.crossbar.grid_numpy`: same iterations, values to round-off, no numba;
  Newton then takes :func:`newton_numpy`);
* ``"auto"``: ``"lanes"`` for batches, ``"inputs"`` for one small array,
  ``"lines"`` for one large uncollapsed array, ``"chains"`` otherwise; linear solves
  of small uncollapsed arrays in ``"numpy"`` while numba's start-up would cost more
  than the solve (:func:`_numpy_pays`).

Large batches on the grid are cut into chunks that worker threads take one after
another, each chunk on one numba thread (:func:`_workers`): no thread waits for
another at every step, which on a machine shared with other jobs made batches
slower than single solves.

Every linear solve reports the *true* relative residual ``||b - A x|| / ||b||``,
recomputed once from the solution, and its round-off floor
``eps * || |A| |x| + |b| || / ||b||`` (:func:`residual_floor`: the rounding error
of evaluating ``b - A x`` in double precision), both in one pass over the grid.
Above ``tol`` and the floor, the solution is refined from the true residual
(:data:`REFINE_STEPS`) and raises :class:`ConvergenceError` if it stays there.
Where the floor itself is above ``tol`` (conductances spanning many decades),
``tol`` cannot be reached or verified in double precision: the solution says so
(:attr:`CrossbarSolution.roundoff_limited`) instead of claiming it.

Nonlinear cells (and selectors, access resistors in series): Newton with the
SPICE convergence rules (``reltol``/``vntol`` per unknown) plus the KCL
residual ``tol``; each cell's series chain is condensed to one Norton
companion per step, so every step is one structured linear solve warm-started
from the last; devices limit their own voltage steps.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, ConvergenceError, ValueRangeError, XbarError
from ..lazy import lazy_module
from ..spice.circuit import Options
from .grid_numpy import grid_pcg_numpy
from .solution import CrossbarSolution, concat_solutions, slice_solution, warm_state
from .structure import end_currents
from .system import (
    CrossbarSystem,
    cell_voltages,
    line_diagonals,
    node_voltages,
    rhs,
    source_voltages,
)

# the numba kernels: imported (0.4-0.5 s with their cache) when a solve first needs them
kernels = lazy_module("xbar.crossbar.kernels")

__all__ = [
    "KERNELS",
    "NodeSolution",
    "choose_kernel",
    "linear_solve",
    "residual",
    "residual_floor",
    "refine",
    "solve_nodes",
    "solve",
    "newton",
    "newton_numpy",
    "differential_conductance",
    "PARALLEL_MIN_WORK",
    "LANES",
    "REFINE_STEPS",
    "BATCH_CELLS",
    "NEWTON_CELLS",
    "MEM_BUDGET",
    "POOL_CHUNK",
]

KERNELS = ("auto", "lanes", "inputs", "lines", "chains", "numpy")
LANES = 4  # inputs solved in lockstep by one thread (kernel "lanes"; = kernels.LANES)
REFINE_STEPS = 2  # iterative refinement steps from the true residual when it is above tol
PARALLEL_MIN_WORK = 1 << 20  # cells x inputs below which the kernels run on one thread
BATCH_CELLS = 1 << 16  # Newton batches are solved in chunks of about this many cells x inputs
NEWTON_CELLS = 1 << 17  # the same for Newton on the grid (at least a group per thread)
MEM_BUDGET = 384e6  # bytes of solver work arrays per batch chunk
POOL_CHUNK = 2 * LANES  # inputs per chunk when chunks run on worker threads
ROUNDOFF_LIMIT = 1e-3  # a round-off floor above this leaves no answer to report (raises)


class NodeSolution(NamedTuple):
    """Unknowns of a linear solve.

    Attributes
    ----------
    xr : array (K, nR)
        Row super-node voltages [V].
    xc : array (K, nC)
        Column super-node voltages [V].
    iterations : int64 array (K,)
        CG iterations per input.
    residual : array (K,)
        True relative residual ``||b - A x|| / ||b||`` per input, recomputed from
        ``xr`` and ``xc`` (not the CG recurrence's).
    """

    xr: np.ndarray
    xc: np.ndarray
    iterations: np.ndarray
    residual: np.ndarray


class _threads:
    """Run small solves on one numba thread.

    Each CG step of the line-parallel kernel opens four parallel regions; below
    about a million cell-inputs their barriers cost more than the second core
    saves, and on an oversubscribed machine (2 cores shared by many jobs) a
    region can wait a whole scheduler slice for a descheduled worker (measured:
    0.6 ms serial vs 400 ms parallel at 64x64).  Batches are chunked
    (``BATCH_CELLS``) so they stay serial too.
    """

    def __init__(self, work: int) -> None:
        self.serial = work < PARALLEL_MIN_WORK

    def __enter__(self) -> None:
        if self.serial:
            import numba

            self.prev = numba.get_num_threads()
            numba.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        if self.serial:
            import numba

            numba.set_num_threads(self.prev)


def _numba_threads() -> int:
    fresh = "numba" not in sys.modules  # (a batch may ask before any kernel module ran)
    import numba

    if fresh:
        from ..threads import numba_caps

        numba_caps()
    return numba.get_num_threads()


def _workers(system: CrossbarSystem, K: int, grid: bool, kernel: str) -> int:
    """Threads that solve a batch's chunks side by side (1: the chunks in turn).

    Large batches on the grid (Newton, or linear with the lanes kernel) are cut into
    chunks of :data:`POOL_CHUNK` inputs, each solved serially on one of numba's
    threads' worth of worker threads, which take the next chunk when they finish.
    Parallel regions inside one chunk instead split the work evenly and wait at
    every Newton and CG step for the slowest thread: beside another job, whose core
    the thread shares, the batch ran slower than the same inputs one at a time
    (measured, sinh batch of 64 at 256x256 at load 4: 15-19 against 12-13 ms per
    input).  Needs a thread-safe numba threading layer (OpenMP or TBB).
    """
    lanes = system.is_linear and system.uncollapsed and kernel in ("auto", "lanes")
    if not (grid or lanes) or system.M * system.N * K < PARALLEL_MIN_WORK:
        return 1  # (decided before asking numba, which a small solve may not need)
    threads = _numba_threads()
    if threads < 2:
        return 1
    import numba

    try:
        layer = numba.threading_layer()
    except ValueError:  # known once a parallel region has run: run a tiny one
        kernels.spice_close(np.zeros((1, 1)), np.zeros((1, 1)), 0.0, 0.0, np.ones(1, np.bool_))
        layer = numba.threading_layer()
    return threads if layer in ("omp", "tbb") else 1


def _renumbered(exc: XbarError, offset: int) -> XbarError:
    """``exc`` (raised for a chunk of a batch) with the inputs it names ("input 3")
    counted from the start of the whole batch."""
    if offset == 0:
        return exc
    msg = re.sub(r"\binput (\d+)", lambda m: f"input {int(m.group(1)) + offset}", exc.message)
    return type(exc)(msg, location=exc.location, hint=exc.hint)


_POOL: list = []  # [the ThreadPoolExecutor of the chunks' workers], made on first use
_POOL_LOCK = threading.Lock()


def _executor(workers: int):
    """The worker threads of batch chunks, kept from solve to solve (at least ``workers``).

    The same threads serve every batch, so their thread-local workspaces
    (:func:`_lane_work`) stay mapped: threads made anew for each solve allocated
    them afresh every time, which page-faults (measured: 10,000 faults, a quarter of
    a 256x256 sinh batch's time)."""
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if not _POOL or _POOL[0]._max_workers < workers:
            if _POOL:
                _POOL.pop().shutdown(wait=False)  # finishes what it runs, then ends
            _POOL.append(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xbar-chunk"))
        return _POOL[0]


def _pooled(part, starts: range, workers: int) -> list:
    """``part(s)`` for every start ``s``, on ``workers`` threads, each with one numba
    thread; results in order (the error of the first failing start is raised)."""
    import numba

    starts = list(starts)
    results: list = [None] * len(starts)
    errors: list = [None] * len(starts)
    order = iter(range(len(starts)))
    lock = threading.Lock()

    def run() -> None:  # one worker: the next start until none is left
        prev = numba.get_num_threads()
        numba.set_num_threads(1)  # per thread: this worker's kernels run on it alone
        try:
            while True:
                with lock:
                    i = next(order, None)
                if i is None:
                    return
                try:
                    results[i] = part(starts[i])
                except Exception as exc:  # raised below, in the order of the starts
                    errors[i] = exc
        finally:
            numba.set_num_threads(prev)

    pool = _executor(workers)
    for future in [pool.submit(run) for _ in range(min(workers, len(starts)))]:
        future.result()
    for exc in errors:
        if exc is not None:
            raise exc
    return results


def choose_kernel(system: CrossbarSystem, K: int, kernel: str = "auto") -> str:
    """The CG kernel that runs a batch of K inputs: ``"lanes"``, ``"inputs"``, ``"lines"``,
    ``"chains"`` or (only when forced) ``"numpy"``.

    Raises
    ------
    ConfigError
        An unknown kernel, or a grid kernel forced on an array with collapsed nodes.
    """
    if kernel not in KERNELS:
        raise ConfigError(f"kernel={kernel!r}; expected one of {', '.join(map(repr, KERNELS))}")
    if kernel == "auto":
        if not system.uncollapsed:
            return "chains"
        if K >= 2:
            return "lanes"
        return "inputs" if system.M * system.N < PARALLEL_MIN_WORK else "lines"
    if kernel != "chains" and not system.uncollapsed:
        raise ConfigError(
            f"kernel={kernel!r} needs every node to be an unknown (no zero-resistance "
            "segment and no ideal line end)",
            hint="use kernel='auto' or 'chains'",
        )
    return kernel


NUMPY_MAX_CELLS = 1 << 16  # cells x inputs up to which "auto" may solve in numpy
NUMPY_MAX_ITER = 200  # CG iterations the twin may take under "auto" before numba takes over
NUMPY_BUDGET_S = 0.5  # seconds of numpy solves per process after which "auto" loads numba
_numpy_seconds = [0.0]  # this process's time in numpy solves so far


def _numpy_pays(work: int) -> bool:
    """Whether ``kernel="auto"`` solves ``work`` cells x inputs on an uncollapsed grid with
    the numpy twin (:mod:`xbar.crossbar.grid_numpy`, same iterations, values to round-off)
    rather than numba's kernels: while numba's start-up (0.4-0.5 s) costs more than the
    solve.  That is, the solve is small (:data:`NUMPY_MAX_CELLS`; 10 ms at 128x128 against
    1 ms compiled), the kernels are not loaded yet (numba itself may be: ``--threads 1``
    imports it to cap its threads), and this process's numpy solves have taken
    less than :data:`NUMPY_BUDGET_S` in all (after that, paying the start-up once is
    cheaper: at most twice the best cost, as renting before buying).  The twin gets at
    most :data:`NUMPY_MAX_ITER` iterations there; a solve it does not finish is redone
    by the compiled kernels, whose answer or error ``auto`` reports."""
    return (
        work <= NUMPY_MAX_CELLS
        and "xbar.crossbar.kernels" not in sys.modules
        and _numpy_seconds[0] < NUMPY_BUDGET_S
    )


# ----------------------------------------------------------------------------- linear solve
def linear_solve(
    system: CrossbarSystem,
    g: np.ndarray,
    rhs_r: np.ndarray,
    rhs_c: np.ndarray,
    x0: np.ndarray | None,
    tol: float,
    maxiter: int,
    kernel: str = "auto",
) -> NodeSolution:
    """Solve the nodal system for cell conductances ``g`` (Kg, M*N) [S] by Schur PCG.

    Parameters
    ----------
    rhs_r, rhs_c : arrays (K, nR), (K, nC)
        Right-hand sides [A] (:func:`~xbar.crossbar.system.rhs`).
    x0 : array (K, nR), optional
        Initial guess of the row unknowns [V].
    tol : float
        Relative residual to reach.
    maxiter : int
        CG iteration limit.
    kernel : str
        See :data:`KERNELS` and :func:`choose_kernel`.
    """
    return solve_nodes(system, g, rhs_r, rhs_c, x0, tol, maxiter, kernel)[0]


def solve_nodes(
    system: CrossbarSystem,
    g: np.ndarray,
    rhs_r: np.ndarray,
    rhs_c: np.ndarray,
    x0: np.ndarray | None,
    tol: float,
    maxiter: int,
    kernel: str = "auto",
) -> tuple[NodeSolution, np.ndarray]:
    """:func:`linear_solve` and the round-off floor (K,) of its residual
    (:func:`residual_floor`)."""
    K = rhs_r.shape[0]
    how = choose_kernel(system, K, kernel)
    dr, dc = line_diagonals(system, g)
    if how != "chains" and kernel == "auto" and _numpy_pays(system.M * system.N * K):
        cap = min(maxiter, NUMPY_MAX_ITER)
        sol, floor = _numpy_solve(system, g, dr, dc, rhs_r, rhs_c, x0, tol, cap)
        if np.all(sol.residual <= np.maximum(tol, floor)):
            return sol, floor
        # a hard solve (many iterations, or conductances spanning many decades): the
        # compiled kernels' answer or verdict, as "auto" has always given
    elif how == "numpy":
        return _numpy_solve(system, g, dr, dc, rhs_r, rhs_c, x0, tol, maxiter)
    if how != "chains":
        return _grid_solve(system, g, dr, dc, rhs_r, rhs_c, x0, tol, maxiter, how)
    sol = _chain_solve(system, g, dr, dc, rhs_r, rhs_c, x0, tol, maxiter)
    return sol, residual_floor(system, g, rhs_r, rhs_c, sol.xr, sol.xc)


def _chain_solve(
    system: CrossbarSystem,
    g: np.ndarray,
    dr: np.ndarray,
    dc: np.ndarray,
    rhs_r: np.ndarray,
    rhs_c: np.ndarray,
    x0: np.ndarray | None,
    tol: float,
    maxiter: int,
) -> NodeSolution:
    """The general kernel; CG on the rows unless rows have no unknowns (then columns)."""
    rows, cols = system.rows, system.cols
    K = rhs_r.shape[0]
    swap = rows.nS == 0 and cols.nS > 0
    lines_r = kernels.Lines(rows.ptr, rows.off, np.ascontiguousarray(dr))
    lines_c = kernels.Lines(cols.ptr, cols.off, np.ascontiguousarray(dc))
    cells_r, cells_c = _cells(system, g)
    a, b, ca, cb = (
        (lines_c, lines_r, cells_c, cells_r) if swap else (lines_r, lines_c, cells_r, cells_c)
    )
    ra, rb = (rhs_c, rhs_r) if swap else (rhs_r, rhs_c)
    xa = np.zeros((K, a.ptr[-1])) if x0 is None or swap else np.array(x0, dtype=float)
    xb = np.zeros((K, b.ptr[-1]))
    it = np.zeros(K, dtype=np.int64)
    res = np.zeros(K)
    v = kernels.Unknowns(np.ascontiguousarray(ra), np.ascontiguousarray(rb), xa, xb, it, res)
    with _threads(system.M * system.N * K):
        kernels.chain_pcg(a, b, ca, cb, v, float(tol), int(maxiter))
    if swap:
        xa, xb = xb, xa
    return NodeSolution(xa, xb, it, residual(system, g, rhs_r, rhs_c, xa, xb))


def _cells(system: CrossbarSystem, g: np.ndarray) -> tuple[kernels.Cells, kernels.Cells]:
    """The cells grouped by row line and by column line, for conductances ``g`` (Kg, M*N)."""
    br, bc = system.by_row, system.by_col
    return (
        kernels.Cells(
            br.ptr,
            system.cell_r[br.order],
            system.cell_c[br.order],
            np.ascontiguousarray(g[:, br.order]),
        ),
        kernels.Cells(
            bc.ptr,
            system.cell_c[bc.order],
            system.cell_r[bc.order],
            np.ascontiguousarray(g[:, bc.order]),
        ),
    )


def _col_to_row_major(a: np.ndarray, M: int, N: int) -> np.ndarray:
    """(L, N*M) column-major cell arrays -> (L, M*N) row-major."""
    L = a.shape[0]
    return np.ascontiguousarray(a.reshape(L, N, M).transpose(0, 2, 1).reshape(L, M * N))


def _grid_arrays(system: CrossbarSystem, g: np.ndarray, dr: np.ndarray, dc: np.ndarray):
    """The grid's row-major arrays as the grid kernels and their numpy twin take them:
    row wires, row diagonals, column wires, column diagonals, cells."""
    M, N = system.M, system.N
    return (
        system.rows.off,
        np.ascontiguousarray(dr),
        _col_to_row_major(system.cols.off[None, :], M, N)[0],
        _col_to_row_major(dc, M, N),
        np.ascontiguousarray(g),
    )


def _grid_solve(
    system: CrossbarSystem,
    g: np.ndarray,
    dr: np.ndarray,
    dc: np.ndarray,
    rhs_r: np.ndarray,
    rhs_c: np.ndarray,
    x0: np.ndarray | None,
    tol: float,
    maxiter: int,
    how: str,
) -> tuple[NodeSolution, np.ndarray]:
    """The uncollapsed fast path: both families on the (M, N) grid; the residual's floor."""
    M, N = system.M, system.N
    K = rhs_r.shape[0]
    grid = kernels.Grid(M, N, *_grid_arrays(system, g, dr, dc))
    xr = np.zeros((K, M * N)) if x0 is None else np.array(x0, dtype=float)
    xc = np.empty((K, M * N))
    it = np.zeros(K, dtype=np.int64)
    res = np.zeros(K)
    v = kernels.Unknowns(
        np.ascontiguousarray(rhs_r), _col_to_row_major(rhs_c, M, N), xr, xc, it, res
    )
    _run_grid(grid, v, tol, maxiter, how)
    floor = np.empty(K)
    with _threads(M * N * K):
        kernels.grid_residual(grid, v, floor)  # the true residual, not CG's
    xc_out = np.ascontiguousarray(xc.reshape(K, M, N).transpose(0, 2, 1).reshape(K, N * M))
    return NodeSolution(xr, xc_out, it, res), floor


def _numpy_solve(
    system: CrossbarSystem,
    g: np.ndarray,
    dr: np.ndarray,
    dc: np.ndarray,
    rhs_r: np.ndarray,
    rhs_c: np.ndarray,
    x0: np.ndarray | None,
    tol: float,
    maxiter: int,
) -> tuple[NodeSolution, np.ndarray]:
    """:func:`_grid_solve` by the numpy twin of the ``inputs`` kernel (no numba)."""
    start = time.perf_counter()
    M, N = system.M, system.N
    K = rhs_r.shape[0]
    xr, xc, it, _ = grid_pcg_numpy(
        M,
        N,
        *_grid_arrays(system, g, dr, dc),
        np.ascontiguousarray(rhs_r),
        _col_to_row_major(rhs_c, M, N),
        np.zeros((K, M * N)) if x0 is None else np.asarray(x0, dtype=float),
        tol,
        maxiter,
    )
    xc = np.ascontiguousarray(xc.reshape(K, M, N).transpose(0, 2, 1).reshape(K, N * M))
    res = residual(system, g, rhs_r, rhs_c, xr, xc)  # the true residual, not CG's
    floor = residual_floor(system, g, rhs_r, rhs_c, xr, xc)
    _numpy_seconds[0] += time.perf_counter() - start
    return NodeSolution(xr, xc, it, res), floor


def _run_grid(
    grid: kernels.Grid,
    v: kernels.Unknowns,
    tol: float | np.ndarray,
    maxiter: int,
    how: str,
    loose: bool = False,
    fixed: np.ndarray | None = None,
) -> None:
    """Run the grid kernel ``how`` (``"lanes"``, ``"inputs"`` or ``"lines"``) on ``v`` to the
    relative residual ``tol`` (float, or one per input (K,)).

    ``loose``: ``tol`` is loose (Newton's steps, their linear first guess), so the
    lanes kernel keeps its CG vectors in float32 (:func:`kernels.lanes_pcg`: half
    the memory traffic; the answer is still verified in float64).  ``fixed`` (2, M*N):
    the wires' part of ``grid.dr`` and ``grid.dc`` when they are that plus ``grid.g``
    (the lanes kernel then sums them where it reads them)."""
    K = v.rhs_a.shape[0]
    work = grid.M * grid.N * K
    tol = np.ascontiguousarray(tol, dtype=float) if np.ndim(tol) else float(tol)
    maxiter = int(maxiter)
    if how == "lanes":
        with _threads(work):
            work, vecs = _lane_work(K, grid.M * grid.N, loose)
            fix = np.empty((0, grid.M * grid.N)) if fixed is None else fixed
            kernels.lanes_pcg(grid, v, tol, maxiter, work, vecs, fix)
    elif how == "inputs":
        (kernels.inputs_pcg if K >= 2 else kernels.input_pcg_serial)(grid, v, tol, maxiter)
    else:
        with _threads(work):
            kernels.grid_pcg(grid, v, tol, maxiter, 32)


_LANE_CACHE = threading.local()  # per Python thread: one workspace of the "lanes" kernel
LANE_CACHE_BYTES = 96e6  # largest "lanes" workspace kept from one solve to the next


def _lane_work(K: int, n: int, loose: bool) -> tuple[np.ndarray, np.ndarray]:
    """Workspaces of :func:`kernels.lanes_pcg` for K inputs of n nodes: float64 (T,
    LANE_SLOTS, n, LANES) and the CG vectors (T, LANE_VECTORS, n, LANES), float32 when
    ``loose``.

    T groups run at once (numba's threads, at most the groups).  Workspaces up to
    :data:`LANE_CACHE_BYTES` are kept for the next solve of this thread: reusing
    mapped memory avoids the page faults of fresh allocations, which cost as much
    as the solve itself at 256x256 (measured: 5.3 against 2.8 ms per input for a
    group of 4).
    """
    import numba

    T = max(1, min(numba.get_num_threads(), -(-K // LANES)))
    # one shape for both cases (shared conductances use the first 5 slots): a batch
    # that alternates between them (Newton) keeps its memory
    work = _cached("work", (T, kernels.LANE_SLOTS, n, LANES), np.float64)
    dtype = np.float32 if loose else np.float64
    vecs = _cached(f"vecs_{dtype.__name__}", (T, kernels.LANE_VECTORS, n, LANES), dtype)
    return work, vecs


def _cached(name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """An array of ``shape`` from this thread's cache (its leading axis may be longer)."""
    arr = getattr(_LANE_CACHE, name, None)
    if arr is not None and arr.shape[0] >= shape[0] and arr.shape[1:] == shape[1:]:
        return arr[: shape[0]]
    arr = np.empty(shape, dtype)
    if arr.nbytes <= LANE_CACHE_BYTES:
        setattr(_LANE_CACHE, name, arr)
    return arr


def residual(
    system: CrossbarSystem,
    g: np.ndarray,
    rhs_r: np.ndarray,
    rhs_c: np.ndarray,
    xr: np.ndarray,
    xc: np.ndarray,
) -> np.ndarray:
    """Relative residual ``||b - A x|| / ||b||`` (K,) of the nodal system for cells ``g``."""
    qr, qc = _apply(system, g, xr, xc)
    return _relative(rhs_r - qr, rhs_c - qc, rhs_r, rhs_c)


def residual_floor(
    system: CrossbarSystem,
    g: np.ndarray,
    rhs_r: np.ndarray,
    rhs_c: np.ndarray,
    xr: np.ndarray,
    xc: np.ndarray,
) -> np.ndarray:
    """Round-off floor (K,) of the relative residual at ``x``: ``eps || |A| |x| + |b| || / ||b||``.

    The size of the rounding error of one evaluation of ``b - A x`` in double
    precision: no solution can show a smaller residual.  It is large when the
    conductances span many decades (near-ideal wires beside small cells), because
    ``A x`` then cancels large terms.
    """
    qr, qc = _apply(system, g, np.abs(xr), np.abs(xc), absolute=True)
    eps = np.finfo(float).eps
    return eps * _relative(qr + np.abs(rhs_r), qc + np.abs(rhs_c), rhs_r, rhs_c)


def _relative(er: np.ndarray, ec: np.ndarray, rhs_r: np.ndarray, rhs_c: np.ndarray) -> np.ndarray:
    num = np.sqrt((er**2).sum(axis=1) + (ec**2).sum(axis=1))
    den = np.sqrt((rhs_r**2).sum(axis=1) + (rhs_c**2).sum(axis=1))
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def _apply(
    system: CrossbarSystem, g: np.ndarray, xr: np.ndarray, xc: np.ndarray, absolute: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``A x`` split into rows and columns (``|A| x`` when ``absolute``)."""
    if system.uncollapsed:
        return _apply_grid(system, g, xr, xc, -1.0 if absolute else 1.0)
    return _apply_chains(system, g, xr, xc, -1.0 if absolute else 1.0)


def _apply_grid(
    system: CrossbarSystem, g: np.ndarray, xr: np.ndarray, xc: np.ndarray, sign: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``A x`` split into rows (K, M*N) and columns (K, N*M) on an uncollapsed grid (numpy).

    ``sign = -1`` flips the off-diagonal terms: ``|A| x``.
    """
    M, N = system.M, system.N
    K = xr.shape[0]
    Xr = xr.reshape(K, M, N)
    Xc = xc.reshape(K, N, M)  # column-major: [k, j, i]
    G = g.reshape(g.shape[0], M, N)
    Gt = G.transpose(0, 2, 1)
    er = sign * system.rows.off.reshape(M, N)[:, :-1]  # (i, j)-(i, j+1)
    ec = sign * system.cols.off.reshape(N, M)[:, :-1]  # (i, j)-(i+1, j), indexed [j, i]
    qr = (system.rows.dfix.reshape(M, N) + G) * Xr - sign * G * Xc.transpose(0, 2, 1)
    qr[:, :, 1:] -= er * Xr[:, :, :-1]
    qr[:, :, :-1] -= er * Xr[:, :, 1:]
    qc = (system.cols.dfix.reshape(N, M) + Gt) * Xc - sign * Gt * Xr.transpose(0, 2, 1)
    qc[:, :, 1:] -= ec * Xc[:, :, :-1]
    qc[:, :, :-1] -= ec * Xc[:, :, 1:]
    return qr.reshape(K, -1), qc.reshape(K, -1)


def _apply_chains(
    system: CrossbarSystem, g: np.ndarray, xr: np.ndarray, xc: np.ndarray, sign: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``A x`` split into rows (K, nR) and columns (K, nC) on collapsed chains (kernel).

    ``sign = -1`` flips the off-diagonal terms: ``|A| x``.
    """
    K = xr.shape[0]
    rows, cols = system.rows, system.cols
    dr, dc = line_diagonals(system, g)
    cells_r, cells_c = _cells(system, g)
    if sign < 0:
        cells_r = cells_r._replace(g=-cells_r.g)
        cells_c = cells_c._replace(g=-cells_c.g)
    qr = np.empty_like(xr)
    qc = np.empty_like(xc)
    active = np.ones(K, dtype=np.bool_)
    with _threads(system.M * system.N * K):
        kernels.apply_lines(
            kernels.Lines(rows.ptr, sign * rows.off, np.ascontiguousarray(dr)),
            cells_r,
            np.ascontiguousarray(xr),
            np.ascontiguousarray(xc),
            qr,
            np.zeros((K, rows.L)),
            active,
        )
        kernels.apply_lines(
            kernels.Lines(cols.ptr, sign * cols.off, np.ascontiguousarray(dc)),
            cells_c,
            np.ascontiguousarray(xc),
            np.ascontiguousarray(xr),
            qc,
            np.zeros((K, cols.L)),
            active,
        )
    return qr, qc


def refine(
    system: CrossbarSystem,
    g: np.ndarray,
    rhs: tuple[np.ndarray, np.ndarray],
    sol: NodeSolution,
    floor: np.ndarray,
    tol: float,
    maxiter: int,
    kernel: str = "auto",
) -> tuple[NodeSolution, np.ndarray]:
    """Refine the inputs whose true residual is above both ``tol`` and its round-off floor.

    Each step solves ``A d = b - A x`` for those inputs and keeps ``x + d`` where
    its residual is smaller (inputs that used up ``maxiter`` are left alone).
    Returns the solution and the floor (K,), updated where refined.
    """
    rhs_r, rhs_c = rhs
    if not np.any(~(sol.residual <= np.maximum(tol, floor)) & (sol.iterations < maxiter)):
        return sol, floor  # nothing to refine (the common case): no copies
    xr, xc, it, res = sol.xr.copy(), sol.xc.copy(), sol.iterations, sol.residual.copy()
    floor = floor.copy()
    for _ in range(REFINE_STEPS):
        bad = np.flatnonzero(~(res <= np.maximum(tol, floor)) & (it < maxiter))
        if bad.size == 0:
            break
        g_bad = g if g.shape[0] == 1 else g[bad]
        qr, qc = _apply(system, g_bad, xr[bad], xc[bad])
        er, ec = rhs_r[bad] - qr, rhs_c[bad] - qc
        ctol = float(min(0.5, tol / max(float(res[bad].max()), tol)))
        d = linear_solve(system, g_bad, er, ec, None, ctol, maxiter, kernel)
        new_r, new_c = xr[bad] + d.xr, xc[bad] + d.xc
        new = residual(system, g_bad, rhs_r[bad], rhs_c[bad], new_r, new_c)
        better = new < res[bad]
        keep = bad[better]
        xr[keep], xc[keep], res[keep] = new_r[better], new_c[better], new[better]
        g_keep = g if g.shape[0] == 1 else g[keep]
        floor[keep] = residual_floor(system, g_keep, rhs_r[keep], rhs_c[keep], xr[keep], xc[keep])
    return NodeSolution(xr, xc, it, res), floor


def check_converged(
    res: np.ndarray, tol: float, it: np.ndarray, what: str, floor: np.ndarray | None = None
) -> None:
    """Raise :class:`ConvergenceError` naming the first input whose residual exceeds
    ``tol`` and, when given, its round-off ``floor``."""
    limit = tol * 1.0000001 if floor is None else np.maximum(tol * 1.0000001, floor)
    bad = ~(res <= limit)
    if np.any(bad):
        k = int(np.argmax(bad))
        if not np.isfinite(res[k]):
            raise ValueRangeError(
                f"{what} overflowed for input {k}: the KCL residual is {res[k]}, so the "
                "input voltages (or currents through the conductances) are beyond what "
                "double precision can square (about 1e150)",
                hint="use input voltages and conductances of physical size",
            )
        at = "" if floor is None else f" (above its round-off floor {floor[k]:.3g})"
        raise ConvergenceError(
            f"{what} did not converge for input {k}: relative residual {res[k]:.3g} > "
            f"tol {tol:g}{at} after {int(it[k])} iterations",
            hint="raise Crossbar(maxiter=...) or loosen tol",
        )


def unresolved(res: np.ndarray, floor: np.ndarray | None, tol: float) -> np.ndarray:
    """The residual to report: where the round-off floor is above ``tol`` a smaller
    value cannot be resolved in double precision, so the floor is reported.  A floor
    above :data:`ROUNDOFF_LIMIT` raises: the outputs then err by about that fraction
    (measured: 25 % at a floor of 0.5, wrong signs above 1), which is no answer."""
    if floor is None:
        return res
    if np.any(floor > ROUNDOFF_LIMIT):
        k = int(np.argmax(floor))
        raise ValueRangeError(
            f"input {k}: the round-off floor of the KCL residual is {floor[k]:.3g} "
            f"(> {ROUNDOFF_LIMIT:g}): the conductances (cells, wires, driver and sense) "
            "span too many decades for double precision: the outputs would be wrong by "
            "about that fraction",
            hint="a cell far more conductive than its wires is a short: use realistic "
            "conductances (or model the short as one node)",
        )
    return np.where(floor > tol, np.maximum(res, floor), res)


# ----------------------------------------------------------------------------- results
def assemble_solution(
    system: CrossbarSystem,
    Vs: np.ndarray,
    V: np.ndarray,
    xr: np.ndarray,
    xc: np.ndarray,
    icell: np.ndarray,
    it: np.ndarray,
    res: np.ndarray,
    return_nodes: bool,
    state: dict | None,
    floor: np.ndarray | None = None,
    tol: float | None = None,
) -> CrossbarSolution:
    """Outputs, input currents and optional node arrays from a converged state
    (``floor``: the residual's round-off floor, for ``tol``)."""
    M, N = system.M, system.N
    K = V.shape[0]
    Vr = node_voltages(system.rows, xr, Vs)  # (K, M, N)
    Vc = node_voltages(system.cols, xc, Vs)  # (K, N, M)
    current = icell.reshape(K, M, N)
    col_end = end_currents(system.cols, Vc, np.swapaxes(current, 1, 2), Vs)  # (K, N, 2)
    row_end = end_currents(system.rows, Vr, -current, Vs)  # (K, M, 2): into sources
    sol = CrossbarSolution(
        output=np.where(system.sensed[None], col_end, 0.0).sum(axis=2),
        input_currents=-np.where(system.driven[None], row_end, 0.0).sum(axis=2),
        iterations=it,
        residual=res,
        inputs=V,
        state=state,
        system=system,
        residual_floor=floor,
        tol=tol,
    )
    if return_nodes:
        sol.row_voltages = Vr
        sol.col_voltages = np.ascontiguousarray(np.swapaxes(Vc, 1, 2))
        sol.cell_currents = current
    return sol


# ----------------------------------------------------------------------------- solve
def solve(
    system: CrossbarSystem,
    V: np.ndarray,
    *,
    tol: float = 1e-10,
    maxiter: int = 20000,
    options: Options | None = None,
    kernel: str = "auto",
    warm_start: CrossbarSolution | None = None,
    return_nodes: bool = False,
    batch_bytes: float = MEM_BUDGET,
) -> CrossbarSolution:
    """Solve the array for validated input voltages ``V`` (K, M) [V].

    Batches are solved in chunks whose work arrays stay under ``batch_bytes``
    (and, for Newton, near cache size).  See :meth:`xbar.Crossbar.solve` for
    the other parameters.

    Raises
    ------
    ConvergenceError
        When CG or Newton does not reach ``tol`` within the iteration limits.
    """
    M, N = system.M, system.N
    K = V.shape[0]
    linear = system.is_linear
    grid = not linear and system.uncollapsed and kernel not in ("chains", "numpy")  # numba
    per = (system.rows.nS + system.cols.nS + M * N) * 8 * (10 if linear else 16)
    if grid:  # (K, M*N) arrays: state, companions, system, solution, candidates, temporaries
        per = M * N * 8 * (24 + 6 * len(system.elements))  # measured peak: 30 for E = 1
    chunk = max(1, int(batch_bytes // max(per, 1)))
    if not linear:  # Newton's work arrays: keep a chunk near cache size
        # a few lane groups per thread: 2 chunks of 32 inputs at 256x256, each parallel
        # (PARALLEL_MIN_WORK), so its parallel regions are few and each thread has work
        least = 4 * LANES * _numba_threads() if grid else LANES
        chunk = min(chunk, max(least, (NEWTON_CELLS if grid else BATCH_CELLS) // (M * N)))
    workers = _workers(system, K, grid, kernel)
    if workers > 1:  # serial chunks on worker threads: small ones, to share them out well
        chunk = min(chunk, POOL_CHUNK)
    chunk = -(-K // -(-K // chunk))  # chunks of even size
    if (grid or linear) and LANES < chunk < K:  # whole groups of lanes (no padded lanes)
        chunk = -(-chunk // LANES) * LANES
    kw = dict(tol=tol, maxiter=maxiter, options=options, kernel=kernel, return_nodes=return_nodes)
    if K > chunk:

        def part(s: int) -> CrossbarSolution:
            ws = slice_solution(warm_start, s, s + chunk)
            try:
                return solve(system, V[s : s + chunk], warm_start=ws, batch_bytes=batch_bytes, **kw)
            except XbarError as exc:  # name the input by its place in the whole batch
                raise _renumbered(exc, s) from None

        starts = range(0, K, chunk)
        if workers > 1:
            return concat_solutions(_pooled(part, starts, workers))
        return concat_solutions([part(s) for s in starts])
    if linear:
        return _solve_linear(system, V, warm_start, tol, maxiter, kernel, return_nodes)
    # device laws may overflow for absurd drives: turned into a ConvergenceError
    with np.errstate(over="ignore", invalid="ignore"):
        return newton(
            system,
            V,
            tol=tol,
            maxiter=maxiter,
            options=options,
            kernel=kernel,
            warm_start=warm_start,
            return_nodes=return_nodes,
        )


def _solve_linear(
    system: CrossbarSystem,
    V: np.ndarray,
    warm_start: CrossbarSolution | None,
    tol: float,
    maxiter: int,
    kernel: str,
    return_nodes: bool,
) -> CrossbarSolution:
    K = V.shape[0]
    Vs = source_voltages(system, V)
    g = system.g[None, :]
    rhs_r, rhs_c = rhs(system, Vs, g)
    x0 = warm_state(warm_start, "xr", K)
    sol, floor = solve_nodes(system, g, rhs_r, rhs_c, x0, tol, maxiter, kernel)
    sol, floor = refine(system, g, (rhs_r, rhs_c), sol, floor, tol, maxiter, kernel)
    xr, xc, it, res = sol
    check_converged(res, tol, it, "CG", floor)
    res = unresolved(res, floor, tol)
    icell = g * cell_voltages(system, Vs, xr, xc).reshape(K, -1)
    return assemble_solution(
        system, Vs, V, xr, xc, icell, it, res, return_nodes, {"xr": xr, "xc": xc}, floor, tol
    )


# ----------------------------------------------------------------------------- Newton
class _Companion(NamedTuple):
    """Every cell's series chain linearised at the element voltages ``ve``."""

    i0: list  # element currents [A], one (K, M, N) array per element
    ge: list  # element differential conductances [S]
    geff: np.ndarray  # (K, M, N) conductance of the condensed chain [S]
    ieq: np.ndarray  # (K, M, N) Norton current of the condensed chain [A]


def _companion(system: CrossbarSystem, ve: np.ndarray, first: int = 0) -> _Companion:
    """Condense each cell's series chain into one Norton companion at ``ve`` (errors
    number the inputs from ``first``)."""
    els = system.elements
    i0 = [model.current(ve[e], gs) for e, (model, gs) in enumerate(els)]
    ge = [model.derivative(ve[e], gs) for e, (model, gs) in enumerate(els)]
    with np.errstate(divide="ignore", invalid="ignore"):
        rsum = system.r_access[None] + sum(1.0 / g for g in ge)
        geff = np.where(system.open_cell[None], 0.0, 1.0 / rsum)
        shift = sum(ve[e] - i0[e] / ge[e] for e in range(len(els)))
        ieq = np.where(system.open_cell[None], 0.0, -geff * shift)
    if not np.all(np.isfinite(geff)) or not np.all(np.isfinite(ieq)):
        raise _overflow(system, ve, i0, ge, ieq, first)
    return _Companion(i0, ge, geff, ieq)


def _initial_state(
    system: CrossbarSystem,
    Vs: np.ndarray,
    warm_start: CrossbarSolution | None,
    maxiter: int,
    kernel: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row/column unknowns and element voltages to start Newton from."""
    K = Vs.shape[0]
    if warm_start is not None and warm_start.state is not None and "ve" in warm_start.state:
        return (
            warm_state(warm_start, "xr", K),
            warm_state(warm_start, "xc", K),
            warm_state(warm_start, "ve", K, axis=1),
        )
    g0 = system.g[None, :]
    rhs_r, rhs_c = rhs(system, Vs, g0)
    xr, xc, _, _ = linear_solve(system, g0, rhs_r, rhs_c, None, 1e-6, maxiter, kernel)
    vt = cell_voltages(system, Vs, xr, xc)
    i_lin = g0.reshape(1, system.M, system.N) * vt
    ve = np.empty((len(system.elements), K, system.M, system.N))
    for e, (_, gs) in enumerate(system.elements):
        with np.errstate(divide="ignore", invalid="ignore"):
            ve[e] = np.where(system.open_cell[None], vt if e == 0 else 0.0, i_lin / gs)
    return xr, xc, ve


def _element_voltages(
    system: CrossbarSystem, ve_old: np.ndarray, comp: _Companion, vt_new: np.ndarray
) -> tuple[np.ndarray, bool]:
    """New element voltages from the new cell voltages, each limited by its device."""
    i_new = comp.geff * vt_new + comp.ieq
    ve = np.empty_like(ve_old)
    limited = False
    for e, (model, _gs) in enumerate(system.elements):
        with np.errstate(divide="ignore", invalid="ignore"):
            cand = np.where(
                system.open_cell[None],
                vt_new if e == 0 else 0.0,
                ve_old[e] + (i_new - comp.i0[e]) / comp.ge[e],
            )
        cand, hit = model.limit(cand, ve_old[e])
        limited |= hit
        ve[e] = cand
    return ve, limited


def _not_converged(
    itl1: int, k: int, res: float, tol: float, floor: float | None = None
) -> ConvergenceError:
    """The error of Newton runs that hit ``itl1`` iterations, naming input ``k`` (its
    relative residual ``res`` and, where it says why, its round-off ``floor``)."""
    at = "" if floor is None else f", round-off floor {floor:.3g}"
    return ConvergenceError(
        f"Newton did not converge in {itl1} iterations (input {k}: relative "
        f"residual {res:.3g}, tol {tol:g}{at})",
        hint="raise Options(itl1=...), reduce the drive voltage or loosen tol",
    )


def _spice_close(new: np.ndarray, old: np.ndarray, reltol: float, vntol: float) -> bool:
    return bool(np.all(np.abs(new - old) <= reltol * np.maximum(np.abs(new), np.abs(old)) + vntol))


def newton_numpy(
    system: CrossbarSystem,
    V: np.ndarray,
    *,
    tol: float,
    maxiter: int,
    options: Options | None = None,
    kernel: str = "auto",
    warm_start: CrossbarSolution | None = None,
    return_nodes: bool = False,
) -> CrossbarSolution:
    """Newton solve of a nonlinear array for inputs ``V`` (K, M) [V] in numpy (one batch, no
    chunking, every input stepping until all have converged): the general path
    (collapsed nodes) and the readable twin of :func:`newton`.

    Converged when the relative KCL residual is below ``tol`` (or, where
    ``tol`` is beyond double precision for the array, at its round-off floor:
    :func:`residual_floor`) and every unknown and element voltage moved less
    than SPICE's ``reltol * |x| + vntol`` in the last step (``options``).

    Raises
    ------
    ConvergenceError
        Not converged within ``options.itl1`` iterations, or a device current overflowed.
    """
    opt = options if options is not None else Options()
    K = V.shape[0]
    Vs = source_voltages(system, V)
    xr, xc, ve = _initial_state(system, Vs, warm_start, maxiter, kernel)
    it_total = np.zeros(K, dtype=np.int64)
    res = np.full(K, np.inf)
    floor = None
    limited = spice_ok = False
    for iteration in range(1, opt.itl1 + 1):
        comp = _companion(system, ve)
        g = comp.geff.reshape(K, -1)
        rhs_r, rhs_c = rhs(system, Vs, g, comp.ieq.reshape(K, -1))
        res = residual(system, g, rhs_r, rhs_c, xr, xc)
        if not np.all(np.isfinite(res)):
            raise _overflow(system, ve, comp.i0, comp.ge, comp.ieq)
        if iteration > 1 and not limited and spice_ok:
            if np.all(res <= tol):
                floor = None
                break
            floor = residual_floor(system, g, rhs_r, rhs_c, xr, xc)
            if np.all(res <= np.maximum(tol, floor)):  # floor > tol: beyond double precision
                break
        xr_old, xc_old, ve_old = xr, xc, ve
        ctol = max(0.5 * tol, min(1e-6, 1e-3 * float(np.max(res))))
        xr, xc, _, _ = linear_solve(system, g, rhs_r, rhs_c, xr, ctol, maxiter, kernel)
        it_total += 1
        ve, limited = _element_voltages(system, ve_old, comp, cell_voltages(system, Vs, xr, xc))
        spice_ok = (
            _spice_close(xr, xr_old, opt.reltol, opt.vntol)
            and _spice_close(xc, xc_old, opt.reltol, opt.vntol)
            and _spice_close(ve, ve_old, opt.reltol, opt.vntol)
        )
    else:
        k = int(np.argmax(res))
        raise _not_converged(opt.itl1, k, res[k], tol, None if floor is None else floor[k])
    model, scale = system.elements[0]
    icell = np.where(system.open_cell[None], 0.0, model.current(ve[0], scale)).reshape(K, -1)
    state = {"xr": xr, "xc": xc, "ve": ve}
    res = unresolved(res, floor, tol)
    return assemble_solution(
        system, Vs, V, xr, xc, icell, it_total, res, return_nodes, state, floor, tol
    )


def newton(
    system: CrossbarSystem,
    V: np.ndarray,
    *,
    tol: float,
    maxiter: int,
    options: Options | None = None,
    kernel: str = "auto",
    warm_start: CrossbarSolution | None = None,
    return_nodes: bool = False,
) -> CrossbarSolution:
    """Newton solve of a nonlinear array for inputs ``V`` (K, M) [V] (one batch, no chunking).

    Input ``k`` has converged when its relative KCL residual is below ``tol`` (or,
    where ``tol`` is beyond double precision for the array, at its round-off floor:
    :func:`residual_floor`), its device voltages were not limited, and every unknown
    and element voltage moved less than SPICE's ``reltol * |x| + vntol`` in its last
    step (``options``); it then stops stepping while the others go on.  On an
    uncollapsed grid the work around the linear solves (companions, right-hand
    sides, residuals, element voltages, SPICE tests) runs in kernels
    (:func:`kernels.newton_system`, :func:`kernels.newton_elements`,
    :func:`kernels.spice_close`); the device laws and limits stay numpy.  Arrays
    with collapsed nodes take :func:`newton_numpy`.

    Raises
    ------
    ConvergenceError
        An input not converged within ``options.itl1`` iterations (named), or a
        device current overflowed.
    """
    if not system.uncollapsed or kernel in ("chains", "numpy"):
        return newton_numpy(
            system,
            V,
            tol=tol,
            maxiter=maxiter,
            options=options,
            kernel=kernel,
            warm_start=warm_start,
            return_nodes=return_nodes,
        )
    choose_kernel(system, V.shape[0], kernel)  # rejects unknown kernels
    opt = options if options is not None else Options()
    M, N = system.M, system.N
    K, E = V.shape[0], len(system.elements)
    Vs = source_voltages(system, V)
    base_r, base_c = rhs(system, Vs, system.g[None, :])  # the sources' part
    base_a, base_b = np.ascontiguousarray(base_r), _col_to_row_major(base_c, M, N)
    if warm_start is not None and warm_start.state is not None and "ve" in warm_start.state:
        xr, xc, ve = _initial_state(system, Vs, warm_start, maxiter, kernel)
        xa, xb = np.ascontiguousarray(xr, dtype=float), _col_to_row_major(xc, M, N)
    else:
        xa, xb, ve = _grid_initial_state(system, base_a, base_b, maxiter, kernel)
    s = _GridNewton(
        xa=xa,
        xb=xb,
        ve=np.ascontiguousarray(ve, dtype=float).reshape(E, K, M * N),
        base_a=base_a,
        base_b=base_b,
        res=np.full(K, np.inf),
        floor=np.zeros(K),
        its=np.zeros(K, dtype=np.int64),
        icell=np.zeros((K, M * N)),
        limited=np.zeros(K, dtype=np.bool_),
        close=np.zeros(K, dtype=np.bool_),
    )
    s = _grid_newton_steps(system, s, tol, maxiter, opt, kernel)
    xc = np.ascontiguousarray(s.xb.reshape(K, M, N).transpose(0, 2, 1).reshape(K, M * N))
    state = {"xr": s.xa, "xc": xc, "ve": s.ve.reshape(E, K, M, N)}
    floor = None if np.all(s.res <= tol) else s.floor
    res = unresolved(s.res, floor, tol)
    return assemble_solution(
        system, Vs, V, s.xa, xc, s.icell, s.its, res, return_nodes, state, floor, tol
    )


def _grid_initial_state(
    system: CrossbarSystem, base_a: np.ndarray, base_b: np.ndarray, maxiter: int, kernel: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_initial_state` without a warm start, on the grid: the linear solve with the
    small-signal conductances (right-hand sides ``base_a``, ``base_b``, row-major) gives
    row and column unknowns (K, M*N) row-major and element voltages (E, K, M*N), the same
    values with no conversion to and from column-major order and no residual check."""
    M, N, n = system.M, system.N, system.M * system.N
    K = base_a.shape[0]
    g0 = np.ascontiguousarray(system.g, dtype=float).reshape(1, n)
    lin = kernels.Grid(
        M,
        N,
        system.rows.off,
        system.rows.dfix[None, :] + g0,
        _col_to_row_major(system.cols.off[None, :], M, N)[0],
        _col_to_row_major(system.cols.dfix[None, :], M, N) + g0,
        g0,
    )
    v = kernels.Unknowns(
        base_a, base_b, np.zeros((K, n)), np.empty((K, n)), np.zeros(K, np.int64), np.empty(K)
    )
    _run_grid(lin, v, 1e-6, maxiter, choose_kernel(system, K, kernel), loose=True)
    vt = v.x_a - v.x_b  # row node minus column node
    open_cell = system.open_cell.reshape(1, n)
    ve = np.empty((len(system.elements), K, n))
    for e, (_, gs) in enumerate(system.elements):
        scale = np.broadcast_to(gs, (M, N)).reshape(1, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            ve[e] = np.where(open_cell, vt if e == 0 else 0.0, (g0 * vt) / scale)
    return v.x_a, v.x_b, ve


class _GridNewton(NamedTuple):
    """State of :func:`newton` on the grid: K inputs, row-major (K, M*N) unless noted."""

    xa: np.ndarray  # row unknowns [V]
    xb: np.ndarray  # column unknowns [V], row-major
    ve: np.ndarray  # (E, K, M*N) element voltages [V]
    base_a: np.ndarray  # sources' part of the row right-hand side [A]
    base_b: np.ndarray  # and of the column right-hand side, row-major
    res: np.ndarray  # (K,) relative residual at the last check
    floor: np.ndarray  # (K,) its round-off floor
    its: np.ndarray  # (K,) Newton steps taken
    icell: np.ndarray  # cell currents [A] of the converged inputs
    limited: np.ndarray  # (K,) the last step was limited by a device
    close: np.ndarray  # (K,) the last step passed SPICE's test


def _grid_newton_steps(
    system: CrossbarSystem, s: _GridNewton, tol: float, maxiter: int, opt: Options, kernel: str
) -> _GridNewton:
    """Newton steps until every input has converged; the inputs still stepping are ``act``."""
    M, N = system.M, system.N
    n = M * N
    K = s.xa.shape[0]
    wires = kernels.Grid(
        M,
        N,
        system.rows.off,
        system.rows.dfix[None, :],
        _col_to_row_major(system.cols.off[None, :], M, N)[0],
        _col_to_row_major(system.cols.dfix[None, :], M, N),
        np.zeros((1, n)),
    )
    fixed = np.stack([wires.dr[0], wires.dc[0]])  # lin.dr = fixed[0] + lin.g (newton_system)
    r_access = np.ascontiguousarray(system.r_access, dtype=float).reshape(n)
    open_cell = np.ascontiguousarray(system.open_cell).reshape(n)
    act = np.arange(K)
    buf = _Buffers()  # the step's arrays, the same memory every step (no page faults)
    for iteration in range(1, opt.itl1 + 1):
        full = act.size == K
        xa, xb, ve = (s.xa, s.xb, s.ve) if full else (s.xa[act], s.xb[act], s.ve[:, act])
        k, E = act.size, ve.shape[0]
        i0, ge = _element_laws(system, ve, buf.get("i0", (E, k, n)), buf.get("ge", (E, k, n)))
        comp = kernels.Companion(ve, i0, ge, r_access, open_cell)
        lin = wires._replace(
            dr=buf.get("dr", (k, n)), dc=buf.get("dc", (k, n)), g=buf.get("g", (k, n))
        )
        rhs_a, rhs_b = buf.get("rhs_a", (k, n)), buf.get("rhs_b", (k, n))
        v = kernels.Unknowns(rhs_a, rhs_b, xa, xb, np.zeros(k, np.int64), np.empty(k))
        ieq, floor = buf.get("ieq", (k, n)), np.empty(k)
        base = (s.base_a, s.base_b) if full else (s.base_a[act], s.base_b[act])
        with _threads(n * k):
            ok = kernels.newton_system(wires, comp, base[0], base[1], lin, v, ieq, floor)
        if not np.all(ok):
            raise _grid_overflow(system, ve, int(act[np.argmin(ok)]), int(np.argmin(ok)))
        s.res[act], s.floor[act] = v.resid, floor
        conv = (
            (iteration > 1) & ~s.limited[act] & s.close[act] & (v.resid <= np.maximum(tol, floor))
        )
        if np.any(conv):
            s.icell[act[conv]] = np.where(open_cell, 0.0, i0[0][conv])
            keep = ~conv
            act, xa, xb, ve, ieq = act[keep], xa[keep], xb[keep], ve[:, keep], ieq[keep]
            lin = lin._replace(dr=lin.dr[keep], dc=lin.dc[keep], g=lin.g[keep])
            v = kernels.Unknowns(v.rhs_a[keep], v.rhs_b[keep], xa, xb, v.iters[keep], v.resid[keep])
            comp = comp._replace(ve=ve, i0=i0[:, keep], ge=ge[:, keep])
            if act.size == 0:
                return s
        step = (lin, v, ieq, comp, buf, fixed)
        s = _grid_newton_step(system, s, act, step, tol, maxiter, opt, kernel)
    k = int(act[np.argmax(s.res[act])])
    raise _not_converged(opt.itl1, k, s.res[k], tol, s.floor[k] if s.floor[k] > tol else None)


def _grid_newton_step(
    system: CrossbarSystem,
    s: _GridNewton,
    act: np.ndarray,
    step: tuple,
    tol: float,
    maxiter: int,
    opt: Options,
    kernel: str,
) -> _GridNewton:
    """One linear solve and element update for the inputs ``act`` (the system ``step``;
    its buffers: the element voltages alternate between two of them)."""
    lin, v, ieq, comp, buf, fixed = step
    k, n = act.size, system.M * system.N
    ctol = np.maximum(0.5 * tol, np.minimum(1e-6, 1e-3 * v.resid))  # each input its own
    sol = v._replace(x_a=v.x_a.copy(), x_b=np.empty((k, n)), resid=np.empty(k))
    how = choose_kernel(system, k, kernel)
    _run_grid(lin, sol, ctol, maxiter, how, loose=True, fixed=fixed)
    # the new element voltages go where the state's are not (it becomes the state)
    name = "ve_b" if buf.holds("ve_a", s.ve) else "ve_a"
    cand = buf.get(name, comp.ve.shape)
    with _threads(0):  # cheap: serial, fewer parallel regions to wait in on a busy machine
        kernels.newton_elements(sol, lin.g, ieq, comp, cand)
    ve, limited = _limit(system, cand, comp.ve)
    close = np.ones(k, dtype=np.bool_)
    with _threads(0):
        kernels.spice_close(sol.x_a, v.x_a, opt.reltol, opt.vntol, close)
        kernels.spice_close(sol.x_b, v.x_b, opt.reltol, opt.vntol, close)
        for e in range(ve.shape[0]):
            kernels.spice_close(ve[e], comp.ve[e], opt.reltol, opt.vntol, close)
    if k == s.xa.shape[0]:
        s = s._replace(xa=sol.x_a, xb=sol.x_b, ve=ve)
    else:
        s.xa[act], s.xb[act], s.ve[:, act] = sol.x_a, sol.x_b, ve
    s.limited[act], s.close[act] = limited, close
    s.its[act] += 1
    return s


class _Buffers:
    """Named work arrays of Newton on the grid, kept from step to step: a step with
    fewer inputs gets the front of the same memory (contiguous), so that a batch's
    arrays are mapped once, not at every step."""

    def __init__(self) -> None:
        self.mem: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        size = int(np.prod(shape))
        mem = self.mem.get(name)
        if mem is None or mem.size < size:
            mem = self.mem[name] = np.empty(size)
        return mem[:size].reshape(shape)

    def holds(self, name: str, a: np.ndarray) -> bool:
        """Whether ``a`` lies in buffer ``name``."""
        mem = self.mem.get(name)
        return mem is not None and np.may_share_memory(mem, a)


def _element_laws(
    system: CrossbarSystem,
    ve: np.ndarray,
    i0: np.ndarray | None = None,
    ge: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Element currents [A] and differential conductances [S] (E, K, M*N) at ``ve`` (same
    shape), into ``i0`` and ``ge`` (new arrays where not given)."""
    M, N = system.M, system.N
    E, K, _ = ve.shape
    i0 = np.empty(ve.shape) if i0 is None else i0
    ge = np.empty(ve.shape) if ge is None else ge
    for e, (model, gs) in enumerate(system.elements):  # views: laws() writes into i0, ge
        model.laws(ve[e].reshape(K, M, N), gs, i0[e].reshape(K, M, N), ge[e].reshape(K, M, N))
    return i0, ge


def _limit(
    system: CrossbarSystem, cand: np.ndarray, old: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Element voltages (E, K, M*N) limited by their devices (in place in ``cand``), and
    which inputs (K,) were."""
    M, N = system.M, system.N
    E, K, _ = cand.shape
    limited = np.zeros(K, dtype=np.bool_)
    for e, (model, _gs) in enumerate(system.elements):
        arg = cand[e].reshape(K, M, N)
        v, hit = model.limit(arg, old[e].reshape(K, M, N))
        if hit:  # which inputs (limiting is elementwise: the values are the same per input)
            for k in range(K):
                limited[k] |= model.limit(cand[e, k].reshape(M, N), old[e, k].reshape(M, N))[1]
        if v is not arg:
            cand[e] = np.reshape(v, (K, M * N))
    return cand, limited


def _grid_overflow(system: CrossbarSystem, ve: np.ndarray, k: int, row: int) -> ConvergenceError:
    """The error of input ``k`` (row ``row`` of ``ve`` (E, K', M*N)) whose companion or
    residual is not finite."""
    M, N = system.M, system.N
    ve_k = ve[:, row : row + 1].reshape(ve.shape[0], 1, M, N)
    comp = _companion(system, ve_k, first=k)  # raises when the companion overflowed
    return _overflow(system, ve_k, comp.i0, comp.ge, comp.ieq, first=k)


def _overflow(
    system: CrossbarSystem, ve: np.ndarray, i0: list, ge: list, ieq: np.ndarray, first: int = 0
) -> ConvergenceError:
    """A ConvergenceError naming the cell whose device current overflowed (inputs
    numbered from ``first``)."""
    els = system.elements
    size = np.zeros(ieq.shape)
    for e in range(len(els)):
        size = np.maximum(size, np.nan_to_num(np.abs(i0[e]), nan=np.inf))
        size = np.maximum(size, np.nan_to_num(np.abs(ge[e]), nan=np.inf))
    size = np.maximum(size, np.nan_to_num(np.abs(ieq), nan=np.inf))
    k, i, j = (int(x) for x in np.unravel_index(int(np.argmax(size)), size.shape))
    # the element whose current or conductance overflowed (not the one with most voltage)
    e = int(
        np.argmax(
            [
                max(
                    np.nan_to_num(abs(i0[n][k, i, j]), nan=np.inf),
                    np.nan_to_num(abs(ge[n][k, i, j]), nan=np.inf),
                )
                for n in range(len(els))
            ]
        )
    )
    name = type(els[e][0]).__name__ + (" selector" if e > 0 else "")
    return ConvergenceError(
        f"cell ({i}, {j}) (input {first + k}): the {name} current overflowed at "
        f"{ve[e][k, i, j]:.4g} V across the device during Newton (current "
        f"{i0[e][k, i, j]:.3g} A); the solution is not representable in floating point",
        hint="reduce the input voltages or the device nonlinearity (for Sinh, k * v "
        "must stay well below ~700)",
    )


def differential_conductance(system: CrossbarSystem, ve: np.ndarray) -> np.ndarray:
    """Small-signal conductance [S] (M, N) of every cell's series chain at element voltages ``ve``.

    ``ve`` is (E, 1, M, N), the ``"ve"`` state of a one-input Newton solution.
    """
    with np.errstate(divide="ignore"):
        rsum = system.r_access + sum(
            1.0 / model.derivative(ve[e][0], gs) for e, (model, gs) in enumerate(system.elements)
        )
        return np.where(system.elements[0][1] > 0, 1.0 / rsum, 0.0)
