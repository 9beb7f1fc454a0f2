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


def test_circuit_holds_the_access_mosfets_and_the_reference_solves_it():
    from xbar.crossbar.circuit import to_circuit
    from xbar.crossbar.reference import reference_solve

    xb = _array(xbar.Sinh(3.0))
    V = np.array([0.2, 0.1, 0.3, 0.25])
    xc = to_circuit(xb, V)
    mos = xc.circuit.mosfets
    assert len(mos) == xb.M * xb.N and mos.model[0].vto == 0.45 and mos.model[0].sign == 1
    names = xc.circuit.node_names
    k = mos.name.index("macc2_1")
    assert [names[mos.nd[k]], names[mos.ng[k]], names[mos.ns[k]]] == ["y2_1", "g2", "c2_1"]
    op = xbar.solve_dc(xc.circuit)  # the general sparse path
    sol = xb.solve(V)
    np.testing.assert_allclose(xc.outputs(op.current), sol.output[0], rtol=1e-9, atol=1e-18)
    np.testing.assert_allclose(reference_solve(xb, V)[0], sol.output[0], rtol=1e-9, atol=1e-18)


def test_exported_netlist_reads_back_as_the_same_circuit():
    from xbar.crossbar.circuit import to_circuit

    acc = MosfetAccess(vto=-0.4, kp=1e-4, gamma=0.2, lam=0.05, polarity="pmos")
    xb = xbar.Crossbar(np.full((2, 3), 5e-5), 1.0, 1.0, access=acc, v_gate=[0.0, 1.0])
    V = np.array([0.2, 0.3])
    built = to_circuit(xb, V).circuit
    read = xbar.read_netlist(xb.to_netlist(V=V))
    assert read.mosfets.name == built.mosfets.name
    assert read.mosfets.model[0] == built.mosfets.model[0]  # PMOS, every parameter
    for key in ("l", "w", "ad", "as_", "nrd", "nrs", "m", "dtemp"):
        np.testing.assert_array_equal(getattr(read.mosfets, key), getattr(built.mosfets, key))
    for key in ("nd", "ng", "ns", "nb"):
        a = [built.node_names[n] for n in getattr(built.mosfets, key)]
        assert a == [read.node_names[n] for n in getattr(read.mosfets, key)]
    x_built, x_read = xbar.solve_dc(built), xbar.solve_dc(read)
    for name in ("vsense0_b", "vsense2_b", "vin1_l"):
        assert x_read.current(name) == pytest.approx(x_built.current(name), rel=1e-12, abs=1e-18)


def test_mosfet_table_is_expanded_before_assembly():
    from xbar.errors import CircuitError
    from xbar.spice.assembly import Pattern
    from xbar.spice.mosfet import expand_mosfets

    c = xbar.read_netlist(
        "m\nvd d 0 1\nvg g 0 1\nm1 d g 0 0 nm L=1u W=2u\n"
        ".model nm nmos(level=1 vto=0.5 kp=1e-4 rd=10)\n.op\n"
    )
    assert len(c.mosfets) == 1 and "m1#drain" not in c.node_names
    with pytest.raises(CircuitError, match="expand_mosfets"):
        Pattern.build(c)
    ex = expand_mosfets(c)
    assert "m1#drain" in ex.node_names and "m1#rd" in ex.resistors.name
    assert [b.name for b in ex.bsources] == ["m1"] * 3 and not len(ex.mosfets)
    op = xbar.solve_dc(c)
    # saturation, vgs - vto = 0.5 V: Ids = kp W/L / 2 * 0.25 (RD drops 1 uV only)
    assert -op.current("vd") == pytest.approx(1e-4 * 2 / 2 * 0.25, rel=1e-4)
