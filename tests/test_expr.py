"""The expression language: grammar, semantics, exact derivatives, errors."""

import math

import numpy as np
import pytest

from xbar.errors import Location, NetlistError, ShapeError
from xbar.spice.expr import FUNCTIONS, evaluate_constant, parse_expression

# ---------------------------------------------------------------- constants

CONSTANTS = [
    ("1+2*3", 7.0),
    ("(1+2)*3", 9.0),
    ("10/4/5", 0.5),
    ("2-3-4", -5.0),
    ("-2^2", -4.0),  # power binds tighter than unary minus (ngspice)
    ("2^3^2", 64.0),  # left-associative in ngspice
    ("2**3**2", 64.0),
    ("2^-1", 0.5),
    ("2*-3", -6.0),
    ("-(2)", -2.0),
    ("+3", 3.0),
    ("--3", 3.0),
    ("(-2)^3", 8.0),  # |x|^y as ngspice's default mode
    ("1k*2", 2000.0),
    ("1e3k", 1e6),
    ("2.5meg/1k", 2500.0),
    ("pi", math.pi),
    ("e", math.e),
    ("1?5:6", 5.0),
    ("0?5:6", 6.0),
    ("1 ? 0 ? 7 : 8 : 9", 8.0),
    ("3>2", 1.0),
    ("3<2", 0.0),
    ("2<=2 && 3>=4", 0.0),
    ("2==2 || 0", 1.0),
    ("2!=2", 0.0),
    ("!0", 1.0),
    ("min(1,2)+max(3,4)", 5.0),
    ("log(100)", math.log(100)),
    ("ln(100)", math.log(100)),
    ("log10(100)", 2.0),
    ("sqrt(16)", 4.0),
    ("abs(-3)", 3.0),
    ("exp(1)", math.e),
    ("sinh(1)+cosh(1)+tanh(1)", math.sinh(1) + math.cosh(1) + math.tanh(1)),
    ("atan(1)", math.pi / 4),
    ("pow(2,10)", 1024.0),
    ("pwr(2,3)", 8.0),
    ("floor(2.5)+ceil(2.5)", 5.0),
    ("nint(2.5)", 2.0),
    ("u(1)+u(-1)+u(0)", 1.5),
    ("uramp(-2)+uramp(3)", 3.0),
    ("sgn(-4)", -1.0),
    ("SINH(1)", math.sinh(1)),  # case-insensitive
]


@pytest.mark.parametrize("text,value", CONSTANTS)
def test_constants(text, value):
    assert evaluate_constant(text, {}) == pytest.approx(value, rel=1e-14)


def test_parameters_case_insensitive_and_shadow_constants():
    params = {"rbase": 1e3, "e": 5.0}
    assert evaluate_constant("2*RBase + 1", params) == 2001.0
    assert evaluate_constant("e", params) == 5.0  # a parameter wins over the constant


# ---------------------------------------------------------------- derivatives

EXPRS = [
    "1e-4*sinh(2*V(a,b))",
    "V(a)*V(b) - V(a)/V(b) + 3",
    "exp(V(a)) * cosh(V(b)) / (1 + V(a)^2)",
    "V(a)^3 + V(b)**2.5 + pow(V(a), 1.5) - pwr(V(b), 3)",
    "sqrt(V(a)^2 + 1) + log(V(b)^2 + 1) + ln(2+V(a)) + log10(3+V(b))",
    "tanh(V(a)) * atan(V(b)) + asinh(V(a)*V(b)) + sin(V(a)) - cos(V(b)) + tan(V(a)/4)",
    "abs(V(a)) + max(V(a), V(b)) + min(2*V(a), V(b)) + uramp(V(a)-0.1)",
    "V(a) > 0 ? V(a)^2 : -V(b)",
    "V(a,b) * V(b,a)",
    "-V(a) + 2^V(b)",
    "V(a)^V(b)",
    "acos(V(a)/3) + asin(V(b)/3) + atanh(V(a)/3) + acosh(2 + V(b)^2)",
]


def _points(rng, n=200):
    a = rng.uniform(-1.3, 1.3, n)
    b = rng.uniform(-1.3, 1.3, n)
    # keep away from kinks and poles for the finite differences
    ok = (
        (np.abs(a) > 0.05)
        & (np.abs(b) > 0.05)
        & (np.abs(a - b) > 0.05)
        & (np.abs(2 * a - b) > 0.05)
        & (np.abs(a - 0.1) > 0.05)
    )
    return a[ok], b[ok]


@pytest.mark.parametrize("text", EXPRS)
def test_derivatives_match_finite_differences(text):
    rng = np.random.default_rng(1)
    a, b = _points(rng)
    e = parse_expression(text, {})
    # controls in order of appearance; build their voltages from node values a, b
    volt = {"a": a, "b": b, "0": 0.0 * a}

    def controls(va, vb):
        vv = {"a": va, "b": vb, "0": 0.0 * va}
        return [vv[p] - vv[q] for p, q in e.controls]

    val, ds = e.evaluate(controls(a, b))
    assert val.shape == a.shape and all(d.shape == a.shape for d in ds)
    # d/d node a via chain rule over controls, compared with central differences
    h = 1e-6
    for node in ("a", "b"):
        plus = dict(volt)
        minus = dict(volt)
        plus[node] = volt[node] + h
        minus[node] = volt[node] - h
        fd = (
            e.evaluate(controls(plus["a"], plus["b"]))[0]
            - e.evaluate(controls(minus["a"], minus["b"]))[0]
        ) / (2 * h)
        ad = sum(d * ((p == node) - (q == node)) for d, (p, q) in zip(ds, e.controls, strict=True))
        np.testing.assert_allclose(ad, fd, rtol=1e-6, atol=1e-7, err_msg=text)


def test_sinh_derivative_hand_form():
    e = parse_expression("1e-4*sinh(2*V(r1,c1))", {})
    v = np.linspace(-2, 2, 41)
    val, (d,) = e.evaluate([v])
    np.testing.assert_allclose(val, 1e-4 * np.sinh(2 * v), rtol=1e-15)
    np.testing.assert_allclose(d, 2e-4 * np.cosh(2 * v), rtol=1e-15)


def test_power_semantics_negative_base():
    # ngspice default mode: x^y = |x|^y, pwr keeps the sign
    e = parse_expression("V(a)^3 + 10*pwr(V(a), 2)", {})
    val, (d,) = e.evaluate([np.array([-2.0, 2.0])])
    np.testing.assert_allclose(val, [8 - 40, 8 + 40])
    np.testing.assert_allclose(d, [-12 + 40, 12 + 40])


def test_repeated_control_is_one_control_and_v_of_ground():
    e = parse_expression("V(a,b)*V(a,b) + V(c) + V(c,0)", {})
    assert e.n_controls == 2
    assert e.controls == (("a", "b"), ("c", "0"))
    val, (d0, d1) = e.evaluate([np.array([3.0]), np.array([1.0])])
    assert val[0] == 11.0 and d0[0] == 6.0 and d1[0] == 2.0


def test_canonical_groups_node_independent_expressions():
    a = parse_expression("1e-4*sinh(2*V(r1,c1))", {})
    b = parse_expression("1e-4 * SINH(2 * V(r2, c7))", {})
    c = parse_expression("1e-4*sinh(3*V(r1,c1))", {})
    d = parse_expression("k*sinh(2*V(x,y))", {"k": 1e-4})
    assert a.canonical == b.canonical == d.canonical
    assert a.canonical != c.canonical
    two = parse_expression("V(a,b)*V(c,d)", {})
    one = parse_expression("V(a,b)*V(a,b)", {})
    assert two.n_controls == 2 and one.n_controls == 1
    assert two.canonical != one.canonical


def test_constant_expression_and_shapes():
    e = parse_expression("2*3", {})
    val, ds = e.evaluate([])
    assert float(val) == 6.0 and ds == []
    e = parse_expression("5 + 0*V(a)", {})
    val, (d,) = e.evaluate([np.zeros((2, 3))])
    assert val.shape == (2, 3) and np.all(val == 5.0) and np.all(d == 0.0)
    e = parse_expression("V(a) * 2 + V(b)", {})
    val, (da, db) = e.evaluate([np.ones(4), np.ones(4)])
    assert np.all(da == 2.0) and np.all(db == 1.0)
    with pytest.raises(ShapeError):
        e.evaluate([np.ones(4)])


def test_node_names_with_digits_dots_and_hashes():
    e = parse_expression("V(1, x1.m) + V(n#3)", {})
    assert e.controls == (("1", "x1.m"), ("n#3", "0"))


def test_all_functions_are_callable():
    for name, nargs in FUNCTIONS.items():
        args = ",".join(["1.5" if name == "acosh" else "0.5"] * nargs)
        if name in ("pwl", "xspice_pwl"):  # x, then points with ascending x
            args = "0.5,0,0,1,2"
        assert math.isfinite(evaluate_constant(f"{name}({args})", {}))


# ---------------------------------------------------------------- errors

ERRORS = [
    ("(1+2", 0, "unbalanced parentheses"),
    ("1+2)", 3, "unbalanced parentheses"),
    ("sinh(1", 4, "unbalanced parentheses"),
    ("2*(3+", 2, "unbalanced parentheses"),
    ("max(1, (2", 7, "unbalanced parentheses"),
    ("2*foo(1)", 2, "unknown function 'foo'"),
    ("sinh(1,2)", 0, "takes 1 argument"),
    ("max(1)", 0, "takes 2 arguments"),
    ("3 + x", 4, "unknown parameter 'x'"),
    ("1 2", 2, "after a complete expression"),
    ("", 0, "empty expression"),
    ("1 +* 2", 3, "expected an operand"),
    ("2 + 4k7", 4, "4k7"),
    ("V(a) + 1", 0, "not allowed in a constant"),
    ("I(v1)", 0, "branch currents"),
    ("1/0", 0, "evaluates to inf"),
    ("sqrt(-1)", 0, "evaluates to nan"),
    ("pow(-2, 3)", 0, "negative base"),
    ("2 @ 3", 2, "unexpected character"),
    ("1 ? 2", 5, "':'"),
    ("sinh", 0, "needs arguments"),
]


@pytest.mark.parametrize("text,offset,phrase", ERRORS)
def test_constant_errors_carry_column(text, offset, phrase):
    loc = Location("f.cir", 7, 11, "R1 a b {" + text + "}")
    with pytest.raises(NetlistError) as info:
        evaluate_constant(text, {}, location=loc)
    err = info.value
    assert phrase in err.message
    assert err.location.line == 7 and err.location.column == 11 + offset


def test_expression_errors():
    with pytest.raises(NetlistError, match="malformed control voltage"):
        parse_expression("V(a,b,c)", {})
    with pytest.raises(NetlistError, match="never closed"):
        parse_expression("V(a", {})
    with pytest.raises(NetlistError, match="unknown parameter 'g0'"):
        parse_expression("g0*V(a)", {})
    # without a location the message quotes the expression and the offset
    with pytest.raises(NetlistError, match="offset 4"):
        parse_expression("1 + foo(V(a))", {})
