"""read_netlist on well-formed netlists: every feature, asserting the element tables."""

import numpy as np
import pytest

from xbar.errors import NetlistError
from xbar.spice.circuit import DCSweep, Op
from xbar.spice.netlist import ngspice_name, read_netlist


def test_basic_elements_and_tables():
    c = read_netlist(
        """Basic Title Line
* a comment
V1 in 0 DC 1.5
Vb b 0 2         ; inline comment
I1 0 x dc=1m
I2 x 0 DC 2uA $ dollar comment
R1 in mid 1k
R2 mid 0 r=2.2k
R3 mid x -50       ; negative resistors are legal
G1 x 0 mid 0 1m
E1 e 0 mid 0 2
Re e 0 1meg
D1 x 0 dmod
D2 x b dmod area=2
.model dmod D(IS=1e-15 N=1.5 RS=10 BV=50 IBV=1u)
.op
.end
* only a comment after .end: nothing more is read
"""
    )
    assert c.title == "Basic Title Line"
    assert c.source_file == "<string>"
    assert c.node_names == ["0", "in", "b", "x", "mid", "e"]
    idx = {n: i for i, n in enumerate(c.node_names)}
    assert c.vsources.name == ["v1", "vb"]
    np.testing.assert_array_equal(c.vsources.value, [1.5, 2.0])
    assert c.isources.name == ["i1", "i2"]
    np.testing.assert_array_equal(c.isources.npos, [0, idx["x"]])
    np.testing.assert_array_equal(c.isources.value, [1e-3, 2e-6])
    assert c.resistors.name == ["r1", "r2", "r3", "re"]
    np.testing.assert_array_equal(c.resistors.value, [1e3, 2.2e3, -50, 1e6])
    np.testing.assert_array_equal(c.resistors.npos, [idx["in"], idx["mid"], idx["mid"], idx["e"]])
    np.testing.assert_array_equal(c.resistors.nneg, [idx["mid"], 0, idx["x"], 0])
    assert c.resistors.npos.dtype == np.int64 and c.resistors.value.dtype == float
    assert c.vccs.name == ["g1"] and c.vccs.gain[0] == 1e-3
    assert (c.vccs.npos[0], c.vccs.nneg[0], c.vccs.cpos[0], c.vccs.cneg[0]) == (
        idx["x"],
        0,
        idx["mid"],
        0,
    )
    assert c.vcvs.name == ["e1"] and c.vcvs.gain[0] == 2.0
    assert c.diodes.name == ["d1", "d2"]
    np.testing.assert_array_equal(c.diodes.area, [1.0, 2.0])
    m = c.diodes.model[0]
    assert (m.name, m.is_, m.n, m.rs, m.bv, m.ibv) == ("dmod", 1e-15, 1.5, 10.0, 50.0, 1e-6)
    assert c.diodes.model[1] is m
    assert c.analyses == [Op()]
    assert c.is_linear is False
    loc = c.locations["r2"]
    assert (loc.file, loc.line, loc.column) == ("<string>", 8, 1)
    assert loc.source == "R2 mid 0 r=2.2k"
    assert set(c.locations) == set(
        c.resistors.name
        + c.vsources.name
        + c.isources.name
        + c.vccs.name
        + c.vcvs.name
        + c.diodes.name
    )


def test_title_is_always_the_first_line_and_gnd_is_ground():
    c = read_netlist("R1 a 0 1k\nR2 a GND 2k\nV1 a gnd 1\n")
    assert c.title == "R1 a 0 1k"
    assert c.resistors.name == ["r2"]
    assert c.node_names == ["0", "a"]
    np.testing.assert_array_equal(c.resistors.nneg, [0])
    assert c.analyses == []


def test_case_insensitive_names():
    c = read_netlist("t\nV1 IN 0 1\nR_Load In OUT 1K\nRX out 0 1k\n")
    assert c.node_names == ["0", "in", "out"]
    assert c.resistors.name == ["r_load", "rx"]
    assert c.node_index("OUT") == 2


def test_continuation_lines_and_comments_between():
    c = read_netlist(
        """t
V1 a 0
* a comment between a card and its continuation
+ DC
+ 3
R1 a
+ 0 {1k +
+ 1k}
"""
    )
    assert c.vsources.value[0] == 3.0
    assert c.resistors.value[0] == 2000.0
    assert c.locations["r1"].line == 6


def test_params_expressions_and_quotes():
    c = read_netlist(
        """t
.param a=1k b={2*a} c='a+b' d = 3 e=a*2
.param f = {max(a, b)/10}   g=-1
.PARAM h={sqrt(d^2+16)}
V1 x 0 {h}
R1 x 0 {a}
R2 x 0 {b}
R3 x 0 'c'
R4 x 0 {e + f}
R5 x 0 r={g*100}
I1 x 0 {1m*(d>2)}
"""
    )
    np.testing.assert_allclose(c.resistors.value, [1e3, 2e3, 3e3, 2e3 + 200, -100])
    assert c.vsources.value[0] == 5.0
    assert c.isources.value[0] == 1e-3


def test_param_may_be_used_before_its_card():
    c = read_netlist("t\nR1 a 0 {rx}\nV1 a 0 1\n.param rx=5k\n")
    assert c.resistors.value[0] == 5e3


def test_bsource_forms_and_controls():
    c = read_netlist(
        """t
.param k=1e-4 s=2
V1 a 0 1
B1 a b I=k*sinh(s*V(a,b))
B2 b 0 i = {1e-4*sinh(2*V(b))}
B3 0 b I='V(a)*V(a,b) + 1m'
R1 b 0 1k
"""
    )
    b1, b2, b3 = c.bsources
    ia, ib = c.node_index("a"), c.node_index("b")
    assert (b1.name, b1.npos, b1.nneg) == ("b1", ia, ib)
    assert b1.controls == [(ia, ib)]
    assert b2.controls == [(ib, 0)]
    assert b1.expr.canonical == b2.expr.canonical
    assert b3.controls == [(ia, 0), (ia, ib)]
    assert b3.expr.n_controls == 2
    val, (d0, d1) = b3.expr.evaluate([np.array([2.0]), np.array([0.5])])
    assert val[0] == pytest.approx(1.001) and d0[0] == 0.5 and d1[0] == 2.0
    assert c.is_linear is False


def test_bsource_cache_shares_compiled_code_but_not_controls():
    lines = ["t"] + [f"B{i} r{i} c{i} I=1e-5*sinh(2*V(r{i},c{i}))" for i in range(50)]
    c = read_netlist("\n".join(lines) + "\n")
    assert len({b.expr.canonical for b in c.bsources}) == 1
    assert len({b.expr._fn for b in c.bsources}) == 1
    for i, b in enumerate(c.bsources):
        assert b.expr.controls == ((f"r{i}", f"c{i}"),)
        assert b.controls == [(c.node_index(f"r{i}"), c.node_index(f"c{i}"))]
        assert b.expr.text == f"1e-5*sinh(2*V(r{i},c{i}))"


def test_subckt_nested_with_params_and_naming():
    c = read_netlist(
        """subckt naming
.param rglob=1k
.subckt inner a b params: r=1k
R1 a m {r}
R2 m b {r}
V9 m q 0
R3 q b {rglob}
B1 m b I=1u*V(a,m)
.ends inner
.subckt outer p q params: rr=2k
X2 p mid inner r={rr}
R5 mid q 1k
.ends
V1 in 0 1
X1 in 0 outer rr=3k
X3 in 0 outer
Xdef in 0 inner
.op
"""
    )
    assert c.node_names == [
        "0",
        "in",
        "x1.mid",
        "x1.x2.m",
        "x1.x2.q",
        "x3.mid",
        "x3.x2.m",
        "x3.x2.q",
        "xdef.m",
        "xdef.q",
    ]
    r = dict(zip(c.resistors.name, c.resistors.value, strict=True))
    assert r == {
        "x1.x2.r1": 3e3,
        "x1.x2.r2": 3e3,
        "x1.x2.r3": 1e3,
        "x1.r5": 1e3,
        "x3.x2.r1": 2e3,
        "x3.x2.r2": 2e3,
        "x3.x2.r3": 1e3,
        "x3.r5": 1e3,
        "xdef.r1": 1e3,
        "xdef.r2": 1e3,
        "xdef.r3": 1e3,
    }
    assert c.vsources.name == ["v1", "x1.x2.v9", "x3.x2.v9", "xdef.v9"]
    # pins map to the caller's nodes
    i = c.resistors.name.index("x1.x2.r1")
    assert c.node_names[c.resistors.npos[i]] == "in"
    i = c.resistors.name.index("x1.x2.r2")
    assert c.node_names[c.resistors.nneg[i]] == "x1.mid"
    b = c.bsources[0]
    assert b.name == "x1.x2.b1"
    assert b.expr.controls == (("a", "m"),)
    assert b.controls == [(c.node_index("in"), c.node_index("x1.x2.m"))]
    assert c.locations["x1.x2.r1"].line == 4
    assert "x1" not in c.locations  # instances are not elements
    assert ngspice_name("x1.x2.v9") == "v.x1.x2.v9"


def test_subckt_local_params_models_and_nested_definitions():
    c = read_netlist(
        """t
.subckt cell a b params: g=1m
.param rloc={1/g}
.model dl D(IS=1e-12)
.subckt half p q
R1 p q {rloc/2}
.ends half
Xh1 a m half
Xh2 m b half
D1 a b dl
.ends cell
X1 1 0 cell g=2m
V1 1 0 1
"""
    )
    r = dict(zip(c.resistors.name, c.resistors.value, strict=True))
    assert r == {"x1.xh1.r1": 250.0, "x1.xh2.r1": 250.0}
    assert c.diodes.model[0].is_ == 1e-12
    assert c.node_names == ["0", "1", "x1.m"]


def test_ground_inside_subckt_is_global():
    c = read_netlist("t\n.subckt s a\nR1 a 0 1k\nR2 a gnd 1k\n.ends\nX1 n s\nV1 n 0 1\n")
    np.testing.assert_array_equal(c.resistors.nneg, [0, 0])


def test_include_relative_and_nested(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "models.inc").write_text(
        "* models\n.model dd D(IS=2e-14)\n.include 'more.inc'\n"
    )
    (tmp_path / "sub" / "more.inc").write_bytes(b".param rv=4k\r\n")  # CRLF include
    (tmp_path / "main.cir").write_text(
        "top\n.include sub/models.inc\nV1 a 0 1\nR1 a b {rv}\nD1 b 0 dd\n.op\n"
    )
    c = read_netlist(tmp_path / "main.cir")
    assert c.resistors.value[0] == 4e3
    assert c.diodes.model[0].is_ == 2e-14
    assert c.source_file == str(tmp_path / "main.cir")
    c2 = read_netlist(str(tmp_path / "main.cir"), name="shown.cir")
    assert c2.source_file == "shown.cir"


def test_include_file_location_in_errors(tmp_path):
    (tmp_path / "bad.inc").write_text("* x\nR1 a 0 zzz\n")
    (tmp_path / "main.cir").write_text("top\nV1 a 0 1\n.inc bad.inc\n")
    with pytest.raises(NetlistError) as info:
        read_netlist(tmp_path / "main.cir")
    loc = info.value.location
    assert loc.file == str(tmp_path / "bad.inc") and loc.line == 2 and loc.column == 8


def test_options_and_analyses():
    c = read_netlist(
        """t
V1 a 0 1
I1 0 a 1m
R1 a 0 1k
.options reltol=1e-9 abstol=1e-15 vntol=1e-12
.option gmin=1e-14 itl1=500 itl2=200 temp=30 tnom=30
.op
.dc V1 0 1 0.25 I1 0 2m 1m
.dc i1 5m -5m -5m
"""
    )
    o = c.options
    assert (o.reltol, o.abstol, o.vntol, o.gmin, o.itl1, o.itl2, o.temp, o.tnom) == (
        1e-9,
        1e-15,
        1e-12,
        1e-14,
        500,
        200,
        30.0,
        30.0,
    )
    assert isinstance(o.itl1, int)
    op, dc, dc2 = c.analyses
    assert op == Op()
    assert dc == DCSweep("v1", 0.0, 1.0, 0.25, outer=DCSweep("i1", 0.0, 2e-3, 1e-3))
    np.testing.assert_allclose(dc.values(), [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(dc2.values(), [5e-3, 0, -5e-3])


def test_output_directives_are_skipped():
    c = read_netlist("t\nV1 a 0 1\nR1 a 0 1\n.print dc v(a)\n.save all\n.op\n")
    assert len(c.resistors) == 1


def test_model_without_parens_and_after_use_and_ignored_capacitance():
    c = read_netlist("t\nD1 a 0 m1 area=3\nV1 a 0 1\n.MODEL m1 d is=1e-13 n=2 cjo=1p tt=1n\n")
    assert c.diodes.model[0].is_ == 1e-13 and c.diodes.model[0].n == 2.0
    assert c.diodes.area[0] == 3.0


def test_crlf_and_tabs_and_leading_blanks():
    c = read_netlist("t\r\nV1\ta\t0\t1\r\n   R1 a 0 2k\r\n  * indented comment\r\n")
    assert c.resistors.value[0] == 2e3 and c.vsources.value[0] == 1.0


def test_path_and_text_are_distinguished(tmp_path):
    p = tmp_path / "x.cir"
    p.write_text("t\nV1 a 0 1\nR1 a 0 1\n")
    assert read_netlist(str(p)).resistors.value[0] == 1.0
    with pytest.raises(NetlistError, match="cannot read netlist"):
        read_netlist(str(tmp_path / "missing.cir"))


def test_crossbar_tables():
    n = 8
    lines = ["xbar"]
    for i in range(n):
        lines.append(f"V{i} in{i} 0 {0.1 * i}")
        for j in range(n):
            if j + 1 < n:
                lines.append(f"Rr{i}_{j} r{i}_{j} r{i}_{j + 1} 2.5")
            lines.append(f"Rx{i}_{j} r{i}_{j} c{i}_{j} 10k")
            lines.append(f"B{i}_{j} r{i}_{j} c{i}_{j} I=1e-5*sinh(2*V(r{i}_{j},c{i}_{j}))")
    c = read_netlist("\n".join(lines) + "\n")
    assert len(c.bsources) == n * n and len(c.resistors) == n * n + n * (n - 1)
    assert c.n_nodes == 1 + n + 2 * n * n
    b = c.bsources[n + 3]
    assert b.name == "b1_3"
    assert b.controls == [(c.node_index("r1_3"), c.node_index("c1_3"))]


def test_bare_expressions_in_subckt_parameters():
    c = read_netlist(
        "t\n.param rbase=2k\n.subckt sub a b params: r=rbase*2\nR1 a b {r}\n.ends\n"
        "V1 in 0 1\nX1 in 0 sub r=rbase\nX2 in 0 sub\nX3 in 0 sub params: r={rbase/2}\n"
    )
    np.testing.assert_array_equal(c.resistors.value, [2e3, 4e3, 1e3])
