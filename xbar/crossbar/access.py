"""MOSFET access transistors of 1T1R cells (a level-1 NMOS or PMOS per cell).

Each cell's chain (device, optional selector and ``r_access``) ends in the
drain of an access transistor whose source is the cell's column node, whose
gate is driven per row (``v_gate``, one value per row [V]) and whose bulk is
ground.  The transistor's current depends on the column node voltage itself
(``vgs = V_gate - V_col``, body effect), so the cell is not a two-terminal
chain and the structured line solver does not apply: such an array is solved
exactly by the circuit engine (:mod:`xbar.spice`) on the array's own circuit
(:func:`xbar.crossbar.circuit.to_circuit`, the circuit
:meth:`xbar.Crossbar.to_netlist` writes for ngspice).  Slower
than the line solver (a sparse LU per Newton iteration), exact to the engine's
Newton tolerances (the circuit sets ``reltol=1e-10``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, ValueRangeError
from ..spice.circuit import MosModel

if TYPE_CHECKING:
    from ..spice.dc import OperatingPoint
    from .array import Crossbar
    from .solution import CrossbarSolution

__all__ = ["MosfetAccess", "solve_with_engine"]


@dataclass(frozen=True)
class MosfetAccess:
    """A level-1 access MOSFET (ngspice's ``mos1`` parameters, SI units).

    Parameters
    ----------
    vto : float
        Threshold voltage [V] (negative for PMOS).
    kp : float
        Transconductance parameter [A/V^2].
    w, l : float
        Channel width and length [m].
    gamma : float
        Body-effect coefficient [V^0.5].
    phi : float
        Surface potential [V].
    lam : float
        Channel-length modulation LAMBDA [1/V].
    polarity : {"nmos", "pmos"}

    Examples
    --------
    >>> MosfetAccess(vto=0.45, kp=300e-6).model_card("nacc")
    '.model nacc NMOS(LEVEL=1 VTO=0.45 KP=0.0003 GAMMA=0.0 PHI=0.6 LAMBDA=0.0)'
    """

    vto: float = 0.5
    kp: float = 2e-4
    w: float = 1e-6
    l: float = 1e-6  # noqa: E741 - the SPICE name
    gamma: float = 0.0
    phi: float = 0.6
    lam: float = 0.0
    polarity: str = "nmos"

    def __post_init__(self):
        if self.polarity not in ("nmos", "pmos"):
            raise ConfigError(f"MosfetAccess.polarity={self.polarity!r}; expected 'nmos' or 'pmos'")
        for name in ("kp", "w", "l", "phi"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v > 0):
                raise ValueRangeError(f"MosfetAccess.{name}={v!r} must be positive and finite")
        for name in ("vto", "gamma", "lam"):
            if not np.isfinite(getattr(self, name)) or (name != "vto" and getattr(self, name) < 0):
                raise ValueRangeError(
                    f"MosfetAccess.{name}={getattr(self, name)!r} is out of range"
                )

    def model(self, name: str = "nacc") -> MosModel:
        """The engine's level-1 model of this transistor, named ``name``."""
        return MosModel(
            name,
            sign=1 if self.polarity == "nmos" else -1,
            vto=float(self.vto),
            kp=float(self.kp),
            gamma=float(self.gamma),
            phi=float(self.phi),
            lam=float(self.lam),
        )

    def model_card(self, name: str) -> str:
        """The ``.model`` card of this transistor."""
        from .netlist import mos_model_card

        return mos_model_card(self.model(name))


def solve_with_engine(xb: Crossbar, V: np.ndarray, return_nodes: bool = False) -> CrossbarSolution:
    """Solve a 1T1R array with MOSFET access for inputs ``V`` (K, M) with the engine.

    The array's circuit (:func:`~xbar.crossbar.circuit.to_circuit`, access
    transistors included) is solved by :func:`xbar.solve_dc` once per input.
    Returns a :class:`~xbar.crossbar.solution.CrossbarSolution` (``iterations``:
    Newton iterations per input, ``residual``: 0, as the engine's Newton test
    replaces it).
    """
    from ..spice.dc import solve_dc
    from .circuit import to_circuit
    from .solution import CrossbarSolution

    K, M = V.shape
    N = xb.N
    xc = to_circuit(xb)
    out = np.zeros((K, N))
    inp = np.zeros((K, M))
    its = np.zeros(K, dtype=np.int64)
    nodes = np.zeros((3, K, M, N)) if return_nodes else None
    for k in range(K):
        xc.set_inputs(V[k])
        op = solve_dc(xc.circuit)
        out[k] = xc.outputs(op.current)
        inp[k] = xc.input_currents(op.current)
        its[k] = op.iterations
        if return_nodes:
            for i in range(M):
                for j in range(N):
                    nodes[0, k, i, j] = op.voltage(f"r{i}_{j}")
                    nodes[1, k, i, j] = op.voltage(f"c{i}_{j}")
                    nodes[2, k, i, j] = _cell_current(xb, op, i, j)
    rows, cols, cells = (None, None, None) if nodes is None else nodes
    return CrossbarSolution(
        output=out,
        input_currents=inp,
        iterations=its,
        residual=np.zeros(K),
        inputs=V,
        row_voltages=rows,
        col_voltages=cols,
        cell_currents=cells,
        state=None,
        system=xb.setup(),
    )


def _cell_current(xb: Crossbar, op: OperatingPoint, i: int, j: int) -> float:
    """Current [A] through cell (i, j), from its device's law across its first element."""
    g = float(xb.G[i, j])
    if g == 0:
        return 0.0
    after = f"x{i}_{j}_0" if f"x{i}_{j}_0" in op.voltages else f"y{i}_{j}"
    v = op.voltage(f"r{i}_{j}") - op.voltage(after)
    return float(np.ravel(xb.device.current(np.array([v]), np.array([g])))[0])
