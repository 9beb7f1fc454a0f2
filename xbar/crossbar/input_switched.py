"""Input-switched arrays: cells gated by the input bits, read current from a source line.

Topology (Xiao et al., "On the accuracy of analog neural network inference
accelerators", section 7): cell ``(i, j)`` is a memory cell of conductance
``G[i, j]`` in series with an access transistor of on-resistance ``r_access``.
The transistor's gate is word line ``i``, driven by row ``i``'s input bit: a 1
turns the cell on, a 0 leaves it open (the row draws no current at all).  The
read current comes from a *source line* that runs parallel to each column's *bit
line*: source-line node ``(i, j)`` connects through the cell to bit-line node
``(i, j)``; neighbouring source-line nodes are joined by ``r_source`` per segment,
bit-line nodes by ``r_col``.  The source line is held at ``v_read`` at one end
(``source_end``, through ``r_driver``), the bit line at virtual ground at its sense
end (``sense``, through ``r_sense``); the other ends are open.  The sense current of
column ``j`` for a bit pattern ``b`` is ``v_read * sum_i b_i G_eff[i, j]`` without
wire resistance (``G_eff`` = cell in series with ``r_access``).

The gate lines draw no current, so every column is an independent two-line ladder
and is solved exactly by a sweep along it (:mod:`xbar.crossbar.ladder`), O(M) per
column and pattern.  For a fixed pattern the outputs are linear in ``v_read`` (not
in the conductances): :func:`pattern_conductances` returns the per-pattern
transfer vectors ``t(b)`` (output = ``v_read * t(b)``) and caches them per array,
so repeated patterns (zero bits of sparse activations, padding, high-order bits)
are solved once.

Segment convention (as ``r_col`` of the crossbar): an (M, N) array holds, for each
row ``i``, the segment between node ``i`` and the next node towards that line's
held end (the last one joins the end); (M + 1, N) gives every segment, row 0 the top
end and row ``M`` the bottom end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, ShapeError, ValueRangeError
from ..lazy import lazy_module

ladder = lazy_module("xbar.crossbar.ladder")  # numba: imported when a bit pattern is solved

__all__ = [
    "InputSwitchedSystem",
    "build_system",
    "solve_bits",
    "pattern_conductances",
    "check_bits",
    "line_segments",
    "check_topology",
]

#: patterns kept per array in the transfer-vector cache (oldest dropped first)
CACHE_PATTERNS = 1 << 16


def line_segments(r: float | np.ndarray, M: int, N: int, held_end: str, what: str) -> np.ndarray:
    """Segment resistances (N, M + 1) [ohm] of ``r`` (``r_source`` or ``r_col``, named
    ``what`` in errors), index 0 = top end, M = bottom end; the end segment towards
    the line's ``held_end`` repeats the last given one when ``r`` is (M, N)."""
    r = np.asarray(r, dtype=float)
    if r.ndim == 0:
        return np.full((N, M + 1), float(r))
    if r.shape == (M + 1, N):
        return np.ascontiguousarray(r.T)
    if r.shape != (M, N):
        raise ShapeError(
            f"{what} has shape {r.shape}; expected a scalar, ({M}, {N}) or ({M + 1}, {N})"
        )
    seg = np.empty((N, M + 1))
    if held_end == "bottom":
        seg[:, 1:] = r.T
        seg[:, 0] = r[0]
    else:
        seg[:, :M] = r.T
        seg[:, M] = r[M - 1]
    return seg


@dataclass(frozen=True)
class InputSwitchedSystem:
    """Plain data of an input-switched array, in sweep order (see :func:`build_system`).

    Attributes
    ----------
    g : ndarray (M, N)
        Conductance of each cell when on [S] (memory cell in series with ``r_access``).
    seg_s, seg_b : ndarray (N, M + 1)
        Source- and bit-line segment resistances [ohm], driver and sense resistances
        added at the held ends; rows run from the bit line's open end (the sweep's
        start) to its sense end.
    source_at_start : bool
        The source line is held at the sweep's start end (the end opposite the sense end).
    reversed : bool
        Sweep order is bottom-to-top (the bit line is sensed at the top).
    v_read : float
        Source-line voltage [V].
    """

    g: np.ndarray
    seg_s: np.ndarray
    seg_b: np.ndarray
    source_at_start: bool
    reversed: bool
    v_read: float

    @property
    def M(self) -> int:
        return self.g.shape[0]

    @property
    def N(self) -> int:
        return self.g.shape[1]


def build_system(xb) -> InputSwitchedSystem:
    """The :class:`InputSwitchedSystem` of an input-switched :class:`~xbar.Crossbar`."""
    M, N = xb.M, xb.N
    sense, source = xb.sense, xb.source_end
    seg_s = line_segments(xb.r_source, M, N, source, "r_source")
    seg_b = line_segments(xb.r_col, M, N, sense, "r_col")
    seg_s[:, 0 if source == "top" else M] += float(xb.r_driver)
    seg_b[:, 0 if sense == "top" else M] += np.broadcast_to(xb.r_sense, (N,))
    G = np.asarray(xb.G, dtype=float)
    on = G > 0
    g = np.where(on, 1.0 / (1.0 / np.where(on, G, 1.0) + np.broadcast_to(xb.r_access, (M, N))), 0.0)
    rev = sense == "top"
    if rev:  # sweep from the bottom: reverse the rows
        g, seg_s, seg_b = g[::-1], seg_s[:, ::-1], seg_b[:, ::-1]
    start = "bottom" if rev else "top"
    return InputSwitchedSystem(
        np.ascontiguousarray(g),
        np.ascontiguousarray(seg_s),
        np.ascontiguousarray(seg_b),
        source == start,
        rev,
        float(xb.v_read),
    )


def check_bits(bits, M: int) -> np.ndarray:
    """Input bits (M,) or (K, M) of 0/1 (or bool) -> bool array (K, M)."""
    try:
        b = np.asarray(bits, dtype=float)
    except (TypeError, ValueError):
        raise ValueRangeError("input bits must be numbers 0 or 1") from None
    if b.ndim == 1:
        b = b[None, :]
    if b.ndim != 2 or b.shape[1] != M:
        raise ShapeError(f"input bits have shape {b.shape}; expected ({M},) or (K, {M})")
    bad = (b != 0) & (b != 1)
    if np.any(bad):
        k, i = np.argwhere(bad)[0]
        raise ValueRangeError(
            f"input bit [{k}, {i}] is {b[k, i]:g}; an input-switched array takes bits 0 or 1",
            hint="apply multi-bit inputs one bit per read (bit-serial) and shift-add",
        )
    return b.astype(bool)


def solve_bits(system: InputSwitchedSystem, bits, *, nodes: bool = False, kernel: str = "numba"):
    """Exact sense currents (K, N) [A] for bit patterns (K, M).

    Parameters
    ----------
    system : InputSwitchedSystem
    bits : array (M,) or (K, M)
        Input bits, 0 or 1.
    nodes : bool
        Also return the source- and bit-line node voltages (K, M, N) [V] (numpy path).
    kernel : {"numba", "numpy"}
        Compiled kernel or its readable twin (same answer to round-off).

    Returns
    -------
    out : ndarray (K, N)
        Current into each column's sense node [A].
    v_sl, v_bl : ndarray (K, M, N)
        Only with ``nodes=True``.
    """
    b = check_bits(bits, system.M)
    if system.reversed:
        b = b[:, ::-1]
    s = system
    if not nodes and kernel == "numba":
        return ladder.ladder_numba(s.g, b, s.seg_s, s.seg_b, s.source_at_start, s.v_read)
    if kernel not in ("numba", "numpy"):
        raise ConfigError(f"kernel={kernel!r}; expected 'numba' or 'numpy'")
    res = ladder.ladder_numpy(s.g, b, s.seg_s, s.seg_b, s.source_at_start, s.v_read, nodes=nodes)
    if not nodes:
        return res
    out, v_sl, v_bl = res
    if system.reversed:
        v_sl, v_bl = v_sl[:, ::-1], v_bl[:, ::-1]
    return out, v_sl, v_bl


def pattern_conductances(
    system: InputSwitchedSystem, bits, cache: dict | None = None
) -> np.ndarray:
    """Per-pattern transfer vectors ``t`` (K, N) [S]: sense current = ``v_read * t``.

    Every distinct pattern among the K rows is solved once (one batched kernel call
    for the new ones); ``cache`` (a dict owned by the caller, e.g. the array's)
    keeps solved patterns across calls, at most :data:`CACHE_PATTERNS` of them.

    Examples
    --------
    >>> import numpy as np, xbar
    >>> xb = xbar.Crossbar(np.full((3, 2), 1e-4), r_col=0.0, topology="input_switched")
    >>> t = pattern_conductances(xb.setup(), [[1, 0, 1], [0, 0, 0]])
    >>> np.allclose(t, [[2e-4, 2e-4], [0.0, 0.0]], rtol=1e-14, atol=0)
    True
    """
    M = system.M
    b = check_bits(bits, M)
    packed = np.packbits(b, axis=1)
    uniq, inverse = np.unique(packed, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    T = np.empty((uniq.shape[0], system.N))
    missing = []
    for u in range(uniq.shape[0]):
        hit = None if cache is None else cache.get(uniq[u].tobytes())
        if hit is None:
            missing.append(u)
        else:
            T[u] = hit
    if missing:
        mb = np.unpackbits(uniq[missing], axis=1, count=M).astype(bool)
        if system.reversed:
            mb = mb[:, ::-1]
        s = system
        T[missing] = ladder.ladder_numba(s.g, mb, s.seg_s, s.seg_b, s.source_at_start, 1.0)
        if cache is not None:
            if len(cache) + len(missing) > CACHE_PATTERNS:
                cache.clear()
            for u in missing:
                cache[uniq[u].tobytes()] = T[u].copy()
    return T[inverse]


def solution(system: InputSwitchedSystem, bits, return_nodes: bool = False):
    """:class:`~xbar.crossbar.CrossbarSolution` of a batch of bit patterns.

    ``inputs`` holds the bits, ``input_currents`` are 0 (the gates draw no current),
    ``row_voltages`` / ``col_voltages`` are the source- and bit-line node voltages,
    ``cell_currents`` flow from the source line to the bit line; the solve is
    direct (``iterations`` 0, ``residual`` 0).
    """
    from .solution import CrossbarSolution

    b = check_bits(bits, system.M)
    K = b.shape[0]
    sol = CrossbarSolution(
        output=np.zeros((K, system.N)),
        input_currents=np.zeros((K, system.M)),
        iterations=np.zeros(K, dtype=int),
        residual=np.zeros(K),
        inputs=b.astype(float),
    )
    if not return_nodes:
        sol.output = solve_bits(system, b)
        return sol
    sol.output, sol.row_voltages, sol.col_voltages = solve_bits(system, b, nodes=True)
    g = system.g[::-1] if system.reversed else system.g
    sol.cell_currents = b[:, :, None] * g[None] * (sol.row_voltages - sol.col_voltages)
    return sol


def check_topology(xb_kwargs: dict) -> None:
    """Reject settings that an input-switched array does not have (names the field)."""
    if xb_kwargs.get("source_end") not in ("top", "bottom"):
        raise ConfigError(f"source_end={xb_kwargs.get('source_end')!r}; expected 'top' or 'bottom'")
    if xb_kwargs.get("sense") not in ("top", "bottom"):
        raise ConfigError(
            f"sense={xb_kwargs.get('sense')!r}: an input-switched array senses "
            "each bit line at one end, 'top' or 'bottom'"
        )
    if np.any(np.asarray(xb_kwargs.get("r_row", 0.0), dtype=float) != 0):
        raise ConfigError(
            "r_row must be 0 for an input-switched array: its word lines are "
            "transistor gates and carry no current",
            hint="the source-line wire resistance is r_source",
        )
    if np.ndim(xb_kwargs.get("r_driver", 0.0)) != 0:
        raise ShapeError(
            "r_driver of an input-switched array is one source-line driver "
            "resistance (a scalar) [ohm]"
        )
    v = xb_kwargs.get("v_read")
    if not (isinstance(v, int | float | np.number) and np.isfinite(v)):
        raise ValueRangeError(f"v_read must be a finite number [V], got {v!r}")
    for name in ("drive", "selector", "row_bias", "col_bias", "access"):
        val = xb_kwargs.get(name)
        if name == "drive" and val == "left":
            continue
        if val is not None:
            raise ConfigError(f"{name} does not apply to an input-switched array")
    if not xb_kwargs.get("linear", True):
        raise ConfigError("an input-switched array needs linear cells (device=Linear())")
