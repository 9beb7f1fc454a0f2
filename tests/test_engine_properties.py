"""Hypothesis properties of DC solutions: KCL, linearity, reciprocity, passivity."""

from __future__ import annotations

import numpy as np
from engine_builders import build
from hypothesis import given, settings
from hypothesis import strategies as st

from xbar.spice.circuit import DiodeModel
from xbar.spice.dc import solve_dc


@st.composite
def resistor_networks(draw):
    n = draw(st.integers(3, 9))
    els = []
    for k in range(1, n):  # spanning tree keeps every node connected to ground
        parent = draw(st.integers(0, k - 1))
        els.append((f"RT{k}", f"n{k}", f"n{parent}" if parent else "0", draw(st.floats(1.0, 1e5))))
    for k in range(draw(st.integers(0, 2 * n))):
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(0, n - 1).filter(lambda x, a=a: x != a))
        els.append(
            (f"RX{k}", f"n{a}" if a else "0", f"n{b}" if b else "0", draw(st.floats(1.0, 1e5)))
        )
    return n, els


def _injected(n, els, node, amps):
    return els + [("IP", "0", f"n{node}", amps)]


@settings(max_examples=25, deadline=None)
@given(resistor_networks(), st.data())
def test_reciprocity_of_transfer_resistance(net, data):
    n, els = net
    i = data.draw(st.integers(1, n - 1))
    j = data.draw(st.integers(1, n - 1))
    vij = solve_dc(build(_injected(n, els, i, 1e-3))[0]).voltage(f"n{j}")
    vji = solve_dc(build(_injected(n, els, j, 1e-3))[0]).voltage(f"n{i}")
    assert np.isclose(vij, vji, rtol=1e-9, atol=1e-15)


@settings(max_examples=25, deadline=None)
@given(resistor_networks(), st.floats(-10, 10), st.floats(-1e-2, 1e-2))
def test_linearity_and_passivity(net, v, i):
    n, els = net
    base = els + [("VS", "n1", "0", 1.0)]
    c1 = build(base + [("IS", "0", f"n{n - 1}", 0.0)])[0]
    c2 = build(base + [("IS", "0", f"n{n - 1}", 1.0)])[0]
    c0 = build(
        [(e[0], e[1], e[2], v) if e[0] == "VS" else e for e in base] + [("IS", "0", f"n{n - 1}", i)]
    )[0]
    x1, x2 = solve_dc(c1).x, solve_dc(c2).x
    c_v0 = build(
        [(e[0], e[1], e[2], 0.0) if e[0] == "VS" else e for e in base]
        + [("IS", "0", f"n{n - 1}", 1.0)]
    )[0]
    x_i = solve_dc(c_v0).x  # response to 1 A alone
    x_v = x1  # response to 1 V alone (IS = 0)
    np.testing.assert_allclose(
        solve_dc(c0).x, v * x_v + i * x_i, rtol=1e-9, atol=1e-12 * (1 + np.abs(x2).max())
    )
    # passivity: with only the voltage source on, node voltages lie between 0 and 1 V
    op = solve_dc(c1)
    volts = np.array(list(op.voltages.values()))
    # round-off of a direct solve grows with the spread of the conductances (eps x ratio)
    r = [e[3] for e in els if e[0].startswith("R")]
    slack = 1e-12 + 8 * np.finfo(float).eps * max(r) / min(r)
    assert volts.min() >= -slack and volts.max() <= 1.0 + slack
    assert op.current("vs") <= 1e-18  # the source delivers power


@settings(max_examples=20, deadline=None)
@given(resistor_networks(), st.floats(0.2, 5.0))
def test_kcl_holds_at_nonlinear_solution(net, vin):
    n, els = net
    els = els + [
        ("VS", "n1", "0", vin),
        ("D1", f"n{n - 1}", "0", "dm"),
        ("B1", "n1", f"n{n - 1}", "1e-4*sinh(2*V(n1,n" + str(n - 1) + "))"),
    ]
    c = build(els, models={"dm": DiodeModel("dm", is_=1e-14)})[0]
    op = solve_dc(c)
    # sum of currents leaving node n_{n-1}: resistors, diode (+gmin), B source (enters)
    k = n - 1
    v = {f"n{m}": op.voltage(f"n{m}") for m in range(1, n)} | {"0": 0.0}
    terms = []
    for e in els:
        if e[0].startswith("R") and f"n{k}" in (e[1], e[2]):
            other = e[2] if e[1] == f"n{k}" else e[1]
            terms.append((v[f"n{k}"] - v[other]) / e[3])
    vd = v[f"n{k}"]
    terms.append(1e-14 * np.expm1(vd / (1.38064852e-23 * 300.15 / 1.6021766208e-19)) + 1e-12 * vd)
    terms.append(-1e-4 * np.sinh(2 * (v["n1"] - vd)))
    # the Newton test bounds each device's current error by reltol (default 1e-3) of that
    # current, so the KCL sum is bounded by reltol times the largest current at the node
    scale = max(abs(t) for t in terms) + 1e-9
    assert abs(sum(terms)) <= 1e-3 * scale + 1e-12
