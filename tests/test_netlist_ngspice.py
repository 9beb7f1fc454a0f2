"""ngspice reads the same files the same way: node naming, values, expression semantics.

Each test runs ngspice on the very netlist xbar reads (the ``ngspice`` fixture
skips on a machine without it and fails in CI).
"""

import numpy as np
import pytest

from xbar.spice.netlist import ngspice_name, read_netlist

pytestmark = pytest.mark.ngspice

FEATURES = """feature coverage: params, nested subckts, suffixes, continuation, G E I
* comment line
.param rbase=1k gain={2*1.5} half='rbase/2'
.options reltol=1e-9 abstol=1e-15 vntol=1e-12
.subckt leg top bot params: r=1k
R1 top m {r}         ; inline comment
R2 m bot
+ {r*2}
Vsense m msense 0
Rs msense bot 10MEGohm
.ends leg
.subckt pair a b params: rr=half*4
X1 a mid leg r={rr}
X2 mid b leg r={rr/2}
Rmid mid 0 4.7k
.ends
V1 in 0 DC 1.5V
I1 0 n2 250uA
R1 in n1 {rbase}
R2 n1 n2 {half}
R3 n2 0 2.2kohm
G1 n3 0 n1 0 1.5mS
R4 n3 0 1meg
E1 n4 0 n2 0 {gain}
R5 n4 0 10k
Xp n1 0 pair rr=3.3k
Xq n2 0 pair
Xr n4 0 pair rr=rbase*3
.op
.end
"""


def _tmp(tmp_path, text, name="net.cir"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_nodes_values_and_currents_match_ngspice(tmp_path, ngspice):
    from xbar import solve_dc

    path = _tmp(tmp_path, FEATURES)
    circuit = read_netlist(path)
    ref = ngspice(path)
    # the flattened node names are exactly ngspice's
    assert set(circuit.node_names[1:]) == set(ref.voltages)
    op = solve_dc(circuit)
    for node, v in ref.voltages.items():
        assert op.voltage(node) == pytest.approx(v[0], rel=1e-9, abs=1e-12), node
    # V-source and VCVS branch currents, named the ngspice way inside subcircuits
    names = circuit.vsources.name + circuit.vcvs.name
    assert {ngspice_name(n) for n in names} == set(ref.currents)
    for n in names:
        assert op.current(n) == pytest.approx(
            ref.currents[ngspice_name(n)][0], rel=1e-9, abs=1e-15
        ), n


def test_include_and_dc_sweep_match_ngspice(tmp_path, ngspice):
    from xbar import solve_dc

    _tmp(tmp_path, ".param rl=2k\n.subckt div a b\nR1 a m 1k\nR2 m b {rl}\n.ends\n", "lib.inc")
    path = _tmp(
        tmp_path,
        "sweep\n.include lib.inc\nV1 in 0 0\nI2 0 in 1m\nX1 in 0 div\n"
        "R9 in 0 3k\n.dc V1 0 2 0.5 I2 0 2m 1m\n.end\n",
    )
    circuit = read_netlist(path)
    ref = ngspice(path)
    res = solve_dc(circuit)
    np.testing.assert_allclose(res.voltage("x1.m"), ref.voltages["x1.m"], rtol=1e-9)
    np.testing.assert_allclose(res.current("v1"), ref.currents["v1"], rtol=1e-9, atol=1e-15)


# expressions of two control voltages, V(1) = -0.7 and V(2) = 1.3 (and V(1,2) = -2.0)
EXPRESSIONS = [
    "1e-4*sinh(2*V(1,2))",
    "V(1)*V(2) - V(2)/V(1) + 3",
    "-V(2)^2 + 2^-1 + 2^3^2/100",
    "V(1)^3 + V(2)**2.5 + pwr(V(1), 3) + pwr(V(2), 1.5)",
    "sqrt(V(2)+1) + log(V(2)+1) + ln(V(2)+2) + log10(V(2)+3) + exp(V(1))",
    "tanh(V(1)) + atan(V(2)) + asinh(V(1)) + sin(V(1)) - cos(V(2)) + tan(V(1)/4)",
    "abs(V(1)) + max(V(1), V(2)) + min(2*V(1), V(2)) + uramp(V(2)-0.1) + u(V(1))",
    "V(1) < 0 ? V(2)^2 : -V(2)",
    "(V(1) >= -0.8) + 10*(V(2) == V(2)) + 10*(V(1) <= -0.8) + 100*(V(1) != 0)"
    " + 1000*(V(2) > 1 && V(1) < 0) + 1e4*(V(1) > 0 || V(2) < 0) + 1e5*!(V(1) > 0)",
    "sgn(V(1)) + floor(V(2)) + ceil(V(1)) + cosh(V(1)) + sinh(V(2))",
    "2*pi + e + 1k*1u + 1meg*1p",
    "acos(V(1)/3) + asin(V(2)/3) + atanh(V(1)/3) + acosh(2+V(2))",
]


def test_expression_semantics_match_ngspice_bsources(tmp_path, ngspice):
    lines = ["bsource semantics", "V1 1 0 -0.7", "V2 2 0 1.3"]
    for k, text in enumerate(EXPRESSIONS):
        lines.append(f"B{k} o{k} 0 I={text}")
        lines.append(f"R{k} o{k} 0 1")
    lines += [".options reltol=1e-12", ".op", ".end", ""]
    path = _tmp(tmp_path, "\n".join(lines))
    circuit = read_netlist(path)
    ref = ngspice(path)
    volts = {"1": -0.7, "2": 1.3, "0": 0.0}
    for k, b in enumerate(circuit.bsources):
        v = [np.array([volts[p] - volts[q]]) for p, q in b.expr.controls]
        value, _ = b.expr.evaluate(v)
        # the B current flows from o_k through the source to ground: V(o_k) = -I
        got = float(value.ravel()[0])
        assert got == pytest.approx(-ref.voltages[f"o{k}"][0], rel=1e-9, abs=1e-12), EXPRESSIONS[k]


PARAMS = [
    "2^3^2",
    "-2^2",
    "(-2)^3",
    "1e3k/7",
    "2.5meg*3u",
    "max(1,2)+min(3,4)*sqrt(16)",
    "log(100)+log10(1000)+exp(0.5)",
    "3>2 ? 7 : 9",
    "abs(-3)+floor(2.7)+ceil(2.2)",
    "sinh(0.5)*cosh(0.5)/tanh(0.5)",
    "pwr(2, 3) + pow(2, 0.5)",
]


def test_param_expressions_match_ngspice(tmp_path, ngspice):
    lines = ["param semantics"]
    for k, text in enumerate(PARAMS):
        lines.append(f".param p{k} = {{{text}}}")
        lines.append(f"I{k} 0 o{k} {{p{k}}}")
        lines.append(f"R{k} o{k} 0 1")
    lines += [".op", ".end", ""]
    path = _tmp(tmp_path, "\n".join(lines))
    circuit = read_netlist(path)
    ref = ngspice(path)
    for k in range(len(PARAMS)):
        assert circuit.isources.value[k] == pytest.approx(ref.voltages[f"o{k}"][0], rel=1e-9), (
            PARAMS[k]
        )


def test_number_suffixes_match_ngspice(tmp_path, ngspice):
    values = [
        "1e3k",
        "1d3",
        "2.2MEGohm",
        "1mil",
        "10kohm",
        "3.3u",
        "4.7n",
        "1.5mA",
        "5V",
        ".5k",
        "1.",
        "2T",
        "3G",
        "6p",
        "7f",
        "1Meg",
    ]
    lines = ["suffixes"]
    for k, text in enumerate(values):
        lines.append(f"I{k} 0 o{k} {text}")
        lines.append(f"R{k} o{k} 0 1")
    lines += [".op", ".end", ""]
    path = _tmp(tmp_path, "\n".join(lines))
    circuit = read_netlist(path)
    ref = ngspice(path)
    for k, text in enumerate(values):
        assert circuit.isources.value[k] == pytest.approx(ref.voltages[f"o{k}"][0], rel=1e-9), text


# .param values wherever a value goes: .model, .dc, .options; forward references and
# redefinitions resolved as ngspice resolves them (the last definition wins, and a value may
# use parameters defined on later cards); models inside subcircuits use instance parameters
PARAM_EVERYWHERE = """params everywhere
.options reltol={rt} abstol=1e-15 vntol=1e-12
V1 a 0 1
R1 a b {rr}
.model DX d(is={iss} n={n1} rs={rs1})
D1 b 0 DX
.subckt dsub p params: nn=1
.param rser={2*rk}
.param rk=50
.model DS d(is=1e-14 n={nn} rs={rser})
R1 p m 100
D1 m 0 DS
.ends
X1 a dsub nn=1.8
X2 a dsub
.param rr={2*half}
.param half=250
.param n1=1.5 iss=2e-15 rs1=10
.param rt=1e-9
.param vmax=1 vstep={vmax/4}
.param rr=700
.dc V1 0 {vmax} {vstep}
.end
"""


def test_params_in_models_dc_and_options_match_ngspice(tmp_path, ngspice):
    from xbar import solve_dc

    path = _tmp(tmp_path, PARAM_EVERYWHERE)
    circuit = read_netlist(path)
    assert circuit.options.reltol == 1e-9
    assert circuit.resistors.value[0] == 700.0  # the last .param rr wins
    models = {n: m for n, m in zip(circuit.diodes.name, circuit.diodes.model, strict=True)}
    assert (models["d1"].is_, models["d1"].n, models["d1"].rs) == (2e-15, 1.5, 10.0)
    assert (models["x1.d1"].n, models["x1.d1"].rs) == (1.8, 100.0)
    assert models["x2.d1"].n == 1.0
    ref = ngspice(path)
    res = solve_dc(circuit)
    np.testing.assert_allclose(res.sweep, ref.sweep, rtol=1e-12)
    np.testing.assert_array_equal(res.sweep, [0, 0.25, 0.5, 0.75, 1.0])
    for node in ("b", "x1.m", "x2.m"):
        np.testing.assert_allclose(
            res.voltage(node), ref.voltages[node], rtol=1e-6, atol=1e-12, err_msg=node
        )
    np.testing.assert_allclose(res.current("v1"), ref.currents["v1"], rtol=1e-6, atol=1e-15)


def test_param_used_before_its_card_matches_ngspice(tmp_path, ngspice):
    from xbar import solve_dc

    # q is redefined after rr uses it: ngspice takes the last q (3k) for rr
    path = _tmp(
        tmp_path,
        "order\n.param q=1k\n.param rr={2*q}\n.param q=3k\nV1 a 0 1\n"
        "R1 a b {rr}\nR2 b 0 {q0}\n.param q0=1k\n.op\n.end\n",
    )
    circuit = read_netlist(path)
    assert circuit.resistors.value.tolist() == [6000.0, 1000.0]
    ref = ngspice(path)
    assert solve_dc(circuit).voltage("b") == pytest.approx(ref.voltages["b"][0], rel=1e-9)


def test_temp_card_matches_ngspice(tmp_path, ngspice):
    from xbar import solve_dc

    text = (
        "diode at 60 C\n.model DX d(is=2e-15 n=1.5 rs=5)\nV1 a 0 1\nR1 a b 1k\nD1 b 0 DX\n"
        ".options reltol=1e-9 abstol=1e-15 vntol=1e-12\n{temp}\n.op\n.end\n"
    )
    path = _tmp(tmp_path, text.format(temp=".temp 60"))
    circuit = read_netlist(path)
    assert circuit.options.temp == 60.0
    ref = ngspice(path)
    op = solve_dc(circuit)
    assert op.voltage("b") == pytest.approx(ref.voltages["b"][0], rel=1e-6)
    assert op.current("v1") == pytest.approx(ref.currents["v1"][0], rel=1e-6)
    # the same as .options temp=60, and different from the default 27 C
    same = read_netlist(text.format(temp=".options temp=60"))
    assert solve_dc(same).voltage("b") == pytest.approx(op.voltage("b"), rel=1e-12)
    room = solve_dc(read_netlist(text.format(temp="")))
    assert abs(room.voltage("b") - op.voltage("b")) > 5e-3


def test_positional_diode_area_is_rejected_like_ngspice(tmp_path, ngspice):
    from xbar import solve_dc
    from xbar.errors import NetlistError, XbarError

    text = "area\n.model DX d(is=2e-15 n=1.5)\nV1 a 0 1\nR1 a b 1k\nD1 b 0 DX {area}\n.op\n.end\n"
    bad = _tmp(tmp_path, text.format(area="2"), "bad.cir")
    with pytest.raises(NetlistError, match=r"positional area \('2'\)") as err:
        read_netlist(bad)
    assert "area=2" in err.value.hint
    assert (err.value.location.line, err.value.location.column) == (5, 11)
    with pytest.raises(XbarError, match="ngspice failed"):
        ngspice(bad)
    good = _tmp(tmp_path, text.format(area="area=2"), "good.cir")
    ref = ngspice(good)
    op = solve_dc(read_netlist(good))
    assert op.voltage("b") == pytest.approx(ref.voltages["b"][0], rel=1e-6)
