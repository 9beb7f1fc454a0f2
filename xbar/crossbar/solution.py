"""Results of crossbar solves: :class:`CrossbarSolution` and :class:`LinearizedCrossbar`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..checks import real_array
from ..errors import ShapeError

__all__ = [
    "CrossbarSolution",
    "LinearizedCrossbar",
    "warm_state",
    "slice_solution",
    "concat_solutions",
]


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
        Final relative KCL residual ``||A x - b|| / ||b||`` per input, recomputed
        from the solution (not an iteration's estimate); for
        :attr:`roundoff_limited` inputs the round-off floor when that is larger
        (a residual below it cannot be resolved in double precision).
    residual_floor : array (K,) or None
        Round-off floor of that residual, ``eps * || |A| |x| + |b| || / ||b||``
        (:func:`~xbar.crossbar.solver.residual_floor`): the rounding error of one
        evaluation of ``b - A x`` in double precision, below which no residual can
        be shown.  Where it is above ``tol`` (conductances spanning many decades,
        e.g. near-ideal wires beside 1e-9 S cells), ``tol`` cannot be reached or
        verified and the input is :attr:`roundoff_limited`; a residual above both
        raises instead.  None where not computed (direct solves; Newton
        solves that reached ``tol``).
    tol : float or None
        The relative residual the solve was asked for.
    inputs : array (K, M)
        The input voltages [V].
    state : mapping or None
        Solver state for warm starts (read-only): ``"xr"`` (K, nR) and ``"xc"`` (K, nC), the
        row and column unknowns [V] of the :class:`~xbar.crossbar.CrossbarSystem`,
        and for nonlinear cells ``"ve"`` (E, K, M, N), the voltage [V] across each
        of the E series elements of every cell.
    system : CrossbarSystem or None
        The system that was solved (needed by :attr:`power`).
    extrapolated : list of TableExtrapolation
        For :class:`~xbar.crossbar.Tabulated` cells or selectors: the cells whose
        voltage left the I-V table (and so sit on its linear continuation), with the
        voltage range; empty when every voltage stayed inside (or no table is used).
    """

    output: np.ndarray
    input_currents: np.ndarray
    iterations: np.ndarray
    residual: np.ndarray
    inputs: np.ndarray
    row_voltages: np.ndarray | None = None
    col_voltages: np.ndarray | None = None
    cell_currents: np.ndarray | None = None
    state: Mapping[str, np.ndarray] | None = field(default=None, repr=False)
    system: Any = field(default=None, repr=False)
    residual_floor: np.ndarray | None = None
    tol: float | None = None
    _power: Any = field(default=None, repr=False)
    extrapolated: list = field(default_factory=list)

    @property
    def batch_size(self) -> int:
        """Number of inputs K."""
        return self.output.shape[0]

    @property
    def roundoff_limited(self) -> np.ndarray:
        """bool (K,): inputs whose round-off floor is above ``tol``.

        Their solution is as exact as double precision allows for this array,
        which is less than ``tol`` asked for; :attr:`residual` then reports the
        floor (or more), never a value below it.
        """
        if self.residual_floor is None or self.tol is None:
            return np.zeros(self.batch_size, dtype=bool)
        return self.residual_floor > self.tol

    @property
    def power(self) -> Any:
        """:class:`~xbar.crossbar.power.ArrayPower` [W] of every input: what the sources
        supply and its split over cells, selectors, access resistors, row and column
        wires, drivers and sense resistors (computed on first use from the solved node
        voltages; see :mod:`xbar.crossbar.power`)."""
        if self._power is None and self.system is None:  # input-switched arrays
            from ..errors import ConfigError

            raise ConfigError(
                "this solution has no power breakdown (input-switched array)",
                hint="the supplied power is v_read * output.sum(axis=1) [W]",
            )
        if self._power is None:
            from .power import solution_power

            self._power = solution_power(self.system, self)
        return self._power


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

    def output(self, V: np.ndarray) -> np.ndarray:
        """Linearised column currents [A] for inputs ``V`` of shape (M,) or (K, M) -> (K, N)."""
        V = np.atleast_2d(real_array("V (input voltages [V])", V))
        return self.operating_output[None, :] + (V - self.V0[None, :]) @ self.W


def warm_state(ws: CrossbarSolution | None, key: str, K: int, axis: int = 0) -> np.ndarray | None:
    """A copy of ``ws.state[key]`` for a batch of K inputs (a batch of 1 is repeated)."""
    if ws is None or ws.state is None or key not in ws.state:
        return None
    x = ws.state[key]
    k0 = x.shape[axis]
    if k0 == K:
        return np.array(x, dtype=float)
    if k0 == 1:
        return np.repeat(x, K, axis=axis)
    raise ShapeError(f"warm_start has batch size {k0}; expected {K} or 1")


def slice_solution(ws: CrossbarSolution | None, a: int, b: int) -> CrossbarSolution | None:
    """Inputs ``a:b`` of a warm-start solution (a batch of 1 applies to every slice)."""
    if ws is None or ws.state is None or ws.output.shape[0] == 1:
        return ws
    st = {k: (v[:, a:b] if k == "ve" else v[a:b]) for k, v in ws.state.items()}
    return CrossbarSolution(
        ws.output[a:b],
        ws.input_currents[a:b],
        ws.iterations[a:b],
        ws.residual[a:b],
        ws.inputs[a:b],
        state=st,
    )


def _floors(parts: list[CrossbarSolution]) -> np.ndarray | None:
    """The parts' round-off floors (NaN where a part has none), or None."""
    if all(p.residual_floor is None for p in parts):
        return None
    return np.concatenate(
        [
            p.residual_floor if p.residual_floor is not None else np.full(p.batch_size, np.nan)
            for p in parts
        ]
    )


class _ConcatState(Mapping):
    """The solver states of consecutive batches as one, each array joined when first read.

    Most callers never read a batch's state (it is for warm starts and power), and
    joining it costs about 0.5 ms per input at 256x256 (Newton: three arrays of
    K x M x N): the join happens on first access, once per key."""

    def __init__(self, parts: list) -> None:
        self._parts = parts
        self._joined: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._joined:
            arrays = [p[key] for p in self._parts]  # KeyError for unknown keys
            self._joined[key] = np.concatenate(arrays, axis=1 if key == "ve" else 0)
        return self._joined[key]

    def __iter__(self):
        return iter(self._parts[0])

    def __len__(self) -> int:
        return len(self._parts[0])


def concat_solutions(parts: list[CrossbarSolution]) -> CrossbarSolution:
    """One solution from consecutive batches (the inverse of :func:`slice_solution`)."""

    def cat(name: str) -> np.ndarray | None:
        vals = [getattr(p, name) for p in parts]
        return None if vals[0] is None else np.concatenate(vals, axis=0)

    st = None if parts[0].state is None else _ConcatState([p.state for p in parts])
    return CrossbarSolution(
        output=cat("output"),
        input_currents=cat("input_currents"),
        iterations=cat("iterations"),
        residual=cat("residual"),
        inputs=cat("inputs"),
        row_voltages=cat("row_voltages"),
        col_voltages=cat("col_voltages"),
        cell_currents=cat("cell_currents"),
        state=st,
        system=parts[0].system,
        residual_floor=_floors(parts),
        tol=parts[0].tol,
    )
