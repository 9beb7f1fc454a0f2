"""Modified nodal analysis: unknown layout, sparsity pattern and assembly.

The unknowns of a circuit are the node voltages (ground eliminated), the
internal nodes of diodes with a series resistance, and the branch currents
of voltage sources (``V``) and voltage-controlled voltage sources (``E``).

:meth:`Pattern.build` computes the CSR structure once (COO keys -> unique ->
``indptr``/``indices``) and, for every element stamp, its slot in the CSR
``data`` array.  Assembling new values is then a scatter-add of parameter
values into the fixed pattern: :func:`xbar.spice._kernels.scatter_add` (numba) or
:func:`scatter_add_numpy` (the reference twin, ``np.bincount``).  Entries
whose value is zero keep their slot; the pattern is never compressed.

Every stamp is ``A[row, col] += sign * params[pidx]``.  There are two
parameter vectors:

* linear parameters (constant during Newton): resistor conductances, VCCS
  gains, VCVS gains, the constant ``1`` of branch equations and diode series
  conductances;
* nonlinear parameters (new every Newton iteration): diode junction
  conductances and behavioural-source derivatives ``dI/dV``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..errors import CircuitError, ValueRangeError
from .circuit import Circuit


@dataclass
class Layout:
    """Where each circuit quantity sits in the unknown vector.

    Extended node numbers are the circuit's node indices followed by the
    internal nodes of diodes with ``RS > 0``.  The unknown of extended node
    ``k >= 1`` is ``k - 1``; ground (0) has none.  Branch ``j`` (V sources
    first, then E sources) is unknown ``n_ext - 1 + j``.

    Attributes
    ----------
    n_ext : int
        Number of extended nodes, ground included.
    n_branch : int
        Number of branch-current unknowns.
    diode_prime : ndarray of int
        Extended node of each diode's internal anode (the anode itself when
        ``RS == 0``).
    names : list of str
        A readable name per unknown: node names, ``"<diode>#internal"`` and
        ``"<source>#branch"``.
    """

    n_nodes: int
    n_ext: int
    n_branch: int
    diode_prime: np.ndarray
    names: list[str]

    @property
    def size(self) -> int:
        """Number of unknowns."""
        return self.n_ext - 1 + self.n_branch

    @property
    def n_voltage(self) -> int:
        """Number of voltage unknowns (nodes and internal nodes)."""
        return self.n_ext - 1

    @classmethod
    def of(cls, circuit: Circuit) -> Layout:
        n_nodes = circuit.n_nodes
        d = circuit.diodes
        prime = np.asarray(d.npos, dtype=np.int64).copy()
        names = list(circuit.node_names[1:])
        nxt = n_nodes
        for k, model in enumerate(d.model):
            if model.rs > 0:
                prime[k] = nxt
                nxt += 1
                names.append(f"{d.name[k]}#internal")
        n_branch = len(circuit.vsources) + len(circuit.vcvs)
        names += [f"{n}#branch" for n in circuit.vsources.name]
        names += [f"{n}#branch" for n in circuit.vcvs.name]
        return cls(n_nodes, nxt, n_branch, prime, names)


@dataclass
class Stamps:
    """A list of matrix stamps ``A[rows[k], cols[k]] += signs[k] * params[pidx[k]]``."""

    rows: np.ndarray
    cols: np.ndarray
    signs: np.ndarray
    pidx: np.ndarray
    slots: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @classmethod
    def collect(cls, parts: list[tuple]) -> Stamps:
        """Concatenate ``(rows, cols, signs, pidx)`` parts, dropping ground stamps.

        Rows and columns are unknown indices where ``-1`` stands for ground.
        """
        if not parts:
            z = np.zeros(0, dtype=np.int64)
            return cls(z, z.copy(), np.zeros(0), z.copy())
        rows = np.concatenate([np.asarray(p[0], dtype=np.int64).ravel() for p in parts])
        cols = np.concatenate([np.asarray(p[1], dtype=np.int64).ravel() for p in parts])
        signs = np.concatenate(
            [
                np.broadcast_to(np.asarray(p[2], dtype=np.float64), np.shape(p[0])).ravel()
                for p in parts
            ]
        )
        pidx = np.concatenate(
            [
                np.broadcast_to(np.asarray(p[3], dtype=np.int64), np.shape(p[0])).ravel()
                for p in parts
            ]
        )
        keep = (rows >= 0) & (cols >= 0)
        return cls(rows[keep], cols[keep], signs[keep], pidx[keep])

    def __len__(self) -> int:
        return len(self.rows)


def _two_terminal(a, b, pidx):
    """The four conductance stamps of elements between unknowns ``a`` and ``b``."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    pidx = np.asarray(pidx, dtype=np.int64)
    return (
        np.stack([a, b, a, b]),
        np.stack([a, b, b, a]),
        _signs([1.0, 1.0, -1.0, -1.0], a),
        np.stack([pidx] * 4),
    )


def _signs(values, like):
    """Sign vector shaped to broadcast against ``np.stack([like] * len(values))``."""
    return np.asarray(values, dtype=np.float64).reshape((-1,) + (1,) * np.ndim(like))


def _controlled(out_p, out_n, c_p, c_n, pidx):
    """Stamps ``+p`` at (out_p, c_p), ``-p`` at (out_p, c_n), negated on row ``out_n``."""
    return (
        np.stack([out_p, out_p, out_n, out_n]),
        np.stack([c_p, c_n, c_p, c_n]),
        _signs([1.0, -1.0, -1.0, 1.0], out_p),
        np.stack([np.asarray(pidx, dtype=np.int64)] * 4),
    )


class _Offsets(NamedTuple):
    """Where each block starts in the linear parameter vector."""

    G: int  # VCCS gains
    E: int  # VCVS gains
    one: int  # the constant 1 of the V/E branch stamps
    rs: int  # diode series conductances
    rs_idx: list[int]  # diodes with a series resistance


def _linear_params(circuit: Circuit, options) -> tuple[np.ndarray, _Offsets]:
    """The linear parameter vector (1/R, G and E gains, 1, diode 1/RS) and its offsets."""
    R, G, E, D = circuit.resistors, circuit.vccs, circuit.vcvs, circuit.diodes
    nR = len(R)
    rvals = np.asarray(R.value, dtype=np.float64)
    if nR and (not np.all(np.isfinite(rvals)) or np.any(rvals == 0)):
        k = int(np.flatnonzero(~np.isfinite(rvals) | (rvals == 0))[0])
        raise ValueRangeError(
            f"resistor {R.name[k]} has value {float(rvals[k]):g}; a resistance must be finite "
            "and non-zero",
            location=circuit.locations.get(R.name[k]),
        )
    rs_idx = [k for k, m in enumerate(D.model) if m.rs > 0]
    g_rs = np.array([D.series_conductance(k, options) for k in rs_idx], dtype=np.float64)
    off_E = nR + len(G)
    off = _Offsets(nR, off_E, off_E + len(E), off_E + len(E) + 1, rs_idx)
    params = np.concatenate(
        [
            1.0 / rvals if nR else np.zeros(0),
            np.asarray(G.gain, dtype=np.float64),
            np.asarray(E.gain, dtype=np.float64),
            [1.0],
            g_rs,
        ]
    )
    return params, off


def _branch_stamps(u: np.ndarray, T, b: np.ndarray, one: int) -> tuple:
    """The +-1 stamps of V or E branches ``b`` between their terminals."""
    ones = np.full(len(T), one)
    return (
        np.stack([u[T.npos], u[T.nneg], b, b]),
        np.stack([b, b, u[T.npos], u[T.nneg]]),
        np.array([1.0, -1.0, 1.0, -1.0])[:, None],
        np.stack([ones] * 4),
    )


def _linear_stamps(circuit: Circuit, lay: Layout, u: np.ndarray, off: _Offsets) -> Stamps:
    """Stamps of resistors, G and E sources, V branches and diode series resistances."""
    R, V, G, E, D = circuit.resistors, circuit.vsources, circuit.vccs, circuit.vcvs, circuit.diodes
    nR, nG, nE, nV = len(R), len(G), len(E), len(V)
    parts = []
    if nR:
        parts.append(_two_terminal(u[R.npos], u[R.nneg], np.arange(nR)))
    if nG:
        parts.append(_controlled(u[G.npos], u[G.nneg], u[G.cpos], u[G.cneg], off.G + np.arange(nG)))
    br = lay.n_voltage + np.arange(nV + nE)
    if nV:
        parts.append(_branch_stamps(u, V, br[:nV], off.one))
    if nE:
        b = br[nV:]
        parts.append(_branch_stamps(u, E, b, off.one))
        gidx = off.E + np.arange(nE)
        parts.append(
            (
                np.stack([b, b]),
                np.stack([u[E.cpos], u[E.cneg]]),
                np.array([-1.0, 1.0])[:, None],
                np.stack([gidx, gidx]),
            )
        )
    if off.rs_idx:
        anode = np.asarray(D.npos, dtype=np.int64)[off.rs_idx]
        prime = lay.diode_prime[off.rs_idx]
        parts.append(_two_terminal(u[anode], u[prime], off.rs + np.arange(len(off.rs_idx))))
    return Stamps.collect(parts)


def _nonlinear_stamps(
    circuit: Circuit, lay: Layout, u: np.ndarray
) -> tuple[Stamps, list[BGroup], int]:
    """Stamps of diode conductances and behavioural-source derivatives, the source
    groups and the number of derivative parameters."""
    D = circuit.diodes
    nD = len(D)
    parts = []
    if nD:
        parts.append(_two_terminal(u[lay.diode_prime], u[np.asarray(D.nneg)], np.arange(nD)))
    bgroups = _group_bsources(circuit, nD, lay.n_ext)
    n_bderiv = 0
    for g in bgroups:
        n, m = g.controls.shape[:2]
        pid = g.deriv_offset + np.arange(n * m).reshape(n, m)
        op = np.repeat(u[g.npos][:, None], m, axis=1)
        on = np.repeat(u[g.nneg][:, None], m, axis=1)
        parts.append(_controlled(op, on, u[g.controls[:, :, 0]], u[g.controls[:, :, 1]], pid))
        n_bderiv += n * m
    return Stamps.collect(parts), bgroups, n_bderiv


def _csr_structure(
    lay: Layout, linear: Stamps, nonlinear: Stamps
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR ``indptr`` and ``indices`` of every stamp and node diagonal, and the diagonal
    slots; sets the stamps' ``slots`` in place."""
    n, nv = lay.size, lay.n_voltage
    diag = np.arange(nv, dtype=np.int64)
    keys = np.concatenate(
        [linear.rows * n + linear.cols, nonlinear.rows * n + nonlinear.cols, diag * n + diag]
    )
    ukeys = np.unique(keys)
    rows = ukeys // n
    indices = (ukeys % n).astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    linear.slots = np.searchsorted(ukeys, linear.rows * n + linear.cols)
    nonlinear.slots = np.searchsorted(ukeys, nonlinear.rows * n + nonlinear.cols)
    return indptr, indices, np.searchsorted(ukeys, diag * n + diag)


def _source_matrix(circuit: Circuit, lay: Layout, u: np.ndarray) -> sp.csr_matrix:
    """Right-hand side per unit value of each independent source (V, then I)."""
    V, I = circuit.vsources, circuit.isources
    nV, nI = len(V), len(I)
    br = lay.n_voltage + np.arange(nV)
    srows = [br, u[I.npos], u[I.nneg]]
    scols = [np.arange(nV), nV + np.arange(nI), nV + np.arange(nI)]
    svals = [np.ones(nV), -np.ones(nI), np.ones(nI)]
    return _sparse(srows, scols, svals, lay.size, nV + nI)


def _companion_matrix(
    circuit: Circuit, lay: Layout, u: np.ndarray, bgroups: list[BGroup]
) -> sp.csr_matrix:
    """Right-hand side of the nonlinear companion currents: columns are the diodes'
    ``cdeq`` (one per diode), then one ``ieq`` per behavioural source."""
    D = circuit.diodes
    nD = len(D)
    rrows, rcols, rvals = [], [], []
    if nD:
        rrows += [u[np.asarray(D.nneg)], u[lay.diode_prime]]
        rcols += [np.arange(nD)] * 2
        rvals += [np.ones(nD), -np.ones(nD)]
    for g in bgroups:
        rrows += [u[g.npos], u[g.nneg]]
        rcols += [nD + g.members] * 2
        rvals += [-np.ones(len(g.members)), np.ones(len(g.members))]
    return _sparse(rrows, rcols, rvals, lay.size, nD + len(circuit.bsources))


@dataclass
class BGroup:
    """Behavioural sources sharing one expression form, evaluated in one call.

    ``controls`` has shape (n sources, n controls, 2): extended node numbers
    of each ``V(a, b)``.  ``deriv_offset`` is where this group's derivatives
    start in the nonlinear parameter vector (source-major, control-minor).
    """

    expr: object
    members: np.ndarray
    npos: np.ndarray
    nneg: np.ndarray
    controls: np.ndarray
    deriv_offset: int

    @property
    def n_controls(self) -> int:
        return self.controls.shape[1]


@dataclass
class Pattern:
    """The fixed CSR structure of a circuit's MNA matrix plus stamp slots.

    Build with :meth:`build`; then :meth:`linear_data` gives the constant part
    of ``csr.data`` and :meth:`assemble` adds the nonlinear part.
    """

    layout: Layout
    indptr: np.ndarray
    indices: np.ndarray
    linear: Stamps
    nonlinear: Stamps
    diag_slots: np.ndarray
    linear_params: np.ndarray
    source_matrix: sp.csr_matrix
    source_names: list[str]
    nl_rhs_matrix: sp.csr_matrix
    bgroups: list[BGroup]
    n_diode: int
    n_bderiv: int

    @property
    def size(self) -> int:
        return self.layout.size

    @property
    def nnz(self) -> int:
        return len(self.indices)

    @classmethod
    def build(cls, circuit: Circuit, options=None) -> Pattern:
        """Compute the sparsity pattern and stamp slots of ``circuit``.

        ``options`` (default ``circuit.options``) sets the temperature of the
        temperature-dependent linear parts (diode series resistances).
        """
        if len(circuit.mosfets):
            raise CircuitError(
                "Pattern.build needs the MOSFETs as devices: "
                "xbar.spice.mosfet.expand_mosfets(circuit) first"
            )
        options = circuit.options if options is None else options
        lay = Layout.of(circuit)
        u = _unknown_map(lay.n_ext + lay.n_branch)  # branch j: extended index n_ext + j
        params, off = _linear_params(circuit, options)
        linear = _linear_stamps(circuit, lay, u, off)
        nonlinear, bgroups, n_bderiv = _nonlinear_stamps(circuit, lay, u)
        indptr, indices, diag_slots = _csr_structure(lay, linear, nonlinear)
        V, I = circuit.vsources, circuit.isources
        return cls(
            lay,
            indptr,
            indices,
            linear,
            nonlinear,
            diag_slots,
            params,
            _source_matrix(circuit, lay, u),
            list(V.name) + list(I.name),
            _companion_matrix(circuit, lay, u, bgroups),
            bgroups,
            len(circuit.diodes),
            n_bderiv,
        )

    # ---- assembly --------------------------------------------------------
    def linear_data(self, params: np.ndarray | None = None) -> np.ndarray:
        """``csr.data`` of the linear stamps (numpy reference assembly)."""
        p = self.linear_params if params is None else params
        return scatter_add_numpy(self.nnz, self.linear, p)

    def assemble(
        self, base: np.ndarray, nl_params: np.ndarray, *, gshunt: float = 0.0, kernel: str = "numpy"
    ) -> np.ndarray:
        """``csr.data``: ``base`` plus nonlinear stamps and ``gshunt`` on node diagonals.

        ``kernel`` is ``"numpy"`` (bincount) or ``"numba"`` (scatter-add kernel).
        """
        if kernel == "numba":
            from ._kernels import scatter_add

            data = base.copy()
            nl = self.nonlinear
            scatter_add(data, nl.slots, nl.signs, nl.pidx, nl_params)
        else:
            data = base + scatter_add_numpy(self.nnz, self.nonlinear, nl_params)
        if gshunt:
            data[self.diag_slots] += gshunt
        return data

    def residual(
        self, b: np.ndarray, x: np.ndarray, nl_params: np.ndarray | None = None, gshunt: float = 0.0
    ) -> np.ndarray:
        """``b - A x`` computed from the stamps, not from the assembled matrix.

        Each stamp's product ``sign * param * x[col]`` is formed on its own and the
        products of a row are summed in extended precision, so a diagonal such as
        ``1 + 4e-5`` (rounded when assembled) does not lose the small conductance:
        the residual that iterative refinement needs in nearly singular circuits.
        ``x`` is a vector or a block (columns).
        """
        rows, cols, vals = self._residual_terms(nl_params, gshunt)
        order = self.__dict__.get("_res_order")
        if order is None or len(order) != len(rows):
            order = np.argsort(rows, kind="stable")
            srows = rows[order]
            starts = (
                np.flatnonzero(np.r_[True, srows[1:] != srows[:-1]])
                if len(srows)
                else np.zeros(0, dtype=np.int64)
            )
            self.__dict__["_res_order"] = order
            self.__dict__["_res_starts"] = (starts, srows[starts] if len(srows) else starts)
        starts, urows = self.__dict__["_res_starts"]
        x = np.asarray(x, dtype=np.float64)
        v = vals[order]
        prod = (v[:, None] * x[cols[order]]) if x.ndim == 2 else v * x[cols[order]]
        r = np.asarray(b, dtype=np.longdouble).copy()
        if len(prod):
            r[urows] -= np.add.reduceat(prod.astype(np.longdouble), starts, axis=0)
        return r.astype(np.float64)

    def _residual_terms(self, nl_params, gshunt):
        lin, nl = self.linear, self.nonlinear
        parts_r = [lin.rows]
        parts_c = [lin.cols]
        parts_v = [lin.signs * self.linear_params[lin.pidx]]
        if len(nl) and nl_params is not None and len(nl_params):
            parts_r.append(nl.rows)
            parts_c.append(nl.cols)
            parts_v.append(nl.signs * np.asarray(nl_params, dtype=np.float64)[nl.pidx])
        elif len(nl):  # nonlinear stamps present but no values: zeros keep the layout
            parts_r.append(nl.rows)
            parts_c.append(nl.cols)
            parts_v.append(np.zeros(len(nl)))
        nv = self.layout.n_voltage
        diag = np.arange(nv, dtype=np.int64)
        parts_r.append(diag)
        parts_c.append(diag)
        parts_v.append(np.full(nv, float(gshunt)))
        return np.concatenate(parts_r), np.concatenate(parts_c), np.concatenate(parts_v)

    def matrix(self, data: np.ndarray) -> sp.csr_matrix:
        """A CSR matrix sharing this pattern's structure with values ``data``."""
        n = self.size
        return sp.csr_matrix((data, self.indices, self.indptr), shape=(n, n))


def scatter_add_numpy(nnz: int, stamps: Stamps, params: np.ndarray) -> np.ndarray:
    """Reference assembly: ``data[slot] += sign * params[pidx]`` via ``np.bincount``."""
    if len(stamps) == 0:
        return np.zeros(nnz)
    w = stamps.signs * np.asarray(params, dtype=np.float64)[stamps.pidx]
    return np.bincount(stamps.slots, weights=w, minlength=nnz)


def _unknown_map(n_ext: int) -> np.ndarray:
    """Extended node number -> unknown index (ground -> -1)."""
    return np.arange(-1, n_ext - 1, dtype=np.int64)


def _sparse(rows, cols, vals, n, m) -> sp.csr_matrix:
    if rows:
        r = np.concatenate([np.asarray(x, dtype=np.int64) for x in rows])
        c = np.concatenate([np.asarray(x, dtype=np.int64) for x in cols])
        v = np.concatenate([np.asarray(x, dtype=np.float64) for x in vals])
    else:
        r = c = np.zeros(0, dtype=np.int64)
        v = np.zeros(0)
    keep = r >= 0
    return sp.csr_matrix((v[keep], (r[keep], c[keep])), shape=(n, m))


def _extended_index(k, n_ext: int) -> np.ndarray:
    """Circuit node index -> extended index; ``-(j+1)`` (branch ``j``) -> ``n_ext + j``."""
    k = np.asarray(k, dtype=np.int64)
    return np.where(k >= 0, k, n_ext - k - 1)


def _group_bsources(circuit: Circuit, first_param: int, n_ext: int) -> list[BGroup]:
    """Group behavioural sources so that each group is evaluated in one vectorised call.

    Sources whose expressions share a structure and differ only in numeric
    constants (``I = G_ij/k*sinh(k*V)`` with a different ``G_ij`` per cell) form
    one group evaluated by a :class:`TemplateExpression` holding the constants
    as arrays; otherwise sources are grouped by the expression's ``canonical``
    form (identical up to which nodes ``V()`` refers to).
    """
    groups: dict[tuple, list[int]] = {}
    consts: dict[tuple, list[list[float]]] = {}
    for k, b in enumerate(circuit.bsources):
        tmpl = _template_key(b.expr)
        if tmpl is not None:
            key = ("template", tmpl[0], len(b.controls))
            consts.setdefault(key, []).append(tmpl[1])
        else:
            key = ("canonical", getattr(b.expr, "canonical", None) or f"#{k}", len(b.controls))
        groups.setdefault(key, []).append(k)
    out = []
    offset = first_param
    for key, members in groups.items():
        srcs = [circuit.bsources[k] for k in members]
        m = len(srcs[0].controls)
        ctrl = np.array([[list(c) for c in s.controls] for s in srcs], dtype=np.int64)
        ctrl = _extended_index(ctrl.reshape(len(srcs), m, 2), n_ext)
        expr = srcs[0].expr
        if hasattr(expr, "merged"):  # devices with per-source parameters (switches)
            expr = expr.merged([s.expr for s in srcs])
        if key[0] == "template" and len({s.expr.canonical for s in srcs}) > 1:
            expr = TemplateExpression(expr._ast, np.array(consts[key], dtype=np.float64).T)
        out.append(
            BGroup(
                expr,
                np.array(members, dtype=np.int64),
                _extended_index([s.npos for s in srcs], n_ext),
                _extended_index([s.nneg for s in srcs], n_ext),
                ctrl,
                offset,
            )
        )
        offset += len(srcs) * m
    return out


def _template_key(expr) -> tuple[str, list[float]] | None:
    """Structure key and numeric constants of an expression's syntax tree.

    Constants used as the exponent of ``^`` stay part of the structure (the
    compiled power special-cases them).  Returns None when the expression
    carries no syntax tree (then grouping falls back to ``canonical``).
    """
    ast = getattr(expr, "_ast", None)
    if not isinstance(ast, tuple):
        return None
    values: list[float] = []

    def walk(node, exponent=False) -> str:
        kind = node[0]
        if kind == "const":
            if exponent:
                return repr(float(node[1]))
            values.append(float(node[1]))
            return "C"
        if kind == "ctl":
            return f"V#{node[1]}"
        if kind in ("neg", "not"):
            return f"{kind}({walk(node[1])})"
        if kind == "bin":
            return f"({walk(node[2])}{node[1]}{walk(node[3], node[1] == '^')})"
        if kind == "call":
            return f"{node[1]}(" + ",".join(walk(a) for a in node[2]) + ")"
        if kind == "cond":
            return f"({walk(node[1])}?{walk(node[2])}:{walk(node[3])})"
        raise ValueError(kind)

    try:
        return walk(ast), values
    except (ValueError, IndexError, TypeError):
        return None


class TemplateExpression:
    """One expression structure with per-source constants, evaluated in one call.

    Parameters
    ----------
    ast : tuple
        The syntax tree of one member (:mod:`xbar.spice.expr` format).
    constants : ndarray, shape (n constants, n sources)
        Each member's constants, in the tree's walk order.
    """

    def __init__(self, ast, constants: np.ndarray):
        from .expr import compile_node

        self._ast = ast
        self.constants = constants
        it = iter(range(constants.shape[0]))

        def subst(node, exponent=False):
            kind = node[0]
            if kind == "const":
                return node if exponent else ("const", constants[next(it)])
            if kind in ("neg", "not"):
                return (kind, subst(node[1]))
            if kind == "bin":
                return ("bin", node[1], subst(node[2]), subst(node[3], node[1] == "^"))
            if kind == "call":
                return ("call", node[1], [subst(a) for a in node[2]])
            if kind == "cond":
                return ("cond", subst(node[1]), subst(node[2]), subst(node[3]))
            return node

        self._fn = compile_node(subst(ast))
        self.n_controls = None

    def take(self, idx) -> TemplateExpression:
        """The same template restricted to the sources ``idx``."""
        return TemplateExpression(self._ast, self.constants[:, idx])

    def evaluate(self, v):
        """Value and derivatives for all sources of the group (like Expression.evaluate)."""
        arrs = [np.asarray(x, dtype=float) for x in v]
        shape = (self.constants.shape[1],)
        with np.errstate(all="ignore"):
            val, ds = self._fn(arrs)
        val = np.broadcast_to(np.asarray(val, dtype=float), shape)
        derivs = [
            np.broadcast_to(np.asarray(ds.get(k, 0.0), dtype=float), shape)
            for k in range(len(arrs))
        ]
        return val, derivs
