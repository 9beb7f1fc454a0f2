"""Power of a solved crossbar: what the sources deliver and where it is dissipated.

Everything is computed from the solved node voltages (and, for nonlinear
cells, the voltages across each series element), never from an average per
cell:

* **supplied**: ``sum V_s I_s`` over every ideal source (the inputs, any line-end
  biases; the sense amplifiers' virtual grounds sit at 0 V and deliver nothing),
  with ``I_s`` the current each source delivers into its line end;
* **row / column wires**: ``sum g (V_a - V_b)^2`` over the internal segments plus
  ``I^2 r_wire`` over each connected end segment;
* **drivers / sense**: ``I^2 r_driver`` and ``I^2 r_sense`` of the end currents;
* **cells**: ``I v`` over the memory devices (``G v^2`` for linear cells),
  **selectors**: ``I v`` over the 1S1R selectors, **access**: ``I^2 r_access``
  over the 1T1R access resistances.

By Tellegen's theorem the parts sum to the supplied power; the balance holds to
the solve's relative KCL residual (``tol``, 1e-10 by default), which
:attr:`ArrayPower.balance_error` reports.

For linear cells without biased line ends every part is a quadratic form of the
input voltages, ``P_c(V) = V^T Q_c V``; :func:`quadratic_forms` builds the
(M, M) matrices ``Q_c`` from one batched solve of the M unit inputs, after which
the power of any input (or the summed energy of a whole batch, through its Gram
matrix ``V^T V``) costs a matrix product.

>>> import numpy as np, xbar
>>> xb = xbar.Crossbar(np.full((3, 2), 1e-4), r_row=2.0, r_col=2.0, r_driver=10.0)
>>> p = xb.solve([0.2, 0.1, 0.3]).power
>>> bool(abs(p.supplied[0] - p.dissipated[0]) < 1e-12 * p.supplied[0])
True
>>> forms = xb.power_forms()
>>> bool(np.isclose(forms.power([0.2, 0.1, 0.3]).cells[0], p.cells[0], rtol=1e-9))
True
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..checks import real_array
from .structure import Family, end_currents
from .system import CrossbarSystem, node_voltages, source_voltages

__all__ = [
    "ArrayPower",
    "PowerForms",
    "PARTS",
    "solution_power",
    "quadratic_forms",
    "unit_responses",
    "forms_of",
]

#: The dissipating parts of an array, in reporting order.
PARTS = ("cells", "selectors", "access", "row_wires", "col_wires", "drivers", "sense")


@dataclass
class ArrayPower:
    """Power [W] of a batch of array solves, one entry per input (shape (K,) each).

    Attributes
    ----------
    supplied : array (K,)
        Net power delivered by every ideal source (inputs and line-end biases).
    inputs : array (K,)
        Power delivered by the input sources alone.
    cells, selectors, access : array (K,)
        Dissipated in the memory devices, the 1S1R selectors, the 1T1R access resistances.
    row_wires, col_wires : array (K,)
        Dissipated in the row / column wire segments (end segments included).
    drivers, sense : array (K,)
        Dissipated in the driver and sense resistances (``r_driver``, ``r_sense``).
    """

    supplied: np.ndarray
    inputs: np.ndarray
    cells: np.ndarray
    selectors: np.ndarray
    access: np.ndarray
    row_wires: np.ndarray
    col_wires: np.ndarray
    drivers: np.ndarray
    sense: np.ndarray

    @property
    def dissipated(self) -> np.ndarray:
        """Sum of every dissipating part [W], (K,)."""
        return sum(getattr(self, name) for name in PARTS)

    @property
    def wires(self) -> np.ndarray:
        """Row plus column wires [W], (K,)."""
        return self.row_wires + self.col_wires

    @property
    def balance_error(self) -> float:
        """Largest ``|supplied - dissipated| / supplied`` over the batch (0 for no power)."""
        scale = float(np.max(np.abs(self.supplied), initial=0.0))
        if scale == 0.0:
            return 0.0
        return float(np.max(np.abs(self.supplied - self.dissipated)) / scale)

    def to_dict(self) -> dict:
        """Every part as a list of floats [W] (JSON-serialisable)."""
        return {
            f.name: np.asarray(getattr(self, f.name), dtype=float).tolist() for f in fields(self)
        }


def _line_terms(fam: Family, V, cell_in, Vs, wire, r_end):
    """Quadratic terms of one family: wires and ends as (x, w) pairs, and end currents.

    Returns ``(wire_terms, end_terms, delivered, src)``; a part's power is
    ``sum(w * x**2)`` over its terms, ``x`` (K, E) voltages or currents and ``w``
    (E,) conductances or resistances; ``delivered`` (K, ends) is the current [A]
    each connected end's source delivers into the line, ``src`` its source index.
    """
    K, L, n = V.shape
    inner = fam.seg_g[:, 1:n]
    fin = np.isfinite(inner)  # zero-resistance segments carry no voltage: no power
    dv = (V[:, :, 1:] - V[:, :, :-1])[:, fin]
    wire_terms = [(dv, inner[fin])]
    out = end_currents(fam, V, cell_in, Vs)  # (K, L, 2): into the end sources
    conn = fam.end_src >= 0
    i_end = out[:, conn]
    wire_end = np.stack([wire[:, 0], wire[:, n]], axis=1)[conn]
    r = np.broadcast_to(np.asarray(r_end, dtype=float)[:, None], (L, 2))[conn]
    wire_terms.append((i_end, wire_end))
    return wire_terms, [(i_end, r)], -i_end, fam.end_src[conn]


def _g_cell(system: CrossbarSystem) -> np.ndarray:
    """Series conductance [S] of every whole linear cell (device and access), (M, N)."""
    return system.g.reshape(system.M, system.N)


def _cell_state(system: CrossbarSystem, V, xr, xc, ve):
    """Node voltages, cell voltages vt (K, M, N) and cell currents (K, M, N)."""
    Vs = source_voltages(system, V)
    Vr = node_voltages(system.rows, xr, Vs)
    Vc = node_voltages(system.cols, xc, Vs)  # (K, N, M)
    vt = Vr - np.swapaxes(Vc, 1, 2)
    if system.is_linear:
        I = _g_cell(system)[None] * vt
    else:
        device, G = system.elements[0]
        with np.errstate(over="ignore", invalid="ignore"):
            I = np.where(system.open_cell[None], 0.0, device.current(ve[0], G))
    return Vs, Vr, Vc, vt, I


def _terms(system: CrossbarSystem, Vs, Vr, Vc, vt, I):
    """Every linear part as (x, w) pairs, and the per-end source powers."""
    K = Vr.shape[0]
    row_w, drv, p_r, s_r = _line_terms(
        system.rows, Vr, -I, Vs, system.row_segments, system.r_driver
    )
    col_w, sns, p_c, s_c = _line_terms(
        system.cols, Vc, np.swapaxes(I, 1, 2), Vs, system.col_segments, system.r_sense
    )
    terms = {"row_wires": row_w, "col_wires": col_w, "drivers": drv, "sense": sns}
    acc = np.broadcast_to(system.r_access, I.shape[1:]).ravel()
    terms["access"] = [(I.reshape(K, -1), acc)]
    if system.is_linear:
        v_dev = vt - I * system.r_access[None]
        terms["cells"] = [(v_dev.reshape(K, -1), system.elements[0][1].ravel())]
    delivered = np.concatenate([p_r, p_c], axis=1)
    src = np.concatenate([s_r, s_c])
    return terms, delivered, src


def _quadratic(terms) -> np.ndarray:
    return sum(np.einsum("ke,e,ke->k", x, w, x) for x, w in terms if x.shape[1]) + 0.0


def solution_power(system: CrossbarSystem, sol) -> ArrayPower:
    """Power of a solved batch from the solver's unknowns (``sol.state``).

    Parameters
    ----------
    system : CrossbarSystem
        The system that was solved.
    sol : CrossbarSolution
        Its solution: ``inputs`` (K, M) [V] and ``state`` (``xr``, ``xc`` and, for
        nonlinear cells, ``ve``, the voltage across each series element).

    Returns
    -------
    ArrayPower
    """
    V = sol.inputs
    xr, xc, ve = sol.state["xr"], sol.state["xc"], sol.state.get("ve")
    K = V.shape[0]
    Vs, Vr, Vc, vt, I = _cell_state(system, V, xr, xc, ve)
    terms, delivered, src = _terms(system, Vs, Vr, Vc, vt, I)
    p_src = Vs[:, src] * delivered  # power each source delivers into its line end
    parts = {name: _quadratic(t) for name, t in terms.items()}
    zero = np.zeros(K)
    if system.is_linear:
        parts["selectors"] = zero
    else:
        p_total = np.einsum("kij,kij->k", I, vt)
        sel = zero
        if len(system.elements) > 1:
            sel = np.einsum("kij,kij->k", I, ve[1])
        parts["selectors"] = sel
        parts["cells"] = p_total - sel - parts["access"]
    is_input = (src >= 1) & (src <= V.shape[1])
    return ArrayPower(
        supplied=p_src.sum(axis=1),
        inputs=p_src[:, is_input].sum(axis=1),
        **{name: np.broadcast_to(parts[name], (K,)).copy() for name in PARTS},
    )


@dataclass(frozen=True)
class PowerForms:
    """Power of a linear array as quadratic forms of its inputs: ``P_c(V) = V^T Q_c V``.

    Attributes
    ----------
    Q : dict of str to array (M, M)
        Symmetric matrix [S] of the parts of :data:`PARTS` that can dissipate (a part
        absent here is zero: selectors of linear cells, access without ``r_access``,
        ...) and ``"supplied"`` (the symmetrised input admittance matrix).
    attenuation : array (M, N)
        Voltage across cell (i, j)'s device per volt applied at input i, all other
        inputs at 0 V (1 for ideal wires).
    """

    Q: dict
    attenuation: np.ndarray

    def power(self, V) -> ArrayPower:
        """Exact power [W] of inputs ``V`` (M,) or (K, M) [V]; one (K, M) x (M, M) product
        per part."""
        V = np.atleast_2d(real_array("V (input voltages [V])", V))
        parts = {name: np.einsum("ki,ij,kj->k", V, Q, V) for name, Q in self.Q.items()}
        zero = np.zeros(V.shape[0])
        return ArrayPower(
            inputs=parts["supplied"],
            **{name: parts.get(name, zero) for name in PARTS + ("supplied",)},
        )

    def batch_energy(self, gram: np.ndarray) -> dict[str, float]:
        """Summed power [W] of a batch from its Gram matrix ``V^T V`` (M, M) [V^2]:
        ``sum_k V_k^T Q V_k = sum(Q * V^T V)``, per part and ``"supplied"``."""
        return {name: float(np.vdot(Q, gram)) for name, Q in self.Q.items()}


def _row_blocks(system: CrossbarSystem):
    """Node voltages of the M unit inputs by direct block elimination, or None.

    Every row line is eliminated exactly (one tridiagonal (N, N) system per row),
    which leaves a block-tridiagonal system on the column nodes with one dense
    (N, N) block per row; a block Thomas sweep down the rows solves it for all M unit
    inputs at once (input ``i`` enters at block ``i``), and the row nodes follow from
    their rows' systems.  Returns
    ``(R, C)``, both (M, N, M): ``R[i, j, k]`` and ``C[i, j, k]`` are row and column
    node (i, j) for a unit input k.
    """
    rows, cols = system.rows, system.cols
    M, N = system.M, system.N
    if not (system.is_linear and rows.uncollapsed and cols.uncollapsed) or system.bias_values.size:
        return None
    if N * N + 3 * M * N > 1000 * M or M * N * M * 8 * 6 > 2e9:
        return None
    line = rows.ext_sup // N
    if np.any((rows.ext_src != 1 + line) & (rows.ext_src != 0)) or np.any(cols.ext_src != 0):
        return None
    g = _g_cell(system)
    idx = np.arange(N)
    T = np.zeros((M, N, N))
    T[:, idx, idx] = rows.dfix.reshape(M, N) + g
    off = rows.off.reshape(M, N)[:, :-1]
    T[:, idx[:-1], idx[1:]] = -off
    T[:, idx[1:], idx[:-1]] = -off
    b = np.zeros((M, N))  # each row's coupling to its own input source
    own = rows.ext_src == 1 + line
    np.add.at(b, (line[own], rows.ext_sup[own] % N), rows.ext_g[own])
    Tinv = np.linalg.inv(T)
    Tb = np.matmul(Tinv, b[:, :, None])[:, :, 0]  # row voltages per volt of own input
    K = -g[:, :, None] * Tinv * g[:, None, :]
    K[:, idx, idx] += cols.dfix.reshape(N, M).T + g
    cpl = cols.off.reshape(N, M).T  # column coupling (i, j) - (i + 1, j)
    # block Thomas down the rows, all M unit inputs at once (input t enters at block t;
    # a banded Cholesky of the same system, LAPACK pbsv, measured 2x slower: its solves
    # are matrix-vector per right-hand side)
    Dinv = np.empty((M, N, N))
    Y = np.zeros((M, N, M))
    Y[np.arange(M), :, np.arange(M)] = g * Tb
    for t in range(M):
        D = K[t]
        if t:
            c = cpl[t - 1]
            D = D - c[:, None] * Dinv[t - 1] * c[None, :]
            Y[t, :, :t] += c[:, None] * (Dinv[t - 1] @ Y[t - 1, :, :t])
        try:
            Dinv[t] = np.linalg.inv(D)
        except np.linalg.LinAlgError:
            return None
    C = np.empty((M, N, M))
    C[M - 1] = Dinv[M - 1] @ Y[M - 1]
    for t in range(M - 2, -1, -1):
        C[t] = Dinv[t] @ (Y[t] + cpl[t][:, None] * C[t + 1])
    R = np.matmul(Tinv, g[:, :, None] * C)
    R[np.arange(M), :, np.arange(M)] += Tb
    return R, C


def unit_responses(system: CrossbarSystem) -> tuple[np.ndarray, np.ndarray] | None:
    """Exact node voltages of the M unit inputs by direct block elimination, or None.

    Cost about ``M N^3 + 3 M^2 N^2`` flops, exact to round-off.
    Applies to linear arrays whose every node is an unknown (no zero-resistance segment or end)
    without biased ends, and only when it is cheaper than iterating
    (``N^2 + 3 M N <= 1000 M``); None otherwise.

    Returns
    -------
    (xr, xc) : arrays (M, M N), (M, N M)
        Row unknowns (row-major) and column unknowns (column-major) per unit input,
        as the solver lays them out.
    """
    blocks = _row_blocks(system)
    if blocks is None:
        return None
    R, C = blocks
    M, N = system.M, system.N
    xr = np.ascontiguousarray(R.transpose(2, 0, 1)).reshape(M, M * N)
    xc = np.ascontiguousarray(C.transpose(2, 1, 0)).reshape(M, N * M)
    return xr, xc


def _gram_rows(parts) -> np.ndarray | None:
    """``sum_e w_e x_e x_e^T`` over every ``(X (E, K), w (E,))`` in ``parts`` (w >= 0):
    BLAS syrk over the rows ``sqrt(w_e) x_e``, accumulated in place; None when all are
    zero.  ``X`` may be overwritten."""
    from scipy.linalg.blas import dsyrk

    C = None
    for X, w in parts:
        keep = w > 0
        if not np.any(keep):
            continue
        if not np.all(keep):
            X, w = X[keep], w[keep]
        X *= np.sqrt(w)[:, None]
        # X (E, K) C-contiguous is X^T (K, E) Fortran-contiguous: syrk(X^T) = X^T X
        if C is None:
            C = dsyrk(1.0, X.T, lower=0)
        else:
            C = dsyrk(1.0, X.T, beta=1.0, c=C, lower=0, overwrite_c=1)
    if C is None:
        return None
    return np.triu(C) + np.triu(C, 1).T


def _block_forms(system: CrossbarSystem, R: np.ndarray, C: np.ndarray) -> PowerForms:
    """:class:`PowerForms` straight from the direct elimination's node blocks.

    Every part except the cells is an explicit sum of ``w x x^T``; the cells' form is
    the input admittance minus them (Tellegen's theorem, exact to round-off here
    since the node voltages come from a direct solve), which saves the largest product.
    """
    rows, cols = system.rows, system.cols
    M, N = system.M, system.N
    r_acc = system.r_access
    access = bool(np.any(r_acc > 0))
    Y = np.zeros((M, M))  # Y[i, k]: current input source i delivers for a unit input k
    row_w = [((R[:, 1:] - R[:, :-1]).reshape(-1, M), rows.off.reshape(M, N)[:, :-1].ravel())]
    col_w = [((C[1:] - C[:-1]).reshape(-1, M), cols.off.reshape(N, M).T[:-1].ravel())]
    drv, sns = [], []
    eye = np.eye(M)
    for e, node in ((0, 0), (1, N - 1)):
        on = rows.end_src[:, e] >= 0
        seg = 0 if e == 0 else N
        J = np.where(on[:, None], rows.seg_g[:, seg][:, None] * (eye - R[:, node, :]), 0.0)
        Y += J
        row_w.append((J.copy(), np.where(on, system.row_segments[:, seg], 0.0)))
        drv.append((J, np.where(on, system.r_driver, 0.0)))
    for e, node in ((0, 0), (1, M - 1)):
        on = cols.end_src[:, e] >= 0
        seg = 0 if e == 0 else M
        J = np.where(on[:, None], cols.seg_g[:, seg][:, None] * C[node], 0.0)
        col_w.append((J.copy(), np.where(on, system.col_segments[:, seg], 0.0)))
        sns.append((J, np.where(on, system.r_sense, 0.0)))
    Q = {"supplied": 0.5 * (Y + Y.T)}
    todo = [("row_wires", row_w), ("col_wires", col_w), ("drivers", drv), ("sense", sns)]
    diag = np.arange(M)
    att = R[diag, :, diag] - C[diag, :, diag]  # (M, N): cell voltages for their own input
    if access:
        i_cell = _g_cell(system)[:, :, None] * (R - C)
        todo.append(("access", [(i_cell.reshape(M * N, M), r_acc.ravel())]))
        att = att - _g_cell(system) * att * r_acc
    for name, parts in todo:
        q = _gram_rows(parts)
        if q is not None:
            Q[name] = q
    Q["cells"] = Q["supplied"] - sum(q for name, q in Q.items() if name != "supplied")
    for q in Q.values():
        q.setflags(write=False)
    return PowerForms(Q=Q, attenuation=att)


def forms_of(system: CrossbarSystem, solve_units) -> PowerForms:
    """:class:`PowerForms` of a linear array without biased ends: by direct block
    elimination where it applies and is cheaper, else from ``solve_units()``, a
    callable returning the solver's ``(xr, xc)`` for the M unit inputs."""
    blocks = _row_blocks(system)
    if blocks is not None:
        return _block_forms(system, *blocks)
    return quadratic_forms(system, *solve_units())


def _gram(X: np.ndarray) -> np.ndarray:
    """Symmetric ``X X^T`` (BLAS syrk: half the flops of a general product)."""
    from scipy.linalg.blas import dsyrk

    C = dsyrk(1.0, np.asfortranarray(X), lower=0)
    return np.triu(C) + np.triu(C, 1).T


def quadratic_forms(system: CrossbarSystem, xr: np.ndarray, xc: np.ndarray) -> PowerForms:
    """:class:`PowerForms` from the solver's unknowns for the M unit inputs ``V = I``.

    Parameters
    ----------
    system : CrossbarSystem
        A linear array without biased line ends.
    xr, xc : arrays (M, nR), (M, nC)
        Row and column unknowns of the solve of ``np.eye(M)``.
    """
    M = system.M
    V = np.eye(M)
    Vs, Vr, Vc, vt, I = _cell_state(system, V, xr, xc, None)
    terms, delivered, src = _terms(system, Vs, Vr, Vc, vt, I)
    Q = {}
    for name in PARTS:
        blocks = [x[:, w > 0] * np.sqrt(w[w > 0])[None, :] for x, w in terms.get(name, [])]
        blocks = [b for b in blocks if b.shape[1]]
        if blocks:
            Q[name] = _gram(np.concatenate(blocks, axis=1))
    # input admittance: Y[l, k] = current source k delivers for a unit input l
    Y = np.zeros((M, M))
    is_input = (src >= 1) & (src <= M)
    np.add.at(Y.T, src[is_input] - 1, delivered[:, is_input].T)
    Q["supplied"] = 0.5 * (Y + Y.T)
    v_dev = vt - I * system.r_access[None]  # (M inputs, M, N)
    att = v_dev[np.arange(M), np.arange(M), :]
    for q in Q.values():
        q.setflags(write=False)
    return PowerForms(Q=Q, attenuation=att)
