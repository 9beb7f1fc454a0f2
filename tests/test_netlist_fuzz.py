"""Robustness: mangled netlists give a NetlistError or a circuit, never another exception."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xbar.errors import NetlistError
from xbar.spice.expr import evaluate_constant
from xbar.spice.netlist import read_netlist

BASE = """fuzz base
.param a=1k b={2*a}
.subckt cell p q params: g=1m
R1 p m {1/g}
B1 m q I=1e-4*sinh(2*V(m,q))
.ends
.model dm D(IS=1e-14 N=1.5)
V1 in 0 DC 1
R1 in mid {b}
+ ; continued
X1 mid 0 cell g=2m
D1 mid 0 dm area=2
G1 mid 0 in 0 1m
E1 e 0 in 0 2
Re e 0 1k
.options reltol=1e-6
.dc V1 0 1 0.5
.op
.end
"""

ALPHABET = "RVIBXDGE.{}()'=,+-*/^ \n\t0123456789kmeguapf;$*abcxyz"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(BASE) - 1), st.integers(0, 6), st.text(ALPHABET, max_size=6))
def test_mutated_netlists_fail_cleanly(pos, cut, insert):
    text = BASE[:pos] + insert + BASE[pos + cut :]
    try:
        read_netlist(text)
    except NetlistError as err:
        assert str(err)
        if err.location is not None:
            assert err.location.line >= 1 and err.location.column >= 1


@settings(max_examples=300, deadline=None)
@given(st.text("0123456789.e+-*/^()kmuV,abpi ?:<>=!&|", max_size=14))
def test_random_expressions_fail_cleanly(text):
    try:
        evaluate_constant(text, {"a": 2.0, "b": 3.0})
    except NetlistError:
        pass


@pytest.mark.parametrize("garbage", ["\x01\x02", "\ufeff", "é", "R1 é 0 1", "\\"])
def test_odd_characters(garbage):
    try:
        read_netlist("t\n" + garbage + "\nV1 a 0 1\n")
    except NetlistError:
        pass
