"""The circuit engine: a small SPICE for DC analysis.

Reading (:mod:`~xbar.spice.netlist`, :mod:`~xbar.spice.expr`, :mod:`~xbar.spice.units`)
turns netlist text into a :class:`~xbar.spice.circuit.Circuit`; the analysis
(:mod:`~xbar.spice.assembly`, :mod:`~xbar.spice.linsolve`, :mod:`~xbar.spice.topology`,
:mod:`~xbar.spice.devices`, :mod:`~xbar.spice.newton`, :mod:`~xbar.spice.dc`) solves its DC
operating point or sweep.  :mod:`~xbar.spice.ngspice` runs ngspice on the same
netlists for cross-checks.

The public entry points are re-exported at the top level: :func:`xbar.read_netlist`
and :func:`xbar.solve_dc`.
"""

from __future__ import annotations

import importlib

_LAZY = {"read_netlist": "netlist", "solve_dc": "dc", "OperatingPoint": "dc", "SweepResult": "dc"}
__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xbar.spice' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
