"""The cases of ``scripts/audit.py``: bad netlists, API misuse, corrupt files, CLI flags, sweeps.

A case is one hostile input or fault and what a clean answer looks like: an
:class:`xbar.XbarError` whose message contains every needle (file:line:column for netlists,
the field or argument otherwise), or -- for inputs that are valid -- the right answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

import xbar
from xbar.errors import XbarError

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    kind: str
    name: str
    needles: tuple = ()
    timeout: int = 60

    def judge_error(self, err: XbarError) -> tuple[str, str]:
        text = str(err)
        missing = [n for n in self.needles if n.lower() not in text.lower()]
        if missing:
            return "vague", f"missing {missing}: {text.splitlines()[0][:120]}"
        return "clean", text.splitlines()[0][:120]


@dataclass
class Err(Case):
    """Calling ``make(tmp)`` must raise an XbarError naming the culprit."""

    make: Callable = None

    def run(self, tmp):
        result = self.make(tmp)
        return "silent", f"accepted: {str(result)[:100]}"


@dataclass
class Ok(Case):
    """``make(tmp)`` is valid input: it must return an answer that ``check`` accepts."""

    make: Callable = None
    check: Callable = None

    def run(self, tmp):
        result = self.make(tmp)
        good = self.check(result) if self.check else True
        return ("clean", "right answer") if good else ("silent", f"wrong answer: {result}")

    def judge_error(self, err):
        return "refused", f"valid input refused: {str(err).splitlines()[0][:120]}"


@dataclass
class OkOrErr(Ok):
    """Either a right answer or a clean XbarError naming the culprit is acceptable."""

    judge_error = Case.judge_error


@dataclass
class Cli(Case):
    """``xbar ARGV`` (in-process) must exit 2 with ``error:`` and the needles on stderr."""

    argv: Callable = None
    code: int = 2

    def run(self, tmp):
        from xbar.cli import main

        argv = self.argv(tmp)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main([str(a) for a in argv])
        text = err.getvalue()
        if rc == 70 or "Traceback" in text:
            return "raw", f"exit {rc}: {text.strip().splitlines()[0][:120] if text else ''}"
        if rc != self.code:
            return "silent", f"exit {rc}, wanted {self.code}: {text[:100]}"
        if self.code == 2 and "error" not in text.lower():
            return "vague", f"no 'error' on stderr: {text[:100]}"
        missing = [n for n in self.needles if n.lower() not in text.lower()]
        if missing:
            return "vague", f"missing {missing}: {text.strip()[:120]}"
        return "clean", text.strip().splitlines()[0][:120] if text.strip() else f"exit {rc}"


@dataclass
class Fault(Case):
    """``make(tmp)`` judges itself and returns (status, detail)."""

    make: Callable = None

    def run(self, tmp):
        return self.make(tmp)


# ---------------------------------------------------------------------------------------------
# netlists
# ---------------------------------------------------------------------------------------------


def _write(tmp: Path, files: dict) -> Path:
    for name, content in files.items():
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8", newline="")
    return tmp / "main.cir"


def _solve_file(files):
    def make(tmp):
        path = _write(tmp, files)
        return xbar.solve_dc(xbar.read_netlist(path))

    return make


def net_err(name, text, *needles, extra=None, timeout=60):
    files = {"main.cir": text, **(extra or {})}
    return Err("netlist", name, needles, timeout, make=_solve_file(files))


def net_ok(name, text, check, extra=None, either=False):
    files = {"main.cir": text, **(extra or {})}
    cls = OkOrErr if either else Ok
    return cls("netlist", name, (), 60, make=_solve_file(files), check=check)


def _v(node, want, rtol=1e-6):
    return lambda op: abs(op.voltage(node) - want) <= rtol * max(abs(want), 1e-12)


DIV = "V1 a 0 1\nR1 a b 1k\nR2 b 0 1k\n"


def netlist_cases():
    c = []
    m = "main.cir:"
    # --- syntax of every card type
    c += [
        net_err("R: missing node", "t\nR1 a\n.op\n", m + "2:", "r1"),
        net_err("R: value is a word", "t\nV1 a 0 1\nR1 a 0 abc\n.op\n", m + "3:", "abc"),
        net_err("R: value {1/0}", "t\nV1 a 0 1\nR1 a 0 {1/0}\n.op\n", m + "3:"),
        net_err("R: value 1e400", "t\nV1 a 0 1\nR1 a 0 1e400\n.op\n", m + "3:"),
        net_err("R: value nan", "t\nV1 a 0 1\nR1 a 0 nan\n.op\n", m + "3:"),
        net_err("R: value {-1/0}", "t\nV1 a 0 1\nR1 a 0 {-1/0}\n.op\n", m + "3:"),
        net_err(
            "R: unknown instance param", "t\nV1 a 0 1\nR1 a 0 1k foo=2\n.op\n", m + "3:", "foo"
        ),
        net_err("C: missing node", "t\nV1 a 0 1\nR1 a 0 1\nC1 a\n.op\n", m + "4:", "c1"),
        net_err("L: missing node", "t\nV1 a 0 1\nR1 a 0 1\nL1 a\n.op\n", m + "4:", "l1"),
        net_err("K: unknown inductor", "t\nV1 a 0 1\nR1 a 0 1\nK1 L1 L2 0.5\n.op\n", m + "4:"),
        net_err("V: unclosed PULSE(", "t\nV1 a 0 PULSE(0 1 0\nR1 a 0 1\n.op\n", m + "2:"),
        net_err("V: value 1e309", "t\nV1 a 0 1e309\nR1 a 0 1\n.op\n", m + "2:"),
        net_err("V: PWL odd count", "t\nV1 a 0 PWL(0 1 2)\nR1 a 0 1\n.op\n", m + "2:"),
        net_err("I: garbage spec", "t\nI1 a 0 FOO 3\nR1 a 0 1\n.op\n", m + "2:"),
        net_err("E: too few nodes", "t\nV1 a 0 1\nR1 a 0 1\nE1 b 0 a\n.op\n", m + "4:", "e1"),
        net_err("G: gain is a word", "t\nV1 a 0 1\nR1 a 0 1\nG1 a 0 a 0 xx\n.op\n", m + "4:"),
        net_err(
            "F: unknown controlling V",
            "t\nV1 a 0 1\nR1 a 0 1\nF1 a 0 vnone 2\n.op\n",
            m + "4:",
            "vnone",
        ),
        net_err(
            "H: controlled by a resistor",
            "t\nV1 a 0 1\nR1 a 0 1\nH1 b 0 r1 2\nR2 b 0 1\n.op\n",
            m + "4:",
            "r1",
        ),
        net_err("D: missing model", "t\nV1 a 0 1\nD1 a 0\n.op\n", m + "3:", "d1"),
        net_err(
            "D: undefined model", "t\nV1 a 0 1\nR1 a b 1k\nD1 b 0 nomod\n.op\n", m + "4:", "nomod"
        ),
        net_err(
            "D: model of type NPN",
            "t\nV1 a 0 1\nR1 a b 1k\nD1 b 0 q1\n.model q1 NPN(BF=100)\n.op\n",
            m + "4:",
            "npn",
        ),
        net_ok(  # ngspice-39: "unrecognized parameter (foo) - ignored"; v(b) = 0.6294408
            ".model: unknown D parameter",
            "t\nV1 a 0 1\nR1 a b 1k\nD1 b 0 dm\n.model dm D(FOO=1)\n.op\n",
            _v("b", 0.6294408, rtol=1e-6),
        ),
        net_err(
            ".model: unclosed (",
            "t\nV1 a 0 1\nR1 a b 1k\nD1 b 0 dm\n.model dm D(IS=1e-14\n.op\n",
            m + "5:",
        ),
        net_err(
            ".model: IS=nan",
            "t\nV1 a 0 1\nR1 a b 1k\nD1 b 0 dm\n.model dm D(IS={0/0})\n.op\n",
            m + "5:",
        ),
        net_err(
            ".model: unknown type",
            "t\nV1 a 0 1\nR1 a b 1k\nD1 b 0 dm\n.model dm FOO(IS=1)\n.op\n",
            "dm",
            "foo",
        ),
        net_err(
            "M: too few nodes",
            "t\nV1 a 0 1\nR1 a 0 1\nM1 a a 0 nm\n.model nm NMOS\n.op\n",
            m + "4:",
            "m1",
        ),
        net_err(
            "M: level 49",
            "t\nV1 a 0 1\nR1 a d 1k\nM1 d a 0 0 nm\n.model nm NMOS(LEVEL=49)\n.op\n",
            "49",
        ),
        net_err(
            "M: W=-1u",
            "t\nV1 a 0 1\nR1 a d 1k\nM1 d a 0 0 nm W=-1u\n.model nm NMOS\n.op\n",
            m + "4:",
            "w",
        ),
        net_err(
            "B: neither I= nor V=", "t\nV1 a 0 1\nR1 a 0 1\nB1 a 0 Q=V(a)\n.op\n", m + "4:", "b1"
        ),
        net_err("B: expression syntax", "t\nV1 a 0 1\nR1 a 0 1\nB1 a 0 I=V(a)*(2\n.op\n", m + "4:"),
        net_err(
            "B: unknown function",
            "t\nV1 a 0 1\nR1 a 0 1\nB1 a 0 I=frob(V(a))\n.op\n",
            m + "4:",
            "frob",
        ),
        net_err(
            "B: V() of unknown node", "t\nV1 a 0 1\nR1 a 0 1\nB1 a 0 I=V(zz)\n.op\n", m + "4:", "zz"
        ),
        net_err(
            "B: I() of a resistor", "t\nV1 a 0 1\nR1 a 0 1\nB1 a 0 I=I(r1)\n.op\n", m + "4:", "r1"
        ),
        net_err(
            "X: wrong pin count",
            "t\n.subckt s p q\nR1 p q 1\n.ends\nV1 a 0 1\nX1 a s\n.op\n",
            m + "6:",
            "x1",
        ),
        net_err("X: undefined subckt", "t\nV1 a 0 1\nX1 a 0 nosuch\n.op\n", m + "3:", "nosuch"),
        net_err(
            "X: unknown instance param",
            "t\n.subckt s p q params: g=1\nR1 p q {g}\n.ends\nV1 a 0 1\nX1 a 0 s h=2\n.op\n",
            m + "6:",
            "h",
        ),
        net_err(
            ".subckt without .ends",
            "t\nV1 a 0 1\n.subckt s p q\nR1 p q 1\n.op\n",
            "s",
            m + "3:",
            ".ends",
        ),
        net_err(".ends without .subckt", "t\nV1 a 0 1\nR1 a 0 1\n.ends\n.op\n", m + "4:"),
        net_err(
            ".subckt duplicate pins",
            "t\n.subckt s p p\nR1 p 0 1\n.ends\nV1 a 0 1\nX1 a a s\n.op\n",
            m + "2:",
            "p",
        ),
        net_err(".dc: unknown source", "t\n" + DIV + ".dc Vnope 0 1 0.1\n", m + "5:", "vnope"),
        net_err(".dc: zero step", "t\n" + DIV + ".dc V1 0 1 0\n", m + "5:"),
        net_err(".dc: 1e12 points", "t\n" + DIV + ".dc V1 0 1 1e-12\n", m + "5:", timeout=30),
        net_err(
            ".options reltol=-1", "t\n" + DIV + ".options reltol=-1\n.op\n", m + "5:", "reltol"
        ),
        net_err(".options reltol=abc", "t\n" + DIV + ".options reltol=abc\n.op\n", m + "5:"),
        net_err(
            ".temp below absolute zero",
            "t\n" + DIV + "D1 b 0 dm\n.model dm D\n.temp -300\n.op\n",
            m + "7:",
        ),
        net_ok(  # the .else branch: 1k || 3k below 1k (ngspice-39: v(b) = 0.428571)
            ".if block",
            "t\n" + DIV + ".if (0)\nR3 b 0 1k\n.else\nR3 b 0 3k\n.endif\n.op\n",
            _v("b", 0.75 / 1.75),
        ),
        net_err(".if unterminated", "t\n" + DIV + ".if (1)\nR3 a 0 1\n.op\n", m + "5:", ".endif"),
        net_ok(  # SPICE polynomial: V(c) = 0 + 1 * V(a) = 1 V
            "E POLY", "t\n" + DIV + "E1 c 0 POLY(1) a 0 0 1\nR3 c 0 1\n.op\n", _v("c", 1.0)
        ),
        net_ok(  # ngspice's B source: 2 A from c through G1 to ground, so V(c) = -2 V
            "G VALUE=", "t\n" + DIV + "G1 c 0 VALUE={V(a)*2}\nR3 c 0 1\n.op\n", _v("c", -2.0)
        ),
        net_err("E CUR=", "t\n" + DIV + "E1 c 0 CUR={V(a)}\nR3 c 0 1\n.op\n", m + "5:", "cur"),
        net_ok(  # ngspice's XSPICE pwl rounds the table corner: v(c) = 0.975
            "E TABLE",
            "t\n" + DIV + "E1 c 0 TABLE {V(a)} = (0,0) (1,1)\nR3 c 0 1\n.op\n",
            _v("c", 0.975),
        ),
        net_err(
            ".param a={b} b={a}", "t\n.param a={b} b={a}\nV1 x 0 {a}\nR1 x 0 1\n.op\n", m + "2:"
        ),
        net_err(".param a={a+1}", "t\n.param a={a+1}\nV1 x 0 {a}\nR1 x 0 1\n.op\n", m + "2:", "a"),
        net_err(".func recursion", "t\n.func f(x) {f(x)+1}\nV1 x 0 {f(1)}\nR1 x 0 1\n.op\n", m),
        net_err(".param 1e308*10", "t\n.param big={1e308*10}\nV1 x 0 1\nR1 x 0 {big}\n.op\n", m),
        net_err(
            "expression nested 5000 deep",
            "t\nV1 x 0 {" + "(" * 5000 + "1" + ")" * 5000 + "}\nR1 x 0 1\n.op\n",
            m + "2:",
        ),
        net_err("unclosed {", "t\nV1 x 0 {1+2\nR1 x 0 1\n.op\n", m + "2:"),
        net_ok(  # ngspice-39 continues the title there; v(a) = 1
            "+ continuation first", "t\n+ R1 a 0 1\nV1 a 0 1\nR2 a 0 1\n.op\n", _v("a", 1.0)
        ),
        net_err(".control without .endc", "t\n" + DIV + ".control\nrun\n.op\n", m + "5:", ".endc"),
        net_err("unicode minus sign", "t\nV1 a 0 \u22121\nR1 a 0 1\n.op\n", m + "2:"),
    ]
    # --- unsupported devices: named, with ngspice's behaviour
    for card, what in [
        ("Q1 c b 0 qn", "bipolar"),
        ("J1 d g s jn", "jfet"),
        ("S1 a 0 c 0 sw", "undefined model 'sw'"),  # (S and W are simulated: a model is
        ("W1 a 0 vc wm", "undefined model 'wm'"),  # needed, and named when missing)
        ("T1 a 0 b 0 z0=50 td=1n", "transmission"),
        ("A1 a 0 amod", "xspice"),
        ("Z1 d g s zm", "mesfet"),
        ("O1 a 0 b 0 lm", "lossy"),
        ("U1 a b 0 um l=1", "rc line"),
        ("P1 a b 0 c d 0 pm", "coupled"),
        ("Y1 a 0 b 0 ym", "txl"),
        ("N1 a 0 nm", "n"),
    ]:
        c.append(
            net_err(
                f"unsupported {card.split()[0][0]} ({what.split(chr(39))[0].strip()})",
                "t\n" + DIV + card + "\n.op\n",
                m + "5:",
                what,
            )
        )
    # --- files
    c += [
        net_err(
            ".include missing", "t\n.include nothere.cir\n" + DIV + ".op\n", m + "2:", "nothere.cir"
        ),
        net_err(
            ".include binary",
            "t\n.include bin.cir\n" + DIV + ".op\n",
            "main.cir:2",
            "bin.cir",
            extra={"bin.cir": bytes(range(256)) * 4},
        ),
        net_err(".include itself", "t\n.include main.cir\n" + DIV + ".op\n", m + "2:", "main.cir"),
        net_err(
            ".include cycle a->b->a",
            "t\n.include a.inc\n" + DIV + ".op\n",
            "a.inc",
            extra={"a.inc": "* a\n.include b.inc\n", "b.inc": "* b\n.include a.inc\n"},
        ),
        net_err(
            ".include a directory",
            "t\n.include sub\n" + DIV + ".op\n",
            m + "2:",
            "sub",
            extra={"sub/x.cir": "* x\n"},
        ),
        net_err(
            ".include 300 deep chain",
            "t\n.include i0.inc\n" + DIV + ".op\n",
            "inc",
            extra={f"i{k}.inc": f"* {k}\n.include i{k + 1}.inc\n" for k in range(300)},
        ),
        net_err(
            ".lib missing section",
            "t\n.lib lib.l nope\n" + DIV + ".op\n",
            m + "2:",
            "nope",
            extra={"lib.l": ".lib tt\n.param x=1\n.endl\n"},
        ),
        net_err(
            ".include error inside",
            "t\n.include bad.inc\n" + DIV + ".op\n",
            "bad.inc:2:",
            extra={"bad.inc": "* bad\nR9 a\n"},
        ),
        net_err(
            ".include /dev/zero (never ends)",
            "t\n.include /dev/zero\n" + DIV + ".op\n",
            m + "2:",
            "device",
        ),
        net_err(".func without a body", "t\n.func f(x)\n" + DIV + ".op\n", m + "2:", "body"),
        net_err("empty file", "", "main.cir", "empty"),
        net_err("title only", "just a title\n", "main.cir"),
        net_err("no analysis, no elements", "t\n.op\n.end\n", "main.cir"),
        net_err("NUL bytes", "t\nV1 a 0 1\nR1 a\x00 0 1\n.op\n", m + "3:"),
        net_ok(
            "latin-1 comment (read as Latin-1)",
            b"t\nV1 a 0 1\nR1 a 0 1 ; caf\xe9\n.op\n",
            _v("a", 1.0),
        ),
        net_err(
            "1 MB line", "t\nV1 a 0 1\nR1 a 0 " + "1" * 1_000_000 + "\n.op\n", m + "3:", timeout=30
        ),
    ]
    # --- topology and values that have no DC solution
    c += [
        net_err("floating pair", "t\n" + DIV + "R3 c d 1k\n.op\n", "c"),
        net_err("node only on a C", "t\n" + DIV + "C1 b e 1p\n.op\n", "e"),
        net_err("V loop", "t\nV1 a 0 1\nV2 a 0 2\nR1 a 0 1\n.op\n", "v1", "v2"),
        net_err("V-L loop", "t\nV1 a 0 1\nL1 a 0 1u\n.op\n", "v1", "l1"),
        net_err("I cutset", "t\nI1 0 a 1m\nI2 a b 1m\nR1 b 0 1k\n.op\n", "a"),
        net_err("I into a C", "t\n" + DIV + "I1 0 c 1m\nC1 c 0 1p\n.op\n", "c"),
        net_err("E loop", "t\n" + DIV + "E1 a 0 b 0 2\n.op\n", "e1"),
        net_err(
            "diode reverse breakdown, no R",
            "t\nV1 a 0 -100\nD1 a 0 dm\n.model dm D(BV=1)\n.op\n",
            "d1",
        ),
        net_err("B sinh overflow", "t\nV1 b 0 1\nB1 b 0 I=sinh(1000*V(b))\n.op\n", "b1"),
        net_ok(
            "B sinh steep but finite",
            "t\nV1 a 0 1\nR1 a b 1\nB1 b 0 I=sinh(1000*V(b))\n.op\n",
            lambda op: abs(op.voltage("b") - 8.8e-4) < 1e-4,
        ),
        net_err("B 1/V at 0", "t\nV1 a 0 0\nR1 a b 1\nB1 b 0 I=1/V(b)\n.op\n", "b1"),
        net_err("B sqrt(-1)", "t\nV1 a 0 1\nR1 a b 1\nB1 b 0 I=sqrt(-V(b))\n.op\n", "b1"),
        net_err(
            "MOSFET bulk 1000 V",
            "t\nV1 a 0 1\nVb b 0 1000\nR1 a d 1k\nM1 d a 0 b nm\n.model nm NMOS\n.op\n",
            "m1",
        ),
        net_err("500 deep subckt", _deep(500), "x", "200"),
        net_err(
            "self-instantiating subckt",
            "t\n.subckt s p\nX1 p s\n.ends\nV1 a 0 1\nR1 a 0 1\nX1 a s\n.op\n",
            "s",
        ),
    ]
    # --- valid but unusual: the right answer
    c += [
        net_ok("CRLF line ends", ("t\n" + DIV + ".op\n.end\n").replace("\n", "\r\n"), _v("b", 0.5)),
        net_ok(
            "CR-only line ends",
            ("t\n" + DIV + ".op\n.end\n").replace("\n", "\r"),
            _v("b", 0.5),
            either=True,
        ),
        net_ok("UTF-8 BOM", "\ufefft\n" + DIV + ".op\n", _v("b", 0.5)),
        net_ok(
            "non-ASCII comment and title", "t\u00e9\u4e2d\n* \u00fc\n" + DIV + ".op\n", _v("b", 0.5)
        ),
        net_ok(
            "non-ASCII node name",
            "t\nV1 \u00e4 0 1\nR1 \u00e4 b 1k\nR2 b 0 1k\n.op\n",
            _v("b", 0.5),
            either=True,
        ),
        net_ok("tabs as blanks", "t\nV1\ta\t0\t1\nR1\ta b\t1k\nR2 b 0 1k\n.op\n", _v("b", 0.5)),
        net_ok("zero R is 1 mOhm", "t\nV1 a 0 1\nR1 a b 0\nR2 b 0 1\n.op\n", _v("b", 1 / 1.001)),
        net_ok("negative R", "t\nV1 a 0 1\nR1 a b -1k\nR2 b 0 2k\n.op\n", _v("b", 2.0)),
        net_ok("zero-value V", "t\nV1 a 0 0\nR1 a 0 1k\n.op\n", _v("a", 0.0)),
        net_ok("zero-gain E", "t\n" + DIV + "E1 c 0 a 0 0\nR3 c 0 1\n.op\n", _v("c", 0.0)),
        net_ok(
            "huge and tiny R",
            "t\nV1 a 0 1\nR1 a b 1e12\nR2 b 0 1e-6\n.op\n",
            _v("b", 1e-18, rtol=1e-3),
        ),
        # ngspice-39 reads on past .end: prose there is an error, a card is in the circuit
        net_err("text after .end", "t\n" + DIV + ".op\n.end\nthis is not a card @@@\n", m + "7:"),
        net_ok("card after .end", "t\n" + DIV + ".op\n.end\nR3 b 0 1k\n", _v("b", 1 / 3)),
        net_ok(
            "unit letters after value",
            "t\nV1 a 0 1V\nR1 a b 1kohm\nR2 b 0 1kOhms\n.op\n",
            _v("b", 0.5),
        ),
        net_ok("150 deep subckt", _deep(150), lambda op: abs(op.voltage("a") - 1) < 1e-9),
        net_ok(
            "duplicate element name",
            "t\nV1 a 0 1\nR1 a b 1k\nR1 b 0 1k\n.op\n",
            _v("b", 0.5),
            either=True,
        ),
        net_ok(
            "diode forward with R",
            "t\nV1 a 0 5\nR1 a b 1k\nD1 b 0 dm\n.model dm D\n.op\n",
            lambda op: 0.6 < op.voltage("b") < 0.8,
        ),
    ]
    return c


def _deep(n):
    lines = ["t"]
    for k in range(n):
        lines += [f".subckt s{k} p", f"X1 p s{k + 1}" if k + 1 < n else "R1 p 0 1k", ".ends"]
    lines += ["V1 a 0 1", "X1 a s0", ".op"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# the Python API
# ---------------------------------------------------------------------------------------------

G4 = np.full((4, 4), 1e-5)
V4 = np.full((2, 4), 0.1)


def api_err(name, fn, *needles, timeout=60):
    return Err("api", name, needles, timeout, make=lambda tmp: fn())


def api_ok(name, fn, check=None):
    return Ok("api", name, (), 60, make=lambda tmp: fn(), check=check)


def _ro(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


def _xsolve(G=G4, V=V4, **kw):
    return xbar.Crossbar(G, **kw).solve(V)


def api_cases():
    from xbar.crossbar import Tabulated

    Xb, S, E, P = xbar.Crossbar, xbar.Sinh, xbar.Exponential, xbar.PowerLaw
    c = [
        api_err("Crossbar(G=bool array)", lambda: Xb(np.ones((4, 4), bool)), "G"),
        api_err("Crossbar(G=True)", lambda: Xb(True), "G"),
        api_err("Crossbar(G=None)", lambda: Xb(None), "G"),
        api_err("Crossbar(G=dict)", lambda: Xb({"a": 1}), "G"),
        api_err("Crossbar(G=3-D)", lambda: Xb(np.ones((2, 2, 2)) * 1e-5), "G"),
        api_err("Crossbar(G=(0,4))", lambda: Xb(np.ones((0, 4))), "G"),
        api_err("Crossbar(G with NaN)", lambda: Xb(np.where(np.eye(4) > 0, np.nan, 1e-5)), "G"),
        api_err("Crossbar(G with -inf)", lambda: Xb(np.where(np.eye(4) > 0, -np.inf, 1e-5)), "G"),
        api_err("Crossbar(G negative)", lambda: Xb(-G4), "G"),
        api_err("Crossbar(G complex)", lambda: Xb(G4 + 0j), "G"),
        api_err("Crossbar(G strings)", lambda: Xb(np.full((2, 2), "1e-5")), "G"),
        api_err("Crossbar(G datetime)", lambda: Xb(np.full((2, 2), np.datetime64("2020"))), "G"),
        api_err(
            "Crossbar(G 1e300 x 1e300)",
            lambda: Xb(np.broadcast_to(1e-5, (10**6, 10**6))).solve(np.zeros((1, 10**6))),
            "G",
            timeout=60,
        ),
        api_ok(
            "Crossbar(G int dtype)",
            lambda: _xsolve(G=np.ones((4, 4), int)),
            lambda s: np.all(np.isfinite(s.output)),
        ),
        api_ok(
            "Crossbar(G float32, read-only)",
            lambda: _xsolve(G=_ro(G4.astype(np.float32))),
            lambda s: np.allclose(s.output, V4 @ G4),
        ),
        api_ok(
            "Crossbar(G list of lists)",
            lambda: _xsolve(G=G4.tolist()),
            lambda s: np.allclose(s.output, V4 @ G4),
        ),
        api_ok(
            "solve(V read-only)",
            lambda: _xsolve(V=_ro(V4)),
            lambda s: np.allclose(s.output, V4 @ G4),
        ),
        api_ok(
            "solve(V 1-D)",
            lambda: _xsolve(V=np.full(4, 0.1)),
            lambda s: np.allclose(np.ravel(s.output), 0.1 * G4.sum(0)),
        ),
        api_ok(
            "solve(V Fortran-order float16)",
            lambda: _xsolve(V=np.asfortranarray(V4.astype(np.float16))),
            lambda s: np.allclose(s.output, V4.astype(np.float16) @ G4, rtol=1e-6),
        ),
        api_err("r_row=-1", lambda: Xb(G4, r_row=-1.0), "r_row"),
        api_err("r_col=nan", lambda: Xb(G4, r_col=np.nan), "r_col"),
        api_err("r_driver='1'", lambda: Xb(G4, r_driver="1"), "r_driver"),
        api_err("r_sense=1j", lambda: Xb(G4, r_sense=1j), "r_sense"),
        api_err("r_row wrong shape", lambda: Xb(G4, r_row=np.ones(7)), "r_row"),
        api_err("r_access=inf", lambda: Xb(G4, r_access=np.inf), "r_access"),
        api_err("r_source=True", lambda: Xb(G4, r_source=True), "r_source"),
        api_err("device='sinh' (a string)", lambda: Xb(G4, device="sinh"), "device"),
        api_err("Sinh(k=-1)", lambda: S(-1.0), "k"),
        api_err("Sinh(k=nan)", lambda: S(np.nan), "k"),
        api_err("Sinh(k='3')", lambda: S("3"), "k"),
        api_err("Exponential(inf)", lambda: E(np.inf), ""),
        api_err("PowerLaw(negative)", lambda: P(-2.0), ""),
        api_err(
            "Tabulated not monotone", lambda: Tabulated(v=[-1, 0, 1], i=[0, 1, 0.5]), "Tabulated"
        ),
        api_err("Tabulated 1 point", lambda: Tabulated(v=[0], i=[0]), "Tabulated"),
        api_err(
            "Tabulated complex",
            lambda: Tabulated(v=[-1, 0, 1], i=np.array([-1, 0, 1]) * 1j),
            "Tabulated",
        ),
        api_err("drive='middle'", lambda: Xb(G4, drive="middle"), "drive"),
        api_err("sense=3", lambda: Xb(G4, sense=3), "sense"),
        api_err("topology='mesh'", lambda: Xb(G4, topology="mesh"), "topology"),
        api_err("kernel='gpu'", lambda: Xb(G4, kernel="gpu"), "kernel"),
        api_err("options=dict", lambda: Xb(G4, options={"reltol": 1e-3}), "options"),
        api_err("maxiter=1.5", lambda: Xb(G4, maxiter=1.5), "maxiter"),
        api_err("v_read=nan", lambda: Xb(G4, device=S(3.0), v_read=np.nan), "v_read"),
        api_err("solve(V wrong length)", lambda: _xsolve(V=np.ones((2, 5))), "V"),
        api_err("solve(V 3-D)", lambda: _xsolve(V=np.ones((2, 2, 4))), "V"),
        api_err("solve(V with inf)", lambda: _xsolve(V=np.array([[np.inf, 0, 0, 0]])), "V"),
        api_err("solve(V=None)", lambda: _xsolve(V=None), "V"),
        api_err("solve(V object array)", lambda: _xsolve(V=np.array([[object()] * 4])), "V"),
        api_err("solve(V bool)", lambda: _xsolve(V=np.ones((1, 4), bool)), "V"),
        api_err("linearize(v_op='x')", lambda: Xb(G4, device=S(3.0)).linearize("x"), ""),
        api_err(
            "to_netlist into a directory", lambda: Xb(G4).to_netlist(ROOT / "netlists"), "netlists"
        ),
        api_err("read_netlist(None)", lambda: xbar.read_netlist(None), "None"),
        api_err("read_netlist(bytes)", lambda: xbar.read_netlist(b"t\nV1 a 0 1\n"), "bytes"),
        api_err(
            "read_netlist(missing path)", lambda: xbar.read_netlist("/no/such/file.cir"), "file.cir"
        ),
        api_err(
            "read_netlist(a directory)",
            lambda: xbar.read_netlist(str(ROOT / "netlists")),
            "netlists",
        ),
        api_err(
            "solve_dc(Circuit, options='x')",
            lambda: xbar.solve_dc(xbar.read_netlist("t\n" + DIV + ".op\n"), "x"),
            "options",
        ),
        api_err("solve_dc(None)", lambda: xbar.solve_dc(None), "Circuit"),
        api_err(
            "Options(reltol=-1)",
            lambda: xbar.solve_dc(xbar.read_netlist("t\n" + DIV), xbar.Options(reltol=-1.0)),
            "reltol",
        ),
        api_err(
            "OperatingPoint.voltage(unknown)",
            lambda: xbar.solve_dc(xbar.read_netlist("t\n" + DIV + ".op\n")).voltage("zz"),
            "zz",
        ),
        api_err(
            "OperatingPoint.voltage(3)",
            lambda: xbar.solve_dc(xbar.read_netlist("t\n" + DIV + ".op\n")).voltage(3),
            "3",
        ),
    ]
    c += [
        api_err("Options(bogus=1)", lambda: xbar.Options(bogus=1), "bogus"),
        api_err("Tabulated.from_csv(None)", lambda: Tabulated.from_csv(None), "NoneType"),
        api_err(
            "Tabulated.from_csv('/dev/zero')", lambda: Tabulated.from_csv("/dev/zero"), "/dev/zero"
        ),
        api_err("read_netlist('/dev/zero')", lambda: xbar.read_netlist("/dev/zero"), "/dev/zero"),
        api_err("load_onnx(None)", lambda: xbar.network.load_onnx(None), "NoneType"),
        api_err(
            "from_toml('/dev/zero')",
            lambda: xbar.network.AnalogConfig.from_toml("/dev/zero"),
            "/dev/zero",
        ),
        api_err(
            "solve(warm_start='x')",
            lambda: Xb(G4, device=S(3.0)).solve(V4, warm_start="x"),
            "warm_start",
        ),
        api_err(
            "solve(warm_start of a 3x3 array)",
            lambda: Xb(G4, device=S(3.0)).solve(
                V4, warm_start=Xb(np.full((3, 3), 1e-5), device=S(3.0)).solve(np.full((2, 3), 0.1))
            ),
            "3x3",
        ),
        api_err(
            "solve_dc(progress=3) on a sweep",
            lambda: xbar.solve_dc(xbar.read_netlist("t\n" + DIV + ".dc V1 0 1 0.5\n"), progress=3),
            "progress",
        ),
        api_err(
            "evaluate(progress=3)",
            lambda: xbar.network.evaluate(
                xbar.network.load_model("default"), xbar.network.AnalogConfig(), limit=2, progress=3
            ),
            "progress",
        ),
    ]
    c += _network_api_cases()
    return c


def _network_api_cases():
    from xbar import network as n

    AC = n.AnalogConfig
    c = [
        api_err("AnalogConfig(g_min=-1e-6)", lambda: AC(g_min=-1e-6), "g_min"),
        api_err(
            "AnalogConfig(g_min > g_max), evaluated",
            lambda: n.evaluate(n.load_model("default"), AC(g_min=1e-3, g_max=1e-4), limit=2),
            "g_min",
        ),
        api_err("AnalogConfig(adc_bits=1.5)", lambda: AC(adc_bits=1.5), "adc_bits"),
        api_err("AnalogConfig(adc_bits=True)", lambda: AC(adc_bits=True), "adc_bits"),
        api_err("AnalogConfig(g_max='1e-4')", lambda: AC(g_max="1e-4"), "g_max"),
        api_err("AnalogConfig(r_row=nan)", lambda: AC(r_row=float("nan")), "r_row"),
        api_err("AnalogConfig(array_rows=0)", lambda: AC(array_rows=0), "array_rows"),
        Ok(
            "api",
            "AnalogConfig(array_rows=10**12), evaluated",
            (),
            120,
            make=lambda tmp: n.evaluate(
                n.load_model("default"), AC(array_rows=10**12, array_cols=10**12), limit=4
            ),
            check=lambda r: 0 <= r.accuracy <= 1,
        ),
        api_err("AnalogConfig(mapping='x')", lambda: AC(mapping="x"), "mapping"),
        api_err("AnalogConfig(repeats=-1)", lambda: AC(repeats=-1), "repeats"),
        api_err(
            "AnalogConfig(programming_sigma=inf)",
            lambda: AC(programming_sigma=float("inf")),
            "programming_sigma",
        ),
        api_err("AnalogConfig(v_read=1j)", lambda: AC(v_read=1j), "v_read"),
        api_err("load_model(missing)", lambda: n.load_model("/no/such/model"), "model"),
        api_err("load_model(42)", lambda: n.load_model(42), "42"),
        api_err("load_dataset('nope')", lambda: n.load_dataset("nope"), "nope"),
        api_err("evaluate(model=None)", lambda: n.evaluate(None, AC()), "model"),
        api_err(
            "evaluate(config=dict)",
            lambda: n.evaluate(n.load_model("default"), {"g_min": 1}),
            "config",
        ),
        api_err(
            "evaluate(limit=0)", lambda: n.evaluate(n.load_model("default"), AC(), limit=0), "limit"
        ),
        api_err(
            "evaluate(chips=[-1])",
            lambda: n.evaluate(n.load_model("default"), AC(), limit=2, chips=[-1]),
            "chip",
        ),
        api_err(
            "evaluate(batch_size=0)",
            lambda: n.evaluate(n.load_model("default"), AC(), limit=2, batch_size=0),
            "batch_size",
        ),
        api_err(
            "predict(wrong image shape)",
            lambda: n.load_model("default").predict(np.zeros((2, 5, 5, 1))),
            "shape",
        ),
        api_err(
            "predict(NaN images)",
            lambda: n.load_model("default").predict(np.full((2, 8, 8, 1), np.nan)),
            "nan",
        ),
        api_err(
            "sweep(axes={'nofield': [1]})",
            lambda: n.sweep("default", AC(), {"nofield": [1]}, executor="serial", limit=2),
            "nofield",
        ),
        api_err(
            "sweep(axes={'adc_bits': []})",
            lambda: n.sweep("default", AC(), {"adc_bits": []}, executor="serial", limit=2),
            "adc_bits",
        ),
        api_err(
            "sweep(executor='gpu')",
            lambda: n.sweep("default", AC(), {"adc_bits": [4]}, executor="gpu", limit=2),
            "executor",
        ),
    ]
    return c


# ---------------------------------------------------------------------------------------------
# corrupt files (models, data sets, TOML configs, ONNX, sweep CSV, I-V tables)
# ---------------------------------------------------------------------------------------------

MODELS = ROOT / "xbar" / "data" / "models"
ONNX = ROOT / "tests" / "data" / "onnx"
INFER = ["infer", "--limit", "2", "--no-progress", "--no-energy"]


def _model(tmp, json_edit=None, npz_edit=None, json_text=None):
    """A copy of the shipped default model, edited; returns its stem."""
    desc = json.loads((MODELS / "default.json").read_text())
    arrays = dict(np.load(MODELS / "default.npz"))
    if json_edit:
        json_edit(desc)
    if npz_edit:
        npz_edit(arrays)
    stem = tmp / "m"
    (tmp / "m.json").write_text(json_text if json_text is not None else json.dumps(desc))
    np.savez(tmp / "m.npz", **arrays)
    return stem


def model_cli(name, *needles, **edits):
    return Cli(
        "file", name, needles, 120, argv=lambda tmp: [*INFER, "--model", _model(tmp, **edits)]
    )


def _raw_file(tmp, name, data):
    p = tmp / name
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data)
    return p


def file_cli(name, fname, data, flag, *needles, prefix="", argv=INFER):
    return Cli(
        "file",
        name,
        needles,
        120,
        argv=lambda tmp: [*argv, flag, prefix + str(_raw_file(tmp, fname, data))],
    )


def _npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _onnx_bad_shape(tmp):
    import onnx

    m = onnx.load(ONNX / "lenet5_torchscript_op11.onnx")
    init = m.graph.initializer[0]
    arr = onnx.numpy_helper.to_array(init)
    new = onnx.numpy_helper.from_array(np.zeros(arr.size + 3, arr.dtype), init.name)
    init.CopyFrom(new)
    p = tmp / "bad.onnx"
    onnx.save(m, p)
    return p


def file_cases():
    cut = (MODELS / "default.json").read_text()
    npz = (MODELS / "default.npz").read_bytes()
    lenet = (ONNX / "lenet5_torchscript_op11.onnx").read_bytes()
    x = np.random.default_rng(0).random((6, 8, 8, 1))
    c = [
        # models
        file_cli("model .json truncated", "m.json", cut[: len(cut) // 2], "--model", "m.json"),
        file_cli("model .json is a list", "m.json", "[1, 2, 3]", "--model", "m.json"),
        file_cli(
            "model .json 100000-deep nesting",
            "m.json",
            "[" * 100000 + "]" * 100000,
            "--model",
            "m.json",
        ),
        file_cli("model .json UTF-16", "m.json", cut.encode("utf-16"), "--model", "m.json"),
        model_cli(
            "model layer type unknown",
            "m.json",
            "conv1",
            json_edit=lambda d: d["layers"][0].update(type="Conv9D"),
        ),
        model_cli(
            "model layer kernel=0",
            "m.json",
            "kernel",
            json_edit=lambda d: d["layers"][0].update(kernel=0),
        ),
        model_cli(
            "model input_shape negative",
            "m.json",
            "input_shape",
            json_edit=lambda d: d.update(input_shape=[8, -8, 1]),
        ),
        model_cli(
            "model classes='ten'", "m.json", "classes", json_edit=lambda d: d.update(classes="ten")
        ),
        model_cli(
            "model layers not a list",
            "m.json",
            "layers",
            json_edit=lambda d: d.update(layers={"a": 1}),
        ),
        model_cli(
            "model weight of wrong shape",
            "conv2/W",
            npz_edit=lambda a: a.update({"conv2/W": np.zeros((3, 3, 8, 15))}),
        ),
        model_cli("model weight missing", "dense/W", npz_edit=lambda a: a.pop("dense/W")),
        model_cli(
            "model weight NaN",
            "conv1/W",
            npz_edit=lambda a: a["conv1/W"].__setitem__((0, 0, 0, 0), np.nan),
        ),
        model_cli(
            "model weight int strings",
            "dense/b",
            npz_edit=lambda a: a.update({"dense/b": np.array(["1"] * 10)}),
        ),
        Cli(
            "file",
            "model .npz truncated",
            ("m.npz",),
            120,
            argv=lambda tmp: [
                *INFER,
                "--model",
                _model(tmp),
                (tmp / "m.npz").write_bytes(npz[: len(npz) // 2]) and "--limit",
                "2",
            ],
        ),
        Cli(
            "file",
            "model .npz missing",
            ("m.npz",),
            120,
            argv=lambda tmp: [
                *INFER,
                "--model",
                _model(tmp),
                (tmp / "m.npz").unlink() or "--limit",
                "2",
            ],
        ),
        # ONNX
        file_cli("onnx empty", "e.onnx", b"", "--model", "e.onnx"),
        file_cli("onnx garbage", "g.onnx", os.urandom(3000), "--model", "g.onnx"),
        file_cli("onnx truncated", "t.onnx", lenet[: len(lenet) // 2], "--model", "t.onnx"),
        file_cli("onnx is text", "t.onnx", "ir_version: 7\n", "--model", "t.onnx"),
        Cli(
            "file",
            "onnx initializer of wrong size",
            ("bad.onnx",),
            120,
            argv=lambda tmp: [*INFER, "--model", _onnx_bad_shape(tmp)],
        ),
        Cli(
            "file",
            "onnx is a directory",
            ("d.onnx",),
            60,
            argv=lambda tmp: [*INFER, "--model", (tmp / "d.onnx").mkdir() or tmp / "d.onnx"],
        ),
        # data sets
        file_cli(
            "npz: x is 2-D",
            "d.npz",
            _npz_bytes(x=np.zeros((6, 64)), y=np.zeros(6, int)),
            "--dataset",
            "d.npz",
            prefix="npz:",
        ),
        file_cli(
            "npz: y float",
            "d.npz",
            _npz_bytes(x=x, y=np.linspace(0, 1, 6)),
            "--dataset",
            "d.npz",
            prefix="npz:",
        ),
        file_cli(
            "npz: y negative",
            "d.npz",
            _npz_bytes(x=x, y=-np.ones(6, int)),
            "--dataset",
            "y",
            prefix="npz:",
        ),
        file_cli("npz: y missing", "d.npz", _npz_bytes(x=x), "--dataset", "d.npz", prefix="npz:"),
        file_cli(
            "npz: x/y length mismatch",
            "d.npz",
            _npz_bytes(x=x, y=np.zeros(4, int)),
            "--dataset",
            "d.npz",
            prefix="npz:",
        ),
        file_cli(
            "npz: x strings",
            "d.npz",
            _npz_bytes(x=np.full((6, 8, 8, 1), "a"), y=np.zeros(6, int)),
            "--dataset",
            "d.npz",
            prefix="npz:",
        ),
        file_cli(
            "npz: x inf",
            "d.npz",
            _npz_bytes(x=np.full((6, 8, 8, 1), np.inf), y=np.zeros(6, int)),
            "--dataset",
            "d.npz",
            prefix="npz:",
        ),
        file_cli(
            "npz: images of wrong size for the model",
            "d.npz",
            _npz_bytes(x=np.zeros((6, 9, 9, 1)), y=np.zeros(6, int)),
            "--dataset",
            "d.npz",
            prefix="npz:",
        ),
        file_cli(
            "npz: zero images",
            "d.npz",
            _npz_bytes(x=np.zeros((0, 8, 8, 1)), y=np.zeros(0, int)),
            "--dataset",
            "d.npz",
            prefix="npz:",
        ),
        Cli(
            "file",
            "mnist: truncated idx",
            ("train-images-idx3-ubyte",),
            60,
            argv=lambda tmp: [*INFER, "--dataset", f"mnist:{_mnist(tmp, cut=True)}"],
        ),
        Cli(
            "file",
            "mnist: wrong magic",
            ("mnist",),
            60,
            argv=lambda tmp: [*INFER, "--dataset", f"mnist:{_mnist(tmp, magic=True)}"],
        ),
        Cli(
            "file",
            "cifar10: truncated batch",
            ("cifar",),
            60,
            argv=lambda tmp: [*INFER, "--dataset", f"cifar10:{_cifar(tmp)}"],
        ),
        Cli(
            "file",
            "folder: non-image file",
            ("junk.png",),
            60,
            argv=lambda tmp: [*INFER, "--dataset", f"folder:{_folder(tmp, junk=True)}"],
        ),
        Cli(
            "file",
            "folder: no classes",
            ("folder",),
            60,
            argv=lambda tmp: [*INFER, "--dataset", f"folder:{tmp}"],
        ),
        # TOML configs
        file_cli(
            "TOML syntax error", "c.toml", "adc_bits = 4\ng_min = = 1\n", "--config", "c.toml", "2"
        ),
        file_cli("TOML unknown field", "c.toml", "adc_bitz = 4\n", "--config", "adc_bitz"),
        file_cli("TOML wrong type", "c.toml", 'g_min = "abc"\n', "--config", "g_min"),
        file_cli("TOML nested table", "c.toml", "[extra]\nfoo = 1\n", "--config", "extra"),
        file_cli(
            "TOML duplicate key", "c.toml", "adc_bits = 4\nadc_bits = 5\n", "--config", "c.toml"
        ),
        file_cli("TOML array value", "c.toml", "g_min = [1e-6, 2e-6]\n", "--config", "g_min"),
        file_cli("TOML inf value", "c.toml", "g_max = inf\n", "--config", "g_max"),
        file_cli("TOML date value", "c.toml", "seed = 1979-05-27\n", "--config", "seed"),
        file_cli(
            "TOML huge int", "c.toml", "adc_bits = 99999999999999999999\n", "--config", "adc_bits"
        ),
        file_cli("TOML bool for number", "c.toml", "adc_bits = true\n", "--config", "adc_bits"),
        Cli(
            "file",
            "TOML is a directory",
            ("d.toml",),
            60,
            argv=lambda tmp: [*INFER, "--config", (tmp / "d.toml").mkdir() or tmp / "d.toml"],
        ),
        # sweep CSV and tables read through the API
        Err(
            "file",
            "read_sweep binary",
            ("s.csv",),
            60,
            make=lambda tmp: xbar.network.read_sweep(_raw_file(tmp, "s.csv", os.urandom(500))),
        ),
        Err(
            "file",
            "read_sweep other CSV",
            ("s.csv",),
            60,
            make=lambda tmp: xbar.network.read_sweep(_raw_file(tmp, "s.csv", "a,b,c\n1,2,3\n")),
        ),
        Err(
            "file",
            "Tabulated.from_csv text rows",
            ("iv.csv", "3"),
            60,
            make=lambda tmp: _tab(tmp, "v,i\n0,0\n1,x\n"),
        ),
        Err(
            "file",
            "Tabulated.from_csv one column",
            ("iv.csv",),
            60,
            make=lambda tmp: _tab(tmp, "0\n1\n"),
        ),
        Err(
            "file",
            "Tabulated.from_csv NaN",
            ("iv.csv",),
            60,
            make=lambda tmp: _tab(tmp, "-1,-1\n0,nan\n1,1\n"),
        ),
        file_cli(
            "crossbar conductances NaN",
            "g.npz",
            _npz_bytes(G=np.full((4, 4), np.nan)),
            "--conductances",
            "g.npz",
            argv=["crossbar", "--inputs", "2"],
        ),
        file_cli(
            "crossbar conductances int strings",
            "g.npz",
            _npz_bytes(G=np.full((4, 4), "1")),
            "--conductances",
            "g.npz",
            argv=["crossbar", "--inputs", "2"],
        ),
        file_cli(
            "solve: netlist is binary", "n.cir", os.urandom(2000), "", "n.cir", argv=["solve"]
        ),
    ]
    return c


def _tab(tmp, text):
    from xbar.crossbar import Tabulated

    return Tabulated.from_csv(_raw_file(tmp, "iv.csv", text))


def _mnist(tmp, cut=False, magic=False):
    import struct

    root = tmp / "mn"
    root.mkdir()
    n = 6
    img = struct.pack(">IIII", 0x0803 if not magic else 0x1234, n, 8, 8) + bytes(n * 64)
    lab = struct.pack(">II", 0x0801, n) + bytes(n)
    if cut:
        img = img[: len(img) // 2]
    for split in ("train", "t10k"):
        (root / f"{split}-images-idx3-ubyte").write_bytes(img)
        (root / f"{split}-labels-idx1-ubyte").write_bytes(lab)
    return root


def _cifar(tmp):
    root = tmp / "cf" / "cifar-10-batches-bin"
    root.mkdir(parents=True)
    rec = bytes(3073)
    for k in range(1, 6):
        (root / f"data_batch_{k}.bin").write_bytes(rec * 2)
    (root / "test_batch.bin").write_bytes(rec + rec[:1000])
    return tmp / "cf"


def _folder(tmp, junk=False):
    root = tmp / "fold"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        (root / cls / "junk.png").write_bytes(b"this is not a png")
    return root


# ---------------------------------------------------------------------------------------------
# CLI flags
# ---------------------------------------------------------------------------------------------


def cli(name, argv, *needles, timeout=120, code=2):
    return Cli(
        "cli",
        name,
        needles,
        timeout,
        argv=argv if callable(argv) else (lambda tmp: argv),
        code=code,
    )


def cli_cases():
    xb = ["crossbar", "--rows", "4", "--cols", "4", "--inputs", "2"]
    sw = ["sweep", "--limit", "2", "--serial", "--repeats", "1"]
    tr = ["train", "--epochs", "1"]
    return [
        cli("solve missing file", ["solve", "/no/such.cir"], "such.cir"),
        cli("solve a directory", ["solve", str(ROOT / "netlists")], "netlists"),
        cli("solve --threads -1", ["solve", "--threads", "-1"], "threads"),
        cli("solve --threads abc", ["solve", "--threads", "abc"], "threads"),
        cli(
            "solve --json on a bad file",
            lambda tmp: ["solve", "--json", _raw_file(tmp, "b.cir", "t\nR1 a\n")],
            "b.cir:2",
        ),
        cli("crossbar --rows 0", ["crossbar", "--rows", "0"], "rows"),
        cli("crossbar --rows -5", ["crossbar", "--rows", "-5"], "rows"),
        cli(
            "crossbar --rows 1e9",
            ["crossbar", "--rows", "1000000000", "--cols", "1000000000"],
            "rows",
        ),
        cli("crossbar --cols abc", ["crossbar", "--cols", "abc"], "cols"),
        cli("crossbar --r-wire -1", [*xb, "--r-wire", "-1"], "r"),
        cli("crossbar --r-wire nan", [*xb, "--r-wire", "nan"], "r"),
        cli("crossbar --g-min > --g-max", [*xb, "--g-min", "1e-3", "--g-max", "1e-6"], "g-min"),
        cli("crossbar --k 0 --device sinh", [*xb, "--device", "sinh", "--k", "0"], "k"),
        cli("crossbar --v-max inf", [*xb, "--v-max", "inf"], "v-max"),
        cli("crossbar --v-max -1", [*xb, "--v-max", "-1"], "v-max"),
        cli("crossbar --inputs 0", [*xb, "--inputs", "0"], "inputs"),
        cli("crossbar --seed -1", [*xb, "--seed", "-1"], "seed"),
        cli("crossbar --tol 0", [*xb, "--tol", "0"], "tol"),
        cli(
            "crossbar --plot missing folder", [*xb, "--plot", "/no/such/dir/p.png"], "/no/such/dir"
        ),
        cli("crossbar --plot is a directory", lambda tmp: [*xb, "--plot", tmp], str(Path("/"))),
        cli("crossbar --device foo", [*xb, "--device", "foo"], "device"),
        cli("validate --case nomatch", ["validate", "--case", "zzzz-nothing"], "zzzz-nothing"),
        cli(
            "validate --out a file",
            lambda tmp: ["validate", "--quick", "--case", "zzz", "--out", _raw_file(tmp, "f", "x")],
            "",
        ),
        cli("infer --limit 0", [*INFER[:-4], "--limit", "0"], "limit"),
        cli("infer --limit -1", ["infer", "--limit", "-1"], "limit"),
        cli("infer --chips a,b", [*INFER, "--chips", "a,b"], "chips"),
        cli("infer --chips -1", [*INFER, "--chips", "-1"], "chip"),
        cli("infer --model nosuch", [*INFER, "--model", "nosuch"], "nosuch"),
        cli(
            "infer --dataset synthetic-0x0x0", [*INFER, "--dataset", "synthetic-0x0x0"], "synthetic"
        ),
        cli("infer --dataset synthetic-axb", [*INFER, "--dataset", "synthetic-axb"], "synthetic"),
        cli("infer --adc-bits -1", [*INFER, "--adc-bits", "-1"], "adc"),
        cli("infer --g-min nan", [*INFER, "--g-min", "nan"], "g_min"),
        cli("infer --array-rows 0", [*INFER, "--array-rows", "0"], "array_rows"),
        cli("infer --mapping x", [*INFER, "--mapping", "x"], "mapping"),
        cli(
            "infer --programming-clip maybe", [*INFER, "--programming-clip", "maybe"], "programming"
        ),
        cli("infer --resize 0,0", [*INFER, "--resize", "0,0"], "resize"),
        cli("infer --mean 1,2", [*INFER, "--mean", "1,2"], "mean"),
        cli("infer --layout XYZ", [*INFER, "--layout", "XYZ"], "layout"),
        cli(
            "infer --energy-plot missing folder",
            [*INFER[:-1], "--energy-plot", "/no/such/e.png"],
            "/no/such",
        ),
        cli(
            "infer --device-k -1 --device sinh",
            [*INFER, "--device", "sinh", "--device-k", "-1"],
            "device_k",
        ),
        cli(
            "infer --v-read 1e308 --device sinh",
            [*INFER, "--device", "sinh", "--v-read", "1e308"],
            "v_read",
        ),
        cli("sweep --field nofield", [*sw, "--field", "nofield", "--values", "1"], "nofield"),
        cli("sweep --values ''", [*sw, "--field", "adc_bits", "--values", ""], "values"),
        cli(
            "sweep --values a,b for an int",
            [*sw, "--field", "adc_bits", "--values", "a,b"],
            "adc_bits",
        ),
        cli(
            "sweep --field2 without --values2",
            [*sw, "--field", "adc_bits", "--values", "4", "--field2", "mapping"],
            "values2",
        ),
        cli(
            "sweep --workers 0",
            [*sw[:-3], "--field", "adc_bits", "--values", "4", "--workers", "0"],
            "workers",
        ),
        cli(
            "sweep --repeats 0",
            [*sw[:-2], "--repeats", "0", "--field", "adc_bits", "--values", "4"],
            "repeats",
        ),
        cli(
            "sweep --out is a directory",
            lambda tmp: [*sw, "--field", "adc_bits", "--values", "4", "--out", tmp],
            str(Path("/")),
        ),
        cli(
            "sweep --out in sysfs (read-only)",
            [*sw, "--field", "adc_bits", "--values", "4", "--out", "/sys/kernel/x.csv"],
            "/sys/kernel",
        ),
        cli(
            "sweep --scheduler unreachable",
            [*sw[:-3], "--field", "adc_bits", "--values", "4", "--scheduler", "tcp://127.0.0.1:9"],
            "127.0.0.1",
            timeout=120,
        ),
        cli("train --epochs 0", lambda tmp: [*tr[:-1], "0", "--out", tmp / "m"], "epochs"),
        cli("train --lr -1", lambda tmp: [*tr, "--lr", "-1", "--out", tmp / "m"], "lr"),
        cli(
            "train --batch-size 0",
            lambda tmp: [*tr, "--batch-size", "0", "--out", tmp / "m"],
            "batch",
        ),
        cli("train --out missing folder", [*tr, "--out", "/no/such/dir/m"], "/no/such/dir"),
        cli(
            "train --method foo", lambda tmp: [*tr, "--method", "foo", "--out", tmp / "m"], "method"
        ),
        cli(
            "train --dataset nosuch",
            lambda tmp: [*tr, "--dataset", "nosuch", "--out", tmp / "m"],
            "nosuch",
        ),
        cli(
            "train --train-noise nan",
            lambda tmp: [*tr, "--method", "noise", "--train-noise", "nan", "--out", tmp / "m"],
            "noise",
        ),
        cli(
            "export-onnx --opset 5",
            lambda tmp: ["export-onnx", "default", "--out", tmp / "m.onnx", "--opset", "5"],
            "opset",
        ),
        cli(
            "export-onnx --out a directory",
            lambda tmp: ["export-onnx", "default", "--out", tmp],
            str(Path("/")),
        ),
        cli(
            "export-onnx nosuch",
            lambda tmp: ["export-onnx", "nosuch", "--out", tmp / "m.onnx"],
            "nosuch",
        ),
        cli("unknown subcommand", ["frobnicate"], "frobnicate"),
    ]


# ---------------------------------------------------------------------------------------------
# sweeps: kills, signals, two writers, torn files
# ---------------------------------------------------------------------------------------------


def _sweep_argv(out, *extra, values="2,3,4,5,6,7,8,9"):
    return [
        sys.executable,
        "-m",
        "xbar.cli",
        "sweep",
        "--field",
        "adc_bits",
        "--values",
        values,
        "--repeats",
        "2",
        "--limit",
        "300",
        "--r-row",
        "1",
        "--r-col",
        "1",
        "--out",
        str(out),
        *extra,
    ]


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "XBAR_THREADS": "1"}


def _descendants(pid):
    kids: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                ppid = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(p.name))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def _alive(pids):
    alive = []
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(p)
    return alive


def _rows(out):
    if not Path(out).exists():
        return []
    lines = Path(out).read_text().splitlines()
    return [ln for ln in lines if ln and not ln.startswith(("#", "point,"))]


def _start(out, *extra):
    return subprocess.Popen(
        _sweep_argv(out, *extra),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_rows(proc, out, n, limit=240):
    t0 = time.time()
    while time.time() - t0 < limit:
        if len(_rows(out)) >= n or proc.poll() is not None:
            return
        time.sleep(0.2)


def _finish_and_check(out, allow_repeats=False):
    """Rerun the sweep to completion: all 16 rows once each, and the rerun reused the rest."""
    r = subprocess.run(
        _sweep_argv(out, "--serial"), env=_env(), capture_output=True, text=True, timeout=600
    )
    rows = _rows(out)
    keys = [tuple(r_.split(",")[:3]) for r_ in rows]
    if r.returncode != 0:
        return "raw", f"rerun exit {r.returncode}: {r.stderr.strip()[-150:]}"
    if allow_repeats:
        rows = list(dict.fromkeys(rows))
    if len(rows) != 16 or len(set(keys)) != len(rows):
        return "silent", f"rerun left {len(rows)} rows, {len(set(keys))} unique keys"
    return "clean", "rerun completed: 16 unique rows"


def _signal_case(sig, extra, want_codes):
    def make(tmp):
        import signal as _s

        out = tmp / "s.csv"
        proc = _start(out, *extra)
        _wait_rows(proc, out, 2)
        kids = _descendants(proc.pid)
        os.kill(proc.pid, sig)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, _s.SIGKILL)
            return "hang", f"still running 30 s after signal {sig}"
        time.sleep(2.0)
        left = _alive(kids)
        if left:
            for p in left:
                with contextlib.suppress(OSError):
                    os.kill(p, _s.SIGKILL)
            return "silent", f"{len(left)} child processes survived the parent"
        if "Traceback" in err:
            return "raw", err.strip().splitlines()[-1][:150]
        if want_codes and proc.returncode not in want_codes:
            return "silent", f"exit {proc.returncode}, wanted {want_codes}: {err[-120:]}"
        return _finish_and_check(out)

    return make


def _two_writers(tmp):
    out = tmp / "s.csv"
    a = _start(out, "--serial")
    _wait_rows(a, out, 1)
    b = subprocess.run(
        _sweep_argv(out, "--serial"), env=_env(), capture_output=True, text=True, timeout=300
    )
    a.communicate(timeout=600)
    if b.returncode != 2 or str(out) not in b.stderr or str(a.pid) not in b.stderr:
        return "vague", f"second writer: exit {b.returncode}: {b.stderr.strip()[:150]}"
    rows = _rows(out)
    if len(rows) != 16 or len(set(rows)) != 16:
        return "silent", f"{len(rows)} rows after two writers"
    return "clean", b.stderr.strip().splitlines()[0][:120]


def _torn_then_resume(tmp, tail, refused=False):
    """Damage a finished sweep's file, then resume it: a torn last line or an identical
    repeated row must be survived; a damaged or conflicting row refused naming the row."""
    out = tmp / "s.csv"
    subprocess.run(
        _sweep_argv(out, "--serial", values="2,3,4,5"), env=_env(), capture_output=True, timeout=600
    )
    with open(out, "a") as f:
        f.write(tail(out) if callable(tail) else tail)
    if not refused:
        status, detail = _finish_and_check(out, allow_repeats=True)
        table = xbar.network.read_sweep(out)
        if status == "clean" and np.isfinite(table.accuracies).sum() != 16:
            return "silent", f"read_sweep sees {np.isfinite(table.accuracies).sum()} results"
        return status, detail
    r = subprocess.run(
        _sweep_argv(out, "--serial"), env=_env(), capture_output=True, text=True, timeout=600
    )
    if (
        r.returncode == 2
        and "s.csv" in r.stderr
        and "row" in r.stderr
        and "Traceback" not in r.stderr
    ):
        try:
            xbar.network.read_sweep(out)
        except XbarError as err:
            return "clean", str(err).splitlines()[0][:120]
        return "silent", "read_sweep accepted the damaged file"
    return "silent", f"exit {r.returncode}: {r.stderr.strip()[-150:]}"


def _changed_meta(tmp):
    out = tmp / "s.csv"
    subprocess.run(
        _sweep_argv(out, "--serial", values="2,3"), env=_env(), capture_output=True, timeout=600
    )
    argv = _sweep_argv(out, "--serial", values="2,3")
    argv[argv.index("--limit") + 1] = "301"
    r = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=600)
    rows = _rows(out)
    if r.returncode == 2 and "s.csv" in r.stderr and "Traceback" not in r.stderr:
        return "clean", r.stderr.strip().splitlines()[0][:120]
    if r.returncode == 0 and len(rows) == 4:
        return "clean", "rows of the other configuration were recomputed, not mixed"
    return "silent", f"exit {r.returncode}, {len(rows)} rows: {r.stderr.strip()[:100]}"


def sweep_cases():
    import signal as _s

    f = lambda name, make: Fault("sweep", name, (), 900, make=make)  # noqa: E731
    return [
        f("SIGTERM, process pool", _signal_case(_s.SIGTERM, ("--workers", "2"), None)),
        f("Ctrl-C (SIGINT), process pool", _signal_case(_s.SIGINT, ("--workers", "2"), (130,))),
        f("kill -9, serial", _signal_case(_s.SIGKILL, ("--serial",), None)),
        f("kill -9, process pool", _signal_case(_s.SIGKILL, ("--workers", "2"), None)),
        f("SIGTERM, serial", _signal_case(_s.SIGTERM, ("--serial",), None)),
        f("two writers on one --out", _two_writers),
        f("torn last line, then resume", lambda tmp: _torn_then_resume(tmp, "adc_bits,9,0,0.5")),
        f(
            "garbage line appended, then resume",
            lambda tmp: _torn_then_resume(tmp, "\x00\x01garbage\n", refused=True),
        ),
        f(
            "short row appended, then resume",
            lambda tmp: _torn_then_resume(tmp, "0,2,1\n", refused=True),
        ),
        f(
            "conflicting row appended, then resume",
            lambda tmp: _torn_then_resume(
                tmp, lambda out: _rows(out)[0].replace(",0.", ",0.1", 1) + "\n", refused=True
            ),
        ),
        f(
            "identical row repeated, then resume",
            lambda tmp: _torn_then_resume(tmp, lambda out: _rows(out)[0] + "\n"),
        ),
        f("rerun with another configuration", _changed_meta),
    ]


def all_cases():
    return netlist_cases() + api_cases() + file_cases() + cli_cases() + sweep_cases()
