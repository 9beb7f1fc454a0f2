"""A small, safe expression language for ``.param``, ``{expr}`` values and B sources.

The grammar follows ngspice's behavioural-source expressions (never Python's
``eval``).  From lowest to highest precedence:

==========================  ==================================================
``c ? a : b``               conditional (right-associative)
``||``, ``&&``              logical or / and (result 1 or 0)
``== != < > <= >=``         comparisons (result 1 or 0)
``+ -``                     sum, difference
``* /``                     product, quotient
unary ``-`` ``+`` ``!``     negation, logical not
``^`` and ``**``            power, *left*-associative as in ngspice
                            (``2^3^2 == 64``), binding tighter than unary
                            minus (``-2^2 == -4``), ``2^-1 == 0.5``
==========================  ==================================================

Operands: numbers with SPICE scale factors (``1k``, ``2.5meg``,
see :mod:`xbar.spice.units`), parameters (by name, case-insensitive), the
constants ``pi`` and ``e`` (a parameter of the same name wins), control
voltages ``V(a,b)`` (``V(a) - V(b)``) and ``V(a)`` (against ground), and the
functions

``abs acos acosh arctan asin asinh atan atanh ceil cos cosh ddt eq0 exp floor ge0
gt0 int le0 ln log log10 lt0 max min ne0 nint pow pwl pwr sgn sin sinh sqr sqrt tan tanh
ternary_fcn u u2 uramp`` (``ddt`` is 0 in DC; ``pwl(x, x0, y0, x1, y1, ...)`` is linear
between ascending points and continues with the end slopes), and ngspice's Monte Carlo
functions ``agauss gauss aunif unif limit`` as their nominal value (first argument).
``%`` is C's ``fmod`` (constant expressions only, as in ngspice); braces inside a
B-source expression group (the caller checks that ngspice, which deletes them, reads the
same).

``log`` is the natural logarithm (as in ngspice); ``int`` truncates towards zero;
``ternary_fcn(c, a, b)`` is ``c ? a : b``; ``u`` is the unit step and
``uramp`` the ramp ``max(x, 0)``.  Powers follow ngspice's default
(non-compatibility) mode: ``x^y``, ``x**y`` and ``pow(x, y)`` are
``|x|**y``; ``pwr(x, y)`` is ``sign(x) * |x|**y``.  In a *constant*
expression (``.param``, ``{...}``) a negative base of ``pow``/``pwr`` is an
error because ngspice's parameter evaluator gives it a different meaning
than its B sources do.

An :class:`Expression` is compiled once into a tree of closures that work on
whole numpy arrays, and evaluates its value and its exact partial
derivatives with respect to every control voltage (forward-mode automatic
differentiation).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import Location, NetlistError
from .units import try_parse_value

__all__ = ["Expression", "parse_expression", "evaluate_constant", "FUNCTIONS"]


class ExprSyntaxError(Exception):
    """Internal: a syntax error at a character offset of the expression text."""

    def __init__(self, message: str, offset: int, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


# --------------------------------------------------------------------------- tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eEdD][+-]?\d+)?[A-Za-z]*\d*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op>\*\*|==|!=|<=|>=|&&|\|\||[-+*/%^(),?:<>!{}])
    """,
    re.VERBOSE | re.ASCII,
)

# function name -> number of arguments
FUNCTIONS: dict[str, int] = {
    "abs": 1,
    "acos": 1,
    "acosh": 1,
    "asin": 1,
    "asinh": 1,
    "atan": 1,
    "atanh": 1,
    "ceil": 1,
    "cos": 1,
    "cosh": 1,
    "exp": 1,
    "floor": 1,
    "int": 1,
    "ln": 1,
    "log": 1,
    "log10": 1,
    "nint": 1,
    "sgn": 1,
    "sin": 1,
    "sinh": 1,
    "sqrt": 1,
    "tan": 1,
    "tanh": 1,
    "u": 1,
    "uramp": 1,
    "max": 2,
    "min": 2,
    "pow": 2,
    "pwr": 2,
    "ternary_fcn": 3,
    # ngspice's B-source step and comparison functions (inpptree.c), DC-only ddt
    "u2": 1,
    "eq0": 1,
    "ne0": 1,
    "gt0": 1,
    "lt0": 1,
    "ge0": 1,
    "le0": 1,
    "ddt": 1,
    # ngspice's .param functions (numparam)
    "sqr": 1,
    "arctan": 1,
    # pwl(x, x0, y0, x1, y1, ...): at least two points (see VARIADIC)
    "pwl": 5,
    # the XSPICE pwl code model ngspice makes of E/G TABLE sources (see _xspice_pwl)
    "xspice_pwl": 5,
    # Monte Carlo functions: their nominal value (see RANDOM_FUNCTIONS)
    "agauss": 3,
    "gauss": 3,
    "aunif": 2,
    "unif": 2,
    "limit": 2,
}
#: numparam's functions that ngspice's B-source (and E/G VALUE) expressions do not know
PARAM_ONLY_FUNCTIONS = ("sqr", "arctan")
#: functions that take any number of arguments from their FUNCTIONS count on
VARIADIC = {"pwl", "xspice_pwl"}
#: ngspice draws these at random each run (its Monte Carlo functions, nominal value first);
#: xbar evaluates the nominal value and the netlist reader says so in a note
RANDOM_FUNCTIONS = ("agauss", "gauss", "aunif", "unif", "limit")

_CONSTANTS = {"pi": math.pi, "e": math.e}


_CTL_OPEN = re.compile(r"\s*\(")


def _tokenize(text: str) -> list[tuple]:
    """Split ``text`` into (kind, text, offset, extra) tokens; kind: num name op ctl end.

    ``V(...)`` is one ``ctl`` token whose text is the raw content between the
    parentheses (node names may be numbers or contain any character but
    parentheses and commas); its fourth field is the offset of the ``(``.
    """
    out: list[tuple] = []
    pos = 0
    n = len(text)
    match = _TOKEN.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            ch = text[pos]
            if ch in "'\"":
                raise ExprSyntaxError(f"unexpected {ch!r} inside an expression", pos)
            raise ExprSyntaxError(f"unexpected character {ch!r} in expression", pos)
        kind = m.lastgroup
        if kind == "name" and m.group() in ("v", "V"):
            p = _CTL_OPEN.match(text, m.end())
            if p is not None:
                lpar = p.end() - 1
                close = text.find(")", lpar + 1)
                if close < 0:
                    raise ExprSyntaxError(
                        "unbalanced parentheses: 'V(' is never closed",
                        lpar,
                        "expected V(node) or V(node1,node2)",
                    )
                out.append(("ctl", text[lpar + 1 : close], pos, lpar))
                pos = close + 1
                continue
        if kind != "ws":
            out.append((kind, m.group(), pos, pos))
        pos = m.end()
    out.append(("end", "", n, n))
    return out


# --------------------------------------------------------------------------- AST

# AST nodes are tuples:
#   ("const", value)            ("ctl", k)
#   ("neg", a)  ("not", a)      ("bin", op, a, b)
#   ("call", name, args)        ("cond", c, a, b)


class _Parser:
    def __init__(self, text: str, params: dict[str, float], allow_controls: bool):
        self.text = text
        self.params = params
        self.allow_controls = allow_controls
        self.toks = _tokenize(text)
        self.i = 0
        self.controls: list[tuple[str, str]] = []
        self.control_index: dict[tuple[str, str], int] = {}
        self.open: list[int] = []  # offsets of '(' not yet closed
        self.random: list[str] = []  # Monte Carlo functions met (nominal values used)

    # helpers
    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i][:3]

    def next(self) -> tuple:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, op: str, what: str, open_at: int | None = None) -> None:
        kind, text, off = self.peek()
        if kind == "op" and text == op:
            self.i += 1
            return
        if op == ")" and open_at is not None:
            if kind == "end":
                raise ExprSyntaxError(
                    "unbalanced parentheses: '(' is never closed",
                    open_at,
                    "every '(' needs a matching ')'",
                )
        found = "end of expression" if kind == "end" else repr(text)
        raise ExprSyntaxError(f"expected {what}, found {found}", off)

    def parse(self):
        if self.peek()[0] == "end":
            raise ExprSyntaxError("empty expression", 0)
        node = self.ternary()
        kind, text, off = self.peek()
        if kind != "end":
            if text == ")":
                raise ExprSyntaxError("unbalanced parentheses: unexpected ')'", off)
            raise ExprSyntaxError(
                f"unexpected {text!r} after a complete expression", off, "missing operator?"
            )
        return node

    def ternary(self):
        cond = self.logic_or()
        kind, text, off = self.peek()
        if kind == "op" and text == "?":
            self.i += 1
            a = self.ternary()
            self.expect(":", "':' of a conditional 'c ? a : b'")
            b = self.ternary()
            return _fold(("cond", cond, a, b))
        return cond

    def logic_or(self):
        a = self.logic_and()
        while self.peek()[1] == "||" and self.peek()[0] == "op":
            self.i += 1
            a = _fold(("bin", "||", a, self.logic_and()))
        return a

    def logic_and(self):
        a = self.compare()
        while self.peek()[1] == "&&" and self.peek()[0] == "op":
            self.i += 1
            a = _fold(("bin", "&&", a, self.compare()))
        return a

    def compare(self):
        a = self.additive()
        while True:
            kind, text, _ = self.peek()
            if kind == "op" and text in ("==", "!=", "<", ">", "<=", ">="):
                self.i += 1
                a = _fold(("bin", text, a, self.additive()))
            else:
                return a

    def additive(self):
        a = self.multiplicative()
        while True:
            kind, text, _ = self.peek()
            if kind == "op" and text in ("+", "-"):
                self.i += 1
                a = _fold(("bin", text, a, self.multiplicative()))
            else:
                return a

    def multiplicative(self):
        a = self.unary()
        while True:
            kind, text, _ = self.peek()
            if kind == "op" and text in ("*", "/", "%"):
                if text == "%" and self.allow_controls:
                    raise ExprSyntaxError(
                        "the remainder operator % works in .param expressions only "
                        "(ngspice's B sources refuse it too)",
                        self.peek()[2],
                        "compute it in a .param, or write x - y*int(x/y)",
                    )
                self.i += 1
                a = _fold(("bin", text, a, self.unary()))
            else:
                return a

    def unary(self):
        kind, text, _ = self.peek()
        if kind == "op" and text in ("-", "+", "!"):
            self.i += 1
            a = self.unary()
            if text == "+":
                return a
            return _fold(("neg" if text == "-" else "not", a))
        return self.power()

    def power(self):
        a = self.primary()
        while True:
            kind, text, _ = self.peek()
            if kind == "op" and text in ("^", "**"):
                self.i += 1
                a = _fold(("bin", "^", a, self.power_operand()))
            else:
                return a

    def power_operand(self):
        kind, text, _ = self.peek()
        if kind == "op" and text in ("-", "+"):
            self.i += 1
            a = self.power_operand()
            return a if text == "+" else _fold(("neg", a))
        return self.primary()

    def primary(self):
        tok = self.next()
        kind, text, off = tok[0], tok[1], tok[2]
        if kind == "ctl":
            return self.control(text, off, tok[3])
        if kind == "num":  # (numparam, the .param evaluator, reads "mil" as "m")
            value, reason = try_parse_value(text, numparam=not self.allow_controls)
            if value is None:
                raise ExprSyntaxError(f"invalid number: {reason}", off)
            return ("const", value)
        if kind == "op" and text in "({":
            self.open.append(off)
            node = self.ternary()
            close = ")" if text == "(" else "}"
            self.expect(close, f"'{close}'", open_at=off)
            self.open.pop()
            return node
        if kind == "name":
            name = text.lower()
            nxt = self.peek()
            if nxt[0] == "op" and nxt[1] == "(":
                if name == "i":
                    raise ExprSyntaxError(
                        "branch currents I(...) are not supported in expressions",
                        off,
                        "use a control voltage V(a,b), e.g. across a sense resistor",
                    )
                return self.call(name, off)
            if name in self.params:
                return ("const", float(self.params[name]))
            if name in _CONSTANTS:
                return ("const", _CONSTANTS[name])
            if name in FUNCTIONS:
                raise ExprSyntaxError(
                    f"function {name!r} needs arguments in parentheses", off, f"write {name}(...)"
                )
            raise ExprSyntaxError(
                f"unknown parameter {text!r}", off, "define it with .param " + name + "=<value>"
            )
        if kind == "end":
            if self.open:
                raise ExprSyntaxError(
                    "unbalanced parentheses: '(' is never closed",
                    self.open[-1],
                    "every '(' needs a matching ')'",
                )
            raise ExprSyntaxError("expression ends where an operand was expected", off)
        if text == ")":
            raise ExprSyntaxError("unbalanced parentheses: unexpected ')'", off)
        raise ExprSyntaxError(f"expected an operand, found {text!r}", off)

    def call(self, name: str, off: int):
        if name not in FUNCTIONS:
            raise ExprSyntaxError(
                f"unknown function {name!r}",
                off,
                "known functions: " + " ".join(sorted(FUNCTIONS)),
            )
        if name in PARAM_ONLY_FUNCTIONS and self.allow_controls:
            raise ExprSyntaxError(
                f"{name}() works in .param expressions only (ngspice-39's B sources: "
                f"'no such function {name}')",
                off,
                "compute it in a .param, or write x*x (sqr) or atan (arctan)",
            )
        open_off = self.next()[2]  # '('
        self.open.append(open_off)
        args = []
        if not (self.peek()[0] == "op" and self.peek()[1] == ")"):
            args.append(self.ternary())
            while self.peek()[0] == "op" and self.peek()[1] == ",":
                self.i += 1
                args.append(self.ternary())
        self.expect(")", "',' or ')' in the argument list", open_at=open_off)
        self.open.pop()
        self.check_arguments(name, args, off)
        if (
            not self.allow_controls
            and name in ("pow", "pwr")
            and _is_const(args[0])
            and args[0][1] < 0
        ):
            raise ExprSyntaxError(
                f"{name}() of a negative base is ambiguous in a parameter expression "
                "(ngspice's .param and B-source evaluators disagree)",
                off,
                "use abs() or write the sign explicitly",
            )
        if name == "ternary_fcn":  # ngspice's function form of c ? a : b
            return _fold(("cond", *args))
        if name in RANDOM_FUNCTIONS:  # the nominal value (first argument)
            self.random.append(name)
            return args[0]
        if name == "ddt":  # d/dt of anything is 0 in a DC solution
            return ("const", 0.0)
        if name in ("pwl", "xspice_pwl"):
            _check_pwl(args, off)
        return _fold(("call", name, tuple(args)))

    def check_arguments(self, name: str, args: list, off: int) -> None:
        """Raise ExprSyntaxError when ``name`` cannot take ``args``."""
        want = FUNCTIONS[name]
        if name == "limit" and len(args) == 3:
            raise ExprSyntaxError(
                "limit(x, lo, hi) is LTspice's clamp; ngspice-39's limit(nom, avar) is a "
                "Monte Carlo function (nom + or - avar, chosen at random), and with three "
                "arguments it gives neither",
                off,
                "write min(max(x, lo), hi) for a clamp",
            )
        if name in VARIADIC:
            if len(args) < want or len(args) % 2 == 0:
                raise ExprSyntaxError(
                    f"function {name!r} takes x and two or more (x, y) points, got "
                    f"{len(args)} argument{'s' if len(args) != 1 else ''}",
                    off,
                    "write pwl(x, x0, y0, x1, y1, ...)",
                )
            return
        if name in ("agauss", "gauss") and len(args) == 2:
            return  # sigma defaults (the nominal value is all xbar uses)
        if len(args) != want:
            raise ExprSyntaxError(
                f"function {name!r} takes {want} argument{'s' if want > 1 else ''}, "
                f"got {len(args)}",
                off,
            )

    def control(self, inner: str, off: int, lpar: int):
        if "(" in inner:
            raise ExprSyntaxError("unexpected '(' inside V(...)", lpar + 1 + inner.index("("))
        parts = [p.strip().lower() for p in inner.split(",")]
        if len(parts) > 2 or any(not p or " " in p or "\t" in p for p in parts):
            raise ExprSyntaxError(
                f"malformed control voltage V({inner})",
                off,
                "expected V(node) or V(node1,node2)",
            )
        if not self.allow_controls:
            raise ExprSyntaxError(
                "node voltages V(...) are not allowed in a constant expression",
                off,
                "V(...) may only appear in a B source's I= expression",
            )
        a = parts[0]
        b = parts[1] if len(parts) == 2 else "0"
        key = (a, b)
        k = self.control_index.get(key)
        if k is None:
            k = len(self.controls)
            self.control_index[key] = k
            self.controls.append(key)
        return ("ctl", k)


# --------------------------------------------------------------------------- math


def _powabs(a, b):
    return np.power(np.abs(a), b)


def _pwr(a, b):
    return np.sign(a) * np.power(np.abs(a), b)


def _step(a):
    return np.where(a > 0, 1.0, np.where(a < 0, 0.0, 0.5))


# value functions (numpy, work on floats and arrays)
_F1: dict[str, Callable] = {
    "abs": np.abs,
    "acos": np.arccos,
    "acosh": np.arccosh,
    "asin": np.arcsin,
    "asinh": np.arcsinh,
    "atan": np.arctan,
    "atanh": np.arctanh,
    "ceil": np.ceil,
    "cos": np.cos,
    "cosh": np.cosh,
    "exp": np.exp,
    "floor": np.floor,
    "int": np.trunc,
    "ln": np.log,
    "log": np.log,
    "log10": np.log10,
    "nint": np.rint,
    "sgn": np.sign,
    "sin": np.sin,
    "sinh": np.sinh,
    "sqrt": np.sqrt,
    "tan": np.tan,
    "tanh": np.tanh,
    "u": lambda a: _step(a),
    "uramp": lambda a: np.maximum(a, 0.0),
    "u2": lambda a: np.clip(a, 0.0, 1.0),
    "eq0": lambda a: np.where(a == 0, 1.0, 0.0),
    "ne0": lambda a: np.where(a != 0, 1.0, 0.0),
    "gt0": lambda a: np.where(a > 0, 1.0, 0.0),
    "lt0": lambda a: np.where(a < 0, 1.0, 0.0),
    "ge0": lambda a: np.where(a >= 0, 1.0, 0.0),
    "le0": lambda a: np.where(a <= 0, 1.0, 0.0),
    "sqr": lambda a: a * a,
    "arctan": np.arctan,
}
_F2: dict[str, Callable] = {
    "max": np.maximum,
    "min": np.minimum,
    "pow": _powabs,
    "pwr": _pwr,
}


def _pwl(x, *points):
    """ngspice's ``pwl(x, x0, y0, x1, y1, ...)`` in a B source: linear between the points,
    continued with the end segments' slopes beyond them; returns (value, slope)."""
    xs, ys = points[0::2], points[1::2]
    val = slope = None
    for k in range(len(xs) - 2, -1, -1):
        s_k = (ys[k + 1] - ys[k]) / (xs[k + 1] - xs[k])
        v_k = ys[k] + (x - xs[k]) * s_k
        if val is None:
            val, slope = v_k, s_k
        else:
            use = x < xs[k + 1]
            val, slope = np.where(use, v_k, val), np.where(use, s_k, slope)
    return val, slope


#: XSPICE pwl's smoothing half-width, a fraction of the shorter neighbouring segment
#: (ngspice's TABLE translation: input_domain=0.1 fraction=true limit=true)
XSPICE_PWL_DOMAIN = 0.1


def _xspice_pwl(x, *points):
    """ngspice's E/G ``TABLE``: the XSPICE ``pwl`` code model (``limit=true``, corners
    rounded by parabolas over +-0.1 of the shorter neighbouring segment, flat beyond the
    table with a rounded corner at its ends); returns (value, slope)."""
    xs = [2.0 * points[0] - points[2], *points[0::2], 2.0 * points[-2] - points[-4]]
    ys = [points[1], *points[1::2], points[-1]]
    x = np.asarray(x, dtype=float)
    val = np.zeros(np.broadcast_shapes(x.shape, np.shape(ys[0]))) + ys[0]
    slope = np.zeros_like(val)
    for i in range(1, len(xs) - 1):
        lo_seg, up_seg = xs[i] - xs[i - 1], xs[i + 1] - xs[i]
        s1, s2 = (ys[i] - ys[i - 1]) / lo_seg, (ys[i + 1] - ys[i]) / up_seg
        d = XSPICE_PWL_DOMAIN * np.minimum(lo_seg, up_seg)
        t = x - xs[i] + d  # 0 .. 2d across the rounded corner
        corner_v = ys[i] - s1 * d + s1 * t + (s2 - s1) * t * t / (4.0 * d)
        corner_s = s1 + (s2 - s1) * t / (2.0 * d)
        line = ys[i] + (x - xs[i]) * np.where(t < 0, s1, s2)
        v_i = np.where((t >= 0) & (t < 2 * d), corner_v, line)
        s_i = np.where(t < 0, s1, np.where(t < 2 * d, corner_s, s2))
        here = x > 0.5 * (xs[i - 1] + xs[i])
        val, slope = np.where(here, v_i, val), np.where(here, s_i, slope)
    return val, slope


_FN: dict[str, Callable] = {
    **_F1,
    **_F2,
    "pwl": lambda *a: _pwl(*a)[0],
    "xspice_pwl": lambda *a: _xspice_pwl(*a)[0],
}
_BIN: dict[str, Callable] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": np.fmod,  # numparam's remainder: the sign of the dividend, as C's fmod
    "^": _powabs,
    "==": lambda a, b: np.asarray(a == b, dtype=float),
    "!=": lambda a, b: np.asarray(a != b, dtype=float),
    "<": lambda a, b: np.asarray(a < b, dtype=float),
    ">": lambda a, b: np.asarray(a > b, dtype=float),
    "<=": lambda a, b: np.asarray(a <= b, dtype=float),
    ">=": lambda a, b: np.asarray(a >= b, dtype=float),
    "&&": lambda a, b: np.asarray((a != 0) & (b != 0), dtype=float),
    "||": lambda a, b: np.asarray((a != 0) | (b != 0), dtype=float),
}


#: ngspice's PTdivide adds ``gmin * 1e-20`` (1e-32 at the default GMIN) to a divisor with
#: its sign, so ``v(a,b)/v(x)`` is 0, not NaN, where both are 0 (a memristor's ``R={V(x)}``
#: at Newton's zero start)
DIVIDE_FUDGE = 1e-32
#: ngspice's guard in the divisions of derivative trees (ptfuncs.c, PTdivide): the slope of
#: sqrt at 0 is 0.5 / 1e-20 there, not infinite, so Newton can start from 0 V
SQRT_SLOPE_GUARD = 1e-20


# derivative of one-argument functions: f'(a) given a and f(a)
def _d1(name: str, a, fa):
    if name == "abs":
        return np.sign(a)
    if name == "acos":
        return -1.0 / np.sqrt(1.0 - a * a)
    if name == "acosh":
        return 1.0 / np.sqrt(a * a - 1.0)
    if name == "asin":
        return 1.0 / np.sqrt(1.0 - a * a)
    if name == "asinh":
        return 1.0 / np.sqrt(a * a + 1.0)
    if name == "atan":
        return 1.0 / (1.0 + a * a)
    if name == "atanh":
        return 1.0 / (1.0 - a * a)
    if name == "cos":
        return -np.sin(a)
    if name == "cosh":
        return np.sinh(a)
    if name == "exp":
        return fa
    if name in ("ln", "log"):
        return 1.0 / a
    if name == "log10":
        return 1.0 / (a * math.log(10.0))
    if name == "sin":
        return np.cos(a)
    if name == "sinh":
        return np.cosh(a)
    if name == "sqrt":  # ngspice divides by sqrt(a) + 1e-20 (PTdivide): finite at a = 0
        return 0.5 / (fa + SQRT_SLOPE_GUARD)
    if name == "tan":
        return 1.0 + fa * fa
    if name == "tanh":
        return 1.0 - fa * fa
    if name == "uramp":
        return np.where(a > 0, 1.0, 0.0)
    if name == "u2":  # ngspice: u(a) - u(a - 1)
        return np.where((a > 0) & (a < 1), 1.0, 0.0)
    if name == "sqr":
        return 2.0 * a
    if name == "arctan":
        return 1.0 / (1.0 + a * a)
    # ceil floor int nint sgn u: piecewise constant
    return None


# --------------------------------------------------------------------------- folding


def _is_const(node) -> bool:
    return node[0] == "const"


def _fold(node):
    """Constant-fold a node whose operands are all constants."""
    kind = node[0]
    if kind == "neg" and _is_const(node[1]):
        return ("const", -node[1][1])
    if kind == "not" and _is_const(node[1]):
        return ("const", 0.0 if node[1][1] != 0 else 1.0)
    if kind == "bin" and _is_const(node[2]) and _is_const(node[3]):
        with np.errstate(all="ignore"):
            return ("const", float(_BIN[node[1]](node[2][1], node[3][1])))
    if kind == "call" and all(_is_const(a) for a in node[2]):
        vals = [a[1] for a in node[2]]
        with np.errstate(all="ignore"):
            return ("const", float(_FN[node[1]](*vals)))
    if kind == "cond" and _is_const(node[1]):
        return node[2] if node[1][1] != 0 else node[3]
    return node


def _canonical(node) -> str:
    kind = node[0]
    if kind == "const":
        return repr(float(node[1]))
    if kind == "ctl":
        return f"V#{node[1]}"
    if kind == "neg":
        return f"(-{_canonical(node[1])})"
    if kind == "not":
        return f"(!{_canonical(node[1])})"
    if kind == "bin":
        return f"({_canonical(node[2])}{node[1]}{_canonical(node[3])})"
    if kind == "call":
        return f"{node[1]}(" + ",".join(_canonical(a) for a in node[2]) + ")"
    if kind == "cond":
        return f"({_canonical(node[1])}?{_canonical(node[2])}:{_canonical(node[3])})"
    raise AssertionError(kind)


# --------------------------------------------------------------------------- compile

# A compiled node is a function v -> (value, derivs) where derivs maps a control
# index to the partial derivative array (missing keys are zero).


def _add_d(da: dict, db: dict, sign: float = 1.0) -> dict:
    if not db:
        return da
    out = dict(da)
    for k, d in db.items():
        out[k] = out[k] + sign * d if k in out else (d if sign > 0 else -d)
    return out


def _scale_d(da: dict, s) -> dict:
    return {k: d * s for k, d in da.items()}


def compile_node(node):
    """Compile a parsed expression tree into a function of the control values.

    The returned function takes the control values (arrays, one per control of the
    expression) and returns ``(value, derivatives)``: the expression's value and a dict
    from control index to the exact derivative (forward mode), both broadcast like the
    controls.
    """
    kind = node[0]
    if kind == "const":
        c = node[1]
        return lambda v: (c, {})
    if kind == "ctl":
        k = node[1]
        return lambda v: (v[k], {k: 1.0})
    if kind == "neg":
        fa = compile_node(node[1])

        def neg(v):
            a, da = fa(v)
            return -a, {k: -d for k, d in da.items()}

        return neg
    if kind == "not":
        fa = compile_node(node[1])
        return lambda v: (np.asarray(fa(v)[0] == 0, dtype=float), {})
    if kind == "cond":
        fc, fa, fb = compile_node(node[1]), compile_node(node[2]), compile_node(node[3])

        def cond(v):
            c = fc(v)[0] != 0
            a, da = fa(v)
            b, db = fb(v)
            ds = {k: np.where(c, da.get(k, 0.0), db.get(k, 0.0)) for k in set(da) | set(db)}
            return np.where(c, a, b), ds

        return cond
    if kind == "bin":
        return _compile_bin(node[1], node[2], node[3])
    if kind == "call":
        name, args = node[1], node[2]
        if name in ("pwl", "xspice_pwl"):
            return _compile_pwl(args, _pwl if name == "pwl" else _xspice_pwl)
        if len(args) == 1:
            return _compile_f1(name, args[0])
        return _compile_f2(name, args[0], args[1])
    raise AssertionError(kind)


def _compile_bin(op: str, na, nb):
    fa, fb = compile_node(na), compile_node(nb)
    if op == "+":

        def add(v):
            a, da = fa(v)
            b, db = fb(v)
            return a + b, _add_d(da, db)

        return add
    if op == "-":

        def sub(v):
            a, da = fa(v)
            b, db = fb(v)
            return a - b, _add_d(da, db, -1.0)

        return sub
    if op == "*":
        if _is_const(na):
            c = na[1]

            def cmul(v):
                b, db = fb(v)
                return c * b, _scale_d(db, c)

            return cmul

        def mul(v):
            a, da = fa(v)
            b, db = fb(v)
            return a * b, _add_d(_scale_d(da, b), _scale_d(db, a))

        return mul
    if op == "/":

        def div(v):
            a, da = fa(v)
            b, db = fb(v)
            if not _is_const(nb):  # ngspice's PTdivide: b moved away from 0 by a fudge
                b = np.where(b >= 0, b + DIVIDE_FUDGE, b - DIVIDE_FUDGE)
            q = a / b
            out = _scale_d(da, 1.0 / b)
            if db:
                out = _add_d(out, _scale_d(db, q / b), -1.0)
            return q, out

        return div
    if op == "^":
        return _compile_pow(fa, fb, nb)
    f = _BIN[op]  # comparisons and logic: piecewise constant

    def logic(v):
        return f(fa(v)[0], fb(v)[0]), {}

    return logic


def _compile_pow(fa, fb, nb):
    """``a ^ b`` (SPICE: ``|a| ^ b``) with its derivatives; ``b`` constant or not."""
    if _is_const(nb):
        y = nb[1]

        def powc(v):
            a, da = fa(v)
            absa = np.abs(a)
            val = np.power(absa, y)
            if not da:
                return val, {}
            # d|a|^y/da = y |a|^(y-1) sign(a)
            g = y * np.power(absa, y - 1.0) * np.sign(a) if y != 0 else 0.0 * a
            return val, _scale_d(da, g)

        return powc

    def powg(v):
        a, da = fa(v)
        b, db = fb(v)
        absa = np.abs(a)
        val = np.power(absa, b)
        out = {}
        if da:
            out = _scale_d(da, b * np.power(absa, b - 1.0) * np.sign(a))
        if db:
            out = _add_d(out, _scale_d(db, val * np.log(absa)))
        return val, out

    return powg


def _compile_f1(name: str, na):
    fa = compile_node(na)
    f = _F1[name]

    def call1(v):
        a, da = fa(v)
        val = f(a)
        if not da:
            return val, {}
        g = _d1(name, a, val)
        if g is None:
            return val, {}
        return val, _scale_d(da, g)

    return call1


def _compile_pwl(args, table=_pwl):
    """``pwl(x, x0, y0, ...)``: its value and slope times dx (the points are constants)."""
    fx = compile_node(args[0])
    fpoints = [compile_node(a) for a in args[1:]]

    def pwl(v):
        x, dx = fx(v)
        val, slope = table(x, *(f(v)[0] for f in fpoints))
        return val, _scale_d(dx, slope) if dx else {}

    return pwl


def _check_pwl(args, off: int) -> None:
    """ngspice refuses pwl points whose abscissas do not ascend."""
    xs = [a[1] for a in args[1::2] if _is_const(a)]
    if len(xs) == len(args[1::2]) and any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
        raise ExprSyntaxError(
            "pwl(x, x0, y0, x1, y1, ...): the points' x values must ascend",
            off,
            "ngspice stops with the same error",
        )
    if len(xs) != len(args[1::2]) or not all(_is_const(a) for a in args[2::2]):
        raise ExprSyntaxError("pwl(x, ...): the points must be constants", off)


def _compile_f2(name: str, na, nb):
    fa, fb = compile_node(na), compile_node(nb)
    if name in ("min", "max"):
        pick_a = np.less_equal if name == "min" else np.greater_equal

        def minmax(v):
            a, da = fa(v)
            b, db = fb(v)
            sel = pick_a(a, b)
            val = np.where(sel, a, b)
            ds = {k: np.where(sel, da.get(k, 0.0), db.get(k, 0.0)) for k in set(da) | set(db)}
            return val, ds

        return minmax
    signed = name == "pwr"

    def power(v):
        a, da = fa(v)
        b, db = fb(v)
        absa = np.abs(a)
        mag = np.power(absa, b)
        s = np.sign(a)
        val = s * mag if signed else mag
        out = {}
        if da:
            # d/da |a|^b = b |a|^(b-1) sign(a); times sign(a) again for pwr -> even
            g = b * np.power(absa, b - 1.0)
            out = _scale_d(da, g if signed else g * s)
        if db:
            out = _add_d(out, _scale_d(db, val * np.log(absa)))
        return val, out

    return power


# --------------------------------------------------------------------------- public

_new_expression = object.__new__


class Expression:
    """A parsed, compiled expression of control voltages.

    Attributes
    ----------
    text : str
        The expression as written.
    canonical : str
        A structural key: equal for expressions that differ only in which
        nodes their ``V(...)`` controls refer to (parameters are already
        substituted), so that sources sharing it can be evaluated together.
    n_controls : int
        Number of distinct controls ``V(a,b)``, in order of first appearance.
    controls : tuple of (str, str)
        The node names of each control as written (lower case); ``V(a)`` is
        ``("a", "0")``.  The netlist reader maps them to node indices.
    """

    __slots__ = ("text", "canonical", "n_controls", "controls", "_fn", "_ast")

    def __init__(
        self,
        text: str,
        canonical: str,
        n_controls: int,
        controls: tuple[tuple[str, str], ...] = (),
        _fn: Callable | None = None,
        _ast: tuple | None = None,
    ):
        self.text = text
        self.canonical = canonical
        self.n_controls = n_controls
        self.controls = controls
        self._fn = _fn
        self._ast = _ast

    def __repr__(self) -> str:
        return f"Expression({self.text!r}, canonical={self.canonical!r})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return (self.canonical, self.controls) == (other.canonical, other.controls)

    def __hash__(self) -> int:
        return hash((self.canonical, self.controls))

    def evaluate(self, v: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Value and partial derivatives with respect to each control voltage.

        Parameters
        ----------
        v : sequence of arrays
            ``v[k]`` is the control voltage ``V(a) - V(b)`` of control ``k``
            [V]; all arrays of one common shape (or scalars).

        Returns
        -------
        value : ndarray
            The expression's value (ampere for a B source), same shape as
            ``v[k]`` (0-d when there are no controls).
        derivatives : list of ndarray
            ``derivatives[k]`` is d value / d v[k] [S], same shape.

        Examples
        --------
        >>> e = parse_expression("1e-3*sinh(2*V(a,b))", {})
        >>> val, (d,) = e.evaluate([np.array([0.0, 0.5])])
        >>> bool(np.allclose(d, 2e-3 * np.cosh([0.0, 1.0])))
        True
        """
        if len(v) != self.n_controls:
            from ..errors import ShapeError

            raise ShapeError(
                f"expression {self.text!r} has {self.n_controls} controls, got {len(v)} arrays"
            )
        arrs = [np.asarray(x, dtype=float) for x in v]
        shape = np.broadcast_shapes(*(a.shape for a in arrs)) if arrs else ()
        with np.errstate(all="ignore"):
            val, ds = self._fn(arrs)
        val = np.asarray(val, dtype=float)
        if val.shape != shape:
            val = np.broadcast_to(val, shape).copy()
        derivs = []
        for k in range(self.n_controls):
            d = ds.get(k)
            if d is None:
                derivs.append(np.zeros(shape))
            else:
                d = np.asarray(d, dtype=float)
                derivs.append(d if d.shape == shape else np.broadcast_to(d, shape).copy())
        return val, derivs

    def scaled(self, factor: float) -> Expression:
        """This expression times ``factor`` (a B source's ``m=`` and temperature factor).

        >>> e = parse_expression("2*V(a)", {}).scaled(3.0)
        >>> float(e.evaluate([np.array(1.0)])[0])
        6.0
        """
        ast = _fold(("bin", "*", ("const", float(factor)), self._ast))
        return Expression(
            f"{factor!r}*({self.text})",
            _canonical(ast),
            self.n_controls,
            self.controls,
            compile_node(ast),
            ast,
        )

    def with_controls(self, text: str, controls: tuple[tuple[str, str], ...]) -> Expression:
        """The same compiled expression for other control nodes (used by the reader's cache)."""
        new = _new_expression(Expression)
        new.text = text
        new.canonical = self.canonical
        new.n_controls = self.n_controls
        new.controls = controls
        new._fn = self._fn
        new._ast = self._ast
        return new


_TOO_DEEP = (
    "expression nested too deeply (parentheses or calls inside each other, or a chain of "
    "tens of thousands of operators)"
)


def _parse(text: str, params: dict[str, float], allow_controls: bool):
    p = _Parser(text, params, allow_controls)
    try:
        ast = p.parse()
    except RecursionError:
        raise ExprSyntaxError(_TOO_DEEP, 0, "write it in steps with .param or .func") from None
    return ast, tuple(p.controls)


def _check_braces(text: str, params: dict[str, float], ast) -> None:
    """Braces inside a B-source expression: ngspice deletes them (``{1+2}*v(x)`` is
    ``1+2*v(x)`` there); accept them only where that reads as grouping does."""
    deleted = text.replace("{", " ").replace("}", " ")
    try:
        same = _canonical(_parse(deleted, params, True)[0]) == _canonical(ast)
    except ExprSyntaxError:
        same = False
    if not same:
        raise ExprSyntaxError(
            "braces inside a B-source expression: ngspice deletes them and reads "
            f"{text.replace('{', '').replace('}', '')!r}, which is not what grouping gives",
            text.index("{") if "{" in text else text.index("}"),
            "write parentheses ( ) for grouping",
        )


def _to_error(err: ExprSyntaxError, text: str, location: Location | None) -> NetlistError:
    loc = None
    if location is not None:
        loc = Location(location.file, location.line, location.column + err.offset, location.source)
    msg = err.message
    if location is None:
        msg = f"{err.message} (in {text!r}, offset {err.offset})"
    return NetlistError(msg, location=loc, hint=err.hint)


def compile_expression(text: str, params: dict[str, float]) -> Expression:
    """Parse and compile; raise :class:`ExprSyntaxError` with an offset (internal)."""
    ast, controls = _parse(text, params, True)
    if "{" in text or "}" in text:
        _check_braces(text, params, ast)
    try:
        return Expression(text, _canonical(ast), len(controls), controls, compile_node(ast), ast)
    except RecursionError:
        raise ExprSyntaxError(_TOO_DEEP, 0, "write it in steps with .param or .func") from None


def parse_expression(
    text: str, params: dict[str, float], location: Location | None = None
) -> Expression:
    """Parse an expression of parameters and control voltages.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"1e-4*sinh(2*V(r1,c1))"``.
    params : dict of str to float
        Parameter values by lower-case name; substituted as constants.
    location : Location, optional
        Where ``text`` starts in a netlist; errors point at the offending
        token's column.

    Returns
    -------
    Expression

    Raises
    ------
    NetlistError
        Unbalanced parentheses, unknown functions or parameters, wrong
        argument counts, malformed numbers.
    """
    try:
        return compile_expression(text, params)
    except ExprSyntaxError as err:
        raise _to_error(err, text, location) from None


def constant_value(text: str, params: dict[str, float]) -> float:
    """Evaluate a constant expression; raise :class:`ExprSyntaxError` (internal)."""
    ast, _ = _parse(text, params, False)
    value = float(ast[1])
    if not math.isfinite(value):
        raise ExprSyntaxError(
            f"expression {text.strip()!r} evaluates to {value}",
            0,
            "check for division by zero or overflow",
        )
    return value


def evaluate_constant(
    text: str, params: dict[str, float], location: Location | None = None
) -> float:
    """Evaluate a constant expression (``.param`` values, ``{expr}`` substitutions).

    Parameters
    ----------
    text : str
        The expression without its braces, e.g. ``"2*rbase + 1k"``.
    params : dict of str to float
        Known parameter values by lower-case name.
    location : Location, optional
        Where ``text`` starts in a netlist, for error messages.

    Returns
    -------
    float
        The finite value.

    Raises
    ------
    NetlistError
        Syntax errors, unknown names, ``V(...)`` in a constant, or a result
        that is NaN or infinite.

    Examples
    --------
    >>> evaluate_constant("2*r + 1k", {"r": 500.0})
    2000.0
    >>> evaluate_constant("-2^2", {})
    -4.0
    """
    try:
        return constant_value(text, params)
    except ExprSyntaxError as err:
        raise _to_error(err, text, location) from None
