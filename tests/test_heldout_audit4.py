"""Held-out robustness audit, round 4 (audit8): netlists and the SPICE engine.

One compact regression test per defect class found by running netlists through xbar and
ngspice-39 side by side.  Reference values are ngspice-39's printed values (``ngspice -b``),
written in the tests; the tests that take the ``ngspice`` fixture check xbar's tables of
ngspice's parameter names against the installed binary itself.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from xbar import read_netlist, solve_dc
from xbar.errors import NetlistError
from xbar.spice.netlist.model_params import DEVICES


def _op(text: str, engine: str = "python"):
    return solve_dc(read_netlist(text), engine=engine)


# ------------------------------------------------------------ .model parameter names


def test_every_ngspice_parameter_name_has_one_meaning_in_xbar():
    """Each settable model/instance name of ngspice-39 is honoured, without DC effect,
    accepted at its default only, or refused: exactly one of these."""
    for dev in DEVICES.values():
        groups = [dev.honoured, dev.no_dc, set(dev.default_only), dev.refused]
        names = dev.model | dev.instance
        assert set().union(*groups) == names, dev.device
        assert sum(len(g) for g in groups) == len(names), dev.device
        assert not (dev.model_out | dev.instance_out) & (dev.model | dev.instance) - {
            "is",
            "rs",
            "rd",
            "cbd",
            "cbs",
        }, dev.device  # a MOSFET's IS/RS/RD/CBD/CBS: model parameters and instance outputs


def _devhelp(device: str) -> dict[str, set[str]]:
    """ngspice-39's ``devhelp -csv <device>``: settable and output names, model and instance."""
    from xbar.spice.ngspice import ngspice_path

    text = f"t\n.control\ndevhelp -csv {device}\n.endc\n.end\n"
    out = subprocess.run(
        [ngspice_path(), "-b"], input=text, capture_output=True, text=True, timeout=60
    ).stdout
    model, instance = out.split("Model Parameters")[1].split("Instance Parameters")
    table = {}
    for key, part in (("model", model), ("instance", instance)):
        rows = [r.split(", ") for r in part.splitlines() if r.split(", ")[0].strip().isdigit()]
        table[key] = {r[1] for r in rows if r[2] != "out"}
        table[key + "_out"] = {r[1] for r in rows if r[2] == "out"}
    return table


@pytest.mark.parametrize("device", sorted(DEVICES))
def test_parameter_tables_are_ngspice_39s(device, ngspice):
    """xbar's name lists are the installed ngspice's own tables (devhelp)."""
    table = _devhelp(device)
    dev = DEVICES[device]
    assert table["model"] - {"level"} == dev.model - {"level"}
    assert table["model_out"] == dev.model_out
    assert table["instance"] == dev.instance
    assert table["instance_out"] == dev.instance_out


_OPT = ".options reltol=1e-12 abstol=1e-18 vntol=1e-15\n.op\n.end\n"
#: one circuit per device that exercises it: forward, reverse breakdown, another
#: temperature, body effect, a resistor from sheet resistance, switches on, off, in the band
_PROBES = {
    "Diode": "t\nV1 a 0 1\nR0 a b 1k\nD1 b 0 dm\nV2 c 0 -4.9\nR2 c e 1k\nD2 0 e dm\n"
    "D3 b 0 dm2 temp=80\n.model dm d is=1e-14 rs=5 bv=5 ibv=1u {p}\n"
    ".model dm2 d is=1e-14 rs=5 bv=5 ibv=1u eg=1.1 {p}\n",
    "Mos1": "t\nVd d 0 2\nVg g 0 1.5\nVb b 0 -0.5\nM1 d g 0 b nm W=10u L=2u AD=1p AS=1p\n"
    "M2 d g 0 b nm W=10u L=2u temp=80\nRg d e 1k\nM3 e g 0 0 nm w=5u l=1u\n"
    ".model nm nmos level=1 vto=0.7 kp=110u gamma=0.4 phi=0.65 lambda=0.02 rd=10 rs=10 "
    "is=1e-14 js=1e-4 {p}\n",
    "Resistor": "t\nV1 a 0 1\nR0 a b 1k\nR1 b 0 2k rm\nR2 b 0 rm2 l=20u w=2u temp=80\n"
    ".model rm r tc1=0.01 {p}\n.model rm2 r rsh=100 tc1=0.01 {p}\n",
    "Switch": "t\nV1 a 0 1\nR0 a b 1k\nS1 b 0 a 0 sm\nVc c 0 0.5\nR2 a d 1k\nS2 d 0 c 0 sm\n"
    ".model sm sw vt=0.4 vh=0.2 ron=10 roff=1meg {p}\n",
    "CSwitch": "t\nV1 a 0 1\nR0 a b 1k\nVc c 0 2\nRc c 0 1k\nW1 b 0 Vc sm\nR3 a f 1k\n"
    "W2 f 0 Vc sm2\n.model sm csw it=-1m ih=0.5m ron=10 roff=1meg {p}\n"
    ".model sm2 csw it=-3m ih=0.1m ron=10 roff=1meg {p}\n",
}
#: a value for each honoured name (a change from the default that the probe circuit shows)
_VALUES = {
    **dict.fromkeys(("is", "js"), "2e-14"),
    **dict.fromkeys(("ibv", "ib"), "2u"),
    **dict.fromkeys(("tnom", "tref"), "40"),
    **dict.fromkeys(("trs", "trs1", "tc1", "tc1r", "tc", "tcv"), "2e-3"),
    **dict.fromkeys(("tc2", "tc2r", "trs2"), "1e-5"),
    **dict.fromkeys(("vto", "vt0"), "0.6"),
    **dict.fromkeys(("u0", "uo"), "500"),
    **dict.fromkeys(("narrow", "dw"), "0.1u"),
    **dict.fromkeys(("short", "dlr"), "0.5u"),
    **dict.fromkeys(("r", "res", "resistance"), "3k"),
    **dict.fromkeys(("nmos", "pmos", "on", "off", "area", "scale", "nrd", "nrs"), "2"),
    **dict.fromkeys(("ad", "as"), "2p"),
    "n": "1.2",
    "rs": "7",
    "bv": "4.5",
    "nbv": "1.5",
    "eg": "1.2",
    "xti": "2",
    "temp": "50",
    "dtemp": "10",
    "kp": "90u",
    "gamma": "0.5",
    "phi": "0.7",
    "lambda": "0.05",
    "rd": "20",
    "rsh": "5",
    "ld": "0.1u",
    "tox": "20n",
    "nsub": "1e16",
    "tpg": "1",
    "nss": "1e10",
    "l": "3u",
    "w": "7u",
    "tce": "0.5",
    "defw": "3u",
    "vt": "0.3",
    "vh": "0.05",
    "ron": "5",
    "roff": "2meg",
    "it": "-0.5m",
    "ih": "0.05m",
    "level": "1",
}


def _values(result) -> dict[str, np.ndarray]:
    return {k: np.atleast_1d(v) for k, v in {**result.voltages, **result.currents}.items()}


@pytest.mark.parametrize("device", sorted(DEVICES))
def test_names_without_dc_effect_change_nothing_in_ngspice(device, ngspice):
    """Every name xbar accepts as 'no DC effect' leaves ngspice-39's operating point of the
    probe circuit unchanged to 1e-9 (two values each).  (``pmos=1`` on an NMOS model was
    here and turns it into a PMOS: it is honoured now.)"""
    dev = DEVICES[device]
    base = _values(ngspice(_PROBES[device].format(p="") + _OPT))
    for name in sorted(dev.no_dc):
        for value in ("0.37", "1"):
            got = _values(ngspice(_PROBES[device].format(p=f"{name}={value}") + _OPT))
            for key, ref in base.items():
                assert got[key] == pytest.approx(ref, rel=1e-9, abs=1e-15), (name, key)


@pytest.mark.parametrize("device", sorted(DEVICES))
def test_honoured_names_on_the_model_card_as_ngspice(device, ngspice):
    """Each honoured name, written on the model card (instance names there are defaults for
    the instances), gives ngspice-39's operating point (1e-7)."""
    dev = DEVICES[device]
    for name in sorted(dev.honoured - {"m"}):
        text = _PROBES[device].format(p=f"{name}={_VALUES[name]}") + _OPT
        ref = _values(ngspice(text))
        got = _values(_op(text))
        for key, value in ref.items():
            assert got[key] == pytest.approx(value, rel=1e-7, abs=1e-13), (name, key)


def test_unknown_model_parameter_is_ignored_with_a_note():
    """ngspice-39: 'unrecognized parameter (foo) - ignored' and the run goes on; xbar
    refused ('diode model parameter 'foo' is not supported').  A model's m (no multiplier
    in ngspice) and a number-like name are dropped too.  v(b) is ngspice's."""
    text = (
        "t\nV1 a 0 1\nR0 a b 1k\nD1 b 0 dm\nM1 c c 0 0 nm\nR1 a c 10k\n"
        ".model dm d is=1e-14 foo=3 bar=1\n.model nm nmos vto=0.5 kp=1e-4 zap=1 m=4\n.op\n.end\n"
    )
    circuit = read_netlist(text)
    notes = "\n".join(circuit.notes)
    for name, line in (("foo", 7), ("bar", 7), ("zap", 8)):
        assert f"<string>:{line}: model " in notes
        assert f"unrecognized parameter ({name}) - ignored" in notes
    assert "m=4 ignored" in notes
    assert solve_dc(circuit).voltage("b") == pytest.approx(6.294408e-01, rel=1e-6)


@pytest.mark.parametrize(
    ("cards", "node", "ngspice"),
    [
        # a diode model's AREA, TEMP and DTEMP: defaults of its instances
        ("D1 b 0 dm\n.model dm d is=1e-14 area=2", "b", 6.126582e-01),
        ("D1 b 0 dm area=3\n.model dm d is=1e-14 area=2", "b", 6.028197e-01),
        ("D1 b 0 dm\n.model dm d is=1e-14 temp=50", "b", 5.893114e-01),
        ("D1 b 0 dm\n.model dm d is=1e-14 dtemp=10", "b", 6.120295e-01),
        # resistor model: R (default value), RSH with the model's L and W (10 um each when
        # not given; xbar took W = 1 um), aliases, TCE (exponential), SCALE and DTEMP
        ("R1 b 0 rm\n.model rm r r=2k", "b", 6.666667e-01),
        ("R1 b 0 rm l=20u\n.model rm r rsh=100", "b", 1.666667e-01),
        ("R1 b 0 rm\n.model rm r rsh=100", "b", 9.090909e-02),
        ("R1 b 0 rm\n.model rm r rsh=100 r=3k", "b", 9.090909e-02),
        ("R1 b 0 rm w=2u\n.model rm r rsh=100 l=30u", "b", 0.6),
        ("R1 b 0 1k rm\n.model rm r tc1r=0.01\n.temp 50", "b", 5.515695e-01),
        ("R1 b 0 1k rm\n.model rm r tce=0.01\n.temp 50", "b", 5.005721e-01),
        ("R1 b 0 1k tce=0.01\n.temp 50", "b", 5.005721e-01),
        ("R1 b 0 1k rm\n.model rm r m=2 scale=3", "b", 0.75),
        ("R1 b 0 1k rm\n.model rm r dtemp=20 tc1=0.01", "b", 5.454545e-01),
        ("R1 b 0 1k rm\n.model rm r tc=0.01\n.temp 50", "b", 5.515695e-01),
        ("R1 b 0 rm\n.model rm r resistance=3k", "b", 0.75),
        # a switch model's ON: the instances start on (inside the hysteresis band)
        ("Vc c 0 0.55\nS1 b 0 c 0 sm\n.model sm sw vt=0.5 vh=0.1 ron=1 roff=1meg on=1", "b",
         9.990010e-04),
    ],
)  # fmt: skip
def test_instance_parameters_on_a_model_card_as_ngspice(cards, node, ngspice):
    """ngspice-39 takes an instance parameter on a ``.model`` card as the default of every
    instance (and a model's own R, L, W, AREA likewise); xbar refused them or ignored them."""
    op = _op(f"t\nV1 a 0 1\nR0 a b 1k\n{cards}\n.op\n.end\n")
    assert op.voltage(node) == pytest.approx(ngspice, rel=2e-6)


def test_mosfet_model_geometry_defaults_scale_as_ngspice():
    """``.model nm nmos w=10u l=2u``: every instance's W and L (times .options scale, as
    on the instance); a model's DTEMP; PMOS=1 on an NMOS card makes it a PMOS.  I(Vd) are
    ngspice-39's."""
    mos = "t\nVd d 0 2\nVg g 0 1.5\nM1 d g 0 0 nm\n.model nm nmos level=1 vto=0.7 kp=110u {}\n"
    for extra, ngspice in (
        ("", -3.52000e-05),
        ("w=10u l=2u", -1.76000e-04),
        ("w=10 l=2\n.options scale=1u", -1.76000e-04),
        ("dtemp=20", -3.35574e-05),
    ):
        op = _op(mos.format(extra) + ".op\n.end\n")
        assert op.current("vd") == pytest.approx(ngspice, rel=1e-5), extra


@pytest.mark.parametrize(
    ("model", "col", "match"),
    [
        (".model dx d is=1e-14 vd=1", 22, "'vd' is an output of ngspice's Diode"),
        (".model dx d cond=1", 13, "'cond' is an output"),
        (".model dx d ikf=0.1", 13, "IKF=0.1 changes the DC solution"),
        (".model dx d jsw=1e-15", 13, "JSW=1e-15 changes the DC solution"),
    ],
)
def test_model_parameters_xbar_cannot_honour_are_named(model, col, match):
    """Output-only names stop ngspice too; a DC parameter xbar does not model is refused at
    its column, but only where an element uses the model."""
    text = "t\nV1 a 0 1\nR1 a b 1k\n{}\n" + model + "\n.op\n.end\n"
    with pytest.raises(NetlistError, match=match) as info:
        read_netlist(text.format("D1 b 0 dx"))
    assert (info.value.location.line, info.value.location.column) == (5, col)
    assert read_netlist(text.format("R2 b 0 1k")).node_names  # unused: no error


def test_unused_models_xbar_cannot_simulate_do_not_stop_the_netlist():
    """ngspice-39 reads a model only for its instances: a library with BSIM4 and MOS2
    models runs when only level-1 devices are used; xbar refused the whole file."""
    text = (
        "t\nV1 a 0 1\nR1 a b 1k\nD1 b 0 dd\n.model dd d is=1e-14\n"
        ".model n4 nmos level=54 version=4.5 toxe=1n\n.model n2 nmos level=2\n"
        ".model dk d ikf=0.1 isr=1e-12\n.op\n.end\n"
    )
    assert _op(text).voltage("b") == pytest.approx(6.294408e-01, rel=1e-6)
    with pytest.raises(NetlistError, match="LEVEL=2") as info:
        read_netlist(text.replace("D1 b 0 dd", "M1 b b 0 0 n2"))
    assert info.value.location.line == 7


# ------------------------------------------------------------ switches with hysteresis

_SELECTOR = (
    "threshold selector in series with a resistor, controlled by its own voltage\n"
    "V1 a 0 0\nR0 a b 1k\nS1 b c b c sm\nR2 c 0 100\n"
    ".model sm sw vt=0.5 vh=0.2 ron=1k roff=1meg\n"
    ".options reltol=1e-9 abstol=1e-15 vntol=1e-12\n.dc V1 {dc}\n.end\n"
)


@pytest.mark.parametrize("engine", ["python", "compiled"])
def test_self_controlled_switch_takes_ngspices_state(engine):
    """A hysteretic W switch controlled by the current through itself: ngspice keeps the
    state of the previous Newton iteration (off -> on, then on stays inside the band);
    xbar's switch had no memory and Newton cycled ('no convergence').  ngspice-39: v(b) =
    9.900990e-03 (on)."""
    text = (
        "t\nV1 a 0 1\nR0 a b 1k\nW1 b 0 V1 sm\n"
        ".model sm csw it=-1m ih=0.1m ron=10 roff=1meg\n.op\n.end\n"
    )
    assert _op(text, engine).voltage("b") == pytest.approx(10 / 1010, rel=1e-12)


def test_hysteretic_switches_carry_their_state_through_a_sweep():
    """ngspice carries a switch's state from .dc point to point: a self-controlled
    selector turns on at V1 = 0.75 going up, and stays on down to V1 = 0.65 going down
    (was refused).  The v(c) values are ngspice-39's."""
    up = solve_dc(read_netlist(_SELECTOR.format(dc="0 2 0.05"))).voltage("c")
    assert up[13:17] == pytest.approx(
        [6.492857856358006e-05, 6.99230846069324e-05, 0.03571428571428573, 0.03809523809523811],
        rel=1e-9,
    )
    down = solve_dc(read_netlist(_SELECTOR.format(dc="2 0 -0.05"))).voltage("c")
    assert down[13:17] == pytest.approx(
        [0.06428571428571427, 0.0619047619047619, 0.05952380952380951, 0.05714285714285712],
        rel=1e-9,
    )
    on_down = np.nonzero(down > 1e-3)[0]
    assert (on_down[-1], np.nonzero(up > 1e-3)[0][0]) == (27, 15)  # V1 0.65 down, 0.75 up
    # a switch driven by another source: down from on stays on to vt - vh (ngspice-39)
    text = (
        "t\nV1 a 0 1\nVc c 0 0\nS1 a b c 0 swm\nR1 b 0 1k\n"
        ".model swm sw vt=0.5 vh=0.1\n.dc Vc 1 0 -0.1\n.end\n"
    )
    b = solve_dc(read_netlist(text)).voltage("b")
    assert b == pytest.approx([0.999000999000999] * 7 + [9.99999999e-10] * 4, rel=1e-9)


def test_switch_without_a_stable_state_is_named():
    """A selector that shorts its own control (on: below vt - vh; off: above vt + vh) has
    no DC state; ngspice-39 fails too ('timestep too small'): the error names the switch."""
    from xbar.errors import ConvergenceError

    text = (
        "t\nV1 a 0 1\nR0 a b 1k\nS1 b 0 b 0 sm\n"
        ".model sm sw vt=0.5 vh=0.2 ron=10 roff=1meg\n.op\n.end\n"
    )
    with pytest.raises(ConvergenceError, match="device not converged: s1") as info:
        _op(text)
    assert info.value.location.line == 4


# ------------------------------------------------------------ behavioural resistors


@pytest.mark.parametrize(
    ("extra", "ngspice"),
    [
        ("", 2.5e-01),
        ("m=2", 4.0e-01),  # m multiplies the current
        ("tc1=0.01", 2.277904e-01),  # the current divided by 1 + tc1 dT (dT = 40 - 27)
        ("tc1=0.01 m=2", 3.710575e-01),
        ("tc1=0.01 tc2=1e-4 temp=60", 2.251897e-01),  # temp= dropped by ngspice-39
        ("dtemp=20 tc1=0.01", 2.277904e-01),  # dtemp= too
    ],
)
def test_resistor_with_a_node_voltage_expression_as_ngspice(extra, ngspice):
    """``R1 a b R='2k*(1+v(q))'`` (memristor models: a resistance read from a state
    node): ngspice-39 makes it a B source I = v(a,b)/(expr); xbar refused ('node voltages
    are not allowed in a constant expression').  v(b) values are ngspice-39's."""
    text = (
        f"t\nV1 a 0 1\nVq q 0 0.5\nR1 a b R='2k*(1+v(q))' {extra}\nR2 b 0 1k\n.temp 40\n.op\n.end\n"
    )
    assert _op(text).voltage("b") == pytest.approx(ngspice, rel=2e-6)


def test_memristor_state_resistor_starting_from_zero():
    """``R2 p q r={V(x)}``: at Newton's zero start the current is 0/0; ngspice's PTdivide
    moves a divisor 1e-32 away from zero (0, not NaN) and converges; xbar stopped with
    'not finite at its starting point'.  A G ``cur=`` / E ``vol=`` memdiode-style
    subcircuit and an E whose VALUE reads its own current (was a raw scipy ValueError in
    the topology check).  Values are ngspice-39's."""
    text = (
        "t\nV1 p 0 1\nVx x 0 2k\nRs p m 100\nEm m 0 value = {3k*i(Em)}\n"
        "R2 p q r={V(x)}\nR3 q 0 1k\n.op\n.end\n"
    )
    op = _op(text)
    assert op.voltage("q") == pytest.approx(1 / 3, rel=1e-9)
    assert op.voltage("m") == pytest.approx(9.677419e-01, rel=1e-6)
    assert op.current("em") == pytest.approx(3.225806e-04, rel=1e-6)
    memdiode = (
        "t\n.param beta=0.5 imax=3e-2 imin=1e-3 alphamax=0.8 alphamin=1 rsmax=62 rsmin=62\n"
        ".func I0(x)='imax*x+imin*(1-x)'\n.func A(x)='alphamax*x+alphamin*(1-x)'\n"
        ".func Rss(x)='rsmax*x+rsmin*(1-x)'\n.subckt memdiode p n H0=0.5\nVH H 0 {H0}\n"
        "RS p D R='Rss(V(H))'\n"
        "GD D n cur='I0(V(H))*(exp(beta*A(V(H))*V(D,n))-exp(-(1-beta)*A(V(H))*V(D,n)))'\n"
        ".ends memdiode\nV1 a 0 0.3\nX1 a 0 memdiode H0=0.7\nX2 a 0 memdiode\n.op\n.end\n"
    )
    op = _op(memdiode)
    assert [op.voltage("x1.d"), op.voltage("x2.d")] == pytest.approx(
        [1.404227e-01, 1.608014e-01], rel=1e-6
    )


# ------------------------------------------------------------ hostile text


def test_non_ascii_names_are_read_as_ngspice_reads_them():
    """ngspice-39 reads each UTF-8 byte of a non-ASCII character as '_': nodes 'α' and 'β'
    are one node '__' there (I(V1) = -1 mA through R2 alone, R1 shorted); xbar kept
    them apart (-0.5 mA), a silent difference."""
    circuit = read_netlist("t\nV1 α 0 1\nR1 α β 1k\nR2 β 0 1k\n.op\n.end\n")
    assert solve_dc(circuit).current("v1") == pytest.approx(-1e-3)
    assert any("'α' is node '__'" in n for n in circuit.notes)
    op = _op("t\nV1 α 0 1\nR1 __ 0 1k\n.op\n.end\n")  # ngspice-39: v(__) = 1, -1 mA
    assert (op.voltage("__"), op.current("v1")) == pytest.approx((1.0, -1e-3))


def test_plus_line_after_the_title_continues_the_title():
    """ngspice-39 reads '+ R9 a 0 1' right after the title as part of the title (I(V1) =
    -0.5 mA, no R9); xbar stopped ('continuation line with no card')."""
    circuit = read_netlist("t\n+ R9 a 0 1\nV1 a 0 1\nR1 a b 1k\nR2 b 0 1k\n.op\n.end\n")
    assert solve_dc(circuit).current("v1") == pytest.approx(-5e-4)
    assert "r9" not in circuit.resistors.name


def test_ngspice_runner_reads_latin1_output(tmp_path, ngspice):
    """run_ngspice raised a raw UnicodeDecodeError when ngspice echoed a Latin-1 title."""
    path = tmp_path / "l1.cir"
    path.write_bytes("t \xb5A\nV1 a 0 1\nR1 a 0 1k ; r\xe9sistance\n.op\n.end\n".encode("latin-1"))
    assert ngspice(path).currents["v1"] == pytest.approx([-1e-3])


def test_first_line_include_is_read_as_ngspice_reads_it(tmp_path):
    """A file that starts with ``.include models.inc`` (no title line): ngspice-39 includes
    it (its title becomes '*include models.inc'; I(V1) = -2 mA with the included R2); xbar
    took the line as the title and left R2 out (-1 mA), a silent difference.  A first
    line ``.param`` stops ngspice ('title line is missing!'): a located error here."""
    (tmp_path / "models.inc").write_text("R2 a 0 1k\n")
    (tmp_path / "lib1.lib").write_text(".lib tt\nR2 a 0 1k\n.endl\n")
    for first in (".include models.inc", ".INC models.inc", ".lib lib1.lib tt"):
        (tmp_path / "n.cir").write_text(f"{first}\nV1 a 0 1\nR1 a 0 1k\n.op\n.end\n")
        assert _op(tmp_path / "n.cir").current("v1") == pytest.approx(-2e-3), first
    (tmp_path / "n.cir").write_text("  .include models.inc\nV1 a 0 1\nR1 a 0 1k\n.op\n")
    assert _op(tmp_path / "n.cir").current("v1") == pytest.approx(-1e-3)  # a title there
    with pytest.raises(NetlistError, match="title line is missing") as info:
        read_netlist(".param p=1\nV1 a 0 {p}\nR1 a 0 1k\n.op\n.end\n")
    assert (info.value.location.line, info.value.location.column) == (1, 1)


@pytest.mark.parametrize("engine", ["python", "compiled"])
def test_hysteresis_sweep_on_both_engines(engine):
    """The compiled sweep carries switch states too: a self-controlled selector swept up
    and down in 101 points; ngspice-39 turns it on at V1 = 0.72 going up (v(c) = V1 *
    100/2100 from there) and off below V1 = 0.64 going down."""
    text = (
        "sel\nV1 a 0 0\nR0 a b 1k\nS1 b c b c sm\nR2 c 0 100\n"
        ".model sm sw vt=0.5 vh=0.2 ron=1k roff=1meg\n"
        ".options reltol=1e-9 abstol=1e-15 vntol=1e-12\n.dc V1 {dc}\n.end\n"
    )
    for dc, first_on in (("0 2 0.02", 0.72), ("2 0 -0.02", 0.64)):
        res = solve_dc(read_netlist(text.format(dc=dc)), engine=engine)
        on = res.voltage("c") > 1e-3
        v = res.sweep
        assert np.min(v[on]) == pytest.approx(first_on, abs=1e-9), dc
        assert res.voltage("c")[on] == pytest.approx(v[on] * 100 / 2100, rel=1e-12)
