"""The crossbar system: the plain data every crossbar solver works on.

:func:`build_system` turns a validated :class:`~xbar.crossbar.Crossbar`
specification into a :class:`CrossbarSystem`: the two families of lines after
zero-resistance segments are collapsed (:class:`~xbar.crossbar.structure.Family`),
the source map (which ideal source holds each line end), the cells' super-nodes
in both orderings, and the cells' series elements.  The functions below are
verbs over that data: source voltages, right-hand sides, line diagonals, node
voltages, the reduced nodal matrix and the line preconditioner.

Sources are numbered per solve: 0 is 0 V (ground / virtual ground), ``1..M``
the inputs, then one index per bias value.

>>> import numpy as np, xbar
>>> system = xbar.Crossbar(np.full((3, 2), 1e-4), r_row=1.0, r_col=1.0).setup()
>>> system.rows.nS, system.cols.nS   # every node is an unknown
(6, 6)
>>> nodal_matrix(system).shape
(12, 12)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import ShapeError, SingularCircuitError, ValueRangeError
from .devices import Device
from .structure import Family, build_family

if TYPE_CHECKING:
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import LinearOperator

    from .array import Crossbar

__all__ = [
    "CellOrder",
    "CrossbarSystem",
    "build_system",
    "parse_bias",
    "source_voltages",
    "rhs",
    "line_diagonals",
    "node_voltages",
    "cell_voltages",
    "nodal_matrix",
    "line_preconditioner",
]


@dataclass(frozen=True)
class CellOrder:
    """The cells grouped by line (all rows, or all columns).

    Attributes
    ----------
    order : int64 array (M*N,)
        Row-major cell indices, grouped line by line.
    ptr : int64 array (L + 1,)
        Line ``l`` owns ``order[ptr[l]:ptr[l+1]]``.
    """

    order: np.ndarray
    ptr: np.ndarray


@dataclass(frozen=True)
class CrossbarSystem:
    """A crossbar as plain data: collapsed line structure, sources and cells.

    Built by :func:`build_system` (or :meth:`Crossbar.setup`); every array is
    read-only by convention.  Cells are numbered row-major, ``c = i * N + j``.

    Attributes
    ----------
    M, N : int
        Rows (inputs) and columns (outputs).
    rows, cols : Family
        The row lines and the column lines, collapsed into chains of unknown
        super-nodes (see :mod:`xbar.crossbar.structure`).
    nsrc : int
        Number of ideal sources: 0 V, the M inputs, then the bias values.
    bias_values : float array (nb,)
        Voltages [V] of the bias sources ``M + 1 ...``.
    driven : bool array (M, 2)
        Row end (left, right) whose source current counts as the row's input current.
    sensed : bool array (N, 2)
        Column end (top, bottom) whose source current counts towards the output.
    cell_r, cell_c : int64 arrays (M*N,)
        Row / column super-node of each cell's two terminals, -1 where the node is known.
    cell_rsrc, cell_csrc : int64 arrays (M*N,)
        Source index of a known cell terminal, -1 where it is an unknown.
    by_row, by_col : CellOrder
        The cells grouped by row line and by column line.
    g : float array (M*N,)
        Small-signal cell conductance [S] at 0 V: device, selector and access
        resistance in series (0 for an open cell).
    elements : tuple of (Device, float array (M, N))
        The series elements of every cell with their conductance scale [S]:
        the cell device with ``G``, then the selector with ``g_selector``.
    r_access : float array (M, N)
        Series access resistance [ohm] of each cell.
    open_cell : bool array (M, N)
        Cells that carry no current (``G == 0`` or ``g_selector == 0``).
    row_segments : float array (M, N + 1)
        Row wire segment resistances [ohm], segment 0 at the left end, ``N`` at the right.
    col_segments : float array (N, M + 1)
        Column wire segment resistances [ohm], segment 0 at the top end, ``M`` at the bottom.
    r_driver : float array (M,)
        Driver (and row bias) resistance [ohm] of each row end.
    r_sense : float array (N,)
        Sense (and column bias) resistance [ohm] of each column end.
    """

    M: int
    N: int
    rows: Family
    cols: Family
    nsrc: int
    bias_values: np.ndarray
    driven: np.ndarray
    sensed: np.ndarray
    cell_r: np.ndarray
    cell_c: np.ndarray
    cell_rsrc: np.ndarray
    cell_csrc: np.ndarray
    by_row: CellOrder
    by_col: CellOrder
    g: np.ndarray
    elements: tuple[tuple[Device, np.ndarray], ...]
    r_access: np.ndarray
    open_cell: np.ndarray
    row_segments: np.ndarray
    col_segments: np.ndarray
    r_driver: np.ndarray
    r_sense: np.ndarray

    @property
    def is_linear(self) -> bool:
        """True for ohmic cells without a selector (one linear solve is exact)."""
        return len(self.elements) == 1 and self.elements[0][0].linear

    @property
    def uncollapsed(self) -> bool:
        """True when no node is collapsed or known: both families live on the (M, N) grid."""
        return self.rows.uncollapsed and self.cols.uncollapsed


# ----------------------------------------------------------------------------- line ends
def parse_bias(bias: Any, L: int, sensed_ends: list[int], what: str) -> np.ndarray:
    """A ``row_bias`` / ``col_bias`` specification as an object array (L, 2).

    Entries are ``None`` (the end keeps its configured role), ``nan`` (floating)
    or a voltage [V].  A shape (L,) specification applies to ``sensed_ends``.

    Raises
    ------
    ShapeError, ValueRangeError
        Naming ``what`` and the offending entry.
    """
    out = np.full((L, 2), None, dtype=object)
    if bias is None:
        return out
    arr = np.array(bias, dtype=object)
    if arr.ndim == 0:
        arr = np.full(L, arr.item(), dtype=object)
    if arr.shape == (L,):
        for e in sensed_ends:
            out[:, e] = arr
    elif arr.shape == (L, 2):
        out[:] = arr
    else:
        raise ShapeError(f"{what} has shape {arr.shape}; expected ({L},) or ({L}, 2)")
    for idx in np.ndindex(out.shape):
        v = out[idx]
        if v is None:
            continue
        try:
            fv = float(v)
        except (TypeError, ValueError):
            raise ValueRangeError(f"{what}[{idx[0]}, {idx[1]}] = {v!r} is not a number") from None
        if np.isinf(fv):
            raise ValueRangeError(f"{what}[{idx[0]}, {idx[1]}] is infinite")
        out[idx] = fv
    return out


def _end_sources(
    spec: np.ndarray,
    default: tuple[bool, bool],
    base_src: Callable[[int], int],
    bias_vals: list[float],
    M: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Source index (L, 2) of every line end (-1: floating) and whether it keeps its role."""
    L = spec.shape[0]
    src = np.full((L, 2), -1, dtype=np.int64)
    role = np.zeros((L, 2), dtype=bool)
    for line in range(L):
        for e in range(2):
            v = spec[line, e]
            if v is None:
                if default[e]:
                    src[line, e] = base_src(line)
                    role[line, e] = True
            elif not np.isnan(v):
                src[line, e] = M + 1 + len(bias_vals)
                bias_vals.append(v)
                role[line, e] = default[e]
    return src, role


def _segments(r: np.ndarray, n: int, drive_side: int) -> np.ndarray | None:
    """Segment resistances (L, n+1) [ohm] from a per-segment array, None for a scalar."""
    if r.ndim == 0:
        return None
    if r.shape[1] == n + 1:
        return np.array(r, dtype=float)
    seg = np.empty((r.shape[0], n + 1))
    if drive_side == 0:
        seg[:, :n] = r
        seg[:, n] = r[:, n - 1]
    else:
        seg[:, 1:] = r
        seg[:, 0] = r[:, 0]
    return seg


def wire_segments(spec: Crossbar) -> tuple[np.ndarray, np.ndarray]:
    """Segment resistances [ohm] of rows (M, N+1) and columns (N, M+1), ends excluded."""
    M, N = spec.M, spec.N
    rr = _segments(spec.r_row, N, 0 if spec.drive != "right" else 1)
    if rr is None:
        rr = np.full((M, N + 1), float(spec.r_row))
    rc = spec.r_col
    sc = _segments(rc.T if rc.ndim else rc, M, 1 if spec.sense != "top" else 0)
    if sc is None:
        sc = np.full((N, M + 1), float(rc))
    return rr, sc


def _end_conductances(seg: np.ndarray, r_end: np.ndarray) -> np.ndarray:
    """Segment conductances [S] with the end resistance added to both end segments."""
    seg = seg.copy()
    seg[:, 0] += r_end
    seg[:, -1] += r_end
    with np.errstate(divide="ignore"):
        return 1.0 / seg


def small_signal(spec: Crossbar) -> np.ndarray:
    """Small-signal cell conductance [S] (M, N) at 0 V: device, selector and access in series."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rser = np.where(spec.G > 0, 1.0 / spec.G, np.inf) + spec.r_access
        if spec.g_selector is not None:
            rser = rser + 1.0 / spec.g_selector
        return np.where(np.isfinite(rser), 1.0 / rser, 0.0)


# ----------------------------------------------------------------------------- build
def build_system(spec: Crossbar) -> CrossbarSystem:
    """The :class:`CrossbarSystem` of a validated crossbar specification.

    Parameters
    ----------
    spec : Crossbar
        Any object with the public attributes of :class:`~xbar.crossbar.Crossbar`.

    Raises
    ------
    CircuitError
        A line whose two ends are held by different ideal sources through zero resistance.
    SingularCircuitError
        A line with no path to any source (floating).
    """
    M, N = spec.M, spec.N
    bias_vals: list[float] = []
    dside = {"left": (True, False), "right": (False, True), "both": (True, True)}[spec.drive]
    sside = {"top": (True, False), "bottom": (False, True), "both": (True, True)}[spec.sense]
    rspec = parse_bias(spec.row_bias, M, [e for e in (0, 1) if dside[e]], "row_bias")
    cspec = parse_bias(spec.col_bias, N, [e for e in (0, 1) if sside[e]], "col_bias")
    r_src, driven = _end_sources(rspec, dside, lambda i: 1 + i, bias_vals, M)
    c_src, sensed = _end_sources(cspec, sside, lambda j: 0, bias_vals, M)
    r_drv = np.array(np.broadcast_to(spec.r_driver, (M,)), dtype=float)
    r_sns = np.array(np.broadcast_to(spec.r_sense, (N,)), dtype=float)
    raw_r, raw_c = wire_segments(spec)
    rows = build_family(_end_conductances(raw_r, r_drv), r_src, "row")
    cols = build_family(_end_conductances(raw_c, r_sns), c_src, "column")
    elements: list[tuple[Device, np.ndarray]] = [(spec.device, spec.G)]
    open_cell = spec.G == 0
    if spec.selector is not None:
        elements.append((spec.selector, np.broadcast_to(spec.g_selector, (M, N))))
        open_cell = open_cell | (spec.g_selector == 0)
    system = CrossbarSystem(
        M=M, N=N, rows=rows, cols=cols,
        nsrc=M + 1 + len(bias_vals),
        bias_values=np.array(bias_vals, dtype=float),
        driven=driven, sensed=sensed,
        cell_r=rows.node_sup.ravel(), cell_c=cols.node_sup.T.ravel(),
        cell_rsrc=rows.node_src.ravel(), cell_csrc=cols.node_src.T.ravel(),
        by_row=CellOrder(np.arange(M * N), np.arange(M + 1, dtype=np.int64) * N),
        by_col=CellOrder(np.arange(M * N).reshape(M, N).T.ravel(),
                         np.arange(N + 1, dtype=np.int64) * M),
        g=small_signal(spec).ravel(),
        elements=tuple(elements),
        r_access=np.array(np.broadcast_to(spec.r_access, (M, N)), dtype=float),
        open_cell=open_cell,
        row_segments=raw_r, col_segments=raw_c, r_driver=r_drv, r_sense=r_sns,
    )  # fmt: skip
    _check_floating(system)
    return system


def _anchored_lines(system: CrossbarSystem) -> np.ndarray:
    """(M + N + 1,) bool: lines tied to a source directly (last entry: the ground)."""
    M, N = system.M, system.N
    anchored = np.zeros(M + N + 1, dtype=bool)
    anchored[M + N] = True
    for fam, base in ((system.rows, 0), (system.cols, M)):
        lines = np.searchsorted(fam.ptr, fam.ext_sup, side="right") - 1
        anchored[base + lines] = True
        anchored[base + np.nonzero(np.diff(fam.ptr) == 0)[0]] = True
    conn = system.g > 0
    known_cell = conn & ((system.cell_r < 0) | (system.cell_c < 0))
    anchored[np.repeat(np.arange(M), N)[known_cell & (system.cell_r >= 0)]] = True
    anchored[M + np.tile(np.arange(N), M)[known_cell & (system.cell_c >= 0)]] = True
    return anchored


def _check_floating(system: CrossbarSystem) -> None:
    """Raise :class:`SingularCircuitError` naming a line with no path to any source."""
    M, N = system.M, system.N
    anchored = _anchored_lines(system)
    if np.all(anchored):
        return
    from scipy.sparse import coo_matrix  # only here: scipy.sparse costs 0.1-0.2 s to import
    from scipy.sparse.csgraph import connected_components

    m = (system.g > 0) & (system.cell_r >= 0) & (system.cell_c >= 0)
    a = np.concatenate([np.repeat(np.arange(M), N)[m], np.nonzero(anchored)[0]])
    b = np.concatenate([M + np.tile(np.arange(N), M)[m], np.full(int(anchored.sum()), M + N)])
    graph = coo_matrix((np.ones(a.size), (a, b)), shape=(M + N + 1, M + N + 1))
    _, labels = connected_components(graph, directed=False)
    floating = np.nonzero(labels != labels[M + N])[0]
    if floating.size:
        k = int(floating[0])
        what = f"row {k}" if k < M else f"column {k - M}"
        raise SingularCircuitError(
            f"{what} is floating: no path to a driver, bias or sense node "
            f"({floating.size} line(s) in all)",
            hint="connect an end (row_bias/col_bias) or give its cells a conductance > 0",
        )


# ----------------------------------------------------------------------------- verbs
def source_voltages(system: CrossbarSystem, V: np.ndarray) -> np.ndarray:
    """Voltages [V] of every source (K, nsrc) for inputs ``V`` (K, M)."""
    K = V.shape[0]
    Vs = np.zeros((K, system.nsrc))
    Vs[:, 1 : system.M + 1] = V
    Vs[:, system.M + 1 :] = system.bias_values[None, :]
    return Vs


def _cells_to_family(
    system: CrossbarSystem, fam: Family, own: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """Sum per-cell values (K, M*N) onto a family's super-nodes (K, nS)."""
    K = values.shape[0]
    M, N = system.M, system.N
    if fam.uncollapsed and fam is system.rows:  # identity cell map
        return values
    if fam.uncollapsed:  # columns: cell (i, j) -> j*M + i
        return values.reshape(K, M, N).transpose(0, 2, 1).reshape(K, -1)
    out = np.empty((K, fam.nS))
    m = own >= 0
    for k in range(K):
        out[k] = np.bincount(own[m], values[k, m], minlength=fam.nS)
    return out


def rhs(
    system: CrossbarSystem, Vs: np.ndarray, g: np.ndarray, i_eq: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Right-hand sides [A] of the row (K, nR) and column (K, nC) unknowns.

    Parameters
    ----------
    Vs : array (K, nsrc)
        Source voltages [V] (:func:`source_voltages`).
    g : array (Kg, M*N)
        Cell conductances [S], shared (Kg = 1) or per input.
    i_eq : array (K, M*N), optional
        Norton current [A] of each cell from its row node to its column node.
    """
    K = Vs.shape[0]
    out = []
    for fam, own, other_src, sign in (
        (system.rows, system.cell_r, system.cell_csrc, -1.0),
        (system.cols, system.cell_c, system.cell_rsrc, 1.0),
    ):
        b = np.zeros((K, fam.nS))
        if fam.ext_sup.size:
            contrib = fam.ext_g[None, :] * Vs[:, fam.ext_src]
            for k in range(K):
                b[k] += np.bincount(fam.ext_sup, contrib[k], minlength=fam.nS)
        m = (own >= 0) & (other_src >= 0)
        if np.any(m):
            contrib = g[:, m] * Vs[:, other_src[m]]
            for k in range(K):
                b[k] += np.bincount(own[m], contrib[k], minlength=fam.nS)
        if i_eq is not None:
            b += sign * _cells_to_family(system, fam, own, i_eq)
        out.append(b)
    return out[0], out[1]


def line_diagonals(system: CrossbarSystem, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Diagonals [S] of the row (Kg, nR) and column (Kg, nC) line matrices for cells ``g``."""
    return (
        system.rows.dfix[None, :] + _cells_to_family(system, system.rows, system.cell_r, g),
        system.cols.dfix[None, :] + _cells_to_family(system, system.cols, system.cell_c, g),
    )


def node_voltages(fam: Family, x: np.ndarray, Vs: np.ndarray) -> np.ndarray:
    """Node voltages [V] (K, L, n) of a family from its unknowns ``x`` (K, nS) and sources."""
    K = x.shape[0]
    ns = fam.node_sup
    if x.shape[1] == ns.size and fam.uncollapsed:
        return x.reshape((K,) + ns.shape)
    out = np.empty((K,) + ns.shape)
    m = ns >= 0
    out[:, m] = x[:, ns[m]]
    out[:, ~m] = Vs[:, fam.node_src[~m]]
    return out


def cell_voltages(
    system: CrossbarSystem, Vs: np.ndarray, xr: np.ndarray, xc: np.ndarray
) -> np.ndarray:
    """Voltage [V] across every cell, row node minus column node, (K, M, N)."""
    K = xr.shape[0]
    Vr = node_voltages(system.rows, xr, Vs)
    Vc = np.swapaxes(node_voltages(system.cols, xc, Vs), 1, 2)
    return (Vr - Vc).reshape(K, system.M, system.N)


def nodal_matrix(system: CrossbarSystem, g: np.ndarray | None = None) -> csc_matrix:
    """The reduced nodal matrix ``A`` [S] (csc, SPD): row super-nodes, then column super-nodes.

    Parameters
    ----------
    g : array (M*N,), optional
        Cell conductances [S]; default the small-signal ``system.g``.
    """
    from scipy.sparse import coo_matrix

    g = system.g if g is None else np.asarray(g, dtype=float).ravel()
    nR, nC = system.rows.nS, system.cols.nS
    dr, dc = line_diagonals(system, g[None, :])
    r, c, v = [], [], []
    for fam, base, d in ((system.rows, 0, dr[0]), (system.cols, nR, dc[0])):
        idx = np.arange(fam.nS)
        m = fam.off > 0
        r += [base + idx, base + idx[m], base + idx[m] + 1]
        c += [base + idx, base + idx[m] + 1, base + idx[m]]
        v += [d, -fam.off[m], -fam.off[m]]
    m = (system.cell_r >= 0) & (system.cell_c >= 0) & (g > 0)
    r += [system.cell_r[m], nR + system.cell_c[m]]
    c += [nR + system.cell_c[m], system.cell_r[m]]
    v += [-g[m], -g[m]]
    n = nR + nC
    return coo_matrix(
        (np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(n, n)
    ).tocsc()


def line_preconditioner(system: CrossbarSystem, g: np.ndarray | None = None) -> LinearOperator:
    """The line (block-Jacobi) preconditioner of :func:`nodal_matrix` as a ``LinearOperator``.

    Applies ``blockdiag(T_rows, T_cols)^-1``: every row line and every column
    line is an independent tridiagonal matrix (wire conductances plus the cells'
    conductances on the diagonal), solved exactly.  SPD, so it suits
    ``scipy.sparse.linalg.cg(A, b, M=...)``.

    Parameters
    ----------
    g : array (M*N,), optional
        Cell conductances [S]; default the small-signal ``system.g``.
    """
    from scipy.sparse.linalg import LinearOperator

    g = system.g if g is None else np.asarray(g, dtype=float).ravel()
    dr, dc = line_diagonals(system, g[None, :])
    factors = [_tridiagonal_factor(system.rows, dr[0]), _tridiagonal_factor(system.cols, dc[0])]
    nR, n = system.rows.nS, system.rows.nS + system.cols.nS

    def apply(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float).reshape(n, -1)
        out = np.empty_like(x)
        out[:nR] = _tridiagonal_solve(system.rows, factors[0], x[:nR])
        out[nR:] = _tridiagonal_solve(system.cols, factors[1], x[nR:])
        return out

    return LinearOperator((n, n), matvec=apply, matmat=apply, dtype=float)


def _tridiagonal_factor(fam: Family, diag: np.ndarray) -> np.ndarray:
    """Inverse LDL^T pivots (1, nS) of every chain of a family (diagonal ``diag``, off ``-off``)."""
    from .kernels import tri_factor

    inv_u = np.empty((1, fam.nS))
    tri_factor(fam.ptr, fam.off, np.ascontiguousarray(diag[None, :]), inv_u)
    return inv_u


def _tridiagonal_solve(fam: Family, inv_u: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve every chain for the columns of ``b`` (nS, k) with the pivots of the factor."""
    from .kernels import tri_solve

    bt = np.ascontiguousarray(b.T)
    x = np.empty_like(bt)
    tri_solve(fam.ptr, fam.off, inv_u, bt, x)
    return x.T
