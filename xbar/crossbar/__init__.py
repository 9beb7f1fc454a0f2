"""Crossbar arrays: structured builder, fast exact solver, cached linear maps.

>>> import numpy as np, xbar
>>> xb = xbar.Crossbar(np.full((2, 2), 1e-4), r_row=0.0, r_col=0.0)
>>> xb.solve([0.1, 0.2]).output   # ideal wires: V @ G
array([[3.e-05, 3.e-05]])
"""

from .array import Crossbar, CrossbarSolution, LinearizedCrossbar
from .devices import Device, Exponential, Linear, PowerLaw, Sinh, Tabulated
from .netlist import to_netlist

__all__ = [
    "Crossbar",
    "CrossbarSolution",
    "LinearizedCrossbar",
    "Device",
    "Linear",
    "Sinh",
    "Exponential",
    "PowerLaw",
    "Tabulated",
    "to_netlist",
]
