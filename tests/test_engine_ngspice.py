"""Cross-checks of the DC engine against ngspice itself.

Every example netlist in ``netlists/`` and a broad set of generated circuits
must match ngspice run on the same text: node voltages and source currents
to 1e-9 relative for linear circuits, 1e-6 for nonlinear ones (tight
``.options`` on both sides).  Requires ngspice (the ``ngspice`` fixture skips
on a developer machine without it and fails in CI).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from engine_builders import TIGHT, build

from xbar.spice.circuit import DCSweep, DiodeModel
from xbar.spice.dc import solve_dc
from xbar.spice.netlist import read_netlist

pytestmark = pytest.mark.ngspice

NETLISTS = Path(__file__).resolve().parents[1] / "netlists"
EXAMPLES = sorted(p.name for p in NETLISTS.glob("*.cir"))


def compare(result, spice, rtol):
    """Assert xbar's result equals ngspice's on every node and source both report."""
    ours_v = {k: np.atleast_1d(v) for k, v in result.voltages.items()}
    ours_i = {k: np.atleast_1d(v) for k, v in result.currents.items()}
    # every circuit node and V/E source of ours is in ngspice's output
    missing = (set(ours_v) - set(spice.voltages)) | (set(ours_i) - set(spice.currents))
    assert not missing, f"not reported by ngspice: {sorted(missing)}"
    vscale = max(np.abs(np.concatenate(list(spice.voltages.values()))).max(), 1e-30)
    iscale = max([np.abs(v).max() for v in spice.currents.values()] + [1e-30])
    for name, v in ours_v.items():
        np.testing.assert_allclose(
            v, spice.voltages[name], rtol=rtol, atol=rtol * 1e-3 * vscale, err_msg=f"v({name})"
        )
    for name, i in ours_i.items():
        np.testing.assert_allclose(
            i, spice.currents[name], rtol=rtol, atol=rtol * 1e-3 * iscale, err_msg=f"i({name})"
        )
    if result.analysis == "dc":
        np.testing.assert_allclose(result.sweep, spice.sweep, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_netlists_match_ngspice(name, ngspice):
    path = NETLISTS / name
    circuit = read_netlist(path)
    result = solve_dc(circuit)
    rtol = 1e-9 if circuit.is_linear else 1e-6
    compare(result, ngspice(path).first_point(), rtol)  # (.tran: its first time point)


def test_examples_cover_the_required_kinds():
    assert {
        "crossbar_linear_4x4.cir",
        "crossbar_sinh_4x4.cir",
        "crossbar_1s1r_4x4.cir",
        "ladder_dc.cir",
        "diode_nested_dc.cir",
        "subckt_param.cir",
    } <= set(EXAMPLES)


# ---------------------------------------------------------------- generated circuits
def random_linear(seed, n_nodes=10, vin=None):
    """A random well-posed linear circuit: resistor tree + extras, V/E without loops, I, G."""
    rng = np.random.default_rng(seed)
    nodes = ["0"] + [f"n{k}" for k in range(1, n_nodes)]
    els = []
    for k in range(1, n_nodes):  # random spanning tree of resistors
        els.append(
            (f"R{k}", nodes[k], nodes[int(rng.integers(0, k))], float(10 ** rng.uniform(0, 5)))
        )
    for k in range(n_nodes):
        a, b = rng.choice(n_nodes, 2, replace=False)
        els.append((f"RX{k}", nodes[a], nodes[b], float(10 ** rng.uniform(0, 5))))
    parent = list(range(n_nodes))

    def find(i):
        while parent[i] != i:
            i = parent[i]
        return i

    if vin is not None:
        els.append(("VIN", "n1", "0", vin))
        parent[1] = 0
    for k in range(4):
        a, b = (int(x) for x in rng.choice(n_nodes, 2, replace=False))
        if find(a) == find(b):
            continue
        parent[find(a)] = find(b)
        if k % 2 == 0:
            els.append((f"V{k}", nodes[a], nodes[b], float(rng.normal(0, 3))))
        else:
            c, d = rng.choice(n_nodes, 2, replace=False)
            els.append((f"E{k}", nodes[a], nodes[b], nodes[c], nodes[d], float(rng.normal(0, 2))))
    for k in range(3):
        a, b = rng.choice(n_nodes, 2, replace=False)
        els.append((f"I{k}", nodes[a], nodes[b], float(rng.normal(0, 1e-3))))
        c, d = rng.choice(n_nodes, 2, replace=False)
        els.append((f"G{k}", nodes[a], nodes[b], nodes[c], nodes[d], float(rng.normal(0, 1e-4))))
    return els


@pytest.mark.parametrize("seed", range(12))
def test_random_linear_circuits_match_ngspice(seed, ngspice):
    els = random_linear(seed)
    if not any(e[0][0] in "VI" for e in els):
        els.append(("V99", "n1", "0", 1.0))
    circuit, text = build(els)
    result = solve_dc(circuit)
    compare(result, ngspice(text), 1e-9)
    # the same text through the netlist reader gives the same answer
    again = solve_dc(read_netlist(text))
    np.testing.assert_allclose(again.x, result.x, rtol=1e-12, atol=1e-18)


def test_random_linear_sweep_matches_ngspice(ngspice):
    els = random_linear(3) + [("VS", "n2", "0", 0.0)]
    circuit, text = build(
        els, analysis=DCSweep("vs", -1.0, 1.0, 0.25, outer=DCSweep("i0", 0.0, 2e-3, 1e-3))
    )
    compare(solve_dc(circuit), ngspice(text), 1e-9)


DIODES = {
    "dfast": DiodeModel("dfast", is_=1e-14, n=1.0),
    "dslow": DiodeModel("dslow", is_=3e-12, n=1.9, rs=12.0),
    "dzen": DiodeModel("dzen", is_=1e-13, n=1.2, bv=3.3, ibv=1e-5),
}


def random_nonlinear(seed, n_nodes=8):
    rng = np.random.default_rng(100 + seed)
    els = random_linear(seed, n_nodes, vin=float(rng.uniform(1.0, 5.0)))
    els = [e for e in els if e[0][0] != "G" and e[0][0] != "E"]
    nodes = ["0"] + [f"n{k}" for k in range(1, n_nodes)]
    for k in range(4):
        a, b = (str(nodes[int(x)]) for x in rng.choice(n_nodes, 2, replace=False))
        model = ["dfast", "dslow", "dzen"][k % 3]
        area = float(rng.uniform(0.5, 3.0))
        # each diode in series with a resistor (no ideal source straight across a junction)
        els.append((f"D{k}", a, f"m{k}", model, area))
        els.append((f"RD{k}", f"m{k}", b, float(10 ** rng.uniform(1, 4))))
    for k in range(3):
        a, b = (str(nodes[int(x)]) for x in rng.choice(n_nodes, 2, replace=False))
        c, d = (str(nodes[int(x)]) for x in rng.choice(n_nodes, 2, replace=False))
        g = float(10 ** rng.uniform(-5, -3))
        # sinh and exp cells are two-terminal (passive); the tanh one is cross-controlled
        expr = [
            f"{g!r}*sinh(2.5*V({a},{b}))",
            f"{g!r}*tanh(V({c},{d}))*0.5",
            f"{g!r}*(exp(V({a},{b})/0.5)-1)",
        ][k]
        els.append((f"B{k}", a, b, expr))
    return els


@pytest.mark.parametrize("seed", range(16))
def test_random_nonlinear_circuits_match_ngspice(seed, ngspice):
    els = random_nonlinear(seed)
    circuit, text = build(els, options=TIGHT, models=DIODES)
    result = solve_dc(circuit)
    compare(result, ngspice(text), 1e-6)


def test_nonlinear_sweep_with_breakdown_matches_ngspice(ngspice):
    els = [
        ("VIN", "a", "0", 0.0),
        ("R1", "a", "b", 1e3),
        ("D1", "0", "b", "dzen", 2.0),
        ("D2", "b", "c", "dslow"),
        ("R2", "c", "0", 5e3),
        ("B1", "c", "0", "2e-5*sinh(3*V(c))"),
    ]
    circuit, text = build(
        els, options=TIGHT, models=DIODES, analysis=DCSweep("vin", -2.0, 6.0, 0.25)
    )
    compare(solve_dc(circuit), ngspice(text), 1e-6)


def test_sources_inside_subcircuits_use_ngspice_names(ngspice):
    text = """hierarchical sources
.subckt inner a b
vm a m dc 0.1
r1 m b 1k
e1 q 0 m 0 2
rq q 0 1k
.ends
.subckt outer a b
x2 a b inner
rb a b 3k
.ends
v1 in 0 1
x1 in 0 outer
x3 in out inner
r2 out 0 1k
.op
.end
"""
    result = solve_dc(read_netlist(text))
    assert {"v.x1.x2.vm", "e.x1.x2.e1", "v.x3.vm"} <= set(result.currents)
    assert result.current("x1.x2.vm") == result.current("v.x1.x2.vm")
    compare(result, ngspice(text), 1e-9)


@pytest.mark.parametrize("temp", [-20.0, 85.0])
def test_diode_temperature_matches_ngspice(temp, ngspice):
    from dataclasses import replace

    els = [
        ("VIN", "a", "0", 0.0),
        ("R1", "a", "b", 1e3),
        ("D1", "b", "0", "dslow", 1.5),
        ("D2", "0", "b", "dzen"),
    ]
    circuit, text = build(
        els,
        options=replace(TIGHT, temp=temp),
        models=DIODES,
        analysis=DCSweep("vin", -5.0, 5.0, 0.5),
    )
    text = text.replace(".options ", f".options temp={temp!r} ")
    compare(solve_dc(circuit), ngspice(text), 1e-6)


@pytest.mark.parametrize("cell,size", [("linear", (6, 5)), ("sinh", (5, 6)), ("1s1r", (4, 4))])
def test_generated_crossbars_match_ngspice(cell, size, ngspice):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from crossbar_netlist import crossbar_netlist

    text = crossbar_netlist(*size, cell=cell, seed=11, v_max=1.5)
    result = solve_dc(read_netlist(text))
    compare(result, ngspice(text), 1e-9 if cell == "linear" else 1e-6)


HARD = {
    "diode chain at 20 V": [("V1", "a", "0", 20.0), ("R1", "a", "d0", 10.0)]
    + [(f"D{k}", f"d{k}", f"d{k + 1}", "dfast") for k in range(10)]
    + [("R2", "d10", "0", 10.0)],
    "diode bridge": [
        ("V1", "p", "n", 12.0),
        ("RG", "n", "0", 1e6),
        ("D1", "p", "o", "dslow"),
        ("D2", "n", "o", "dslow"),
        ("D3", "g", "p", "dslow"),
        ("D4", "g", "n", "dslow"),
        ("RL", "o", "g", 100.0),
        ("RX", "g", "0", 1.0),
    ],
    "zener regulator": [
        ("V1", "a", "0", 15.0),
        ("R1", "a", "z", 220.0),
        ("D1", "0", "z", "dzen", 1.0),
        ("RL", "z", "0", 1e3),
    ],
    "steep sinh array": [("V1", "a", "0", 4.0), ("R1", "a", "b", 5.0)]
    + [(f"B{k}", "b", f"c{k}", "1e-4*sinh(6*V(b,c" + str(k) + "))") for k in range(5)]
    + [(f"RC{k}", f"c{k}", "0", 50.0 * (k + 1)) for k in range(5)],
    "exp with feedback": [
        ("V1", "a", "0", 2.0),
        ("R1", "a", "b", 1e3),
        ("R2", "c", "0", 1e3),
        ("B1", "b", "c", "1e-9*(exp(V(b,c)/0.04)-1)"),
        ("E1", "f", "0", "c", "0", 0.5),
        ("R3", "f", "b", 2e3),
    ],
}


@pytest.mark.parametrize("name", sorted(HARD))
def test_hard_nonlinear_circuits_match_ngspice(name, ngspice):
    circuit, text = build(HARD[name], options=TIGHT, models=DIODES)
    result = solve_dc(circuit)
    compare(result, ngspice(text), 1e-6)
