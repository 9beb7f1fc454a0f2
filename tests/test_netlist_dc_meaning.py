"""The DC meaning of what ngspice accepts, the language pieces real netlists use, and
the engine defects of issues 15 and 16 (each with its regression test).

Expected numbers are closed forms (or ngspice's documented defaults); the same
circuits are cross-checked against ngspice in ``tests/test_real_netlists.py``.
"""

import math

import numpy as np
import pytest

from xbar import read_netlist, solve_dc
from xbar.errors import ConvergenceError, NetlistError, XbarError


def op(text):
    return solve_dc(read_netlist(text))


# ------------------------------------------------------------------ issue 16 defects
def test_names_with_a_period_are_ngspice_names():
    res = op("""periods
V1 1 0 1
va.b 1 2 0
v2. 2 3 0
R1 3 0 1k
.subckt sub a
vq.r a m 0
R1 m 0 1k
.ends
X1 1 sub
.op
""")
    assert set(res.currents) == {"v1", "va.b", "v2.", "v.x1.vq.r"}
    assert res.current("v2.") == pytest.approx(1e-3)
    assert res.current("va.b") == pytest.approx(1e-3)
    assert res.current("v.x1.vq.r") == pytest.approx(1e-3)
    assert res.current("x1.vq.r") == pytest.approx(1e-3)  # the plain path answers too


def test_valueless_sources_are_zero_with_a_note():
    c = read_netlist("t\nV1 a 0\nI1 0 a\nR1 a 0 1k\nV2 b 0 1\nR2 b 0 1k\n.op\n")
    assert c.vsources.value.tolist() == [0.0, 1.0] and c.isources.value.tolist() == [0.0]
    assert sum("no DC value, 0 assumed" in n for n in c.notes) == 2


def test_missing_or_zero_resistance_is_one_milliohm_as_ngspice():
    c = read_netlist("t\nV1 a 0 1\nR1 a b\nR2 b 0 {1-1}\nR3 b 0 1k\n.op\n")
    assert c.resistors.value.tolist() == [1e-3, 1e-3, 1000.0]
    assert len(c.notes) == 2 and "1 mOhm" in c.notes[0]


def test_iterative_refinement_recovers_a_weakly_tied_node():
    # n2/n7 hang on n1 through 4.4e-5 S only, beside 1 S: plain LU gave 1 + 2.3e-12 V
    res = op("""weak tie
VS n1 0 1
RT1 n1 0 1
RT2 n2 n1 22515
RT7 n7 n2 1
RT3 n3 0 1
.op
""")
    assert res.voltage("n2") == 1.0 and res.voltage("n7") == 1.0
    assert res.current("vs") == -1.0


# ------------------------------------------------------------------ DC meaning
def test_source_specifications_use_dc_or_time_zero_values():
    c = read_netlist("""specs
V1 1 0 PULSE(0.5 5 1n 1n 1n 10n 20n)
V2 2 0 SIN(0.3 1 1k 0 0 30)
V3 3 0 EXP(0.7 2 1n 1n 2n 2n)
V4 4 0 PWL(0 0.9 1n 2 2n 3)
V5 5 0 SFFM(0.2 1 1k 0.5 100 20 40)
V6 6 0 DC 2 AC 1 SIN(0 1 1k)
V7 7 0 AC 1
V8 8 0 pulse 0.25 5 0 1n
V9 9 0 0.5 PULSE(0 1)
V10 10 0 PWL(-1n 0 1n 2) r=0
I1 0 11 PULSE(1m 2m 0 1n)
R1 1 0 1k
.op
""")
    sffm = 0.2 + math.sin(math.radians(20) + 0.5 * math.sin(math.radians(40)))
    want = [0.5, 0.8, 0.7, 0.9, sffm, 2.0, 0.0, 0.25, 0.5, 1.0]
    np.testing.assert_allclose(c.vsources.value, want, rtol=1e-15, atol=1e-15)
    assert c.isources.value.tolist() == [1e-3]


def test_capacitors_open_inductors_short_coupling_ignored():
    res = op("""reactive
V1 in 0 1
R1 in a 1k
C1 a 0 1u
L1 a b 1m
R2 b 0 1k
L2 in c 2m
K1 L1 L2 0.9
R3 c 0 2k
C2 c d 10p
R4 d 0 1k
.op
""")
    assert res.voltage("b") == pytest.approx(0.5)
    assert res.current("l1") == pytest.approx(0.5e-3)
    assert res.voltage("d") == 0.0 and res.voltage("c") == 1.0


def test_other_analyses_and_control_blocks_are_skipped_with_one_note():
    c = read_netlist("""skip
V1 a 0 1
R1 a 0 1k
.tran 1n 10n
.ac dec 10 1 1k
.meas tran t1 find v(a) at=1n
.control
run
plot v(a)
.endc
.ic v(a)=0.2
.op
""")
    skipped = [n for n in c.notes if "skipped .ac, .meas, .tran" in n]
    assert len(skipped) == 1
    assert any(".control" in n for n in c.notes) and any(".ic ignored" in n for n in c.notes)


def test_nodeset_is_the_newton_start_and_unknown_options_warn():
    c = read_netlist("""nodeset
.options method=gear reltol=1e-6
V1 a 0 5
R1 a b 1k
D1 b 0 dm
.model dm D(IS=1e-14)
.nodeset v(b)=0.6
.op
""")
    assert c.nodesets == {c.node_index("b"): 0.6}
    assert c.options.reltol == 1e-6 and any("'method' ignored" in n for n in c.notes)
    assert solve_dc(c).voltage("b") == pytest.approx(0.6, abs=0.1)


def test_ground_as_subcircuit_pin_is_the_global_ground():
    res = op("""gnd pin
V1 1 0 1
.subckt s a 0
R1 a 0 1k
.ends
X1 1 2 s
R2 2 0 1k
.op
""")
    assert res.current("v1") == pytest.approx(-1e-3)  # R1 to global ground; 2 is floating
    assert res.voltage("2") == 0.0


def test_bare_parameter_names_are_values():
    c = read_netlist("t\n.param rv=2k\nV1 a 0 1\nR1 a 0 rv\n.op\n")
    assert c.resistors.value.tolist() == [2000.0]


# ------------------------------------------------------------------ language pieces
def test_lib_sections_func_global_and_current_controlled_sources(tmp_path):
    (tmp_path / "m.lib").write_text(
        "* library\n.lib typ\n.param rt=2k\n.endl typ\n.lib fast\n.param rt=1k\n.endl\n"
    )
    (tmp_path / "top.cir").write_text("""pieces
.lib 'm.lib' fast
.func mem(v, g) {g*sinh(2*v)/2}
.global vdd
Vdd vdd 0 3
.subckt cell a
R1 vdd a 1k
.ends
X1 n1 cell
R0 n1 0 {rt}
Vs n4 0 1
Rs n4 n5 1k
Vm n5 0 0
F1 0 n6 Vm 2
R6 n6 0 1k
H1 n7 0 Vm 500
R7 n7 0 1k
B1 n3 0 V=2*V(n4)+1
R3 n3 0 1k
B2 0 n8 I=mem(V(n4), 1m) + 0.1*I(Vm)
R8 n8 0 1k
Rt n4 n9 1k TC1=0.01 TC2=1e-4 DTEMP=20
R9 n9 0 1k
.op
""")
    res = solve_dc(read_netlist(tmp_path / "top.cir"))
    assert res.voltage("n1") == pytest.approx(1.5)  # 1k from global vdd, rt = 1k
    assert res.voltage("n6") == pytest.approx(2.0)  # F: 2 * 1 mA into 1k
    assert res.voltage("n7") == pytest.approx(0.5)  # H: 500 ohm * 1 mA
    assert res.current("h1") == pytest.approx(-0.5e-3)
    assert res.voltage("n3") == pytest.approx(3.0)
    assert res.voltage("n8") == pytest.approx(1e-3 * math.sinh(2) / 2 * 1e3 + 0.1)
    assert res.voltage("n9") == pytest.approx(1 / (1 + 1.24))


def test_missing_lib_section_is_named(tmp_path):
    (tmp_path / "m.lib").write_text("* library\n.lib typ\n.endl\n")
    with pytest.raises(NetlistError, match="has no section 'slow'"):
        read_netlist(f"t\n.lib {tmp_path / 'm.lib'} slow\nR1 a 0 1\n")


# ------------------------------------------------------------------ issue 15 engine items
def test_deep_subcircuit_nesting_is_a_netlist_error_not_recursion():
    depth = 500
    lines = ["deep"]
    for k in range(depth):
        lines += [f".subckt s{k} a", f"X1 a s{k + 1}" if k + 1 < depth else "R1 a 0 1k", ".ends"]
    lines += ["V1 in 0 1", "X1 in s0", ".op"]
    with pytest.raises(NetlistError, match="nested more than 200 deep"):
        read_netlist("\n".join(lines) + "\n")
    ok = ["ok"] + [
        x
        for k in range(150)
        for x in (f".subckt s{k} a", f"X1 a s{k + 1}" if k + 1 < 150 else "R1 a 0 1k", ".ends")
    ]
    assert op("\n".join(ok + ["V1 in 0 1", "X1 in s0", ".op"]) + "\n").current(
        "v1"
    ) == pytest.approx(-1e-3)


def test_unterminated_subckt_names_it_and_its_line():
    with pytest.raises(NetlistError) as info:
        read_netlist("t\nV1 a 0 1\n.subckt cell p q\nR1 p q 1k\n.op\n")
    msg = str(info.value)
    assert "unterminated .subckt cell" in msg and ":3" in msg and ".ends is missing" in msg
    assert info.value.location.line == 3


def test_diode_at_its_exponent_clamp_is_not_converged():
    with pytest.raises(ConvergenceError) as info:
        op("t\nV1 a 0 100\nD1 a 0 dm\n.model dm D\n.op\n")
    assert "d1" in str(info.value)


def test_solve_dc_needs_a_circuit():
    with pytest.raises(XbarError, match="needs a Circuit, got str"):
        solve_dc("t\nV1 a 0 1\nR1 a 0 1\n")


# ------------------------------------------------------------------ devices
def test_diode_temperature_uses_eg_and_xti():
    # V = N Vt ln(I / IS(T) + 1), IS(T) = IS exp((T/Tnom - 1) EG/(N Vt) + XTI/N ln(T/Tnom))
    res = op(
        "t\n.temp 100\nI1 0 a 1m\nD1 a 0 dm\n.model dm D(IS=4E-10 EG=1.36 XTI=2.5 N=1.2)\n"
        ".options gmin=0 reltol=1e-12 vntol=1e-15\n.op\n"
    )
    t, tnom = 373.15, 300.15
    vt = 1.38064852e-23 / 1.6021766208e-19 * t
    isat = 4e-10 * math.exp((t / tnom - 1) * 1.36 / (1.2 * vt) + 2.5 / 1.2 * math.log(t / tnom))
    assert res.voltage("a") == pytest.approx(1.2 * vt * math.log(1e-3 / isat + 1), rel=1e-9)


@pytest.mark.parametrize("param", ["IKF=1m", "JSW=1e-15", "ISR=1e-12", "LEVEL=3", "TLEV=1"])
def test_diode_parameters_with_dc_effect_are_rejected_by_name(param):
    with pytest.raises(NetlistError, match=param.split("=")[0]):
        read_netlist(f"t\nV1 a 0 1\nD1 a 0 dm\n.model dm D(IS=1e-14 {param})\n.op\n")


def test_mosfet_level1_saturation_and_pmos_mirror():
    # saturation: I = KP/2 W/L (VGS - VTO)^2 (1 + LAMBDA VDS), no body effect at VBS = 0
    text = """mos
Vd d 0 {vd}
Vg g 0 {vg}
M1 d g 0 0 {m} W=10u L=2u
.model nm NMOS(VTO=0.7 KP=110u LAMBDA=0.04 GAMMA=0.45 PHI=0.7)
.model pm PMOS(VTO=-0.7 KP=110u LAMBDA=0.04 GAMMA=0.45 PHI=0.7)
.op
"""
    n = op(text.format(vd=2.5, vg=1.5, m="nm")).current("vd")
    p = op(text.format(vd=-2.5, vg=-1.5, m="pm")).current("vd")
    want = 110e-6 / 2 * 5 * 0.8**2 * (1 + 0.04 * 2.5)
    junction = 1e-12 * 2.5 + 1e-14  # bulk-drain junction, reverse: gmin*V + IS (ngspice)
    assert -n == pytest.approx(want + junction, rel=1e-9)
    assert p == pytest.approx(-n, rel=1e-12)
    linear = op(text.format(vd=0.2, vg=1.5, m="nm")).current("vd")
    want = 110e-6 * 5 * (1 + 0.04 * 0.2) * 0.2 * (0.8 - 0.1) + 1e-12 * 0.2 + 1e-14
    assert -linear == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize(
    "model,phrase",
    [
        ("nm NMOS(LEVEL=8 VTO=0.5)", "LEVEL=8"),
        ("nm NPN(BF=100)", "type NPN"),
    ],
)
def test_other_transistor_models_are_rejected_naming_model_and_level(model, phrase):
    with pytest.raises(NetlistError, match=phrase) as info:
        read_netlist(f"t\nV1 d 0 1\nM1 d d 0 0 nm\n.model {model}\n.op\n")
    assert "nm" in str(info.value)


def test_unused_models_of_other_types_are_accepted():
    c = read_netlist("t\nV1 a 0 1\nR1 a 0 1k\n.model q1 NPN(BF=100)\n.model sw1 SW\n.op\n")
    assert len(c.resistors) == 1


def test_bipolar_elements_are_rejected_by_name():
    with pytest.raises(NetlistError, match="bipolar transistors"):
        read_netlist("t\nV1 a 0 1\nQ1 a a 0 q1\n.model q1 NPN\n.op\n")


def test_cli_prints_notes_to_stderr(tmp_path, capsys):
    from xbar.cli import main

    p = tmp_path / "n.cir"
    p.write_text("notes\nV1 a 0 SIN(0 1 1k)\nR1 a 0 1k\nC1 a 0 1p\n.tran 1n 1u\n.op\n")
    assert main(["solve", str(p)]) == 0
    err = capsys.readouterr().err
    assert "note:" in err and "skipped .tran" in err and "SIN value at time 0" in err


def test_mosfet_junction_at_its_exponent_clamp_is_not_converged():
    with pytest.raises(ConvergenceError) as info:
        op("t\nVb b 0 30\nM1 0 0 0 b nm\n.model nm NMOS(VTO=0.5)\n.op\n")
    assert "m1" in str(info.value)


def test_resistor_models_and_noise_flags():
    c = read_netlist("""r models
V1 a 0 1
R1 a b rpoly l=10u w=2u
R2 b 0 1k rtc temp=80
R3 a 0 2k noiseless
R4 a 0 1k noisy=0
.model rtc R(tc1=2e-3 tc2=1e-5 tnom=20)
.model rpoly R(rsh=200 narrow=0.2u short=1u)
.op
""")
    tc = 1 + 2e-3 * 60 + 1e-5 * 3600
    np.testing.assert_allclose(
        c.resistors.value, [200 * 8 / 1.6, 1000 * tc, 2000, 1000], rtol=1e-12
    )  # ngspice: RSH (L - 2 SHORT) / (W - 2 NARROW)
