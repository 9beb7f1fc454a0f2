"""Readable reference solution of a crossbar: its circuit solved by :func:`xbar.solve_dc`.

Every node of the crossbar is an unknown (row nodes, column nodes, the
internal nodes of 1T1R / 1S1R cells, driver and sense terminals), every
zero-resistance segment is a 0 V source with its own branch current, and
every driver / sense / bias is an ideal voltage source whose branch current
gives the input and output currents directly: the circuit of
:func:`xbar.crossbar.circuit.to_circuit`, solved by the engine's general sparse
path (modified nodal analysis, sparse LU, SPICE Newton for nonlinear cells).

This is the twin the fast structured solver is tested against; it is
deliberately straightforward and slow (one engine solve per input).

>>> import numpy as np, xbar
>>> xb = xbar.Crossbar(np.full((3, 2), 1e-4), 1.0, 1.0)
>>> V = np.array([0.1, 0.2, 0.3])
>>> bool(np.allclose(reference_solve(xb, V), xb.solve(V).output, rtol=1e-9))
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..checks import real_array
from ..spice.dc import solve_dc
from .circuit import to_circuit
from .system import nodal_matrix as _nodal_matrix

if TYPE_CHECKING:
    from scipy.sparse import csc_matrix

    from .array import Crossbar

__all__ = ["ReferenceNetwork", "reference_solve", "nodal_matrix"]


class ReferenceNetwork:
    """A crossbar's engine circuit (:func:`~xbar.crossbar.circuit.to_circuit`), solved per input.

    Attributes
    ----------
    M, N : int
        Rows and columns of the array.
    circuit : CrossbarCircuit
        The circuit and the names of its input and sense sources.
    """

    def __init__(self, xb: Crossbar) -> None:
        self.M, self.N = xb.M, xb.N
        self.circuit = to_circuit(xb)
        self.node_names = self.circuit.circuit.node_names

    def solve(self, V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Solve for inputs ``V`` (M,) or (K, M) [V].

        Returns
        -------
        output : array (K, N)
            Column currents [A].
        input_currents : array (K, M)
            Currents [A] the driven row ends deliver.
        X : array (K, n nodes)
            Voltage [V] of every circuit node (``node_names`` order, ground first).
        """
        V = np.atleast_2d(real_array("V (input voltages [V])", V))
        K = V.shape[0]
        out = np.zeros((K, self.N))
        inp = np.zeros((K, self.M))
        X = np.zeros((K, len(self.node_names)))
        for k in range(K):
            self.circuit.set_inputs(V[k])
            op = solve_dc(self.circuit.circuit)
            out[k] = self.circuit.outputs(op.current)
            inp[k] = self.circuit.input_currents(op.current)
            X[k, 1:] = op.x[: len(self.node_names) - 1]
        return out, inp, X

    def voltages(self, X: np.ndarray, prefix: str) -> np.ndarray:
        """Node voltages (K, M, N) [V] of ``prefix`` ``"r"`` (rows) or ``"c"`` (columns).

        Nodes merged away (none here: zero resistances are 0 V sources) read 0 V.
        """
        index = {name: i for i, name in enumerate(self.node_names)}
        out = np.zeros((X.shape[0], self.M, self.N))
        for i in range(self.M):
            for j in range(self.N):
                idx = index.get(f"{prefix}{i}_{j}")
                if idx is not None:
                    out[:, i, j] = X[:, idx]
        return out


def reference_solve(xb: Crossbar, V: np.ndarray) -> np.ndarray:
    """Output currents (K, N) [A] of ``xb`` for inputs ``V`` by the engine's sparse path."""
    return ReferenceNetwork(xb).solve(V)[0]


def nodal_matrix(xb: Crossbar, g: np.ndarray | None = None) -> csc_matrix:
    """The reduced nodal matrix of a crossbar; see :func:`xbar.crossbar.system.nodal_matrix`."""
    return _nodal_matrix(xb.setup(), g)
