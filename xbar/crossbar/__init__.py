"""Crossbar arrays: validated specification, plain-data system, fast exact solvers.

``Crossbar`` (the specification) -> :meth:`~Crossbar.setup` -> :class:`CrossbarSystem`
(plain data, :mod:`xbar.crossbar.system`) -> :mod:`xbar.crossbar.solver` (CG, Newton)
and :mod:`xbar.crossbar.transfer` (exact transfer matrices).

>>> import numpy as np, xbar
>>> xb = xbar.Crossbar(np.full((2, 2), 1e-4), r_row=0.0, r_col=0.0)
>>> xb.solve([0.1, 0.2]).output   # ideal wires: V @ G
array([[3.e-05, 3.e-05]])
"""

from __future__ import annotations

import importlib

#: public names and the submodule that defines them, imported on first use, so that a
#: submodule such as :mod:`xbar.crossbar.uniform` (the network tiles' transfer matrices)
#: does not pay for the solvers' numba kernels and scipy at import
_LAZY = {
    "MosfetAccess": "access",
    "Crossbar": "array",
    "CrossbarSolution": "array",
    "LinearizedCrossbar": "array",
    "CrossbarCircuit": "circuit",
    "to_circuit": "circuit",
    "Device": "devices",
    "Exponential": "devices",
    "Linear": "devices",
    "PowerLaw": "devices",
    "Sinh": "devices",
    "TableExtrapolation": "devices",
    "Tabulated": "devices",
    "to_netlist": "netlist",
    "CrossbarSystem": "system",
}

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


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xbar.crossbar' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
