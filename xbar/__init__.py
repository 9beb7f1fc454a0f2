"""xbar: SPICE-accurate simulation of resistive crossbar arrays.

The public API is imported lazily so that ``import xbar`` stays fast:

* :func:`read_netlist`, :func:`solve_dc` -- the circuit engine;
* :class:`Crossbar` and the device models -- structured array solves;
* :mod:`xbar.network` -- neural-network inference on simulated arrays.
"""

from __future__ import annotations

import importlib

# a read-only install without a writable home: numba's cache goes to a temporary folder
from .environment import ensure_numba_cache as _ensure_numba_cache
from .errors import (
    CircuitError,
    ConfigError,
    ConvergenceError,
    InputTypeError,
    ModelError,
    NetlistError,
    ResourceError,
    ShapeError,
    SingularCircuitError,
    UnknownFieldError,
    ValueRangeError,
    XbarError,
)

_ensure_numba_cache()

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "read_netlist": "xbar.spice.netlist",
    "Circuit": "xbar.spice.circuit",
    "Options": "xbar.spice.circuit",
    "solve_dc": "xbar.spice.dc",
    "OperatingPoint": "xbar.spice.dc",
    "SweepResult": "xbar.spice.dc",
    "Crossbar": "xbar.crossbar",
    "CrossbarSolution": "xbar.crossbar",
    "Linear": "xbar.crossbar",
    "Sinh": "xbar.crossbar",
    "Exponential": "xbar.crossbar",
    "PowerLaw": "xbar.crossbar",
    "Tabulated": "xbar.crossbar",
    "plot": "xbar.plot",
    "network": "xbar.network",
}

__all__ = [
    "XbarError",
    "NetlistError",
    "CircuitError",
    "SingularCircuitError",
    "ConvergenceError",
    "ShapeError",
    "ValueRangeError",
    "ConfigError",
    "UnknownFieldError",
    "InputTypeError",
    "ModelError",
    "ResourceError",
    *_LAZY,
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'xbar' has no attribute {name!r}")
    mod = importlib.import_module(module)
    return mod if module == f"xbar.{name}" else getattr(mod, name)


def __dir__():
    return sorted(__all__)
