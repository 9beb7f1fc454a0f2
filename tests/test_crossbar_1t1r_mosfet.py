"""1T1R arrays with MOSFET access transistors (gate voltage per row).

``xbar.Crossbar(..., access=MosfetAccess(...), v_gate=...)`` is solved by the
circuit engine on the array's netlist; the same netlist in ngspice must give
the same column and input currents (1e-6), and the physics must show: a row
whose gate is off contributes only leakage.
"""

import numpy as np
import pytest

import xbar
from xbar.crossbar import MosfetAccess
from xbar.errors import ConfigError


def _array(device=None, **kw):
    rng = np.random.default_rng(3)
    G = rng.uniform(1e-5, 1e-4, size=(4, 3))
    acc = MosfetAccess(vto=0.45, kp=300e-6, w=0.5e-6, l=0.18e-6, gamma=0.3, phi=0.8, lam=0.1)
    return xbar.Crossbar(
        G,
        r_row=2.0,
        r_col=2.0,
        r_driver=5.0,
        r_sense=10.0,
        device=device or xbar.Linear(),
        access=acc,
        v_gate=np.array([1.8, 1.8, 0.0, 1.2]),
        **kw,
    )


def test_off_row_carries_only_leakage_and_nodes_are_consistent():
    xb = _array()
    V = np.array([0.2, 0.1, 0.3, 0.25])
    sol = xb.solve(V, return_nodes=True)
    assert sol.output.shape == (1, 3) and sol.input_currents.shape == (1, 4)
    assert abs(sol.input_currents[0, 2]) < 1e-9 < sol.input_currents[0, 0]
    # every column current is the sum of its cell currents (KCL at the sense end)
    np.testing.assert_allclose(sol.output[0], sol.cell_currents[0].sum(axis=0), rtol=1e-6)
    # a row driven alone: its gate decides the output
    alone = xb.solve(np.array([[0.0, 0.0, 0.3, 0.0], [0.0, 0.0, 0.0, 0.3]]))
    assert np.all(np.abs(alone.output[0]) < 1e-9) and np.all(alone.output[1] > 1e-6)


def test_line_solver_methods_refuse_mosfet_access():
    xb = _array()
    for call in (xb.transfer_matrix, lambda: xb.linearize(np.zeros(4)), xb.power_forms):
        with pytest.raises(ConfigError, match="MOSFET access"):
            call()
    with pytest.raises(ConfigError):
        xbar.Crossbar(np.ones((2, 2)), access="nmos")


@pytest.mark.ngspice
@pytest.mark.parametrize("device", [xbar.Linear(), xbar.Sinh(3.0)])
def test_1t1r_crossbar_matches_its_netlist_in_ngspice(device, ngspice):
    from xbar.crossbar.netlist import outputs_from_currents

    xb = _array(device)
    V = np.array([0.2, 0.1, 0.3, 0.25])
    sol = xb.solve(V)
    spice = ngspice(xb.to_netlist(V=V))
    np.testing.assert_allclose(
        sol.output[0], outputs_from_currents(xb, spice.currents), rtol=1e-6, atol=1e-15
    )
    vin = [
        -sum(float(c[0]) for n, c in spice.currents.items() if n.startswith(f"vin{i}_"))
        for i in range(4)
    ]
    np.testing.assert_allclose(sol.input_currents[0], vin, rtol=1e-6, atol=1e-15)
