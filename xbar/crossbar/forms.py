"""Power of a linear array as data: :class:`ArrayPower` (one solve's power by part) and
:class:`PowerForms` (the power of any input as quadratic forms).

Kept apart from :mod:`xbar.crossbar.power` (which computes them from a solved
system) so that the network's tiles can hold and apply forms without importing the
solver's modules.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ..checks import real_array
from ..errors import ValueRangeError

__all__ = ["PARTS", "ArrayPower", "PowerForms"]

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


@dataclass(frozen=True)
class PowerForms:
    """Power of a linear array as quadratic forms of its inputs: ``P_c(V) = V^T Q_c V``.

    Attributes
    ----------
    Q : dict of str to array (M, M)
        Symmetric matrix [S] of the parts of :data:`PARTS` that can dissipate (a part
        absent here is zero: selectors of linear cells, access without ``r_access``,
        ...) and ``"supplied"`` (the symmetrised input admittance matrix).
    attenuation : array (m, N)
        Voltage across cell (i, j)'s device per volt applied at input i, all other
        inputs at 0 V (1 for ideal wires).
    transfer : array (m, N) or None
        Output currents [A] per volt at each input: the first m rows of the transfer
        matrix, from the same direct elimination (None where the forms came from an
        iterative solve).

    The forms cover the array's first m inputs (all M by default), the others held at
    0 V; every cell, line and end of the array still counts.
    """

    Q: dict
    attenuation: np.ndarray
    transfer: np.ndarray | None = None

    @property
    def inputs(self) -> int:
        """Number m of inputs the forms cover."""
        return self.attenuation.shape[0]

    def first(self, m: int) -> PowerForms:
        """The forms of the first ``m`` inputs, the others held at 0 V (views, no copy)."""
        if m == self.inputs:
            return self
        if not 1 <= m <= self.inputs:
            raise ValueRangeError(f"first({m}): these forms cover 1 to {self.inputs} inputs")
        W = None if self.transfer is None else self.transfer[:m]
        return PowerForms(
            Q={k: q[:m, :m] for k, q in self.Q.items()},
            attenuation=self.attenuation[:m],
            transfer=W,
        )

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
