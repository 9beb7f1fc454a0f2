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
input voltages, ``P_c(V) = V^T Q_c V``; :func:`forms_of` builds the (m, m) matrices
``Q_c`` of the first m inputs (all M by default; the others held at 0 V, as the idle
rows of a partly used network tile) from the node voltages of the m unit inputs, after
which the power of any input (or the summed energy of a whole batch, through its Gram
matrix ``V^T V``) costs a matrix product.  Where every node is an unknown the unit
responses come from a direct block elimination (row lines eliminated by tridiagonal
solves, then a block Cholesky / Thomas sweep over the column nodes), which also gives
the transfer matrix's rows (:attr:`PowerForms.transfer`); otherwise from one batched
solve (:func:`quadratic_forms`).

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

import numpy as np

from .forms import PARTS, ArrayPower, PowerForms
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


def _row_blocks(system: CrossbarSystem, inputs: int | None = None):
    """Node voltages of the first ``inputs`` unit inputs by direct block elimination, or None.

    Every row line is eliminated exactly (one tridiagonal (N, N) system per row),
    which leaves a block-tridiagonal system on the column nodes with one dense
    (N, N) block per row; a block Thomas sweep down the rows solves it for the m
    unit inputs at once (input ``i`` enters at block ``i``), and the row nodes follow
    from their rows' systems.  Returns ``(R, C)``, both (M, N, m): ``R[i, j, k]`` and
    ``C[i, j, k]`` are row and column node (i, j) for a unit input k (m = ``inputs``,
    default M; the other inputs are at 0 V).
    """
    rows, cols = system.rows, system.cols
    M, N = system.M, system.N
    m = M if inputs is None else inputs
    if not (system.is_linear and rows.uncollapsed and cols.uncollapsed) or system.bias_values.size:
        return None
    if N * N + 3 * M * N > 1000 * M or M * N * m * 8 * 6 > 2e9:
        return None
    line = rows.ext_sup // N
    if np.any((rows.ext_src != 1 + line) & (rows.ext_src != 0)) or np.any(cols.ext_src != 0):
        return None
    g = _g_cell(system)
    lines = _row_lines(system, g, line)
    if lines is None:
        return None
    Tinv, Tb = lines[3], lines[4]
    K = Tinv * (-g[:, :, None])
    K *= g[:, None, :]
    idx = np.arange(N)
    K[:, idx, idx] += cols.dfix.reshape(N, M).T + g
    C = _column_sweep(K, cols.off.reshape(N, M).T, g[:m] * Tb[:m])
    if C is None:
        return None
    R = _row_solve(lines, g[:, :, None] * C)
    R[np.arange(m), :, np.arange(m)] += Tb[:m]
    return R, C


def _row_lines(system: CrossbarSystem, g: np.ndarray, line: np.ndarray):
    """Every row line's tridiagonal nodal matrix ``T_t`` (the cells' column ends held at
    0 V) as its diagonal (M, N) and off-diagonal (M, N - 1), its coupling to its own input
    (M, N), its inverse (M, N, N) and the response to its input ``T_t^-1 b_t`` (M, N); None
    when a line is singular (floating).  LAPACK ``ptsv`` per line: O(N^2) each."""
    from scipy.linalg.lapack import dptsv

    rows = system.rows
    M, N = system.M, system.N
    d = rows.dfix.reshape(M, N) + g
    e = -rows.off.reshape(M, N)[:, :-1]
    b = np.zeros((M, N))  # each row's coupling to its own input source
    own = rows.ext_src == 1 + line
    np.add.at(b, (line[own], rows.ext_sup[own] % N), rows.ext_g[own])
    Tinv = _tridiagonal_inverses(d, e)
    if N == 1:  # single-node lines (LAPACK ptsv takes no empty off-diagonal)
        if not np.all(d > 0):
            return None
        Tinv = (1.0 / d)[:, :, None]
    elif Tinv is None:  # a line with an open segment or an underflowing end-to-end response
        eye = np.eye(N)
        Tinv = np.empty((M, N, N))
        for t in range(M):
            _, _, Tinv[t], info = dptsv(d[t], e[t], eye)
            if info != 0:
                return None
    Tb = np.matmul(Tinv, b[:, :, None])[:, :, 0]
    return d, e, b, Tinv, Tb


def _tridiagonal_inverses(d: np.ndarray, e: np.ndarray) -> np.ndarray | None:
    """Inverses (M, N, N) of M symmetric positive definite tridiagonal matrices (diagonals
    ``d`` (M, N), off-diagonals ``e`` (M, N - 1), all nonzero) from two columns each: with
    ``u = T^-1 e_0`` and ``v = T^-1 e_(N-1)``, ``(T^-1)_ij = v_i u_j / v_0`` for i <= j
    (the inverse of an irreducible tridiagonal matrix is semiseparable).  None when a
    matrix is singular, reducible, or its ``v_0`` too small to divide by safely."""
    from scipy.linalg.lapack import dptsv

    M, N = d.shape
    if N == 1 or not np.all(e != 0):
        return None
    ends = np.zeros((N, 2))
    ends[0, 0] = ends[-1, 1] = 1.0
    uv = np.empty((M, N, 2))
    for t in range(M):
        _, _, uv[t], info = dptsv(d[t], e[t], ends)
        if info != 0:
            return None
    u, v = uv[:, :, 0], uv[:, :, 1]
    v0 = v[:, :1]
    if not (np.all(np.isfinite(uv)) and np.all(v0 > 1e-200 * np.abs(uv).max(axis=(1, 2))[:, None])):
        return None
    idx = np.arange(N)
    return v[:, np.minimum.outer(idx, idx)] * (u / v0)[:, np.maximum.outer(idx, idx)]


def _row_solve(lines, X: np.ndarray) -> np.ndarray:
    """``T_t^-1 X[t]`` for every row line t, X (M, N, m): one tridiagonal solve each."""
    from scipy.linalg.lapack import dptsv

    d, e = lines[0], lines[1]
    M, N, m = X.shape
    if N == 1:
        return X / d[:, :, None]
    XT = np.ascontiguousarray(X.transpose(0, 2, 1))  # X[t] in Fortran order: no copies
    for t in range(M):
        XT[t] = dptsv(d[t], e[t], XT[t].T, overwrite_b=1)[2].T
    return XT.transpose(0, 2, 1)


def _column_sweep(K: np.ndarray, cpl: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """Solve the column nodes' block-tridiagonal system (diagonal blocks ``K`` (M, N, N),
    couplings ``-diag(cpl[t])`` between blocks t and t + 1) for m right-hand sides, the
    k-th being ``h[k]`` (N,) in block k; (M, N, m), or None for a singular block.

    Block Thomas down the rows; each block's inverse by Cholesky (LAPACK potrf + potri,
    half the flops of a general inverse) is kept as its upper triangle and applied by
    BLAS symm.  (A banded Cholesky of the same system, LAPACK pbsv, measured 2x slower:
    its solves are matrix-vector per right-hand side.)"""
    from scipy.linalg.blas import dsymm
    from scipy.linalg.lapack import dpotrf, dpotri

    M = K.shape[0]
    m = h.shape[0]
    Dinv = []  # upper triangles of the blocks' inverses (D_t is SPD: a Schur complement)
    Y = np.zeros((M, K.shape[1], m))
    Y[np.arange(m), :, np.arange(m)] = h
    for t in range(M):
        D = K[t]
        if t:
            c = cpl[t - 1]
            D = D - c[:, None] * Dinv[t - 1] * c[None, :]  # the upper triangle is right
            k = min(t, m)
            Y[t, :, :k] += c[:, None] * dsymm(1.0, Dinv[t - 1], Y[t - 1, :, :k])
        f, info = dpotrf(D)
        if info == 0:
            f, info = dpotri(f, overwrite_c=1)
        if info != 0:
            return None
        Dinv.append(f)
    C = np.empty_like(Y)
    C[M - 1] = dsymm(1.0, Dinv[M - 1], Y[M - 1])
    for t in range(M - 2, -1, -1):
        C[t] = dsymm(1.0, Dinv[t], Y[t] + cpl[t][:, None] * C[t + 1])
    return C


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
    """:class:`PowerForms` of the first m inputs straight from the direct elimination's
    node blocks ``R``, ``C`` (M, N, m).

    Every part except the cells is an explicit sum of ``w x x^T``; the cells' form is
    the input admittance minus them (Tellegen's theorem, exact to round-off here
    since the node voltages come from a direct solve), which saves the largest product.
    """
    rows, cols = system.rows, system.cols
    M, N = system.M, system.N
    m = R.shape[2]
    r_acc = system.r_access
    Y = np.zeros((m, m))  # Y[i, k]: current input source i delivers for a unit input k
    row_w = [((R[:, 1:] - R[:, :-1]).reshape(-1, m), rows.off.reshape(M, N)[:, :-1].ravel())]
    col_w = [((C[1:] - C[:-1]).reshape(-1, m), cols.off.reshape(N, M).T[:-1].ravel())]
    drv, sns, out = [], [], []  # out: the sensed ends' currents, (N, m) each
    eye = np.eye(M, m)
    for e, node in ((0, 0), (1, N - 1)):
        on = rows.end_src[:, e] >= 0
        seg = 0 if e == 0 else N
        J = np.where(on[:, None], rows.seg_g[:, seg][:, None] * (eye - R[:, node, :]), 0.0)
        Y += J[:m]
        row_w.append((J.copy(), np.where(on, system.row_segments[:, seg], 0.0)))
        drv.append((J, np.where(on, system.r_driver, 0.0)))
    for e, node in ((0, 0), (1, M - 1)):
        on = cols.end_src[:, e] >= 0
        seg = 0 if e == 0 else M
        J = np.where(on[:, None], cols.seg_g[:, seg][:, None] * C[node], 0.0)
        if np.any(system.sensed[:, e]):
            out.append(np.where(system.sensed[:, e][:, None], J, 0.0))
        col_w.append((J.copy(), np.where(on, system.col_segments[:, seg], 0.0)))
        sns.append((J, np.where(on, system.r_sense, 0.0)))
    Q = {"supplied": 0.5 * (Y + Y.T)}
    todo = [("row_wires", row_w), ("col_wires", col_w), ("drivers", drv), ("sense", sns)]
    diag = np.arange(m)
    att = R[diag, :, diag] - C[diag, :, diag]  # (m, N): cell voltages for their own input
    if np.any(r_acc > 0):
        i_cell = _g_cell(system)[:, :, None] * (R - C)
        todo.append(("access", [(i_cell.reshape(M * N, m), r_acc.ravel())]))
        att = att - _g_cell(system)[:m] * att * r_acc[:m]
    for name, parts in todo:
        q = _gram_rows(parts)
        if q is not None:
            Q[name] = q
    Q["cells"] = Q["supplied"] - sum(q for name, q in Q.items() if name != "supplied")
    for q in Q.values():
        q.setflags(write=False)
    return PowerForms(Q=Q, attenuation=att, transfer=sum(out).T if out else None)


def forms_of(system: CrossbarSystem, solve_units, inputs: int | None = None) -> PowerForms:
    """:class:`PowerForms` of a linear array without biased ends, for its first ``inputs``
    inputs (default all M; the others held at 0 V): by direct block elimination where it
    applies and is cheaper, else from ``solve_units(V)``, a callable returning the
    solver's ``(xr, xc)`` for the unit inputs ``V`` (m, M)."""
    blocks = _row_blocks(system, inputs)
    if blocks is not None:
        return _block_forms(system, *blocks)
    m = system.M if inputs is None else inputs
    return quadratic_forms(system, *solve_units(np.eye(m, system.M)))


def _gram(X: np.ndarray) -> np.ndarray:
    """Symmetric ``X X^T`` (BLAS syrk: half the flops of a general product)."""
    from scipy.linalg.blas import dsyrk

    C = dsyrk(1.0, np.asfortranarray(X), lower=0)
    return np.triu(C) + np.triu(C, 1).T


def quadratic_forms(system: CrossbarSystem, xr: np.ndarray, xc: np.ndarray) -> PowerForms:
    """:class:`PowerForms` from the solver's unknowns for the m unit inputs ``V = I`` (the
    first m inputs one at a time at 1 V, every other input at 0 V).

    Parameters
    ----------
    system : CrossbarSystem
        A linear array without biased line ends.
    xr, xc : arrays (m, nR), (m, nC)
        Row and column unknowns of the solve of ``np.eye(m, M)``, m <= M.
    """
    M = system.M
    m = xr.shape[0]
    V = np.eye(m, M)
    Vs, Vr, Vc, vt, I = _cell_state(system, V, xr, xc, None)
    terms, delivered, src = _terms(system, Vs, Vr, Vc, vt, I)
    Q = {}
    for name in PARTS:
        blocks = [x[:, w > 0] * np.sqrt(w[w > 0])[None, :] for x, w in terms.get(name, [])]
        blocks = [b for b in blocks if b.shape[1]]
        if blocks:
            Q[name] = _gram(np.concatenate(blocks, axis=1))
    # input admittance: Y[l, k] = current source k delivers for a unit input l
    Y = np.zeros((m, M))
    is_input = (src >= 1) & (src <= M)
    np.add.at(Y.T, src[is_input] - 1, delivered[:, is_input].T)
    Y = Y[:, :m]
    Q["supplied"] = 0.5 * (Y + Y.T)
    v_dev = vt - I * system.r_access[None]  # (m inputs, M, N)
    att = v_dev[np.arange(m), np.arange(m), :]
    for q in Q.values():
        q.setflags(write=False)
    return PowerForms(Q=Q, attenuation=att)
