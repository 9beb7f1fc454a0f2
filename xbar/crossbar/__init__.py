"""Crossbar arrays: validated specification, plain-data system, fast exact solvers.

``Crossbar`` (the specification) -> :meth:`~Crossbar.setup` -> :class:`CrossbarSystem`
(plain data, :mod:`xbar.crossbar.system`) -> :mod:`xbar.crossbar.solver` (CG, Newton)
and :mod:`xbar.crossbar.transfer` (exact transfer matrices).

>>> import numpy as np, xbar
>>> xb = xbar.Crossbar(np.full((2, 2), 1e-4), r_row=0.0, r_col=0.0)
>>> xb.solve([0.1, 0.2]).output   # ideal wires: V @ G
array([[3.e-05, 3.e-05]])
"""

from .access import MosfetAccess
from .array import Crossbar, CrossbarSolution, LinearizedCrossbar
from .circuit import CrossbarCircuit, to_circuit
from .devices import Device, Exponential, Linear, PowerLaw, Sinh, TableExtrapolation, Tabulated
from .netlist import to_netlist
from .system import CrossbarSystem

__all__ = [
    "Crossbar",
    "MosfetAccess",
    "CrossbarSolution",
    "LinearizedCrossbar",
    "CrossbarSystem",
    "Device",
    "Linear",
    "Sinh",
    "Exponential",
    "PowerLaw",
    "Tabulated",
    "TableExtrapolation",
    "to_netlist",
    "to_circuit",
    "CrossbarCircuit",
]
