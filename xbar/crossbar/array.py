"""The :class:`Crossbar` array: builder, fast exact solver, cached linear maps.

Topology (the default is the one badcrossbar and most papers use): row ``i``
is driven at its left end by an ideal source ``V[i]`` through ``r_driver``
and one wire segment; neighbouring row nodes are joined by one segment each;
cell ``(i, j)`` joins row node ``(i, j)`` to column node ``(i, j)``;
neighbouring column nodes are joined by one segment each; column ``j`` leaves
at the bottom through one segment and ``r_sense`` into a virtual ground (0 V).

Solver: the nodal system is two families of tridiagonal chains (rows,
columns) coupled only through the cells.  Zero-resistance segments collapse
nodes into super-nodes (exact; nodes tied to an ideal source become known).
Columns are eliminated exactly by tridiagonal solves and CG runs on the Schur
complement with the row chains as preconditioner, to a relative KCL residual
of ``tol`` (1e-10).  Kernels (numba, :mod:`xbar.crossbar._kernels`): when no
node is collapsed, a serial CG per input on the (M, N) grid (``solo_pcg``;
``batch_pcg`` runs inputs in parallel) or, for one large array, ``grid_pcg``
parallel over lines; otherwise the general chain kernel ``schur_pcg``.  The
readable twin is :mod:`xbar.crossbar.reference` (full MNA, ``splu``).

Nonlinear cells (and selectors, access resistors in series): Newton with the
SPICE convergence rules (``reltol``/``vntol`` per unknown) plus the KCL
residual ``tol``; each cell's series chain is condensed to one Norton
companion per step, so every step is one structured linear solve warm-started
from the last; devices limit their own voltage steps.

:meth:`Crossbar.transfer_matrix` is a direct block elimination, exact to
round-off, in whichever orientation the shape makes cheaper: sweeping along the
columns (dense (M, M) Schur blocks, one per column, ~N M^3) or down the rows
(dense (N, N) blocks, one per row, ~M N^3 + M^2 N^2 / 2); see
:mod:`xbar.crossbar._transfer`.  Batched CG is the fallback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from ..checks import check_options, memory_guard, real_array
from ..spice.circuit import Options
from ..errors import (
    ConfigError,
    ConvergenceError,
    ShapeError,
    SingularCircuitError,
    ValueRangeError,
)
from . import _transfer
from ._structure import Family, build_family, end_currents
from .devices import Device, Linear

log = logging.getLogger(__name__)

__all__ = ["Crossbar", "CrossbarSolution", "LinearizedCrossbar"]

_MEM_BUDGET = 384e6  # bytes of solver work arrays per batch chunk


# ----------------------------------------------------------------------------- validation
def _array(name, value, shapes, *, allow_zero=True):
    """Validate a nonnegative finite array against the allowed shapes; returns float array."""
    arr = real_array(name, value)
    if arr.ndim > 0 and arr.shape not in shapes:
        want = " or ".join(str(s) for s in shapes)
        raise ShapeError(f"{name} has shape {arr.shape}; expected a scalar or {want}")
    bad = ~np.isfinite(arr) | (arr < 0)
    if np.any(bad):
        idx = np.argwhere(bad)[0] if arr.ndim else ()
        val = arr[tuple(idx)] if arr.ndim else float(arr)
        where = f" at index {tuple(int(i) for i in idx)}" if arr.ndim else ""
        raise ValueRangeError(
            f"{name}{where} is {float(val):g}; it must be finite and >= 0",
            hint="use 0 for an ideal (zero-resistance) wire" if name.startswith("r_") else "",
        )
    return arr


def _parse_bias(bias, L, sensed_ends, what):
    """Bias spec -> object array (L, 2) of None / nan / float."""
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


# ----------------------------------------------------------------------------- results
@dataclass
class CrossbarSolution:
    """Result of :meth:`Crossbar.solve` (the batch axis ``K`` is always present).

    Attributes
    ----------
    output : array (K, N)
        Column currents [A], positive flowing out of the array into the sense node.
    input_currents : array (K, M)
        Current [A] each row's driven end(s) deliver into the array.
    row_voltages, col_voltages : array (K, M, N) or None
        Node voltages [V] of the row and column wires (``return_nodes=True``).
    cell_currents : array (K, M, N) or None
        Current [A] through each cell from its row node to its column node.
    iterations : array (K,)
        CG iterations (linear) or Newton iterations (nonlinear) per input.
    residual : array (K,)
        Final relative KCL residual ``||A x - b|| / ||b||`` per input.
    inputs : array (K, M)
        The input voltages [V].
    """

    output: np.ndarray
    input_currents: np.ndarray
    iterations: np.ndarray
    residual: np.ndarray
    inputs: np.ndarray
    row_voltages: np.ndarray | None = None
    col_voltages: np.ndarray | None = None
    cell_currents: np.ndarray | None = None
    _state: dict | None = field(default=None, repr=False)

    @property
    def batch_size(self) -> int:
        return self.output.shape[0]


@dataclass
class LinearizedCrossbar:
    """Small-signal map of a crossbar around one operating point.

    ``output(V0 + dV) ~= operating_output + dV @ W``; exact for linear cells.
    For nonlinear cells the error is second order in ``dV``.  Measured on a
    64x64 ``Sinh(k)`` array (G in [1e-6, 1e-4] S, 1 ohm wires) around
    ``V0 = 0.2 V`` with random ``dV`` of amplitude ``a``, the largest output
    error relative to the largest output is about ``0.15 (k a)^2``:
    6e-5 (k = 2, a = 10 mV), 5e-4 (k = 2, a = 30 mV), 2.3e-3 (k = 4,
    a = 30 mV), 2.5e-2 (k = 4, a = 0.1 V).  Re-linearise (or solve exactly)
    when inputs move further than that from ``V0``.

    Attributes
    ----------
    V0 : array (M,)
        Operating-point inputs [V].
    operating_output : array (N,)
        Column currents [A] at ``V0``.
    W : array (M, N)
        ``d output / d V`` [S].
    """

    V0: np.ndarray
    operating_output: np.ndarray
    W: np.ndarray

    def output(self, V) -> np.ndarray:
        """Linearised column currents [A] for inputs ``V`` of shape (M,) or (K, M) -> (K, N)."""
        V = np.atleast_2d(np.asarray(V, dtype=float))
        return self.operating_output[None, :] + (V - self.V0[None, :]) @ self.W


@dataclass
class _Struct:
    rows: Family
    cols: Family
    nsrc: int
    bias_values: np.ndarray  # (nb,)
    sensed: np.ndarray  # (N, 2) bool: column end counts towards output
    driven: np.ndarray  # (M, 2) bool: row end carries an input
    cell_r: np.ndarray  # (M*N,) row super-node or -1
    cell_c: np.ndarray  # (M*N,) col super-node or -1
    cell_rsrc: np.ndarray
    cell_csrc: np.ndarray


# ----------------------------------------------------------------------------- Crossbar
class Crossbar:
    """A resistive crossbar array with its wires, drivers and sense circuits.

    Parameters
    ----------
    G : array (M, N)
        Cell conductances [S] (small-signal at 0 V for nonlinear models); 0 is an open cell.
    r_row, r_col : float or array
        Wire resistance per segment [ohm]; 0 is an exact ideal wire.  ``r_row`` may be
        (M, N) (the segments along the driven direction, the first one joining the
        driver to the first node) or (M, N + 1) (segment 0 joins the left end, ``N`` the
        right end); ``r_col`` likewise (M, N) or (M + 1, N) (row 0 is the top end).
    r_driver : float or array (M,)
        Source resistance of each row driver [ohm] (also used by biased row ends).
    r_sense : float or array (N,)
        Input resistance of each column's sense amplifier [ohm] (also biased column ends).
    device : Device
        Cell I-V model (:class:`Linear`, :class:`Sinh`, ...).
    drive : {"left", "right", "both"}
        Row end(s) carrying the inputs.
    sense : {"bottom", "top", "both"}
        Column end(s) held at virtual ground whose current is the output.
    r_access : float or array (M, N)
        Series access resistance per cell [ohm] (1T1R).
    selector : Device, optional
        Selector model in series with each cell (1S1R), small-signal conductance
        ``g_selector`` [S] (scalar or (M, N)).
    row_bias, col_bias : array-like, optional
        Override line ends: shape (M,) / (N,) applies to the driven / sensed ends,
        (M, 2) [left, right] / (N, 2) [top, bottom] to each end.  Entries: ``None``
        keeps the configured role, ``nan`` floats the end, a number holds it at
        that voltage [V] (through ``r_driver`` / ``r_sense``).
    options : Options, optional
        Newton tolerances (``reltol``, ``vntol``, ``abstol``, ``itl1``).
    maxiter : int
        CG iteration limit per linear solve.

    Examples
    --------
    >>> import numpy as np, xbar
    >>> xb = xbar.Crossbar(np.full((4, 3), 1e-4), r_row=1.0, r_col=1.0)
    >>> sol = xb.solve(np.full(4, 0.2))
    >>> sol.output.shape
    (1, 3)
    >>> bool(np.all(sol.output < 0.2 * 4 * 1e-4))
    True
    """

    def __init__(
        self,
        G,
        r_row=0.0,
        r_col=0.0,
        r_driver=0.0,
        r_sense=0.0,
        device: Device | None = None,
        *,
        drive: str = "left",
        sense: str = "bottom",
        r_access=0.0,
        selector: Device | None = None,
        g_selector=None,
        row_bias=None,
        col_bias=None,
        options: Options | None = None,
        maxiter: int = 20000,
    ):
        G = real_array("G", G)
        if G.ndim != 2 or G.shape[0] < 1 or G.shape[1] < 1:
            raise ShapeError(f"G must be a 2-D array (M, N) of conductances, got shape {G.shape}")
        self._M, self._N = G.shape
        if drive not in ("left", "right", "both"):
            raise ConfigError(f"drive={drive!r}; expected 'left', 'right' or 'both'")
        if sense not in ("bottom", "top", "both"):
            raise ConfigError(f"sense={sense!r}; expected 'bottom', 'top' or 'both'")
        self._drive = drive
        self._sense = sense
        self._device = Linear() if device is None else device
        if not isinstance(self._device, Device):
            raise ConfigError(f"device must be an xbar device model, got {type(device).__name__}")
        self._device.check_shape(G.shape)
        if selector is not None:
            if not isinstance(selector, Device):
                raise ConfigError("selector must be an xbar device model")
            if g_selector is None:
                raise ConfigError("a selector needs g_selector, its small-signal conductance [S]")
            selector.check_shape(G.shape)
            gs = _array("g_selector", g_selector, [G.shape])
            if np.any(gs <= 0):
                raise ValueRangeError("g_selector must be > 0")
            self._g_selector = gs
        else:
            self._g_selector = None
        self._selector = selector
        self.options = options if options is not None else Options()
        check_options(self.options, "Crossbar options")
        if isinstance(maxiter, bool) or not isinstance(maxiter, int | np.integer) or maxiter < 1:
            raise ValueRangeError(f"maxiter={maxiter!r}: must be an integer >= 1")
        self.maxiter = int(maxiter)
        _parse_bias(row_bias, self._M, [0], "row_bias")  # validate now, use lazily
        _parse_bias(col_bias, self._N, [0], "col_bias")
        self._row_bias = row_bias
        self._col_bias = col_bias
        self._set("G", G)
        self._set("r_row", r_row)
        self._set("r_col", r_col)
        self._set("r_driver", r_driver)
        self._set("r_sense", r_sense)
        self._set("r_access", r_access)

    # --------------------------------------------------------------- read-only attributes
    def _set(self, name, value):
        M, N = self._M, self._N
        shapes = {
            "G": [(M, N)],
            "r_row": [(M, N), (M, N + 1)],
            "r_col": [(M, N), (M + 1, N)],
            "r_driver": [(M,)],
            "r_sense": [(N,)],
            "r_access": [(M, N)],
        }[name]
        arr = _array(name, value, shapes)
        if name == "G":
            if arr.shape != (M, N):
                raise ShapeError(f"G must keep its shape {(M, N)}, got {arr.shape}")
            bad = ~np.isfinite(arr) | (arr < 0)
            if np.any(bad):  # pragma: no cover - caught by _array
                raise ValueRangeError("G has a bad entry")
        if name == "r_row" and arr.shape == (M, N) and self._drive == "both":
            raise ShapeError(
                f"r_row has shape {(M, N)} but drive='both' needs {(M, N + 1)} segments "
                "(one per end and one between each pair of nodes)"
            )
        if name == "r_col" and arr.shape == (M, N) and self._sense == "both":
            raise ShapeError(f"r_col has shape {(M, N)} but sense='both' needs {(M + 1, N)}")
        arr.setflags(write=False)
        self.__dict__["_" + name] = arr
        self._invalidate()

    def _invalidate(self):
        self._cache = {}

    M = property(lambda self: self._M, doc="Number of rows (inputs).")
    N = property(lambda self: self._N, doc="Number of columns (outputs).")
    device = property(lambda self: self._device, doc="Cell I-V model.")
    selector = property(lambda self: self._selector, doc="Series selector model or None.")
    drive = property(lambda self: self._drive)
    sense = property(lambda self: self._sense)

    def _prop(name, doc):  # noqa: N805 - property factory
        def get(self):
            return self.__dict__["_" + name]

        def put(self, value):
            self._set(name, value)

        return property(get, put, doc=doc)

    G = _prop("G", "Cell conductances [S], (M, N); read-only array, assign to replace.")
    r_row = _prop("r_row", "Row wire resistance per segment [ohm].")
    r_col = _prop("r_col", "Column wire resistance per segment [ohm].")
    r_driver = _prop("r_driver", "Row driver resistance [ohm].")
    r_sense = _prop("r_sense", "Column sense resistance [ohm].")
    r_access = _prop("r_access", "Series access resistance per cell [ohm].")
    del _prop

    @property
    def is_linear(self) -> bool:
        """True when cells (and selector) are ohmic: :meth:`transfer_matrix` is exact."""
        return self._device.linear and self._selector is None

    def __repr__(self) -> str:
        return (
            f"Crossbar({self._M}x{self._N}, device={type(self._device).__name__}, "
            f"drive={self._drive!r}, sense={self._sense!r})"
        )

    # --------------------------------------------------------------- structure
    def _segments(self, r, ends, drive_side):
        """Raw segment resistances (L, n+1) [ohm] from the user's array (line-major)."""
        L = r.shape[0] if r.ndim else None
        if r.ndim == 0:
            return None
        if r.shape[1] == ends + 1:
            return np.array(r, dtype=float)
        n = ends
        seg = np.empty((L, n + 1))
        if drive_side == 0:
            seg[:, :n] = r
            seg[:, n] = r[:, n - 1]
        else:
            seg[:, 1:] = r
            seg[:, 0] = r[:, 0]
        return seg

    def _raw_segments(self):
        """Segment resistances [ohm] of rows (M, N+1) and columns (N, M+1), ends excluded."""
        M, N = self._M, self._N
        rr = self._segments(self._r_row, N, 0 if self._drive != "right" else 1)
        if rr is None:
            rr = np.full((M, N + 1), float(self._r_row))
        rc = self._r_col
        sc = self._segments(rc.T if rc.ndim else rc, M, 1 if self._sense != "top" else 0)
        if sc is None:
            sc = np.full((N, M + 1), float(rc))
        return rr, sc

    @staticmethod
    def _conductances(seg, r_end):
        seg = seg.copy()
        seg[:, 0] += r_end
        seg[:, -1] += r_end
        with np.errstate(divide="ignore"):
            return 1.0 / seg

    def _struct(self) -> _Struct:
        st = self._cache.get("struct")
        if st is not None:
            return st
        M, N = self._M, self._N
        bias_vals: list[float] = []

        def ends(L, default, bias, which_roles, base_src, what):
            # default: (L, 2) bool = end has the configured role
            spec = _parse_bias(bias, L, which_roles, what)
            src = np.full((L, 2), -1, dtype=np.int64)
            role = np.zeros((L, 2), dtype=bool)
            for line in range(L):
                for e in range(2):
                    v = spec[line, e]
                    if v is None:
                        if default[e]:
                            src[line, e] = base_src(line)
                            role[line, e] = True
                    elif np.isnan(v):
                        pass
                    else:
                        src[line, e] = M + 1 + len(bias_vals)
                        bias_vals.append(v)
                        role[line, e] = default[e]
            return src, role

        dside = {"left": (True, False), "right": (False, True), "both": (True, True)}[self._drive]
        sside = {"top": (True, False), "bottom": (False, True), "both": (True, True)}[self._sense]
        r_src, driven = ends(
            M, dside, self._row_bias, [e for e in (0, 1) if dside[e]], lambda i: 1 + i, "row_bias"
        )
        c_src, sensed = ends(
            N, sside, self._col_bias, [e for e in (0, 1) if sside[e]], lambda j: 0, "col_bias"
        )
        r_drv = np.broadcast_to(self._r_driver, (M,))
        r_sns = np.broadcast_to(self._r_sense, (N,))
        raw_r, raw_c = self._raw_segments()
        seg_r = self._conductances(raw_r, r_drv)
        seg_c = self._conductances(raw_c, r_sns)
        rows = build_family(seg_r, r_src, "row")
        cols = build_family(seg_c, c_src, "column")
        cell_r = rows.node_sup.ravel()
        cell_c = cols.node_sup.T.ravel()
        st = _Struct(
            rows=rows,
            cols=cols,
            nsrc=M + 1 + len(bias_vals),
            bias_values=np.array(bias_vals, dtype=float),
            sensed=sensed,
            driven=driven,
            cell_r=cell_r,
            cell_c=cell_c,
            cell_rsrc=rows.node_src.ravel(),
            cell_csrc=cols.node_src.T.ravel(),
        )
        self._check_floating(st)
        self._cache["struct"] = st
        return st

    def _g_small(self) -> np.ndarray:
        """Small-signal cell conductance at 0 V (device in series with selector and access)."""
        g = self._cache.get("g_small")
        if g is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                rser = np.where(self._G > 0, 1.0 / self._G, np.inf) + self._r_access
                if self._g_selector is not None:
                    rser = rser + 1.0 / self._g_selector
                g = np.where(np.isfinite(rser), 1.0 / rser, 0.0)
            self._cache["g_small"] = g
        return g

    def _check_floating(self, st: _Struct) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        rows, cols = st.rows, st.cols
        M, N = self._M, self._N
        g = self._g_small().ravel()
        r_line = np.repeat(np.arange(M), N)
        c_line = np.tile(np.arange(N), M)
        anchored = np.zeros(M + N + 1, dtype=bool)
        anchored[M + N] = True
        for fam, base in ((rows, 0), (cols, M)):
            lines = np.searchsorted(fam.ptr, fam.ext_sup, side="right") - 1
            anchored[base + lines] = True
            empty = np.diff(fam.ptr) == 0
            anchored[base + np.nonzero(empty)[0]] = True
        conn = g > 0
        known_cell = conn & ((st.cell_r < 0) | (st.cell_c < 0))
        anchored[r_line[known_cell & (st.cell_r >= 0)]] = True
        anchored[M + c_line[known_cell & (st.cell_c >= 0)]] = True
        if np.all(anchored):
            return
        m = conn & (st.cell_r >= 0) & (st.cell_c >= 0)
        a = np.concatenate([r_line[m], np.nonzero(anchored)[0]])
        b = np.concatenate([M + c_line[m], np.full(int(anchored.sum()), M + N)])
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

    # --------------------------------------------------------------- inputs
    def _inputs(self, V) -> np.ndarray:
        V = real_array("V (input voltages [V])", V)
        if V.ndim == 1:
            V = V[None, :]
        if V.ndim != 2 or V.shape[1] != self._M:
            raise ShapeError(
                f"V has shape {V.shape}; expected ({self._M},) or (K, {self._M}) "
                f"for this {self._M}x{self._N} array"
            )
        if V.shape[0] == 0:
            raise ShapeError(f"V has shape {V.shape}: an empty batch (no input vector)",
                             hint=f"give at least one input vector of length {self._M}")
        if not np.all(np.isfinite(V)):
            k, i = np.argwhere(~np.isfinite(V))[0]
            raise ValueRangeError(f"V[{k}, {i}] is {V[k, i]}; input voltages must be finite")
        return V

    def _vsrc(self, st: _Struct, V: np.ndarray) -> np.ndarray:
        K = V.shape[0]
        Vs = np.zeros((K, st.nsrc))
        Vs[:, 1 : self._M + 1] = V
        Vs[:, self._M + 1 :] = st.bias_values[None, :]
        return Vs

    def _rhs(self, st, Vs, g, i_eq=None):
        """Right-hand sides (K, nR), (K, nC) for cell conductances ``g`` (Kg, MN)."""
        K = Vs.shape[0]
        out = []
        for fam, own, other_src, sign in (
            (st.rows, st.cell_r, st.cell_csrc, -1.0),
            (st.cols, st.cell_c, st.cell_rsrc, 1.0),
        ):
            rhs = np.zeros((K, fam.nS))
            if fam.ext_sup.size:
                contrib = fam.ext_g[None, :] * Vs[:, fam.ext_src]
                for k in range(K):
                    rhs[k] += np.bincount(fam.ext_sup, contrib[k], minlength=fam.nS)
            m = (own >= 0) & (other_src >= 0)
            if np.any(m):
                contrib = g[:, m] * Vs[:, other_src[m]]
                for k in range(K):
                    rhs[k] += np.bincount(own[m], contrib[k], minlength=fam.nS)
            if i_eq is not None:
                if fam.uncollapsed and fam is st.rows:  # identity cell map
                    rhs += sign * i_eq
                elif fam.uncollapsed:  # columns: cell (i, j) -> j*M + i
                    M, N = self._M, self._N
                    rhs += sign * i_eq.reshape(K, M, N).transpose(0, 2, 1).reshape(K, -1)
                else:
                    m = own >= 0
                    for k in range(K):
                        rhs[k] += sign * np.bincount(own[m], i_eq[k, m], minlength=fam.nS)
            out.append(rhs)
        return out

    def _diag(self, fam: Family, own, g):
        Kg = g.shape[0]
        if fam.uncollapsed and fam is self._cache["struct"].rows:  # identity cell map
            return fam.dfix[None, :] + g
        if fam.uncollapsed:  # columns: cell (i, j) -> j*M + i
            M, N = self._M, self._N
            return fam.dfix[None, :] + g.reshape(Kg, M, N).transpose(0, 2, 1).reshape(Kg, -1)
        dg = np.empty((Kg, fam.nS))
        m = own >= 0
        for k in range(Kg):
            dg[k] = fam.dfix + np.bincount(own[m], g[k, m], minlength=fam.nS)
        return dg

    def _orders(self, st):
        """Cell index orders grouped by row line and by column line."""
        od = self._cache.get("orders")
        if od is None:
            M, N = self._M, self._N
            by_row = np.arange(M * N)
            by_col = np.arange(M * N).reshape(M, N).T.ravel()
            rptr = np.arange(M + 1, dtype=np.int64) * N
            cptr = np.arange(N + 1, dtype=np.int64) * M
            od = (by_row, rptr, by_col, cptr)
            self._cache["orders"] = od
        return od

    def _linear_solve(self, st, g, rhs_r, rhs_c, x0_r, tol):
        """Solve the nodal system for cell conductances g (Kg, MN); returns xr, xc, it, res."""
        from . import _kernels

        by_row, rptr, by_col, cptr = self._orders(st)
        K = rhs_r.shape[0]
        rows, cols = st.rows, st.cols
        dr = self._diag(rows, st.cell_r, g)
        dc = self._diag(cols, st.cell_c, g)
        if rows.uncollapsed and cols.uncollapsed and self._grid_kernel:
            return self._grid_solve(st, g, dr, dc, rhs_r, rhs_c, x0_r, tol)
        # CG family a = rows unless rows have no unknowns (then columns, exact in one pass)
        swap = rows.nS == 0 and cols.nS > 0
        fa, fb = (cols, rows) if swap else (rows, cols)
        da, db = (dc, dr) if swap else (dr, dc)
        ca, cb = (st.cell_c, st.cell_r) if swap else (st.cell_r, st.cell_c)
        oa, pa, ob, pb = (by_col, cptr, by_row, rptr) if swap else (by_row, rptr, by_col, cptr)
        ra, rb = (rhs_c, rhs_r) if swap else (rhs_r, rhs_c)
        xa = np.zeros((K, fa.nS)) if x0_r is None or swap else np.array(x0_r, dtype=float)
        xb = np.zeros((K, fb.nS))
        it = np.zeros(K, dtype=np.int64)
        res = np.zeros(K)
        with _threads(self._M * self._N * K):
            _kernels.schur_pcg(
                fa.ptr, fa.off, da, fb.ptr, fb.off, db,
                pa, ca[oa], cb[oa], np.ascontiguousarray(g[:, oa]),
                pb, ca[ob], cb[ob], np.ascontiguousarray(g[:, ob]),
                np.ascontiguousarray(ra), np.ascontiguousarray(rb), xa, xb,
                float(tol), int(self.maxiter), it, res,
            )  # fmt: skip
        if swap:
            xa, xb = xb, xa
        return xa, xb, it, res

    # Kernel switches (tests compare the paths).  Uncollapsed arrays use the grid kernels:
    # per-input serial CG (``batch_pcg``: one parallel region over the inputs; ``solo_pcg``
    # for one input), or, for one large input, ``grid_pcg`` parallel over lines.
    _grid_kernel = True
    _batch_kernel = True

    def _grid_solve(self, st, g, dr, dc, rhs_r, rhs_c, x0_r, tol):
        """The uncollapsed fast path: both families on the (M, N) grid, batch innermost."""
        from . import _kernels

        M, N = self._M, self._N
        K = rhs_r.shape[0]
        Kg = g.shape[0]

        def cm_to_rm(a):  # (L, N*M) column-major -> (L, M*N) row-major
            L = a.shape[0]
            return np.ascontiguousarray(a.reshape(L, N, M).transpose(0, 2, 1).reshape(L, M * N))

        offc = cm_to_rm(st.cols.off[None, :])[0]
        xr = np.zeros((K, M * N)) if x0_r is None else np.array(x0_r, dtype=float)
        xc = np.empty((K, M * N))
        it = np.zeros(K, dtype=np.int64)
        res = np.zeros(K)
        chunk = 32
        if self._batch_kernel and (K >= 2 or M * N < PARALLEL_MIN_WORK):
            kern = _kernels.batch_pcg if K >= 2 else _kernels.solo_pcg
            kern(
                M, N, st.rows.off, np.ascontiguousarray(dr), offc, cm_to_rm(dc),
                np.ascontiguousarray(g), np.ascontiguousarray(rhs_r), cm_to_rm(rhs_c),
                xr, xc, float(tol), int(self.maxiter), it, res,
            )  # fmt: skip
        else:
            with _threads(M * N * K):
                _kernels.grid_pcg(
                    M, N, st.rows.off, np.ascontiguousarray(dr), offc, cm_to_rm(dc),
                    np.ascontiguousarray(g), np.ascontiguousarray(rhs_r), cm_to_rm(rhs_c),
                    xr, xc, float(tol), int(self.maxiter), it, res, chunk,
                )  # fmt: skip
        xc_out = np.ascontiguousarray(xc.reshape(K, M, N).transpose(0, 2, 1).reshape(K, N * M))
        del Kg
        return xr, xc_out, it, res

    def _full_voltages(self, fam: Family, x, Vs, transpose=False):
        """Node voltages (K, L, n) of a family, known nodes filled from the sources."""
        K = x.shape[0]
        ns = fam.node_sup
        if x.shape[1] == ns.size and fam.uncollapsed:
            return x.reshape((K,) + ns.shape)
        out = np.empty((K,) + ns.shape)
        m = ns >= 0
        out[:, m] = x[:, ns[m]]
        out[:, ~m] = Vs[:, fam.node_src[~m]]
        return out

    def _finish(self, st, Vs, V, xr, xc, icell, it, res, return_nodes, state):
        """Outputs, input currents and optional node arrays from a converged state."""
        M, N = self._M, self._N
        K = V.shape[0]
        Vr = self._full_voltages(st.rows, xr, Vs)  # (K, M, N)
        Vc = self._full_voltages(st.cols, xc, Vs)  # (K, N, M)
        I = icell.reshape(K, M, N)
        col_end = end_currents(st.cols, Vc, np.swapaxes(I, 1, 2), Vs)  # (K, N, 2)
        row_end = end_currents(st.rows, Vr, -I, Vs)  # (K, M, 2): into sources
        output = np.where(st.sensed[None], col_end, 0.0).sum(axis=2)
        input_currents = -np.where(st.driven[None], row_end, 0.0).sum(axis=2)
        sol = CrossbarSolution(
            output=output,
            input_currents=input_currents,
            iterations=it,
            residual=res,
            inputs=V,
            _state=state,
        )
        if return_nodes:
            sol.row_voltages = Vr
            sol.col_voltages = np.ascontiguousarray(np.swapaxes(Vc, 1, 2))
            sol.cell_currents = I
        return sol

    # --------------------------------------------------------------- solve
    def solve(self, V, *, warm_start: CrossbarSolution | None = None, return_nodes=False,
              tol: float = 1e-10) -> CrossbarSolution:
        """Solve the array for input voltages ``V``.

        Parameters
        ----------
        V : array (M,) or (K, M)
            Input voltages [V] of the driven row ends.
        warm_start : CrossbarSolution, optional
            A previous solution (same K, or K = 1) whose node voltages start the iteration.
        return_nodes : bool
            Also return row/column node voltages and cell currents, (K, M, N) each.
        tol : float
            Relative KCL residual to reach, ``||A x - b|| / ||b||``.

        Returns
        -------
        CrossbarSolution
            ``output`` (K, N) column currents [A], and the rest as documented there.

        Raises
        ------
        ConvergenceError
            When CG or Newton does not reach ``tol`` within the iteration limits.
        """
        V = self._inputs(V)
        if isinstance(tol, bool) or not isinstance(tol, int | float | np.number) \
                or not (0 < tol < 1):
            raise ConfigError(f"tol={tol!r}; expected a number with 0 < tol < 1")
        st = self._struct()
        K = V.shape[0]
        M, N = self._M, self._N
        per = (st.rows.nS + st.cols.nS + M * N) * 8 * (16 if not self.is_linear else 10)
        chunk = max(1, int(_MEM_BUDGET // max(per, 1)))
        if not self.is_linear:  # Newton's numpy work arrays: keep a chunk near cache size
            chunk = min(chunk, max(2, BATCH_CELLS // (M * N)))
        if K > chunk:
            parts = []
            for s in range(0, K, chunk):
                ws = _slice_state(warm_start, s, s + chunk)
                parts.append(self.solve(V[s : s + chunk], warm_start=ws,
                                        return_nodes=return_nodes, tol=tol))
            return _concat(parts)
        Vs = self._vsrc(st, V)
        if self.is_linear:
            g = self._g_small().reshape(1, -1)
            rhs_r, rhs_c = self._rhs(st, Vs, g)
            x0 = _warm(warm_start, "xr", K)
            xr, xc, it, res = self._linear_solve(st, g, rhs_r, rhs_c, x0, tol)
            self._check_converged(res, tol, it, "CG")
            Vr = self._full_voltages(st.rows, xr, Vs).reshape(K, -1)
            Vc = np.swapaxes(self._full_voltages(st.cols, xc, Vs), 1, 2).reshape(K, -1)
            icell = g * (Vr - Vc)
            return self._finish(st, Vs, V, xr, xc, icell, it, res, return_nodes,
                                {"xr": xr, "xc": xc})
        # device laws may overflow for absurd drives: turned into a ConvergenceError
        with np.errstate(over="ignore", invalid="ignore"):
            return self._newton(st, V, Vs, warm_start, return_nodes, tol)

    def _check_converged(self, res, tol, it, what):
        bad = ~(res <= tol * 1.0000001)
        if np.any(bad):
            k = int(np.argmax(bad))
            raise ConvergenceError(
                f"{what} did not converge for input {k}: relative residual {res[k]:.3g} > "
                f"tol {tol:g} after {int(it[k])} iterations",
                hint="raise Crossbar(maxiter=...) or loosen tol",
            )

    # --------------------------------------------------------------- Newton
    def _elements(self):
        """Nonlinear series elements of a cell: list of (model, conductance scale)."""
        els = [(self._device, self._G)]
        if self._selector is not None:
            els.append((self._selector, self._g_selector))
        return els

    def _newton(self, st, V, Vs, warm_start, return_nodes, tol):
        M, N = self._M, self._N
        K = V.shape[0]
        opt = self.options
        els = self._elements()
        r_acc = np.broadcast_to(self._r_access, (M, N))[None]
        open_cell = (self._G == 0)[None]
        if self._g_selector is not None:
            open_cell = open_cell | (self._g_selector == 0)[None]
        # initial state: linear solve with small-signal conductances
        if warm_start is not None and warm_start._state is not None and "ve" in warm_start._state:
            xr = _warm(warm_start, "xr", K)
            xc = _warm(warm_start, "xc", K)
            ve = _warm(warm_start, "ve", K, axis=1)
        else:
            g0 = self._g_small().reshape(1, -1)
            rhs_r, rhs_c = self._rhs(st, Vs, g0)
            xr, xc, _, _ = self._linear_solve(st, g0, rhs_r, rhs_c, None, 1e-6)
            vt = self._vtot(st, Vs, xr, xc)
            i_lin = g0.reshape(1, M, N) * vt
            ve = np.empty((len(els), K, M, N))
            for e, (_, gs) in enumerate(els):
                with np.errstate(divide="ignore", invalid="ignore"):
                    ve[e] = np.where(open_cell, vt if e == 0 else 0.0, i_lin / gs)
        it_total = np.zeros(K, dtype=np.int64)
        res = np.full(K, np.inf)
        limited = False
        spice_ok = False
        for iteration in range(1, opt.itl1 + 1):
            # linearise every element at its voltage; condense the series chain
            i0 = []
            ge = []
            for e, (model, gs) in enumerate(els):
                i0.append(model.current(ve[e], gs))
                ge.append(model.derivative(ve[e], gs))
            with np.errstate(divide="ignore", invalid="ignore"):
                rsum = r_acc + sum(1.0 / g for g in ge)
                geff = np.where(open_cell, 0.0, 1.0 / rsum)
                shift = sum(ve[e] - i0[e] / ge[e] for e in range(len(els)))
                ieq = np.where(open_cell, 0.0, -geff * shift)
            if not np.all(np.isfinite(geff)) or not np.all(np.isfinite(ieq)):
                raise self._overflow(els, ve, i0, ge, geff, ieq)
            g = geff.reshape(K, -1)
            ie = ieq.reshape(K, -1)
            rhs_r, rhs_c = self._rhs(st, Vs, g, ie)
            # residual of the current state (nonlinear KCL, Norton form of the chain)
            res = self._residual(st, g, rhs_r, rhs_c, xr, xc)
            if not np.all(np.isfinite(res)):
                raise self._overflow(els, ve, i0, ge, geff, ieq)
            if iteration > 1 and not limited and np.all(res <= tol) and spice_ok:
                break
            xr_old, xc_old, ve_old = xr, xc, ve
            ctol = max(0.5 * tol, min(1e-6, 1e-3 * float(np.max(res))))
            xr, xc, it, lres = self._linear_solve(st, g, rhs_r, rhs_c, xr, ctol)
            it_total += 1
            vt_new = self._vtot(st, Vs, xr, xc)
            i_new = geff * vt_new + ieq
            ve = np.empty_like(ve_old)
            limited = False
            for e, (model, _gs) in enumerate(els):
                with np.errstate(divide="ignore", invalid="ignore"):
                    cand = np.where(open_cell, vt_new if e == 0 else 0.0,
                                    ve_old[e] + (i_new - i0[e]) / ge[e])
                cand, hit = model.limit(cand, ve_old[e])
                limited |= hit
                ve[e] = cand
            spice_ok = (
                _spice_close(xr, xr_old, opt.reltol, opt.vntol)
                and _spice_close(xc, xc_old, opt.reltol, opt.vntol)
                and _spice_close(ve, ve_old, opt.reltol, opt.vntol)
            )
        else:
            k = int(np.argmax(res))
            raise ConvergenceError(
                f"Newton did not converge in {opt.itl1} iterations (input {k}: relative "
                f"residual {res[k]:.3g}, tol {tol:g})",
                hint="raise Options(itl1=...), reduce the drive voltage or loosen tol",
            )
        icell = (self._elements()[0][0].current(ve[0], self._G)).reshape(K, -1)
        icell = np.where(open_cell.reshape(1, -1), 0.0, icell)
        state = {"xr": xr, "xc": xc, "ve": ve}
        return self._finish(st, Vs, V, xr, xc, icell, it_total, res, return_nodes, state)

    def _overflow(self, els, ve, i0, ge, geff, ieq) -> ConvergenceError:
        """A ConvergenceError naming the cell whose device current overflowed."""
        size = np.zeros(ieq.shape)
        for e in range(len(els)):
            size = np.maximum(size, np.nan_to_num(np.abs(i0[e]), nan=np.inf))
            size = np.maximum(size, np.nan_to_num(np.abs(ge[e]), nan=np.inf))
        size = np.maximum(size, np.nan_to_num(np.abs(ieq), nan=np.inf))
        k, i, j = (int(x) for x in np.unravel_index(int(np.argmax(size)), size.shape))
        e = int(np.argmax([np.abs(ve[n][k, i, j]) for n in range(len(els))]))
        name = type(els[e][0]).__name__
        return ConvergenceError(
            f"cell ({i}, {j}) (input {k}): the {name} current overflowed at "
            f"{ve[e][k, i, j]:.4g} V across the device during Newton (current "
            f"{i0[e][k, i, j]:.3g} A); the solution is not representable in floating point",
            hint="reduce the input voltages or the device nonlinearity (for Sinh, k * v "
            "must stay well below ~700)",
        )

    def _vtot(self, st, Vs, xr, xc):
        K = xr.shape[0]
        Vr = self._full_voltages(st.rows, xr, Vs)
        Vc = np.swapaxes(self._full_voltages(st.cols, xc, Vs), 1, 2)
        return (Vr - Vc).reshape(K, self._M, self._N)

    def _residual(self, st, g, rhs_r, rhs_c, xr, xc):
        """Relative residual ||b - A x|| / ||b|| per batch row."""

        by_row, rptr, by_col, cptr = self._orders(st)
        K = xr.shape[0]
        rows, cols = st.rows, st.cols
        if rows.uncollapsed and cols.uncollapsed and self._grid_kernel:
            qr, qc = self._apply_grid(st, g, xr, xc)
        else:
            dr = self._diag(rows, st.cell_r, g)
            dc = self._diag(cols, st.cell_c, g)
            active = np.ones(K, dtype=np.bool_)
            qr = np.empty_like(rhs_r)
            qc = np.empty_like(rhs_c)
            with _threads(self._M * self._N * K):
                self._apply_both(st, g, xr, xc, qr, qc, active, dr, dc, by_row, rptr, by_col,
                                 cptr)
        num = np.sqrt(((rhs_r - qr) ** 2).sum(axis=1) + ((rhs_c - qc) ** 2).sum(axis=1))
        den = np.sqrt((rhs_r**2).sum(axis=1) + (rhs_c**2).sum(axis=1))
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)

    def _apply_grid(self, st, g, xr, xc):
        """``A x`` split into rows (K, M*N) and columns (K, N*M) on an uncollapsed grid (numpy)."""
        M, N = self._M, self._N
        K = xr.shape[0]
        Kg = g.shape[0]
        Xr = xr.reshape(K, M, N)
        Xc = xc.reshape(K, N, M)  # column-major: [k, j, i]
        G = g.reshape(Kg, M, N)
        Gt = G.transpose(0, 2, 1)
        er = st.rows.off.reshape(M, N)[:, :-1]  # (i, j)-(i, j+1)
        ec = st.cols.off.reshape(N, M)[:, :-1]  # (i, j)-(i+1, j), indexed [j, i]
        qr = (st.rows.dfix.reshape(M, N) + G) * Xr - G * Xc.transpose(0, 2, 1)
        qr[:, :, 1:] -= er * Xr[:, :, :-1]
        qr[:, :, :-1] -= er * Xr[:, :, 1:]
        qc = (st.cols.dfix.reshape(N, M) + Gt) * Xc - Gt * Xr.transpose(0, 2, 1)
        qc[:, :, 1:] -= ec * Xc[:, :, :-1]
        qc[:, :, :-1] -= ec * Xc[:, :, 1:]
        return qr.reshape(K, -1), qc.reshape(K, -1)

    def _apply_both(self, st, g, xr, xc, qr, qc, active, dr, dc, by_row, rptr, by_col, cptr):
        from . import _kernels

        K = xr.shape[0]
        rows, cols = st.rows, st.cols
        _kernels._apply_rows(rows.ptr, rows.off, dr, rptr, st.cell_r[by_row], st.cell_c[by_row],
                             np.ascontiguousarray(g[:, by_row]), xr, xc, qr,
                             np.zeros((K, rows.L)), active)
        _kernels._apply_rows(cols.ptr, cols.off, dc, cptr, st.cell_c[by_col], st.cell_r[by_col],
                             np.ascontiguousarray(g[:, by_col]), xc, xr, qc,
                             np.zeros((K, cols.L)), active)

    # --------------------------------------------------------------- linear maps
    def transfer_matrix(self, method: str = "auto") -> np.ndarray:
        """Exact (M, N) map ``W`` [S] with ``output = V @ W`` (plus any bias offset).

        Computed once and cached; replacing ``G`` or a resistance invalidates it.
        Only for linear cells (use :meth:`linearize` otherwise).

        Parameters
        ----------
        method : {"auto", "columns", "rows", "cg"}
            ``columns``: block elimination sweeping along the columns (dense (M, M)
            blocks, cost ~ N M^3; needs rows without zero-resistance segments and
            every connected column end sensed); ``rows``: sweeping down the rows
            (dense (N, N) blocks, cost ~ M N^3 + M^2 N^2 / 2; needs columns without
            zero-resistance segments or sensed ends); ``cg``: one batched CG solve
            per unit input (tol 1e-12, always applies).  ``auto`` tries the cheaper
            elimination for the shape first (cost model in
            :mod:`xbar.crossbar._transfer`), then the other, then ``cg``;
            :attr:`transfer_method` tells which one ran.

        Raises
        ------
        ConfigError
            Nonlinear cells, an unknown method, or a forced method that does not
            apply to this topology.
        """
        if not self.is_linear:
            raise ConfigError(
                "transfer_matrix() needs linear cells; use linearize(V0) for "
                f"{type(self._device).__name__} cells"
            )
        if method not in ("auto", "columns", "rows", "cg"):
            raise ConfigError(
                f"transfer_matrix(method={method!r}); expected 'auto', 'columns', 'rows' or 'cg'"
            )
        key = "W" if method == "auto" else ("W", method)
        W = self._cache.get(key)
        if W is None:
            W = self._transfer(self._g_small().reshape(1, -1), method)
            W.setflags(write=False)
            self._cache[key] = W
            if method == "auto":
                self._cache["transfer_method"] = self._last_transfer
        return W

    def _transfer(self, g, method: str = "auto") -> np.ndarray:
        """d output / d V for cell conductances g (1, MN): block elimination or batched CG."""
        st = self._struct()
        M = self._M
        order = self._transfer_order(st) if method == "auto" else [method]
        for how in order:
            if how == "cg":
                break
            W = self._transfer_blocks(st, g) if how == "columns" else \
                _transfer.row_sweep(st, g[0], M, self._N)
            if W is not None:
                self._last_transfer = how
                return W
            if method != "auto":
                raise ConfigError(
                    f"transfer_matrix(method={method!r}) does not apply to this array "
                    "(zero-resistance segments or unsensed ends along the swept lines)",
                    hint="use method='auto'",
                )
        self._last_transfer = "cg"
        Vs = np.zeros((M, st.nsrc))
        Vs[:, 1 : M + 1] = np.eye(M)
        rhs_r, rhs_c = self._rhs(st, Vs, g)
        xr, xc, it, res = self._linear_solve(st, g, rhs_r, rhs_c, None, 1e-12)
        Vr = self._full_voltages(st.rows, xr, Vs).reshape(M, -1)
        Vc = np.swapaxes(self._full_voltages(st.cols, xc, Vs), 1, 2).reshape(M, -1)
        icell = g * (Vr - Vc)
        V = np.eye(M)
        sol = self._finish(st, Vs, V, xr, xc, icell, np.zeros(M, int), np.zeros(M), False, None)
        return sol.output

    def _transfer_order(self, st) -> list[str]:
        """Exact eliminations to try, cheapest first by the measured cost model."""
        M, N = self._M, self._N
        col_sweeps = max(1, int(np.any(st.driven[:, 0])) + int(np.any(st.driven[:, 1])))
        row_sweeps = max(1, int(np.any(st.sensed[:, 0])) + int(np.any(st.sensed[:, 1])))
        c_col = _transfer.column_cost(M, N, col_sweeps)
        c_row = _transfer.row_cost(M, N, row_sweeps)
        return ["columns", "rows"] if c_col <= c_row else ["rows", "columns"]

    @property
    def transfer_method(self) -> str | None:
        """How the cached :meth:`transfer_matrix` was computed: ``"columns"`` (block sweep
        along the columns, cost ~ N M^3), ``"rows"`` (sweep down the rows, cost
        ~ M N^3 + M^2 N^2 / 2), ``"cg"`` (batched CG fallback) or None (not computed yet)."""
        return self._cache.get("transfer_method")

    def _transfer_blocks(self, st, g):
        """Exact W by block elimination, or None when the structure does not allow it.

        Unknowns are the row nodes after the columns are eliminated exactly
        (Schur complement): a block-tridiagonal matrix whose block ``j`` is the
        dense (M, M) coupling of the row nodes in column ``j`` and whose
        off-diagonal blocks are the (diagonal) row-wire conductances.  Inputs
        enter only at the first (last) block, and column ``j``'s output is a
        linear functional ``a_j . x_j`` of block ``j``, so only the first (last)
        block row of the inverse is needed.  By symmetry, ``W[:, j] = g_in * (S^-1 y_j)_0``
        with ``y_j`` = ``a_j`` placed in block ``j``: one elimination sweep from the far
        end (Schur complements ``R_t``, all N right-hand sides carried along, only the
        columns already reached are nonzero) and ``Y_0 = R_0^-1 yhat_0``; no back
        substitution.  Cost ``2 N M^3`` (BLAS), memory ``O(M N)``.
        """
        from scipy.linalg import lapack, solveh_banded

        rows, cols = st.rows, st.cols
        M, N = self._M, self._N
        if not rows.uncollapsed or M < 2 or N * M * M * 8 > 1.5e9:
            return None
        # every connected column end must be a sensed end (output = total cell current)
        if np.any((cols.end_src >= 0) & ~st.sensed):
            return None
        gc = g[0].reshape(M, N)
        dr = self._diag(rows, st.cell_r, g)[0].reshape(M, N)
        dc = self._diag(cols, st.cell_c, g)[0]
        cell_c = st.cell_c.reshape(M, N)
        e = rows.off.reshape(M, N)  # coupling (i, j) - (i, j+1)
        gL = np.where(st.driven[:, 0], rows.seg_g[:, 0], 0.0)
        gR = np.where(st.driven[:, 1], rows.seg_g[:, N], 0.0)
        if not (np.all(np.isfinite(gL)) and np.all(np.isfinite(gR))):
            return None

        def block(j):
            """Schur block S_jj (M, M) and output functional a_j (M,)."""
            S = np.diag(dr[:, j])
            gj = gc[:, j]
            a = gj.copy()
            s0, s1 = cols.ptr[j], cols.ptr[j + 1]
            m = s1 - s0
            if m:
                ab = np.zeros((2, m))
                ab[0, 1:] = -cols.off[s0 : s1 - 1]
                ab[1] = dc[s0:s1]
                if m == 1:  # scipy's banded solver rejects a 1 x 1 system
                    Tinv = np.array([[1.0 / dc[s0]]])
                else:
                    Tinv = solveh_banded(ab, np.eye(m), check_finite=False)
                idx = cell_c[:, j]
                ii = np.nonzero(idx >= 0)[0]
                loc = idx[ii] - s0
                P = Tinv[np.ix_(loc, loc)] * gj[ii][:, None] * gj[ii][None, :]
                S[np.ix_(ii, ii)] -= P
                a[ii] -= P.sum(axis=1)
            return S, a

        def inv_spd(S, j):
            c, info = lapack.dpotrf(S, lower=0)
            if info != 0:
                raise SingularCircuitError(f"block elimination failed at column {j} (info {info})")
            Ci, info = lapack.dpotri(c, lower=0)
            return np.triu(Ci) + np.triu(Ci, 1).T

        W = np.zeros((M, N))
        for order, gin in ((range(N), gL), (range(N - 1, -1, -1), gR)):
            if not np.any(gin):
                continue
            js = list(order)  # near end first; eliminate from the far end towards it
            yh = np.zeros((M, N))  # rhs columns in elimination order: column t <-> js[t]
            Rinv = None
            for t in range(N - 1, -1, -1):
                j = js[t]
                S, a = block(j)
                if Rinv is not None:
                    ec = e[:, min(j, js[t + 1])]
                    S -= ec[:, None] * Rinv * ec[None, :]
                    yh[:, t + 1 :] = ec[:, None] * (Rinv @ yh[:, t + 1 :])
                yh[:, t] = a
                Rinv = inv_spd(S, j)
            Y0 = Rinv @ yh  # block 0 of S^-1 applied to every output functional
            W[:, js] += gin[:, None] * Y0
        return W

    def linearize(self, V0) -> LinearizedCrossbar:
        """Small-signal map around the operating point ``V0`` (M,) (cached per ``V0``).

        Returns
        -------
        LinearizedCrossbar
            ``.operating_output`` (N,) [A] and ``.W`` (M, N) [S] with
            ``output(V0 + dV) ~= operating_output + dV @ W``.
        """
        V0 = self._inputs(V0)
        if V0.shape[0] != 1:
            raise ShapeError(f"linearize needs one operating point of shape ({self._M},)")
        key = ("lin", V0.tobytes())
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        sol = self.solve(V0, return_nodes=False)
        if self.is_linear:
            W = self.transfer_matrix()
        else:
            ve = sol._state["ve"]
            els = self._elements()
            with np.errstate(divide="ignore"):
                rsum = np.broadcast_to(self._r_access, (self._M, self._N)) + sum(
                    1.0 / model.derivative(ve[e][0], gs) for e, (model, gs) in enumerate(els)
                )
                geff = np.where(self._G > 0, 1.0 / rsum, 0.0)
            W = self._transfer(geff.reshape(1, -1))
        lin = LinearizedCrossbar(V0=V0[0], operating_output=sol.output[0], W=W)
        self._cache[key] = lin
        return lin

    # --------------------------------------------------------------- export
    def to_netlist(self, path=None, V=None, **kw) -> str:
        """Write the identical circuit as a SPICE netlist; see :func:`xbar.crossbar.to_netlist`."""
        from .netlist import to_netlist

        return to_netlist(self, path, V, **kw)


# ----------------------------------------------------------------------------- helpers
PARALLEL_MIN_WORK = 1 << 20  # cells x inputs below which the kernels run on one thread
BATCH_CELLS = 1 << 16  # Newton batches are solved in chunks of about this many cells x inputs


class _threads:
    """Run small solves on one numba thread.

    Each CG step opens four parallel regions; below about a million cell-inputs
    their barriers cost more than the second core saves, and on an oversubscribed
    machine (2 cores shared by many jobs) a region can wait a whole scheduler
    slice for a descheduled worker (measured: 0.6 ms serial vs 400 ms parallel at
    64x64).  Batches are chunked (``BATCH_CELLS``) so they stay serial too.
    """

    def __init__(self, work: int):
        self.serial = work < PARALLEL_MIN_WORK

    def __enter__(self):
        if self.serial:
            import numba

            self.prev = numba.get_num_threads()
            numba.set_num_threads(1)

    def __exit__(self, *exc):
        if self.serial:
            import numba

            numba.set_num_threads(self.prev)


def _spice_close(new, old, reltol, vntol) -> bool:
    return bool(np.all(np.abs(new - old) <= reltol * np.maximum(np.abs(new), np.abs(old)) + vntol))


def _warm(ws, key, K, axis=0):
    if ws is None or ws._state is None or key not in ws._state:
        return None
    x = ws._state[key]
    k0 = x.shape[axis]
    if k0 == K:
        return np.array(x, dtype=float)
    if k0 == 1:
        return np.repeat(x, K, axis=axis)
    raise ShapeError(f"warm_start has batch size {k0}; expected {K} or 1")


def _slice_state(ws, a, b):
    if ws is None or ws._state is None:
        return ws
    K = ws.output.shape[0]
    if K == 1:
        return ws
    st = {k: (v[:, a:b] if k == "ve" else v[a:b]) for k, v in ws._state.items()}
    return CrossbarSolution(ws.output[a:b], ws.input_currents[a:b], ws.iterations[a:b],
                            ws.residual[a:b], ws.inputs[a:b], _state=st)


def _concat(parts):
    def cat(name):
        vals = [getattr(p, name) for p in parts]
        return None if vals[0] is None else np.concatenate(vals, axis=0)

    st = None
    if parts[0]._state is not None:
        st = {}
        for k in parts[0]._state:
            st[k] = np.concatenate([p._state[k] for p in parts], axis=1 if k == "ve" else 0)
    return CrossbarSolution(
        output=cat("output"),
        input_currents=cat("input_currents"),
        iterations=cat("iterations"),
        residual=cat("residual"),
        inputs=cat("inputs"),
        row_voltages=cat("row_voltages"),
        col_voltages=cat("col_voltages"),
        cell_currents=cat("cell_currents"),
        _state=st,
    )
