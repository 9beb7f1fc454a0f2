"""Exact transfer matrix and power forms of one network tile, numpy only, with its
uniform padding in closed form.

A tile has the default topology (rows driven at the left end through ``r_driver``
and one ``r_row`` segment, columns sensed at the bottom through one ``r_col``
segment and ``r_sense`` into virtual ground) and linear cells; only its leading
``m`` x ``n`` block is used (its first ``m`` inputs are driven, the others held at
0 V, and its first ``n`` columns are read).  It is solved turned over, as in
:func:`xbar.crossbar.uniform.transfer_matrices`: the *lines* are the original
columns, from the last (``a = 0``) to the first (``a = N - 1``), each a chain of
``r_col`` segments with its sense end; eliminating every line exactly leaves a
block-tridiagonal system on the original row nodes (one block ``X_a`` of ``M``
row nodes per column), with blocks ``K_a + c_a I``, couplings ``-g_r I`` and the
input sources behind ``g_d = 1 / (r_driver + r_row)`` at the last block.  One
block sweep ``D_a = K_a + c_a I - g_r^2 D_{a-1}^-1`` and, for the unit inputs,
one back substitution ``X_{N-1} = g_d D_{N-1}^-1 E``, ``X_a = g_r D_a^-1
X_{a+1}`` give every node voltage; the column nodes follow from each line's
tridiagonal system (``y_a = T_a^-1 (G_a * X_a)``, in O(M) per input by Thomas's
algorithm over all lines and inputs at once).

Uniform padding in closed form.  When the unused columns ``n:`` all hold one
conductance ``v`` (no programming error), their lines come first in the sweep
and are identical: each line's operators are functions of one symmetric
tridiagonal matrix, the chain ``S0 = g_c L + g_s e_0 e_0^T`` (``L`` the path
Laplacian), all diagonal in its eigenbasis ``S0 = Q diag(mu) Q^T``
(``np.linalg.eigh``, once per process and line length): the line's Schur complement
``K = v I - v^2 (S0 + v I)^-1`` has eigenvalues ``kappa = v mu / (mu + v)``, the
sweep blocks ``delta_a = kappa + c_a - g_r^2 / delta_{a-1}``, the back substitution
``xi_a = prod_{a' >= a} g_r / delta_a'`` (``X_a = Q diag(xi_a) Q^T X_p``, ``X_p``
the first used column's block), a padding line's column nodes ``Q diag(v / (mu +
v)) Q^T X_a``.  So the padding region is scalar recursions per mode, and its share
of each power form is ``Xh^T diag(w) Xh`` (``Xh = Q^T X_p``) with per-mode weights
summed along the lines, plus the rank-one end terms of the padding columns' sense
currents.  A padded tile then costs about ``n M^3`` instead of ``N M^3``.

Power forms (``P(V) = V^T Q V`` for the first ``m`` inputs): ``supplied`` is the
symmetrised input admittance; ``drivers`` and the rows' end segments are
``r Yd^T Yd`` over the currents ``Yd`` (M, m) of every driver (padding rows at
0 V included); ``sense`` and the columns' end segments ``r W W^T`` over every
column's output (padding columns included); the internal row segments are the
differences of neighbouring blocks ``X_a``, the internal column segments those
along each line; the cells are what is left (Tellegen's theorem, exact to
round-off with a direct solve).

Cost of the forms, and why it is what it is.  For an unpadded P x P tile with m = n = P
the transfer matrix is the sweep (one Cholesky inverse per line, ``P^3`` flops each)
and the forward carry of the used columns (about ``P^2 n^2`` in all): ``2 P^4``.  The
forms replace the carry by the back substitution of every node's voltage for the m
inputs (one ``dsymm`` per line, ``2 P^2 m``: X is needed at every node) and add two
Gram matrices over every node (the row and the column wire segments, ``P m^2`` each
per line as BLAS ``syrk``; each part's form is a full-rank sum over all its elements,
and the third big part, the cells, comes free by Tellegen): ``3 P^4`` more, plus the
line solves (O(P m) per line).  On one core that is about 1.1-1.3x the transfer matrix's
time (``benchmarks/bench_energy.py --floor``); the blocks are laid out position-major
(``X[:, a]`` line a's block), so the line solve, the Grams and the back substitution
read them without transposed copies, and their memory is per-thread scratch reused
from tile to tile (:func:`_scratch`).

Every fast assumption is checked and :func:`tile_solve` returns None where one
fails (the caller then takes the general solver): underflowing line responses
(cells far more conductive than the wires), wire conductances or cells too far
apart for the closed form's eigenvalues to keep 1e-10, non-finite results.
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

from . import lapack
from .forms import PowerForms

__all__ = ["tile_solve", "SCIPY_AFTER"]

#: line inversions are Cholesky inverses (LAPACK ``dpotrf`` + ``dpotri``, about 2x
#: faster than ``np.linalg.inv`` at 128 x 128) through :mod:`xbar.crossbar.lapack`;
#: only where that finds no LAPACK, a process does this many with ``np.linalg.inv``
#: before it imports scipy's (its import, 0.1-0.2 s, pays back after about 1000 more)
SCIPY_AFTER = 600
_STATE = {"inversions": 0}
_LOCK = threading.Lock()
_MODES: dict = {}  # (P, g_c, g_s) -> (mu, Q): eigen decomposition of the line chain
_MODE_KEYS = 8
_PREFIXES: dict = {}  # (P, pad, v, wires) -> the padding's modes (see _prefix)
#: largest cell-to-wire and wire-to-wire conductance ratio of the fast path
MAX_RATIO = 1e3
#: largest scratch array [bytes] a thread keeps between tiles (the forms' line inverses
#: and node voltages: 16 MiB each for a 128 x 128 tile)
SCRATCH_BYTES = 1 << 25
_SCRATCH = threading.local()


def tile_solve(
    G: np.ndarray,
    r_row: float,
    r_col: float,
    r_driver: float,
    r_sense: float,
    used: tuple[int, int] | None = None,
    forms: bool = True,
) -> tuple[np.ndarray, PowerForms | None] | None:
    """``(W, forms)`` of one tile: ``W`` the used block (m, n) [S] of its transfer matrix
    (``output = V @ W``) and, with ``forms``, the :class:`~xbar.crossbar.forms.PowerForms`
    of its first m inputs (the others held at 0 V; every cell, line and end of the
    whole array counts); None where the fast path does not apply.

    Parameters
    ----------
    G : ndarray
        Cell conductances [S], shape (rows M, columns N), finite and >= 0.
    r_row, r_col : float
        Wire resistance per segment [ohm], both > 0.
    r_driver, r_sense : float
        Driver and sense resistance [ohm], >= 0.
    used : (m, n) or None
        The used block (default: all of it).
    forms : bool
        Also compute the power forms (default True).

    Examples
    --------
    >>> import numpy as np
    >>> G = np.full((4, 3), 1e-4)
    >>> W, f = tile_solve(G, 1.0, 1.0, 0.0, 0.0, used=(2, 1))
    >>> W.shape, f.Q["supplied"].shape
    ((2, 1), (2, 2))
    """
    M, N = G.shape
    m, n = (M, N) if used is None else used
    g_r, g_c = 1.0 / r_row, 1.0 / r_col
    g_d, g_s = 1.0 / (r_driver + r_row), 1.0 / (r_col + r_sense)
    if not _in_range(G, g_r, g_c, g_d, g_s):
        return None
    v = float(G[0, N - 1])
    same = np.all(G == v, axis=0)  # trailing uniform columns: the closed-form padding
    same[0] = False  # (the sources' column is always a general line)
    pad = N - 1 - int(np.flatnonzero(~same)[-1])
    if not forms:
        pad = min(pad, N - n)  # W's columns from the general lines
    backend = _backend(N - pad)
    if not forms and pad == 0 and backend == "scipy":
        return None  # uniform.py's scipy block elimination (lower triangles) is faster
    # the turned-over array: line a = column N-1-a, position b = row M-1-b
    lines = _Lines(np.ascontiguousarray(G[::-1, N - 1 - pad :: -1].T), g_c, g_s)
    if not lines.ok:
        return None
    prefix = _prefix(M, pad, v, g_c, g_s, g_r, N) if pad else None
    if pad and prefix is None:
        return None
    sweep = _Sweep(lines, prefix, g_r, g_d, N, backend)
    if not forms:
        W = _forward_block(sweep, m, n)
        return (W, None) if W is not None and np.all(np.isfinite(W)) else None
    X = _back(sweep, m)
    if X is None:
        return None
    work = sweep.inverses.reshape(-1)  # no longer needed: scratch for the forms
    f, out = _forms(
        lines, prefix, X, v, (g_r, g_c, g_d, g_s), (r_row, r_col, r_driver, r_sense), work
    )
    W = np.ascontiguousarray(out[::-1].T[:, :n])  # out (N, m): the sense currents, line order
    ok = np.all(np.isfinite(W)) and all(np.all(np.isfinite(q)) for q in f.Q.values())
    return (W, f) if ok else None


def _scratch(name: str, shape: tuple) -> np.ndarray:
    """An uninitialised float64 array of ``shape`` on memory this thread reuses from tile to
    tile (first touches of fresh pages cost about 10 % of a 128 x 128 tile's forms), or a
    fresh one above :data:`SCRATCH_BYTES`.  Nothing built on it may outlive the call."""
    n = math.prod(shape)
    if 8 * n > SCRATCH_BYTES:
        return np.empty(shape)
    held = getattr(_SCRATCH, name, None)
    if held is None or held.size < n:
        held = np.empty(n)
        setattr(_SCRATCH, name, held)
    return held[:n].reshape(shape)


def _in_range(G, g_r, g_c, g_d, g_s) -> bool:
    """The fast path's numerical assumptions: conductances within :data:`MAX_RATIO` of
    the wires and the wires within it of each other."""
    g = (g_r, g_c, g_d, g_s)
    if not all(np.isfinite(x) and x > 0 for x in g):
        return False
    wire = min(g_r, g_c)
    if max(g_r, g_c) > MAX_RATIO * wire or min(g_d, g_s) * MAX_RATIO < wire:
        return False
    return bool(G.size and np.all(np.isfinite(G)) and G.min() >= 0 and G.max() <= MAX_RATIO * wire)


class _Lines:
    """Every line (rows of ``Gl``, (L, P)) eliminated in O(P^2): a chain of ``ga``
    segments, end conductance ``ea`` at position 0 (to 0 V), cells ``Gl`` to the cross
    nodes.  ``T^-1_ij = d_i Pp_j / Pp_i`` (j >= i) is the inverse of a line's
    tridiagonal matrix ``T`` (forward / backward LU pivots ``lp``, ``rp``); ``H = ea Gl
    * T^-1 e_0`` (L, P) the lines' end-current responses; :meth:`schur` the Schur
    complement ``K = diag(Gl) - diag(Gl) T^-1 diag(Gl)`` of one line on its cross nodes,
    built when the sweep needs it.  ``ok`` is False when ``Pp`` underflows."""

    def __init__(self, Gl: np.ndarray, ga: float, ea: float):
        L, P = Gl.shape
        idx = np.arange(P)
        a = Gl + ga * ((idx > 0).astype(float) + (idx < P - 1))
        a[:, 0] += ea
        g2 = ga * ga
        lp = np.empty_like(a)
        rp = np.empty_like(a)
        lp[:, 0] = a[:, 0]
        for i in range(1, P):
            lp[:, i] = a[:, i] - g2 / lp[:, i - 1]
        rp[:, P - 1] = a[:, P - 1]
        for i in range(P - 2, -1, -1):
            rp[:, i] = a[:, i] - g2 / rp[:, i + 1]
        d = 1.0 / (lp + rp - a)
        rho = ga / rp
        rho[:, 0] = 1.0
        Pp = np.cumprod(rho, axis=1)
        self.ok = bool(Pp[:, -1].min() > 1e-100)
        self.Gl, self.d, self.Pp, self.lp, self.ga = Gl, d, Pp, lp, ga
        self.H = (ea * d[:, :1]) * Gl * Pp
        self._nleft, self._right = -(Gl * Pp), (Gl * d) / Pp

    def schur(self, k: int, out: np.ndarray) -> np.ndarray:
        """The lower triangle of ``K`` (P, P) of line k, into ``out`` (its strict upper
        triangle gets scratch)."""
        np.multiply.outer(self._nleft[k], self._right[k], out=out)  # -G_i T^-1_ij G_j, i >= j
        out.flat[:: out.shape[0] + 1] += self.Gl[k]
        return out


def _chain_modes(P: int, ga: float, ea: float):
    """``(mu, Q)``: eigen decomposition of the line chain ``ga L + ea e_0 e_0^T`` (cached;
    ascending).  With ``ea == ga`` (no sense resistance) it is the chain grounded one
    segment beyond its end and open at the other: ``mu_j = ga (2 - 2 cos theta_j)``,
    ``Q_ij ~ sin((i + 1) theta_j)``, ``theta_j = (2j + 1) pi / (2P + 1)``."""
    key = (P, ga, ea)
    with _LOCK:
        hit = _MODES.get(key)
    if hit is not None:
        return hit
    if ea == ga:  # the end is one more segment to 0 V: sines (no eigh)
        n, odd = 2 * P + 1, 2 * np.arange(P) + 1
        k = np.multiply.outer(np.arange(1, P + 1), odd) % (2 * n)  # exact argument reduction
        hit = (ga * (2.0 - 2.0 * np.cos(np.pi * odd / n)), np.sqrt(4.0 / n) * np.sin(np.pi * k / n))
    else:
        idx = np.arange(P)
        S = np.zeros((P, P))
        S[idx, idx] = ga * ((idx > 0).astype(float) + (idx < P - 1))
        S[0, 0] += ea
        S[idx[:-1], idx[1:]] = S[idx[1:], idx[:-1]] = -ga
        hit = np.linalg.eigh(S)
    with _LOCK:
        if len(_MODES) >= _MODE_KEYS:
            _MODES.pop(next(iter(_MODES)))
        _MODES[key] = hit
    return hit


def _prefix(P: int, pad: int, v: float, ga: float, ea: float, gb: float, L: int):
    """The ``pad`` identical padding lines (cells ``v``) at the start of the sweep, per
    mode: ``(mu, Q, lam, delta, xi, first)`` with ``lam = mu + v`` the line's eigenvalues,
    ``delta`` (pad, P) the sweep blocks' and ``xi`` (pad, P) the back substitution's
    factors (module docs) and ``first`` the last padding block's ``D^-1`` (P, P); None
    when the chain's eigenvalues are too spread to trust.  Cached (read-only arrays):
    tiles of one layer share their padding."""
    key = (P, pad, v, ga, ea, gb)  # (L only bounds pad: a padding line is never the last)
    with _LOCK:
        hit = _PREFIXES.get(key)
    if hit is not None:
        return hit
    mu, Q = _chain_modes(P, ga, ea)
    if not mu[0] > 1e-9 * mu[-1]:
        return None
    lam = mu + v
    kappa = v * mu / lam
    delta = np.empty((pad, P))
    g2 = gb * gb
    for a in range(pad):  # a < L - 1: a padding line is never the sources' end
        c = gb * ((a > 0) + 1.0)
        delta[a] = kappa + c - (g2 / delta[a - 1] if a else 0.0)
    xi = np.cumprod((gb / delta)[::-1], axis=0)[::-1]
    hit = (mu, Q, lam, delta, xi, (Q / delta[-1]) @ Q.T)
    for x in hit:
        x.setflags(write=False)
    with _LOCK:
        if len(_PREFIXES) >= _MODE_KEYS:
            _PREFIXES.pop(next(iter(_PREFIXES)))
        _PREFIXES[key] = hit
    return hit


def _backend(inversions: int) -> str:
    """How this tile's line blocks are inverted: ``"lapack"`` (:mod:`xbar.crossbar.lapack`'s
    Cholesky inverse); where that finds no LAPACK, ``"numpy"`` (``np.linalg.inv``) until the
    process has done :data:`SCIPY_AFTER` inversions (or imported scipy.linalg), then
    ``"scipy"`` (its Cholesky inverse)."""
    if lapack.available():
        return "lapack"
    with _LOCK:
        _STATE["inversions"] += inversions
        late = _STATE["inversions"] > SCIPY_AFTER
    return "scipy" if late or "scipy.linalg" in sys.modules else "numpy"


def _inverse(D: np.ndarray, backend: str) -> bool:
    """The inverse of the SPD matrix of ``D``'s lower triangle, into ``D``'s lower triangle
    (its upper one gets scratch); False where ``D`` is not positive definite."""
    if backend == "lapack":
        return lapack.cholesky_inverse(D) is not None
    if backend == "numpy":
        try:
            D[...] = np.linalg.inv(lapack.full(D))
        except np.linalg.LinAlgError:
            return False
        return True
    from scipy.linalg import lapack as scipy_lapack

    L, info = scipy_lapack.dpotrf(D, lower=1, clean=0)
    if info == 0:
        L, info = scipy_lapack.dpotri(L, lower=1, overwrite_c=1)
    D[...] = L
    return info == 0


def _product(S, X, alpha: float, out: np.ndarray, left: bool, backend: str) -> np.ndarray:
    """``alpha S X`` (``left``) or ``alpha X S`` into ``out``; S symmetric, from its lower
    triangle."""
    if backend == "lapack":
        return lapack.symmetric_product(S, X, alpha, out, left)
    A = lapack.full(S)
    np.matmul(A, X, out=out) if left else np.matmul(X, A, out=out)
    out *= alpha
    return out


class _Sweep:
    """The block sweep down the general lines: ``D_a = K_a + c_a I - gb^2 D_{a-1}^-1``
    (the padding lines' ``D^-1`` in closed form, ``eb`` the sources' end at the last
    line).  Iterating yields ``(k, D_k^-1)`` (lower triangles, in sweep order; None
    where a block is not positive definite); with ``keep`` every block stays in
    ``inverses`` (ng, P, P), else two buffers alternate."""

    def __init__(self, lines: _Lines, prefix, gb: float, eb: float, L: int, backend: str):
        self.lines, self.prefix, self.gb, self.eb, self.L = lines, prefix, gb, eb, L
        self.backend = backend
        self.ng, self.P = lines.H.shape
        self.inverses: np.ndarray | None = None

    def blocks(self, keep: bool):
        ng, P, gb, L = self.ng, self.P, self.gb, self.L
        store = _scratch("inverses", (ng, P, P)) if keep else np.empty((2, P, P))
        if keep:
            self.inverses = store
        a = L - ng + np.arange(ng)
        c = gb * ((a > 0).astype(float) + (a < L - 1)) + np.where(a == L - 1, self.eb, 0.0)
        prev = None if self.prefix is None else self.prefix[5]
        g2 = gb * gb
        for k in range(ng):
            D = self.lines.schur(k, store[k if keep else k % 2])
            D.flat[:: P + 1] += c[k]
            if prev is not None:
                D -= prev if g2 == 1.0 else g2 * prev
            if not _inverse(D, self.backend):
                yield k, None
                return
            prev = D
            yield k, D


def _forward_block(sweep: _Sweep, m: int, n: int) -> np.ndarray | None:
    """``W[:m, :n]`` alone, carrying the used columns' responses down the sweep (rows of
    ``Z``, one added per used column's line) instead of the inputs back up."""
    H, L, gb = sweep.lines.H, sweep.L, sweep.gb
    ng, P = H.shape
    Z = np.zeros((0, P))
    for k, inv in sweep.blocks(keep=False):
        if inv is None:
            return None
        a = L - ng + k
        if a >= L - n:  # a used column
            Z = np.vstack([Z, H[k : k + 1]])
        if len(Z):
            Z = _product(inv, Z, gb if a < L - 1 else 1.0, np.empty_like(Z), False, sweep.backend)
    return (sweep.eb * Z)[::-1, ::-1].T[:m, :n].copy()


def _back(sweep: _Sweep, m: int) -> np.ndarray | None:
    """Cross-node blocks of the general lines for the m unit inputs (sources at
    positions ``P-1-i`` of the last block, behind ``eb``), position-major (P, ng, m):
    ``X[:, k]`` is line k's block; None where the sweep fails."""
    for _, inv in sweep.blocks(keep=True):
        if inv is None:
            return None
    S, ng, P = sweep.inverses, sweep.ng, sweep.P
    X = _scratch("blocks", (P, ng, m))
    X[:, ng - 1] = sweep.eb * lapack.full(S[ng - 1])[:, P - 1 - np.arange(m)]
    if sweep.backend == "lapack":
        return lapack.symmetric_chain(S, X, sweep.gb)
    for k in range(ng - 2, -1, -1):
        _product(S[k], X[:, k + 1], sweep.gb, X[:, k], True, sweep.backend)
    return X


def _line_solve(lines, z: np.ndarray) -> np.ndarray:
    """``T_a^-1 z_a`` for every line a, z (P, L, m) position-major (overwritten): Thomas's
    algorithm over all lines and right-hand sides at once (LU pivots ``lp``, each step
    on one contiguous (L, m) slab), or for a handful of right-hand sides in all the
    semiseparable inverse ``T^-1_ij = d_i Pp_j / Pp_i`` (j >= i) by a suffix and an
    exclusive prefix sum (fewer numpy calls; no cancellation either: z >= 0; about 10x
    slower than Thomas per element at 128 x 128 x 9, and no more accurate)."""
    d, Pp, lp = lines.d.T, lines.Pp.T, lines.lp.T  # (P, L)
    P, L, m = z.shape
    if L * m < 32:
        return _semiseparable_solve(d, Pp, z)
    f = (lines.ga / lp)[:, :, None]
    tmp = np.empty((L, m))
    for i in range(1, P):
        z[i] += np.multiply(f[i - 1], z[i - 1], out=tmp)
    z /= lp[:, :, None]  # then y_i = z_i / lp_i + (ga / lp_i) y_{i+1}
    for i in range(P - 2, -1, -1):
        z[i] += np.multiply(f[i], z[i + 1], out=tmp)
    return z


def _semiseparable_solve(d: np.ndarray, Pp: np.ndarray, z: np.ndarray) -> np.ndarray:
    """:func:`_line_solve`'s semiseparable form; d, Pp (P, L), z (P, L, m)."""
    w = Pp[:, :, None] * z
    S1 = np.cumsum(w[::-1], axis=0)[::-1]
    u = (d / Pp)[:, :, None] * z
    S2 = np.zeros_like(u)
    np.cumsum(u[:-1], axis=0, out=S2[1:])
    return (d / Pp)[:, :, None] * S1 + Pp[:, :, None] * S2


def _gram(X: np.ndarray) -> np.ndarray:
    """``X^T X`` of the rows of X (..., m) stacked (BLAS ``syrk``, exactly symmetric)."""
    X = X.reshape(-1, X.shape[-1])
    return X.T @ X


def _line_parts(lines, X: np.ndarray, work: np.ndarray, g_r: float, g_c: float) -> tuple:
    """The general lines' shares of the forms from their blocks X (P, ng, m)
    (overwritten), in one pass each over the (P, ng, m) arrays, all position-major (no
    transposed copies): ``(rows, cols, Yd, att, y0)`` with ``rows`` and ``cols`` the
    internal row and column segments' Grams (m, m), ``Yd`` (P, m) the summed cell
    currents of every row, ``att`` (m, ng) the own-input cell voltages (sweep order)
    and ``y0`` (ng, m) every line's sense-end voltage; ``work`` flat scratch of at
    least ``X.size``."""
    P, ng, m = X.shape
    Gl = lines.Gl
    B = work[: X.size]
    dX = B[: P * (ng - 1) * m].reshape(P, ng - 1, m)
    rows = g_r * _gram(np.subtract(X[:, 1:], X[:, :-1], out=dX))
    # the lines' column nodes y = T^-1 (G x), in place of z = G x
    z = np.multiply(Gl.T[:, :, None], X, out=B.reshape(P, ng, m))
    # every driver's current is its row's summed cell current G (x - y) (g_d (V - x_0)
    # would lose digits to cancellation when the driver's drop is small)
    Yd = z.sum(axis=1)
    y = _line_solve(lines, z)
    Yd -= np.einsum("pk,pkm->pm", Gl.T, y)
    sel, ar = P - 1 - np.arange(m), np.arange(m)
    att = X[sel, :, ar] - y[sel, :, ar]
    dy = X.reshape(-1)[: (P - 1) * ng * m].reshape(P - 1, ng, m)  # X is done with
    cols = g_c * _gram(np.subtract(y[1:], y[:-1], out=dy))
    return rows, cols, Yd, att, y[0]


def _forms(lines, prefix, X, v, g, r, work) -> tuple[PowerForms, np.ndarray]:
    """``(forms, out)``: the power forms of the m unit inputs from the general lines'
    blocks X (P, ng, m) (overwritten) and the padding modes (module docs), and every
    line's sense current ``out`` (L, m), line order; ``work`` a flat scratch array of
    at least ``X.size`` (few fresh pages)."""
    g_r, g_c, g_d, g_s = g
    r_row, r_col, r_driver, r_sense = r
    P, ng, m = X.shape
    Xh = None if prefix is None else prefix[1].T @ X[:, 0]  # first block in the modes
    rows, cols, Yd, att, y0 = _line_parts(lines, X, work, g_r, g_c)
    out = g_s * y0
    att = att[:, ::-1]
    if prefix is not None:
        mu, Qm, lam, _, xi, _ = prefix
        o = (xi * (g_s * v * Qm[0] / lam)) @ Xh  # the padding lines' sense currents
        out = np.concatenate([o, out])
        Yd += Qm @ ((v * (1.0 - v / lam) * xi.sum(axis=0))[:, None] * Xh)
        ext = np.vstack([xi, np.ones((1, P))])
        w_cross = g_r * ((ext[:-1] - ext[1:]) ** 2).sum(axis=0)
        w_line = mu * (v / lam) ** 2 * (xi**2).sum(axis=0)
        rows += (Xh.T * w_cross) @ Xh
        cols += (Xh.T * w_line) @ Xh - (o.T @ o) / g_s
        sel = P - 1 - np.arange(m)
        a_pref = xi @ ((1.0 - v / lam)[:, None] * Qm[sel].T * Xh)  # (pad, m)
        att = np.hstack([att, a_pref[::-1].T])
    Yd = Yd[::-1]  # rows in order
    W = out[::-1].T  # (m, N): every column's output
    row_end, col_end = Yd.T @ Yd, W @ W.T
    Y = Yd[:m]
    Q = {"supplied": 0.5 * (Y + Y.T)}
    Q["row_wires"] = rows + r_row * row_end
    Q["col_wires"] = cols + r_col * col_end
    if r_driver > 0:
        Q["drivers"] = r_driver * row_end
    if r_sense > 0:
        Q["sense"] = r_sense * col_end
    Q["cells"] = Q["supplied"] - sum(q for k, q in Q.items() if k != "supplied")
    for k, q in Q.items():
        Q[k] = 0.5 * (q + q.T)
        Q[k].setflags(write=False)
    return PowerForms(Q=Q, attenuation=np.ascontiguousarray(att)), out
