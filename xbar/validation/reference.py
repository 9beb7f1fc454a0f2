"""Independent references for the validation cases.

Nothing here imports the solvers under test: every function is a closed form,
a scalar root-find, or a dense textbook nodal solve written out by hand, so a
case that compares a solver with one of these compares two independent
computations.  All quantities are SI (volt, ampere, ohm, siemens).

The uniform resistive ladder
----------------------------
A single word line (or bit line) with uniform cells is a ladder: a source
``V`` feeds node 1 through ``r_end``; nodes ``k`` and ``k + 1`` are joined by a
segment ``r``; every node ``k = 1..n`` is shunted to 0 V by a conductance
``g``; node ``n`` is the open far end.  Kirchhoff's current law at an inner
node gives the second-order linear recurrence

    v[k-1] - 2 v[k] + v[k+1] = r g v[k]   <=>   v[k+1] = 2 cosh(gamma) v[k] - v[k-1]

with the propagation constant ``cosh(gamma) = 1 + r g / 2``, i.e.
``sinh(gamma / 2) = sqrt(r g) / 2``.  Its solutions are ``cosh`` and ``sinh``
of ``gamma k``.  The open end behaves like a ghost node ``v[n+1] = v[n]``
(no current in the ghost segment), so the solution is even about
``k = n + 1/2``: ``v[k] = C cosh(gamma (n + 1/2 - k))``.  The source end,
``(V - v[1]) / r_end = g v[1] + (v[1] - v[2]) / r``, fixes ``C`` and, after
``cosh(a + gamma) - cosh(a) = 2 sinh(a + gamma/2) sinh(gamma/2)``,

    v[k] = V cosh(gamma (n + 1/2 - k))
           / ( r_end sqrt(g / r) sinh(gamma n) + cosh(gamma (n - 1/2)) ).

With ``r_end = r`` the denominator collapses to ``cosh(gamma (n + 1/2))``: the
discrete ladder is the continuous line of length ``(n + 1/2) h`` sampled at
``x = k h`` -- which is why it approaches the telegrapher solution at first
order in the segment length ``h`` (the half-segment shift), see
:func:`telegrapher_line`.
"""

from __future__ import annotations

import math

import numpy as np

#: ngspice-39 physical constants (src/include/ngspice/const.h)
BOLTZMANN = 1.38064852e-23
CHARGE = 1.6021766208e-19
CELSIUS_TO_KELVIN = 273.15


def thermal_voltage(temp_celsius: float = 27.0) -> float:
    """``k T / q`` [V] with ngspice's constants at ``temp_celsius`` [degC]."""
    return BOLTZMANN * (temp_celsius + CELSIUS_TO_KELVIN) / CHARGE


# ---------------------------------------------------------------------------
# the discrete ladder


def _cosh_ratio(x: np.ndarray, a: float) -> np.ndarray:
    """``cosh(x) / cosh(a)`` for ``x, a >= 0`` without overflow."""
    x = np.asarray(x, dtype=float)
    return np.exp(x - a) * (1.0 + np.exp(-2.0 * x)) / (1.0 + math.exp(-2.0 * a))


def ladder_voltages(n: int, r: float, g: float, r_end: float, v_source: float = 1.0) -> np.ndarray:
    """Node voltages of the uniform ladder (closed form, see the module docstring).

    Parameters
    ----------
    n : int
        Number of nodes (cells), at least 1.
    r : float
        Segment resistance between adjacent nodes [ohm], > 0.
    g : float
        Shunt conductance of every node to 0 V [S], >= 0.
    r_end : float
        Resistance from the source to node 1 [ohm], >= 0.
    v_source : float
        Source voltage [V].

    Returns
    -------
    ndarray
        ``n`` node voltages [V], node 1 (next to the source) first.

    Examples
    --------
    One node: a voltage divider.

    >>> float(ladder_voltages(1, 1.0, 0.5, 2.0)[0])  # 1 / (1 + 2 * 0.5)
    0.5
    """
    if n < 1 or not r > 0 or g < 0 or r_end < 0:
        raise ValueError("ladder needs n >= 1, r > 0, g >= 0, r_end >= 0")
    if g == 0:
        return np.full(n, float(v_source))
    gamma = 2.0 * math.asinh(math.sqrt(r * g) / 2.0)
    k = np.arange(1, n + 1)
    a = gamma * (n - 0.5)
    # denominator / cosh(a), computed without overflow
    sinh_over = (
        math.exp(gamma * n - a) * (1.0 - math.exp(-2.0 * gamma * n)) / (1.0 + math.exp(-2.0 * a))
    )
    denominator = r_end * math.sqrt(g / r) * sinh_over + 1.0
    return v_source * _cosh_ratio(gamma * (n + 0.5 - k), a) / denominator


def ladder_input_current(n: int, r: float, g: float, r_end: float, v_source: float = 1.0) -> float:
    """Current drawn from the source of the uniform ladder [A] (= sum of shunt currents)."""
    v = ladder_voltages(n, r, g, r_end, v_source)
    return float(g * v.sum())


def word_line(
    n: int,
    g: float,
    r_row: float,
    r_col: float = 0.0,
    r_driver: float = 0.0,
    r_sense: float = 0.0,
    v: float = 1.0,
) -> dict[str, np.ndarray]:
    """Closed form of a 1 x n crossbar (one word line) with uniform cells.

    Default topology: the row is driven at its left end through ``r_driver``
    and one segment ``r_row``; each column is a single node that leaves
    through one segment ``r_col`` and ``r_sense`` into virtual ground.  The
    cell in series with ``r_col + r_sense`` is the ladder's shunt.

    Returns
    -------
    dict
        ``row`` (n,) row node voltages, ``col`` (n,) column node voltages,
        ``output`` (n,) column currents into the sense nodes, ``cell`` (n,)
        cell currents [V, A].
    """
    if g > 0:
        g_eff = 1.0 / (1.0 / g + r_col + r_sense)
    else:
        g_eff = 0.0
    row = ladder_voltages(n, r_row, g_eff, r_driver + r_row, v)
    output = g_eff * row
    col = output * (r_col + r_sense)
    return {"row": row, "col": col, "output": output, "cell": output.copy()}


def bit_line(
    m: int,
    g: float,
    r_col: float,
    r_row: float = 0.0,
    r_driver: float = 0.0,
    r_sense: float = 0.0,
    v: float = 1.0,
) -> dict[str, np.ndarray]:
    """Closed form of an m x 1 crossbar (one bit line), uniform cells, all inputs ``v``.

    Every row is a source ``v`` behind ``r_driver + r_row`` and the cell, so
    the column sees shunts ``g' = 1 / (r_driver + r_row + 1/g)`` to the
    potential ``v``.  With ``w = v - u`` (``u`` the column voltages) the
    column is the ladder of :func:`ladder_voltages` seen from the bottom:
    the "source" ``w = v`` (the sense node at 0 V) sits behind
    ``r_col + r_sense``, the top end is open.

    Returns
    -------
    dict
        ``row`` (m,) row node voltages, ``col`` (m,) column node voltages
        (top first), ``output`` (1,) current into the sense node, ``cell``
        (m,) cell currents.
    """
    g_eff = 1.0 / (r_driver + r_row + 1.0 / g) if g > 0 else 0.0
    r_end = r_col + r_sense
    w_from_bottom = ladder_voltages(m, r_col, g_eff, r_end, v)
    w = w_from_bottom[::-1]
    col = v - w
    cell = g_eff * w
    row = v - (r_driver + r_row) * cell
    if r_end > 0:
        output = np.array([col[-1] / r_end])
    else:  # bottom node tied to the sense node: the output is every cell's current
        output = np.array([cell.sum()])
    return {"row": row, "col": col, "output": output, "cell": cell}


def telegrapher_line(x: np.ndarray, length: float, rho: float, sigma: float, v: float = 1.0):
    """DC solution of a distributed RC-free line (telegrapher's equation at DC).

    ``v'' = rho sigma v`` on ``0 < x < length`` with ``v(0) = V`` and an open
    end ``v'(length) = 0``, where ``rho`` is the series resistance per length
    [ohm/m] and ``sigma`` the shunt conductance per length [S/m]:
    ``v(x) = V cosh(alpha (length - x)) / cosh(alpha length)``,
    ``alpha = sqrt(rho sigma)``.

    Returns
    -------
    (ndarray, float)
        The voltage at ``x`` [V] and the current drawn from the source
        ``V alpha / rho * tanh(alpha length)`` [A].
    """
    alpha = math.sqrt(rho * sigma)
    x = np.asarray(x, dtype=float)
    volts = v * _cosh_ratio(alpha * (length - x), alpha * length)
    current = v * alpha / rho * math.tanh(alpha * length)
    return volts, current


def first_order_ir_drop(G: np.ndarray, V: np.ndarray) -> np.ndarray:
    """First-order output change per ohm of wire resistance, default topology.

    With every row and column segment equal to ``r`` (no driver or sense
    resistance), ``output = V @ G - r D + O(r^2)``.  At zeroth order every cell
    carries ``G[i, j] V[i]``; segment ``s`` of row ``i`` (``s = 0`` joins the
    driver to node 0) carries the cells at ``j >= s``, so row node ``j`` sits
    ``r V[i] sum_j' G[i, j'] (min(j, j') + 1)`` below ``V[i]``; segment ``s`` of
    column ``j`` (``s = M`` leaves the bottom node) carries the cells above it,
    so column node ``i`` sits ``r sum_i' G[i', j] V[i'] (M - max(i, i'))`` above
    0 V.  Hence ``D[k, j] = sum_i G[i, j] (row drop + column rise) / r``.

    Parameters
    ----------
    G : (M, N) array
        Cell conductances [S].
    V : (K, M) array
        Inputs [V].

    Returns
    -------
    (K, N) array
        ``D`` [A/ohm].
    """
    G = np.asarray(G, dtype=float)
    V = np.atleast_2d(np.asarray(V, dtype=float))
    m, n = G.shape
    j = np.arange(n)
    i = np.arange(m)
    w_row = np.minimum(j[:, None], j[None, :]) + 1.0  # (j, j')
    w_col = m - np.maximum(i[:, None], i[None, :]).astype(float)  # (i, i')
    drop = V[:, :, None] * (G @ w_row.T)[None]  # (K, M, N): V_i sum_j' G_ij' w(j, j')
    rise = np.einsum("ab,kbj->kaj", w_col, G[None] * V[:, :, None])  # (K, M, N)
    return np.einsum("ij,kij->kj", G, drop + rise)


def uniform_array_modes(m: int, n: int, g: float, r_row: float, r_col: float, V):
    """Closed-form (spectral) solution of a uniform m x n crossbar with any inputs.

    Default topology with ``r_driver = r_sense = 0``: every row is driven at
    its left end through one segment ``r_row``, every column leaves at the
    bottom through one segment ``r_col`` into 0 V, all cells are ``g``.

    Nodal analysis gives, with ``u`` / ``w`` the (m, n) row / column voltages,
    ``u T_n / r_row + g (u - w) = F`` and ``T_m w / r_col + g (w - u) = 0``,
    where ``F[i, 0] = V[i] / r_row`` and ``T_n`` is the line matrix
    ``tridiag(-1, 2, -1)`` whose last diagonal entry is 1 (open end).  Its
    eigenvectors are known exactly: ``psi_k(j) = sin(theta_k (j + 1))`` with
    ``theta_k = (2k + 1) pi / (2n + 1)`` and eigenvalue ``2 - 2 cos(theta_k)``
    (the ghost node ``j = -1`` is the source, the open end makes the mode even
    about ``j = n - 1/2``); the columns have ``phi_q(i) = sin(theta_q (m - i))``
    with ``theta_q = (2q + 1) pi / (2m + 1)``.  In the product basis every mode
    ``(q, k)`` decouples into a 2 x 2 system solved by hand:
    ``b = g a / (mu_q / r_col + g)``,
    ``a = f / (lambda_k / r_row + g - g^2 / (mu_q / r_col + g))``.

    Parameters
    ----------
    m, n : int
        Rows and columns.
    g : float
        Cell conductance [S].
    r_row, r_col : float
        Segment resistances [ohm], > 0.
    V : (K, m) array
        Inputs [V].

    Returns
    -------
    dict
        ``row``, ``col`` (K, m, n) node voltages and ``output`` (K, n).
    """
    V = np.atleast_2d(np.asarray(V, dtype=float))
    j = np.arange(n)
    i = np.arange(m)
    theta_k = (2 * np.arange(n) + 1) * np.pi / (2 * n + 1)
    theta_q = (2 * np.arange(m) + 1) * np.pi / (2 * m + 1)
    psi = np.sin(np.outer(j + 1, theta_k))  # (n, modes k)
    phi = np.sin(np.outer(m - i, theta_q))  # (m, modes q)
    psi /= np.sqrt((psi**2).sum(axis=0))
    phi /= np.sqrt((phi**2).sum(axis=0))
    lam = 4.0 * np.sin(theta_k / 2) ** 2  # 2 - 2 cos(theta), without cancellation
    mu = 4.0 * np.sin(theta_q / 2) ** 2
    # projection of F (only column j = 0 is non-zero) on phi_q(i) psi_k(j)
    f = (V / r_row) @ phi  # (K, q)
    f = f[:, :, None] * psi[0][None, None, :]  # (K, q, k)
    col_diag = mu[:, None] / r_col + g  # (q, 1)
    a = f / (lam[None, :] / r_row + g - g * g / col_diag)[None]
    b = g * a / col_diag[None]
    row = np.einsum("iq,kqp,jp->kij", phi, a, psi)
    col = np.einsum("iq,kqp,jp->kij", phi, b, psi)
    return {"row": row, "col": col, "output": col[:, -1, :] / r_col}


# ---------------------------------------------------------------------------
# scalar root-finds


def series_sinh_current(v: float, g: float, k: float, r_series: float) -> float:
    """Current [A] of ``i = g sinh(k u) / k`` in series with ``r_series`` under ``v``.

    Solves ``i = g sinh(k (v - i r_series)) / k`` by bracketing root-find
    (``scipy.optimize.brentq`` to ``xtol`` 1e-300 / ``rtol`` 4 eps).  The
    root lies between 0 and ``v / r_series`` (and below the cell's current at
    full voltage).
    """
    from scipy.optimize import brentq

    if v == 0:
        return 0.0
    sign = 1.0 if v > 0 else -1.0
    v = abs(v)
    i_max = g * math.sinh(k * v) / k
    if r_series > 0:
        i_max = min(i_max, v / r_series)
    else:
        return sign * i_max

    def f(i):
        return i - g * math.sinh(k * (v - i * r_series)) / k

    root = brentq(f, 0.0, i_max, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    return sign * root


def series_diode_current(
    v: float,
    r_series: float,
    i_sat: float,
    n: float = 1.0,
    temp_celsius: float = 27.0,
    *,
    nvt: float | None = None,
) -> float:
    """Current [A] of an ideal diode ``i = Is (exp(u / (n Vt)) - 1)`` behind ``r_series``.

    Closed form with the principal branch of Lambert's W function: with
    ``nVt = n k T / q``,
    ``i = nVt / R * W( Is R / nVt * exp((v + Is R) / nVt) ) - Is``.
    For large arguments the exponent is passed to W through its logarithm
    (``W(e^y)`` solved from ``w + ln w = y``) so nothing overflows.
    ``nvt`` [V], when given, replaces ``n k T / q``.
    """
    from scipy.special import lambertw

    if nvt is None:
        nvt = n * thermal_voltage(temp_celsius)
    if r_series <= 0:
        return i_sat * math.expm1(v / nvt)
    # log of the argument of W
    y = math.log(i_sat * r_series / nvt) + (v + i_sat * r_series) / nvt
    if y < 500:
        w = float(np.real(lambertw(math.exp(y))))
    else:  # Newton on w + ln(w) = y, from w = y - ln(y)
        w = y - math.log(y)
        for _ in range(50):
            step = (w + math.log(w) - y) / (1.0 + 1.0 / w)
            w -= step
            if abs(step) <= 1e-16 * w:
                break
    return nvt / r_series * w - i_sat


# ---------------------------------------------------------------------------
# dense textbook nodal analysis of a small linear crossbar


def _as_segments(value, shape) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    return np.broadcast_to(arr, shape).astype(float)


def _dense_interior(G: np.ndarray, rr: np.ndarray, rc: np.ndarray) -> np.ndarray:
    """The dense nodal matrix of the cells and inner wire segments, stamped one by one.

    Row node ``(i, j)`` is unknown ``i * N + j``, column node ``(i, j)`` is
    ``M * N + i * N + j``.
    """
    m, n = G.shape
    A = np.zeros((2 * m * n, 2 * m * n))

    def stamp(a, b, cond):
        A[a, a] += cond
        A[b, b] += cond
        A[a, b] -= cond
        A[b, a] -= cond

    for i in range(m):
        for j in range(n):
            stamp(i * n + j, m * n + i * n + j, G[i, j])
    for i in range(m):
        for j in range(1, n):
            stamp(i * n + j - 1, i * n + j, 1.0 / rr[i, j])
    for j in range(n):
        for i in range(1, m):
            stamp(m * n + (i - 1) * n + j, m * n + i * n + j, 1.0 / rc[i, j])
    return A


def _dense_ends(V, shape, resistances, roles, ends) -> tuple[list, list]:
    """The connected line ends, as ``(node, line, conductance [S], potential (K,) [V],
    counts towards input/output)``: row ends (drives) and column ends (senses).

    ``resistances`` is ``(rr, rc, rd, rs)``, ``roles`` ``(drive, sense)`` and ``ends``
    ``(row_ends, col_ends)`` as :func:`dense_crossbar` takes them.
    """
    m, n = shape
    rr, rc, rd, rs = resistances
    K = V.shape[0]
    d_role = {"left": (True, False), "right": (False, True), "both": (True, True)}[roles[0]]
    s_role = {"top": (True, False), "bottom": (False, True), "both": (True, True)}[roles[1]]
    row_ends = [[None, None]] * m if ends[0] is None else ends[0]
    col_ends = [[None, None]] * n if ends[1] is None else ends[1]
    drives, senses = [], []
    for i in range(m):
        for e, node, seg in ((0, i * n, rr[i, 0]), (1, i * n + n - 1, rr[i, n])):
            spec = row_ends[i][e]
            cond = 1.0 / (rd[i] + seg)
            if spec is None:
                if d_role[e]:
                    drives.append((node, i, cond, V[:, i], True))
            elif not np.isnan(spec):
                drives.append((node, i, cond, np.full(K, float(spec)), d_role[e]))
    for j in range(n):
        top, bottom = m * n + j, m * n + (m - 1) * n + j
        for e, node, seg in ((0, top, rc[0, j]), (1, bottom, rc[m, j])):
            spec = col_ends[j][e]
            cond = 1.0 / (rs[j] + seg)
            if spec is None:
                if s_role[e]:
                    senses.append((node, j, cond, np.zeros(K), True))
            elif not np.isnan(spec):
                senses.append((node, j, cond, np.full(K, float(spec)), s_role[e]))
    return drives, senses


def dense_crossbar(
    G: np.ndarray,
    V: np.ndarray,
    r_row,
    r_col,
    r_driver=0.0,
    r_sense=0.0,
    drive: str = "left",
    sense: str = "bottom",
    row_ends=None,
    col_ends=None,
) -> dict[str, np.ndarray]:
    """Solve a small linear crossbar by dense nodal analysis (``numpy.linalg.solve``).

    The nodal matrix is stamped element by element in plain Python, the
    textbook way, with every wire resistance > 0.  Row ``i`` has nodes
    ``(i, 0..N-1)``; column ``j`` has nodes ``(0..M-1, j)``.  A driven end
    connects the ideal source ``V[i]`` through ``r_driver + r_row`` (one end
    segment); a sensed end connects through ``r_col + r_sense`` to 0 V.

    Parameters
    ----------
    G : (M, N) array
        Cell conductances [S].
    V : (M,) or (K, M) array
        Input voltages [V].
    r_row, r_col : float or array
        Segment resistances [ohm]; an array is per segment, shape (M, N + 1)
        for rows (segment ``s`` joins node ``s - 1`` and ``s``; segment 0 is
        the left end, ``N`` the right end) and (M + 1, N) for columns
        (segment 0 at the top, ``M`` at the bottom).
    r_driver, r_sense : float or array (M,) / (N,)
        Source and sense resistances [ohm], per row / column.
    drive : {"left", "right", "both"}
    sense : {"bottom", "top", "both"}
    row_ends, col_ends : (M, 2) / (N, 2) sequences, optional
        Per line end ([left, right] / [top, bottom]): ``None`` keeps the
        configured role (driven / sensed / open), ``nan`` leaves the end
        floating, a number holds it at that voltage [V] through ``r_driver``
        / ``r_sense`` and its end segment.  A held end that has the drive or
        sense role still counts towards ``input`` / ``output``.

    Returns
    -------
    dict
        ``row`` and ``col`` (K, M, N) node voltages, ``cell`` (K, M, N) cell
        currents (row to column), ``output`` (K, N) total current into the
        sense node(s) of each column, ``input`` (K, M) total current drawn
        from each row's source.
    """
    G = np.asarray(G, dtype=float)
    m, n = G.shape
    V = np.atleast_2d(np.asarray(V, dtype=float))
    rr = _as_segments(r_row, (m, n + 1))
    rc = _as_segments(r_col, (m + 1, n))
    A = _dense_interior(G, rr, rc)
    drives, senses = _dense_ends(
        V,
        (m, n),
        (rr, rc, _as_segments(r_driver, (m,)), _as_segments(r_sense, (n,))),
        (drive, sense),
        (row_ends, col_ends),
    )
    K = V.shape[0]
    rhs = np.zeros((2 * m * n, K))
    for node, _, cond, pot, _ in drives + senses:
        A[node, node] += cond
        rhs[node] += cond * pot
    x = np.linalg.solve(A, rhs).T  # (K, size)
    row = x[:, : m * n].reshape(-1, m, n)
    col = x[:, m * n :].reshape(-1, m, n)
    output = np.zeros((K, n))
    for node, j, cond, pot, counts in senses:
        if counts:
            output[:, j] += cond * (x[:, node] - pot)
    inputs = np.zeros((K, m))
    for node, i, cond, pot, counts in drives:
        if counts:
            inputs[:, i] += cond * (pot - x[:, node])
    return {"row": row, "col": col, "cell": G * (row - col), "output": output, "input": inputs}
