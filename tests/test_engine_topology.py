"""Singular circuits are diagnosed by name before factorising; Newton failures name
the worst node."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from engine_builders import build

from xbar.errors import ConvergenceError, Location, SingularCircuitError
from xbar.spice.circuit import DiodeModel, Options
from xbar.spice.dc import solve_dc
from xbar.spice.linsolve import Factorizer
from xbar.spice.netlist import read_netlist
from xbar.spice.topology import check_topology


def test_floating_island_named():
    c, _ = build(
        [("V1", "a", "0", 1.0), ("R1", "a", "0", 1e3), ("R2", "x", "y", 1e3), ("R3", "y", "z", 1e3)]
    )
    c.locations["r2"] = Location("f.cir", 3, 1, "R2 x y 1k")
    with pytest.raises(SingularCircuitError) as e:
        solve_dc(c)
    msg = str(e.value)
    assert "floating nodes x, y, z" in msg and "no DC path to ground" in msg
    assert "f.cir:3:1" in msg  # location of an element on the island


def test_current_source_cut_set_named():
    c, _ = build(
        [
            ("V1", "a", "0", 1.0),
            ("R1", "a", "0", 1e3),
            ("I1", "a", "m", 1e-3),
            ("R2", "m", "n", 1e3),
        ]
    )
    with pytest.raises(
        SingularCircuitError,
        match=r"nodes m, n fed only by current sources "
        r"\(i1\)",
    ):
        solve_dc(c)


def test_vccs_output_only_node_is_a_cut_set():
    c, _ = build([("V1", "a", "0", 1.0), ("R1", "a", "0", 1e3), ("G1", "out", "0", "a", "0", 1e-3)])
    with pytest.raises(SingularCircuitError, match="node out fed only by current sources"):
        solve_dc(c)


def test_behavioural_source_controlled_elsewhere_is_a_feeder():
    c, _ = build(
        [
            ("V1", "a", "0", 1.0),
            ("R1", "a", "0", 1e3),
            ("B1", "0", "x", "1e-3*tanh(V(a))"),
            ("R2", "x", "y", 1e3),
        ]
    )
    with pytest.raises(
        SingularCircuitError,
        match=r"nodes x, y fed only by current sources "
        r"\(b1\)",
    ):
        solve_dc(c)
    # controlled by its own terminal it conducts: a well-posed circuit
    c, _ = build(
        [("V1", "a", "0", 1.0), ("R1", "a", "x", 1e3), ("B1", "x", "0", "1e-3*tanh(V(x))")]
    )
    assert solve_dc(c).voltage("x") > 0


def test_voltage_source_loop_named():
    c, _ = build(
        [("V1", "a", "0", 1.0), ("V2", "a", "b", 0.5), ("V3", "b", "0", 0.5), ("R1", "a", "0", 1e3)]
    )
    c.locations["v3"] = Location("f.cir", 4, 1, "V3 b 0 0.5")
    with pytest.raises(SingularCircuitError) as e:
        solve_dc(c)
    msg = str(e.value)
    assert "loop of voltage sources" in msg
    assert all(n in msg for n in ("v1", "v2", "v3")) and "f.cir:4" in msg


def test_vcvs_in_loop_and_shorted_source():
    c, _ = build([("V1", "a", "0", 1.0), ("E1", "a", "0", "a", "0", 1.0), ("R1", "a", "0", 1.0)])
    with pytest.raises(SingularCircuitError, match="v1, e1"):
        check_topology(c)
    c, _ = build([("V1", "a", "a", 1.0), ("R1", "a", "0", 1.0)])
    with pytest.raises(SingularCircuitError, match="v1 is shorted"):
        check_topology(c)


def test_well_posed_circuits_pass():
    c, _ = build(
        [
            ("V1", "a", "0", 1.0),
            ("R1", "a", "b", 1.0),
            ("D1", "b", "c", "dm"),
            ("B1", "c", "0", "1e-3*V(c)"),
            ("G1", "d", "0", "d", "0", 1e-3),
            ("R2", "d", "c", 1.0),
        ],
        models={"dm": DiodeModel("dm")},
    )
    check_topology(c)  # no exception


def test_factorizer_translates_singularity():
    import scipy.sparse as sp

    A = sp.csr_matrix(np.array([[1.0, 1.0], [1.0, 1.0]]))
    f = Factorizer(["a", "b"])
    with pytest.raises(SingularCircuitError, match="singular.*a, b|singular.*b, a"):
        f.factorize(A)


def test_factorizer_reuses_ordering_and_solves_blocks():
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    n = 40
    M = sp.random(n, n, density=0.1, random_state=1) + sp.eye(n) * 5
    M = (M + M.T).tocsr()
    f = Factorizer([f"u{k}" for k in range(n)])
    f.factorize(M)
    b = rng.normal(size=(n, 3))
    np.testing.assert_allclose(M @ f.solve(b), b, atol=1e-12)
    M2 = M.copy()
    M2.data *= 1.5
    f.factorize(M2)  # the same factorizer serves the next Newton matrix
    assert f.n_factorizations == 2
    np.testing.assert_allclose(M2 @ f.solve(b[:, 0]), b[:, 0], atol=1e-12)


def test_convergence_error_names_worst_node_and_strategies():
    c, _ = build(
        [
            ("V1", "a", "0", 5.0),
            ("R1", "a", "b", 10.0),
            ("D1", "b", "0", "dm"),
            ("D2", "b", "c", "dm"),
            ("R2", "c", "0", 10.0),
        ],
        models={"dm": DiodeModel("dm")},
    )
    with pytest.raises(ConvergenceError) as e:
        solve_dc(c, Options(itl1=2, itl2=2))  # (gmin steps take itl2, as ngspice)
    msg = str(e.value)
    assert re.search(r"worst node '[bc]' \(last change [0-9.e+]+ times its tolerance\)", msg)
    assert "devices not converged: d1, d2" in msg
    assert "newton, gmin stepping, source stepping (itl1=2 Newton iterations per run)" in msg
    assert "raise itl1 (now 2)" in e.value.hint
    assert "np.float64" not in msg


def test_overflowing_bsource_is_named_without_numpy_warnings():
    # V(a) is held at 1 V, so exp(1000*V(a)) cannot be represented: Newton must stop
    # cleanly, name the device and the node, and leak no RuntimeWarning
    text = "t\nV1 a 0 1\nB1 0 a I=exp(1000*V(a))\nR1 a 0 1\n.end\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ConvergenceError) as e:
            solve_dc(read_netlist(text))
    msg = str(e.value)
    assert "worst node 'a' (settled: last change 0 times its tolerance)" in msg
    assert "current overflowed (beyond floating-point range) in b1" in msg
    assert "strategies tried: newton, gmin stepping, source stepping" in msg
    assert "b1" in e.value.hint and "min()/max()" in e.value.hint
    assert e.value.location.line == 3  # the B card


def test_nonconvergent_dc_point_names_diodes():
    text = (
        "t\nV1 a 0 5\nR1 a b 10\nD1 b 0 dm\nD2 b c dm\nR2 c 0 10\n.model dm d(is=1e-14)\n"
        ".options itl1=3 itl2=2\n.dc v1 0 5 1\n.end\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ConvergenceError) as e:
            solve_dc(read_netlist(text))
    msg = str(e.value)
    assert "error: no convergence for the .dc point 0 (v1=0): worst node 'b'" in msg
    assert "devices not converged: d1, d2" in msg and "(itl1=3 Newton" in msg
    assert e.value.location.line == 4


def test_gmin_or_source_stepping_rescues_newton(monkeypatch):
    # force plain Newton to fail so that the fallbacks must find the answer
    from xbar.spice import newton as nw

    c, _ = build(
        [("V1", "a", "0", 5.0), ("R1", "a", "b", 1e3), ("D1", "b", "0", "dm")],
        models={"dm": DiodeModel("dm")},
    )
    ref = solve_dc(c).voltage("b")
    orig = nw.DCSystem.newton

    def flaky(self, x0, state, **kw):
        if state is None and kw.get("gshunt", 0.0) == 0.0 and kw.get("source_scale", 1.0) == 1.0:
            return nw.NewtonResult(np.asarray(x0), None, 1, False, "b", 9.0)
        return orig(self, x0, state, **kw)

    monkeypatch.setattr(nw.DCSystem, "newton", flaky)
    op = solve_dc(c)
    assert op.strategy == "gmin stepping"
    assert op.voltage("b") == pytest.approx(ref, rel=1e-6)

    def no_gmin(self, x0, **kw):
        return nw.NewtonResult(np.asarray(x0), None, 1, False, "b", 9.0)

    monkeypatch.setattr(nw.DCSystem, "gmin_stepping", no_gmin)
    op = solve_dc(c)
    assert op.strategy == "source stepping"
    assert op.voltage("b") == pytest.approx(ref, rel=1e-6)


def test_structurally_singular_nonlinear_circuit_is_singular_not_convergence():
    # E1 forces V(b) - V(b) = 0: no topology rule catches it, the factorisation does
    c, _ = build(
        [
            ("V1", "a", "0", 1.0),
            ("R1", "a", "b", 1e3),
            ("E1", "b", "0", "b", "0", 1.0),
            ("D1", "b", "0", "dm"),
        ],
        models={"dm": DiodeModel("dm")},
    )
    with pytest.raises(SingularCircuitError, match="e1#branch"):
        solve_dc(c)
