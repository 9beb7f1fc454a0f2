"""Plain data of a Newton run: the devices' linearisation points and a run's outcome
(shared by the Python path, :mod:`xbar.spice.newton`, and the compiled path,
:mod:`xbar.spice.compiled`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class DeviceState:
    """Linearisation points of the nonlinear devices (SPICE's ``state0``)."""

    vd: np.ndarray
    cd: np.ndarray
    gd: np.ndarray
    vb: list = field(default_factory=list)
    ib: list = field(default_factory=list)
    dib: list = field(default_factory=list)

    def copy(self) -> DeviceState:
        return DeviceState(
            self.vd.copy(),
            self.cd.copy(),
            self.gd.copy(),
            [v.copy() for v in self.vb],
            [v.copy() for v in self.ib],
            [v.copy() for v in self.dib],
        )


@dataclass
class NewtonResult:
    """Outcome of one Newton run."""

    x: np.ndarray
    state: DeviceState | None
    iterations: int
    converged: bool
    worst: str = ""
    worst_ratio: float = 0.0
    #: the node voltage (circuit or internal node) that changed most, relative to its tolerance
    worst_node: str = ""
    worst_node_ratio: float = 0.0
    #: devices still limited or failing the device test in the last iteration
    devices: tuple[str, ...] = ()
    #: devices whose current or conductance overflowed (not finite, or beyond 1e300 A)
    overflow: tuple[str, ...] = ()
