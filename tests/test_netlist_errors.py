"""Malformed netlists: one NetlistError with file:line:column, caret and hint."""

import pytest

from xbar.errors import NetlistError
from xbar.spice.netlist import read_netlist

T = "title\n"

# (netlist, line, column, phrase in message, phrase in hint or None)
CASES = [
    # values
    (T + "R1 a 0 abc\n", 2, 8, "invalid value", "expected a number"),
    (T + "R1 a 0 1k5\n", 2, 8, "digits after", None),
    (T + "R1 a 0 nan\n", 2, 8, "not a number", None),
    (T + "V1 a 0 inf\n", 2, 8, "not a number", None),
    (T + "R1 a 0 1e999\n", 2, 8, "overflows", None),
    (T + "R1 a 0 1a\n", 2, 8, "ambiguous", None),
    (T + "R1 a 0 {1/0}\n", 3 - 1, 9, "evaluates to inf", None),
    (T + "R1 a 0 {(1+2}\n", 2, 9, "unbalanced parentheses", None),
    (T + "R1 a 0 {1+2))}\n", 2, 12, "unbalanced parentheses", None),
    (T + "R1 a 0 {1+2\n", 2, 8, "'{' is never closed", None),
    (T + "R1 a 0 '1+2\n", 2, 8, "never closed", None),
    (T + "R1 a 0 {unknownp*2}\n", 2, 9, "unknown parameter 'unknownp'", ".param"),
    (T + "R1 a 0 {sinhh(2)}\n", 2, 9, "unknown function 'sinhh'", None),
    (T + "R1 a 0 {max(1)}\n", 2, 9, "takes 2 arguments", None),
    # zero and missing fields
    (T + "R1 a\n", 2, 5, "missing node", "R<name>"),
    (T + "R1 a 0 1k 2k\n", 2, 11, "unexpected '2k'", None),
    (T + "V1 a 0 DC\n", 2, 8, "missing value after DC", None),
    (T + "I1 a 0 1 2\n", 2, 10, "unexpected '2'", "I<name>"),
    (T + "G1 a 0 b\n", 2, 9, "missing node", "G<name> <n+> <n-> <nc+> <nc->"),
    (T + "E1 a 0 b 0\n", 2, 11, "missing gain", "E<name>"),
    (T + "E1 a 0 b 0 2 3\n", 2, 14, "unexpected '3'", None),
    (T + "E1 a 0 poly(1) b 0\n", 2, 19, "POLY(1): missing coefficient", None),
    (T + "D1 a 0\n", 2, 7, "missing model name", "D<name> <anode> <cathode> <model>"),
    (T + "D1 a 0 nomodel\n", 2, 8, "undefined model 'nomodel'", ".model nomodel"),
    (T + ".model dm D(IS=1e-14)\nD1 a 0 dm area=0\n", 3, 11, "area must be positive", None),
    (T + ".model dm D(IS=1e-14)\nD1 a 0 dm 2\n", 3, 11, "positional area ('2')", "area=2"),
    (T + ".model dm D(IS=1e-14)\nD1 a 0 dm {2}\n", 3, 11, "positional area", "area={2}"),
    (T + ".model dm D(IS=1e-14)\nD1 a 0 dm foo\n", 3, 11, "unexpected 'foo'", None),
    # B sources
    (T + "B1 a 0 I=sinh(V(a)\n", 2, 14, "unbalanced parentheses", None),
    (T + "B1 a 0 I=2*foo(V(a))\n", 2, 12, "unknown function 'foo'", None),
    (T + "B1 a 0 I=k*V(a)\n", 2, 10, "unknown parameter 'k'", None),
    (T + "B1 a 0 I=\n", 2, 10, "missing expression", None),
    (T + "B1 a 0 I=V(a,b,c)\n", 2, 10, "malformed control voltage", None),
    (T + "B1 a I=V(a)\n", 2, 6, "missing node", "B<name> <n+> <n-> I=<expression>"),
    (T + "B1 a 0 Q=V(a)\n", 2, 8, "unknown B source parameter 'q'", None),
    # unsupported elements and cards
    (T + "M1 d g s\n", 2, 9, "missing node or model name", None),
    (T + "M1 d g s b nm\n", 2, 12, "undefined model 'nm'", None),
    (T + "Q1 c b e q1\n", 2, 1, "bipolar transistors (Q) are not supported", None),
    (T + "Q1 c b e npn\n", 2, 1, "bipolar transistor", None),
    (
        T + "%1 a b\n",
        2,
        1,
        "unknown element type",
        "R, C, L, K, V, I, G, E, F, H, D, B, M, S, W or X",
    ),
    (T + "V1 a 0 1\n.temp\n", 3, 6, "missing temperature", ".temp <temperature"),
    (T + "V1 a 0 1\n.temp 50 60\n", 3, 10, "unexpected '60'", None),
    (T + "V1 a 0 1\n.temp -300\n", 3, 7, "not above absolute zero", None),
    (T + "V1 a 0 1\n.temp {tt}\n", 3, 8, "unknown parameter 'tt'", None),
    (
        T + ".subckt s p\n.temp 50\n.ends\nX1 a s\nV1 a 0 1\n",
        3,
        1,
        "not allowed inside a subcircuit",
        None,
    ),
    (T + "V1 a 0 1\n.foo bar\n", 3, 1, "unknown card '.foo'", None),
    # .options, .dc, .op
    (T + "V1 a 0 1\n.options rshunt=1e9\n", 3, 10, "changes the DC solution", None),
    (T + "V1 a 0 1\n.control\nrun\n", 3, 1, ".endc is missing", None),
    (T + "V1 a 0 1\n.endc\n", 3, 1, ".endc without", None),
    (T + "V1 a 0 1\n.nodeset v(zz)=1\n", 3, 10, "not in the circuit", None),
    (T + "V1 a 0 1 AM(1 0 1k 1k) SIN(0 1 1k)\n", 2, 24, "a second waveform (SIN)", None),
    (T + "V1 a 0 PWL(0 1 1n)\n", 2, 8, "pairs", None),
    (T + ".func f(x) {x*2}\nV1 a 0 1\nR1 a 0 {f(1,2)}\n", 4, 1, "takes 1 argument", None),
    (T + "V1 a 0 1\nB1 a 0 I=I(vz)\n", 3, 1, "I(vz) needs", None),
    (T + "V1 a 0 1\nF1 a 0 V1\n", 3, 10, "missing gain", None),
    (T + "V1 a 0 1\nH1 a 0 TABLE V1 0 1\n", 3, 8, "forms of H sources", None),
    (T + "V1 a 0 1\nH1 a 0 POLY(x) V1 0 1\n", 3, 8, "expected POLY", None),
    (T + ".lib nofile.lib typ\n", 2, 6, "cannot read include", None),
    (T + "V1 a 0 1\n.options reltol\n", 3, 10, "needs a value", None),
    (T + "V1 a 0 1\n.options itl1=2.5\n", 3, 15, "positive integer", None),
    (T + "V1 a 0 1\n.options reltol=0\n", 3, 17, "must be positive", None),
    (T + "V1 a 0 1\n.dc V1 0 1\n", 3, 11, "4 or 8 fields", ".dc <source>"),
    (T + "V1 a 0 1\n.dc V1 0 1 0.1 V2 0 1\n", 3, 22, "4 or 8 fields", None),
    (T + "V1 a 0 1\n.dc V1 0 1 0.1 I1 0 1 1 extra\n", 3, 25, "unexpected 'extra'", None),
    (T + "V1 a 0 1\n.dc V1 0 1 0\n", 3, 12, "must not be zero", None),
    (T + "V1 a 0 1\n.dc V1 0 1 -0.1\n", 3, 12, "goes away from the stop", None),
    (T + "V1 a 0 1\n.dc Vx 0 1 0.1\n", 3, 5, ".dc source 'vx'", None),
    (T + "V1 a 0 1\nI1 a 0 1\n.dc V1 0 1 0.1 V1 0 1 1\n", 4, 16, "sweeps 'v1' twice", None),
    (T + "V1 a 0 1\n.dc R1 0 1 0.1\n", 3, 5, "independent V or I", None),
    (T + "V1 a 0 1\n.op now\n", 3, 5, "unexpected text after .op", None),
    # params
    (T + ".param\nV1 a 0 1\n", 2, 7, "expected <name>=<value>", ".param <name>=<value>"),
    (T + ".param a=\nV1 a 0 1\n", 2, 8, "missing value for parameter 'a'", None),
    (T + ".param a={c+1} b=2\nV1 a 0 1\n", 2, 11, "unknown parameter 'c'", None),
    (
        T + ".param a={b+1}\n.param b={2*a}\nV1 a 0 1\n",
        2,
        11,
        "circular parameter definition: a -> b -> a",
        None,
    ),
    (T + ".param a={a+1}\nV1 a 0 1\n", 2, 11, "circular parameter definition: a -> a", None),
    (T + ".model dm D(IS={iss})\nV1 a 0 1\n", 2, 17, "unknown parameter 'iss'", None),
    (T + "V1 a 0 1\n.dc V1 0 {vmax} 0.1\n", 3, 11, "unknown parameter 'vmax'", None),
    (T + ".param a=pow(-2,0.5)\nV1 a 0 1\n", 2, 10, "negative base", None),
    # subcircuits
    (T + "X1 a b nosub\n", 2, 8, "undefined subcircuit 'nosub'", ".subckt nosub"),
    (
        T + ".subckt s p q\nR1 p q 1\n.ends\nX1 a s\n",
        5,
        6,
        "has 2 pins (p q), x1 connects 1",
        "X1 p q s",
    ),
    (T + ".subckt s p q\nR1 p q 1\n.ends\nX1 a b c s\n", 5, 10, "has 2 pins", None),
    (T + ".subckt s p q\nR1 p q 1\n", 2, 1, "unterminated .subckt s", ".ends s"),
    (T + "V1 a 0 1\n.ends\n", 3, 1, ".ends without a matching .subckt", None),
    (T + ".subckt s p\nR1 p 0 1\n.ends t\n", 4, 7, ".ends t closes .subckt s", None),
    (
        T + ".subckt s p params: r=1\nR1 p 0 {r}\n.ends\nX1 a s q=2\n",
        5,
        8,
        "has no parameter 'q'",
        "its parameters: r",
    ),
    (
        T + ".subckt s p params: r=1\nR1 p 0 {r}\n.ends\nX1 a s r=\n",
        5,
        9,
        "missing value for parameter 'r'",
        None,
    ),
    (T + ".subckt s p\nX1 p s\n.ends\nX1 a s\n", 3, 6, "recursive subcircuit", None),
    (T + ".subckt s p p\n.ends\n", 2, 13, "listed twice", None),
    (
        T + ".subckt s p\nR1 p 0 1\n.ends\nX1 a s\n.subckt t q\n.op\n.ends\nV1 a 0 1\n",
        7,
        1,
        "not allowed inside a subcircuit",
        None,
    ),
    # duplicates (also after flattening)
    (T + "R1 a 0 1\nr1 a 0 2\n", 3, 1, "duplicate element name 'r1'", "first defined at"),
    (
        T + ".subckt s p\nR1 p 0 1\n.ends\nX1 a s\nX1 b s\n",
        6,
        1,
        "duplicate element name 'x1'",
        None,
    ),
    # models
    (T + ".model q1 NPN(BF=100)\nM1 d g 0 0 q1\n", 3, 12, "of type NPN", None),
    (T + ".model d1 D(IS=1e-14 IKF=1)\nV1 a 0 1\nD1 a 0 d1\n", 2, 22, "IKF=1 changes the DC", None),
    (T + ".model d1 D(IS=0)\nD1 a 0 d1\n", 2, 1, "must be positive", None),
    (T + ".model d1 D(IS)\n", 2, 13, "expected <name>=<value>", None),
    # continuation lines keep line and column
    (T + "R1 a 0\n+ 1k\n+ bad=3\n", 4, 3, "resistor parameter 'bad'", None),
    (T + "B1 a 0\n+ I=2*V(a)\n+ + foo(1)\n", 4, 5, "unknown function 'foo'", None),
    # ('+' right after the title continues the title, as in ngspice-39)
    (T + "+ R1 a 0 1\n", 1, 1, "no circuit elements", None),
    # whole-file problems
    (T + "* only a comment\n", 1, 1, "no circuit elements", None),
    (T + ".param a=1\n.op\n", 1, 1, "no circuit elements", None),
    (T + "V1 a 0 1\n.include\n", 3, 1, "missing file name", None),
    (T + "V1 a 0 1\n.include does_not_exist.inc\n", 3, 10, "cannot read include file", None),
]


@pytest.mark.parametrize("text,line,column,phrase,hint", CASES)
def test_bad_netlists(text, line, column, phrase, hint):
    with pytest.raises(NetlistError) as info:
        read_netlist(text, name="bad.cir")
    err = info.value
    assert phrase in err.message, err.message
    assert err.location is not None
    assert (err.location.file, err.location.line, err.location.column) == (
        "bad.cir",
        line,
        column,
    ), str(err)
    if hint is not None:
        assert hint in err.hint, err.hint
    text_lines = text.split("\n")
    if err.location.source:
        assert err.location.source == text_lines[line - 1]
    # the formatted message carries file:line:column, the source line and a caret
    s = str(err)
    assert s.startswith(f"bad.cir:{line}:{column}: error: ")
    if err.location.source:
        caret_line = s.split("\n")[2]
        assert caret_line == "    " + " " * (column - 1) + "^"


def test_every_error_has_a_hint_for_element_cards():
    for text in (T + "V1 a\n", T + "G1 a 0 b\n", T + "D1 a 0\n", T + "B1 a 0\n", T + "X1\n"):
        with pytest.raises(NetlistError) as info:
            read_netlist(text)
        assert info.value.hint.startswith("expected: "), str(info.value)


def test_empty_and_blank_files(tmp_path):
    for content in (b"", b"   \n\n  \n"):
        p = tmp_path / "empty.cir"
        p.write_bytes(content)
        with pytest.raises(NetlistError, match="is empty"):
            read_netlist(p)


def test_binary_files(tmp_path):
    p = tmp_path / "bin.cir"
    p.write_bytes(b"title\nR1 a 0 1\n\x00\x01\x02\xff")
    with pytest.raises(NetlistError, match="binary") as info:
        read_netlist(p)
    assert info.value.location.line == 3
    p.write_bytes(b"title\nR1 a 0 1\nR2 a 0 \xff\xfe\n")  # not UTF-8: read as Latin-1
    with pytest.raises(NetlistError, match="not UTF-8") as info:
        read_netlist(p)
    assert info.value.location.line == 3
    with pytest.raises(NetlistError, match="NUL"):
        read_netlist("t\nR1 a 0 1\x00\n")


def test_include_cycle(tmp_path):
    (tmp_path / "a.inc").write_text("R1 a 0 1\n.include b.inc\n")
    (tmp_path / "b.inc").write_text("R2 a 0 1\n.include a.inc\n")
    (tmp_path / "main.cir").write_text("t\n.include a.inc\n")
    with pytest.raises(NetlistError, match="include cycle") as info:
        read_netlist(tmp_path / "main.cir")
    assert info.value.location.file == str(tmp_path / "b.inc")
    assert info.value.location.line == 2
    (tmp_path / "self.cir").write_text("t\nR1 a 0 1\n.include self.cir\n")
    with pytest.raises(NetlistError, match="include cycle"):
        read_netlist(tmp_path / "self.cir")


def test_missing_file():
    with pytest.raises(NetlistError, match="cannot read netlist") as info:
        read_netlist("/nonexistent/dir/x.cir")
    assert "newline" in info.value.hint
